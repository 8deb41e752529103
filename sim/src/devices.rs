//! Per linked device accounting: live connections and stream replacement,
//! and how many stanzas each message id of the device arrived as.
//!
//! WhatsApp allows one live stream per linked device. When a second
//! connection logs in as a device that already has one, the server sends
//! the older connection `<stream:error><conflict type="replaced"/>` and
//! closes it; whatsapp-rust turns exactly that stanza into
//! `Event::StreamReplaced` and stops reconnecting
//! (`whatsapp-rust/src/client/node_io.rs`, `handle_stream_error`). Two
//! processes sharing one device store therefore knock each other off, and
//! the counters here let a test see that it happened.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use crate::state::{ConnHandle, State, lock};
use crate::wire::{self, tag, val};

/// A linked companion device: account phone digits and device id.
pub type DeviceKey = (String, u32);

/// One linked device's connection and message counters, as
/// `Simulator::devices` and `GET /devices` report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConnections {
    /// The device JID, `PHONE:DEVICE@s.whatsapp.net`.
    pub jid: String,
    /// Account phone digits.
    pub phone: String,
    /// Companion device id.
    pub device: u32,
    /// Connections logged in as this device right now (0 or 1: a newer
    /// login replaces the older connection at once).
    pub live_connections: usize,
    /// The most connections that were logged in as this device at the same
    /// time, counting a new login together with the connection it is about
    /// to replace: `2` means a second connection logged in while one was
    /// live, i.e. two processes share the device.
    pub max_live_connections: usize,
    /// Successful logins as this device.
    pub logins: u64,
    /// Older connections this device's newer logins replaced (each got the
    /// `replaced` stream error). The `Conflict` fault is not counted.
    pub replaced: u64,
    /// Message stanzas whose id this device had already sent, not counting
    /// resends that answer one of the simulator's retry receipts.
    pub duplicate_messages: u64,
    /// Retry receipts the simulator sent this device for messages it could
    /// not decrypt.
    pub retry_receipts_sent: u64,
    /// Resends that answered one of those retry receipts (same id, `<enc>`
    /// with a `count` attribute).
    pub retry_resends: u64,
    /// Idle-load backlog messages sent to this device (`SimConfig::idle_load`).
    #[serde(default)]
    pub idle_load_sent: u64,
    /// Of those, how many the device acknowledged (an `<ack>` or a
    /// `<receipt>` naming the message id): the client has handled them.
    #[serde(default)]
    pub idle_load_acked: u64,
    /// History-sync notifications sent to this device (`IdleLoad::history`).
    #[serde(default)]
    pub history_syncs_sent: u64,
    /// Of those, how many the device answered with a `hist_sync` receipt
    /// (both whatsapp-rust and Baileys send it when they take the
    /// notification up).
    #[serde(default)]
    pub history_sync_receipts: u64,
    /// Downloads of this device's history-sync blobs from the control API.
    #[serde(default)]
    pub history_blob_downloads: u64,
}

/// How many stanzas one message id arrived as, and the retries around it.
#[derive(Debug, Default, Clone)]
pub struct MessageRecord {
    /// Stanzas that carried this id.
    pub stanzas: u32,
    /// Retry receipts the simulator sent for this id.
    pub retry_receipts: u32,
    /// Stanzas that answered one of those retry receipts.
    pub resends: u32,
}

