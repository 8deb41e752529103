//! The passkey gate of linking: what WhatsApp asks for, and the assertion
//! the operator hands back.
//!
//! For some accounts WhatsApp asks the linking device for a WebAuthn
//! assertion made by a passkey registered to the account (rpId
//! `whatsapp.com`). The passkey lives in the operator's password manager, not
//! here, so waotp shows the request ([`PasskeyChallenge`]) with a snippet to
//! run in a `https://web.whatsapp.com` tab, and takes the printed result
//! ([`PasskeyAssertion`]) back.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::model::time::unix_millis;

/// How long a challenge lives when the server's options do not say
/// (WhatsApp's `timeout`, in milliseconds, is used when present).
pub const DEFAULT_PASSKEY_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest assertion accepted, in bytes: a real one is under 2 KiB.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;

/// WhatsApp's request for a passkey assertion, while a link waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyChallenge {
    /// The server's `PublicKeyCredentialRequestOptions`, verbatim JSON.
    pub options_json: String,
    /// When WhatsApp stops accepting an answer.
    #[serde(with = "unix_millis")]
    pub expires_at: SystemTime,
    /// JavaScript to paste into the console of a `https://web.whatsapp.com`
    /// tab: it calls `navigator.credentials.get` with the options and prints
    /// the assertion as JSON, ready for `submit_passkey_assertion`.
    pub snippet: String,
    /// The code WhatsApp derived for this link, once it has one; the phone
    /// shows the same code.
    pub confirmation_code: Option<String>,
}

impl PasskeyChallenge {
    /// The challenge for the server's options JSON, received at `now`.
    pub fn new(options_json: &str, now: SystemTime) -> Self {
        let timeout = serde_json::from_str::<Value>(options_json)
            .ok()
            .and_then(|v| v.get("timeout").and_then(Value::as_u64))
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_PASSKEY_TIMEOUT, Duration::from_millis);
        PasskeyChallenge {
            options_json: options_json.to_owned(),
            expires_at: now + timeout,
            snippet: passkey_snippet(options_json),
            confirmation_code: None,
        }
    }
}

/// The console snippet for `options_json` (see [`PasskeyChallenge::snippet`]).
///
/// The options are embedded as a JSON literal (JSON is valid JavaScript);
/// binary fields travel as base64url, which `navigator.credentials.get`
/// wants as bytes, and the result is printed in the standard
/// `PublicKeyCredential` JSON shape.
pub fn passkey_snippet(options_json: &str) -> String {
    // Re-serialised when it parses, so the snippet holds one tidy line of
    // data whatever whitespace the server sent.
    let options = serde_json::from_str::<Value>(options_json)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| options_json.to_owned());
    format!(
        r#"(async () => {{
  const options = {options};
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const text = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const credential = await navigator.credentials.get({{ publicKey: {{ ...options,
    challenge: bytes(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({{ ...c, id: bytes(c.id) }})) }} }});
  const r = credential.response;
  const assertion = JSON.stringify({{ id: credential.id, rawId: text(credential.rawId), type: credential.type,
    response: {{ clientDataJSON: text(r.clientDataJSON), authenticatorData: text(r.authenticatorData),
      signature: text(r.signature), userHandle: r.userHandle ? text(r.userHandle) : null }} }});
  console.log(assertion);
  return assertion;
}})();"#
    )
}

/// A WebAuthn assertion as the snippet prints it, checked for shape.
///
/// Only the shape is checked here (fields present, base64url, a
/// `webauthn.get` client data): whether the passkey and its signature are
/// right is WhatsApp's to say.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    credential_id: Vec<u8>,
    json: String,
}

impl std::fmt::Debug for PasskeyAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyAssertion")
            .field(
                "credential_id",
                &URL_SAFE_NO_PAD.encode(&self.credential_id),
            )
            .finish_non_exhaustive()
    }
}

fn invalid(what: &str) -> Error {
    Error::InvalidArgument(format!("passkey assertion: {what}"))
}

/// The bytes of a base64url field (padding tolerated), which must not be empty.
fn field_bytes(object: &Value, name: &str) -> Result<Vec<u8>> {
    let text = object
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("`{name}` is missing or not a string")))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| invalid(&format!("`{name}` is not base64url")))?;
    if bytes.is_empty() {
        return Err(invalid(&format!("`{name}` is empty")));
    }
    Ok(bytes)
}

