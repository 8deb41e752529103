//! The simulated phone's side of linking a companion: the ADV identity it
//! signs, the `pair-success` IQ, and the 515 restart that follows the
//! companion's `pair-device-sign`.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use tokio::sync::oneshot;
use wacore::libsignal::crypto::hmac_sha256;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::state::{Account, Companion, ConnHandle, Shared, lock, now_secs};
use crate::wire::{self, tag, val};

/// Prefix of the account signature message (`[6, 0]`).
const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];

/// What a QR code tells the phone.
pub struct QrData {
    /// The ref the server issued.
    pub pairing_ref: String,
    /// Companion identity public key.
    pub identity_pub: [u8; 32],
    /// Shared ADV secret for the HMAC.
    pub adv_secret: [u8; 32],
}

/// Parses `ref,noise,identity,adv[,type]` the way a phone would.
pub fn parse_qr(qr: &str) -> anyhow::Result<QrData> {
    let (pairing_ref, _noise, identity_pub) = wacore::pair::PairUtils::parse_qr_code(qr)?;
    // parse_qr_code validated the shape; the ADV secret is the 4th field.
    let adv_b64 = qr
        .rsplit('#')
        .next()
        .unwrap_or(qr)
        .split(',')
        .nth(3)
        .ok_or_else(|| anyhow!("QR code has no ADV secret field"))?;
    let adv = BASE64_STANDARD
        .decode(adv_b64)
        .context("QR ADV secret is not base64")?;
    let adv_secret: [u8; 32] = adv
        .try_into()
        .map_err(|_| anyhow!("QR ADV secret must be 32 bytes"))?;
    Ok(QrData {
        pairing_ref,
        identity_pub,
        adv_secret,
    })
}

/// Returns the account for `phone`, creating it (with a fresh phone
/// identity) if needed. Returns (lid, device id to hand out).
pub fn ensure_account(shared: &Shared, phone: &str, name: &str) -> anyhow::Result<()> {
    let mut st = shared.lock();
    if !st.accounts.contains_key(phone) {
        let store = crate::signal_store::SignalStore::generate()?;
        // A LID is an opaque number distinct from the phone number.
        let lid = format!("{}", 100_000_000_000_000u64 + shared.next_id() * 7919);
        st.accounts.insert(
            phone.to_string(),
            Account {
                app_state_key: None,
                phone: phone.to_string(),
                lid,
                name: name.to_string(),
                identity: store.identity().clone(),
                store: Arc::new(tokio::sync::Mutex::new(store)),
                devices: Default::default(),
                next_device: 1,
                adv_raw_id: rand::RngExt::random::<u32>(&mut rand::make_rng::<rand::rngs::StdRng>()),
            },
        );
    }
    Ok(())
}

/// Builds `ADVSignedDeviceIdentityHMAC` bytes for a companion.
async fn signed_identity(
    account_store: &tokio::sync::Mutex<crate::signal_store::SignalStore>,
    raw_id: u32,
    key_index: u32,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
) -> anyhow::Result<Vec<u8>> {
    let details = wa::ADVDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(now_secs() as u64),
        key_index: Some(key_index),
        ..Default::default()
    }
    .encode_to_vec();
    let store = account_store.lock().await;
    let account_key = store.identity();
    let mut to_sign = Vec::with_capacity(2 + details.len() + 32);
    to_sign.extend_from_slice(&ADV_ACCOUNT_SIGNATURE_PREFIX);
    to_sign.extend_from_slice(&details);
    to_sign.extend_from_slice(companion_identity);
    let signature = wacore::crypto::calculate_curve_signature(account_key.private_key(), &to_sign)?;
    let signed = wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account_key.public_key().public_key_bytes().to_vec()),
        account_signature: Some(signature.to_vec()),
        ..Default::default()
    }
    .encode_to_vec();
    let hmac = hmac_sha256(adv_secret, &signed);
    Ok(wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        ..Default::default()
    }
    .encode_to_vec())
}

