//! The passkey gate on linking (WhatsApp's SHORTCAKE_PASSKEY flow), server
//! and phone side. For a gated account the phone's scan (or its
//! pairing-code step) does not lead to `pair-success` at once:
//!
//! 1. the server sends `<notification type="passkey_prologue_request">`
//!    with WebAuthn request options;
//! 2. the companion fetches a `<ref>` and sends `<passkey_prologue>`: the
//!    assertion, its ephemeral identity, and a commitment to its nonce. The
//!    server checks the assertion (`passkey.rs`);
//! 3. the phone sends `<notification type="crsc_continuation">` with its
//!    ephemeral key and nonce;
//! 4. the companion reveals its nonce (`<companion_nonce>`); the phone
//!    checks the commitment and shows the verification code;
//! 5. the companion sends its `PairingRequest` (with a freshly rotated ADV
//!    secret) encrypted under the X25519 + HKDF key; the phone decrypts it
//!    and pairs as for a QR code, with that secret.
//!
//! The deterministic crypto is wacore's `ShortcakeUtils`, the same code the
//! companion runs. Any refusal ends the attempt: the companion needs a new
//! connection and a new scan.

use std::sync::Arc;
use std::time::Instant;

use wacore::libsignal::protocol::{KeyPair, PublicKey};
use wacore::shortcake::ShortcakeUtils;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Node, NodeContent};
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::iq::result_for;
use crate::passkey::{Challenge, Credential, Refusal};
use crate::state::{ConnHandle, Shared, now_secs};
use crate::wire::{self, tag, val};

/// An account whose companions must pass the passkey gate.
pub struct GatedAccount {
    /// The passkey registered to the account.
    pub credential: Arc<Credential>,
    /// The verification code the phone showed last (`XXXX-XXXX`, as the
    /// companion shows it).
    pub code: Option<String>,
}

/// One companion's passage through the gate (per connection).
pub struct Attempt {
    phone: String,
    name: String,
    /// The companion identity key from the scan, which pair-success signs.
    companion_identity: [u8; 32],
    /// Refs handed out by `get <ref/>`; the companion's ephemeral identity
    /// must name one of them.
    refs: Vec<String>,
    /// Tells this attempt from a later one on the same connection.
    seq: u64,
    stage: Stage,
}

enum Stage {
    AwaitingAssertion(Challenge),
    AwaitingNonce(Handshake),
    AwaitingPairingRequest(Handshake),
}

/// What the phone keeps between the accepted assertion and pairing.
#[derive(Clone)]
struct Handshake {
    /// `CompanionEphemeralIdentity` bytes, as committed to.
    companion_identity_bytes: Vec<u8>,
    commitment: [u8; 32],
    companion_eph: [u8; 32],
    device_type: wa::device_props::PlatformType,
    pairing_ref: String,
    phone_eph: KeyPair,
    phone_nonce: [u8; 32],
}

/// Whether an `md` IQ's child belongs to the gate.
pub fn handles(child_tag: &str) -> bool {
    [
        tag::REF,
        tag::PASSKEY_REQUEST_OPTIONS,
        tag::PASSKEY_PROLOGUE,
        tag::COMPANION_NONCE,
        tag::ENCRYPTED_PAIRING_REQUEST,
    ]
    .contains(&child_tag)
}

/// Gates `phone`'s linking behind a fresh passkey (kept if it already has
/// one, so a test's copy of the key stays valid).
pub fn require(shared: &Shared, phone: &str) {
    shared
        .lock()
        .passkeys
        .entry(phone.to_string())
        .or_insert_with(|| GatedAccount {
            credential: Arc::new(Credential::generate()),
            code: None,
        });
}

/// The passkey of a gated account.
pub fn credential(shared: &Shared, phone: &str) -> Option<Arc<Credential>> {
    shared
        .lock()
        .passkeys
        .get(phone)
        .map(|g| g.credential.clone())
}

