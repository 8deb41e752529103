//! Core values as the JSON the header documents: the REST shapes of the
//! reference guide (camelCase keys, times as Unix milliseconds).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use waotp::otp::{Conversion, SendStats, StatsSnapshot};
use waotp::{
    InboundStatus, InboundVerification, LinkedUser, MessageRecord, OtpStatus, PasskeyChallenge,
    SentMessage, SentOtp, SessionStatus,
};

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn user(u: &Option<LinkedUser>) -> Value {
    match u {
        Some(u) => json!({"jid": u.jid, "phone": u.phone, "name": u.name}),
        None => Value::Null,
    }
}

fn passkey(p: &Option<PasskeyChallenge>) -> Value {
    match p {
        Some(p) => json!({
            "optionsJson": p.options_json,
            "expiresAt": unix_ms(p.expires_at),
            "snippet": p.snippet,
            "confirmationCode": p.confirmation_code,
        }),
        None => Value::Null,
    }
}

pub(crate) fn session_status(s: &SessionStatus) -> Value {
    json!({
        "sessionId": s.id,
        "state": s.state.as_str(),
        "isConnected": s.is_connected,
        "user": user(&s.user),
        "since": unix_ms(s.since),
        "lastSeen": s.last_seen.map(unix_ms),
        "qrRefreshCount": s.qr_refresh_count,
        "reason": s.reason,
        "passkey": passkey(&s.passkey),
        // {state, until?, reason?, quota: {used, total, cycleEnds}|null, nacksLastHour}
        "health": camel(serde_json::to_value(&s.health).unwrap_or(Value::Null)),
    })
}

pub(crate) fn message_record(r: &MessageRecord) -> Value {
    let mut v = json!({
        "messageId": r.id,
        "sessionId": r.session,
        "to": r.to,
        "status": r.status.as_str(),
        "updatedAt": unix_ms(r.updated_at),
    });
    if let waotp::DeliveryStatus::Failed { reason } = &r.status {
        v["reason"] = json!(reason);
    }
    v
}

/// A text sent through a pool: its id, recipient and the session that sent it.
pub(crate) fn sent_message(s: &SentMessage) -> Value {
    json!({
        "messageId": s.id,
        "sessionId": s.session_id,
        "to": s.to,
    })
}

pub(crate) fn sent_otp(s: &SentOtp) -> Value {
    let mut v = json!({
        "verificationId": s.verification_id,
        "messageId": s.message_id,
        "sessionId": s.session_id,
        "to": s.to,
        "expiresAt": unix_ms(s.expires_at),
        "replayed": s.replayed,
    });
    if let Some(code) = &s.code {
        v["otp"] = json!(code.expose());
    }
    v
}

/// A started inbound verification; the QR code as a PNG data URL.
pub(crate) fn inbound_verification(v: &InboundVerification) -> waotp::Result<Value> {
    Ok(json!({
        "verificationId": v.verification_id,
        "sessionId": v.session_id,
        "number": v.number,
        "text": v.text,
        "link": v.link,
        "qrCode": v.qr.png_data_url()?,
        "expiresAt": unix_ms(v.expires_at),
    }))
}

pub(crate) fn inbound_status(s: &InboundStatus) -> Value {
    json!({
        "verificationId": s.verification_id,
        "sessionId": s.session_id,
        "status": s.state.as_str(),
        "expectedPhone": s.expected_phone,
        "sender": s.sender,
        "attempts": s.attempts,
        "maxAttempts": s.max_attempts,
        "createdAt": unix_ms(s.created_at),
        "expiresAt": unix_ms(s.expires_at),
        "approvedAt": s.approved_at.map(unix_ms),
    })
}

pub(crate) fn otp_status(s: &OtpStatus) -> Value {
    json!({
        "verificationId": s.verification_id,
        "to": s.recipient,
        "sessionId": s.session_id,
        "status": s.state.as_str(),
        "delivery": s.delivery.as_ref().map(|d| d.as_str()),
        "messageId": s.message_id,
        "createdAt": unix_ms(s.created_at),
        "expiresAt": unix_ms(s.expires_at),
        "attempts": s.attempts,
        "maxAttempts": s.max_attempts,
        "attemptsLeft": s.attempts_left(),
    })
}

fn send_stats(s: &SendStats) -> Value {
    json!({
        "totalRequests": s.sends_total,
        "successfulRequests": s.sends_successful,
        "failedRequests": s.sends_failed,
        "successRate": s.success_rate,
        "averageResponseTimeMs": s.mean_latency_ms,
        "p50ResponseTimeMs": s.p50_latency_ms,
        "p99ResponseTimeMs": s.p99_latency_ms,
        "maxResponseTimeMs": s.max_latency_ms,
        "otpIssued": s.otp_issued,
        "rateLimited": s.rate_limited,
        "verify": {
            "approved": s.verify.approved,
            "invalid": s.verify.invalid,
            "expired": s.verify.expired,
            "maxAttemptsReached": s.verify.max_attempts_reached,
            "notFound": s.verify.not_found,
        },
        "conversion": {
            "lastHour": conversion(&s.conversion.last_hour),
            "lastDay": conversion(&s.conversion.last_day),
        },
    })
}

