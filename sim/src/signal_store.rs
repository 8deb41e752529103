//! A small in-memory Signal protocol store: one per simulated identity
//! (a recipient's phone, or a linked account's primary phone).
//!
//! wacore-libsignal ships only the store traits, so the simulator implements
//! the four it needs here. Sessions are keyed by the remote address, which
//! gives one session per (this identity, remote sender) pair.

use std::collections::HashMap;

use async_trait::async_trait;
use wacore::libsignal::protocol::{
    CiphertextMessage, Direction, GenericSignedPreKey, IdentityChange, IdentityKey,
    IdentityKeyPair, IdentityKeyStore, KeyPair, PreKeyBundle, PreKeyId, PreKeyRecord,
    PreKeySignalMessage, PreKeyStore, ProtocolAddress, SessionRecord, SessionStore, SignalMessage,
    SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp,
    UsePQRatchet, message_decrypt, message_encrypt, process_prekey_bundle,
};

type SigResult<T> = Result<T, SignalProtocolError>;

/// The id of the single signed prekey each simulated identity publishes.
const SIGNED_PREKEY_ID: u32 = 1;

/// In-memory implementation of the identity, prekey, signed-prekey and
/// session stores for one simulated Signal identity.
pub struct SignalStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    sessions: HashMap<ProtocolAddress, SessionRecord>,
    known_identities: HashMap<ProtocolAddress, IdentityKey>,
    prekeys: HashMap<PreKeyId, PreKeyRecord>,
    signed_prekeys: HashMap<SignedPreKeyId, SignedPreKeyRecord>,
    next_prekey_id: u32,
}

fn rng() -> rand::rngs::StdRng {
    rand::make_rng::<rand::rngs::StdRng>()
}

impl SignalStore {
    /// A fresh identity with a random registration id and one signed prekey.
    pub fn generate() -> anyhow::Result<Self> {
        let mut rng = rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        // Registration ids are 14-bit on WhatsApp; any non-zero value works.
        let registration_id = (rand::RngExt::random::<u16>(&mut rng) as u32 & 0x3fff).max(1);
        let signed_kp = KeyPair::generate(&mut rng);
        let signature = identity
            .private_key()
            .calculate_signature(&signed_kp.public_key.serialize(), &mut rng)?;
        let signed = SignedPreKeyRecord::new(
            SIGNED_PREKEY_ID.into(),
            Timestamp::from_epoch_millis(now_millis()),
            &signed_kp,
            &signature,
        );
        let mut signed_prekeys = HashMap::new();
        signed_prekeys.insert(SIGNED_PREKEY_ID.into(), signed);
        Ok(Self {
            identity,
            registration_id,
            sessions: HashMap::new(),
            known_identities: HashMap::new(),
            prekeys: HashMap::new(),
            signed_prekeys,
            next_prekey_id: 1,
        })
    }

    /// This identity's key pair.
    pub fn identity(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// This identity's Signal registration id (the one its bundles carry).
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }

    /// Mints a fresh one-time prekey and returns a bundle advertising it, as
    /// the server would hand out for `device_id`.
    pub fn fresh_bundle(&mut self, device_id: u32) -> anyhow::Result<PreKeyBundle> {
        let kp = KeyPair::generate(&mut rng());
        let id = self.next_prekey_id;
        self.next_prekey_id += 1;
        self.prekeys
            .insert(id.into(), PreKeyRecord::new(id.into(), &kp));
        let signed = self
            .signed_prekeys
            .get(&SIGNED_PREKEY_ID.into())
            .ok_or_else(|| anyhow::anyhow!("signed prekey missing"))?;
        Ok(PreKeyBundle::new(
            self.registration_id,
            device_id.into(),
            Some((id.into(), kp.public_key)),
            SIGNED_PREKEY_ID.into(),
            signed.public_key()?,
            signed.signature()?.to_vec(),
            IdentityKey::new(*self.identity.public_key()),
        )?)
    }

