//! Where events are published: one bus per gateway.

use tokio::sync::{broadcast, watch};

use super::{CAPACITY, Event, EventStream};

/// Publishes a gateway's events to every subscriber, and tells them when
/// the gateway has closed.
pub(crate) struct EventBus {
    events: broadcast::Sender<Event>,
    /// Becomes true when the gateway closes: event streams end then.
    closed: watch::Sender<bool>,
}

impl EventBus {
    /// A bus with no subscribers, open.
    pub(crate) fn new() -> Self {
        EventBus {
            events: broadcast::channel(CAPACITY).0,
            closed: watch::Sender::new(false),
        }
    }

    /// Offers `event` to the current subscribers.
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is not an error: events are offered, not queued.
        let _ = self.events.send(event);
    }

    /// Subscribes to the events from now on.
    pub(crate) fn subscribe(&self) -> EventStream {
        EventStream::new(self.events.subscribe(), self.closed.subscribe())
    }

    /// Ends every stream once it has read the events sent before.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}