/// Counters kept per linked device for the simulator's lifetime (they
/// survive logout, so a test can still read them afterwards).
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Successful logins.
    pub logins: u64,
    /// Older connections replaced by a newer login.
    pub replaced: u64,
    /// Highest simultaneous live connections seen at a login.
    pub max_live: usize,
    /// Repeated message ids that did not answer a retry receipt.
    pub duplicate_messages: u64,
    /// Retry receipts sent.
    pub retry_receipts_sent: u64,
    /// Resends answering a retry receipt.
    pub retry_resends: u64,
    /// Every message id this device sent.
    pub messages: HashMap<String, MessageRecord>,
    /// Idle-load messages sent to the device.
    pub idle_load_sent: u64,
    /// Idle-load messages the device acknowledged.
    pub idle_load_acked: u64,
    /// Ids of idle-load messages sent and not yet acknowledged.
    pub idle_load_unacked: HashSet<String>,
    /// History-sync notifications sent.
    pub history_syncs_sent: u64,
    /// `hist_sync` receipts for them.
    pub history_sync_receipts: u64,
    /// Ids of history-sync notifications without a `hist_sync` receipt yet.
    pub history_sync_pending: HashSet<String>,
    /// Downloads of the device's history-sync blobs.
    pub history_blob_downloads: u64,
}

/// How a message stanza relates to earlier ones with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first stanza with this id.
    First,
    /// A resend answering a retry receipt the simulator sent.
    RetryResend,
    /// The id was already sent and no retry receipt asked for it again.
    Duplicate,
}

/// The stream error that tells a client another connection took over its
/// device (`Event::StreamReplaced`).
pub fn stream_replaced() -> Node {
    NodeBuilder::new(tag::STREAM_ERROR)
        .children([NodeBuilder::new(tag::CONFLICT)
            .attr("type", val::CONFLICT_REPLACED)
            .build()])
        .build()
}

/// Marks `conn` logged in as `(phone, device)` and takes the device away
/// from every other connection logged in as it. Returns those older
/// connections; the caller sends them [`stream_replaced`] and closes them.
///
/// Runs under the state lock, so the count of live connections is exact:
/// the new login is counted together with the ones it replaces before they
/// stop being live.
pub fn log_in(
    state: &mut State,
    conn: &ConnHandle,
    phone: &str,
    device: u32,
) -> Vec<Arc<ConnHandle>> {
    let key = (phone.to_string(), device);
    let older: Vec<Arc<ConnHandle>> = state
        .conns
        .values()
        .filter(|c| c.id != conn.id && lock(&c.login).as_ref() == Some(&key))
        .cloned()
        .collect();
    for c in &older {
        // No longer live: receipts and counts skip it from now on, even
        // before its socket has closed.
        *lock(&c.login) = None;
    }
    *lock(&conn.login) = Some(key.clone());
    let stats = state.devices.entry(key).or_default();
    stats.logins += 1;
    stats.replaced += older.len() as u64;
    stats.max_live = stats.max_live.max(older.len() + 1);
    older
}

/// The counters of `(phone, device)`, made on first use.
fn stats_of<'a>(state: &'a mut State, phone: &str, device: u32) -> &'a mut DeviceStats {
    state
        .devices
        .entry((phone.to_string(), device))
        .or_default()
}

/// Records one message stanza with `id` from `(phone, device)`.
/// `marked_as_retry` says whether the stanza's `<enc>` carries the `count`
/// attribute the client puts on resends.
pub fn record_message(
    state: &mut State,
    phone: &str,
    device: u32,
    id: &str,
    marked_as_retry: bool,
) -> Arrival {
    let stats = stats_of(state, phone, device);
    let record = stats.messages.entry(id.to_string()).or_default();
    record.stanzas += 1;
    if record.stanzas == 1 {
        return Arrival::First;
    }
    // Each retry receipt allows one resend; anything beyond is a duplicate.
    if marked_as_retry && record.resends < record.retry_receipts {
        record.resends += 1;
        stats.retry_resends += 1;
        Arrival::RetryResend
    } else {
        stats.duplicate_messages += 1;
        Arrival::Duplicate
    }
}

/// How many retry receipts the simulator sent `(phone, device)` for `id`.
pub fn retry_receipts_for(state: &State, phone: &str, device: u32, id: &str) -> u32 {
    state
        .devices
        .get(&(phone.to_string(), device))
        .and_then(|d| d.messages.get(id))
        .map_or(0, |m| m.retry_receipts)
}

