//! The typed results: frozen classes with read-only attributes, one per
//! core value. Times are UTC-aware `datetime`s, durations seconds (`float`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use pyo3::prelude::*;

/// `Name(field=repr(value), …)`, from the object's own attributes, so the
/// text is what Python would print for each value.
pub(crate) fn repr(obj: &Bound<'_, PyAny>, name: &str, fields: &[&str]) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        let value = obj.getattr(*f)?.repr()?;
        parts.push(format!("{f}={}", value.extract::<String>()?));
    }
    Ok(format!("{name}({})", parts.join(", ")))
}

/// Declares `__repr__` from the listed attributes.
macro_rules! repr_of {
    ($ty:ident, $($field:literal),+) => {
        #[pymethods]
        impl $ty {
            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                $crate::types::repr(slf.as_any(), stringify!($ty), &[$($field),+])
            }
        }
    };
}
pub(crate) use repr_of;

/// The WhatsApp account a session is linked to.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct LinkedUser {
    /// The device's JID (`6281234567890:12@s.whatsapp.net`).
    jid: String,
    /// The account's phone number, E.164 digits.
    phone: String,
    /// The account's push name, when WhatsApp has told it.
    name: Option<String>,
}
repr_of!(LinkedUser, "jid", "phone", "name");

impl From<&waotp::LinkedUser> for LinkedUser {
    fn from(u: &waotp::LinkedUser) -> Self {
        LinkedUser {
            jid: u.jid.clone(),
            phone: u.phone.clone(),
            name: u.name.clone(),
        }
    }
}

/// A snapshot of a session.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct SessionStatus {
    /// Session id.
    session_id: String,
    /// `starting`, `awaiting_scan`, `passkey_required`, `connecting`,
    /// `connected`, `reconnecting`, `logged_out`, `qr_expired` or `stopped`.
    state: String,
    /// Whether the session can send right now.
    is_connected: bool,
    /// The linked account, once known.
    user: Option<LinkedUser>,
    /// When the session entered this state.
    since: SystemTime,
    /// When the session was last connected.
    last_seen: Option<SystemTime>,
    /// QR codes issued in the current pairing attempt.
    qr_refresh_count: u32,
    /// Why the session is in this state (logged out, stopped, …).
    reason: Option<String>,
    /// In state `passkey_required`: what WhatsApp asks for and the console
    /// snippet that answers it; else `None`.
    passkey: Option<PasskeyChallenge>,
    /// What WhatsApp lets the linked number do now.
    health: SessionHealth,
}
repr_of!(
    SessionStatus,
    "session_id",
    "state",
    "is_connected",
    "user",
    "since",
    "reason",
    "passkey",
    "health"
);

impl From<waotp::SessionStatus> for SessionStatus {
    fn from(s: waotp::SessionStatus) -> Self {
        SessionStatus {
            session_id: s.id,
            state: s.state.as_str().to_owned(),
            is_connected: s.is_connected,
            user: s.user.as_ref().map(LinkedUser::from),
            since: s.since,
            last_seen: s.last_seen,
            qr_refresh_count: s.qr_refresh_count,
            reason: s.reason,
            passkey: s.passkey.map(PasskeyChallenge::from),
            health: SessionHealth::from(&s.health),
        }
    }
}

/// The account's quota of new chats in the current cycle, as WhatsApp
/// reported it last.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct NewChatQuota {
    /// New chats opened this cycle.
    used: u32,
    /// New chats allowed per cycle.
    total: u32,
    /// New chats left this cycle.
    remaining: u32,
    /// When the cycle ends, when WhatsApp said.
    cycle_ends: Option<SystemTime>,
}
repr_of!(NewChatQuota, "used", "total", "cycle_ends");

/// What WhatsApp lets a session's linked number do.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct SessionHealth {
    /// `ok`, `new_chats_limited` (codes to recipients without a chat with
    /// the number are refused), `banned` or `logged_out`.
    state: String,
    /// When the limit or ban ends, when WhatsApp said.
    until: Option<SystemTime>,
    /// With `new_chats_limited`: `timelock` or `capped`.
    reason: Option<String>,
    /// The new-chat quota, once WhatsApp has told it.
    quota: Option<NewChatQuota>,
    /// Messages WhatsApp refused over the last hour, by nack code.
    nacks_last_hour: BTreeMap<String, u32>,
}
repr_of!(SessionHealth, "state", "until", "reason", "quota");

