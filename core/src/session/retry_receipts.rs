//! Retry receipts: the recipient's device could not decrypt a message and
//! asks for it again.
//!
//! whatsapp-rust 0.7.0 answers them itself (it re-encrypts and resends under
//! the same id) but tells the application nothing: no event for the
//! receipt, a server ack for each resend, and at the fifth receipt it stops
//! resending without a word. A message its recipient can never decrypt
//! would therefore stay `sent` for good. waotp watches the receipts on the
//! wire: when whatsapp-rust has given up, or when no delivery receipt
//! follows a retry within [`RETRY_GRACE`], the message is reported failed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use whatsapp_rust::prelude::Client;
use whatsapp_rust::wacore::protocol::retry::MAX_RETRY_COUNT;
use whatsapp_rust::{NodeFilter, OwnedNodeRef};

use crate::model::DeliveryStatus;

use super::SessionInner;

/// How long a delivery receipt may take after a retry before the message
/// counts as undeliverable (a resend that decrypts is delivered in moments).
pub(crate) const RETRY_GRACE: Duration = Duration::from_secs(60);

/// Watches `client`'s incoming retry receipts until the client is gone.
pub(crate) fn watch(client: &Arc<Client>, session: Weak<SessionInner>) {
    let client = Arc::downgrade(client);
    tokio::spawn(async move {
        loop {
            let waiter = match client.upgrade() {
                Some(c) => c.wait_for_node(NodeFilter::tag("receipt").attr("type", "retry")),
                None => return,
            };
            // The sender side lives in the client; it is dropped with it.
            let Ok(node) = waiter.await else { return };
            let Some(session) = session.upgrade() else {
                return;
            };
            if let Some((id, count)) = read(&node) {
                on_retry(&session, id, count);
            }
        }
    });
}

/// The message id and retry count of a `<receipt type="retry">`.
fn read(node: &OwnedNodeRef) -> Option<(String, u32)> {
    let id = node.attrs().optional_string("id")?.into_owned();
    let count = node
        .get_optional_child("retry")
        .and_then(|r| r.attrs().optional_string("count").map(|c| c.into_owned()))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    Some((id, count))
}

fn on_retry(session: &Arc<SessionInner>, id: String, count: u32) {
    log::info!(
        "session {}: the recipient of {id} could not decrypt it (retry receipt {count})",
        session.id
    );
    let deliveries = session.context.deliveries.clone();
    if count >= u32::from(MAX_RETRY_COUNT) {
        let failed = DeliveryStatus::Failed {
            reason: format!(
                "the recipient's device could not decrypt the message \
                 ({count} retry receipts; whatsapp-rust stopped resending)"
            ),
        };
        tokio::spawn(async move { deliveries.apply(&id, failed).await });
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(RETRY_GRACE).await;
        let delivered = deliveries
            .messages
            .get(&id)
            .is_ok_and(|r| matches!(r.status, DeliveryStatus::Delivered | DeliveryStatus::Read));
        if !delivered {
            let failed = DeliveryStatus::Failed {
                reason: format!(
                    "the recipient's device could not decrypt the message and no delivery \
                     followed the resend within {}s (retry receipt {count})",
                    RETRY_GRACE.as_secs()
                ),
            };
            deliveries.apply(&id, failed).await;
        }
    });
}
