//! Pairing-code linking from the phone's side: answer `companion_hello`
//! with a ref, "enter" the code (send `primary_hello`), decrypt
//! `companion_finish`, derive the ADV secret, then pair as for a QR code.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tokio::sync::oneshot;
use wacore::libsignal::protocol::{KeyPair, PublicKey};
use wacore::pair_code::PairCodeUtils;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use crate::iq::result_for;
use crate::state::{ConnHandle, EnteredCode, PairCodeFlow, Shared};
use crate::wire::{self, tag, val};

fn child_bytes(node: &Node, name: &str) -> anyhow::Result<Vec<u8>> {
    match node
        .get_optional_child(name)
        .and_then(|c| c.content.as_ref())
    {
        Some(wacore_binary::NodeContent::Bytes(b)) => Ok(b.clone()),
        _ => bail!("<{name}> missing or not bytes"),
    }
}

fn phone_of(reg: &Node) -> anyhow::Result<String> {
    let jid = reg
        .attrs
        .get("jid")
        .map(|v| v.to_string())
        .ok_or_else(|| anyhow!("link_code_companion_reg without jid"))?;
    Ok(jid.split(['@', ':']).next().unwrap_or_default().to_string())
}

/// Handles a `link_code_companion_reg` IQ (companion_hello or
/// companion_finish). Returns the answer to send.
pub fn handle_iq(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    iq: &Node,
    reg: &Node,
) -> anyhow::Result<Node> {
    let stage = reg
        .attrs
        .get("stage")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let phone = phone_of(reg)?;
    match stage.as_str() {
        val::STAGE_COMPANION_HELLO => {
            let wrapped = child_bytes(reg, tag::WRAPPED_COMPANION_EPHEMERAL)?;
            if wrapped.len() != 80 {
                bail!("wrapped companion ephemeral must be 80 bytes");
            }
            let pairing_ref = format!("sim-code-{}", shared.next_id());
            shared.lock().pair_codes.insert(
                phone.clone(),
                PairCodeFlow {
                    conn_id: conn.id,
                    pairing_ref: pairing_ref.clone(),
                    wrapped_companion_eph: wrapped,
                    entered: None,
                },
            );
            log::info!("pair-code flow started for {phone}");
            Ok(result_for(
                iq,
                vec![
                    NodeBuilder::new(tag::LINK_CODE_COMPANION_REG)
                        .children([NodeBuilder::new(tag::LINK_CODE_PAIRING_REF)
                            .bytes(pairing_ref.into_bytes())
                            .build()])
                        .build(),
                ],
            ))
        }
        val::STAGE_COMPANION_FINISH => {
            let bundle = child_bytes(reg, tag::WRAPPED_KEY_BUNDLE)?;
            let companion_identity: [u8; 32] = child_bytes(reg, tag::COMPANION_IDENTITY_PUBLIC)?
                .try_into()
                .map_err(|_| anyhow!("companion identity must be 32 bytes"))?;
            let flow_entered = {
                let mut st = shared.lock();
                let flow = st
                    .pair_codes
                    .get_mut(&phone)
                    .ok_or_else(|| anyhow!("no pair-code flow for {phone}"))?;
                flow.entered
                    .take()
                    .ok_or_else(|| anyhow!("companion_finish before the code was entered"))?
            };
            let shared2 = shared.clone();
            let conn2 = conn.clone();
            // Pairing waits for the client's pair-device-sign, which this
            // connection's reader must read: run it on its own task.
            tokio::spawn(async move {
                let EnteredCode {
                    companion_eph,
                    primary_eph,
                    name,
                    done,
                } = flow_entered;
                let outcome = async {
                    let account_store = shared2.account_store(&phone)?;
                    let adv = {
                        let store = account_store.lock().await;
                        derive_adv_secret(
                            &primary_eph,
                            &companion_eph,
                            store.identity().private_key(),
                            &companion_identity,
                            &bundle,
                        )?
                    };
                    // A gated account goes through the passkey gate first;
                    // the companion then rotates the ADV secret anyway.
                    if !crate::passkey_gate::start(
                        &shared2,
                        &conn2,
                        &phone,
                        &name,
                        companion_identity,
                    ) {
                        crate::pairing::complete_pairing(
                            &shared2,
                            &conn2,
                            &phone,
                            &name,
                            companion_identity,
                            adv,
                        )
                        .await?;
                    }
                    shared2.lock().pair_codes.remove(&phone);
                    Ok(())
                }
                .await;
                if let Err(e) = &outcome {
                    log::warn!("pair-code pairing failed: {e:#}");
                }
                if let Some(done) = done {
                    let _ = done.send(outcome);
                }
            });
            Ok(result_for(iq, vec![]))
        }
        other => bail!("unknown link_code_companion_reg stage {other:?}"),
    }
}

