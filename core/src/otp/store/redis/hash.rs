//! An [`OtpRecord`] as the fields of a Redis hash, and back.
//!
//! | field | value |
//! |-------|-------|
//! | `vid` | verification id |
//! | `sid` | session id |
//! | `mac` | the code MAC, 32 raw bytes |
//! | `cat`, `exp` | created / expires at, Unix ms, decimal |
//! | `att`, `max` | attempts so far / allowed, decimal |
//! | `st`  | state name ([`OtpState::as_str`]) |
//! | `msg` | message id (absent: none) |
//! | `dlv`, `dlr` | delivery status name and failure reason (absent: none) |
//! | `idk` | idempotency key (absent: none) |
//!
//! The recipient is the key, not a field. Reading never fails: a record with a
//! missing or malformed field is damaged and reads as locked
//! ([`OtpState::MaxAttemptsReached`]), the same rule the Lua reader in
//! `scripts.rs` applies, so a damaged record can neither be verified nor make
//! a call fail.

use std::collections::HashMap;

use crate::model::DeliveryStatus;
use crate::otp::mac::{CodeMac, MAC_LEN};
use crate::otp::state::OtpState;

use super::super::OtpRecord;

/// The largest values a number field may hold, as digit strings: the Lua
/// reader compares them as strings, and so does [`number`].
const U64_MAX: &str = "18446744073709551615";
const U32_MAX: &str = "4294967295";

/// The record's fields as name/value pairs, ready to be script arguments.
pub(super) fn fields(r: &OtpRecord) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(24);
    let mut field = |name: &str, value: &[u8]| {
        out.push(name.as_bytes().to_vec());
        out.push(value.to_vec());
    };
    field("vid", r.verification_id.as_bytes());
    field("sid", r.session_id.as_bytes());
    field("mac", &r.mac);
    field("cat", r.created_at_ms.to_string().as_bytes());
    field("exp", r.expires_at_ms.to_string().as_bytes());
    field("att", r.attempts.to_string().as_bytes());
    field("max", r.max_attempts.to_string().as_bytes());
    field("st", r.state.as_str().as_bytes());
    if let Some(m) = &r.message_id {
        field("msg", m.as_bytes());
    }
    if let Some(d) = &r.delivery {
        field("dlv", d.as_str().as_bytes());
        if let DeliveryStatus::Failed { reason } = d {
            field("dlr", reason.as_bytes());
        }
    }
    if let Some(k) = &r.idempotency_key {
        field("idk", k.as_bytes());
    }
    out
}

/// Reads a record of `recipient` from its hash fields (as HGETALL gives them).
pub(super) fn decode(recipient: &str, mut h: HashMap<Vec<u8>, Vec<u8>>) -> OtpRecord {
    let mut take = |name: &str| h.remove(name.as_bytes());
    let text = |v: Option<Vec<u8>>| v.map(|b| String::from_utf8_lossy(&b).into_owned());

    let vid = take("vid");
    let sid = take("sid");
    let mac = take("mac");
    let created = take("cat").and_then(|v| number(&v, U64_MAX));
    let expires = take("exp").and_then(|v| number(&v, U64_MAX));
    let attempts = take("att").and_then(|v| number(&v, U32_MAX));
    let max_attempts = take("max").and_then(|v| number(&v, U32_MAX));
    let state = take("st").and_then(|v| OtpState::parse(&String::from_utf8_lossy(&v)));
    let message_id = text(take("msg"));
    let delivery = delivery(take("dlv"), text(take("dlr")));
    let idempotency_key = text(take("idk"));

    let whole = vid.is_some()
        && sid.is_some()
        && mac.as_ref().is_some_and(|m| m.len() == MAC_LEN)
        && created.is_some()
        && expires.is_some()
        && attempts.is_some()
        && max_attempts.is_some()
        && state.is_some();
    // A MAC of the wrong size stays all zeros; the record is locked anyway.
    let mut code_mac: CodeMac = [0; MAC_LEN];
    if let Some(m) = mac.filter(|m| m.len() == MAC_LEN) {
        code_mac.copy_from_slice(&m);
    }
    OtpRecord {
        verification_id: text(vid).unwrap_or_default(),
        recipient: recipient.to_string(),
        session_id: text(sid).unwrap_or_default(),
        mac: code_mac,
        created_at_ms: created.unwrap_or(0),
        expires_at_ms: expires.unwrap_or(0),
        attempts: attempts.map_or(u32::MAX, |n| n as u32),
        max_attempts: max_attempts.map_or(0, |n| n as u32),
        state: match state {
            Some(s) if whole => s,
            // Damaged: fail closed.
            _ => OtpState::MaxAttemptsReached,
        },
        message_id,
        delivery,
        idempotency_key,
    }
}

/// A decimal field no larger than `limit`: digits only, no longer than the
/// limit, and not above it when as long (digit strings of one length compare
/// like their numbers). The same test as `number` in the Lua reader.
fn number(v: &[u8], limit: &str) -> Option<u64> {
    let limit = limit.as_bytes();
    if v.is_empty() || v.len() > limit.len() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if v.len() == limit.len() && v > limit {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Unknown names read as no status, as in `SqliteStore`.
fn delivery(name: Option<Vec<u8>>, reason: Option<String>) -> Option<DeliveryStatus> {
    Some(match name?.as_slice() {
        b"pending" => DeliveryStatus::Pending,
        b"sent" => DeliveryStatus::Sent,
        b"delivered" => DeliveryStatus::Delivered,
        b"read" => DeliveryStatus::Read,
        b"failed" => DeliveryStatus::Failed {
            reason: reason.unwrap_or_default(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::store::conformance::record;

    fn as_hash(fields: Vec<Vec<u8>>) -> HashMap<Vec<u8>, Vec<u8>> {
        fields
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect()
    }

    #[test]
    fn redis_hash_round_trips_every_field() {
        let mut r = record("628111", "v1", u64::MAX);
        r.mac = [
            0, b'\r', b'\n', 0xff, 7, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
            16, 17, 18, 19, 20, 21, 22, 23, 0,
        ];
        r.attempts = u32::MAX;
        r.max_attempts = u32::MAX;
        r.message_id = Some("3EB0".into());
        r.delivery = Some(DeliveryStatus::Failed {
            reason: "463".into(),
        });
        assert_eq!(decode("628111", as_hash(fields(&r))), r);
        r.idempotency_key = None;
        r.delivery = Some(DeliveryStatus::Read);
        assert_eq!(decode("628111", as_hash(fields(&r))), r);
    }

    #[test]
    fn damaged_redis_hash_reads_as_locked() {
        let good = as_hash(fields(&record("1", "v", 10)));
        let damage: [(&str, Option<&[u8]>); 8] = [
            ("st", Some(b"weird")),
            ("mac", Some(b"short")),
            ("att", Some(b"-1")),
            ("max", Some(b"4294967296")),
            ("exp", Some(b"18446744073709551616")),
            ("cat", Some(b"1e3")),
            ("vid", None),
            ("sid", None),
        ];
        for (field, value) in damage {
            let mut h = good.clone();
            match value {
                Some(v) => h.insert(field.as_bytes().to_vec(), v.to_vec()),
                None => h.remove(field.as_bytes()),
            };
            let r = decode("1", h);
            assert_eq!(r.state, OtpState::MaxAttemptsReached, "damaged `{field}`");
        }
        assert_eq!(decode("1", good).state, OtpState::Pending);
    }
}
