//! What every whatsapp-rust storage backend must do, written once and run
//! against each implementation of its store traits (`SignalStore`,
//! `AppSyncStore`, `ProtocolStore`, `DeviceStore`, `MsgSecretStore`, together
//! `Backend`).
//!
//! A session's store holds its account: the keys of the linked device, the
//! Signal ratchets, what app-state sync has seen, and what the protocol
//! remembers between messages. The tests below run [`run_all`] against
//! whatsapp-rust's in-memory backend and its SQLite store (a file per
//! session, as waotp lays them out today, and every session in one file
//! under its own device id). A new store plugs in the same way: a test that
//! calls [`run_all`] with a function opening that store's session `id`.
//!
//! [`run_all`] opens a session of its own for every check, so the checks
//! share nothing but the opener. Where the implementations legitimately
//! differ (noted at each check), a check holds only to what they have in
//! common, which is what the client relies on.
//!
//! Every trait method is called at least once, but for `DeviceStore`'s
//! `snapshot_db` and `resource_report`: diagnostics with do-nothing
//! defaults, nothing a session's data depends on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::traits::{
    AppStateSyncKey, Backend, DeviceInfo, DeviceListRecord, LidPnMappingEntry, MsgSecretEntry,
    PendingInboundKey, PendingInboundRow, TcTokenEntry,
};
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore::store::{CachedNoiseCert, CachedServerCertChain};
use whatsapp_rust::waproto::whatsapp::ADVSignedDeviceIdentity;

/// Runs every check. `open(id)` opens the store of session `id`: the same
/// id again must give the same data (as reopening a session after a
/// restart), another id a session that shares nothing with it.
pub(crate) async fn run_all<F>(open: F)
where
    F: AsyncFn(i32) -> Arc<dyn Backend>,
{
    let stores = Stores {
        open,
        next_id: AtomicI32::new(1),
    };

    // DeviceStore
    a_new_store_has_no_device_until_one_is_created(&*stores.open_new().await).await;
    the_device_saved_is_the_device_loaded(&*stores.session().await).await;

    // SignalStore
    identities_read_back_as_put_and_are_gone_once_deleted(&*stores.session().await).await;
    sessions_read_back_as_put_and_are_gone_once_deleted(&*stores.session().await).await;
    signal_state_for_a_user_is_found_by_any_session_or_identity(&*stores.session().await).await;
    prekeys_load_as_stored_and_removed_ones_stay_removed(&*stores.session().await).await;
    signed_prekeys_load_as_stored_and_go_when_removed(&*stores.session().await).await;
    sender_keys_read_back_as_put_and_are_gone_once_deleted(&*stores.session().await).await;

    // AppSyncStore
    app_state_sync_keys_read_back_and_the_latest_is_the_last_one_set(&*stores.session().await)
        .await;
    app_state_versions_are_empty_until_set_and_read_back_whole(&*stores.session().await).await;
    mutation_macs_read_back_by_index_and_go_when_deleted_or_cleared(&*stores.session().await).await;

    // ProtocolStore
    sender_key_devices_track_per_group_who_has_the_key(&*stores.session().await).await;
    lid_mappings_resolve_both_ways_and_a_phone_gets_its_newest_lid(&*stores.session().await).await;
    base_keys_match_only_the_key_saved_until_deleted(&*stores.session().await).await;
    device_lists_read_back_whole_and_go_when_deleted(&*stores.session().await).await;
    group_metadata_reads_back_until_deleted(&*stores.session().await).await;
    tc_tokens_read_back_and_expire_only_when_both_windows_passed(&*stores.session().await).await;
    tc_token_writers_keep_each_others_field_and_never_go_back(&*stores.session().await).await;
    a_sent_message_is_taken_once_and_expires_by_age(&*stores.session().await).await;
    pending_inbound_messages_read_back_until_deleted_or_expired(&*stores.session().await).await;

    // MsgSecretStore
    message_secrets_read_back_by_chat_sender_and_id(&*stores.session().await).await;
    message_secret_deadlines_only_grow_and_only_passed_ones_expire(&*stores.session().await).await;

    // Across sessions
    what_a_session_wrote_is_there_when_it_is_opened_again(&stores).await;
    two_sessions_never_see_or_erase_each_others_rows(&stores).await;
    concurrent_writes_to_two_sessions_each_land_in_their_own(&stores).await;
}

/// The opener and the next unused session id.
struct Stores<F> {
    open: F,
    next_id: AtomicI32,
}

impl<F: AsyncFn(i32) -> Arc<dyn Backend>> Stores<F> {
    fn new_id(&self) -> i32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The store of session `id`, as it is.
    async fn open(&self, id: i32) -> Arc<dyn Backend> {
        (self.open)(id).await
    }

    /// A session never opened before, as it is (no device yet).
    async fn open_new(&self) -> Arc<dyn Backend> {
        self.open(self.new_id()).await
    }

    /// A session never opened before, with its device created as the
    /// client does before anything else (whatsapp-rust's
    /// `PersistenceManager`: `exists`, else `create`). The SQLite store
    /// needs that row: its LID mappings refer to it.
    async fn session(&self) -> Arc<dyn Backend> {
        let id = self.new_id();
        self.session_with_id(id).await
    }

    /// Session `id`, with its device created (see [`Stores::session`]).
    async fn session_with_id(&self, id: i32) -> Arc<dyn Backend> {
        let store = self.open(id).await;
        if !store.exists().await.unwrap() {
            store.create().await.unwrap();
        }
        store
    }
}

/// A contact's Signal address (`user@server`, device 0).
const PEER: &str = "628111000001@s.whatsapp.net";
/// The same contact's second device (`user:device@server`).
const PEER_DEVICE: &str = "628111000001:2@s.whatsapp.net";
const OTHER_PEER: &str = "628111000002@s.whatsapp.net";
const GROUP: &str = "120363000000000001@g.us";
const OTHER_GROUP: &str = "120363000000000002@g.us";
const LID: &str = "100000000000001";
const PHONE: &str = "628111000001";
const MESSAGE_ID: &str = "3EB0C0FFEE000001";

/// Unix seconds, from the clock the stores timestamp rows with.
fn now() -> i64 {
    whatsapp_rust::wacore::time::now_secs()
}

/// A key pair as comparable bytes (public, private).
fn key_bytes(pair: &KeyPair) -> (Vec<u8>, Vec<u8>) {
    (
        pair.public_key.public_key_bytes().to_vec(),
        pair.private_key.serialize().to_vec(),
    )
}

// ---------------------------------------------------------------------------
// DeviceStore
// ---------------------------------------------------------------------------

/// A new store has no device until `create`, and has one after: the client
/// creates its device on first open, and one that seemed to exist already
/// would start a session with no keys.
async fn a_new_store_has_no_device_until_one_is_created(s: &dyn Backend) {
    assert!(!s.exists().await.unwrap(), "a new store has no device");
    assert!(s.load().await.unwrap().is_none(), "nothing to load yet");
    // The id returned differs: the in-memory backend counts from 1, the
    // SQLite store returns the device id it was opened for.
    s.create().await.unwrap();
    assert!(s.exists().await.unwrap(), "created");
    assert!(s.load().await.unwrap().is_some(), "a created device loads");
}

