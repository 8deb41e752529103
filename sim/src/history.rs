//! The phone's history sync (part of the idle load, off by default): after
//! pairing, a real phone sends the new companion a `protocolMessage` of type
//! `HISTORY_SYNC_NOTIFICATION` over Signal. The simulator sends it once per
//! companion, after its key share and after the login's offline marker. It
//! points at a blob — a zlib-compressed `HistorySync` proto, encrypted like
//! any WhatsApp media with the "WhatsApp History Keys" — that the companion
//! downloads and processes.
//!
//! One notification serves both clients the simulator is tested with:
//! - it carries the compressed blob inline
//!   (`initial_hist_bootstrap_inline_payload`), which whatsapp-rust uses in
//!   preference to a download;
//! - it also carries `directPath`, `mediaKey`, `fileLength` and the hashes
//!   of the blob; the control API serves the encrypted blob over loopback
//!   HTTP at `directPath` (see [`crate::control`]). Baileys always
//!   downloads, from `https://mmg.whatsapp.net` + `directPath` (the
//!   notification has no `url` field), so its peer in `peers/baileys` routes
//!   that host to the control API.
//!
//! The blob holds `chats` conversations of `messages_per_chat` texts of
//! `message_bytes` bytes (the idle load's numbers) plus one pushname per
//! chat and the account's own.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use wacore::download::MediaType;
use wacore::libsignal::protocol::PreKeyBundle;
use waproto::buffa::Message as _;
use waproto::buffa::MessageField;
use waproto::whatsapp as wa;

use crate::idle_load::{IdleLoad, filler};
use crate::state::{ConnHandle, Shared, now_secs};
use crate::wire;

/// The contact of chat `chat` in the history ("62 877" + 8 digits).
pub(crate) fn chat_jid(chat: usize) -> String {
    format!("62877{:08}@{}", chat % 100_000_000, wire::PN_SERVER)
}

/// The serialized (uncompressed) `HistorySync` for `phone` under `load`.
pub fn history_sync_proto(phone: &str, load: IdleLoad) -> Vec<u8> {
    let now = u64::try_from(now_secs()).unwrap_or_default();
    let count = load.messages_per_chat as u64;
    let conversations = (0..load.chats)
        .map(|chat| {
            let jid = chat_jid(chat);
            let messages = (0..load.messages_per_chat)
                .map(|n| {
                    // Oldest first in time, newest first in the list (as
                    // the phone sends them).
                    let n_rev = load.messages_per_chat - 1 - n;
                    let t = now.saturating_sub(60 * (count - n_rev as u64));
                    wa::HistorySyncMsg {
                        message: MessageField::some(wa::WebMessageInfo {
                            key: MessageField::some(wa::MessageKey {
                                remote_jid: Some(jid.clone()),
                                from_me: Some(false),
                                id: Some(format!("SIMHIST{chat:04}{n_rev:06}")),
                                ..Default::default()
                            }),
                            message: MessageField::some(wa::Message {
                                conversation: Some(filler(chat, n_rev, load.message_bytes)),
                                ..Default::default()
                            }),
                            message_timestamp: Some(t),
                            push_name: Some(format!("Chat {chat}")),
                            ..Default::default()
                        }),
                        msg_order_id: Some(n as u64 + 1),
                    }
                })
                .collect();
            wa::Conversation {
                id: jid,
                messages,
                name: Some(format!("Chat {chat}")),
                conversation_timestamp: Some(now),
                unread_count: Some(0),
                ..Default::default()
            }
        })
        .collect();
    let mut pushnames: Vec<wa::Pushname> = (0..load.chats)
        .map(|chat| wa::Pushname {
            id: Some(chat_jid(chat)),
            pushname: Some(format!("Chat {chat}")),
        })
        .collect();
    pushnames.push(wa::Pushname {
        id: Some(format!("{phone}@{}", wire::PN_SERVER)),
        pushname: Some("Sim Phone".to_string()),
    });
    wa::HistorySync {
        sync_type: wa::history_sync::HistorySyncType::INITIAL_BOOTSTRAP,
        conversations,
        chunk_order: Some(1),
        progress: Some(100),
        pushnames,
        ..Default::default()
    }
    .encode_to_vec()
}

/// Sends `phone:device` the history-sync notification on `conn`, storing
/// its encrypted blob for the control API to serve. The phone's Signal
/// session with the companion must exist (the key share starts it) unless
/// `bundle` is given, which starts one.
pub async fn send(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    phone: &str,
    device: u32,
    bundle: Option<&PreKeyBundle>,
    load: IdleLoad,
) -> anyhow::Result<()> {
    let plain = history_sync_proto(phone, load);
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(&plain)?;
    let compressed = zlib.finish()?;
    let media = wacore::upload::encrypt_media(&compressed, MediaType::History)?;
    let id = format!("SIMHS{}", shared.next_id());
    let direct_path = format!("/v/t62.sim-history/{id}.enc");
    shared.lock().media.insert(
        direct_path.clone(),
        (
            (phone.to_string(), device),
            Bytes::from(media.data_to_upload),
        ),
    );
    let notification = wa::message::HistorySyncNotification {
        file_sha256: Some(media.file_sha256.to_vec()),
        file_length: Some(compressed.len() as u64),
        media_key: Some(media.media_key.to_vec()),
        file_enc_sha256: Some(media.file_enc_sha256.to_vec()),
        direct_path: Some(direct_path.clone()),
        sync_type: Some(wa::message::HistorySyncType::INITIAL_BOOTSTRAP),
        chunk_order: Some(1),
        progress: Some(100),
        original_message_id: Some(id.clone()),
        initial_hist_bootstrap_inline_payload: Some(compressed),
        ..Default::default()
    };
    let message = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            r#type: Some(wa::message::protocol_message::Type::HISTORY_SYNC_NOTIFICATION),
            history_sync_notification: MessageField::some(notification),
            ..Default::default()
        }),
        ..Default::default()
    };
    let stanza =
        crate::phone_message::encrypt(shared, phone, device, bundle, id.clone(), &message).await?;
    crate::devices::record_history_sync(&mut shared.lock(), phone, device, &id);
    conn.send(stanza);
    log::info!(
        "sent history sync ({} chats × {} messages, {} bytes) to {phone}:{device}, blob at {direct_path}",
        load.chats,
        load.messages_per_chat,
        plain.len()
    );
    Ok(())
}