/// The options of `phone`'s newest attempt still waiting for an assertion.
pub fn pending_options(shared: &Shared, phone: &str) -> Option<String> {
    let st = shared.lock();
    st.passkey_gates
        .values()
        .filter(|a| a.phone == phone)
        .filter_map(|a| match &a.stage {
            Stage::AwaitingAssertion(c) => Some((a.seq, c.options_json.clone())),
            _ => None,
        })
        .max_by_key(|(seq, _)| *seq)
        .map(|(_, options)| options)
}

/// Makes every challenge outstanding for `phone` stale now. Returns
/// whether there was one.
pub fn expire(shared: &Shared, phone: &str) -> bool {
    let mut st = shared.lock();
    let mut any = false;
    for attempt in st.passkey_gates.values_mut().filter(|a| a.phone == phone) {
        if let Stage::AwaitingAssertion(c) = &mut attempt.stage {
            c.expires_at = Instant::now();
            any = true;
        }
    }
    any
}

/// The last verification code the phone of `phone` showed.
pub fn code(shared: &Shared, phone: &str) -> Option<String> {
    shared.lock().passkeys.get(phone).and_then(|g| g.code.clone())
}

/// Called where the phone would send `pair-success`: for a gated `phone`
/// opens an attempt on `conn` and sends `passkey_prologue_request`
/// (returns `true`); for any other account does nothing (`false`).
pub fn start(
    shared: &Shared,
    conn: &ConnHandle,
    phone: &str,
    name: &str,
    companion_identity: [u8; 32],
) -> bool {
    let options = {
        let mut st = shared.lock();
        let Some(gated) = st.passkeys.get_mut(phone) else {
            return false;
        };
        gated.code = None;
        let challenge = gated
            .credential
            .challenge(shared.config.passkey_challenge_ttl);
        let options = challenge.options_json.clone();
        st.passkey_gates.insert(
            conn.id,
            Attempt {
                phone: phone.to_string(),
                name: name.to_string(),
                companion_identity,
                refs: Vec::new(),
                seq: shared.next_id(),
                stage: Stage::AwaitingAssertion(challenge),
            },
        );
        options
    };
    log::info!("{phone} is passkey-gated: asking the companion for an assertion");
    conn.send(notification(
        shared,
        val::NOTIF_PASSKEY_REQUEST,
        NodeBuilder::new(tag::PASSKEY_REQUEST_OPTIONS)
            .bytes(options.into_bytes())
            .build(),
    ));
    true
}

fn notification(shared: &Shared, kind: &str, child: Node) -> Node {
    NodeBuilder::new(tag::NOTIFICATION)
        .attrs([
            ("from", wire::SERVER_JID.to_string()),
            ("type", kind.to_string()),
            ("id", shared.stanza_id()),
            ("t", now_secs().to_string()),
        ])
        .children([child])
        .build()
}

fn content(node: &Node) -> Result<&[u8], Refusal> {
    match node.content.as_ref() {
        Some(NodeContent::Bytes(b)) => Ok(b),
        Some(NodeContent::String(s)) => Ok(s.as_bytes()),
        _ => Err(Refusal::Malformed),
    }
}

fn child_content<'a>(node: &'a Node, name: &str) -> Result<&'a [u8], Refusal> {
    node.get_optional_child(name)
        .ok_or(Refusal::Malformed)
        .and_then(content)
}

fn array32(bytes: Option<&[u8]>) -> Result<[u8; 32], Refusal> {
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::Malformed)
}

