//! OTP states and verification outcomes, and the one rule that moves between them.
//!
//! [`apply_check`] is shared by every store, so the memory and SQLite stores
//! cannot disagree about what a guess does; each store only has to run it
//! under its own lock or transaction.

use std::fmt;

use serde::Serialize;

use super::mac::{CodeMac, macs_equal};
use super::store::OtpRecord;

/// How a user proved they hold a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerifyMethod {
    /// They typed the code WhatsApp brought them.
    Code,
    /// They sent the token from WhatsApp (inbound verification).
    Inbound,
}

impl VerifyMethod {
    /// `code` or `inbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMethod::Code => "code",
            VerifyMethod::Inbound => "inbound",
        }
    }
}

/// Where an OTP is in its life (Twilio Verify's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OtpState {
    /// Issued, not yet verified, not expired.
    Pending,
    /// Verified with the right code; it cannot be used again.
    Approved,
    /// Canceled by the application, or (internally) replaced by a newer code.
    Canceled,
    /// The validity ran out before a right code was entered.
    Expired,
    /// Too many wrong codes were entered; even the right one is refused now.
    MaxAttemptsReached,
}

impl OtpState {
    /// `pending`, `approved`, `canceled`, `expired` or `max_attempts_reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtpState::Pending => "pending",
            OtpState::Approved => "approved",
            OtpState::Canceled => "canceled",
            OtpState::Expired => "expired",
            OtpState::MaxAttemptsReached => "max_attempts_reached",
        }
    }

    /// Reads [`OtpState::as_str`] back (stores persist the name).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => OtpState::Pending,
            "approved" => OtpState::Approved,
            "canceled" => OtpState::Canceled,
            "expired" => OtpState::Expired,
            "max_attempts_reached" => OtpState::MaxAttemptsReached,
            _ => return None,
        })
    }
}

impl fmt::Display for OtpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verification attempt found. Outcomes are values, not errors: a
/// wrong code is an expected answer. [`VerifyOutcome::into_error`] gives the
/// matching error for callers that prefer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// The code was right; the OTP is now used up.
    Approved,
    /// The code was wrong (or malformed); this many attempts remain.
    Invalid {
        /// Attempts left before the OTP locks; 0 means it just locked.
        attempts_left: u32,
    },
    /// The OTP expired.
    Expired,
    /// The OTP is locked after too many wrong codes (`max_attempts`; the
    /// OTP's status is then [`OtpState::MaxAttemptsReached`]).
    #[serde(rename = "max_attempts")]
    MaxAttemptsReached,
    /// No pending OTP for this recipient (never sent, canceled, or already used).
    NotFound,
}

impl VerifyOutcome {
    /// `approved`, `invalid`, `expired`, `max_attempts` or `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyOutcome::Approved => "approved",
            VerifyOutcome::Invalid { .. } => "invalid",
            VerifyOutcome::Expired => "expired",
            VerifyOutcome::MaxAttemptsReached => "max_attempts",
            VerifyOutcome::NotFound => "not_found",
        }
    }

    /// True only for [`VerifyOutcome::Approved`].
    pub fn is_approved(self) -> bool {
        self == VerifyOutcome::Approved
    }

    /// The error for a non-approved outcome (`OTP_INVALID`, `OTP_EXPIRED`,
    /// `OTP_MAX_ATTEMPTS`, `OTP_NOT_FOUND`), or `None` when approved.
    pub fn into_error(self, recipient: &str) -> Option<crate::Error> {
        use crate::Error;
        match self {
            VerifyOutcome::Approved => None,
            VerifyOutcome::Invalid { attempts_left } => Some(Error::OtpInvalid { attempts_left }),
            VerifyOutcome::Expired => Some(Error::OtpExpired(recipient.to_string())),
            VerifyOutcome::MaxAttemptsReached => Some(Error::OtpMaxAttempts(recipient.to_string())),
            VerifyOutcome::NotFound => Some(Error::OtpNotFound(recipient.to_string())),
        }
    }
}

impl fmt::Display for VerifyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state a record is really in at `now_ms`: a pending record whose time
/// ran out is expired even if no one has touched it since.
pub fn effective_state(record: &OtpRecord, now_ms: u64) -> OtpState {
    if record.state == OtpState::Pending && now_ms >= record.expires_at_ms {
        OtpState::Expired
    } else {
        record.state
    }
}