impl From<&waotp::SessionHealth> for SessionHealth {
    fn from(h: &waotp::SessionHealth) -> Self {
        SessionHealth {
            state: h.state.as_str().to_owned(),
            until: h.state.until(),
            reason: h.state.reason().map(|r| r.as_str().to_owned()),
            quota: h.quota.as_ref().map(|q| NewChatQuota {
                used: q.used,
                total: q.total,
                remaining: q.remaining(),
                cycle_ends: q.cycle_ends,
            }),
            nacks_last_hour: h.nacks_last_hour.clone(),
        }
    }
}

/// The passkey (WebAuthn) check WhatsApp asks for before it completes a
/// link: run `snippet` in the console of a `https://web.whatsapp.com` tab and
/// hand what it prints to `submit_passkey_assertion`.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct PasskeyChallenge {
    /// The server's `PublicKeyCredentialRequestOptions`, verbatim JSON.
    options_json: String,
    /// When WhatsApp stops accepting an answer.
    expires_at: SystemTime,
    /// JavaScript for the console of a `https://web.whatsapp.com` tab: it
    /// calls `navigator.credentials.get` with the options and prints the
    /// assertion JSON.
    snippet: String,
    /// The code WhatsApp derived for this link (`XXXX-XXXX`), once it has
    /// one; the phone shows the same code.
    confirmation_code: Option<String>,
}
// The snippet is long and says nothing the options do not: left out.
repr_of!(
    PasskeyChallenge,
    "options_json",
    "expires_at",
    "confirmation_code"
);

impl From<waotp::PasskeyChallenge> for PasskeyChallenge {
    fn from(c: waotp::PasskeyChallenge) -> Self {
        PasskeyChallenge {
            options_json: c.options_json,
            expires_at: c.expires_at,
            snippet: c.snippet,
            confirmation_code: c.confirmation_code,
        }
    }
}

/// A pairing QR code and its renderings.
#[pyclass(frozen, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct QrCode {
    qr: waotp::QrCode,
}

impl From<waotp::QrCode> for QrCode {
    fn from(qr: waotp::QrCode) -> Self {
        QrCode { qr }
    }
}

#[pymethods]
impl QrCode {
    /// The raw payload, for any QR encoder.
    #[getter]
    fn raw(&self) -> &str {
        self.qr.raw()
    }

    /// When WhatsApp stops accepting this code (a new one replaces it).
    #[getter]
    fn expires_at(&self) -> SystemTime {
        self.qr.expires_at()
    }

    /// The code as a PNG image.
    fn png(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        self.qr.png().map_err(|e| crate::errors::to_py_err(py, e))
    }

    /// The PNG as a `data:image/png;base64,…` URL, for an `<img src>`.
    fn data_url(&self, py: Python<'_>) -> PyResult<String> {
        self.qr
            .png_data_url()
            .map_err(|e| crate::errors::to_py_err(py, e))
    }

    /// The code as an SVG document.
    fn svg(&self, py: Python<'_>) -> PyResult<String> {
        self.qr.svg().map_err(|e| crate::errors::to_py_err(py, e))
    }

    /// The code drawn with block characters, for a terminal.
    fn terminal(&self, py: Python<'_>) -> PyResult<String> {
        self.qr
            .terminal()
            .map_err(|e| crate::errors::to_py_err(py, e))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // The payload holds the session's keys: shown only in part.
        let expires = self.expires_at().into_pyobject(py)?.repr()?.to_string();
        let head: String = self.qr.raw().chars().take(8).collect();
        Ok(format!("QrCode(raw='{head}…', expires_at={expires})"))
    }
}

/// A message handed to WhatsApp by `send_text`.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct SentMessage {
    /// WhatsApp message id, for `message_status`.
    message_id: String,
    /// Recipient, E.164 digits.
    to: String,
    /// False when an idempotency key matched an earlier send and nothing new was sent.
    newly_sent: bool,
    /// The session that sent it (for `send_text_pool`: the one that finally did).
    session_id: String,
}
repr_of!(SentMessage, "message_id", "to", "newly_sent", "session_id");

impl From<waotp::SentMessage> for SentMessage {
    fn from(m: waotp::SentMessage) -> Self {
        SentMessage {
            message_id: m.id,
            to: m.to,
            newly_sent: m.newly_sent,
            session_id: m.session_id,
        }
    }
}

/// Where a sent message is.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct MessageStatus {
    /// WhatsApp message id.
    message_id: String,
    /// Session that sent it.
    session_id: String,
    /// Recipient, E.164 digits.
    to: String,
    /// `pending`, `sent`, `delivered`, `read` or `failed`.
    status: String,
    /// Why it failed, for `failed`.
    reason: Option<String>,
    /// When the status last changed.
    updated_at: SystemTime,
}
repr_of!(
    MessageStatus,
    "message_id",
    "to",
    "status",
    "reason",
    "updated_at"
);

