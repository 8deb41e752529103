//! The phone's app-state key share: right after pairing the real phone sends
//! the new companion an `AppStateSyncKeyShare` over Signal. Without it the
//! client waits 10 s (`KEY_SHARE_GRACE_SECS`) before going `Connected`.

use std::sync::Arc;

use anyhow::anyhow;
use rand::RngExt as _;
use wacore::libsignal::protocol::PreKeyBundle;
use waproto::buffa::MessageField;
use waproto::whatsapp as wa;

use crate::state::{ConnHandle, Shared, now_secs};

/// Encrypts a key share from the phone (device 0) to `phone:device`, using
/// the bundle the companion just uploaded, and sends it on `conn`.
pub async fn send(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    phone: &str,
    device: u32,
    bundle: &PreKeyBundle,
) -> anyhow::Result<()> {
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    // One key per account, shared with every companion (as the phone does).
    let (key_id, key_data) = {
        let mut st = shared.lock();
        let account = st
            .accounts
            .get_mut(phone)
            .ok_or_else(|| anyhow!("no account {phone}"))?;
        account
            .app_state_key
            .get_or_insert_with(|| {
                let mut key_id = vec![0u8; 6];
                rng.fill(&mut key_id[..]);
                let mut key_data = vec![0u8; 32];
                rng.fill(&mut key_data[..]);
                (key_id, key_data)
            })
            .clone()
    };
    let share = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            r#type: Some(wa::message::protocol_message::Type::APP_STATE_SYNC_KEY_SHARE),
            app_state_sync_key_share: MessageField::some(wa::message::AppStateSyncKeyShare {
                keys: vec![wa::message::AppStateSyncKey {
                    key_id: MessageField::some(wa::message::AppStateSyncKeyId {
                        key_id: Some(key_id),
                    }),
                    key_data: MessageField::some(wa::message::AppStateSyncKeyData {
                        key_data: Some(key_data),
                        fingerprint: MessageField::some(wa::message::AppStateSyncKeyFingerprint {
                            raw_id: Some(rng.random()),
                            current_index: Some(0),
                            device_indexes: vec![0, device],
                        }),
                        timestamp: Some(now_secs() * 1000),
                    }),
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = format!("SIMKS{}", shared.next_id());
    let stanza =
        crate::phone_message::encrypt(shared, phone, device, Some(bundle), id, &share).await?;
    conn.send(stanza);
    log::info!("sent app-state key share to {phone}:{device}");
    Ok(())
}