/// One guess against `record`: the whole verification rule.
///
/// The caller must hold exclusive access to the record (a lock, or an
/// IMMEDIATE transaction) from reading it to writing the changes back, so that
/// concurrent guesses are counted one by one. Returns the outcome and whether
/// the record changed (and must be written back).
pub fn apply_check(
    record: &mut OtpRecord,
    candidate: &CodeMac,
    now_ms: u64,
) -> (VerifyOutcome, bool) {
    match record.state {
        OtpState::Approved | OtpState::Canceled => return (VerifyOutcome::NotFound, false),
        OtpState::Expired => return (VerifyOutcome::Expired, false),
        OtpState::MaxAttemptsReached => return (VerifyOutcome::MaxAttemptsReached, false),
        OtpState::Pending => {}
    }
    if now_ms >= record.expires_at_ms {
        record.state = OtpState::Expired;
        return (VerifyOutcome::Expired, true);
    }
    if record.attempts >= record.max_attempts {
        record.state = OtpState::MaxAttemptsReached;
        return (VerifyOutcome::MaxAttemptsReached, true);
    }
    record.attempts += 1;
    if macs_equal(&record.mac, candidate) {
        record.state = OtpState::Approved;
        return (VerifyOutcome::Approved, true);
    }
    let attempts_left = record.max_attempts - record.attempts;
    if attempts_left == 0 {
        record.state = OtpState::MaxAttemptsReached;
    }
    (VerifyOutcome::Invalid { attempts_left }, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OtpRecord {
        OtpRecord {
            verification_id: "v".into(),
            recipient: "62811".into(),
            session_id: "s".into(),
            mac: [1; 32],
            created_at_ms: 0,
            expires_at_ms: 1_000,
            attempts: 0,
            max_attempts: 3,
            state: OtpState::Pending,
            message_id: None,
            delivery: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn wrong_guesses_lock_after_max_attempts() {
        let mut r = record();
        assert_eq!(
            apply_check(&mut r, &[0; 32], 1).0,
            VerifyOutcome::Invalid { attempts_left: 2 }
        );
        assert_eq!(
            apply_check(&mut r, &[0; 32], 1).0,
            VerifyOutcome::Invalid { attempts_left: 1 }
        );
        assert_eq!(
            apply_check(&mut r, &[0; 32], 1).0,
            VerifyOutcome::Invalid { attempts_left: 0 }
        );
        assert_eq!(
            apply_check(&mut r, &[1; 32], 1).0,
            VerifyOutcome::MaxAttemptsReached
        );
        assert_eq!(r.state, OtpState::MaxAttemptsReached);
    }

    #[test]
    fn right_code_is_single_use_and_expiry_wins() {
        let mut r = record();
        assert_eq!(
            apply_check(&mut r, &[1; 32], 1),
            (VerifyOutcome::Approved, true)
        );
        assert_eq!(
            apply_check(&mut r, &[1; 32], 1),
            (VerifyOutcome::NotFound, false)
        );
        let mut r = record();
        assert_eq!(effective_state(&r, 1_000), OtpState::Expired);
        assert_eq!(
            apply_check(&mut r, &[1; 32], 1_000).0,
            VerifyOutcome::Expired
        );
        assert_eq!(r.attempts, 0);
    }

    #[test]
    fn outcomes_map_to_stable_error_codes() {
        assert!(VerifyOutcome::Approved.into_error("1").is_none());
        let codes: Vec<_> = [
            VerifyOutcome::Invalid { attempts_left: 1 },
            VerifyOutcome::Expired,
            VerifyOutcome::MaxAttemptsReached,
            VerifyOutcome::NotFound,
        ]
        .iter()
        .map(|o| o.into_error("1").unwrap().code())
        .collect();
        assert_eq!(
            codes,
            [
                "OTP_INVALID",
                "OTP_EXPIRED",
                "OTP_MAX_ATTEMPTS",
                "OTP_NOT_FOUND"
            ]
        );
        for s in [
            "pending",
            "approved",
            "canceled",
            "expired",
            "max_attempts_reached",
        ] {
            assert_eq!(OtpState::parse(s).unwrap().as_str(), s);
        }
    }
}