    /// Decrypts an `<enc type="pkmsg|msg">` payload from `sender`.
    pub async fn decrypt(
        &mut self,
        sender: &ProtocolAddress,
        enc_type: &str,
        ciphertext: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        let message = match enc_type {
            "pkmsg" => {
                CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::try_from(ciphertext)?)
            }
            "msg" => CiphertextMessage::SignalMessage(SignalMessage::try_from(ciphertext)?),
            other => anyhow::bail!("unsupported enc type {other:?}"),
        };
        // The trait methods take separate &mut borrows of each store; a
        // temporary split keeps the borrow checker happy without cloning.
        let mut split = Split::from(&mut *self);
        let result = message_decrypt(
            &message,
            sender,
            &mut split.sessions,
            &mut split.identities,
            &mut split.prekeys,
            &split.signed,
            &mut rng(),
            UsePQRatchet::No,
        )
        .await;
        split.restore(self);
        let result = result?;
        if let Some(id) = result.consumed_prekey_id {
            self.prekeys.remove(&id);
        }
        Ok(result.plaintext)
    }

    /// Whether this identity has a session with `remote`.
    pub fn has_session(&self, remote: &ProtocolAddress) -> bool {
        self.sessions.contains_key(remote)
    }

    /// Starts a session with `remote` from its published `bundle`.
    pub async fn start_session(
        &mut self,
        remote: &ProtocolAddress,
        bundle: &PreKeyBundle,
    ) -> anyhow::Result<()> {
        let mut split = Split::from(&mut *self);
        let result = process_prekey_bundle(
            remote,
            &mut split.sessions,
            &mut split.identities,
            bundle,
            &mut rng(),
            UsePQRatchet::No,
        )
        .await;
        split.restore(self);
        result?;
        Ok(())
    }

    /// Encrypts `plaintext` for `remote`; returns (`"pkmsg"|"msg"`, bytes).
    pub async fn encrypt(
        &mut self,
        remote: &ProtocolAddress,
        plaintext: &[u8],
    ) -> anyhow::Result<(&'static str, Vec<u8>)> {
        let mut split = Split::from(&mut *self);
        let result = message_encrypt(
            plaintext,
            remote,
            &mut split.sessions,
            &mut split.identities,
        )
        .await;
        split.restore(self);
        Ok(match result? {
            CiphertextMessage::PreKeySignalMessage(m) => ("pkmsg", m.serialized().to_vec()),
            CiphertextMessage::SignalMessage(m) => ("msg", m.serialized().to_vec()),
            _ => anyhow::bail!("unexpected ciphertext kind"),
        })
    }
}

/// Current unix time in milliseconds.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The store split into its four parts so libsignal can borrow each one
/// mutably at the same time.
struct Split {
    sessions: Sessions,
    identities: Identities,
    prekeys: PreKeys,
    signed: SignedPreKeys,
}

impl Split {
    fn from(store: &mut SignalStore) -> Self {
        Self {
            sessions: Sessions(std::mem::take(&mut store.sessions)),
            identities: Identities {
                pair: store.identity.clone(),
                registration_id: store.registration_id,
                known: std::mem::take(&mut store.known_identities),
            },
            prekeys: PreKeys(std::mem::take(&mut store.prekeys)),
            signed: SignedPreKeys(std::mem::take(&mut store.signed_prekeys)),
        }
    }

    fn restore(self, store: &mut SignalStore) {
        store.sessions = self.sessions.0;
        store.known_identities = self.identities.known;
        store.prekeys = self.prekeys.0;
        store.signed_prekeys = self.signed.0;
    }
}

struct Sessions(HashMap<ProtocolAddress, SessionRecord>);
struct Identities {
    pair: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}
struct PreKeys(HashMap<PreKeyId, PreKeyRecord>);
struct SignedPreKeys(HashMap<SignedPreKeyId, SignedPreKeyRecord>);

#[async_trait]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SigResult<Option<SessionRecord>> {
        Ok(self.0.get(address).cloned())
    }
    async fn has_session(&self, address: &ProtocolAddress) -> SigResult<bool> {
        Ok(self.0.contains_key(address))
    }
    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: SessionRecord,
    ) -> SigResult<()> {
        self.0.insert(address.clone(), record);
        Ok(())
    }
}

#[async_trait]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> SigResult<IdentityKeyPair> {
        Ok(self.pair.clone())
    }
    async fn get_local_registration_id(&self) -> SigResult<u32> {
        Ok(self.registration_id)
    }
    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SigResult<IdentityChange> {
        let previous = self.known.insert(address.clone(), *identity);
        Ok(match previous {
            Some(p) if &p != identity => IdentityChange::ReplacedExisting,
            _ => IdentityChange::NewOrUnchanged,
        })
    }
    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> SigResult<bool> {
        // A simulator trusts everyone: identity changes are the client's
        // business, not the server's.
        Ok(true)
    }
    async fn get_identity(&self, address: &ProtocolAddress) -> SigResult<Option<IdentityKey>> {
        Ok(self.known.get(address).copied())
    }
}

#[async_trait]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> SigResult<PreKeyRecord> {
        self.0
            .get(&id)
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }
    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> SigResult<()> {
        self.0.insert(id, record.clone());
        Ok(())
    }
    async fn remove_pre_key(&mut self, id: PreKeyId) -> SigResult<()> {
        self.0.remove(&id);
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for SignedPreKeys {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SigResult<SignedPreKeyRecord> {
        self.0
            .get(&id)
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }
    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> SigResult<()> {
        self.0.insert(id, record.clone());
        Ok(())
    }
}
