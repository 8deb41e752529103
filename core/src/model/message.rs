//! A message the gateway sent, as callers see it.

use std::time::SystemTime;

use serde::Serialize;

use crate::model::delivery_status::DeliveryStatus;
use crate::model::time::unix_millis;

/// A message the gateway sent, and where it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    /// WhatsApp message id.
    pub id: String,
    /// Session that sent it.
    pub session: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// Delivery status.
    #[serde(flatten)]
    pub status: DeliveryStatus,
    /// When the status last changed.
    #[serde(with = "unix_millis")]
    pub updated_at: SystemTime,
}