/// Every persisted field of the device comes back as saved, and a second
/// save replaces the first: the device is the account's identity, noise
/// and prekey keys, and a field lost across a restart unlinks the session
/// or breaks its prekeys.
async fn the_device_saved_is_the_device_loaded(s: &dyn Backend) {
    let mut device = s.load().await.unwrap().expect("a created device loads");
    device.pn = Some(PEER.parse().unwrap());
    device.lid = Some(format!("{LID}@lid").parse().unwrap());
    device.registration_id = 4242;
    device.signed_pre_key_id = 9;
    device.adv_secret_key = [7; 32];
    device.account = Some(Arc::new(ADVSignedDeviceIdentity {
        details: Some(vec![1, 2, 3]),
        account_signature_key: Some(vec![4; 32]),
        account_signature: Some(vec![5; 64]),
        device_signature: Some(vec![6; 64]),
    }));
    device.push_name = "conformance".into();
    device.app_version_primary = 2;
    device.app_version_secondary = 3000;
    device.app_version_tertiary = 1_020_000_000;
    device.app_version_last_fetched_ms = 1_700_000_000_000;
    device.edge_routing_info = Some(vec![8, 9]);
    device.props_hash = Some("props-1".into());
    device.next_pre_key_id = 812;
    device.first_unupload_pre_key_id = 800;
    device.server_has_prekeys = true;
    device.nct_salt = Some(vec![3; 16]);
    device.server_cert_chain = Some(CachedServerCertChain {
        intermediate: CachedNoiseCert {
            key: [1; 32],
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
        },
        leaf: CachedNoiseCert {
            key: [2; 32],
            not_before: 1_700_000_001,
            not_after: 1_800_000_001,
        },
    });
    device.login_counter = 5;
    device.lid_migrated = true;
    device.last_signed_pre_key_rotation_ms = 1_700_000_000_123;
    device.read_receipts_disabled = true;
    s.save(&device).await.unwrap();

    let got = s.load().await.unwrap().expect("a saved device loads");
    let jid = |j: &Option<whatsapp_rust::Jid>| j.as_ref().map(ToString::to_string);
    assert_eq!(jid(&got.pn), jid(&device.pn), "pn");
    assert_eq!(jid(&got.lid), jid(&device.lid), "lid");
    assert_eq!(
        got.registration_id, device.registration_id,
        "registration_id"
    );
    assert_eq!(
        key_bytes(&got.noise_key),
        key_bytes(&device.noise_key),
        "noise_key"
    );
    assert_eq!(
        key_bytes(&got.identity_key),
        key_bytes(&device.identity_key),
        "identity_key"
    );
    assert_eq!(
        key_bytes(&got.signed_pre_key),
        key_bytes(&device.signed_pre_key),
        "signed_pre_key"
    );
    assert_eq!(
        got.signed_pre_key_id, device.signed_pre_key_id,
        "signed_pre_key_id"
    );
    assert_eq!(
        got.signed_pre_key_signature, device.signed_pre_key_signature,
        "signed_pre_key_signature"
    );
    assert_eq!(got.adv_secret_key, device.adv_secret_key, "adv_secret_key");
    assert_eq!(got.account, device.account, "account");
    assert_eq!(got.push_name, device.push_name, "push_name");
    assert_eq!(
        (
            got.app_version_primary,
            got.app_version_secondary,
            got.app_version_tertiary,
            got.app_version_last_fetched_ms
        ),
        (
            device.app_version_primary,
            device.app_version_secondary,
            device.app_version_tertiary,
            device.app_version_last_fetched_ms
        ),
        "app version"
    );
    assert_eq!(
        got.edge_routing_info, device.edge_routing_info,
        "edge_routing_info"
    );
    assert_eq!(got.props_hash, device.props_hash, "props_hash");
    assert_eq!(
        got.next_pre_key_id, device.next_pre_key_id,
        "next_pre_key_id"
    );
    assert_eq!(
        got.first_unupload_pre_key_id, device.first_unupload_pre_key_id,
        "first_unupload_pre_key_id"
    );
    assert_eq!(
        got.server_has_prekeys, device.server_has_prekeys,
        "server_has_prekeys"
    );
    assert_eq!(got.nct_salt, device.nct_salt, "nct_salt");
    assert_eq!(
        got.server_cert_chain, device.server_cert_chain,
        "server_cert_chain"
    );
    assert_eq!(got.login_counter, device.login_counter, "login_counter");
    assert_eq!(got.lid_migrated, device.lid_migrated, "lid_migrated");
    assert_eq!(
        got.last_signed_pre_key_rotation_ms, device.last_signed_pre_key_rotation_ms,
        "last_signed_pre_key_rotation_ms"
    );
    assert_eq!(
        got.read_receipts_disabled, device.read_receipts_disabled,
        "read_receipts_disabled"
    );

    device.push_name = "renamed".into();
    device.login_counter = 6;
    s.save(&device).await.unwrap();
    let got = s.load().await.unwrap().expect("saved again");
    assert_eq!(
        (got.push_name.as_str(), got.login_counter),
        ("renamed", 6),
        "a second save replaces the first"
    );
}

// ---------------------------------------------------------------------------
// SignalStore
// ---------------------------------------------------------------------------

/// Identity keys read back as last put, one by one or in a batch, and are
/// gone once deleted: a contact who reinstalled has a new identity key, and
/// an old one read back would fail every message from them.
async fn identities_read_back_as_put_and_are_gone_once_deleted(s: &dyn Backend) {
    assert_eq!(s.load_identity(PEER).await.unwrap(), None, "none yet");
    s.put_identity(PEER, [1; 32]).await.unwrap();
    assert_eq!(s.load_identity(PEER).await.unwrap(), Some([1; 32]), "put");
    s.put_identity(PEER, [2; 32]).await.unwrap();
    assert_eq!(
        s.load_identity(PEER).await.unwrap(),
        Some([2; 32]),
        "replaced"
    );

    s.put_identities_batch(&[
        (Arc::from(PEER), [3; 32]),
        (Arc::from(PEER_DEVICE), [4; 32]),
        (Arc::from(OTHER_PEER), [5; 32]),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.load_identity(PEER).await.unwrap(),
        Some([3; 32]),
        "batch replaces"
    );
    assert_eq!(
        s.load_identity(PEER_DEVICE).await.unwrap(),
        Some([4; 32]),
        "batch"
    );
    assert_eq!(
        s.load_identity(OTHER_PEER).await.unwrap(),
        Some([5; 32]),
        "batch"
    );

    s.delete_identity(PEER).await.unwrap();
    assert_eq!(s.load_identity(PEER).await.unwrap(), None, "deleted");
    assert_eq!(
        s.load_identity(PEER_DEVICE).await.unwrap(),
        Some([4; 32]),
        "only the one deleted"
    );
    s.delete_identity(PEER).await.unwrap();
}

/// Signal sessions (the ratchets) read back as last put, one by one or in a
/// batch (the client flushes them in batches), and are gone once deleted:
/// a ratchet lost or written late is a message nobody can decrypt.
async fn sessions_read_back_as_put_and_are_gone_once_deleted(s: &dyn Backend) {
    assert_eq!(s.get_session(PEER).await.unwrap(), None, "none yet");
    assert!(!s.has_session(PEER).await.unwrap(), "none yet");
    s.put_session(PEER, b"ratchet 1").await.unwrap();
    assert_eq!(
        s.get_session(PEER).await.unwrap().as_deref(),
        Some(&b"ratchet 1"[..])
    );
    assert!(s.has_session(PEER).await.unwrap(), "put");
    s.put_session(PEER, b"ratchet 2").await.unwrap();
    assert_eq!(
        s.get_session(PEER).await.unwrap().as_deref(),
        Some(&b"ratchet 2"[..]),
        "replaced"
    );

    s.put_sessions_batch(&[
        (Arc::from(PEER), Bytes::from_static(b"ratchet 3")),
        (
            Arc::from(PEER_DEVICE),
            Bytes::from_static(b"device ratchet"),
        ),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get_session(PEER).await.unwrap().as_deref(),
        Some(&b"ratchet 3"[..]),
        "batch replaces"
    );
    assert_eq!(
        s.get_session(PEER_DEVICE).await.unwrap().as_deref(),
        Some(&b"device ratchet"[..]),
        "batch"
    );

    s.delete_session(PEER).await.unwrap();
    assert_eq!(s.get_session(PEER).await.unwrap(), None, "deleted");
    assert!(!s.has_session(PEER).await.unwrap(), "deleted");
    assert!(
        s.has_session(PEER_DEVICE).await.unwrap(),
        "only the one deleted"
    );
}

/// A user has Signal state when any of their devices has a session or an
/// identity, and no state when none has. Saying "no" wrongly makes the
/// client skip a user's PN→LID session migration; saying "yes" needlessly
/// only costs a scan (the trait's default always says yes). Both
/// implementations answer exactly, so this holds a new store to that.
async fn signal_state_for_a_user_is_found_by_any_session_or_identity(s: &dyn Backend) {
    assert!(
        !s.has_signal_state_for_user(PHONE).await.unwrap(),
        "nothing stored for the user"
    );
    s.put_session(PEER_DEVICE, b"device ratchet").await.unwrap();
    assert!(
        s.has_signal_state_for_user(PHONE).await.unwrap(),
        "a session of the user's second device"
    );
    assert!(
        !s.has_signal_state_for_user("62811100000").await.unwrap(),
        "a user whose number is a prefix of another's has no state of theirs"
    );
    s.delete_session(PEER_DEVICE).await.unwrap();
    assert!(
        !s.has_signal_state_for_user(PHONE).await.unwrap(),
        "its session deleted"
    );
    s.put_identity(PEER, [1; 32]).await.unwrap();
    assert!(
        s.has_signal_state_for_user(PHONE).await.unwrap(),
        "an identity alone"
    );
}

/// One-time prekeys load as stored (one by one or in batches), the highest
/// id is known, and a removed prekey stays removed even when it is marked
/// uploaded afterwards (an upload racing the consumption of a key): a
/// prekey that came back could be used twice.
async fn prekeys_load_as_stored_and_removed_ones_stay_removed(s: &dyn Backend) {
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 0, "none yet");
    assert_eq!(s.load_prekey(1).await.unwrap(), None, "none yet");

    s.store_prekey(1, b"prekey 1", false).await.unwrap();
    s.store_prekeys_batch(
        &[
            (2, Bytes::from_static(b"prekey 2")),
            (3, Bytes::from_static(b"prekey 3")),
        ],
        false,
    )
    .await
    .unwrap();
    s.store_prekey(1, b"prekey 1 again", true).await.unwrap();
    assert_eq!(
        s.load_prekey(1).await.unwrap().as_deref(),
        Some(&b"prekey 1 again"[..]),
        "stored again replaces"
    );
    let mut batch = s.load_prekeys_batch(&[3, 1, 2, 99]).await.unwrap();
    batch.sort_by_key(|(id, _)| *id);
    assert_eq!(
        batch,
        vec![
            (1, Bytes::from_static(b"prekey 1 again")),
            (2, Bytes::from_static(b"prekey 2")),
            (3, Bytes::from_static(b"prekey 3")),
        ],
        "a batch load returns the ones that exist"
    );
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 3, "highest id");

    // The `uploaded` flag itself cannot be read through the traits (and the
    // in-memory backend does not keep it), so what is checked is what the
    // client can see: marking never brings a key back or changes one.
    s.remove_prekey(2).await.unwrap();
    s.mark_prekeys_uploaded(&[1, 2]).await.unwrap();
    assert_eq!(
        s.load_prekey(2).await.unwrap(),
        None,
        "a removed prekey stays removed when marked uploaded"
    );
    assert_eq!(
        s.load_prekey(1).await.unwrap().as_deref(),
        Some(&b"prekey 1 again"[..]),
        "marking uploaded leaves the record"
    );
    s.remove_prekey(3).await.unwrap();
    assert_eq!(
        s.get_max_prekey_id().await.unwrap(),
        1,
        "the highest left after removals"
    );
}

