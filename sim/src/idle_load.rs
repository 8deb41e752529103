//! Realistic idle load (off by default): a real account does not log in to
//! an empty stream. When `SimConfig::idle_load` is set, every login gets a
//! backlog of offline messages — `chats` senders × `messages_per_chat`
//! texts of `message_bytes` each, Signal-encrypted to the companion's
//! uploaded keys — before the `<ib><offline count=…/>` marker, so a client
//! pays for decrypting, storing and acknowledging them as it would after a
//! night offline.
//!
//! With [`IdleLoad::history`] the account also gets the phone's history sync
//! once, right after pairing (see `history.rs`): the same numbers of
//! chats, messages and bytes as a `HistorySync` blob.
//!
//! The same option fills the account's app state with a `contact` per chat
//! (see `app_state.rs`). Not modelled: other app-state actions.

use std::sync::Arc;

use wacore::libsignal::protocol::ProtocolAddress;
use wacore::messages::MessageUtils;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

use crate::signal_store::SignalStore;
use crate::state::{ConnHandle, Shared, now_secs};
use crate::wire::{self, tag};

/// How much backlog a login gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleLoad {
    /// Distinct senders (one chat each).
    pub chats: usize,
    /// Messages per chat.
    pub messages_per_chat: usize,
    /// Size of each message's text in bytes.
    pub message_bytes: usize,
    /// Also send the history sync (`chats` conversations of
    /// `messages_per_chat` texts of `message_bytes`) once per paired
    /// companion, after the app-state key share and the offline marker,
    /// and answer a first app-state sync of `critical_unblock_low` with a
    /// `contact` per chat.
    pub history: bool,
}

impl IdleLoad {
    /// Messages one login receives.
    pub fn total(&self) -> usize {
        self.chats * self.messages_per_chat
    }
}

/// The `<ib><offline count/></ib>` marker that ends the backlog.
pub fn offline_marker(count: usize) -> Node {
    NodeBuilder::new(tag::IB)
        .attr("from", wire::SERVER_JID)
        .children([NodeBuilder::new(tag::OFFLINE)
            .attr("count", count.to_string())
            .build()])
        .build()
}

/// Encrypts and queues the backlog for `phone:device` on `conn`. Answers
/// how many messages went out (0 when the companion has not uploaded keys
/// yet). Each chat is a fresh sender whose first message starts a Signal
/// session from one of the companion's one-time prekeys.
pub async fn push(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    phone: &str,
    device: u32,
    load: IdleLoad,
    offline: bool,
) -> anyhow::Result<usize> {
    let mut sent = 0;
    for chat in 0..load.chats {
        let bundle = {
            let mut st = shared.lock();
            let keys = st
                .accounts
                .get_mut(phone)
                .and_then(|a| a.devices.get_mut(&device))
                .and_then(|c| c.keys.as_mut());
            match keys {
                Some(k) => k.take_bundle(device)?,
                None => return Ok(sent),
            }
        };
        // A sender number per connection and chat: "62 899" + 9 digits.
        let sender = format!("62899{:05}{:04}", conn.id % 100_000, chat % 10_000);
        let mut store = SignalStore::generate()?;
        let remote = ProtocolAddress::new(&format!("companion-{phone}"), device.into());
        store.start_session(&remote, &bundle).await?;
        for n in 0..load.messages_per_chat {
            let text = filler(chat, n, load.message_bytes);
            let msg = wa::Message {
                conversation: Some(text),
                ..Default::default()
            };
            let plaintext = MessageUtils::encode_and_pad(&msg);
            let (enc_type, ciphertext) = store.encrypt(&remote, &plaintext).await?;
            let id = format!("SIMIDLE{}", shared.next_id());
            crate::devices::record_idle_load(&mut shared.lock(), phone, device, &id);
            let mut attrs = vec![
                ("from", format!("{sender}@{}", wire::PN_SERVER)),
                ("id", id),
                ("type", "text".to_string()),
                ("notify", format!("Chat {chat}")),
                ("t", now_secs().to_string()),
            ];
            if offline {
                attrs.push(("offline", "1".to_string()));
            }
            conn.send(
                NodeBuilder::new(tag::MESSAGE)
                    .attrs(attrs)
                    .children([NodeBuilder::new(tag::ENC)
                        .attrs([("v", "2"), ("type", enc_type)])
                        .bytes(ciphertext)
                        .build()])
                    .build(),
            );
            sent += 1;
        }
    }
    log::info!("idle load: {sent} message(s) to {phone}:{device}");
    Ok(sent)
}

/// Printable text of `bytes` bytes that differs per message.
pub(crate) fn filler(chat: usize, n: usize, bytes: usize) -> String {
    let head = format!("chat {chat} message {n}: ");
    let mut text = String::with_capacity(bytes.max(head.len()));
    text.push_str(&head);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz ";
    let mut i = chat * 31 + n * 7;
    while text.len() < bytes {
        text.push(alphabet[i % alphabet.len()] as char);
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345) >> 3;
    }
    text
}
