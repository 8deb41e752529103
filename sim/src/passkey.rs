//! The WebAuthn passkey of a gated account: the P-256 credential the
//! simulator holds for the account's owner, the request options the server
//! issues for it, the assertion the owner's browser would make with it (so a
//! test can play the operator), and the server's check of an assertion.
//!
//! Only the WebAuthn part lives here; the linking handshake around it is in
//! `passkey_gate.rs`.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::prelude::BASE64_URL_SAFE_NO_PAD as B64URL;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::EncodePrivateKey as _;
use rand::RngExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::wire::webauthn;

/// Why the server refuses a step of the passkey gate. Each maps to one IQ
/// error (`code`, `text`); the client reports it as
/// `code=…, text='…'` in its `PasskeyError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The ECDSA signature does not verify (or is not DER).
    Signature,
    /// `authenticatorData`'s rpIdHash is not SHA-256 of `whatsapp.com`.
    RpId,
    /// `clientDataJSON.challenge` is not the outstanding challenge.
    Challenge,
    /// `clientDataJSON.origin` is not WhatsApp Web's.
    Origin,
    /// User presence or user verification flag missing.
    Flags,
    /// The credential (or user handle) is not the account's passkey.
    Credential,
    /// The challenge outlived `SimConfig::passkey_challenge_ttl`.
    Expired,
    /// Anything that does not parse.
    Malformed,
    /// The revealed companion nonce does not open the commitment.
    Commitment,
    /// No passkey attempt is open on this connection (never started, or
    /// ended by an earlier refusal), or the step comes out of order.
    NoAttempt,
}

impl Refusal {
    /// The IQ error code.
    pub fn code(self) -> u16 {
        match self {
            Refusal::Malformed => 400,
            Refusal::NoAttempt => 404,
            Refusal::Expired => 410,
            _ => 401,
        }
    }

    /// The IQ error text.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::Signature => "passkey-signature",
            Refusal::RpId => "passkey-rp-id",
            Refusal::Challenge => "passkey-challenge",
            Refusal::Origin => "passkey-origin",
            Refusal::Flags => "passkey-flags",
            Refusal::Credential => "passkey-credential",
            Refusal::Expired => "passkey-expired",
            Refusal::Malformed => "passkey-malformed",
            Refusal::Commitment => "passkey-commitment",
            Refusal::NoAttempt => "passkey-no-attempt",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

impl std::error::Error for Refusal {}

/// A gated account's passkey as a test (or an operator's browser) needs
/// it. `private_key_pkcs8` is what Chrome DevTools'
/// `WebAuthn.addCredential` takes (base64 of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPasskey {
    /// Raw credential id (16 random bytes).
    pub credential_id: Vec<u8>,
    /// Relying-party id: `whatsapp.com`.
    pub rp_id: String,
    /// The WebAuthn user handle of the account.
    pub user_handle: Vec<u8>,
    /// The P-256 private key, PKCS#8 DER.
    pub private_key_pkcs8: Vec<u8>,
}

/// Deviations from a correct assertion, for tests of each refusal.
/// `Default` is a correct assertion (user present and verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionTweaks {
    /// Sign for this relying-party id instead of the options' `rpId`.
    pub rp_id: Option<String>,
    /// Report this origin instead of `https://web.whatsapp.com`.
    pub origin: Option<String>,
    /// Put this base64url challenge in `clientDataJSON` instead of the
    /// options' one.
    pub challenge: Option<String>,
    /// Set the user-verified flag (UV).
    pub user_verified: bool,
    /// Set the user-present flag (UP).
    pub user_present: bool,
    /// Sign other bytes than the ones WebAuthn signs: a well-formed DER
    /// signature by the right key that does not verify.
    pub corrupt_signature: bool,
}

impl Default for AssertionTweaks {
    fn default() -> Self {
        Self {
            rp_id: None,
            origin: None,
            challenge: None,
            user_verified: true,
            user_present: true,
            corrupt_signature: false,
        }
    }
}

