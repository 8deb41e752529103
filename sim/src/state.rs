//! Shared simulator state: numbers, linked accounts, live connections,
//! inboxes and armed faults. One `std::sync::Mutex` guards the plain data;
//! Signal stores have their own async mutexes because crypto awaits.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot, watch};
use wacore_binary::Node;

use crate::devices::{DeviceKey, DeviceStats};
use crate::faults::{FaultHit, SlowIq};
use crate::handshake::ServerIdentity;
use crate::signal_store::SignalStore;
use crate::{InboxMessage, SimConfig};

/// Something the connection's writer task should do.
pub enum Out {
    /// Encrypt and send this node.
    Node(Node),
    /// Close the WebSocket (after everything queued before it).
    Close,
}

/// A live client connection, as other tasks see it.
pub struct ConnHandle {
    /// Unique connection id.
    pub id: u64,
    /// Queue to the writer task.
    pub tx: mpsc::UnboundedSender<Out>,
    /// Set to true to make the reader stop (the socket then closes).
    pub kill: watch::Sender<bool>,
    /// The client's static Noise key from the handshake.
    pub client_static: [u8; 32],
    /// `(phone, device)` once logged in as a linked device.
    pub login: Mutex<Option<(String, u32)>>,
    /// Server-initiated IQs waiting for the client's answer, by id.
    pub pending: Mutex<HashMap<String, oneshot::Sender<Node>>>,
    /// The idle-load backlog is still owed: the client went active before
    /// it uploaded the keys to encrypt it to.
    pub idle_load_owed: std::sync::atomic::AtomicBool,
    /// Becomes true once the `<ib><offline/>` marker is queued: the phone's
    /// history sync waits for it, as a real one arrives after the offline
    /// backlog (Baileys only processes it after the marker).
    pub offline_marker_sent: watch::Sender<bool>,
}

impl ConnHandle {
    /// Queues a node for the client; a closed connection drops it silently
    /// (the client will reconnect and the test will notice).
    pub fn send(&self, node: Node) {
        let _ = self.tx.send(Out::Node(node));
    }

    /// Queues a close after everything already queued.
    pub fn close(&self) {
        let _ = self.tx.send(Out::Close);
    }

    /// Stops the connection at once.
    pub fn kill(&self) {
        let _ = self.kill.send(true);
        self.close();
    }

    /// `(phone, device)` of this connection, if logged in.
    pub fn login(&self) -> Option<(String, u32)> {
        lock(&self.login).clone()
    }

    /// The linked phone number of this connection, if logged in.
    pub fn phone(&self) -> Option<String> {
        lock(&self.login).as_ref().map(|(p, _)| p.clone())
    }
}

/// A phone number the simulator knows as a message recipient.
pub struct Recipient {
    /// Whether the number "has WhatsApp".
    pub registered: bool,
    /// The recipient phone's Signal identity, prekeys and sessions.
    pub store: AsyncMutex<SignalStore>,
}

/// A companion device linked to an account.
#[derive(Clone)]
pub struct Companion {
    /// The companion's static Noise key; logins must present it.
    pub noise_pub: [u8; 32],
    /// Whether the phone already sent the app-state key share.
    pub key_share_sent: bool,
    /// How many one-time prekeys the companion uploaded.
    pub prekey_count: usize,
    /// The keys of its last upload, for bundles other devices fetch.
    pub keys: Option<crate::account_devices::UploadedKeys>,
}

/// A WhatsApp account (a phone) with linked companion devices.
pub struct Account {
    /// The app-state sync key the phone shares with its companions
    /// (`key_id`, `key_data`), made at the first key share.
    pub app_state_key: Option<(Vec<u8>, Vec<u8>)>,
    /// Phone number digits.
    pub phone: String,
    /// LID user part.
    pub lid: String,
    /// Display name reported at pairing.
    pub name: String,
    /// The primary phone's Signal identity (also the ADV account key).
    pub store: Arc<AsyncMutex<SignalStore>>,
    /// The same identity key pair, for signatures made under the state lock.
    pub identity: wacore::libsignal::protocol::IdentityKeyPair,
    /// Linked companions by device id.
    pub devices: HashMap<u32, Companion>,
    /// Next device id to hand out.
    pub next_device: u32,
    /// ADV raw id of this account.
    pub adv_raw_id: u32,
}

/// A pairing-code flow started by a companion's `companion_hello`.
pub struct PairCodeFlow {
    /// Connection that asked for the code.
    pub conn_id: u64,
    /// The ref we answered with.
    pub pairing_ref: String,
    /// The companion's code-wrapped ephemeral key (salt ‖ iv ‖ ct).
    pub wrapped_companion_eph: Vec<u8>,
    /// Set once the phone entered the code.
    pub entered: Option<EnteredCode>,
}

/// Phone-side state after the code was entered.
pub struct EnteredCode {
    /// The companion's ephemeral public key, unwrapped with the code.
    pub companion_eph: [u8; 32],
    /// The phone's ephemeral key pair for this flow.
    pub primary_eph: wacore::libsignal::protocol::KeyPair,
    /// Display name to report at pairing.
    pub name: String,
    /// Resolved when pairing completed (or failed).
    pub done: Option<oneshot::Sender<anyhow::Result<()>>>,
}

