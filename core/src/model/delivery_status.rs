//! Delivery status of a sent message, as WhatsApp reports it.

use serde::Serialize;

/// Where a sent message is on its way to the recipient.
///
/// Moves forward only: `Pending` → `Sent` (server ack) → `Delivered` → `Read`,
/// or ends in `Failed` with the reason WhatsApp gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Written to the socket; no answer from the server yet.
    Pending,
    /// The server acknowledged the message.
    Sent,
    /// The recipient's phone received it.
    Delivered,
    /// The recipient opened it.
    Read,
    /// The server refused it, or it could not be sent.
    Failed {
        /// Why, in WhatsApp's or the client's words.
        reason: String,
    },
}

impl DeliveryStatus {
    /// Short lowercase name: `pending`, `sent`, `delivered`, `read` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed { .. } => "failed",
        }
    }

    /// The status named `name` (as [`as_str`](Self::as_str) writes it);
    /// `failed` takes `reason`. Unknown names read as `pending`.
    pub fn parse(name: &str, reason: Option<String>) -> DeliveryStatus {
        match name {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed {
                reason: reason.unwrap_or_default(),
            },
            _ => DeliveryStatus::Pending,
        }
    }

    /// Rank used so that a late or repeated receipt never moves a status backwards.
    fn rank(&self) -> u8 {
        match self {
            DeliveryStatus::Pending => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered => 2,
            DeliveryStatus::Read => 3,
            DeliveryStatus::Failed { .. } => 4,
        }
    }

    /// The status after `next` is reported: later stages win, a failure is final,
    /// and nothing moves a delivered or read message to failed.
    pub fn advance(&self, next: DeliveryStatus) -> DeliveryStatus {
        match (self, &next) {
            (DeliveryStatus::Failed { .. }, _) => self.clone(),
            (DeliveryStatus::Delivered | DeliveryStatus::Read, DeliveryStatus::Failed { .. }) => {
                self.clone()
            }
            _ if next.rank() > self.rank() => next,
            _ => self.clone(),
        }
    }

    /// True once the message is on the recipient's phone (delivered or read).
    pub fn reached_phone(&self) -> bool {
        matches!(self, DeliveryStatus::Delivered | DeliveryStatus::Read)
    }

    /// True once nothing more will change (read or failed).
    pub fn is_final(&self) -> bool {
        matches!(self, DeliveryStatus::Read | DeliveryStatus::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_forward_only() {
        let s = DeliveryStatus::Pending.advance(DeliveryStatus::Delivered);
        assert_eq!(s, DeliveryStatus::Delivered);
        assert_eq!(s.advance(DeliveryStatus::Sent), DeliveryStatus::Delivered);
        assert_eq!(s.advance(DeliveryStatus::Read), DeliveryStatus::Read);
    }

    #[test]
    fn failure_is_final_but_never_overrides_delivery() {
        let failed = DeliveryStatus::Sent.advance(DeliveryStatus::Failed {
            reason: "479".into(),
        });
        assert_eq!(failed.as_str(), "failed");
        assert_eq!(failed.advance(DeliveryStatus::Read).as_str(), "failed");
        let delivered = DeliveryStatus::Delivered;
        assert_eq!(
            delivered.advance(DeliveryStatus::Failed { reason: "x".into() }),
            DeliveryStatus::Delivered
        );
    }
}
