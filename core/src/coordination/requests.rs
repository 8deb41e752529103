//! What goes through a session's outbox: a [`Request`] from any process, an
//! [`Outcome`] from the owner. Both travel as JSON, so a row in SQLite and a
//! hash in Redis carry the same thing.
//!
//! A request's secret part (a message's text, a passkey assertion: its
//! payload) is never in that JSON. It is stored beside it sealed with the
//! deployment's [`OutboxKey`], and erased when the request finishes.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::SessionId;

use super::sealed::OutboxKey;
use super::wire_error::WireError;

/// An operation only the owner of a session can carry out.
///
/// `Debug` never shows a payload.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Command {
    /// Send `text` to `to` (normalised) under `message_id`.
    SendText {
        /// Recipient, E.164 digits.
        to: String,
        /// The message text: the payload (an OTP message carries its code).
        /// Never serialized; read for rows written before payloads were
        /// sealed.
        #[serde(default, skip_serializing)]
        text: String,
        /// Fixed when the request is made, so a resend after a failover is
        /// the same message to the recipient.
        message_id: String,
    },
    /// Ask WhatsApp whether `phone` (normalised) has an account.
    IsOnWhatsapp {
        /// E.164 digits.
        phone: String,
    },
    /// Ask for a pairing code for `phone` (normalised).
    PairCode {
        /// E.164 digits.
        phone: String,
    },
    /// Hand WhatsApp the passkey assertion it asked for (checked JSON).
    SubmitPasskey {
        /// The assertion, as `PasskeyAssertion::json` writes it: the
        /// payload. Never serialized.
        #[serde(default, skip_serializing)]
        assertion: String,
    },
    /// Restart the session's client (a fresh pairing when it needs one).
    Restart,
    /// Unlink the device and remove its credentials.
    Logout,
    /// Log out, stop and remove the session.
    Delete,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::SendText { to, message_id, .. } => f
                .debug_struct("SendText")
                .field("to", to)
                .field("text", &"<sealed>")
                .field("message_id", message_id)
                .finish(),
            Command::IsOnWhatsapp { phone } => f
                .debug_struct("IsOnWhatsapp")
                .field("phone", phone)
                .finish(),
            Command::PairCode { phone } => {
                f.debug_struct("PairCode").field("phone", phone).finish()
            }
            Command::SubmitPasskey { .. } => f
                .debug_struct("SubmitPasskey")
                .field("assertion", &"<sealed>")
                .finish(),
            Command::Restart => f.write_str("Restart"),
            Command::Logout => f.write_str("Logout"),
            Command::Delete => f.write_str("Delete"),
        }
    }
}

impl Command {
    /// The secret part, if this command has one.
    pub(crate) fn payload(&self) -> Option<&str> {
        match self {
            Command::SendText { text, .. } => Some(text),
            Command::SubmitPasskey { assertion } => Some(assertion),
            _ => None,
        }
    }

    pub(crate) fn payload_mut(&mut self) -> Option<&mut String> {
        match self {
            Command::SendText { text, .. } => Some(text),
            Command::SubmitPasskey { assertion } => Some(assertion),
            _ => None,
        }
    }

    /// Commands that must not run twice when an owner dies mid-way are not
    /// resumed by the next owner: a send is (same message id), the others are
    /// answered with an error and the caller decides.
    pub(crate) fn resumable(&self) -> bool {
        matches!(
            self,
            Command::SendText { .. } | Command::IsOnWhatsapp { .. }
        )
    }
}

/// One queued operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    /// Unique id (UUID v4).
    pub(crate) id: String,
    /// The session that must carry it out.
    pub(crate) session: SessionId,
    /// The caller's idempotency key, unique per session.
    pub(crate) idempotency_key: Option<String>,
    /// What to do.
    pub(crate) command: Command,
    /// When it stops being worth carrying out (unix ms): a send that carries
    /// an OTP expires with the code, and is never sent after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at_ms: Option<u64>,
}

impl Request {
    /// A new request with a fresh id.
    pub(crate) fn new(session: &SessionId, command: Command, key: Option<&str>) -> Self {
        Request {
            id: uuid::Uuid::new_v4().to_string(),
            session: session.clone(),
            idempotency_key: key.map(str::to_owned),
            command,
            expires_at_ms: None,
        }
    }