/// Counts one retry receipt sent to `(phone, device)` for `id`; each one
/// allows one resend that [`record_message`] does not count as a duplicate.
pub fn count_retry_receipt(state: &mut State, phone: &str, device: u32, id: &str) {
    let stats = stats_of(state, phone, device);
    stats
        .messages
        .entry(id.to_string())
        .or_default()
        .retry_receipts += 1;
    stats.retry_receipts_sent += 1;
}

/// Records one idle-load message `id` sent to `(phone, device)`.
pub fn record_idle_load(state: &mut State, phone: &str, device: u32, id: &str) {
    let stats = stats_of(state, phone, device);
    stats.idle_load_sent += 1;
    stats.idle_load_unacked.insert(id.to_string());
}

/// Records one history-sync notification `id` sent to `(phone, device)`.
pub fn record_history_sync(state: &mut State, phone: &str, device: u32, id: &str) {
    let stats = stats_of(state, phone, device);
    stats.history_syncs_sent += 1;
    stats.history_sync_pending.insert(id.to_string());
}

/// Counts one download of a history-sync blob of `(phone, device)`.
pub fn record_history_download(state: &mut State, phone: &str, device: u32) {
    let stats = stats_of(state, phone, device);
    stats.history_blob_downloads += 1;
}

/// Counts the idle-load messages that an `<ack>` or `<receipt>` from
/// `(phone, device)` names (its `id`, and the `<item id>`s of a receipt's
/// `<list>`). Each message counts once, however often it is named.
pub fn record_idle_load_acks(state: &mut State, phone: &str, device: u32, node: &Node) {
    let Some(stats) = state.devices.get_mut(&(phone.to_string(), device)) else {
        return;
    };
    if node.tag == tag::RECEIPT
        && node.attrs.get("type").is_some_and(|t| *t == "hist_sync")
        && let Some(id) = node.attrs.get("id").map(|v| v.to_string())
        && stats.history_sync_pending.remove(&id)
    {
        stats.history_sync_receipts += 1;
    }
    if stats.idle_load_unacked.is_empty() {
        return;
    }
    let listed = node
        .get_optional_child(tag::LIST)
        .map(|list| list.get_children_by_tag(tag::ITEM).collect::<Vec<_>>())
        .unwrap_or_default();
    let ids = std::iter::once(node)
        .chain(listed)
        .filter_map(|n| n.attrs.get("id").map(|v| v.to_string()));
    for id in ids {
        if stats.idle_load_unacked.remove(&id) {
            stats.idle_load_acked += 1;
        }
    }
}

/// The report for every device that is linked or ever logged in, sorted by
/// phone and device id.
pub fn report(state: &State) -> Vec<DeviceConnections> {
    let mut keys: Vec<DeviceKey> = state.devices.keys().cloned().collect();
    for account in state.accounts.values() {
        for device in account.devices.keys() {
            let key = (account.phone.clone(), *device);
            if !state.devices.contains_key(&key) {
                keys.push(key);
            }
        }
    }
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let live = state
                .conns
                .values()
                .filter(|c| lock(&c.login).as_ref() == Some(&key))
                .count();
            let empty = DeviceStats::default();
            let stats = state.devices.get(&key).unwrap_or(&empty);
            let (phone, device) = key;
            DeviceConnections {
                jid: format!("{phone}:{device}@{}", wire::PN_SERVER),
                phone,
                device,
                live_connections: live,
                max_live_connections: stats.max_live,
                logins: stats.logins,
                replaced: stats.replaced,
                duplicate_messages: stats.duplicate_messages,
                retry_receipts_sent: stats.retry_receipts_sent,
                retry_resends: stats.retry_resends,
                idle_load_sent: stats.idle_load_sent,
                idle_load_acked: stats.idle_load_acked,
                history_syncs_sent: stats.history_syncs_sent,
                history_sync_receipts: stats.history_sync_receipts,
                history_blob_downloads: stats.history_blob_downloads,
            }
        })
        .collect()
}