fn conversion(c: &Conversion) -> Value {
    json!({
        "started": c.started,
        "delivered": c.delivered,
        "approvedByCode": c.approved_by_code,
        "approvedInbound": c.approved_inbound,
        "rate": c.rate,
    })
}

pub(crate) fn stats(s: &StatsSnapshot) -> Value {
    let sessions: Map<String, Value> = s
        .sessions
        .iter()
        .map(|(k, v)| (k.clone(), send_stats(v)))
        .collect();
    json!({"gateway": send_stats(&s.gateway), "sessions": sessions})
}

/// An event: the core's serde form (a `type` tag) with camelCase keys;
/// `session` becomes `sessionId` like everywhere else.
pub(crate) fn event(e: &waotp::Event) -> Value {
    camel(serde_json::to_value(e).unwrap_or(Value::Null))
}

fn camel(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = if k == "session" {
                        "sessionId".to_owned()
                    } else {
                        camel_key(&k)
                    };
                    (k, camel(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel).collect()),
        other => other,
    }
}

fn camel_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut up = false;
    for c in k.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn otp_failed_carries_its_code() {
        let v = super::event(&waotp::Event::OtpFailed {
            session: "shop".into(),
            verification_id: "v".into(),
            to: "6281".into(),
            code: "NOT_CONNECTED".into(),
            reason: "r".into(),
        });
        assert_eq!(v["type"], "otp_failed");
        assert_eq!(v["code"], "NOT_CONNECTED");
        assert_eq!(v["sessionId"], "shop");
        assert_eq!(v["verificationId"], "v");
    }

    #[test]
    fn a_passkey_challenge_in_the_status() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let mut challenge = waotp::PasskeyChallenge::new(r#"{"challenge":"YWJj"}"#, at);
        let mut status = waotp::SessionStatus {
            id: "shop".into(),
            state: waotp::SessionState::PasskeyRequired,
            since: at,
            is_connected: false,
            user: None,
            last_seen: None,
            qr_refresh_count: 1,
            reason: None,
            passkey: None,
            health: waotp::SessionHealth::default(),
        };
        assert_eq!(
            super::session_status(&status)["passkey"],
            serde_json::Value::Null
        );
        challenge.confirmation_code = Some("ABCD-EFGH".into());
        status.passkey = Some(challenge.clone());
        let v = super::session_status(&status);
        assert_eq!(v["state"], "passkey_required");
        assert_eq!(v["health"]["state"], "ok");
        assert_eq!(v["health"]["nacksLastHour"], serde_json::json!({}));
        assert_eq!(v["passkey"]["optionsJson"], challenge.options_json);
        assert_eq!(v["passkey"]["snippet"], challenge.snippet);
        assert_eq!(
            v["passkey"]["expiresAt"],
            super::unix_ms(challenge.expires_at)
        );
        assert_eq!(v["passkey"]["confirmationCode"], "ABCD-EFGH");
    }

    #[test]
    fn passkey_events_carry_their_fields() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(5);
        let v = super::event(&waotp::Event::PasskeyRequired {
            session: "shop".into(),
            options_json: "{}".into(),
            snippet: "js".into(),
            expires_at: at,
        });
        assert_eq!(v["type"], "passkey_required");
        assert_eq!(
            (
                &v["sessionId"],
                &v["optionsJson"],
                &v["snippet"],
                &v["expiresAt"]
            ),
            (&"shop".into(), &"{}".into(), &"js".into(), &5.into())
        );
        let v = super::event(&waotp::Event::PasskeyFailed {
            session: "shop".into(),
            code: "PASSKEY_EXPIRED".into(),
            reason: "r".into(),
        });
        assert_eq!(
            (&v["type"], &v["code"]),
            (&"passkey_failed".into(), &"PASSKEY_EXPIRED".into())
        );
        let v = super::event(&waotp::Event::PasskeyConfirmation {
            session: "shop".into(),
            code: "ABCD-EFGH".into(),
        });
        assert_eq!(v["code"], "ABCD-EFGH");
    }

    #[test]
    fn keys_become_camel_case() {
        assert_eq!(super::camel_key("expires_at"), "expiresAt");
        assert_eq!(super::camel_key("type"), "type");
        let v = super::camel(
            serde_json::json!({"session": "a", "refresh_count": 1, "user": {"jid_x": 2}}),
        );
        assert_eq!(
            v,
            serde_json::json!({"sessionId": "a", "refreshCount": 1, "user": {"jidX": 2}})
        );
    }
}