impl From<waotp::MessageRecord> for MessageStatus {
    fn from(r: waotp::MessageRecord) -> Self {
        MessageStatus {
            reason: failure_reason(&r.status),
            status: r.status.as_str().to_owned(),
            message_id: r.id,
            session_id: r.session,
            to: r.to,
            updated_at: r.updated_at,
        }
    }
}

fn failure_reason(s: &waotp::DeliveryStatus) -> Option<String> {
    match s {
        waotp::DeliveryStatus::Failed { reason } => Some(reason.clone()),
        _ => None,
    }
}

/// An OTP that was sent (or, with an idempotency key, found already sent).
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct SentOtp {
    /// Verification id.
    verification_id: String,
    /// WhatsApp message id of the message that carries the code.
    message_id: Option<String>,
    /// The session that sent it (for a pool send: the one that finally did).
    session_id: String,
    /// Recipient, E.164 digits.
    to: String,
    /// When the code stops working.
    expires_at: SystemTime,
    /// The code itself, only when the request asked for it (`reveal=True`).
    code: Option<String>,
    /// True when an idempotency key matched a pending code and nothing was sent.
    replayed: bool,
}
repr_of!(
    SentOtp,
    "verification_id",
    "message_id",
    "session_id",
    "to",
    "expires_at",
    "replayed"
);

impl From<waotp::SentOtp> for SentOtp {
    fn from(s: waotp::SentOtp) -> Self {
        SentOtp {
            code: s.code.as_ref().map(|c| c.expose().to_owned()),
            verification_id: s.verification_id,
            message_id: s.message_id,
            session_id: s.session_id,
            to: s.to,
            expires_at: s.expires_at,
            replayed: s.replayed,
        }
    }
}

/// The answer to a code: `approved`, `invalid` (with `attempts_left`),
/// `expired`, `max_attempts` or `not_found`.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct VerifyResult {
    /// The outcome's name.
    outcome: String,
    /// For `invalid`: attempts left before the code locks (0: it just locked).
    attempts_left: Option<u32>,
}

#[pymethods]
impl VerifyResult {
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        repr(slf.as_any(), "VerifyResult", &["outcome", "attempts_left"])
    }

    /// Whether the code was right.
    #[getter]
    fn approved(&self) -> bool {
        self.outcome == "approved"
    }

    fn __bool__(&self) -> bool {
        self.approved()
    }
}

impl From<waotp::VerifyOutcome> for VerifyResult {
    fn from(o: waotp::VerifyOutcome) -> Self {
        VerifyResult {
            outcome: o.as_str().to_owned(),
            attempts_left: match o {
                waotp::VerifyOutcome::Invalid { attempts_left } => Some(attempts_left),
                _ => None,
            },
        }
    }
}

/// The state of a recipient's latest OTP.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct OtpStatus {
    /// Verification id.
    verification_id: String,
    /// Recipient, E.164 digits.
    to: String,
    /// Session that sent it.
    session_id: String,
    /// `pending`, `approved`, `canceled`, `expired` or `max_attempts_reached`.
    status: String,
    /// Delivery of the message that carried it, once known.
    delivery: Option<String>,
    /// WhatsApp message id of that message.
    message_id: Option<String>,
    /// When it was issued.
    created_at: SystemTime,
    /// When it stops (or stopped) working.
    expires_at: SystemTime,
    /// Codes checked so far.
    attempts: u32,
    /// Codes that may be checked.
    max_attempts: u32,
    /// Checks left.
    attempts_left: u32,
}
repr_of!(
    OtpStatus,
    "verification_id",
    "to",
    "status",
    "delivery",
    "attempts_left",
    "expires_at"
);

impl From<waotp::OtpStatus> for OtpStatus {
    fn from(s: waotp::OtpStatus) -> Self {
        OtpStatus {
            attempts_left: s.attempts_left(),
            verification_id: s.verification_id,
            to: s.recipient,
            session_id: s.session_id,
            status: s.state.as_str().to_owned(),
            delivery: s.delivery.as_ref().map(|d| d.as_str().to_owned()),
            message_id: s.message_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            attempts: s.attempts,
            max_attempts: s.max_attempts,
        }
    }
}

/// Verification outcomes counted.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct VerifyCounts {
    /// Right codes.
    approved: u64,
    /// Wrong codes.
    invalid: u64,
    /// Codes checked after their expiry.
    expired: u64,
    /// Codes checked once the OTP was locked.
    max_attempts_reached: u64,
    /// Checks with no pending OTP.
    not_found: u64,
}
repr_of!(
    VerifyCounts,
    "approved",
    "invalid",
    "expired",
    "max_attempts_reached",
    "not_found"
);

