//! The one error type of waotp.
//!
//! Every variant carries a stable string code ([`Error::code`]) and number
//! ([`ErrorCode::number`]) that the C ABI, Python, Node, PHP and the REST
//! server reuse verbatim, so callers in any language can branch on the same
//! values. Both come from one table (`error_codes!` below); codes are never
//! renamed or reused.

use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in waotp.
///
/// Messages never contain an OTP code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No session with this id exists in the gateway.
    #[error("session `{0}` not found")]
    SessionNotFound(String),
    /// A session id that is not `[A-Za-z0-9_-]{{1,64}}`.
    #[error("invalid session id: {0}")]
    InvalidSessionId(String),
    /// The operation needs a connected session.
    #[error("session `{session}` is not connected (state: {state})")]
    NotConnected {
        /// Session id.
        session: String,
        /// The state the session is in.
        state: String,
    },
    /// The recipient has no WhatsApp account.
    #[error("{0} is not on WhatsApp")]
    NotOnWhatsapp(String),
    /// The phone number could not be read.
    #[error("invalid phone number: {0}")]
    InvalidPhone(String),
    /// There is no QR code to show right now (the session is starting or connecting).
    #[error("no QR code available for session `{0}` yet")]
    QrNotAvailable(String),
    /// The session is already linked and connected; there is no QR to scan.
    #[error("session `{0}` is already connected")]
    AlreadyConnected(String),
    /// The linked device was logged out (from the phone, or by `logout`).
    #[error("session `{0}` is logged out; link it again")]
    LoggedOut(String),
    /// A wait ran out of time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// An argument is out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A limit was hit; retry after the given time.
    #[error("rate limited: {reason}; retry in {}s", retry_after.as_secs_f64().ceil())]
    RateLimited {
        /// Which limit.
        reason: String,
        /// How long until a retry can succeed.
        retry_after: Duration,
    },
    /// No message with this id is known.
    #[error("message `{0}` not found")]
    MessageNotFound(String),
    /// No pending OTP for this recipient.
    #[error("no OTP found for {0}")]
    OtpNotFound(String),
    /// The OTP has expired.
    #[error("the OTP for {0} has expired")]
    OtpExpired(String),
    /// Too many wrong codes were entered.
    #[error("too many attempts for {0}")]
    OtpMaxAttempts(String),
    /// The code does not match.
    #[error("invalid code; {attempts_left} attempt(s) left")]
    OtpInvalid {
        /// Attempts that remain before the OTP is locked.
        attempts_left: u32,
    },
    /// A sandbox build was pointed at an endpoint that is not loopback, or a
    /// normal build was given an endpoint override.
    #[error("endpoint not allowed: {0}")]
    EndpointNotAllowed(String),
    /// WhatsApp refused or failed to send a message.
    #[error("send failed: {0}")]
    SendFailed(String),
    /// The whatsapp-rust client reported an error.
    #[error("whatsapp: {0}")]
    WhatsApp(String),
    /// The persistent store failed.
    #[error("store: {0}")]
    Store(String),
    /// A file system operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The gateway has been closed.
    #[error("the gateway is closed")]
    Closed,
    /// WhatsApp refused the passkey assertion handed in for a link (bad
    /// signature, another passkey, wrong site, a challenge it no longer
    /// knows). The session starts linking again.
    #[error("passkey refused: {0}")]
    PasskeyRejected(String),
    /// The passkey challenge of a link expired before an assertion was
    /// accepted. The session starts linking again.
    #[error("passkey challenge expired: {0}")]
    PasskeyExpired(String),
    /// WhatsApp limits the session's number on new chats (a reachout
    /// timelock, a spent new-chat quota) or its own daily budget is spent:
    /// a message to a recipient without a chat with the number is refused
    /// before it is sent. Chats the number already has still deliver; a
    /// sender pool tries its next number.
    #[error(
        "session `{session}` cannot start new chats now ({reason}){}",
        retry_text(retry_after)
    )]
    AccountLimited {
        /// Session id (for a pool: the one whose limit ends first).
        session: String,
        /// Which limit: `timelock`, `capped`, `daily_budget`, or why no
        /// session of a pool could send.
        reason: String,
        /// How long until the limit ends, when known.
        retry_after: Option<Duration>,
    },
    /// The feature exists only in sandbox builds (cargo feature `sandbox`),
    /// e.g. a manual clock.
    #[error("{0} exists only in sandbox builds")]
    SandboxOnly(String),
}

