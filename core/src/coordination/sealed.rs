//! The outbox's secret payloads at rest: a message's text (an OTP message
//! carries its code) and a passkey assertion are stored only sealed.
//!
//! AES-256-GCM, with a random 96-bit nonce per payload, under a key derived
//! with HKDF-SHA256 from the deployment's OTP secret. That secret is what
//! every process of a deployment already shares (to verify each other's
//! codes), and it is never stored beside the outbox: a file of its own in
//! the data dir (mode 0600) on one host, or supplied by the application
//! with Redis. The session the payload belongs to is the associated data,
//! so a payload moved to another session's request does not open.
//!
//! A sealed payload is `v1.` followed by base64url(nonce ‖ ciphertext ‖ tag).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::model::SessionId;

/// What the key is derived for: a different label gives an unrelated key,
/// so the outbox key tells nothing about the MAC key (the secret itself).
const KEY_INFO: &[u8] = b"waotp outbox payload key v1";
/// The version prefix of a sealed payload.
const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals and opens the outbox's secret payloads.
#[derive(Clone)]
pub(crate) struct OutboxKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxKey(<redacted>)")
    }
}

impl OutboxKey {
    /// The outbox key of the deployment whose OTP secret (its bytes) is
    /// `secret`.
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let mut okm = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, secret)
            .expand(KEY_INFO, okm.as_mut())
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
            .expect("32 bytes of HKDF output");
        let cipher = Aes256Gcm::new_from_slice(okm.as_ref()).expect("a 32-byte AES-256 key");
        OutboxKey { cipher }
    }

    /// `plaintext` sealed for `session`.
    pub(crate) fn seal(&self, session: &SessionId, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "OS random source failed: {e}"
            )))
        })?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: session.as_str().as_bytes(),
                },
            )
            .map_err(|_| Error::Store("sealing an outbox payload failed".into()))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The plaintext of a payload sealed for `session`; `STORE_ERROR` when
    /// it is damaged, sealed under another key (another OTP secret) or for
    /// another session. The error never shows the payload.
    pub(crate) fn open(&self, session: &SessionId, sealed: &str) -> Result<Zeroizing<String>> {
        let damaged = |why: &str| {
            Error::Store(format!(
                "an outbox payload of session `{session}` does not open: {why}"
            ))
        };
        let encoded = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| damaged("unknown format"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| damaged("not base64url"))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(damaged("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let mut plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: session.as_str().as_bytes(),
                },
            )
            .map_err(|_| {
                damaged("sealed under another OTP secret, for another session, or altered")
            })?;
        let text = String::from_utf8(std::mem::take(&mut plain));
        plain.zeroize();
        match text {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(e) => {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                Err(damaged("not UTF-8"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> OutboxKey {
        OutboxKey::derive(&[byte; 32])
    }

    #[test]
    fn a_sealed_payload_opens_only_with_its_key_and_session() {
        let shop = SessionId::parse("shop").unwrap();
        let other = SessionId::parse("other").unwrap();
        let sealed = key(1).seal(&shop, "Your code is 493027").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("493027"));
        assert_eq!(
            key(1).open(&shop, &sealed).unwrap().as_str(),
            "Your code is 493027"
        );
        for (k, s) in [(key(2), &shop), (key(1), &other)] {
            let e = k.open(s, &sealed).unwrap_err();
            assert_eq!(e.code(), "STORE_ERROR");
            assert!(!e.to_string().contains("493027"));
        }
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let shop = SessionId::parse("shop").unwrap();
        let k = key(3);
        assert_ne!(
            k.seal(&shop, "same").unwrap(),
            k.seal(&shop, "same").unwrap()
        );
    }

    #[test]
    fn damaged_payloads_are_store_errors_not_panics() {
        let shop = SessionId::parse("shop").unwrap();
        let k = key(4);
        let good = k.seal(&shop, "hello").unwrap();
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            "",
            "v1.",
            "v2.AAAA",
            "v1.!!!!",
            "v1.AAAAAAAA",
            flipped.as_str(),
        ] {
            assert_eq!(
                k.open(&shop, bad).unwrap_err().code(),
                "STORE_ERROR",
                "{bad}"
            );
        }
    }
}