impl PasskeyAssertion {
    /// Reads the JSON the snippet printed (a `PublicKeyCredential`
    /// serialisation: `id`, `rawId`, `type`, `response.clientDataJSON`,
    /// `response.authenticatorData`, `response.signature`,
    /// `response.userHandle`). Malformed input is `INVALID_ARGUMENT`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_ASSERTION_LEN {
            return Err(invalid(&format!("longer than {MAX_ASSERTION_LEN} bytes")));
        }
        let value: Value =
            serde_json::from_str(text.trim()).map_err(|e| invalid(&format!("not JSON ({e})")))?;
        if !value.is_object() {
            return Err(invalid("not a JSON object"));
        }
        match value.get("type") {
            None => {}
            Some(Value::String(t)) if t == "public-key" => {}
            Some(_) => return Err(invalid("`type` must be \"public-key\"")),
        }
        let credential_id = field_bytes(&value, "rawId").or_else(|_| field_bytes(&value, "id"))?;
        if let Some(id) = value.get("id") {
            let id = id
                .as_str()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
                .ok_or_else(|| invalid("`id` is not base64url"))?;
            if id != credential_id {
                return Err(invalid("`id` and `rawId` name different credentials"));
            }
        }
        let response = value
            .get("response")
            .filter(|r| r.is_object())
            .ok_or_else(|| invalid("`response` is missing or not an object"))?;
        let client_data = field_bytes(response, "clientDataJSON")?;
        let authenticator_data = field_bytes(response, "authenticatorData")?;
        let signature = field_bytes(response, "signature")?;
        let user_handle = match response.get("userHandle") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(_) => Some(field_bytes(response, "userHandle")?),
        };
        // An authenticator's data starts with the 32-byte rpId hash, a flags
        // byte and a 4-byte counter.
        if authenticator_data.len() < 37 {
            return Err(invalid("`authenticatorData` is shorter than 37 bytes"));
        }
        let client: Value = serde_json::from_slice(&client_data)
            .map_err(|_| invalid("`clientDataJSON` is not JSON"))?;
        if client.get("type").and_then(Value::as_str) != Some("webauthn.get") {
            return Err(invalid(
                "`clientDataJSON` is not from navigator.credentials.get (type must be webauthn.get)",
            ));
        }
        // Re-serialised in WhatsApp Web's shape: what was read, nothing more.
        let id = URL_SAFE_NO_PAD.encode(&credential_id);
        let json = json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data),
                "authenticatorData": URL_SAFE_NO_PAD.encode(&authenticator_data),
                "signature": URL_SAFE_NO_PAD.encode(&signature),
                "userHandle": user_handle.map(|u| URL_SAFE_NO_PAD.encode(u)),
            }
        })
        .to_string();
        Ok(PasskeyAssertion {
            credential_id,
            json,
        })
    }

    /// The credential's raw id.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The assertion as JSON, in the shape WhatsApp takes.
    pub fn json(&self) -> &str {
        &self.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn sample() -> Value {
        json!({
            "id": b64(b"cred-1"),
            "rawId": b64(b"cred-1"),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(br#"{"type":"webauthn.get","challenge":"abc","origin":"https://web.whatsapp.com"}"#),
                "authenticatorData": b64(&[7u8; 37]),
                "signature": b64(b"sig"),
                "userHandle": b64(b"user"),
            }
        })
    }

    #[test]
    fn reads_what_the_snippet_prints() {
        let a = PasskeyAssertion::parse(&sample().to_string()).unwrap();
        assert_eq!(a.credential_id(), b"cred-1");
        let back: Value = serde_json::from_str(a.json()).unwrap();
        assert_eq!(back["response"]["signature"], b64(b"sig"));
        assert_eq!(back["response"]["userHandle"], b64(b"user"));
        assert!(!format!("{a:?}").contains(&b64(b"sig")));
    }

    #[test]
    fn padded_fields_and_a_null_user_handle_are_accepted() {
        let mut v = sample();
        v["response"]["signature"] = json!("c2ln");
        v["response"]["userHandle"] = Value::Null;
        v["rawId"] = json!(format!("{}==", b64(b"cred-1")));
        let a = PasskeyAssertion::parse(&v.to_string()).unwrap();
        assert_eq!(a.credential_id(), b"cred-1");
    }

    #[test]
    fn malformed_input_names_what_is_wrong() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1, 2]), "not a JSON object"),
            (json!({"id": "x"}), "`id`"),
            (json!({"type": "public-key"}), "`id` is missing"),
            (
                {
                    let mut v = sample();
                    v["type"] = json!("password");
                    v
                },
                "`type`",
            ),
            (
                {
                    let mut v = sample();
                    v["id"] = json!(b64(b"other"));
                    v
                },
                "different credentials",
            ),
            (
                {
                    let mut v = sample();
                    v["response"] = json!("x");
                    v
                },
                "`response`",
            ),
            (
                {
                    let mut v = sample();
                    v["response"]["signature"] = json!("!!");
                    v
                },
                "`signature` is not base64url",
            ),
            (
                {
                    let mut v = sample();
                    v["response"]["signature"] = json!("");
                    v
                },
                "`signature` is empty",
            ),
            (
                {
                    let mut v = sample();
                    v["response"]["authenticatorData"] = json!(b64(&[1; 10]));
                    v
                },
                "shorter than 37",
            ),
            (
                {
                    let mut v = sample();
                    v["response"]["clientDataJSON"] = json!(b64(br#"{"type":"webauthn.create"}"#));
                    v
                },
                "webauthn.get",
            ),
            (
                {
                    let mut v = sample();
                    v["response"]["userHandle"] = json!(5);
                    v
                },
                "`userHandle`",
            ),
        ];
        for (value, expected) in cases {
            let err = PasskeyAssertion::parse(&value.to_string()).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{value}");
            assert!(
                err.to_string().contains(expected),
                "{err} should mention {expected}"
            );
        }
        for text in ["", "not json", "{", &"x".repeat(MAX_ASSERTION_LEN + 1)] {
            let err = PasskeyAssertion::parse(text).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT");
        }
    }

    #[test]
    fn the_challenge_expires_when_the_server_says() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let c = PasskeyChallenge::new(r#"{"challenge":"YWJj","timeout":30000}"#, now);
        assert_eq!(c.expires_at, now + Duration::from_secs(30));
        let c = PasskeyChallenge::new(r#"{"challenge":"YWJj"}"#, now);
        assert_eq!(c.expires_at, now + DEFAULT_PASSKEY_TIMEOUT);
    }

    #[test]
    fn the_snippet_embeds_the_options_and_asks_the_browser() {
        let options = r#"{ "challenge": "YWJj", "rpId": "whatsapp.com" }"#;
        let s = passkey_snippet(options);
        assert!(
            s.contains(r#"const options = {"challenge":"YWJj","rpId":"whatsapp.com"};"#),
            "{s}"
        );
        assert!(s.contains("navigator.credentials.get"));
        assert!(s.contains("console.log(assertion)"));
    }
}
