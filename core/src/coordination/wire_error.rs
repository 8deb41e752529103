//! Errors as they travel from the owner of a session back to the process
//! that asked: the stable code plus the fields of the variant, so the caller
//! gets the same error (code, message, retry time) as from a local call.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// An [`Error`] in transit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireError {
    /// [`Error::code`]: the string of the error code table.
    code: String,
    /// The variant's text (for two-field variants, the first field).
    text: String,
    /// `NOT_CONNECTED`'s state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    /// `RATE_LIMITED`'s retry time, or `OTP_INVALID`'s attempts left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number: Option<u64>,
}

impl WireError {
    pub(crate) fn of(error: &Error) -> Self {
        let (text, state, number) = match error {
            Error::SessionNotFound(t)
            | Error::InvalidSessionId(t)
            | Error::NotOnWhatsapp(t)
            | Error::InvalidPhone(t)
            | Error::QrNotAvailable(t)
            | Error::AlreadyConnected(t)
            | Error::LoggedOut(t)
            | Error::Timeout(t)
            | Error::InvalidArgument(t)
            | Error::MessageNotFound(t)
            | Error::OtpNotFound(t)
            | Error::OtpExpired(t)
            | Error::OtpMaxAttempts(t)
            | Error::EndpointNotAllowed(t)
            | Error::SendFailed(t)
            | Error::WhatsApp(t)
            | Error::Store(t)
            | Error::PasskeyRejected(t)
            | Error::PasskeyExpired(t)
            | Error::SandboxOnly(t) => (t.clone(), None, None),
            Error::NotConnected { session, state } => (session.clone(), Some(state.clone()), None),
            Error::RateLimited {
                reason,
                retry_after,
            } => (
                reason.clone(),
                None,
                Some(retry_after.as_millis().min(u64::MAX as u128) as u64),
            ),
            Error::AccountLimited {
                session,
                reason,
                retry_after,
            } => (
                session.clone(),
                Some(reason.clone()),
                retry_after.map(|d| d.as_millis().min(u64::MAX as u128) as u64),
            ),
            Error::OtpInvalid { attempts_left } => {
                (String::new(), None, Some(*attempts_left as u64))
            }
            Error::Io(e) => (e.to_string(), None, None),
            Error::Closed => (String::new(), None, None),
        };
        WireError {
            code: error.code().to_owned(),
            text,
            state,
            number,
        }
    }

    pub(crate) fn into_error(self) -> Error {
        let WireError {
            code,
            text: t,
            state,
            number,
        } = self;
        // Codes come from the one table; the match is exhaustive, so a new
        // variant cannot be forgotten here.
        let Some(kind) = ErrorCode::from_code(&code) else {
            // A code of a newer waotp this one does not know.
            return Error::Store(t);
        };
        match kind {
            ErrorCode::SessionNotFound => Error::SessionNotFound(t),
            ErrorCode::InvalidSessionId => Error::InvalidSessionId(t),
            ErrorCode::NotConnected => Error::NotConnected {
                session: t,
                state: state.unwrap_or_default(),
            },
            ErrorCode::NotOnWhatsapp => Error::NotOnWhatsapp(t),
            ErrorCode::InvalidPhone => Error::InvalidPhone(t),
            ErrorCode::QrNotAvailable => Error::QrNotAvailable(t),
            ErrorCode::AlreadyConnected => Error::AlreadyConnected(t),
            ErrorCode::LoggedOut => Error::LoggedOut(t),
            ErrorCode::Timeout => Error::Timeout(t),
            ErrorCode::InvalidArgument => Error::InvalidArgument(t),
            ErrorCode::RateLimited => Error::RateLimited {
                reason: t,
                retry_after: Duration::from_millis(number.unwrap_or(1)),
            },
            ErrorCode::MessageNotFound => Error::MessageNotFound(t),
            ErrorCode::OtpNotFound => Error::OtpNotFound(t),
            ErrorCode::OtpExpired => Error::OtpExpired(t),
            ErrorCode::OtpMaxAttempts => Error::OtpMaxAttempts(t),
            ErrorCode::OtpInvalid => Error::OtpInvalid {
                attempts_left: number.unwrap_or(0).min(u32::MAX as u64) as u32,
            },
            ErrorCode::EndpointNotAllowed => Error::EndpointNotAllowed(t),
            ErrorCode::SendFailed => Error::SendFailed(t),
            ErrorCode::WhatsApp => Error::WhatsApp(t),
            ErrorCode::Store => Error::Store(t),
            ErrorCode::Io => Error::Io(std::io::Error::other(t)),
            ErrorCode::Closed => Error::Closed,
            ErrorCode::PasskeyRejected => Error::PasskeyRejected(t),
            ErrorCode::PasskeyExpired => Error::PasskeyExpired(t),
            ErrorCode::SandboxOnly => Error::SandboxOnly(t),
            ErrorCode::AccountLimited => Error::AccountLimited {
                session: t,
                reason: state.unwrap_or_default(),
                retry_after: number.map(Duration::from_millis),
            },
            // The runtime's codes are not errors of a call that could travel.
            ErrorCode::AfterFork | ErrorCode::RuntimeError => Error::Store(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_the_trip() {
        let samples = [
            Error::SessionNotFound("a".into()),
            Error::NotConnected {
                session: "s".into(),
                state: "starting".into(),
            },
            Error::RateLimited {
                reason: "r".into(),
                retry_after: Duration::from_millis(1500),
            },
            Error::OtpInvalid { attempts_left: 2 },
            Error::Io(std::io::Error::other("disk")),
            Error::Closed,
            Error::SendFailed("x".into()),
            Error::SandboxOnly("a manual clock".into()),
            Error::PasskeyRejected("passkey-signature".into()),
            Error::PasskeyExpired("passkey-expired".into()),
            Error::AccountLimited {
                session: "s".into(),
                reason: "timelock".into(),
                retry_after: Some(Duration::from_secs(60)),
            },
            Error::AccountLimited {
                session: "s".into(),
                reason: "capped".into(),
                retry_after: None,
            },
        ];
        for e in samples {
            let back = WireError::of(&e).into_error();
            assert_eq!(back.code(), e.code());
            assert_eq!(back.to_string(), e.to_string());
        }
        for code in Error::ALL_CODES {
            let wire = WireError {
                code: code.to_string(),
                text: "t".into(),
                state: None,
                number: None,
            };
            assert_eq!(wire.into_error().code(), *code);
        }
    }
}
