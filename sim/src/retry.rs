//! Retry receipts: what the recipient's device answers when it cannot
//! decrypt a message, and how the simulator recognises the resend.
//!
//! A WhatsApp device that fails to decrypt a message (a libsignal "old
//! counter" when two processes encrypt from the same stored ratchet, a
//! missing session…) does not drop it silently: it asks the sender to
//! resend with
//!
//! ```text
//! <receipt from="RECIPIENT@s.whatsapp.net" id="ID" type="retry" t="T">
//!   <retry count="N" id="ID" t="T" v="1"/>
//!   <registration>4-byte big-endian registration id</registration>
//! </receipt>
//! ```
//!
//! That is the shape whatsapp-rust both sends (`src/retry.rs`,
//! `send_retry_receipt`) and reads (`handle_retry_receipt`: `<retry id count>`,
//! and `<registration>` compared with the session's remote registration id).
//! A device stops asking after `MAX_RETRY_COUNT` (5) receipts per message.
//! The client's resend keeps the message id and marks its `<enc>` with
//! `count="N"`.
//!
//! Real devices add a `<keys>` prekey bundle from count 2 on; the simulated
//! phone does not, so from count 2 the client rebuilds the session from a
//! fresh prekey fetch instead.

use anyhow::{anyhow, bail};
use wacore::protocol::retry::MAX_RETRY_COUNT;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use crate::iq::attr;
use crate::state::{Shared, now_secs};
use crate::wire::{self, tag, val};

/// Whether `message` is marked as a resend: one of its `<enc>` nodes (direct
/// or per device under `<participants>`) carries the retry `count`.
pub fn marked_as_retry(message: &Node) -> bool {
    let direct = message.get_children_by_tag(tag::ENC);
    let fanned_out = message
        .get_optional_child(tag::PARTICIPANTS)
        .into_iter()
        .flat_map(|p| p.get_children_by_tag(tag::TO))
        .flat_map(|to| to.get_children_by_tag(tag::ENC));
    direct
        .chain(fanned_out)
        .any(|enc| attr(enc, val::ENC_RETRY_COUNT).is_some())
}

fn retry_receipt(recipient: &str, id: &str, count: u32, registration_id: u32) -> Node {
    let t = now_secs().to_string();
    NodeBuilder::new(tag::RECEIPT)
        .attrs([
            ("from", format!("{recipient}@{}", wire::PN_SERVER)),
            ("id", id.to_string()),
            ("type", val::RECEIPT_RETRY.to_string()),
            ("t", t.clone()),
        ])
        .children([
            NodeBuilder::new(tag::RETRY)
                .attrs([
                    ("count", count.to_string()),
                    ("id", id.to_string()),
                    ("t", t),
                    ("v", val::RETRY_VERSION.to_string()),
                ])
                .build(),
            NodeBuilder::new(tag::REGISTRATION)
                .bytes(registration_id.to_be_bytes().to_vec())
                .build(),
        ])
        .build()
}

/// The phone of `recipient` could not decrypt message `id` from the linked
/// device `(sender_phone, sender_device)`: sends that device the next retry
/// receipt (count 1, 2, …), unless this message already got
/// `MAX_RETRY_COUNT` of them, as a real device stops asking then.
pub async fn ask_for_resend(
    shared: &Shared,
    sender_phone: &str,
    sender_device: u32,
    recipient: &str,
    id: &str,
) {
    let sent = crate::devices::retry_receipts_for(&shared.lock(), sender_phone, sender_device, id);
    if sent >= u32::from(MAX_RETRY_COUNT) {
        log::info!("{recipient} gives up on message {id}: {sent} retry receipts sent");
        return;
    }
    let count = sent + 1;
    if let Err(e) =
        send_retry_receipt(shared, sender_phone, sender_device, recipient, id, count).await
    {
        log::warn!("no retry receipt for message {id}: {e:#}");
    }
}

/// Sends the linked device `(sender_phone, sender_device)` a retry receipt
/// with `count` for message `id`, from the phone of `recipient`, and counts
/// it. Fails if `recipient` is not a registered number or the device has no
/// live connection (the simulator keeps no offline queue).
pub async fn send_retry_receipt(
    shared: &Shared,
    sender_phone: &str,
    sender_device: u32,
    recipient: &str,
    id: &str,
    count: u32,
) -> anyhow::Result<()> {
    let number = shared
        .lock()
        .numbers
        .get(recipient)
        .filter(|r| r.registered)
        .cloned()
        .ok_or_else(|| anyhow!("{recipient} is not a registered number"))?;
    let registration_id = number.store.lock().await.registration_id();
    let conns = shared.conns_for_device(sender_phone, sender_device);
    if conns.is_empty() {
        bail!("{sender_phone}:{sender_device} has no live connection");
    }
    crate::devices::count_retry_receipt(&mut shared.lock(), sender_phone, sender_device, id);
    log::info!("{recipient} asks {sender_phone}:{sender_device} to resend {id} (retry #{count})");
    let receipt = retry_receipt(recipient, id, count, registration_id);
    for conn in conns {
        conn.send(receipt.clone());
    }
    Ok(())
}