    /// The same request, expiring at `at`.
    pub(crate) fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expires_at_ms = Some(
            at.duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        );
        self
    }

    /// The secret part, sealed with `key` for storing; `None` for commands
    /// without one.
    pub(crate) fn sealed_payload(&self, key: &OutboxKey) -> Result<Option<String>> {
        self.command
            .payload()
            .map(|plain| key.seal(&self.session, plain))
            .transpose()
    }

    /// A stored request: its JSON and, until it finished, its sealed payload.
    /// A finished request comes back with an empty payload.
    pub(crate) fn from_stored(json: &str, sealed: Option<&str>, key: &OutboxKey) -> Result<Self> {
        let mut request = Self::from_json(json)?;
        if let Some(sealed) = sealed.filter(|s| !s.is_empty()) {
            let plain = key.open(&request.session, sealed)?;
            if let Some(payload) = request.command.payload_mut() {
                payload.clear();
                payload.push_str(&plain);
            }
        }
        Ok(request)
    }

    /// The message id, for sends.
    pub(crate) fn message_id(&self) -> Option<&str> {
        match &self.command {
            Command::SendText { message_id, .. } => Some(message_id),
            _ => None,
        }
    }

    /// The recipient, for sends.
    pub(crate) fn recipient(&self) -> Option<&str> {
        match &self.command {
            Command::SendText { to, .. } => Some(to),
            _ => None,
        }
    }

    /// The request without its payload, as JSON.
    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Store(format!("encoding a request: {e}")))
    }

    /// A request from JSON, without its payload (unless the row predates
    /// sealed payloads).
    pub(crate) fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::Store(format!("a damaged outbox request: {e}")))
    }
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Done; `value` is the operation's answer (true/false, a pairing code, null).
    Done {
        /// The answer.
        value: serde_json::Value,
    },
    /// Failed with this error.
    Failed {
        /// The error, as the owner had it.
        error: WireError,
    },
}

impl Outcome {
    /// The outcome of a finished operation.
    pub(crate) fn of<T: Serialize>(result: &Result<T>) -> Outcome {
        match result {
            Ok(value) => Outcome::Done {
                value: serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            },
            Err(e) => Outcome::Failed {
                error: WireError::of(e),
            },
        }
    }

    /// Back to the result the owner had.
    pub(crate) fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        match self {
            Outcome::Done { value } => serde_json::from_value(value)
                .map_err(|e| Error::Store(format!("an outbox answer of the wrong shape: {e}"))),
            Outcome::Failed { error } => Err(error.into_error()),
        }
    }

    /// The outcome given to a request whose owner stopped before finishing
    /// it and that is not safe to carry out twice (see [`Command::resumable`]).
    pub(crate) fn abandoned() -> Outcome {
        Outcome::of::<()>(&Err(Error::WhatsApp(
            "the process that owned the session stopped before finishing this; try again".into(),
        )))
    }

    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Store(format!("encoding an outcome: {e}")))
    }

    pub(crate) fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::Store(format!("a damaged outbox outcome: {e}")))
    }
}

/// The answer of [`super::Coordination::submit`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Submitted {
    /// Queued as given.
    Queued,
    /// The idempotency key already named this request, which is queued or
    /// being carried out (or failed and is queued again).
    Pending(Request),
    /// The idempotency key already named this request, which succeeded.
    AlreadyDone(Request),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_outcomes_round_trip() {
        let session = SessionId::parse("shop").unwrap();
        let r = Request::new(
            &session,
            Command::SendText {
                to: "628111".into(),
                text: "hi".into(),
                message_id: "3EB0AA".into(),
            },
            Some("k"),
        );
        let key = OutboxKey::derive(&[7; 32]);
        let json = r.to_json().unwrap();
        assert!(
            !json.contains("\"hi\""),
            "the payload is never in the JSON: {json}"
        );
        let sealed = r.sealed_payload(&key).unwrap().unwrap();
        assert_eq!(Request::from_stored(&json, Some(&sealed), &key).unwrap(), r);
        // Finished: the payload is gone, the rest stays.
        let erased = Request::from_stored(&json, None, &key).unwrap();
        assert_eq!(erased.message_id(), Some("3EB0AA"));
        assert_eq!(erased.command.payload(), Some(""));
        // A row written before payloads were sealed still reads.
        let legacy = json.replace("\"to\"", "\"text\":\"hi\",\"to\"");
        assert_eq!(Request::from_json(&legacy).unwrap(), r);
        assert!(!format!("{r:?}").contains("hi\""));
        assert_eq!(r.message_id(), Some("3EB0AA"));
        let expiring = r
            .clone()
            .expiring_at(UNIX_EPOCH + std::time::Duration::from_millis(5_000));
        let back = Request::from_json(&expiring.to_json().unwrap()).unwrap();
        assert_eq!(back.expires_at_ms, Some(5_000));
        let ok = Outcome::of(&Ok(true));
        assert!(
            Outcome::from_json(&ok.to_json().unwrap())
                .unwrap()
                .into_result::<bool>()
                .unwrap()
        );
        let failed = Outcome::of::<()>(&Err(Error::NotConnected {
            session: "shop".into(),
            state: "reconnecting".into(),
        }));
        let back = Outcome::from_json(&failed.to_json().unwrap()).unwrap();
        let e = back.into_result::<()>().unwrap_err();
        assert_eq!(e.code(), "NOT_CONNECTED");
        assert_eq!(
            e.to_string(),
            "session `shop` is not connected (state: reconnecting)"
        );
        assert_eq!(Request::from_json("{").unwrap_err().code(), "STORE_ERROR");
    }
}
