//! A simulated user writes to a linked account: the text goes, Signal-
//! encrypted, to every companion of the account that uploaded its keys, as
//! WhatsApp fans a message out to all of an account's devices. The user's
//! first message to a companion starts a Signal session from one of the
//! companion's one-time prekeys (`pkmsg`); later ones use it (`msg`). The
//! session is the one the user's phone already has when the companion wrote
//! first, so a reply to a code decrypts on the same ratchet.
//!
//! A companion that is not connected gets the message at its next login,
//! before the offline marker, marked `offline` (WhatsApp keeps messages for
//! an offline device). Writing to an account makes the user one of its
//! chats, so later messages from the account to the user are no new chat.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use serde::Serialize;
use wacore::libsignal::protocol::ProtocolAddress;
use wacore::messages::MessageUtils;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

use crate::state::{Shared, now_secs};
use crate::wire::{self, tag};

/// Where one user message went.
#[derive(Debug, Clone, Serialize)]
pub struct UserMessage {
    /// The stanza id (the same for every device, as WhatsApp's is).
    pub id: String,
    /// Companions it was handed to on a live connection.
    pub delivered: Vec<u32>,
    /// Companions that get it at their next login.
    pub queued: Vec<u32>,
}

/// Sends `text` from the registered number `from` to every companion of
/// account `to`. Fails when `from` is not a registered number, `to` is no
/// account, or none of its companions uploaded keys yet.
pub async fn send(
    shared: &Arc<Shared>,
    from: &str,
    to: &str,
    text: &str,
) -> anyhow::Result<UserMessage> {
    let user = shared
        .lock()
        .numbers
        .get(from)
        .cloned()
        .filter(|r| r.registered)
        .ok_or_else(|| anyhow!("{from} is not a registered number"))?;
    let devices: Vec<u32> = {
        let st = shared.lock();
        let account = st
            .accounts
            .get(to)
            .ok_or_else(|| anyhow!("{to} is not a linked account"))?;
        let mut ids: Vec<u32> = account
            .devices
            .iter()
            .filter(|(_, c)| c.keys.is_some())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    };
    if devices.is_empty() {
        bail!("no companion of {to} has uploaded its keys");
    }
    let message = wa::Message {
        conversation: Some(text.to_string()),
        ..Default::default()
    };
    let plaintext = MessageUtils::encode_and_pad(&message);
    let id = format!("SIMIN{}", shared.next_id());
    let mut sent = UserMessage {
        id: id.clone(),
        delivered: Vec::new(),
        queued: Vec::new(),
    };
    let lid = shared.lock().user_lids.get(from).cloned();
    let mut store = user.store.lock().await;
    for device in devices {
        let remote = ProtocolAddress::new(to, device.into());
        if !store.has_session(&remote) {
            let bundle = {
                let mut st = shared.lock();
                let keys = st
                    .accounts
                    .get_mut(to)
                    .and_then(|a| a.devices.get_mut(&device))
                    .and_then(|c| c.keys.as_mut())
                    .ok_or_else(|| anyhow!("{to}:{device} has no keys"))?;
                keys.take_bundle(device)?
            };
            store.start_session(&remote, &bundle).await?;
        }
        let (enc_type, ciphertext) = store.encrypt(&remote, &plaintext).await?;
        let conns: Vec<_> = shared
            .conns_for(Some(to))
            .into_iter()
            .filter(|c| c.login().is_some_and(|(_, d)| d == device))
            .collect();
        let mut st = shared.lock();
        st.limits_mut(to).add_chat(from);
        if conns.is_empty() {
            st.offline_messages
                .entry((to.to_string(), device))
                .or_default()
                .push(stanza(
                    from,
                    lid.as_deref(),
                    &id,
                    enc_type,
                    &ciphertext,
                    true,
                ));
            sent.queued.push(device);
        } else {
            for conn in conns {
                conn.send(stanza(
                    from,
                    lid.as_deref(),
                    &id,
                    enc_type,
                    &ciphertext,
                    false,
                ));
            }
            sent.delivered.push(device);
        }
    }
    log::info!(
        "{from} wrote to {to}: message {id} to devices {:?}, queued for {:?}",
        sent.delivered,
        sent.queued
    );
    Ok(sent)
}

/// The `<message>` stanza a companion receives from a user; from a
/// LID-addressed user it comes from the LID, with the phone in `sender_pn`.
fn stanza(
    from: &str,
    lid: Option<&str>,
    id: &str,
    enc_type: &str,
    ciphertext: &[u8],
    offline: bool,
) -> Node {
    let pn = format!("{from}@{}", wire::PN_SERVER);
    let mut attrs = match lid {
        Some(lid) => vec![
            ("from", format!("{lid}@{}", wire::LID_SERVER)),
            ("sender_pn", pn),
            ("addressing_mode", "lid".to_string()),
        ],
        None => vec![("from", pn)],
    };
    attrs.extend([
        ("id", id.to_string()),
        ("type", "text".to_string()),
        ("notify", format!("User {from}")),
        ("t", now_secs().to_string()),
    ]);
    if offline {
        attrs.push(("offline", "1".to_string()));
    }
    NodeBuilder::new(tag::MESSAGE)
        .attrs(attrs)
        .children([NodeBuilder::new(tag::ENC)
            .attrs([("v", "2"), ("type", enc_type)])
            .bytes(ciphertext.to_vec())
            .build()])
        .build()
}

/// Takes the messages `phone:device` missed while it was not connected.
pub fn take_offline(shared: &Shared, phone: &str, device: u32) -> Vec<Node> {
    shared
        .lock()
        .offline_messages
        .remove(&(phone.to_string(), device))
        .unwrap_or_default()
}