/// Signed prekeys load as stored, all at once too, and go when removed:
/// the current signed prekey is what new contacts start sessions with.
async fn signed_prekeys_load_as_stored_and_go_when_removed(s: &dyn Backend) {
    assert_eq!(s.load_signed_prekey(1).await.unwrap(), None, "none yet");
    assert!(
        s.load_all_signed_prekeys().await.unwrap().is_empty(),
        "none yet"
    );
    s.store_signed_prekey(1, b"signed 1").await.unwrap();
    s.store_signed_prekey(2, b"signed 2").await.unwrap();
    s.store_signed_prekey(1, b"signed 1 again").await.unwrap();
    assert_eq!(
        s.load_signed_prekey(1).await.unwrap(),
        Some(b"signed 1 again".to_vec()),
        "stored again replaces"
    );
    let mut all = s.load_all_signed_prekeys().await.unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![(1, b"signed 1 again".to_vec()), (2, b"signed 2".to_vec())]
    );
    s.remove_signed_prekey(1).await.unwrap();
    assert_eq!(s.load_signed_prekey(1).await.unwrap(), None, "removed");
    assert_eq!(
        s.load_all_signed_prekeys().await.unwrap(),
        vec![(2, b"signed 2".to_vec())],
        "only the one removed"
    );
}

/// Group sender keys read back as last put, one by one or in a batch, and
/// are gone once deleted: a stale sender key cannot decrypt the group.
async fn sender_keys_read_back_as_put_and_are_gone_once_deleted(s: &dyn Backend) {
    let mine = format!("{GROUP}::{PEER}");
    let theirs = format!("{GROUP}::{OTHER_PEER}");
    assert_eq!(s.get_sender_key(&mine).await.unwrap(), None, "none yet");
    s.put_sender_key(&mine, b"sender key 1").await.unwrap();
    assert_eq!(
        s.get_sender_key(&mine).await.unwrap(),
        Some(b"sender key 1".to_vec())
    );
    s.put_sender_keys_batch(&[
        (
            Arc::from(mine.as_str()),
            Bytes::from_static(b"sender key 2"),
        ),
        (Arc::from(theirs.as_str()), Bytes::from_static(b"their key")),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get_sender_key(&mine).await.unwrap(),
        Some(b"sender key 2".to_vec()),
        "batch replaces"
    );
    assert_eq!(
        s.get_sender_key(&theirs).await.unwrap(),
        Some(b"their key".to_vec()),
        "batch"
    );
    s.delete_sender_key(&mine).await.unwrap();
    assert_eq!(s.get_sender_key(&mine).await.unwrap(), None, "deleted");
    assert_eq!(
        s.get_sender_key(&theirs).await.unwrap(),
        Some(b"their key".to_vec()),
        "only the one deleted"
    );
}

// ---------------------------------------------------------------------------
// AppSyncStore
// ---------------------------------------------------------------------------

fn sync_key(tag: u8) -> AppStateSyncKey {
    AppStateSyncKey {
        key_data: vec![tag; 32],
        fingerprint: vec![tag, 1, 2],
        timestamp: 1_700_000_000 + i64::from(tag),
    }
}

fn assert_sync_key(got: Option<AppStateSyncKey>, want: &AppStateSyncKey, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no sync key"));
    assert_eq!(
        (&got.key_data, &got.fingerprint, got.timestamp),
        (&want.key_data, &want.fingerprint, want.timestamp),
        "{what}"
    );
}

/// App-state sync keys read back whole, and the latest key id is the one
/// set last: outbound app-state patches are encrypted with it.
async fn app_state_sync_keys_read_back_and_the_latest_is_the_last_one_set(s: &dyn Backend) {
    let (first, second) = ([0, 0, 0, 1], [0, 0, 0, 2]);
    assert_eq!(s.get_latest_sync_key_id().await.unwrap(), None, "none yet");
    assert!(s.get_sync_key(&first).await.unwrap().is_none(), "none yet");
    s.set_sync_key(&first, sync_key(1)).await.unwrap();
    assert_sync_key(s.get_sync_key(&first).await.unwrap(), &sync_key(1), "set");
    assert_eq!(
        s.get_latest_sync_key_id().await.unwrap(),
        Some(first.to_vec())
    );
    // Set in ascending id order: "latest" is the last set for the in-memory
    // backend and the highest key id for the SQLite store; WhatsApp hands
    // out ids in increasing order, so the two agree on real keys.
    s.set_sync_key(&second, sync_key(2)).await.unwrap();
    assert_eq!(
        s.get_latest_sync_key_id().await.unwrap(),
        Some(second.to_vec()),
        "the newer key"
    );
    s.set_sync_key(&first, sync_key(3)).await.unwrap();
    assert_sync_key(
        s.get_sync_key(&first).await.unwrap(),
        &sync_key(3),
        "set again replaces",
    );
    assert_sync_key(
        s.get_sync_key(&second).await.unwrap(),
        &sync_key(2),
        "the other key is untouched",
    );
}

fn hash_state(version: u64) -> HashState {
    HashState {
        version,
        hash: [version as u8; 128],
        index_value_map: HashMap::from([
            ("index-a".to_string(), vec![1, 2]),
            ("index-b".to_string(), vec![version as u8; 32]),
        ]),
        mac_mismatch_fatal: version % 2 == 1,
    }
}

fn assert_hash_state(got: &HashState, want: &HashState, what: &str) {
    assert_eq!(got.version, want.version, "{what}: version");
    assert_eq!(got.hash, want.hash, "{what}: hash");
    assert_eq!(
        got.index_value_map, want.index_value_map,
        "{what}: index_value_map"
    );
    assert_eq!(
        got.mac_mismatch_fatal, want.mac_mismatch_fatal,
        "{what}: mac_mismatch_fatal"
    );
}

/// A collection's version is the empty state until set, then reads back
/// whole (ltHash, index map, mismatch flag), per collection: a wrong one
/// fails the next patch's integrity check and the collection re-syncs or
/// freezes.
async fn app_state_versions_are_empty_until_set_and_read_back_whole(s: &dyn Backend) {
    assert_hash_state(
        &s.get_version("regular").await.unwrap(),
        &HashState::default(),
        "never set",
    );
    s.set_version("regular", hash_state(7)).await.unwrap();
    s.set_version("critical_block", hash_state(4))
        .await
        .unwrap();
    assert_hash_state(
        &s.get_version("regular").await.unwrap(),
        &hash_state(7),
        "set",
    );
    assert_hash_state(
        &s.get_version("critical_block").await.unwrap(),
        &hash_state(4),
        "per collection",
    );
    s.set_version("regular", hash_state(8)).await.unwrap();
    assert_hash_state(
        &s.get_version("regular").await.unwrap(),
        &hash_state(8),
        "set again replaces",
    );
}

fn mac(index: u8, value: u8) -> AppStateMutationMAC {
    AppStateMutationMAC {
        index_mac: vec![index; 32],
        value_mac: vec![value; 32],
    }
}

/// Mutation MACs read back by index (one or many), per collection, and go
/// when deleted or when their collection is cleared (a snapshot re-sync):
/// a leftover MAC corrupts the next patch's ltHash.
async fn mutation_macs_read_back_by_index_and_go_when_deleted_or_cleared(s: &dyn Backend) {
    let index = |i: u8| [i; 32];
    assert_eq!(
        s.get_mutation_mac("regular", &index(1)).await.unwrap(),
        None,
        "none yet"
    );
    s.put_mutation_macs("regular", 1, &[mac(1, 11), mac(2, 12), mac(3, 13)])
        .await
        .unwrap();
    s.put_mutation_macs("regular_low", 1, &[mac(1, 21)])
        .await
        .unwrap();
    assert_eq!(
        s.get_mutation_mac("regular", &index(1)).await.unwrap(),
        Some(vec![11; 32])
    );
    assert_eq!(
        s.get_mutation_mac("regular_low", &index(1)).await.unwrap(),
        Some(vec![21; 32]),
        "per collection"
    );
    assert_eq!(
        s.get_mutation_macs("regular", &[index(1), index(2), index(9)])
            .await
            .unwrap(),
        HashMap::from([(index(1), vec![11; 32]), (index(2), vec![12; 32])]),
        "a batch read returns the ones that exist"
    );
    s.put_mutation_macs("regular", 2, &[mac(1, 14)])
        .await
        .unwrap();
    assert_eq!(
        s.get_mutation_mac("regular", &index(1)).await.unwrap(),
        Some(vec![14; 32]),
        "a later version replaces"
    );

    s.delete_mutation_macs("regular", &[index(1).to_vec()])
        .await
        .unwrap();
    assert_eq!(
        s.get_mutation_mac("regular", &index(1)).await.unwrap(),
        None,
        "deleted"
    );
    assert_eq!(
        s.get_mutation_mac("regular", &index(2)).await.unwrap(),
        Some(vec![12; 32]),
        "only the one deleted"
    );
    assert_eq!(
        s.get_mutation_mac("regular_low", &index(1)).await.unwrap(),
        Some(vec![21; 32]),
        "a delete stays in its collection"
    );

    s.clear_mutation_macs("regular").await.unwrap();
    assert!(
        s.get_mutation_macs("regular", &[index(2), index(3)])
            .await
            .unwrap()
            .is_empty(),
        "cleared"
    );
    assert_eq!(
        s.get_mutation_mac("regular_low", &index(1)).await.unwrap(),
        Some(vec![21; 32]),
        "a clear stays in its collection"
    );
}

// ---------------------------------------------------------------------------
// ProtocolStore
// ---------------------------------------------------------------------------

/// A group's devices, sorted (the order they come in is not part of the
/// contract).
async fn sender_key_devices(s: &dyn Backend, group: &str) -> Vec<(String, bool)> {
    let mut devices = s.get_sender_key_devices(group).await.unwrap();
    devices.sort();
    devices
}

/// The expected devices, in [`sender_key_devices`]'s order.
fn devices(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    let mut devices: Vec<(String, bool)> = list.iter().map(|(d, k)| (d.to_string(), *k)).collect();
    devices.sort();
    devices
}

/// Which devices of a group have our sender key is kept per group, updated
/// in place, and forgotten per device, per group or all at once: a device
/// wrongly marked as having the key is sent no key and cannot read the
/// group's messages.
async fn sender_key_devices_track_per_group_who_has_the_key(s: &dyn Backend) {
    assert!(sender_key_devices(s, GROUP).await.is_empty(), "none yet");
    s.set_sender_key_status(GROUP, &[(PEER, true), (PEER_DEVICE, false)])
        .await
        .unwrap();
    s.set_sender_key_status(OTHER_GROUP, &[(PEER, true), (OTHER_PEER, true)])
        .await
        .unwrap();
    assert_eq!(
        sender_key_devices(s, GROUP).await,
        devices(&[(PEER, true), (PEER_DEVICE, false)])
    );
    s.set_sender_key_status(GROUP, &[(PEER_DEVICE, true)])
        .await
        .unwrap();
    assert_eq!(
        sender_key_devices(s, GROUP).await,
        devices(&[(PEER, true), (PEER_DEVICE, true)]),
        "set again replaces"
    );

    s.delete_sender_key_device_rows(&[PEER]).await.unwrap();
    assert_eq!(
        sender_key_devices(s, GROUP).await,
        devices(&[(PEER_DEVICE, true)]),
        "a device forgotten"
    );
    assert_eq!(
        sender_key_devices(s, OTHER_GROUP).await,
        devices(&[(OTHER_PEER, true)]),
        "in every group"
    );

    s.clear_sender_key_devices(GROUP).await.unwrap();
    assert!(
        sender_key_devices(s, GROUP).await.is_empty(),
        "group cleared"
    );
    assert_eq!(
        sender_key_devices(s, OTHER_GROUP).await,
        devices(&[(OTHER_PEER, true)]),
        "only that group"
    );
    s.clear_all_sender_key_devices().await.unwrap();
    assert!(
        sender_key_devices(s, OTHER_GROUP).await.is_empty(),
        "all cleared"
    );
}

fn lid_mapping(lid: &str, phone: &str, at: i64, source: &str) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: at,
        updated_at: at,
        learning_source: source.into(),
    }
}

