//! Events: one object whose `type` names what happened (the name
//! `gateway.on` listens for) and whose other fields are set when that kind
//! of event has them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::options::millis;
use crate::promise::promise;
use crate::types::{LinkedUser, SessionHealth, date};

/// Something that happened in the gateway.
#[napi(object)]
pub struct Event {
    /// What happened, as `gateway.on` names it.
    #[napi(
        js_name = "type",
        ts_type = "'qr' | 'pairing-code' | 'passkey-required' | 'passkey-confirmation' | 'passkey-failed' | 'qr-expired' | 'connected' | 'disconnected' | 'logged-out' | 'stopped' | 'session-deleted' | 'message-status' | 'otp-sent' | 'otp-delivery' | 'otp-failed' | 'otp-verified' | 'health-changed' | 'lagged'"
    )]
    pub kind: String,
    /// The session it concerns.
    pub session_id: Option<String>,
    /// `qr`: the raw QR payload.
    pub qr: Option<String>,
    /// `qr`, `passkey-required`: when that code or challenge expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// `passkey-required`: WhatsApp's WebAuthn request options, verbatim JSON.
    pub options_json: Option<String>,
    /// `passkey-required`: the snippet to run in the console of a
    /// `https://web.whatsapp.com` tab; what it prints goes to
    /// `submitPasskeyAssertion`.
    pub snippet: Option<String>,
    /// `qr`: codes issued in this pairing attempt.
    pub refresh_count: Option<u32>,
    /// `pairing-code`: the code to type on the phone; `passkey-confirmation`:
    /// the code the phone shows (`XXXX-XXXX`); `otp-failed`, `passkey-failed`:
    /// the error code (`PASSKEY_REJECTED` or `PASSKEY_EXPIRED` for the latter).
    pub code: Option<String>,
    /// `connected`: the linked account.
    pub user: Option<LinkedUser>,
    /// Why (`disconnected`, `logged-out`, `stopped`, `otp-failed`,
    /// `passkey-failed`, failed deliveries).
    pub reason: Option<String>,
    /// The WhatsApp message it concerns.
    pub message_id: Option<String>,
    /// Recipient, E.164 digits.
    pub to: Option<String>,
    /// `message-status`, `otp-delivery`: how far the message got.
    #[napi(ts_type = "'pending' | 'sent' | 'delivered' | 'read' | 'failed'")]
    pub status: Option<String>,
    /// The OTP verification it concerns.
    pub verification_id: Option<String>,
    /// `otp-verified`: the outcome.
    #[napi(ts_type = "'approved' | 'invalid' | 'expired' | 'max_attempts' | 'not_found'")]
    pub outcome: Option<String>,
    /// `otp-verified` with `invalid`: attempts left.
    pub attempts_left: Option<u32>,
    /// `otp-verified`: `code`, or `inbound` (the user sent a token; `to`
    /// is the number that sent it).
    #[napi(ts_type = "'code' | 'inbound'")]
    pub method: Option<String>,
    /// `lagged`: events this listener missed.
    pub missed: Option<f64>,
    /// `health-changed`: the session's health now.
    pub health: Option<SessionHealth>,
}

/// The Node name of a core event kind: kebab-case, and `qr` for a new QR code.
fn node_name(kind: &str) -> String {
    match kind {
        "qr_updated" => "qr".to_owned(),
        other => other.replace('_', "-"),
    }
}

impl From<waotp::Event> for Event {
    fn from(e: waotp::Event) -> Self {
        let f = waotp::EventFields::from(e);
        Event {
            kind: node_name(f.kind),
            session_id: f.session,
            qr: f.qr,
            expires_at: f.expires_at.map(date),
            options_json: f.options_json,
            snippet: f.snippet,
            refresh_count: f.refresh_count,
            code: f.code,
            user: f.user.as_ref().map(LinkedUser::from),
            reason: f.reason,
            message_id: f.message_id,
            to: f.to,
            status: f.status.map(str::to_owned),
            verification_id: f.verification_id,
            outcome: f.outcome.map(str::to_owned),
            attempts_left: f.attempts_left,
            method: f.method.map(str::to_owned),
            missed: f.missed.map(|n| n as f64),
            health: f.health.as_ref().map(SessionHealth::from),
        }
    }
}

/// A subscription to the gateway's events from the moment it was made;
/// `for await (const e of gateway.events())` reads it.
#[napi]
pub struct EventStream {
    stream: Arc<Mutex<waotp::EventStream>>,
}

impl EventStream {
    pub(crate) fn new(stream: waotp::EventStream) -> Self {
        EventStream {
            stream: Arc::new(Mutex::new(stream)),
        }
    }
}

#[napi]
impl EventStream {
    /// The next event, waiting up to `timeoutMs` (default: as long as it
    /// takes). `null` when the time ran out or the gateway closed.
    #[napi(ts_return_type = "Promise<Event | null>")]
    pub fn next<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, Option<Event>>> {
        let stream = self.stream.clone();
        promise(
            env,
            async move {
                let wait = timeout_ms.map(|t| millis(t, "timeoutMs")).transpose()?;
                Ok(stream.lock().await.next_within(wait).await)
            },
            |event| event.map(Event::from),
        )
    }
}