/// Answers one of the gate's `md` IQs (see [`handles`]) on `conn`.
pub fn handle_iq(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    iq: &Node,
    child: &Node,
) -> Result<Node, Refusal> {
    let mut st = shared.lock();
    // Taken out: a refusal leaves it out, which ends the attempt.
    let mut attempt = st
        .passkey_gates
        .remove(&conn.id)
        .ok_or(Refusal::NoAttempt)?;
    let answer = match (child.tag.as_ref(), &attempt.stage) {
        (tag::REF, Stage::AwaitingAssertion(_)) => {
            let pairing_ref = format!("2@simpk{}", shared.next_id());
            attempt.refs.push(pairing_ref.clone());
            result_for(
                iq,
                vec![
                    NodeBuilder::new(tag::REF)
                        .bytes(pairing_ref.into_bytes())
                        .build(),
                ],
            )
        }
        (tag::PASSKEY_REQUEST_OPTIONS, Stage::AwaitingAssertion(challenge)) => result_for(
            iq,
            vec![
                NodeBuilder::new(tag::PASSKEY_REQUEST_OPTIONS)
                    .bytes(challenge.options_json.clone().into_bytes())
                    .build(),
            ],
        ),
        (tag::PASSKEY_PROLOGUE, Stage::AwaitingAssertion(challenge)) => {
            let credential = st
                .passkeys
                .get(&attempt.phone)
                .map(|g| g.credential.clone())
                .ok_or(Refusal::NoAttempt)?;
            credential.verify(
                child_content(child, tag::CREDENTIAL_ID)?,
                child_content(child, tag::WEBAUTHN_ASSERTION)?,
                challenge,
            )?;
            let handshake = open_handshake(child_content(child, tag::PROLOGUE_PAYLOAD)?, &attempt)?;
            log::info!("{}: passkey assertion accepted", attempt.phone);
            send_continuation_later(shared, conn, attempt.seq, &handshake);
            attempt.stage = Stage::AwaitingNonce(handshake);
            result_for(iq, vec![])
        }
        (tag::COMPANION_NONCE, Stage::AwaitingNonce(handshake)) => {
            let nonce = array32(Some(content(child)?))?;
            if ShortcakeUtils::commitment_hash(&handshake.companion_identity_bytes, &nonce)
                != handshake.commitment
            {
                return Err(Refusal::Commitment);
            }
            let phone_pub = array32(Some(&handshake.phone_eph.public_key.public_key_bytes()))?;
            let bare =
                ShortcakeUtils::derive_verification_code(&nonce, &phone_pub, &handshake.phone_nonce);
            // Grouped as the companion displays it, so the two compare equal.
            let code = match (bare.get(..4), bare.get(4..)) {
                (Some(a), Some(b)) => format!("{a}-{b}"),
                _ => bare,
            };
            log::info!("{}: the phone shows code {code}", attempt.phone);
            if let Some(gated) = st.passkeys.get_mut(&attempt.phone) {
                gated.code = Some(code);
            }
            attempt.stage = Stage::AwaitingPairingRequest(handshake.clone());
            result_for(iq, vec![])
        }
        (tag::ENCRYPTED_PAIRING_REQUEST, Stage::AwaitingPairingRequest(handshake)) => {
            let adv_secret = open_pairing_request(content(child)?, handshake, &attempt)?;
            pair_later(shared, conn, &attempt, adv_secret);
            // The attempt is over: pairing proper takes it from here.
            return Ok(result_for(iq, vec![]));
        }
        _ => return Err(Refusal::NoAttempt),
    };
    st.passkey_gates.insert(conn.id, attempt);
    Ok(answer)
}

/// Reads the companion's prologue payload: its ephemeral identity (key,
/// device type, one of our refs) and its nonce commitment. Draws the
/// phone's ephemeral key and nonce.
fn open_handshake(payload: &[u8], attempt: &Attempt) -> Result<Handshake, Refusal> {
    let payload = wa::ProloguePayload::decode_from_slice(payload).map_err(|_| Refusal::Malformed)?;
    let commitment = array32(
        payload
            .commitment
            .as_option()
            .and_then(|c| c.hash.as_deref()),
    )?;
    let identity_bytes = payload
        .companion_ephemeral_identity
        .ok_or(Refusal::Malformed)?;
    let identity = wa::CompanionEphemeralIdentity::decode_from_slice(&identity_bytes)
        .map_err(|_| Refusal::Malformed)?;
    let companion_eph = array32(identity.public_key.as_deref())?;
    let device_type = identity.device_type.ok_or(Refusal::Malformed)?;
    let pairing_ref = identity.r#ref.ok_or(Refusal::Malformed)?;
    if !attempt.refs.contains(&pairing_ref) {
        return Err(Refusal::Malformed);
    }
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let mut phone_nonce = [0u8; 32];
    rand::RngExt::fill(&mut rng, &mut phone_nonce);
    Ok(Handshake {
        companion_identity_bytes: identity_bytes,
        commitment,
        companion_eph,
        device_type,
        pairing_ref,
        phone_eph: KeyPair::generate(&mut rng),
        phone_nonce,
    })
}