/// Verifications over one window: started, delivered, approved by method.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct Conversion {
    /// Verifications started (codes issued and inbound verifications).
    started: u64,
    /// Codes whose message reached the phone.
    delivered: u64,
    /// Approved with a typed code.
    approved_by_code: u64,
    /// Approved by the user sending the token.
    approved_inbound: u64,
    /// Approved / started; ``None`` when nothing started.
    rate: Option<f64>,
}
repr_of!(
    Conversion,
    "started",
    "delivered",
    "approved_by_code",
    "approved_inbound",
    "rate"
);

impl From<waotp::otp::Conversion> for Conversion {
    fn from(c: waotp::otp::Conversion) -> Self {
        Conversion {
            started: c.started,
            delivered: c.delivered,
            approved_by_code: c.approved_by_code,
            approved_inbound: c.approved_inbound,
            rate: c.rate,
        }
    }
}

/// The conversion figures over the last hour and the last day (in
/// 5-minute steps).
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct ConversionFigures {
    /// The last hour.
    last_hour: Conversion,
    /// The last day.
    last_day: Conversion,
}
repr_of!(ConversionFigures, "last_hour", "last_day");

/// Send and verification figures of the gateway or one session.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct SendStats {
    /// Sends attempted.
    sends_total: u64,
    /// Sends WhatsApp accepted.
    sends_successful: u64,
    /// Sends that failed.
    sends_failed: u64,
    /// `sends_successful / sends_total`, once there is a send.
    success_rate: Option<f64>,
    /// Mean send latency in milliseconds.
    mean_latency_ms: Option<f64>,
    /// Median send latency in milliseconds.
    p50_latency_ms: Option<f64>,
    /// 99th-percentile send latency in milliseconds.
    p99_latency_ms: Option<f64>,
    /// Longest send in milliseconds.
    max_latency_ms: Option<f64>,
    /// OTPs issued.
    otp_issued: u64,
    /// Requests refused by a limit.
    rate_limited: u64,
    /// Verification outcomes.
    verify: VerifyCounts,
    /// Started, delivered and approved over the last hour and day.
    conversion: ConversionFigures,
}
repr_of!(
    SendStats,
    "sends_total",
    "sends_successful",
    "sends_failed",
    "otp_issued",
    "rate_limited"
);

impl From<&waotp::otp::SendStats> for SendStats {
    fn from(s: &waotp::otp::SendStats) -> Self {
        SendStats {
            sends_total: s.sends_total,
            sends_successful: s.sends_successful,
            sends_failed: s.sends_failed,
            success_rate: s.success_rate,
            mean_latency_ms: s.mean_latency_ms,
            p50_latency_ms: s.p50_latency_ms,
            p99_latency_ms: s.p99_latency_ms,
            max_latency_ms: s.max_latency_ms,
            otp_issued: s.otp_issued,
            rate_limited: s.rate_limited,
            verify: VerifyCounts {
                approved: s.verify.approved,
                invalid: s.verify.invalid,
                expired: s.verify.expired,
                max_attempts_reached: s.verify.max_attempts_reached,
                not_found: s.verify.not_found,
            },
            conversion: ConversionFigures {
                last_hour: Conversion::from(s.conversion.last_hour),
                last_day: Conversion::from(s.conversion.last_day),
            },
        }
    }
}

/// The gateway's figures, in total and per session.
#[pyclass(frozen, get_all, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct Stats {
    /// Every session together.
    gateway: SendStats,
    /// Per session id.
    sessions: BTreeMap<String, SendStats>,
}
repr_of!(Stats, "gateway", "sessions");

impl From<waotp::otp::StatsSnapshot> for Stats {
    fn from(s: waotp::otp::StatsSnapshot) -> Self {
        Stats {
            gateway: SendStats::from(&s.gateway),
            sessions: s
                .sessions
                .iter()
                .map(|(k, v)| (k.clone(), SendStats::from(v)))
                .collect(),
        }
    }
}

/// What this build of waotp is.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct BuildInfo {
    /// waotp's version.
    version: String,
    /// The whatsapp-rust version it runs on.
    whatsapp_rust_version: String,
    /// Whether this is a sandbox build (simulator endpoint, manual clock;
    /// certificate checks off: never in production).
    sandbox: bool,
}
repr_of!(BuildInfo, "version", "whatsapp_rust_version", "sandbox");

/// The build of the loaded module.
#[pyfunction]
pub(crate) fn build_info() -> BuildInfo {
    let b = waotp::build_info();
    BuildInfo {
        version: b.version.to_owned(),
        whatsapp_rust_version: b.whatsapp_rust_version.to_owned(),
        sandbox: b.sandbox,
    }
}
