//! Delivery reports (server acks, receipts, send failures) applied in the
//! order they happened.
//!
//! whatsapp-rust calls the event handler synchronously and from several
//! tasks, while recording a report awaits the OTP store (a network round trip
//! with Redis). Reports from events are therefore queued to one worker task
//! per gateway, and every report, queued or direct, is applied under one
//! async lock: the OTP record moves first, then the message's status, then
//! the events go out. Whoever sees the new status also reads it in
//! `otp_status`, and subscribers get the statuses in the order they were
//! reached.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::coordination::SharedCoordination;
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::model::{DeliveryStatus, MessageRecord};
use crate::otp::{ConversionEvent, OtpEngine};

use super::MemoryBounds;
use super::tracker::MessageTracker;

/// One report: a message id and what happened to it.
type Report = (String, DeliveryStatus);

/// How often a wait on a message another process sent reads its status.
const SHARED_STATUS_POLL: Duration = Duration::from_millis(50);

/// Everything a report moves: the gateway's message tracker, the OTP
/// record, the shared outbox's copy, and the events; with the queue and the
/// lock every report goes through.
pub(crate) struct Deliveries {
    /// Delivery status by message id, for this process's connections.
    pub(crate) messages: MessageTracker,
    /// Bounded by [`MemoryBounds::queued_delivery_reports`].
    queue: mpsc::Sender<Report>,
    order: tokio::sync::Mutex<()>,
    otp: OtpEngine,
    coordination: SharedCoordination,
    events: Arc<EventBus>,
}

impl Deliveries {
    /// The reports of one gateway, with their worker; the worker ends once
    /// the returned value is dropped.
    pub(crate) fn start(
        otp: OtpEngine,
        coordination: SharedCoordination,
        events: Arc<EventBus>,
        bounds: &MemoryBounds,
    ) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(bounds.queued_delivery_reports.max(1));
        let deliveries = Arc::new(Deliveries {
            messages: MessageTracker::new(bounds),
            queue,
            order: tokio::sync::Mutex::new(()),
            otp,
            coordination,
            events,
        });
        spawn_worker(Arc::downgrade(&deliveries), rx);
        deliveries
    }

    /// Queues a report from a synchronous event handler. A full queue (the
    /// store behind it stalled for thousands of reports) drops the report
    /// rather than grow: the message keeps the status it had.
    pub(crate) fn queue(&self, message_id: &str, status: DeliveryStatus) {
        match self.queue.try_send((message_id.to_owned(), status)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full((id, status))) => log::warn!(
                "delivery report queue full ({} waiting); `{}` of message {id} dropped",
                self.queue.max_capacity(),
                status.as_str()
            ),
            // The worker only stops with the gateway; a report after that
            // has nobody to tell.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Applies one report now (the caller awaits it), in order with the queued ones.
    pub(crate) async fn apply(&self, message_id: &str, status: DeliveryStatus) {
        {
            let _order = self.order.lock().await;
            let Some(next) = self.messages.preview(message_id, &status) else {
                return;
            };
            let reached_before = self
                .messages
                .get(message_id)
                .is_ok_and(|r| r.status.reached_phone());
            let otp = self.otp.record_delivery(message_id, next.clone()).await;
            if let Err(e) = self.coordination.record_delivery(message_id, &next).await {
                log::warn!("recording delivery of {message_id} in the shared state failed: {e}");
            }
            let Some(record) = self.messages.update(message_id, next) else {
                return;
            };
            match otp {
                Ok(true) => {
                    // A code's message reached the phone (once, not again when read).
                    if record.status.reached_phone() && !reached_before {
                        self.otp
                            .stats()
                            .record_conversion(&record.session, ConversionEvent::Delivered);
                    }
                    self.events.emit(Event::OtpDelivery {
                        message_id: record.id.clone(),
                        to: record.to.clone(),
                        status: record.status.clone(),
                    })
                }
                Ok(false) => {}
                Err(e) => log::warn!(
                    "session {}: recording OTP delivery failed: {e}",
                    record.session
                ),
            }
            self.events.emit(Event::MessageStatus {
                session: record.session,
                message_id: record.id,
                to: record.to,
                status: record.status,
            });
        }
        self.messages.wake_waiters();
    }

    /// The delivery record of a message: from this process's connections,
    /// else from the shared outbox (a message another process's connection sent).
    pub(crate) async fn message_status(&self, message_id: &str) -> Result<MessageRecord> {
        match self.messages.get(message_id) {
            Ok(record) => Ok(record),
            Err(not_here) => match self.coordination.message(message_id).await? {
                Some(record) => Ok(record),
                None => Err(not_here),
            },
        }
    }

    /// Waits until a message's status satisfies `done`, or the timeout. A
    /// message another process's connection sent is followed through the
    /// shared outbox.
    pub(crate) async fn wait_message_status(
        &self,
        message_id: &str,
        timeout: Duration,
        mut done: impl FnMut(&DeliveryStatus) -> bool,
    ) -> Result<MessageRecord> {
        if self.messages.get(message_id).is_ok() {
            return self.messages.wait_for(message_id, timeout, done).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let record = self.message_status(message_id).await?;
            if done(&record.status) {
                return Ok(record);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "message {message_id} to move past `{}`",
                    record.status.as_str()
                )));
            }
            tokio::time::sleep(SHARED_STATUS_POLL).await;
        }
    }
}

/// Runs the worker: applies queued reports one at a time, in queue order.
fn spawn_worker(deliveries: Weak<Deliveries>, mut rx: mpsc::Receiver<Report>) {
    tokio::spawn(async move {
        while let Some((id, status)) = rx.recv().await {
            let Some(deliveries) = deliveries.upgrade() else {
                return;
            };
            deliveries.apply(&id, status).await;
        }
    });
}
