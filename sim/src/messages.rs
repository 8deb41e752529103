//! Messages the client sends: decrypt for the recipient's phone, store the
//! text in its inbox, then ack, delivered and read — unless a fault says
//! otherwise. A message the phone cannot decrypt is acked (the server took
//! it) and answered with a retry receipt, as a real device does.

use std::sync::Arc;

use anyhow::anyhow;
use wacore::libsignal::protocol::ProtocolAddress;
use wacore::messages::MessageUtils;
use wacore::proto_helpers::MessageExt as _;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Node, NodeContent};
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::InboxMessage;
use crate::devices::Arrival;
use crate::faults::FaultHit;
use crate::iq::{attr, user_of};
use crate::limits::Verdict;
use crate::mex;
use crate::state::{ConnHandle, Shared, now_secs};
use crate::wire::{self, tag};

/// Nack code the simulator uses for an `error_ack` fault.
const ERROR_ACK_CODE: &str = "479";

fn ack(id: &str, to_phone: &str, t: i64, error: Option<&str>) -> Node {
    let mut b = NodeBuilder::new(tag::ACK).attrs([
        ("class", "message".to_string()),
        ("id", id.to_string()),
        ("from", format!("{to_phone}@{}", wire::PN_SERVER)),
        ("t", t.to_string()),
    ]);
    if let Some(e) = error {
        b = b.attr("error", e.to_string());
    }
    b.build()
}

/// The `<enc>` nodes addressed to the recipient's phone (device 0).
fn encs_for_phone<'a>(message: &'a Node, phone: &str, lid: Option<&str>) -> Vec<&'a Node> {
    let mut out: Vec<&Node> = message.get_children_by_tag(tag::ENC).collect();
    if let Some(participants) = message.get_optional_child(tag::PARTICIPANTS) {
        for to in participants.get_children_by_tag(tag::TO) {
            let Some(jid) = attr(to, "jid") else { continue };
            let device_zero = !jid.split('@').next().unwrap_or_default().contains(':');
            let user = user_of(&jid);
            if (user == phone || Some(user.as_str()) == lid) && device_zero {
                out.extend(to.get_children_by_tag(tag::ENC));
            }
        }
    }
    out
}

/// Why a message did not reach the recipient's inbox.
enum NotDelivered {
    /// The server cannot route it (unregistered number, no `<enc>` for the
    /// phone, bad payload): nack.
    Refused(anyhow::Error),
    /// It reached the phone, whose Signal session could not decrypt it: the
    /// phone asks the sender for a resend.
    Undecryptable(anyhow::Error),
}

/// Handles one `<message>` from a logged-in companion.
pub async fn handle(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, message: &Node) {
    let Some((sender_phone, sender_device)) = conn.login.lock().ok().and_then(|l| l.clone()) else {
        return;
    };
    let id = attr(message, "id").unwrap_or_default();
    // A LID-addressed user may be written to by LID: the number behind it.
    let to_user = user_of(&attr(message, "to").unwrap_or_default());
    let to = shared.lock().phone_of_user(&to_user);
    let t = now_secs();
    let arrival = crate::devices::record_message(
        &mut shared.lock(),
        &sender_phone,
        sender_device,
        &id,
        crate::retry::marked_as_retry(message),
    );
    if arrival == Arrival::Duplicate {
        log::warn!("{sender_phone}:{sender_device} sent message id {id} again");
    }
    if to == sender_phone {
        // A note to self (or a peer message): nothing to deliver.
        conn.send(ack(&id, &to, t, None));
        return;
    }
    if take_error_ack(shared, &sender_phone, &to, &id) {
        log::info!("error_ack fault: rejecting message {id} to {to}");
        conn.send(ack(&id, &to, t, Some(ERROR_ACK_CODE)));
        return;
    }
    if let Some(code) = check_limits(shared, &sender_phone, &to) {
        log::info!("{sender_phone} may not open a chat with {to} now: nack {code} for {id}");
        conn.send(ack(&id, &to, t, Some(code)));
        return;
    }
    let outcome = if take_undecryptable(shared, &sender_phone, &to, &id) {
        // The ciphertext is left untouched, like a real failure that leaves
        // the phone's session as it was.
        Err(NotDelivered::Undecryptable(anyhow!("undecryptable fault")))
    } else {
        decrypt_text(shared, message, &to, &sender_phone, sender_device).await
    };
    match outcome {
        Ok(text) => {
            {
                // WhatsApp keys a message by sender and id: a resend under the
                // same id (a client retry) reaches the phone once.
                let mut st = shared.lock();
                let inbox = st.inboxes.entry(to.clone()).or_default();
                if !inbox.iter().any(|m| m.id == id && m.from == sender_phone) {
                    inbox.push(InboxMessage {
                        id: id.clone(),
                        from: sender_phone.clone(),
                        text,
                        at: t,
                    });
                }
            }
            shared.inbox_version.send_modify(|v| *v += 1);
            conn.send(ack(&id, &to, t, None));
            spawn_receipts(shared.clone(), sender_phone, to, id);
        }
        Err(NotDelivered::Undecryptable(e)) => {
            log::warn!("{to} could not decrypt message {id}: {e:#}");
            conn.send(ack(&id, &to, t, None));
            crate::retry::ask_for_resend(shared, &sender_phone, sender_device, &to, &id).await;
        }
        Err(NotDelivered::Refused(e)) => {
            log::warn!("could not deliver message {id} to {to}: {e:#}");
            conn.send(ack(&id, &to, t, Some("500")));
        }
    }
}