/// The one table of error codes. Each line names a kind of error, its stable
/// string code (what every binding reports) and its stable number (the C
/// ABI's `waotp_status`). From it come [`ErrorCode`], [`Error::kind`],
/// [`Error::code`], [`Error::ALL_CODES`], the wire form the coordination
/// layer sends between processes, and every binding's list of codes.
///
/// Numbers are never reused or renumbered; a retired code stays here as a
/// comment. Ranges by source:
/// - 1–99: the core's [`Error`] (one line per variant, same name);
/// - 100–199: the C boundary's own statuses (`NULL_PARAMETER` 100,
///   `INVALID_UTF8` 101, `PANIC` 102, `REENTRANT_CALL` 103, `UNKNOWN_ERROR`
///   199), listed in `ffi/src/status.rs`. Codes the core took over from
///   there keep their numbers: the runtime's two (104, 105) and
///   `SANDBOX_ONLY` (106).
macro_rules! error_codes {
    (
        errors { $( $(#[$edoc:meta])* $variant:ident = $number:literal, $code:literal; )* }
        runtime { $( $(#[$rdoc:meta])* $rkind:ident = $rnumber:literal, $rcode:literal; )* }
    ) => {
        /// The kind of an error: one per stable code, the core's errors then
        /// the shared runtime's ([`crate::runtime::RuntimeError`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                $(#[$edoc])*
                #[doc = concat!("`", $code, "` (", $number, "): [`Error::", stringify!($variant), "`].")]
                $variant,
            )*
            $(
                $(#[$rdoc])*
                #[doc = concat!("`", $rcode, "` (", $rnumber, ").")]
                $rkind,
            )*
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] =
                &[$(ErrorCode::$variant,)* $(ErrorCode::$rkind,)*];

            /// The stable string code, e.g. `SESSION_NOT_FOUND`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    $(ErrorCode::$rkind => $rcode,)*
                }
            }

            /// The stable number (the C ABI's status value).
            pub const fn number(self) -> u32 {
                match self {
                    $(ErrorCode::$variant => $number,)*
                    $(ErrorCode::$rkind => $rnumber,)*
                }
            }

            /// The code with this string, if this version knows it.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$variant),)*
                    $($rcode => Some(ErrorCode::$rkind),)*
                    _ => None,
                }
            }

            /// The code with this number, if this version knows it.
            pub fn from_number(number: u32) -> Option<ErrorCode> {
                ErrorCode::ALL.iter().copied().find(|c| c.number() == number)
            }
        }

        impl Error {
            /// The kind of this error (its code and number).
            pub fn kind(&self) -> ErrorCode {
                match self {
                    // `{ .. }` matches tuple, struct and unit variants alike.
                    $(Error::$variant { .. } => ErrorCode::$variant,)*
                }
            }

            /// The code of every [`Error`] variant, in the table's order
            /// (without the runtime's; [`ErrorCode::ALL`] has both).
            pub const ALL_CODES: &'static [&'static str] = &[$($code,)*];
        }
    };
}

error_codes! {
    errors {
        SessionNotFound = 1, "SESSION_NOT_FOUND";
        InvalidSessionId = 2, "INVALID_SESSION_ID";
        NotConnected = 3, "NOT_CONNECTED";
        NotOnWhatsapp = 4, "NOT_ON_WHATSAPP";
        InvalidPhone = 5, "INVALID_PHONE";
        QrNotAvailable = 6, "QR_NOT_AVAILABLE";
        AlreadyConnected = 7, "ALREADY_CONNECTED";
        LoggedOut = 8, "LOGGED_OUT";
        Timeout = 9, "TIMEOUT";
        InvalidArgument = 10, "INVALID_ARGUMENT";
        RateLimited = 11, "RATE_LIMITED";
        MessageNotFound = 12, "MESSAGE_NOT_FOUND";
        OtpNotFound = 13, "OTP_NOT_FOUND";
        OtpExpired = 14, "OTP_EXPIRED";
        OtpMaxAttempts = 15, "OTP_MAX_ATTEMPTS";
        OtpInvalid = 16, "OTP_INVALID";
        EndpointNotAllowed = 17, "ENDPOINT_NOT_ALLOWED";
        SendFailed = 18, "SEND_FAILED";
        WhatsApp = 19, "WHATSAPP_ERROR";
        Store = 20, "STORE_ERROR";
        Io = 21, "IO_ERROR";
        Closed = 22, "CLOSED";
        PasskeyRejected = 23, "PASSKEY_REJECTED";
        PasskeyExpired = 24, "PASSKEY_EXPIRED";
        AccountLimited = 25, "ACCOUNT_LIMITED";
        // 26–99: free. 100–105: the C boundary's and the runtime's (below).
        SandboxOnly = 106, "SANDBOX_ONLY";
        // Retired numbers: none yet.
    }
    runtime {
        /// The process forked after the shared runtime started.
        AfterFork = 104, "AFTER_FORK";
        /// The shared runtime could not be started.
        RuntimeError = 105, "RUNTIME_ERROR";
    }
}

impl Error {
    /// The stable, machine-readable code of this error (e.g. `SESSION_NOT_FOUND`).
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// How long until a retry can succeed: the wait of `RATE_LIMITED`, the
    /// end of an `ACCOUNT_LIMITED` limit when known, `None` for every other
    /// error. Bindings report it in milliseconds.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::AccountLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The attempts left of `OTP_INVALID`, `None` for every other error.
    pub fn attempts_left(&self) -> Option<u32> {
        match self {
            Error::OtpInvalid { attempts_left } => Some(*attempts_left),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed (used by send retries).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::NotConnected { .. } | Error::Timeout(_) | Error::WhatsApp(_)
        )
    }
}

/// `; retry in Ns` when the wait is known.
fn retry_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; retry in {}s", wait.as_secs_f64().ceil()),
        None => String::new(),
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        let mut numbers = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(numbers.insert(code.number()), "{code:?}: number reused");
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(*code));
            assert_eq!(ErrorCode::from_number(code.number()), Some(*code));
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{code:?}"
            );
        }
        assert_eq!(ErrorCode::from_code("NOT_A_CODE"), None);
        assert_eq!(Error::Closed.kind(), ErrorCode::Closed);
        assert_eq!(Error::Closed.code(), "CLOSED");
        assert_eq!(ErrorCode::SessionNotFound.number(), 1);
        assert_eq!(ErrorCode::SandboxOnly.number(), 106);
    }

    #[test]
    fn a_rate_limit_carries_its_wait() {
        let e = Error::RateLimited {
            reason: "r".into(),
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(Error::Closed.retry_after(), None);
        assert_eq!(
            Error::OtpInvalid { attempts_left: 2 }.attempts_left(),
            Some(2)
        );
    }
}