/// Decrypts the companion's key bundle and derives the ADV secret exactly as
/// the companion did in `PairCodeUtils::prepare_key_bundle`.
fn derive_adv_secret(
    primary_eph: &KeyPair,
    companion_eph: &[u8; 32],
    primary_identity: &wacore::libsignal::protocol::PrivateKey,
    companion_identity: &[u8; 32],
    wrapped_bundle: &[u8],
) -> anyhow::Result<[u8; 32]> {
    if wrapped_bundle.len() < 32 + 12 + 16 {
        bail!("wrapped key bundle too short");
    }
    let eph_shared = primary_eph
        .private_key
        .calculate_agreement(&PublicKey::from_djb_public_key_bytes(companion_eph)?)?;
    let (salt, rest) = wrapped_bundle.split_at(32);
    let (iv, ciphertext) = rest.split_at(12);
    let mut key = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(
        &eph_shared,
        Some(salt),
        b"link_code_pairing_key_bundle_encryption_key",
        &mut key,
    )
    .map_err(|e| anyhow!("hkdf: {e:?}"))?;
    let iv: [u8; 12] = iv.try_into()?;
    let mut bundle = Vec::new();
    wacore::libsignal::crypto::aes_256_gcm_decrypt(&key, &iv, b"", ciphertext, &mut bundle)
        .map_err(|e| anyhow!("key bundle decrypt failed: {e:?}"))?;
    if bundle.len() != 96 || &bundle[..32] != companion_identity {
        bail!("key bundle does not match the companion identity");
    }
    let identity_shared = primary_identity
        .calculate_agreement(&PublicKey::from_djb_public_key_bytes(companion_identity)?)?;
    let mut combined = Vec::with_capacity(96);
    combined.extend_from_slice(&eph_shared);
    combined.extend_from_slice(&identity_shared);
    combined.extend_from_slice(&bundle[64..96]);
    let mut adv = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(&combined, None, b"adv_secret", &mut adv)
        .map_err(|e| anyhow!("hkdf: {e:?}"))?;
    Ok(adv)
}

/// The phone "enters" `code` for `phone`'s pending flow: sends
/// `primary_hello` and waits until pairing completed.
pub async fn enter_code(
    shared: &Arc<Shared>,
    phone: &str,
    code: &str,
    name: &str,
) -> anyhow::Result<()> {
    let (conn_id, pairing_ref, wrapped) = {
        let st = shared.lock();
        let flow = st
            .pair_codes
            .get(phone)
            .ok_or_else(|| anyhow!("no companion asked for a pairing code for {phone}"))?;
        (
            flow.conn_id,
            flow.pairing_ref.clone(),
            flow.wrapped_companion_eph.clone(),
        )
    };
    let conn = shared
        .lock()
        .conns
        .get(&conn_id)
        .cloned()
        .ok_or_else(|| anyhow!("the companion that asked for the code is gone"))?;
    crate::pairing::ensure_account(shared, phone, name)?;
    let identity_pub: Vec<u8> = {
        let store = shared.account_store(phone)?;
        let guard = store.lock().await;
        guard.identity().public_key().public_key_bytes().to_vec()
    };

    // PBKDF2 (131,072 rounds) twice: keep it off the async workers.
    let code_owned = code.to_string();
    let primary_eph = KeyPair::generate(&mut rand::make_rng::<rand::rngs::StdRng>());
    let primary_pub: [u8; 32] = primary_eph.public_key.public_key_bytes().try_into()?;
    let (companion_eph, wrapped_primary) = tokio::task::spawn_blocking(move || {
        // AES-CTR is symmetric: the decrypt helper unwraps the companion's key too.
        let companion_eph = PairCodeUtils::decrypt_primary_ephemeral_pub(&wrapped, &code_owned)
            .map_err(|e| anyhow!("{e}"))?;
        let wrapped_primary = PairCodeUtils::encrypt_ephemeral_pub(&primary_pub, &code_owned);
        anyhow::Ok((companion_eph, wrapped_primary))
    })
    .await
    .context("pair-code worker")??;

    let (done_tx, done_rx) = oneshot::channel();
    {
        let mut st = shared.lock();
        let flow = st
            .pair_codes
            .get_mut(phone)
            .ok_or_else(|| anyhow!("pair-code flow vanished"))?;
        flow.entered = Some(EnteredCode {
            companion_eph,
            primary_eph,
            name: name.to_string(),
            done: Some(done_tx),
        });
    }
    conn.send(
        NodeBuilder::new(tag::NOTIFICATION)
            .attrs([
                ("from", wire::SERVER_JID.to_string()),
                ("type", val::NOTIF_LINK_CODE.to_string()),
                ("id", shared.stanza_id()),
                ("t", crate::state::now_secs().to_string()),
            ])
            .children([NodeBuilder::new(tag::LINK_CODE_COMPANION_REG)
                .attr("stage", val::STAGE_PRIMARY_HELLO)
                .children([
                    NodeBuilder::new(tag::WRAPPED_PRIMARY_EPHEMERAL)
                        .bytes(wrapped_primary.to_vec())
                        .build(),
                    NodeBuilder::new(tag::PRIMARY_IDENTITY_PUB)
                        .bytes(identity_pub)
                        .build(),
                    NodeBuilder::new(tag::LINK_CODE_PAIRING_REF)
                        .bytes(pairing_ref.into_bytes())
                        .build(),
                ])
                .build()])
            .build(),
    );
    match tokio::time::timeout(shared.config.pairing_timeout * 2, done_rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => bail!("pair-code flow was dropped"),
        Err(_) => bail!("companion did not finish pair-code linking in time"),
    }
}
