//! The OTP engine: generate, send-ready render, store, verify, limit, measure.
//!
//! Security by default (the tests are in `otp/tests.rs`):
//!
//! * codes come from the OS CSPRNG with uniform digits ([`generate_otp`]);
//! * only `HMAC-SHA256(secret, recipient ‖ 0 ‖ code)` is stored, compared in
//!   constant time; the secret is generated once into a 0600 file or supplied
//!   ([`OtpSecret`]);
//! * a new code replaces the recipient's pending one, an approved code cannot
//!   be used again, and wrong attempts are counted atomically in the store
//!   ([`OtpStore::check`]), so concurrent guesses cannot exceed the limit;
//! * codes are wrapped in types whose `Debug`/`Display` are redacted
//!   ([`OtpCode`], [`OtpMessage`]) and never reach logs, errors or metrics;
//! * rate limits and cooldowns answer `RATE_LIMITED` with the time to retry,
//!   and per-session pacing spaces a linked number's sends; their state lives
//!   in the store, so processes sharing a store share the limits ([`Limits`]).
//!
//! [`OtpEngine`] ties these together; the gateway adds the WhatsApp side.
//!
//! ```
//! use waotp::otp::{OtpEngine, OtpRequest, VerifyOutcome};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> waotp::Result<()> {
//! let engine = OtpEngine::in_memory()?;
//! let issued = engine.issue("6281234567890", "main", &OtpRequest::new("PT. Contoh")).await?;
//! let code = issued.code.as_ref().unwrap().expose().to_string();
//! // ... the gateway sends `issued.message` over WhatsApp ...
//! assert_eq!(engine.verify("6281234567890", &code).await?, VerifyOutcome::Approved);
//! assert_eq!(engine.verify("6281234567890", &code).await?, VerifyOutcome::NotFound); // single use
//! # Ok(()) }
//! ```

mod clock;
mod code;
mod conversion;
mod engine;
mod generator;
mod limiter;
mod mac;
mod secret;
mod state;
mod stats;
pub mod store;
mod template;

#[cfg(test)]
mod tests;

pub use crate::model::MAX_IDEMPOTENCY_KEY_LEN;
pub use clock::{Clock, ManualClock, SystemClock};
pub use code::{OtpCode, OtpMessage};
pub use conversion::{Conversion, ConversionEvent, ConversionFigures};
pub use engine::{
    IssuedOtp, MAX_ATTEMPTS_LIMIT, MAX_TTL, MIN_TTL, OtpConfig, OtpEngine, OtpEngineBuilder,
    OtpRequest, OtpStatus, Verification,
};
pub use generator::{MAX_LENGTH, MIN_LENGTH, generate_otp};
pub use limiter::{
    Admission, LimitRule, Limiter, Limits, Pacing, RateWindow, pace_decision, send_decision,
    window_decision,
};
pub(crate) use mac::CodeHasher;
pub use mac::{CodeMac, MAC_LEN, macs_equal};
pub use secret::{OtpSecret, SECRET_FILE_NAME};
pub use state::{OtpState, VerifyMethod, VerifyOutcome, apply_check, effective_state};
pub use stats::{LatencyHistogram, OtpStats, SendStats, StatsSnapshot, VerifyCounts};
pub use store::{CheckResult, MemoryStore, OtpRecord, OtpStore, RedisStore, SqliteStore};
pub use template::{Locale, MAX_COMPANY_LEN, MAX_TEMPLATE_LEN, Template};
