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

use tokio::sync::mpsc;

use crate::delivery::DeliveryStatus;
use crate::events::Event;
use crate::gateway::Shared;

/// One report: a message id and what happened to it.
type Report = (String, DeliveryStatus);

/// The queue and the lock every report goes through.
pub(crate) struct DeliveryReports {
    queue: mpsc::UnboundedSender<Report>,
    order: tokio::sync::Mutex<()>,
}

impl DeliveryReports {
    /// The reports of `shared`, with their worker; the worker ends once the
    /// gateway's shared state is dropped.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let reports = DeliveryReports {
            queue,
            order: tokio::sync::Mutex::new(()),
        };
        (reports, rx)
    }

    /// Queues a report from a synchronous event handler.
    pub(crate) fn queue(&self, message_id: &str, status: DeliveryStatus) {
        // The worker only stops with the gateway; a report after that has nobody to tell.
        let _ = self.queue.send((message_id.to_owned(), status));
    }
}

/// Runs the worker: applies queued reports one at a time, in queue order.
pub(crate) fn spawn_worker(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<Report>) {
    tokio::spawn(async move {
        while let Some((id, status)) = rx.recv().await {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            apply(&shared, &id, status).await;
        }
    });
}

/// Applies one report now (the caller awaits it), in order with the queued ones.
pub(crate) async fn apply(shared: &Arc<Shared>, message_id: &str, status: DeliveryStatus) {
    {
        let _order = shared.deliveries.order.lock().await;
        let Some(next) = shared.messages.preview(message_id, &status) else {
            return;
        };
        let otp = shared.otp.record_delivery(message_id, next.clone()).await;
        if let Err(e) = shared.coordination.record_delivery(message_id, &next).await {
            log::warn!("recording delivery of {message_id} in the shared state failed: {e}");
        }
        let Some(record) = shared.messages.update(message_id, next) else {
            return;
        };
        match otp {
            Ok(true) => shared.emit(Event::OtpDelivery {
                message_id: record.id.clone(),
                to: record.to.clone(),
                status: record.status.clone(),
            }),
            Ok(false) => {}
            Err(e) => log::warn!(
                "session {}: recording OTP delivery failed: {e}",
                record.session
            ),
        }
        shared.emit(Event::MessageStatus {
            session: record.session,
            message_id: record.id,
            to: record.to,
            status: record.status,
        });
    }
    shared.messages.wake_waiters();
}
