//! An [`Event`] as one flat record: its kind and the fields that kind has.
//!
//! Languages without sum types (Python, JavaScript) show an event as one
//! object whose `type` says what happened; every binding builds that object
//! from this record instead of matching the enum itself.

use std::time::SystemTime;

use crate::events::Event;
use crate::model::DeliveryStatus;
use crate::model::{LinkedUser, SessionHealth};
use crate::otp::VerifyOutcome;

/// The fields of an event; those its kind does not have are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFields {
    /// The kind, as in the event's JSON `type`: `qr_updated`, `pairing_code`,
    /// `qr_expired`, `passkey_required`, `passkey_confirmation`,
    /// `passkey_failed`, `connected`, `disconnected`, `logged_out`, `stopped`,
    /// `session_deleted`, `message_status`, `otp_sent`, `otp_delivery`,
    /// `otp_failed`, `otp_verified`, `health_changed` or `lagged`.
    pub kind: &'static str,
    /// The session it concerns.
    pub session: Option<String>,
    /// `qr_updated`: the raw QR payload.
    pub qr: Option<String>,
    /// `qr_updated`, `passkey_required`: when that code or challenge expires.
    pub expires_at: Option<SystemTime>,
    /// `passkey_required`: WhatsApp's WebAuthn request options, JSON.
    pub options_json: Option<String>,
    /// `passkey_required`: the console snippet that answers them.
    pub snippet: Option<String>,
    /// `qr_updated`: codes issued in this pairing attempt.
    pub refresh_count: Option<u32>,
    /// `pairing_code`: the code to type on the phone; `passkey_confirmation`:
    /// the code the phone shows; `otp_failed`, `passkey_failed`: the error code.
    pub code: Option<String>,
    /// `connected`: the linked account.
    pub user: Option<LinkedUser>,
    /// Why (`disconnected`, `logged_out`, `stopped`, `otp_failed`, failed deliveries).
    pub reason: Option<String>,
    /// The WhatsApp message it concerns.
    pub message_id: Option<String>,
    /// Recipient, E.164 digits.
    pub to: Option<String>,
    /// `message_status`, `otp_delivery`: `pending`, `sent`, `delivered`, `read` or `failed`.
    pub status: Option<&'static str>,
    /// The OTP verification it concerns.
    pub verification_id: Option<String>,
    /// `otp_verified`: the outcome's name.
    pub outcome: Option<&'static str>,
    /// `otp_verified`: `code` or `inbound` (a token sent from WhatsApp).
    pub method: Option<&'static str>,
    /// `otp_verified` with `invalid`: attempts left.
    pub attempts_left: Option<u32>,
    /// `lagged`: events this subscriber missed.
    pub missed: Option<u64>,
    /// `health_changed`: the session's health now.
    pub health: Option<SessionHealth>,
}

impl Event {
    /// The kind of event, as in its JSON `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::QrUpdated { .. } => "qr_updated",
            Event::PairingCode { .. } => "pairing_code",
            Event::PasskeyRequired { .. } => "passkey_required",
            Event::PasskeyConfirmation { .. } => "passkey_confirmation",
            Event::PasskeyFailed { .. } => "passkey_failed",
            Event::QrExpired { .. } => "qr_expired",
            Event::Connected { .. } => "connected",
            Event::Disconnected { .. } => "disconnected",
            Event::LoggedOut { .. } => "logged_out",
            Event::Stopped { .. } => "stopped",
            Event::HealthChanged { .. } => "health_changed",
            Event::SessionDeleted { .. } => "session_deleted",
            Event::MessageStatus { .. } => "message_status",
            Event::OtpSent { .. } => "otp_sent",
            Event::OtpDelivery { .. } => "otp_delivery",
            Event::OtpFailed { .. } => "otp_failed",
            Event::OtpVerified { .. } => "otp_verified",
            Event::Lagged { .. } => "lagged",
        }
    }
}