/// The phone answers an accepted assertion with its ephemeral identity,
/// `passkey_phone_delay` later: whatsapp-rust stores its handshake session
/// only after the prologue IQ's result came back, and drops a continuation
/// that arrives before.
fn send_continuation_later(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    seq: u64,
    handshake: &Handshake,
) {
    let identity = wa::PrimaryEphemeralIdentity {
        public_key: Some(handshake.phone_eph.public_key.public_key_bytes().to_vec()),
        nonce: Some(handshake.phone_nonce.to_vec()),
    }
    .encode_to_vec();
    let node = notification(
        shared,
        val::NOTIF_PASSKEY_CONTINUATION,
        NodeBuilder::new(tag::PRIMARY_EPHEMERAL_IDENTITY)
            .bytes(identity)
            .build(),
    );
    let (shared, conn) = (shared.clone(), conn.clone());
    tokio::spawn(async move {
        tokio::time::sleep(shared.config.passkey_phone_delay).await;
        let current = shared
            .lock()
            .passkey_gates
            .get(&conn.id)
            .is_some_and(|a| a.seq == seq);
        if current {
            conn.send(node);
        }
    });
}

/// Decrypts the companion's `EncryptedPairingRequest` with the key both
/// sides derive (X25519 of the ephemerals, HKDF salted with the device type
/// and ref) and returns the rotated ADV secret it carries.
fn open_pairing_request(
    wrapped: &[u8],
    handshake: &Handshake,
    attempt: &Attempt,
) -> Result<[u8; 32], Refusal> {
    let malformed = |_| Refusal::Malformed;
    let request = wa::EncryptedPairingRequest::decode_from_slice(wrapped).map_err(malformed)?;
    let iv: [u8; 12] = request
        .iv
        .as_deref()
        .and_then(|iv| iv.try_into().ok())
        .ok_or(Refusal::Malformed)?;
    let ciphertext = request.encrypted_payload.ok_or(Refusal::Malformed)?;
    let companion = PublicKey::from_djb_public_key_bytes(&handshake.companion_eph)
        .map_err(|_| Refusal::Malformed)?;
    let secret = handshake
        .phone_eph
        .private_key
        .calculate_agreement(&companion)
        .map_err(|_| Refusal::Malformed)?;
    let key = ShortcakeUtils::derive_encryption_key_from_shared_secret(
        &secret,
        handshake.device_type,
        &handshake.pairing_ref,
    )
    .map_err(|_| Refusal::Malformed)?;
    let mut plaintext = Vec::new();
    wacore::libsignal::crypto::aes_256_gcm_decrypt(&key, &iv, b"", &ciphertext, &mut plaintext)
        .map_err(|_| Refusal::Malformed)?;
    let request = wa::PairingRequest::decode_from_slice(&plaintext).map_err(malformed)?;
    // pair-success signs the scanned identity; a request for another
    // companion must not rotate this one's secret.
    if request.companion_identity_key.as_deref() != Some(&attempt.companion_identity[..]) {
        return Err(Refusal::Malformed);
    }
    array32(request.adv_secret.as_deref())
}

/// Pairs `passkey_phone_delay` after the pairing request's result, with the
/// rotated secret: whatsapp-rust commits that secret only once the IQ
/// result is back, and checks pair-success's HMAC against its stored one.
fn pair_later(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, attempt: &Attempt, adv: [u8; 32]) {
    let (shared, conn) = (shared.clone(), conn.clone());
    let (phone, name, identity) = (
        attempt.phone.clone(),
        attempt.name.clone(),
        attempt.companion_identity,
    );
    tokio::spawn(async move {
        tokio::time::sleep(shared.config.passkey_phone_delay).await;
        if let Err(e) =
            crate::pairing::complete_pairing(&shared, &conn, &phone, &name, identity, adv).await
        {
            log::warn!("passkey-gated pairing of {phone} failed: {e:#}");
        }
    });
}