/// Applies the sender account's limits to a message to `to` (see
/// `limits.rs`): tells its companions what changed, and returns the nack
/// code when the message is refused.
fn check_limits(shared: &Arc<Shared>, sender_phone: &str, to: &str) -> Option<&'static str> {
    let admission = shared.lock().limits_mut(sender_phone).admit(to, now_secs());
    if let Some(info) = &admission.capping_changed {
        mex::push(
            shared,
            sender_phone,
            &mex::capping_notification(shared, info),
        );
    }
    if let Some((info, generation)) = admission.timelock_started {
        mex::announce_timelock(shared, sender_phone, info, generation);
    }
    match admission.verdict {
        Verdict::Pass => None,
        Verdict::Nack(code) => Some(code),
    }
}

/// Takes one armed `undecryptable` fault for recipient `to`, logging the hit.
fn take_undecryptable(shared: &Shared, sender_phone: &str, to: &str, id: &str) -> bool {
    let mut st = shared.lock();
    let Some(armed) = st.faults.undecryptable.get_mut(to) else {
        return false;
    };
    *armed -= 1;
    if *armed == 0 {
        st.faults.undecryptable.remove(to);
    }
    st.faults.hits.push(FaultHit {
        kind: "undecryptable".into(),
        phone: Some(sender_phone.to_string()),
        target: to.to_string(),
        context: None,
        stanza_id: id.to_string(),
    });
    true
}

/// Takes an armed `error_ack` fault for recipient `to`, logging the hit.
fn take_error_ack(shared: &Shared, sender_phone: &str, to: &str, id: &str) -> bool {
    let mut st = shared.lock();
    if !st.faults.error_ack.remove(to) {
        return false;
    }
    st.faults.hits.push(FaultHit {
        kind: "error_ack".into(),
        phone: Some(sender_phone.to_string()),
        target: to.to_string(),
        context: None,
        stanza_id: id.to_string(),
    });
    true
}

async fn decrypt_text(
    shared: &Arc<Shared>,
    message: &Node,
    to: &str,
    sender_phone: &str,
    sender_device: u32,
) -> Result<String, NotDelivered> {
    let recipient = shared
        .lock()
        .numbers
        .get(to)
        .cloned()
        .filter(|r| r.registered)
        .ok_or_else(|| NotDelivered::Refused(anyhow!("{to} is not a registered number")))?;
    let lid = shared.lock().user_lids.get(to).cloned();
    let encs = encs_for_phone(message, to, lid.as_deref());
    if encs.is_empty() {
        return Err(NotDelivered::Refused(anyhow!(
            "message has no <enc> for {to}"
        )));
    }
    let sender = ProtocolAddress::new(sender_phone, sender_device.into());
    let mut store = recipient.store.lock().await;
    let mut last_error = None;
    for enc in encs {
        let enc_type = attr(enc, "type").unwrap_or_default();
        let Some(NodeContent::Bytes(ciphertext)) = enc.content.as_ref() else {
            continue;
        };
        match store.decrypt(&sender, &enc_type, ciphertext).await {
            Ok(padded) => {
                let version: u8 = attr(enc, "v").and_then(|v| v.parse().ok()).unwrap_or(2);
                return decode_text(&padded, version).map_err(NotDelivered::Refused);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => NotDelivered::Undecryptable(e),
        None => NotDelivered::Refused(anyhow!("no <enc> with a ciphertext for {to}")),
    })
}

/// Unpads a decrypted payload and reads its text.
fn decode_text(padded: &[u8], version: u8) -> anyhow::Result<String> {
    let plain = MessageUtils::unpad_message_ref(padded, version)?;
    let msg = wa::Message::decode_from_slice(plain)?;
    Ok(msg.text_content().unwrap_or_default().to_string())
}

fn receipt(from_phone: &str, id: &str, read: bool) -> Node {
    let mut b = NodeBuilder::new(tag::RECEIPT).attrs([
        ("from", format!("{from_phone}@{}", wire::PN_SERVER)),
        ("id", id.to_string()),
        ("t", now_secs().to_string()),
    ]);
    if read {
        b = b.attr("type", "read");
    }
    b.build()
}

/// Delivered, then read, each after the recipient's configured delay, sent
/// to whatever connections the sender has at that moment.
fn spawn_receipts(shared: Arc<Shared>, sender_phone: String, recipient: String, id: String) {
    tokio::spawn(async move {
        for read in [false, true] {
            let (withheld, delay) = {
                let st = shared.lock();
                (
                    st.faults.withhold_receipts.contains(&recipient),
                    st.faults.receipt_delay.get(&recipient).copied(),
                )
            };
            if withheld {
                return;
            }
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            for conn in shared.conns_for(Some(&sender_phone)) {
                conn.send(receipt(&recipient, &id, read));
            }
        }
    });
}
