//! One inbound verification as stored, and the one rule that decides what a
//! message carrying its token does to it.
//!
//! [`apply_redeem`] is shared by every store, so the memory, SQLite and
//! Redis stores cannot disagree; each runs it under its own lock,
//! transaction or script.

use std::fmt;

use crate::otp::CodeMac;
use crate::otp::OtpState;

/// One inbound verification: a token waiting for a message that carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Unique id (UUID v4).
    pub verification_id: String,
    /// The session whose number the user is asked to write to; only a
    /// message it receives can approve the verification.
    pub session_id: String,
    /// The number the message must come from (E.164 digits), when the
    /// application knows it; without one, any sender approves it and is
    /// reported (login with WhatsApp).
    pub expected: Option<String>,
    /// `HMAC-SHA256(secret, "inbound" ‖ 0 ‖ token)`: the token itself is
    /// never stored.
    pub token_mac: CodeMac,
    /// When it was started, Unix ms.
    pub created_at_ms: u64,
    /// When the token stops being accepted, Unix ms.
    pub expires_at_ms: u64,
    /// Messages that carried the token but were refused (wrong sender).
    pub attempts: u32,
    /// Refused messages allowed before the token is dead.
    pub max_attempts: u32,
    /// Stored state (see [`InboundRecord::state_at`]).
    pub state: OtpState,
    /// Who sent the token (E.164 digits), once approved.
    pub sender: Option<String>,
    /// When it was approved, Unix ms.
    pub approved_at_ms: Option<u64>,
    /// A text to send the user once approved (to the chat they just
    /// opened, so it costs no new-chat quota); none by default.
    pub reply: Option<String>,
}

impl fmt::Debug for InboundRecord {
    // The MAC is left out: not the token, but nobody needs to see it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundRecord")
            .field("verification_id", &self.verification_id)
            .field("session_id", &self.session_id)
            .field("expected", &self.expected)
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("state", &self.state)
            .field("sender", &self.sender)
            .field("approved_at_ms", &self.approved_at_ms)
            .field("reply", &self.reply.is_some())
            .finish_non_exhaustive()
    }
}

impl InboundRecord {
    /// The state at `now_ms`: a pending token past its expiry is expired.
    pub fn state_at(&self, now_ms: u64) -> OtpState {
        match self.state {
            OtpState::Pending if now_ms >= self.expires_at_ms => OtpState::Expired,
            state => state,
        }
    }
}

/// What a message carrying a token did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedeemOutcome {
    /// The verification is approved; `sender` sent the token.
    Approved,
    /// The token is right but the message came from another number than
    /// the expected one, or reached another session: refused, and counted
    /// (the token stays valid until the attempts run out).
    WrongSender {
        /// Refused messages still allowed.
        attempts_left: u32,
    },
    /// The token ran out before the message came.
    Expired,
    /// The verification is already approved, canceled, or dead from too
    /// many refused messages: the token is spent.
    Spent,
    /// No verification has this token.
    NotFound,
}

/// Applies a message from `sender`, received by `session_id` at `now_ms`,
/// to the verification its token names. Mutates `record` as the store must
/// persist it.
pub fn apply_redeem(
    record: &mut InboundRecord,
    session_id: &str,
    sender: &str,
    now_ms: u64,
) -> RedeemOutcome {
    match record.state_at(now_ms) {
        OtpState::Pending => {}
        OtpState::Expired => return RedeemOutcome::Expired,
        _ => return RedeemOutcome::Spent,
    }
    let right_sender = record.expected.as_deref().is_none_or(|e| e == sender);
    if right_sender && record.session_id == session_id {
        record.state = OtpState::Approved;
        record.sender = Some(sender.to_owned());
        record.approved_at_ms = Some(now_ms);
        return RedeemOutcome::Approved;
    }
    record.attempts = record.attempts.saturating_add(1);
    if record.attempts >= record.max_attempts {
        record.state = OtpState::MaxAttemptsReached;
    }
    RedeemOutcome::WrongSender {
        attempts_left: record.max_attempts.saturating_sub(record.attempts),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(vid: &str, expected: Option<&str>, mac: u8) -> InboundRecord {
        InboundRecord {
            verification_id: vid.into(),
            session_id: "shop".into(),
            expected: expected.map(str::to_owned),
            token_mac: [mac; 32],
            created_at_ms: 1_000,
            expires_at_ms: 601_000,
            attempts: 0,
            max_attempts: 3,
            state: OtpState::Pending,
            sender: None,
            approved_at_ms: None,
            reply: Some("Berhasil masuk".into()),
        }
    }

    #[test]
    fn the_expected_sender_approves_once() {
        let mut r = record("v", Some("6281"), 1);
        assert_eq!(
            apply_redeem(&mut r, "shop", "6281", 2_000),
            RedeemOutcome::Approved
        );
        assert_eq!(r.sender.as_deref(), Some("6281"));
        assert_eq!(r.approved_at_ms, Some(2_000));
        assert_eq!(
            apply_redeem(&mut r, "shop", "6281", 3_000),
            RedeemOutcome::Spent
        );
    }

    #[test]
    fn a_wrong_sender_counts_but_does_not_spend_the_token() {
        let mut r = record("v", Some("6281"), 1);
        assert_eq!(
            apply_redeem(&mut r, "shop", "6299", 2_000),
            RedeemOutcome::WrongSender { attempts_left: 2 }
        );
        assert_eq!(
            apply_redeem(&mut r, "other-session", "6281", 2_000),
            RedeemOutcome::WrongSender { attempts_left: 1 }
        );
        assert_eq!(
            apply_redeem(&mut r, "shop", "6281", 2_000),
            RedeemOutcome::Approved
        );
        let mut dead = record("w", Some("6281"), 2);
        for _ in 0..3 {
            apply_redeem(&mut dead, "shop", "6299", 2_000);
        }
        assert_eq!(dead.state, OtpState::MaxAttemptsReached);
        assert_eq!(
            apply_redeem(&mut dead, "shop", "6281", 2_000),
            RedeemOutcome::Spent
        );
    }

    #[test]
    fn without_an_expected_number_any_sender_approves_and_is_kept() {
        let mut r = record("v", None, 1);
        assert_eq!(
            apply_redeem(&mut r, "shop", "6277", 2_000),
            RedeemOutcome::Approved
        );
        assert_eq!(r.sender.as_deref(), Some("6277"));
    }

    #[test]
    fn an_expired_token_approves_nothing() {
        let mut r = record("v", Some("6281"), 1);
        assert_eq!(r.state_at(601_000), OtpState::Expired);
        assert_eq!(
            apply_redeem(&mut r, "shop", "6281", 601_000),
            RedeemOutcome::Expired
        );
        assert_eq!(r.state, OtpState::Pending, "stored state unchanged");
    }
}
