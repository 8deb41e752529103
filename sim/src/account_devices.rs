//! What the server knows about an account's devices, as other devices see
//! it: the device list a usync answers (the phone, device 0, plus every
//! linked companion that uploaded its keys, with a signed key-index list),
//! and the prekey bundles it hands out for those devices.
//!
//! A client sending a message fans it out to its own account's other
//! devices too, so both whatsapp-rust and Baileys ask for these.

use anyhow::anyhow;
use wacore::libsignal::protocol::{IdentityKey, PreKeyBundle, PublicKey};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::state::{Account, now_secs};
use crate::wire::tag;

/// Prefix of the message an account key signs for a key-index list,
/// following the ADV scheme (`[6, 0]` signs a device identity). Neither
/// client checks this signature today (whatsapp-rust 0.7.0:
/// `wacore::adv::decode_key_index_list` defers it; Baileys only reads it).
const ADV_KEY_INDEX_LIST_PREFIX: [u8; 2] = [6, 2];

/// The Signal keys a companion uploaded (its `xmlns="encrypt"` set IQ).
#[derive(Clone)]
pub struct UploadedKeys {
    /// Signal registration id.
    pub registration_id: u32,
    /// Identity public key (32 bytes, no type byte).
    pub identity: Vec<u8>,
    /// Signed prekey id.
    pub signed_id: u32,
    /// Signed prekey public key.
    pub signed_public: Vec<u8>,
    /// Signed prekey signature.
    pub signed_signature: Vec<u8>,
    /// One-time prekeys not handed out yet: `(id, public key)`.
    pub prekeys: Vec<(u32, Vec<u8>)>,
}

impl UploadedKeys {
    /// A bundle for `device`, spending one one-time prekey (the last one:
    /// the first went into the phone's key share). Without one left the
    /// bundle has none, as WhatsApp hands out when a device ran dry.
    pub fn take_bundle(&mut self, device: u32) -> anyhow::Result<PreKeyBundle> {
        let one_time = match self.prekeys.pop() {
            Some((id, public)) => Some((id.into(), PublicKey::from_djb_public_key_bytes(&public)?)),
            None => None,
        };
        Ok(PreKeyBundle::new(
            self.registration_id,
            device.into(),
            one_time,
            self.signed_id.into(),
            PublicKey::from_djb_public_key_bytes(&self.signed_public)?,
            self.signed_signature.clone(),
            IdentityKey::new(PublicKey::from_djb_public_key_bytes(&self.identity)?),
        )?)
    }
}

/// The devices of a linked account as a usync answers them: `(device id,
/// key index)`, the phone first. A companion's key index is its device id
/// (the phone signs it so at pairing). `asking` is the device that asks: it
/// is listed even before its own prekey upload.
pub fn listing(account: &Account, asking: Option<u32>) -> Vec<(u32, Option<u32>)> {
    let mut companions: Vec<u32> = account
        .devices
        .iter()
        .filter(|(id, c)| c.keys.is_some() || Some(**id) == asking)
        .map(|(id, _)| *id)
        .collect();
    companions.sort_unstable();
    std::iter::once((0, None))
        .chain(companions.into_iter().map(|d| (d, Some(d))))
        .collect()
}

/// `<devices>` for a usync answer: the `<device-list>` and, when companions
/// are listed, the `<key-index-list ts>` whose content is an
/// `ADVSignedKeyIndexList` signed by the account key. Clients drop
/// companions listed without it (whatsapp-rust warns "has companion
/// devices but no signedKeyIndexBytes, skipping").
pub fn devices_node(
    devices: &[(u32, Option<u32>)],
    account: Option<&Account>,
) -> anyhow::Result<Node> {
    let list = NodeBuilder::new(tag::DEVICE_LIST)
        .children(devices.iter().map(|(id, key_index)| {
            let mut b = NodeBuilder::new(tag::DEVICE).attr("id", id.to_string());
            if let Some(k) = key_index {
                b = b.attr("key-index", k.to_string());
            }
            b.build()
        }))
        .build();
    let mut children = vec![list];
    let indexes: Vec<u32> = devices.iter().filter_map(|(_, k)| *k).collect();
    if let Some(account) = account
        && !indexes.is_empty()
    {
        let ts = now_secs();
        children.push(
            NodeBuilder::new(tag::KEY_INDEX_LIST)
                .attr("ts", ts.to_string())
                .bytes(signed_key_index_list(account, &indexes, ts)?)
                .build(),
        );
    }
    Ok(NodeBuilder::new(tag::DEVICES).children(children).build())
}

/// `ADVSignedKeyIndexList { details: ADVKeyIndexList, account_signature }`.
fn signed_key_index_list(account: &Account, indexes: &[u32], ts: i64) -> anyhow::Result<Vec<u8>> {
    let details = wa::ADVKeyIndexList {
        raw_id: Some(account.adv_raw_id),
        timestamp: Some(ts as u64),
        current_index: indexes.iter().copied().max(),
        valid_indexes: indexes.to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut to_sign = Vec::with_capacity(2 + details.len());
    to_sign.extend_from_slice(&ADV_KEY_INDEX_LIST_PREFIX);
    to_sign.extend_from_slice(&details);
    let signature =
        wacore::crypto::calculate_curve_signature(account.identity.private_key(), &to_sign)
            .map_err(|e| anyhow!("signing the key-index list: {e:?}"))?;
    Ok(wa::ADVSignedKeyIndexList {
        details: Some(details),
        account_signature: Some(signature.to_vec()),
        account_signature_key: Some(account.identity.public_key().public_key_bytes().to_vec()),
    }
    .encode_to_vec())
}