/// A LID↔phone mapping resolves both ways, a phone resolves to its newest
/// LID, and a LID moved to another phone no longer resolves from the old
/// one: the wrong LID sends a message to the wrong Signal address.
async fn lid_mappings_resolve_both_ways_and_a_phone_gets_its_newest_lid(s: &dyn Backend) {
    let (lid1, lid2, lid3) = ("100000000000001", "100000000000002", "100000000000003");
    let (phone1, phone3, phone4) = ("628111000001", "628111000003", "628111000004");
    assert!(s.get_lid_mapping(lid1).await.unwrap().is_none(), "none yet");
    assert!(
        s.get_pn_mapping(phone1).await.unwrap().is_none(),
        "none yet"
    );
    assert!(
        s.get_all_lid_mappings().await.unwrap().is_empty(),
        "none yet"
    );

    s.put_lid_mapping(&lid_mapping(lid1, phone1, 10, "usync"))
        .await
        .unwrap();
    let got = s.get_lid_mapping(lid1).await.unwrap().expect("by LID");
    assert_eq!(
        (
            got.lid.as_str(),
            got.phone_number.as_str(),
            got.created_at,
            got.updated_at,
            got.learning_source.as_str()
        ),
        (lid1, phone1, 10, 10, "usync"),
        "read back whole"
    );
    assert_eq!(
        s.get_pn_mapping(phone1).await.unwrap().map(|m| m.lid),
        Some(lid1.to_string()),
        "by phone"
    );

    s.put_lid_mappings(&[
        lid_mapping(lid2, phone1, 20, "peer_pn_message"),
        lid_mapping(lid3, phone3, 15, "usync"),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get_pn_mapping(phone1).await.unwrap().map(|m| m.lid),
        Some(lid2.to_string()),
        "a phone resolves to its newest LID"
    );
    assert_eq!(
        s.get_lid_mapping(lid1)
            .await
            .unwrap()
            .map(|m| m.phone_number),
        Some(phone1.to_string()),
        "the older LID still resolves to its phone"
    );
    let mut all: Vec<(String, String)> = s
        .get_all_lid_mappings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.lid, m.phone_number))
        .collect();
    all.sort();
    assert_eq!(
        all,
        vec![
            (lid1.to_string(), phone1.to_string()),
            (lid2.to_string(), phone1.to_string()),
            (lid3.to_string(), phone3.to_string()),
        ],
        "all mappings"
    );

    // `created_at` on an update is left out: the SQLite store keeps the
    // first one, the in-memory backend takes the new entry's.
    s.put_lid_mapping(&lid_mapping(lid3, phone4, 30, "pn_migration"))
        .await
        .unwrap();
    let got = s.get_lid_mapping(lid3).await.unwrap().expect("updated");
    assert_eq!(
        (
            got.phone_number.as_str(),
            got.updated_at,
            got.learning_source.as_str()
        ),
        (phone4, 30, "pn_migration"),
        "a LID moved to another phone"
    );
    assert_eq!(
        s.get_pn_mapping(phone4).await.unwrap().map(|m| m.lid),
        Some(lid3.to_string()),
        "the new phone resolves to it"
    );
    assert!(
        s.get_pn_mapping(phone3).await.unwrap().is_none(),
        "the old phone no longer resolves to it"
    );
}

