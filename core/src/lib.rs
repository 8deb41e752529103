//! waotp: send one-time passwords over WhatsApp from a linked WhatsApp account
//! (WhatsApp Web multi-device), and verify them.
//!
//! The entry point is [`Gateway`]: it owns the linked [`Session`]s, tracks the
//! delivery of every message, and publishes [`Event`]s.
//!
//! ```no_run
//! # async fn demo() -> waotp::Result<()> {
//! let gateway = waotp::Gateway::builder().data_dir("./waotp-data").open().await?;
//! let session = gateway.create_session(Some("shop")).await?;
//! let qr = session.wait_qr(std::time::Duration::from_secs(30)).await?;
//! println!("{}", qr.terminal()?);
//! session.wait_connected(std::time::Duration::from_secs(120)).await?;
//! let sent = session.send_text("08123456789", "hello", None).await?;
//! println!("{:?}", gateway.message_status(&sent.id).await?.status);
//! # Ok(()) }
//! ```
//!
//! WhatsApp limits linked accounts on new chats (a reachout timelock, a
//! quota per cycle), and a code is a new chat until its recipient has one
//! with the number. Each session's [`SessionStatus::health`] says what
//! WhatsApp lets its number do; a code that would hit a limit fails up front
//! with `ACCOUNT_LIMITED`; and [`Gateway::send_otp_pool`] sends each code
//! through one of several numbers that can still deliver it ([`SenderPool`]).
//!
//! Or turn the flow around: [`Gateway::start_inbound_verification`] gives a
//! `wa.me` link (and its QR code) that opens WhatsApp with a one-time token
//! written out; the user taps send, the linked number receives it, and
//! [`Gateway::inbound_verification_status`] says who sent it. No new chat
//! is opened on the number's side, so no limit applies, and the user is a
//! known contact afterwards.
//!
//! # How the crate is built
//!
//! The source is in layers; a module imports only from the layers below it
//! (`core/tests/layers.rs` checks every `crate::` path), so each layer can
//! be read knowing only what is under it:
//!
//! ```text
//! gateway/       the facade: Gateway and its builder (Redis wiring, endpoint),
//!                the session registry and discovery, the OTP API, the send retry policy
//! session/ · pool/
//!                one linked device: handle, pairing, sends, lifecycle, which process
//!                owns the connection, the wiring to whatsapp-rust; it declares the
//!                SessionContext it needs, and the gateway builds it
//! delivery/ · health/ · inbound/
//!                message tracker, delivery report pipeline, on-WhatsApp and phone
//!                caches; each session's health (WhatsApp's limits on its number,
//!                the recipients it has a chat with); inbound verifications (tokens,
//!                links, their stores)
//! otp/ · coordination/ · events/
//!                the engines: codes, stores, limits and verification; leases, outbox
//!                and shared statuses between processes (one host or Redis); the
//!                event enum, its streams and bus (events sit above otp)
//! platform/      the data dir's layout (every path in one place), private files,
//!                SQLite helpers, poison-tolerant locks
//! model/         plain data: session ids, states and statuses, QR codes, message
//!                records, delivery statuses, phone numbers, times, idempotency keys
//! error          the one error enum and its stable codes
//! ```
//!
//! `for_bindings/` sits beside the stack: what only the C, Python and Node
//! bindings use (a shared runtime, stderr logging, flat event fields). It is
//! hidden from these docs.
//!
//! # Features
//!
//! * `sandbox` (off by default): accept a loopback simulator endpoint
//!   ([`GatewayBuilder::endpoint`]) and a manual clock
//!   ([`GatewayBuilder::manual_clock`]), for tests. It turns off
//!   whatsapp-rust's certificate-chain check; never enable it in a shipped
//!   build ([`BuildInfo::sandbox`] tells which kind of build this is).

#![warn(missing_docs)]

mod coordination;
pub mod delivery;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod for_bindings;
mod gateway;
mod health;
pub mod inbound;
mod model;
pub mod otp;
mod platform;
mod pool;
pub mod session;

pub use delivery::MemoryBounds;
pub use error::{Error, Result};
pub use events::{Event, EventStream};
pub use gateway::{Gateway, GatewayBuilder, SentOtp};
pub use model::{BuildInfo, DeliveryStatus, MessageRecord, build_info};
pub use model::{HealthState, LimitReason, NewChatQuota, SessionHealth};
pub use model::{PasskeyAssertion, PasskeyChallenge};

/// The passkey gate of linking: the challenge, the snippet and the assertion.
pub mod passkey {
    pub use crate::model::passkey::{
        DEFAULT_PASSKEY_TIMEOUT, MAX_ASSERTION_LEN, PasskeyAssertion, PasskeyChallenge,
        passkey_snippet,
    };
}
pub use inbound::{InboundRequest, InboundStatus, InboundVerification};
pub use otp::{OtpRequest, OtpStatus, VerifyMethod, VerifyOutcome};
pub use pool::SenderPool;
pub use session::{
    LinkedUser, QrCode, SentMessage, Session, SessionId, SessionState, SessionStatus,
};

/// Phone number normalisation.
pub use model::phone;
pub use platform::store_key::StoreKey;

/// The send retry policy (kept at its old path).
pub mod retry {
    pub use crate::gateway::send_retry::SendRetry;
}
pub use gateway::SendRetry;

#[doc(hidden)]
pub use for_bindings::{EventFields, runtime, stderr_log};
