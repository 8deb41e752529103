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

#![warn(missing_docs)]

mod build_info;
mod coordination;
pub mod delivery;
mod delivery_reports;
mod endpoint;
pub mod error;
mod event_fields;
pub mod events;
mod gateway;
mod messages;
mod on_whatsapp_cache;
pub mod otp;
mod otp_delivery;
pub mod phone;
mod phone_cache;
mod redis_wiring;
pub mod retry;
pub mod runtime;
pub mod session;
pub mod stderr_log;
mod storage;

pub use build_info::{BuildInfo, build_info};
pub use delivery::DeliveryStatus;
pub use error::{Error, Result};
pub use event_fields::EventFields;
pub use events::{Event, EventStream};
pub use gateway::{Gateway, GatewayBuilder};
pub use messages::MessageRecord;
pub use otp::{OtpRequest, OtpStatus, VerifyOutcome};
pub use otp_delivery::SentOtp;
pub use retry::SendRetry;
pub use session::{
    LinkedUser, QrCode, SentMessage, Session, SessionId, SessionState, SessionStatus,
};