/// A saved base key matches only the same key for the same address and
/// message, until replaced or deleted: a wrong match makes a retry reuse
/// (or needlessly drop) a Signal session.
async fn base_keys_match_only_the_key_saved_until_deleted(s: &dyn Backend) {
    let same = async |address: &str, message_id: &str, key: &[u8]| {
        s.has_same_base_key(address, message_id, key).await.unwrap()
    };
    assert!(!same(PEER, MESSAGE_ID, &[1; 32]).await, "nothing saved");
    s.save_base_key(PEER, MESSAGE_ID, &[1; 32]).await.unwrap();
    assert!(same(PEER, MESSAGE_ID, &[1; 32]).await, "the saved key");
    assert!(!same(PEER, MESSAGE_ID, &[2; 32]).await, "another key");
    assert!(!same(PEER, "3EB0OTHER", &[1; 32]).await, "another message");
    assert!(
        !same(OTHER_PEER, MESSAGE_ID, &[1; 32]).await,
        "another address"
    );
    s.save_base_key(PEER, MESSAGE_ID, &[2; 32]).await.unwrap();
    assert!(
        same(PEER, MESSAGE_ID, &[2; 32]).await,
        "saved again replaces"
    );
    assert!(
        !same(PEER, MESSAGE_ID, &[1; 32]).await,
        "the old key is gone"
    );
    s.delete_base_key(PEER, MESSAGE_ID).await.unwrap();
    assert!(!same(PEER, MESSAGE_ID, &[2; 32]).await, "deleted");
}

fn device_list(user: &str, devices: Vec<DeviceInfo>, timestamp: i64) -> DeviceListRecord {
    DeviceListRecord {
        user: user.into(),
        devices,
        timestamp,
        phash: None,
        raw_id: None,
    }
}

/// The record as comparable values (the type has no `PartialEq`).
type DeviceListValues = (
    String,
    Vec<(u32, Option<u32>, bool)>,
    i64,
    Option<String>,
    Option<u32>,
);

fn device_list_values(record: &DeviceListRecord) -> DeviceListValues {
    (
        record.user.clone(),
        record
            .devices
            .iter()
            .map(|d| (d.device_id, d.key_index, d.is_hosted))
            .collect(),
        record.timestamp,
        record.phash.clone(),
        record.raw_id,
    )
}

/// A user's device list reads back whole, one or many at a time, and goes
/// when deleted (forcing a fresh lookup): a device missing from the list is
/// not encrypted for and never gets the message.
async fn device_lists_read_back_whole_and_go_when_deleted(s: &dyn Backend) {
    let other = "628111000002";
    assert!(s.get_devices(PHONE).await.unwrap().is_none(), "none yet");
    // Timestamps stay in i32 range: the SQLite store keeps them as INTEGER
    // through an i32.
    let mut first = device_list(
        PHONE,
        vec![
            DeviceInfo::new(0, None),
            DeviceInfo::new(3, Some(7)).with_hosting(true),
        ],
        1_700_000_000,
    );
    first.phash = Some("2:abcdef".into());
    first.raw_id = Some(9);
    s.update_device_list(first.clone()).await.unwrap();
    assert_eq!(
        s.get_devices(PHONE)
            .await
            .unwrap()
            .as_ref()
            .map(device_list_values),
        Some(device_list_values(&first)),
        "read back whole"
    );

    let second = device_list(PHONE, vec![DeviceInfo::new(0, None)], 1_700_000_100);
    let theirs = device_list(other, vec![DeviceInfo::new(1, Some(2))], 1_700_000_200);
    s.update_device_lists(vec![second.clone(), theirs.clone()])
        .await
        .unwrap();
    assert_eq!(
        s.get_devices(PHONE)
            .await
            .unwrap()
            .as_ref()
            .map(device_list_values),
        Some(device_list_values(&second)),
        "a batch replaces (phash and raw_id too)"
    );
    assert_eq!(
        s.get_devices(other)
            .await
            .unwrap()
            .as_ref()
            .map(device_list_values),
        Some(device_list_values(&theirs)),
        "batch"
    );

    s.delete_devices(PHONE).await.unwrap();
    assert!(s.get_devices(PHONE).await.unwrap().is_none(), "deleted");
    assert!(
        s.get_devices(other).await.unwrap().is_some(),
        "only the one deleted"
    );
}

/// A group's metadata reads back as last put until deleted (on leaving the
/// group). The trait's default keeps nothing, which only costs a full group
/// query each time; both implementations keep it, and a new store should.
async fn group_metadata_reads_back_until_deleted(s: &dyn Backend) {
    assert_eq!(s.get_group_metadata(GROUP).await.unwrap(), None, "none yet");
    s.put_group_metadata(GROUP, b"group 1").await.unwrap();
    s.put_group_metadata(OTHER_GROUP, b"group 2").await.unwrap();
    s.put_group_metadata(GROUP, b"group 1 again").await.unwrap();
    assert_eq!(
        s.get_group_metadata(GROUP).await.unwrap(),
        Some(b"group 1 again".to_vec()),
        "put again replaces"
    );
    s.delete_group_metadata(GROUP).await.unwrap();
    assert_eq!(s.get_group_metadata(GROUP).await.unwrap(), None, "deleted");
    assert_eq!(
        s.get_group_metadata(OTHER_GROUP).await.unwrap(),
        Some(b"group 2".to_vec()),
        "only the one deleted"
    );
}

fn tc_token(token: &[u8], token_timestamp: i64, sender_timestamp: Option<i64>) -> TcTokenEntry {
    TcTokenEntry {
        token: token.to_vec(),
        token_timestamp,
        sender_timestamp,
    }
}

async fn tc_token_values(s: &dyn Backend, jid: &str) -> Option<(Vec<u8>, i64, Option<i64>)> {
    s.get_tc_token(jid)
        .await
        .unwrap()
        .map(|t| (t.token, t.token_timestamp, t.sender_timestamp))
}

async fn tc_token_jids(s: &dyn Backend) -> Vec<String> {
    let mut jids = s.get_all_tc_token_jids().await.unwrap();
    jids.sort();
    jids
}

/// Trusted-contact tokens read back as put, are listed, go when deleted,
/// and the expiry sweep removes a token only when both its received token
/// and its sender bucket are stale or absent: a token dropped early makes
/// the next message to that contact fail WhatsApp's privacy check.
async fn tc_tokens_read_back_and_expire_only_when_both_windows_passed(s: &dyn Backend) {
    let jid = |n: u8| format!("10000000000000{n}@lid");
    assert_eq!(tc_token_values(s, &jid(1)).await, None, "none yet");
    assert!(tc_token_jids(s).await.is_empty(), "none yet");
    s.put_tc_token(&jid(1), &tc_token(&[1], 100, Some(50)))
        .await
        .unwrap();
    s.put_tc_token(&jid(2), &tc_token(&[2], 200, None))
        .await
        .unwrap();
    assert_eq!(
        tc_token_values(s, &jid(1)).await,
        Some((vec![1], 100, Some(50))),
        "read back whole"
    );
    assert_eq!(tc_token_jids(s).await, vec![jid(1), jid(2)], "listed");
    s.put_tc_token(&jid(1), &tc_token(&[9], 300, None))
        .await
        .unwrap();
    assert_eq!(
        tc_token_values(s, &jid(1)).await,
        Some((vec![9], 300, None)),
        "put again replaces every field"
    );
    s.delete_tc_token(&jid(2)).await.unwrap();
    assert_eq!(tc_token_values(s, &jid(2)).await, None, "deleted");
    assert_eq!(tc_token_jids(s).await, vec![jid(1)], "only the one deleted");
    s.delete_tc_token(&jid(1)).await.unwrap();

    // Cutoffs 150 for both windows.
    s.put_tc_token(&jid(3), &tc_token(&[3], 100, None))
        .await
        .unwrap(); // stale token, no bucket: goes
    s.put_tc_token(&jid(4), &tc_token(&[], 500, Some(100)))
        .await
        .unwrap(); // no token, stale bucket: goes
    s.put_tc_token(&jid(5), &tc_token(&[5], 200, None))
        .await
        .unwrap(); // live token: stays
    s.put_tc_token(&jid(6), &tc_token(&[6], 100, Some(200)))
        .await
        .unwrap(); // stale token, live bucket: stays
    assert_eq!(
        s.delete_expired_tc_tokens(150, 150).await.unwrap(),
        2,
        "expired: the two with nothing live"
    );
    assert_eq!(
        tc_token_jids(s).await,
        vec![jid(5), jid(6)],
        "the ones with a live window stay"
    );
}

