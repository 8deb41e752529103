//! Signing a webhook as the Standard Webhooks specification does, so that
//! receivers can check it with any of its libraries.
//!
//! The secret is `whsec_` followed by base64 of at least 24 random bytes.
//! A request carries `webhook-id` (stable across retries, for
//! deduplication), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature`: `v1,` + base64 of
//! `HMAC-SHA256(secret, "{id}.{timestamp}.{body}")`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a secret.
const PREFIX: &str = "whsec_";
/// The fewest secret bytes accepted (the specification asks for 24 to 64).
const MIN_SECRET_BYTES: usize = 24;

/// A webhook signing secret. `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; the error says what is wrong, never the secret.
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a webhook secret starts with `{PREFIX}`"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| format!("a webhook secret is `{PREFIX}` and base64"))?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "a webhook secret holds at least {MIN_SECRET_BYTES} bytes, this one {}",
                bytes.len()
            ));
        }
        Ok(WebhookSecret(bytes))
    }

    /// The `webhook-signature` header for one attempt.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_the_same() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }

    #[test]
    fn bad_secrets_are_refused_without_being_shown() {
        let no_prefix = WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err();
        assert!(
            no_prefix.contains("whsec_") && !no_prefix.contains("MfKQ9r8G"),
            "{no_prefix}"
        );
        assert!(
            WebhookSecret::parse("whsec_***")
                .unwrap_err()
                .contains("base64")
        );
        let short = WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err();
        assert!(short.contains("at least 24 bytes, this one 5"), "{short}");
        assert!(WebhookSecret::parse("").is_err());
    }
}
