//! The native addon of the `waotp` npm package (napi-rs): a thin layer that
//! converts JavaScript values to the core's and back. Every operation runs
//! on napi's tokio runtime and answers with a Promise; `waotp.js` adds the
//! Node idioms (EventEmitter, async iteration) on top.

mod errors;
mod events;
mod gateway;
mod inbound;
mod options;
mod promise;
mod types;

pub use errors::error_codes;
pub use events::{Event, EventStream};
pub use gateway::Gateway;
pub use inbound::{InboundOptions, InboundStatus, InboundVerification};
pub use options::{
    GatewayOptions, Limits, RateWindow, SendOtpOptions, SendRetry, SendTextOptions, SessionPacing,
};
pub use types::{
    BuildInfo, Conversion, ConversionFigures, LinkedUser, MessageStatus, OtpStatus,
    PasskeyChallenge, QrCode, SendStats, SentMessage, SentOtp, SessionStatus, Stats, VerifyCounts,
    VerifyResult, build_info,
};

/// Turns on waotp's log on stderr when `WAOTP_LOG` is set (an env_logger
/// filter such as `info`), once, when the addon loads.
#[napi_derive::module_init]
fn init() {
    waotp::stderr_log::init_from_env("WAOTP_LOG");
}