/// Sends `pair-success` on `conn`, waits for `pair-device-sign`, records the
/// new device and restarts the stream with 515. Returns the device id.
pub async fn complete_pairing(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    phone: &str,
    name: &str,
    companion_identity: [u8; 32],
    adv_secret: [u8; 32],
) -> anyhow::Result<u32> {
    ensure_account(shared, phone, name)?;
    let (store, raw_id, lid, device_id) = {
        let mut st = shared.lock();
        let account = st
            .accounts
            .get_mut(phone)
            .ok_or_else(|| anyhow!("account vanished"))?;
        let device_id = account.next_device;
        account.next_device += 1;
        (
            account.store.clone(),
            account.adv_raw_id,
            account.lid.clone(),
            device_id,
        )
    };
    let key_index = device_id;
    let identity =
        signed_identity(&store, raw_id, key_index, &companion_identity, &adv_secret).await?;

    let id = shared.stanza_id();
    let pn_jid = format!("{phone}:{device_id}@{}", wire::PN_SERVER);
    let lid_jid = format!("{lid}:{device_id}@{}", wire::LID_SERVER);
    let node = NodeBuilder::new(tag::IQ)
        .attrs([
            ("from", wire::SERVER_JID.to_string()),
            ("type", "set".to_string()),
            ("id", id.clone()),
            ("xmlns", wire::ns::MD.to_string()),
        ])
        .children([NodeBuilder::new(tag::PAIR_SUCCESS)
            .children([
                NodeBuilder::new(tag::DEVICE_IDENTITY)
                    .bytes(identity)
                    .build(),
                NodeBuilder::new(tag::DEVICE)
                    .attrs([("jid", pn_jid), ("lid", lid_jid)])
                    .build(),
                NodeBuilder::new(tag::BIZ)
                    .attr("name", name.to_string())
                    .build(),
                NodeBuilder::new(tag::PLATFORM)
                    .attr("name", val::PHONE_PLATFORM)
                    .build(),
            ])
            .build()])
        .build();

    let answer = request(conn, id, node, shared.config.pairing_timeout).await?;
    let answer_type = answer.attrs.get("type").map(|v| v.to_string());
    if answer_type.as_deref() != Some("result")
        || answer.get_optional_child(tag::PAIR_DEVICE_SIGN).is_none()
    {
        bail!("companion refused pair-success: {answer:?}");
    }

    {
        let mut st = shared.lock();
        if let Some(account) = st.accounts.get_mut(phone) {
            account.devices.insert(
                device_id,
                Companion {
                    noise_pub: conn.client_static,
                    key_share_sent: false,
                    prekey_count: 0,
                    keys: None,
                },
            );
        }
        // The QR refs of this connection are spent.
        st.qr_refs.retain(|_, c| *c != conn.id);
    }
    shared.accounts_version.send_modify(|v| *v += 1);
    log::info!("paired {phone}:{device_id}; restarting stream (515)");
    conn.send(
        NodeBuilder::new(tag::STREAM_ERROR)
            .attr("code", val::CODE_RESTART)
            .build(),
    );
    conn.close();
    Ok(device_id)
}

/// Sends a server-initiated IQ and waits for the client's answer.
pub async fn request(
    conn: &ConnHandle,
    id: String,
    node: Node,
    timeout: std::time::Duration,
) -> anyhow::Result<Node> {
    let (tx, rx) = oneshot::channel();
    lock(&conn.pending).insert(id.clone(), tx);
    conn.send(node);
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => bail!("connection closed before the client answered IQ {id}"),
        Err(_) => {
            lock(&conn.pending).remove(&id);
            bail!("client did not answer IQ {id} within {timeout:?}")
        }
    }
}

/// Sends `<pair-device>` with the configured number of refs on a fresh
/// registration connection and remembers the refs for `scan`.
pub fn offer_qr_refs(shared: &Shared, conn: &ConnHandle) {
    let count = shared.config.qr_ref_count;
    let refs: Vec<String> = (0..count)
        .map(|_| format!("2@sim{}", shared.next_id()))
        .collect();
    {
        let mut st = shared.lock();
        for r in &refs {
            st.qr_refs.insert(r.clone(), conn.id);
        }
    }
    let node = NodeBuilder::new(tag::IQ)
        .attrs([
            ("from", wire::SERVER_JID.to_string()),
            ("type", "set".to_string()),
            ("id", shared.stanza_id()),
            ("xmlns", wire::ns::MD.to_string()),
        ])
        .children([NodeBuilder::new(tag::PAIR_DEVICE)
            .children(
                refs.into_iter()
                    .map(|r| NodeBuilder::new(tag::REF).bytes(r.into_bytes()).build()),
            )
            .build()])
        .build();
    conn.send(node);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_deep_link_qr_codes() {
        let key = BASE64_STANDARD.encode([7u8; 32]);
        let adv = BASE64_STANDARD.encode([9u8; 32]);
        let qr = format!("2@ref,{key},{key},{adv},9");
        let parsed = parse_qr(&qr).unwrap();
        assert_eq!(parsed.pairing_ref, "2@ref");
        assert_eq!(parsed.identity_pub, [7u8; 32]);
        assert_eq!(parsed.adv_secret, [9u8; 32]);
        let linked = format!("https://wa.me/settings/linked_devices#{qr}");
        assert_eq!(parse_qr(&linked).unwrap().adv_secret, [9u8; 32]);
        assert!(parse_qr("2@ref,short").is_err());
        assert!(parse_qr(&format!("2@ref,{key},{key},AAAA,9")).is_err());
    }
}