fn delivery(s: &DeliveryStatus) -> (Option<&'static str>, Option<String>) {
    let reason = match s {
        DeliveryStatus::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    (Some(s.as_str()), reason)
}

impl From<Event> for EventFields {
    fn from(e: Event) -> Self {
        let base = EventFields {
            kind: e.kind(),
            ..EventFields::default()
        };
        match e {
            Event::QrUpdated {
                session,
                qr,
                expires_at,
                refresh_count,
            } => EventFields {
                session: Some(session),
                qr: Some(qr),
                expires_at: Some(expires_at),
                refresh_count: Some(refresh_count),
                ..base
            },
            Event::PairingCode { session, code } => EventFields {
                session: Some(session),
                code: Some(code),
                ..base
            },
            Event::PasskeyRequired {
                session,
                options_json,
                snippet,
                expires_at,
            } => EventFields {
                session: Some(session),
                options_json: Some(options_json),
                snippet: Some(snippet),
                expires_at: Some(expires_at),
                ..base
            },
            Event::PasskeyConfirmation { session, code } => EventFields {
                session: Some(session),
                code: Some(code),
                ..base
            },
            Event::PasskeyFailed {
                session,
                code,
                reason,
            } => EventFields {
                session: Some(session),
                code: Some(code),
                reason: Some(reason),
                ..base
            },
            Event::QrExpired { session } | Event::SessionDeleted { session } => EventFields {
                session: Some(session),
                ..base
            },
            Event::Connected { session, user } => EventFields {
                session: Some(session),
                user,
                ..base
            },
            Event::HealthChanged { session, health } => EventFields {
                session: Some(session),
                health: Some(health),
                ..base
            },
            Event::Disconnected { session, reason }
            | Event::LoggedOut { session, reason }
            | Event::Stopped { session, reason } => EventFields {
                session: Some(session),
                reason: Some(reason),
                ..base
            },
            Event::MessageStatus {
                session,
                message_id,
                to,
                status,
            } => {
                let (status, reason) = delivery(&status);
                EventFields {
                    session: Some(session),
                    message_id: Some(message_id),
                    to: Some(to),
                    status,
                    reason,
                    ..base
                }
            }
            Event::OtpSent {
                session,
                verification_id,
                message_id,
                to,
            } => EventFields {
                session: Some(session),
                verification_id: Some(verification_id),
                message_id: Some(message_id),
                to: Some(to),
                ..base
            },
            Event::OtpDelivery {
                message_id,
                to,
                status,
            } => {
                let (status, reason) = delivery(&status);
                EventFields {
                    message_id: Some(message_id),
                    to: Some(to),
                    status,
                    reason,
                    ..base
                }
            }
            Event::OtpFailed {
                session,
                verification_id,
                to,
                code,
                reason,
            } => EventFields {
                session: Some(session),
                verification_id: Some(verification_id),
                to: Some(to),
                code: Some(code),
                reason: Some(reason),
                ..base
            },
            Event::OtpVerified {
                to,
                verification_id,
                outcome,
                method,
            } => EventFields {
                to: Some(to),
                verification_id,
                outcome: Some(outcome.as_str()),
                method: Some(method.as_str()),
                attempts_left: match outcome {
                    VerifyOutcome::Invalid { attempts_left } => Some(attempts_left),
                    _ => None,
                },
                ..base
            },
            Event::Lagged { missed } => EventFields {
                missed: Some(missed),
                ..base
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_the_json_type_of_every_event() {
        let events = [
            Event::QrExpired {
                session: "s".into(),
            },
            Event::MessageStatus {
                session: "s".into(),
                message_id: "m".into(),
                to: "62".into(),
                status: DeliveryStatus::Failed {
                    reason: "no".into(),
                },
            },
            Event::OtpVerified {
                to: "62".into(),
                verification_id: None,
                outcome: VerifyOutcome::Invalid { attempts_left: 2 },
                method: crate::otp::VerifyMethod::Code,
            },
            Event::Lagged { missed: 3 },
            Event::PasskeyRequired {
                session: "s".into(),
                options_json: "{}".into(),
                snippet: "(async () => {})();".into(),
                expires_at: SystemTime::UNIX_EPOCH,
            },
            Event::PasskeyConfirmation {
                session: "s".into(),
                code: "ABCD-EFGH".into(),
            },
            Event::PasskeyFailed {
                session: "s".into(),
                code: "PASSKEY_REJECTED".into(),
                reason: "passkey-signature".into(),
            },
        ];
        for e in events {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["type"], e.kind());
        }
    }

    #[test]
    fn a_failed_delivery_carries_its_reason_and_an_invalid_code_its_attempts() {
        let f = EventFields::from(Event::MessageStatus {
            session: "s".into(),
            message_id: "m".into(),
            to: "62".into(),
            status: DeliveryStatus::Failed {
                reason: "no route".into(),
            },
        });
        assert_eq!(f.status, Some("failed"));
        assert_eq!(f.reason.as_deref(), Some("no route"));
        let f = EventFields::from(Event::OtpVerified {
            to: "62".into(),
            verification_id: Some("v".into()),
            outcome: VerifyOutcome::Invalid { attempts_left: 2 },
            method: crate::otp::VerifyMethod::Code,
        });
        assert_eq!(
            (f.kind, f.outcome, f.attempts_left, f.method),
            ("otp_verified", Some("invalid"), Some(2), Some("code"))
        );
    }

    #[test]
    fn a_passkey_request_carries_its_options_and_snippet() {
        let f = EventFields::from(Event::PasskeyRequired {
            session: "s".into(),
            options_json: r#"{"challenge":"YWJj"}"#.into(),
            snippet: "paste me".into(),
            expires_at: SystemTime::UNIX_EPOCH,
        });
        assert_eq!(f.kind, "passkey_required");
        assert_eq!(f.options_json.as_deref(), Some(r#"{"challenge":"YWJj"}"#));
        assert_eq!(f.snippet.as_deref(), Some("paste me"));
        let f = EventFields::from(Event::PasskeyFailed {
            session: "s".into(),
            code: "PASSKEY_EXPIRED".into(),
            reason: "late".into(),
        });
        assert_eq!(
            (f.code.as_deref(), f.reason.as_deref()),
            (Some("PASSKEY_EXPIRED"), Some("late"))
        );
    }
}
