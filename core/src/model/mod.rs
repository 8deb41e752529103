//! Plain data every layer shares: session ids, states and statuses, the
//! linked user, QR codes, the passkey gate's challenge and assertion, message records and delivery statuses, phone
//! numbers, times as Unix milliseconds. Imports nothing but [`crate::error`].

pub mod build_info;
pub mod delivery_status;
pub mod health;
pub mod idempotency;
pub mod message;
pub mod passkey;
pub mod phone;
pub mod qr;
pub mod session_id;
pub mod session_state;
pub(crate) mod time;

pub use build_info::{BuildInfo, build_info};
pub use delivery_status::DeliveryStatus;
pub use health::{HealthState, LimitReason, NewChatQuota, SessionHealth};
pub use idempotency::MAX_IDEMPOTENCY_KEY_LEN;
pub(crate) use idempotency::check_idempotency_key;
pub use message::MessageRecord;
pub use passkey::{PasskeyAssertion, PasskeyChallenge};
pub use qr::QrCode;
pub use session_id::SessionId;
pub use session_state::{LinkedUser, SessionState, SessionStatus};
