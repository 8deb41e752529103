//! Events: one class whose `type` names what happened and whose other
//! attributes are set when that kind of event has them (else `None`).

use std::sync::Arc;
use std::time::SystemTime;

use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::call::call;
use crate::options::seconds;
use crate::types::LinkedUser;

/// Something that happened in the gateway.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq, Default)]
pub(crate) struct Event {
    /// `qr_updated`, `pairing_code`, `qr_expired`, `passkey_required`,
    /// `passkey_confirmation`, `passkey_failed`, `connected`,
    /// `disconnected`, `logged_out`, `stopped`, `session_deleted`,
    /// `message_status`, `otp_sent`, `otp_delivery`, `otp_failed`,
    /// `otp_verified`, `health_changed` or `lagged`.
    r#type: String,
    /// The session it concerns.
    session_id: Option<String>,
    /// `qr_updated`: the raw QR payload.
    qr: Option<String>,
    /// `qr_updated`, `passkey_required`: when that code or challenge expires.
    expires_at: Option<SystemTime>,
    /// `passkey_required`: WhatsApp's WebAuthn request options, JSON.
    options_json: Option<String>,
    /// `passkey_required`: the console snippet that answers them.
    snippet: Option<String>,
    /// `qr_updated`: codes issued in this pairing attempt.
    refresh_count: Option<u32>,
    /// `pairing_code`: the code to type on the phone; `passkey_confirmation`:
    /// the code the phone shows; `otp_failed`, `passkey_failed`: the error code.
    code: Option<String>,
    /// `connected`: the linked account.
    user: Option<LinkedUser>,
    /// Why (`disconnected`, `logged_out`, `stopped`, `otp_failed`,
    /// `passkey_failed`, failed deliveries).
    reason: Option<String>,
    /// The WhatsApp message it concerns.
    message_id: Option<String>,
    /// Recipient, E.164 digits.
    to: Option<String>,
    /// `message_status`, `otp_delivery`: `pending`, `sent`, `delivered`, `read` or `failed`.
    status: Option<String>,
    /// The OTP verification it concerns.
    verification_id: Option<String>,
    /// `otp_verified`: the outcome's name.
    outcome: Option<String>,
    /// `otp_verified` with `invalid`: attempts left.
    attempts_left: Option<u32>,
    /// `otp_verified`: `code`, or `inbound` (the user sent a token).
    method: Option<String>,
    /// `lagged`: events this subscriber missed.
    missed: Option<u64>,
    /// `health_changed`: the session's health now.
    health: Option<crate::types::SessionHealth>,
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        // Only what is set, as the kind of event decides.
        let mut parts = vec![format!("type={:?}", self.r#type)];
        let texts = [
            ("session_id", &self.session_id),
            ("message_id", &self.message_id),
            ("to", &self.to),
            ("status", &self.status),
            ("verification_id", &self.verification_id),
            ("outcome", &self.outcome),
            ("method", &self.method),
            ("reason", &self.reason),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                parts.push(format!("{name}={v:?}"));
            }
        }
        format!("Event({})", parts.join(", "))
    }
}

impl From<waotp::Event> for Event {
    fn from(e: waotp::Event) -> Self {
        let f = waotp::EventFields::from(e);
        Event {
            r#type: f.kind.to_owned(),
            session_id: f.session,
            qr: f.qr,
            expires_at: f.expires_at,
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
            missed: f.missed,
            health: f.health.as_ref().map(crate::types::SessionHealth::from),
        }
    }
}

/// A subscription to the gateway's events, from the moment it was made.
#[pyclass(frozen, module = "waotp._native")]
pub(crate) struct EventStream {
    stream: Arc<Mutex<waotp::EventStream>>,
}

impl EventStream {
    pub(crate) fn new(stream: waotp::EventStream) -> Self {
        EventStream {
            stream: Arc::new(Mutex::new(stream)),
        }
    }
}

#[pymethods]
impl EventStream {
    /// The next event, waiting up to `timeout` seconds (`None`: as long as
    /// it takes). `None` when the time ran out or the gateway closed.
    #[pyo3(signature = (timeout=None, awaitable=false))]
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wait = timeout.map(|t| seconds(py, t, "timeout")).transpose()?;
        let stream = self.stream.clone();
        call(py, awaitable, async move {
            let event = stream.lock().await.next_within(wait).await;
            Ok(event.map(Event::from))
        })
    }
}