/// A challenge the server issued, with the options JSON that carries it.
#[derive(Clone)]
pub struct Challenge {
    /// The raw 32 challenge bytes.
    pub bytes: [u8; 32],
    /// `PublicKeyCredentialRequestOptions` JSON sent to the companion.
    pub options_json: String,
    /// When the challenge stops being accepted.
    pub expires_at: Instant,
}

/// A passkey registered to an account: the simulator plays both the
/// authenticator (it holds the private key) and the server (it verifies).
pub struct Credential {
    id: [u8; 16],
    user_handle: [u8; 16],
    key: SigningKey,
}

impl Credential {
    /// A fresh credential with a random id, user handle and key.
    pub fn generate() -> Self {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let mut id = [0u8; 16];
        let mut user_handle = [0u8; 16];
        rng.fill(&mut id);
        rng.fill(&mut user_handle);
        Self {
            id,
            user_handle,
            key: SigningKey::generate(),
        }
    }

    /// The credential as a test sees it.
    pub fn export(&self) -> anyhow::Result<TestPasskey> {
        let pkcs8 = self
            .key
            .to_pkcs8_der()
            .map_err(|e| anyhow!("PKCS#8 encoding: {e}"))?;
        Ok(TestPasskey {
            credential_id: self.id.to_vec(),
            rp_id: webauthn::RP_ID.to_string(),
            user_handle: self.user_handle.to_vec(),
            private_key_pkcs8: pkcs8.as_bytes().to_vec(),
        })
    }

    /// A fresh random challenge valid for `ttl`, and the request options
    /// that carry it (WhatsApp's shape; `timeout` is the ttl in ms).
    pub fn challenge(&self, ttl: Duration) -> Challenge {
        let mut bytes = [0u8; 32];
        rand::make_rng::<rand::rngs::StdRng>().fill(&mut bytes);
        let options = json!({
            "challenge": B64URL.encode(bytes),
            "rpId": webauthn::RP_ID,
            "allowCredentials": [{"type": "public-key", "id": B64URL.encode(self.id)}],
            "userVerification": "required",
            "timeout": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        });
        Challenge {
            bytes,
            options_json: options.to_string(),
            expires_at: Instant::now() + ttl,
        }
    }

    /// What the owner's browser returns from `navigator.credentials.get`
    /// for `options_json`, serialised as WhatsApp Web sends it: `{id, rawId,
    /// type, response: {clientDataJSON, authenticatorData, signature,
    /// userHandle}}`, binary fields base64url. Fails where a browser would
    /// (options that are not JSON, lack a challenge, or do not allow this
    /// credential).
    pub fn assert(&self, options_json: &str, tweaks: &AssertionTweaks) -> anyhow::Result<String> {
        let options: Value =
            serde_json::from_str(options_json).context("request options are not JSON")?;
        let challenge = match &tweaks.challenge {
            Some(c) => c.clone(),
            None => options
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("request options have no challenge"))?
                .to_string(),
        };
        let own_id = B64URL.encode(self.id);
        if let Some(allowed) = options.get("allowCredentials").and_then(Value::as_array)
            && !allowed.is_empty()
            && !allowed
                .iter()
                .any(|c| c.get("id").and_then(Value::as_str) == Some(own_id.as_str()))
        {
            bail!("request options do not allow this passkey's credential");
        }
        let rp_id = tweaks
            .rp_id
            .as_deref()
            .or_else(|| options.get("rpId").and_then(Value::as_str))
            .unwrap_or(webauthn::RP_ID);
        let origin = tweaks.origin.as_deref().unwrap_or(webauthn::ORIGIN);