/// The two tc-token writers (a token received from the contact, our own
/// token sent to them) each keep the other's field; the sender time only
/// moves forward, and an older received token never replaces a newer one
/// (a placeholder never blocks the first real one): concurrent writers
/// must converge without losing the fresher token.
async fn tc_token_writers_keep_each_others_field_and_never_go_back(s: &dyn Backend) {
    let jid = "100000000000001@lid";
    s.touch_tc_token_sender_timestamp(jid, 100).await.unwrap();
    let got = s.get_tc_token(jid).await.unwrap().expect("a placeholder");
    assert_eq!(
        (got.token, got.sender_timestamp),
        (vec![], Some(100)),
        "touching an absent token leaves a placeholder"
    );
    s.store_received_tc_token(jid, &[1], 200).await.unwrap();
    assert_eq!(
        tc_token_values(s, jid).await,
        Some((vec![1], 200, Some(100))),
        "a received token keeps the sender time"
    );
    s.touch_tc_token_sender_timestamp(jid, 50).await.unwrap();
    assert_eq!(
        tc_token_values(s, jid).await,
        Some((vec![1], 200, Some(100))),
        "the sender time never goes back"
    );
    s.touch_tc_token_sender_timestamp(jid, 300).await.unwrap();
    assert_eq!(
        tc_token_values(s, jid).await,
        Some((vec![1], 200, Some(300))),
        "the sender time moves forward and keeps the token"
    );
    s.store_received_tc_token(jid, &[2], 150).await.unwrap();
    assert_eq!(
        tc_token_values(s, jid).await,
        Some((vec![1], 200, Some(300))),
        "an older received token is ignored"
    );
    s.store_received_tc_token(jid, &[3], 200).await.unwrap();
    assert_eq!(
        tc_token_values(s, jid).await,
        Some((vec![3], 200, Some(300))),
        "one as new replaces it"
    );

    let other = "100000000000002@lid";
    s.touch_tc_token_sender_timestamp(other, 500).await.unwrap();
    s.store_received_tc_token(other, &[4], 100).await.unwrap();
    assert_eq!(
        tc_token_values(s, other).await,
        Some((vec![4], 100, Some(500))),
        "a placeholder never blocks the first real token"
    );
}

/// A sent message (kept for retry receipts) is taken once, by chat and id,
/// and the expiry sweep removes those stored before the cutoff: a message
/// taken twice is resent twice, and one kept past its window keeps an OTP
/// around. (The in-memory backend also caps how many it keeps, 4096; this
/// stores far fewer.)
async fn a_sent_message_is_taken_once_and_expires_by_age(s: &dyn Backend) {
    let other_chat = OTHER_PEER;
    assert_eq!(
        s.take_sent_message(PEER, "m1").await.unwrap(),
        None,
        "none yet"
    );
    s.store_sent_message(PEER, "m1", b"payload 1")
        .await
        .unwrap();
    s.store_sent_message(PEER, "m2", b"payload 2")
        .await
        .unwrap();
    s.store_sent_message(other_chat, "m1", b"payload 3")
        .await
        .unwrap();
    assert_eq!(
        s.take_sent_message(PEER, "m1").await.unwrap(),
        Some(b"payload 1".to_vec()),
        "taken"
    );
    assert_eq!(
        s.take_sent_message(PEER, "m1").await.unwrap(),
        None,
        "only once"
    );
    assert_eq!(
        s.take_sent_message(other_chat, "m1").await.unwrap(),
        Some(b"payload 3".to_vec()),
        "the same id in another chat is another message"
    );

    s.store_sent_message(PEER, "m3", b"payload 4")
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        s.take_sent_message(PEER, "m3"),
        s.take_sent_message(PEER, "m3")
    );
    let taken = [first.unwrap(), second.unwrap()];
    assert_eq!(
        taken.iter().flatten().count(),
        1,
        "two takes at once: one gets it ({taken:?})"
    );

    // Rows are timestamped when stored (seconds), so cutoff 0 is before
    // every row and now + 1 after every one stored so far.
    s.store_sent_message(PEER, "m4", b"payload 5")
        .await
        .unwrap();
    assert_eq!(
        s.delete_expired_sent_messages(0).await.unwrap(),
        0,
        "none older than the cutoff"
    );
    assert_eq!(
        s.delete_expired_sent_messages(now() + 1).await.unwrap(),
        2,
        "the two left expire"
    );
    assert_eq!(
        s.take_sent_message(PEER, "m2").await.unwrap(),
        None,
        "expired"
    );
}

/// A decrypted message waiting for the durability hook's commit reads back
/// by chat, sender and id until deleted (one or a batch) or expired: a
/// message lost here is lost for good, one left here is delivered twice.
/// waotp registers no durability hook, so the client never calls these;
/// both implementations support them (the trait's defaults fail), and a
/// store that left the defaults would have to drop this check.
async fn pending_inbound_messages_read_back_until_deleted_or_expired(s: &dyn Backend) {
    let get = async |id: &str| s.get_pending_inbound(PEER, PEER, id).await.unwrap();
    assert_eq!(get("m1").await, None, "none yet");
    s.store_pending_inbound(PEER, PEER, "m1", b"message 1")
        .await
        .unwrap();
    s.store_pending_inbound(PEER, PEER, "m1", b"message 1 again")
        .await
        .unwrap();
    assert_eq!(
        get("m1").await,
        Some(b"message 1 again".to_vec()),
        "stored again replaces"
    );
    assert_eq!(
        s.get_pending_inbound(PEER, OTHER_PEER, "m1").await.unwrap(),
        None,
        "the same id from another sender is another message"
    );
    s.store_pending_inbound_batch(&[
        PendingInboundRow {
            chat: PEER,
            sender: PEER,
            id: "m2",
            message: b"message 2",
        },
        PendingInboundRow {
            chat: PEER,
            sender: PEER,
            id: "m3",
            message: b"message 3",
        },
    ])
    .await
    .unwrap();
    assert_eq!(get("m2").await, Some(b"message 2".to_vec()), "batch");
    assert_eq!(get("m3").await, Some(b"message 3".to_vec()), "batch");

    s.delete_pending_inbound(PEER, PEER, "m1").await.unwrap();
    assert_eq!(get("m1").await, None, "deleted");
    s.delete_pending_inbound_batch(&[PendingInboundKey {
        chat: PEER,
        sender: PEER,
        id: "m2",
    }])
    .await
    .unwrap();
    assert_eq!(get("m2").await, None, "deleted in a batch");
    assert_eq!(
        get("m3").await,
        Some(b"message 3".to_vec()),
        "only those deleted"
    );
    assert_eq!(
        s.delete_expired_pending_inbound(0).await.unwrap(),
        0,
        "none older than the cutoff"
    );
    assert_eq!(
        s.delete_expired_pending_inbound(now() + 1).await.unwrap(),
        1,
        "the one left expires"
    );
    assert_eq!(get("m3").await, None, "expired");
}

// ---------------------------------------------------------------------------
// MsgSecretStore
// ---------------------------------------------------------------------------

fn secret_entry(msg_id: &str, secret: u8, expires_at: i64, message_ts: i64) -> MsgSecretEntry {
    MsgSecretEntry {
        chat: Arc::from(PEER),
        sender: Arc::from(PEER),
        msg_id: Arc::from(msg_id),
        secret: [secret; 32],
        expires_at,
        message_ts,
    }
}

/// A message's secret reads back by chat, sender and id (all three), one or
/// a batch at a time, and a later put replaces it: replies, reactions and
/// edits to a message are decrypted with it.
async fn message_secrets_read_back_by_chat_sender_and_id(s: &dyn Backend) {
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m1").await.unwrap(),
        None,
        "none yet"
    );
    s.put_msg_secret(PEER, PEER, "m1", &[1; 32]).await.unwrap();
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m1").await.unwrap(),
        Some(vec![1; 32])
    );
    assert_eq!(
        s.get_msg_secret_with_ts(PEER, PEER, "m1").await.unwrap(),
        Some((vec![1; 32], 0)),
        "no message time given"
    );
    assert_eq!(
        s.get_msg_secret(OTHER_PEER, PEER, "m1").await.unwrap(),
        None,
        "another chat"
    );
    assert_eq!(
        s.get_msg_secret(PEER, OTHER_PEER, "m1").await.unwrap(),
        None,
        "another sender"
    );
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m2").await.unwrap(),
        None,
        "another id"
    );
    s.put_msg_secret(PEER, PEER, "m1", &[2; 32]).await.unwrap();
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m1").await.unwrap(),
        Some(vec![2; 32]),
        "put again replaces"
    );

    let stored = s
        .put_msg_secrets(vec![
            secret_entry("m2", 3, 0, 1_700_000_002),
            secret_entry("m3", 4, 0, 1_700_000_003),
            secret_entry("m4", 5, 0, 1_700_000_004),
        ])
        .await
        .unwrap();
    assert_eq!(stored, 3, "a batch of three new rows");
    for (id, secret, ts) in [
        ("m2", 3, 1_700_000_002),
        ("m3", 4, 1_700_000_003),
        ("m4", 5, 1_700_000_004),
    ] {
        assert_eq!(
            s.get_msg_secret_with_ts(PEER, PEER, id).await.unwrap(),
            Some((vec![secret; 32], ts)),
            "batch: {id}"
        );
    }
}

