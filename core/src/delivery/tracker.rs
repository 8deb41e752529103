//! What the gateway knows about the messages its connections sent: delivery
//! status by message id. (Idempotency keys live in the shared outbox, so
//! they hold across processes; so does each message's latest status.)
//!
//! whatsapp-rust's `send_message` returns when the stanza is written; the
//! server ack and the delivery and read receipts arrive later as events keyed
//! by message id. The tracker joins the two so `message_status(id)` can answer.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::model::{DeliveryStatus, MessageRecord};
use crate::platform::sync;

use super::MemoryBounds;
use super::bounded_map::BoundedMap;

struct TrackerState {
    /// Bounded by [`MemoryBounds::tracked_messages`] and
    /// [`MemoryBounds::tracked_message_age`], oldest first out: a
    /// recipient with read receipts off never sends the `read` that would
    /// settle a message, so settling cannot be what frees it.
    records: BoundedMap<MessageRecord>,
}

/// Delivery status by message id, shared by every session of a gateway.
pub(crate) struct MessageTracker {
    state: Mutex<TrackerState>,
    changed: Notify,
}

impl Default for MessageTracker {
    fn default() -> Self {
        Self::new(&MemoryBounds::default())
    }
}

impl MessageTracker {
    /// An empty tracker within `bounds`.
    pub(crate) fn new(bounds: &MemoryBounds) -> Self {
        MessageTracker {
            state: Mutex::new(TrackerState {
                records: BoundedMap::new(bounds.tracked_messages, bounds.tracked_message_age),
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        // A panic while holding the lock leaves plain maps behind, still consistent.
        sync::lock(&self.state)
    }

    /// Records a message about to be written, as `Pending`.
    pub(crate) fn begin(&self, id: &str, session: &str, to: &str) {
        let mut state = self.lock();
        state.records.insert(
            id,
            MessageRecord {
                id: id.to_owned(),
                session: session.to_owned(),
                to: to.to_owned(),
                status: DeliveryStatus::Pending,
                updated_at: SystemTime::now(),
            },
        );
        drop(state);
        self.changed.notify_waiters();
    }

    /// The status a report would lead to, when it changes anything.
    pub(crate) fn preview(&self, id: &str, next: &DeliveryStatus) -> Option<DeliveryStatus> {
        let state = self.lock();
        let current = &state.records.get(id)?.status;
        let advanced = current.advance(next.clone());
        (advanced != *current).then_some(advanced)
    }

    /// Applies a status report. Returns the updated record when the status
    /// changed (so the caller can publish it), `None` for unknown ids and
    /// reports that change nothing. Waiters are not woken: the caller brings
    /// related state in line first, then calls [`wake_waiters`](Self::wake_waiters).
    pub(crate) fn update(&self, id: &str, next: DeliveryStatus) -> Option<MessageRecord> {
        let mut state = self.lock();
        let record = state.records.get_mut(id)?;
        let advanced = record.status.advance(next);
        if advanced == record.status {
            return None;
        }
        record.status = advanced;
        record.updated_at = SystemTime::now();
        Some(record.clone())
    }

    /// Wakes everything waiting in [`wait_for`](Self::wait_for).
    pub(crate) fn wake_waiters(&self) {
        self.changed.notify_waiters();
    }

    /// The record of a message.
    pub(crate) fn get(&self, id: &str) -> Result<MessageRecord> {
        self.lock()
            .records
            .get(id)
            .cloned()
            .ok_or_else(|| Error::MessageNotFound(id.to_owned()))
    }

    /// Waits until the message's status satisfies `done`, or the timeout passes.
    pub(crate) async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        mut done: impl FnMut(&DeliveryStatus) -> bool,
    ) -> Result<MessageRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so an update between the check
            // and the wait is not missed.
            let notified = self.changed.notified();
            let record = self.get(id)?;
            if done(&record.status) {
                return Ok(record);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::Timeout(format!(
                    "message {id} to move past `{}`",
                    record.status.as_str()
                )));
            }
        }
    }

    /// Waits until no message `session` sent here is still waiting for the
    /// server's ack, or the timeout passes (then it answers how many still are).
    pub(crate) async fn wait_acked(&self, session: &str, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let waiting = self
                .lock()
                .records
                .values()
                .filter(|r| r.session == session && r.status == DeliveryStatus::Pending)
                .count();
            if waiting == 0 || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return waiting;
            }
        }
    }

    /// Forgets everything a deleted session sent.
    pub(crate) fn forget_session(&self, session: &str) {
        let mut state = self.lock();
        state.records.retain(|r| r.session != session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracker_holds_at_most_its_bound() {
        let bounds = MemoryBounds {
            tracked_messages: 100,
            ..MemoryBounds::default()
        };
        let t = MessageTracker::new(&bounds);
        for i in 0..1_000 {
            t.begin(&format!("M{i}"), "s", "62811");
            // Delivered, never read: still let go once the bound is reached.
            t.update(&format!("M{i}"), DeliveryStatus::Delivered);
        }
        assert_eq!(t.lock().records.len(), 100);
        assert_eq!(t.get("M0").unwrap_err().code(), "MESSAGE_NOT_FOUND");
        assert_eq!(t.get("M999").unwrap().status, DeliveryStatus::Delivered);
    }

    #[test]
    fn updates_publish_only_real_changes() {
        let t = MessageTracker::default();
        assert!(t.update("nope", DeliveryStatus::Sent).is_none());
        t.begin("A", "s", "62811");
        assert_eq!(
            t.update("A", DeliveryStatus::Delivered).unwrap().status,
            DeliveryStatus::Delivered
        );
        assert!(t.update("A", DeliveryStatus::Sent).is_none());
        assert_eq!(t.get("A").unwrap().status, DeliveryStatus::Delivered);
        assert_eq!(t.get("B").unwrap_err().code(), "MESSAGE_NOT_FOUND");
    }

    #[tokio::test]
    async fn wait_for_wakes_on_update_and_times_out_otherwise() {
        let t = std::sync::Arc::new(MessageTracker::default());
        t.begin("A", "s", "62811");
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                t.wait_for("A", Duration::from_secs(5), |s| *s == DeliveryStatus::Read)
                    .await
            })
        };
        tokio::task::yield_now().await;
        t.update("A", DeliveryStatus::Read);
        t.wake_waiters();
        assert_eq!(waiter.await.unwrap().unwrap().status, DeliveryStatus::Read);
        let err = t
            .wait_for("A", Duration::from_millis(10), |s| {
                matches!(s, DeliveryStatus::Failed { .. })
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), "TIMEOUT");
    }
}