        // Key order as browsers serialise clientDataJSON.
        let client_data = format!(
            r#"{{"type":{},"challenge":{},"origin":{},"crossOrigin":false}}"#,
            Value::from(webauthn::TYPE_GET),
            Value::from(challenge),
            Value::from(origin),
        );
        let mut flags = 0u8;
        if tweaks.user_present {
            flags |= webauthn::FLAG_UP;
        }
        if tweaks.user_verified {
            flags |= webauthn::FLAG_UV;
        }
        // rpIdHash ‖ flags ‖ signCount (0: synced passkeys do not count).
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&[0; 4]);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        if tweaks.corrupt_signature {
            signed.push(0);
        }
        let signature: DerSignature = self.key.sign(&signed);
        Ok(json!({
            "id": own_id,
            "rawId": own_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": B64URL.encode(client_data.as_bytes()),
                "authenticatorData": B64URL.encode(&auth_data),
                "signature": B64URL.encode(signature.as_bytes()),
                "userHandle": B64URL.encode(self.user_handle),
            }
        })
        .to_string())
    }

    /// The server's check of an assertion for `challenge`: JSON shape,
    /// credential, clientData (type, challenge, expiry, origin),
    /// authenticatorData (rpIdHash, UP and UV flags), then the ECDSA
    /// signature over `authenticatorData ‖ SHA-256(clientDataJSON)`.
    pub fn verify(
        &self,
        credential_id: &[u8],
        assertion_json: &[u8],
        challenge: &Challenge,
    ) -> Result<(), Refusal> {
        let assertion: Value =
            serde_json::from_slice(assertion_json).map_err(|_| Refusal::Malformed)?;
        if text(&assertion, "type")? != "public-key" {
            return Err(Refusal::Malformed);
        }
        let id = b64url(text(&assertion, "id")?)?;
        let raw_id = b64url(text(&assertion, "rawId")?)?;
        let response = assertion.get("response").ok_or(Refusal::Malformed)?;
        let client_data_json = b64url(text(response, "clientDataJSON")?)?;
        let auth_data = b64url(text(response, "authenticatorData")?)?;
        let signature = b64url(text(response, "signature")?)?;
        let user_handle = match response.get("userHandle") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(b64url(s)?),
            Some(_) => return Err(Refusal::Malformed),
        };

        if [credential_id, &id, &raw_id].iter().any(|c| *c != self.id)
            || user_handle.is_some_and(|u| u != self.user_handle)
        {
            return Err(Refusal::Credential);
        }

        let client_data: Value =
            serde_json::from_slice(&client_data_json).map_err(|_| Refusal::Malformed)?;
        if text(&client_data, "type")? != webauthn::TYPE_GET {
            return Err(Refusal::Malformed);
        }
        let got = B64URL
            .decode(text(&client_data, "challenge")?.trim_end_matches('='))
            .ok();
        if got.as_deref() != Some(&challenge.bytes[..]) {
            return Err(Refusal::Challenge);
        }
        if Instant::now() >= challenge.expires_at {
            return Err(Refusal::Expired);
        }
        if text(&client_data, "origin")? != webauthn::ORIGIN {
            return Err(Refusal::Origin);
        }

        // rpIdHash (32) ‖ flags (1) ‖ signCount (4) at least.
        if auth_data.len() < 37 {
            return Err(Refusal::Malformed);
        }
        if auth_data[..32] != Sha256::digest(webauthn::RP_ID.as_bytes())[..] {
            return Err(Refusal::RpId);
        }
        let required = webauthn::FLAG_UP | webauthn::FLAG_UV;
        if auth_data[32] & required != required {
            return Err(Refusal::Flags);
        }

        let signature = DerSignature::from_bytes(&signature).map_err(|_| Refusal::Signature)?;
        let mut signed = auth_data;
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        self.key
            .verifying_key()
            .verify(&signed, &signature)
            .map_err(|_| Refusal::Signature)
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, Refusal> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or(Refusal::Malformed)
}

