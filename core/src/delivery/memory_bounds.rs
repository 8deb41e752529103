//! How much a gateway remembers in memory about messages and numbers.

use std::time::Duration;

/// The bounds on what a gateway keeps in memory, however long it runs.
/// Each has a default fit for a busy deployment; raise them for more, or
/// lower them on a small machine (`GatewayBuilder::memory_bounds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBounds {
    /// Messages this process sent whose delivery status it tracks in memory
    /// (default 50,000; about 200 bytes each). Past it, the oldest are
    /// forgotten here; `message_status` still answers from the shared
    /// outbox for a day.
    pub tracked_messages: usize,
    /// How long a message's status is tracked in memory (default 24 h),
    /// whether or not a delivery or read receipt came.
    pub tracked_message_age: Duration,
    /// Numbers whose "is on WhatsApp" answer is cached (default 100,000);
    /// each answer is kept for `on_whatsapp_cache_ttl` at most.
    pub on_whatsapp_entries: usize,
    /// Delivery reports (acks, receipts) waiting to be applied (default
    /// 10,000). A report past it is dropped with a warning rather than held:
    /// the message keeps its last status.
    pub queued_delivery_reports: usize,
}

impl Default for MemoryBounds {
    fn default() -> Self {
        MemoryBounds {
            tracked_messages: 50_000,
            tracked_message_age: Duration::from_secs(24 * 3600),
            on_whatsapp_entries: 100_000,
            queued_delivery_reports: 10_000,
        }
    }
}

impl MemoryBounds {
    /// Refuses a bound of zero: nothing would be remembered, which is
    /// never what a caller means (`INVALID_ARGUMENT`). `GatewayBuilder::open`
    /// calls it; a binding may call it earlier, where the bounds are set.
    pub fn validate(&self) -> crate::error::Result<()> {
        let zero = [
            ("tracked_messages", self.tracked_messages == 0),
            ("tracked_message_age", self.tracked_message_age.is_zero()),
            ("on_whatsapp_entries", self.on_whatsapp_entries == 0),
            ("queued_delivery_reports", self.queued_delivery_reports == 0),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((name, _)) => Err(crate::Error::InvalidArgument(format!(
                "memory bound {name} is 0; every bound must be positive"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_bound_is_refused_by_name() {
        MemoryBounds::default().validate().unwrap();
        let bounds = MemoryBounds {
            on_whatsapp_entries: 0,
            ..MemoryBounds::default()
        };
        let err = bounds.validate().unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("on_whatsapp_entries"), "{err}");
    }
}