/// Armed faults and per-recipient behaviour.
#[derive(Default)]
pub struct Faults {
    /// Recipients whose next message gets an error ack.
    pub error_ack: HashSet<String>,
    /// Recipients whose next N messages the simulated phone cannot decrypt
    /// (N = how often the fault was armed).
    pub undecryptable: HashMap<String, usize>,
    /// Recipients that never send receipts.
    pub withhold_receipts: HashSet<String>,
    /// Per-recipient delay before each receipt.
    pub receipt_delay: HashMap<String, Duration>,
    /// Pending one-shot IQ delays, in the order they were armed.
    pub slow_iq: Vec<SlowIq>,
    /// Every fault that took effect, oldest first.
    pub hits: Vec<FaultHit>,
}

/// All mutable simulator data.
#[derive(Default)]
pub struct State {
    /// Recipient numbers.
    pub numbers: HashMap<String, Arc<Recipient>>,
    /// Linked accounts by phone.
    pub accounts: HashMap<String, Account>,
    /// Live connections.
    pub conns: HashMap<u64, Arc<ConnHandle>>,
    /// Open QR refs → connection id.
    pub qr_refs: HashMap<String, u64>,
    /// Pairing-code flows by phone.
    pub pair_codes: HashMap<String, PairCodeFlow>,
    /// Delivered messages by recipient phone.
    pub inboxes: HashMap<String, Vec<InboxMessage>>,
    /// Connection and message counters per linked device.
    pub devices: HashMap<DeviceKey, DeviceStats>,
    /// Faults.
    pub faults: Faults,
    /// Accounts whose linking is gated by a passkey, by phone.
    pub passkeys: HashMap<String, crate::passkey_gate::GatedAccount>,
    /// Open passkey-gated linking attempts, by the companion's connection.
    pub passkey_gates: HashMap<u64, crate::passkey_gate::Attempt>,
    /// Encrypted history-sync blobs by `directPath`, with the device they
    /// were made for (served by the control API).
    pub media: HashMap<String, (DeviceKey, bytes::Bytes)>,
    /// What each account (by phone) may send and has used: chats, new-chat
    /// quota, timelock, ban. Kept apart from `accounts` so limits can be
    /// set before the account links.
    pub limits: HashMap<String, crate::limits::AccountLimits>,
    /// The quota every account starts with (`SimConfig::new_chat_quota`).
    pub default_quota: Option<crate::limits::NewChatQuota>,
    /// Messages users sent to a companion that was not connected, by
    /// `(phone, device)`: handed over at its next login.
    pub offline_messages: HashMap<(String, u32), Vec<Node>>,
    /// Users addressed by LID (phone → LID user part): their messages come
    /// from `<lid>@lid` with the phone in `sender_pn`, as WhatsApp sends
    /// them for users who moved to LID addressing.
    pub user_lids: HashMap<String, String>,
}

impl State {
    /// The phone number behind `user`, a JID's user part: a LID of a
    /// LID-addressed user maps to its phone; anything else is itself.
    pub fn phone_of_user(&self, user: &str) -> String {
        self.user_lids
            .iter()
            .find(|(_, lid)| lid.as_str() == user)
            .map(|(phone, _)| phone.clone())
            .unwrap_or_else(|| user.to_string())
    }
}

impl State {
    /// The limits of `phone`'s account, made with the default quota the
    /// first time they are needed.
    pub fn limits_mut(&mut self, phone: &str) -> &mut crate::limits::AccountLimits {
        let default_quota = self.default_quota;
        self.limits.entry(phone.to_owned()).or_insert_with(|| {
            let mut limits = crate::limits::AccountLimits::default();
            limits.set_quota(default_quota, now_secs());
            limits
        })
    }
}

/// Everything the tasks share.
pub struct Shared {
    /// Configuration given at start.
    pub config: SimConfig,
    /// Noise identity + cert chain.
    pub server: ServerIdentity,
    /// Mutable data.
    pub state: Mutex<State>,
    /// Bumped on every inbox change (waiters watch it, no polling).
    pub inbox_version: watch::Sender<u64>,
    /// Bumped whenever an account's linked devices change.
    pub accounts_version: watch::Sender<u64>,
    next_id: AtomicU64,
}

impl Shared {
    /// Builds the shared state.
    pub fn new(config: SimConfig) -> Self {
        Self {
            state: Mutex::new(State {
                default_quota: config.new_chat_quota,
                ..State::default()
            }),
            config,
            server: ServerIdentity::generate(),
            inbox_version: watch::channel(0).0,
            accounts_version: watch::channel(0).0,
            next_id: AtomicU64::new(1),
        }
    }

    /// Locks the state (poisoning is ignored: the data stays usable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The Signal store of `phone`'s account (its phone, device 0).
    pub fn account_store(&self, phone: &str) -> anyhow::Result<Arc<AsyncMutex<SignalStore>>> {
        self.lock()
            .accounts
            .get(phone)
            .map(|a| a.store.clone())
            .ok_or_else(|| anyhow::anyhow!("no account {phone}"))
    }

    /// A process-unique number for ids.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh stanza id.
    pub fn stanza_id(&self) -> String {
        format!("sim-{}", self.next_id())
    }

    /// Live connections logged in as `phone` (all connections if `None`).
    pub fn conns_for(&self, phone: Option<&str>) -> Vec<Arc<ConnHandle>> {
        self.lock()
            .conns
            .values()
            .filter(|c| phone.is_none() || c.phone().as_deref() == phone)
            .cloned()
            .collect()
    }

    /// Live connections logged in as the linked device `(phone, device)`.
    pub fn conns_for_device(&self, phone: &str, device: u32) -> Vec<Arc<ConnHandle>> {
        self.lock()
            .conns
            .values()
            .filter(|c| {
                lock(&c.login)
                    .as_ref()
                    .is_some_and(|(p, d)| p == phone && *d == device)
            })
            .cloned()
            .collect()
    }
}

/// Locks a std mutex, ignoring poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Current unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
