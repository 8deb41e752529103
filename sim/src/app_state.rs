//! App-state contacts (part of the idle load's history, off by default): a
//! used account's `critical_unblock_low` collection holds a `contact`
//! action per address-book entry. When a companion syncs that collection
//! from scratch (no `version`, `return_snapshot="true"`), the simulator
//! answers one patch at version 1 with a `contact` mutation per idle-load
//! chat, encrypted and MACed with the app-state key the phone shared (see
//! `keyshare.rs`); every later request gets the collection at the
//! version asked for with no patches.

use rand::RngExt as _;
use wacore_appstate::hash::{HashState, generate_patch_mac};
use wacore_appstate::keys::expand_app_state_keys;
use waproto::buffa::Message as _;
use waproto::buffa::MessageField;
use waproto::whatsapp as wa;

use crate::idle_load::IdleLoad;
use crate::state::now_secs;

/// The collection that carries `contact` actions.
pub const CONTACTS_COLLECTION: &str = "critical_unblock_low";

/// The serialized `SyncdPatch` (version 1 of [`CONTACTS_COLLECTION`]) with
/// one `contact` SET per chat of `load`, under the app-state key
/// `key_id`/`key_data`. `contact_jid(chat)` names each contact.
pub fn contacts_patch(
    key_id: &[u8],
    key_data: &[u8],
    load: IdleLoad,
    contact_jid: impl Fn(usize) -> String,
) -> Vec<u8> {
    const VERSION: u64 = 1;
    let keys = expand_app_state_keys(key_data);
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let timestamp = now_secs() * 1000;
    let mutations: Vec<wa::SyncdMutation> = (0..load.chats)
        .map(|chat| {
            let jid = contact_jid(chat);
            let index = serde_json::to_vec(&["contact", jid.as_str()]).expect("json");
            let value = wa::SyncActionValue {
                timestamp: Some(timestamp),
                contact_action: MessageField::some(wa::sync_action_value::ContactAction {
                    full_name: Some(format!("Chat {chat} Contact")),
                    first_name: Some(format!("Chat {chat}")),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let mut iv = [0u8; 16];
            rng.fill(&mut iv[..]);
            // Version 2: the contact action's schema version.
            wacore_appstate::encode::encode_record(
                wa::syncd_mutation::SyncdOperation::SET,
                &index,
                &value,
                &keys,
                key_id,
                &iv,
                2,
            )
            .0
        })
        .collect();
    let mut hash = HashState {
        version: VERSION,
        ..Default::default()
    };
    let records: Vec<wa::SyncdRecord> = mutations.iter().map(|m| (*m.record).clone()).collect();
    hash.update_hash_from_records(&records);
    let mut patch = wa::SyncdPatch {
        version: MessageField::some(wa::SyncdVersion {
            version: Some(VERSION),
        }),
        mutations,
        snapshot_mac: Some(hash.generate_snapshot_mac(CONTACTS_COLLECTION, &keys.snapshot_mac)),
        key_id: MessageField::some(wa::KeyId {
            id: Some(key_id.to_vec()),
        }),
        ..Default::default()
    };
    patch.patch_mac = Some(generate_patch_mac(
        &patch,
        CONTACTS_COLLECTION,
        &keys.patch_mac,
        VERSION,
    ));
    patch.encode_to_vec()
}