/// On a second put of the same message the deadline only grows ("never"
/// wins) and a known message time is kept, and the sweep removes only rows
/// whose deadline has passed: a window shortened by a redelivery loses the
/// secret a later edit or reaction needs.
async fn message_secret_deadlines_only_grow_and_only_passed_ones_expire(s: &dyn Backend) {
    s.put_msg_secrets(vec![
        secret_entry("m1", 1, 100, 10),
        secret_entry("m2", 2, 0, 0),
        secret_entry("m3", 3, 200, 0),
    ])
    .await
    .unwrap();
    s.put_msg_secrets(vec![
        secret_entry("m1", 4, 50, 0),
        secret_entry("m2", 5, 100, 0),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get_msg_secret_with_ts(PEER, PEER, "m1").await.unwrap(),
        Some((vec![4; 32], 10)),
        "the new secret, the known message time"
    );

    assert_eq!(
        s.delete_expired_msg_secrets(99).await.unwrap(),
        0,
        "m1 kept its later deadline (100, not 50)"
    );
    assert_eq!(
        s.delete_expired_msg_secrets(100).await.unwrap(),
        1,
        "a deadline at the cutoff has passed"
    );
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m1").await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        s.delete_expired_msg_secrets(1_000).await.unwrap(),
        1,
        "m3; m2 never expires"
    );
    assert_eq!(
        s.get_msg_secret(PEER, PEER, "m2").await.unwrap(),
        Some(vec![5; 32]),
        "'never' won over the later put's deadline"
    );
}

// ---------------------------------------------------------------------------
// Across sessions
// ---------------------------------------------------------------------------

/// Writes one row of every kind, with values carrying `tag`, under the same
/// keys whatever the tag (so two sessions writing it collide if their data
/// is not kept apart).
async fn write_one_of_everything(s: &dyn Backend, tag: u8) {
    let mut device = s.load().await.unwrap().expect("a created device");
    device.push_name = format!("session {tag}");
    s.save(&device).await.unwrap();
    s.put_identity(PEER, [tag; 32]).await.unwrap();
    s.put_session(PEER, &[tag; 8]).await.unwrap();
    s.store_prekey(1, &[tag; 8], false).await.unwrap();
    s.store_signed_prekey(1, &[tag; 8]).await.unwrap();
    s.put_sender_key(GROUP, &[tag; 8]).await.unwrap();
    s.set_sync_key(&[0, 0, 0, 1], sync_key(tag)).await.unwrap();
    s.set_version("regular", hash_state(u64::from(tag)))
        .await
        .unwrap();
    s.put_mutation_macs("regular", 1, &[mac(1, tag)])
        .await
        .unwrap();
    s.set_sender_key_status(GROUP, &[(PEER, tag == 1)])
        .await
        .unwrap();
    let phone = format!("6281110000{tag:02}");
    s.put_lid_mapping(&lid_mapping(LID, &phone, 10, "usync"))
        .await
        .unwrap();
    s.save_base_key(PEER, MESSAGE_ID, &[tag; 32]).await.unwrap();
    s.update_device_list(device_list(
        PHONE,
        vec![DeviceInfo::new(u32::from(tag), None)],
        1_700_000_000,
    ))
    .await
    .unwrap();
    s.put_group_metadata(GROUP, &[tag; 8]).await.unwrap();
    s.put_tc_token(PEER, &tc_token(&[tag], 1_000, None))
        .await
        .unwrap();
    s.store_sent_message(PEER, MESSAGE_ID, &[tag; 8])
        .await
        .unwrap();
    s.store_pending_inbound(PEER, PEER, MESSAGE_ID, &[tag; 8])
        .await
        .unwrap();
    // A deadline long past, so that a sweep removes it.
    s.put_msg_secrets(vec![secret_entry(MESSAGE_ID, tag, 1_000, 10)])
        .await
        .unwrap();
}

/// Reads back every row [`write_one_of_everything`] wrote with `tag`.
async fn assert_has_one_of_everything(s: &dyn Backend, tag: u8, who: &str) {
    let device = s.load().await.unwrap().expect("a device");
    assert_eq!(device.push_name, format!("session {tag}"), "{who}: device");
    assert_eq!(
        s.load_identity(PEER).await.unwrap(),
        Some([tag; 32]),
        "{who}: identity"
    );
    assert_eq!(
        s.get_session(PEER).await.unwrap().as_deref(),
        Some(&[tag; 8][..]),
        "{who}: session"
    );
    assert_eq!(
        s.load_prekey(1).await.unwrap().as_deref(),
        Some(&[tag; 8][..]),
        "{who}: prekey"
    );
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 1, "{who}: max prekey");
    assert_eq!(
        s.load_all_signed_prekeys().await.unwrap(),
        vec![(1, vec![tag; 8])],
        "{who}: signed prekeys"
    );
    assert_eq!(
        s.get_sender_key(GROUP).await.unwrap(),
        Some(vec![tag; 8]),
        "{who}: sender key"
    );
    assert_sync_key(
        s.get_sync_key(&[0, 0, 0, 1]).await.unwrap(),
        &sync_key(tag),
        &format!("{who}: sync key"),
    );
    assert_eq!(
        s.get_latest_sync_key_id().await.unwrap(),
        Some(vec![0, 0, 0, 1]),
        "{who}: latest sync key"
    );
    assert_hash_state(
        &s.get_version("regular").await.unwrap(),
        &hash_state(u64::from(tag)),
        &format!("{who}: app state version"),
    );
    assert_eq!(
        s.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        Some(vec![tag; 32]),
        "{who}: mutation MAC"
    );
    assert_eq!(
        s.get_sender_key_devices(GROUP).await.unwrap(),
        devices(&[(PEER, tag == 1)]),
        "{who}: sender key devices"
    );
    let phone = format!("6281110000{tag:02}");
    assert_eq!(
        s.get_lid_mapping(LID)
            .await
            .unwrap()
            .map(|m| m.phone_number),
        Some(phone.clone()),
        "{who}: LID mapping"
    );
    assert_eq!(
        s.get_all_lid_mappings()
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.lid, m.phone_number))
            .collect::<Vec<_>>(),
        vec![(LID.to_string(), phone)],
        "{who}: all LID mappings"
    );
    assert!(
        s.has_same_base_key(PEER, MESSAGE_ID, &[tag; 32])
            .await
            .unwrap(),
        "{who}: base key"
    );
    assert_eq!(
        s.get_devices(PHONE).await.unwrap().map(|r| r
            .devices
            .iter()
            .map(|d| d.device_id)
            .collect::<Vec<_>>()),
        Some(vec![u32::from(tag)]),
        "{who}: device list"
    );
    assert_eq!(
        s.get_group_metadata(GROUP).await.unwrap(),
        Some(vec![tag; 8]),
        "{who}: group metadata"
    );
    assert_eq!(
        tc_token_values(s, PEER).await,
        Some((vec![tag], 1_000, None)),
        "{who}: tc token"
    );
    assert_eq!(
        tc_token_jids(s).await,
        vec![PEER.to_string()],
        "{who}: tc token jids"
    );
    assert_eq!(
        s.get_pending_inbound(PEER, PEER, MESSAGE_ID).await.unwrap(),
        Some(vec![tag; 8]),
        "{who}: pending inbound"
    );
    assert_eq!(
        s.get_msg_secret_with_ts(PEER, PEER, MESSAGE_ID)
            .await
            .unwrap(),
        Some((vec![tag; 32], 10)),
        "{who}: message secret"
    );
    // A sent message's only read is the take, so it is put back.
    assert_eq!(
        s.take_sent_message(PEER, MESSAGE_ID).await.unwrap(),
        Some(vec![tag; 8]),
        "{who}: sent message"
    );
    s.store_sent_message(PEER, MESSAGE_ID, &[tag; 8])
        .await
        .unwrap();
}

/// Nothing [`write_one_of_everything`] writes is there (but the device
/// row, which every opened session has).
async fn assert_has_nothing(s: &dyn Backend, who: &str) {
    assert_has_no_erasable_rows(s, who).await;
    assert!(
        s.get_sync_key(&[0, 0, 0, 1]).await.unwrap().is_none(),
        "{who}: sync key"
    );
    assert_eq!(
        s.get_latest_sync_key_id().await.unwrap(),
        None,
        "{who}: latest sync key"
    );
    assert_hash_state(
        &s.get_version("regular").await.unwrap(),
        &HashState::default(),
        &format!("{who}: app state version"),
    );
    assert!(
        s.get_lid_mapping(LID).await.unwrap().is_none(),
        "{who}: LID mapping"
    );
    assert!(
        s.get_all_lid_mappings().await.unwrap().is_empty(),
        "{who}: all LID mappings"
    );
}

