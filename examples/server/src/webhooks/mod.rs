//! Webhooks: every event of the gateway (message status, OTP sent,
//! delivered, verified and failed, inbound approvals, session connected,
//! disconnected and logged out, health changes), POSTed as signed JSON to
//! the operator's endpoints, at least once, from a queue in the data dir.

pub mod deliver;
pub mod queue;
pub mod signature;

pub use deliver::{WebhookConfig, spawn};
pub use queue::WebhookQueue;
pub use signature::WebhookSecret;

/// The queue's file name in the data dir.
pub const QUEUE_FILE: &str = "webhooks.db";