/// Base64url as browsers emit it (unpadded); padding is tolerated.
fn b64url(s: &str) -> Result<Vec<u8>, Refusal> {
    B64URL
        .decode(s.trim_end_matches('='))
        .map_err(|_| Refusal::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_with(tweaks: &AssertionTweaks) -> Result<(), Refusal> {
        let cred = Credential::generate();
        let challenge = cred.challenge(Duration::from_secs(60));
        let assertion = cred.assert(&challenge.options_json, tweaks).unwrap();
        cred.verify(&cred.id, assertion.as_bytes(), &challenge)
    }

    #[test]
    fn a_correct_assertion_verifies() {
        assert_eq!(verify_with(&AssertionTweaks::default()), Ok(()));
    }

    #[test]
    fn each_tweak_meets_its_refusal() {
        let t = AssertionTweaks::default;
        let cases = [
            (
                AssertionTweaks {
                    corrupt_signature: true,
                    ..t()
                },
                Refusal::Signature,
            ),
            (
                AssertionTweaks {
                    rp_id: Some("evil.example".into()),
                    ..t()
                },
                Refusal::RpId,
            ),
            (
                AssertionTweaks {
                    challenge: Some(B64URL.encode([1u8; 32])),
                    ..t()
                },
                Refusal::Challenge,
            ),
            (
                AssertionTweaks {
                    origin: Some("https://evil.example".into()),
                    ..t()
                },
                Refusal::Origin,
            ),
            (
                AssertionTweaks {
                    user_verified: false,
                    ..t()
                },
                Refusal::Flags,
            ),
            (
                AssertionTweaks {
                    user_present: false,
                    ..t()
                },
                Refusal::Flags,
            ),
        ];
        for (tweaks, want) in cases {
            assert_eq!(verify_with(&tweaks), Err(want), "{tweaks:?}");
        }
    }

    #[test]
    fn another_credential_and_a_stale_challenge_are_refused() {
        let cred = Credential::generate();
        let other = Credential::generate();
        let challenge = cred.challenge(Duration::from_secs(60));
        // The other key signs for a request that allows any credential.
        let open: Value = serde_json::from_str(&challenge.options_json).unwrap();
        let mut open = open;
        open["allowCredentials"] = json!([]);
        let foreign = other
            .assert(&open.to_string(), &AssertionTweaks::default())
            .unwrap();
        assert_eq!(
            cred.verify(&other.id, foreign.as_bytes(), &challenge),
            Err(Refusal::Credential)
        );
        assert!(
            other
                .assert(&challenge.options_json, &AssertionTweaks::default())
                .is_err(),
            "a browser refuses options that do not allow its credential"
        );

        let stale = Challenge {
            expires_at: Instant::now(),
            ..challenge
        };
        let assertion = cred
            .assert(&stale.options_json, &AssertionTweaks::default())
            .unwrap();
        assert_eq!(
            cred.verify(&cred.id, assertion.as_bytes(), &stale),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn malformed_input_is_refused_without_panic() {
        let cred = Credential::generate();
        let challenge = cred.challenge(Duration::from_secs(60));
        let good = cred
            .assert(&challenge.options_json, &AssertionTweaks::default())
            .unwrap();
        let mut truncated_auth: Value = serde_json::from_str(&good).unwrap();
        truncated_auth["response"]["authenticatorData"] = json!("AAAA");
        let mut not_b64: Value = serde_json::from_str(&good).unwrap();
        not_b64["response"]["signature"] = json!("***");
        for bad in [
            b"".to_vec(),
            b"not json".to_vec(),
            b"[]".to_vec(),
            br#"{"type":"public-key"}"#.to_vec(),
            truncated_auth.to_string().into_bytes(),
            not_b64.to_string().into_bytes(),
        ] {
            assert_eq!(
                cred.verify(&cred.id, &bad, &challenge),
                Err(Refusal::Malformed),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn the_exported_key_is_pkcs8_of_the_signing_key() {
        use p256::pkcs8::DecodePrivateKey as _;
        let cred = Credential::generate();
        let export = cred.export().unwrap();
        let key = SigningKey::from_pkcs8_der(&export.private_key_pkcs8).unwrap();
        assert_eq!(key.verifying_key(), cred.key.verifying_key());
        assert_eq!(export.credential_id.len(), 16);
        assert_eq!(export.rp_id, "whatsapp.com");
    }
}
