//! The one error type of waotp.
//!
//! Every variant carries a stable string code ([`Error::code`]) that the C ABI,
//! Python, Node and PHP bindings reuse verbatim, so callers in any language can
//! branch on the same values. Codes are never renamed or reused.

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
}

impl Error {
    /// The stable, machine-readable code of this error (e.g. `SESSION_NOT_FOUND`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::SessionNotFound(_) => "SESSION_NOT_FOUND",
            Error::InvalidSessionId(_) => "INVALID_SESSION_ID",
            Error::NotConnected { .. } => "NOT_CONNECTED",
            Error::NotOnWhatsapp(_) => "NOT_ON_WHATSAPP",
            Error::InvalidPhone(_) => "INVALID_PHONE",
            Error::QrNotAvailable(_) => "QR_NOT_AVAILABLE",
            Error::AlreadyConnected(_) => "ALREADY_CONNECTED",
            Error::LoggedOut(_) => "LOGGED_OUT",
            Error::Timeout(_) => "TIMEOUT",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::MessageNotFound(_) => "MESSAGE_NOT_FOUND",
            Error::OtpNotFound(_) => "OTP_NOT_FOUND",
            Error::OtpExpired(_) => "OTP_EXPIRED",
            Error::OtpMaxAttempts(_) => "OTP_MAX_ATTEMPTS",
            Error::OtpInvalid { .. } => "OTP_INVALID",
            Error::EndpointNotAllowed(_) => "ENDPOINT_NOT_ALLOWED",
            Error::SendFailed(_) => "SEND_FAILED",
            Error::WhatsApp(_) => "WHATSAPP_ERROR",
            Error::Store(_) => "STORE_ERROR",
            Error::Io(_) => "IO_ERROR",
            Error::Closed => "CLOSED",
        }
    }

    /// Every code, in a fixed order; bindings derive their constants from this list.
    pub const ALL_CODES: &'static [&'static str] = &[
        "SESSION_NOT_FOUND",
        "INVALID_SESSION_ID",
        "NOT_CONNECTED",
        "NOT_ON_WHATSAPP",
        "INVALID_PHONE",
        "QR_NOT_AVAILABLE",
        "ALREADY_CONNECTED",
        "LOGGED_OUT",
        "TIMEOUT",
        "INVALID_ARGUMENT",
        "RATE_LIMITED",
        "MESSAGE_NOT_FOUND",
        "OTP_NOT_FOUND",
        "OTP_EXPIRED",
        "OTP_MAX_ATTEMPTS",
        "OTP_INVALID",
        "ENDPOINT_NOT_ALLOWED",
        "SEND_FAILED",
        "WHATSAPP_ERROR",
        "STORE_ERROR",
        "IO_ERROR",
        "CLOSED",
    ];

    /// Whether retrying the same operation later may succeed (used by send retries).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::NotConnected { .. } | Error::Timeout(_) | Error::WhatsApp(_)
        )
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}