/// Erases every row [`write_one_of_everything`] wrote that the traits can
/// erase, by key, by collection or by a sweep. The sweeps return how many
/// rows they removed: one each, this session's own.
async fn erase_everything(s: &dyn Backend) {
    s.delete_identity(PEER).await.unwrap();
    s.delete_session(PEER).await.unwrap();
    s.remove_prekey(1).await.unwrap();
    s.remove_signed_prekey(1).await.unwrap();
    s.delete_sender_key(GROUP).await.unwrap();
    s.clear_mutation_macs("regular").await.unwrap();
    s.clear_all_sender_key_devices().await.unwrap();
    s.delete_base_key(PEER, MESSAGE_ID).await.unwrap();
    s.delete_devices(PHONE).await.unwrap();
    s.delete_group_metadata(GROUP).await.unwrap();
    assert_eq!(
        s.delete_expired_tc_tokens(i64::MAX, i64::MAX)
            .await
            .unwrap(),
        1,
        "tc token sweep"
    );
    assert_eq!(
        s.delete_expired_sent_messages(now() + 1).await.unwrap(),
        1,
        "sent message sweep"
    );
    assert_eq!(
        s.delete_expired_pending_inbound(now() + 1).await.unwrap(),
        1,
        "pending inbound sweep"
    );
    assert_eq!(
        s.delete_expired_msg_secrets(now()).await.unwrap(),
        1,
        "message secret sweep"
    );
}

/// None of the rows [`erase_everything`] erases is there. (Sync keys, app
/// state versions, LID mappings and the device row have no delete in the
/// traits; removing a whole session is outside them.)
async fn assert_has_no_erasable_rows(s: &dyn Backend, who: &str) {
    assert_eq!(
        s.load_identity(PEER).await.unwrap(),
        None,
        "{who}: identity"
    );
    assert_eq!(s.get_session(PEER).await.unwrap(), None, "{who}: session");
    assert!(
        !s.has_signal_state_for_user(PHONE).await.unwrap(),
        "{who}: signal state"
    );
    assert_eq!(s.load_prekey(1).await.unwrap(), None, "{who}: prekey");
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 0, "{who}: max prekey");
    assert!(
        s.load_all_signed_prekeys().await.unwrap().is_empty(),
        "{who}: signed prekeys"
    );
    assert_eq!(
        s.get_sender_key(GROUP).await.unwrap(),
        None,
        "{who}: sender key"
    );
    assert_eq!(
        s.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        None,
        "{who}: mutation MAC"
    );
    assert!(
        s.get_sender_key_devices(GROUP).await.unwrap().is_empty(),
        "{who}: sender key devices"
    );
    assert!(
        !s.has_same_base_key(PEER, MESSAGE_ID, &[1; 32])
            .await
            .unwrap()
            && !s
                .has_same_base_key(PEER, MESSAGE_ID, &[2; 32])
                .await
                .unwrap(),
        "{who}: base key"
    );
    assert!(
        s.get_devices(PHONE).await.unwrap().is_none(),
        "{who}: device list"
    );
    assert_eq!(
        s.get_group_metadata(GROUP).await.unwrap(),
        None,
        "{who}: group metadata"
    );
    assert!(tc_token_jids(s).await.is_empty(), "{who}: tc tokens");
    assert_eq!(
        s.get_pending_inbound(PEER, PEER, MESSAGE_ID).await.unwrap(),
        None,
        "{who}: pending inbound"
    );
    assert_eq!(
        s.get_msg_secret(PEER, PEER, MESSAGE_ID).await.unwrap(),
        None,
        "{who}: message secret"
    );
    assert_eq!(
        s.take_sent_message(PEER, MESSAGE_ID).await.unwrap(),
        None,
        "{who}: sent message"
    );
}

/// Everything a session wrote is there when its store is opened again (a
/// restart): a store that kept any of it only in memory loses the account.
async fn what_a_session_wrote_is_there_when_it_is_opened_again<F>(stores: &Stores<F>)
where
    F: AsyncFn(i32) -> Arc<dyn Backend>,
{
    let id = stores.new_id();
    let s = stores.session_with_id(id).await;
    write_one_of_everything(&*s, 3).await;
    drop(s);
    let s = stores.open(id).await;
    assert!(s.exists().await.unwrap(), "reopened: the device exists");
    assert_has_one_of_everything(&*s, 3, "reopened").await;
}

/// Two sessions writing under the same keys each read back their own
/// values; one that has written nothing sees nothing of the other's; and
/// one erasing its rows (by key, by collection, by expiry sweep) leaves
/// the other's: the two are different WhatsApp accounts.
async fn two_sessions_never_see_or_erase_each_others_rows<F>(stores: &Stores<F>)
where
    F: AsyncFn(i32) -> Arc<dyn Backend>,
{
    let a = stores.session().await;
    let b = stores.session().await;
    write_one_of_everything(&*a, 1).await;
    assert_has_nothing(&*b, "b, before it wrote anything").await;
    write_one_of_everything(&*b, 2).await;
    assert_has_one_of_everything(&*a, 1, "a").await;
    assert_has_one_of_everything(&*b, 2, "b").await;
    erase_everything(&*a).await;
    assert_has_no_erasable_rows(&*a, "a, erased").await;
    assert_has_one_of_everything(&*b, 2, "b, after a erased its rows").await;
}

/// Many writes to two sessions at once (as two accounts sending at the
/// same time) all land, each in its own session: a write lost or crossed
/// under contention is a ratchet or a retry payload gone.
async fn concurrent_writes_to_two_sessions_each_land_in_their_own<F>(stores: &Stores<F>)
where
    F: AsyncFn(i32) -> Arc<dyn Backend>,
{
    const WRITES: u8 = 40;
    let sessions = [(1u8, stores.session().await), (2u8, stores.session().await)];
    let address = |i: u8| format!("6281200000{i:02}@s.whatsapp.net");
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..WRITES {
        for (tag, s) in &sessions {
            let (tag, s, address) = (*tag, Arc::clone(s), address(i));
            writes.spawn(async move {
                s.put_session(&address, &[tag, i]).await?;
                s.put_identity(&address, [tag + i; 32]).await?;
                s.store_sent_message(&address, MESSAGE_ID, &[tag, i]).await
            });
        }
    }
    while let Some(done) = writes.join_next().await {
        done.expect("a write task").expect("a concurrent write");
    }
    for (tag, s) in &sessions {
        for i in 0..WRITES {
            let address = address(i);
            assert_eq!(
                s.get_session(&address).await.unwrap().as_deref(),
                Some(&[*tag, i][..]),
                "session {tag}: ratchet {i}"
            );
            assert_eq!(
                s.load_identity(&address).await.unwrap(),
                Some([tag + i; 32]),
                "session {tag}: identity {i}"
            );
            assert_eq!(
                s.take_sent_message(&address, MESSAGE_ID).await.unwrap(),
                Some(vec![*tag, i]),
                "session {tag}: sent message {i}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use whatsapp_rust::store::SqliteStore;
    use whatsapp_rust::wacore::store::InMemoryBackend;

    use super::*;

    /// whatsapp-rust's in-memory backend; the same id gives the same
    /// instance, as reopening a store gives the same data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_backend_store_conformance() {
        let opened: Mutex<HashMap<i32, Arc<InMemoryBackend>>> = Mutex::default();
        run_all(async |id: i32| -> Arc<dyn Backend> {
            opened
                .lock()
                .unwrap()
                .entry(id)
                .or_insert_with(|| Arc::new(InMemoryBackend::new()))
                .clone() as Arc<dyn Backend>
        })
        .await;
    }

    /// whatsapp-rust's SQLite store as waotp uses it today: a file per
    /// session, each with the one device id 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_with_a_file_per_session_store_conformance() {
        let dir = tempfile::tempdir().unwrap();
        run_all(async |id: i32| -> Arc<dyn Backend> {
            let path = dir.path().join(format!("{id}.db"));
            Arc::new(SqliteStore::new(path.to_str().unwrap()).await.unwrap()) as Arc<dyn Backend>
        })
        .await;
    }

    /// whatsapp-rust's SQLite store with every session in one file, each
    /// under its own device id (each handle with its own connection).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_with_all_sessions_in_one_file_store_conformance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        let path = path.to_str().unwrap();
        run_all(async |id: i32| -> Arc<dyn Backend> {
            Arc::new(SqliteStore::new_for_device(path, id).await.unwrap()) as Arc<dyn Backend>
        })
        .await;
    }
}
