//! The typed results: plain objects (interfaces in `index.d.ts`) and the
//! `QrCode` class. Times are `Date`s; counts are numbers.

use std::collections::HashMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use napi::Env;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::errors::js_error;

/// A core time as a JavaScript `Date`.
pub(crate) fn date(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// The WhatsApp account a session is linked to.
#[napi(object)]
pub struct LinkedUser {
    /// The device's JID (`6281234567890:12@s.whatsapp.net`).
    pub jid: String,
    /// The account's phone number, E.164 digits.
    pub phone: String,
    /// The account's push name, when WhatsApp has told it.
    pub name: Option<String>,
}

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
#[napi(object)]
pub struct SessionStatus {
    /// Session id.
    pub session_id: String,
    /// What the session is doing.
    #[napi(
        ts_type = "'starting' | 'awaiting_scan' | 'passkey_required' | 'connecting' | 'connected' | 'reconnecting' | 'logged_out' | 'qr_expired' | 'stopped'"
    )]
    pub state: String,
    /// Whether the session can send right now.
    pub is_connected: bool,
    /// The linked account, once known.
    pub user: Option<LinkedUser>,
    /// When the session entered this state.
    pub since: DateTime<Utc>,
    /// When the session was last connected.
    pub last_seen: Option<DateTime<Utc>>,
    /// QR codes issued in the current pairing attempt.
    pub qr_refresh_count: u32,
    /// Why the session is in this state (logged out, stopped, …).
    pub reason: Option<String>,
    /// In state `passkey_required`: what WhatsApp asks for and the snippet
    /// that answers it; absent in every other state.
    pub passkey: Option<PasskeyChallenge>,
    /// What WhatsApp lets the linked number do now.
    pub health: SessionHealth,
}

/// The account's quota of new chats in the current cycle, as WhatsApp
/// reported it last.
#[napi(object)]
pub struct NewChatQuota {
    /// New chats opened this cycle.
    pub used: u32,
    /// New chats allowed per cycle.
    pub total: u32,
    /// New chats left this cycle.
    pub remaining: u32,
    /// When the cycle ends, when WhatsApp said.
    pub cycle_ends: Option<DateTime<Utc>>,
}

/// What WhatsApp lets a session's linked number do.
#[napi(object)]
pub struct SessionHealth {
    /// `new_chats_limited`: codes to recipients without a chat with the
    /// number are refused (`ACCOUNT_LIMITED`) until `until`.
    #[napi(ts_type = "'ok' | 'new_chats_limited' | 'banned' | 'logged_out'")]
    pub state: String,
    /// When the limit or ban ends, when WhatsApp said.
    pub until: Option<DateTime<Utc>>,
    /// With `new_chats_limited`: which limit.
    #[napi(ts_type = "'timelock' | 'capped'")]
    pub reason: Option<String>,
    /// The new-chat quota, once WhatsApp has told it.
    pub quota: Option<NewChatQuota>,
    /// Messages WhatsApp refused over the last hour, by nack code.
    pub nacks_last_hour: HashMap<String, u32>,
}

impl From<&waotp::SessionHealth> for SessionHealth {
    fn from(h: &waotp::SessionHealth) -> Self {
        SessionHealth {
            state: h.state.as_str().to_owned(),
            until: h.state.until().map(date),
            reason: h.state.reason().map(|r| r.as_str().to_owned()),
            quota: h.quota.as_ref().map(|q| NewChatQuota {
                used: q.used,
                total: q.total,
                remaining: q.remaining(),
                cycle_ends: q.cycle_ends.map(date),
            }),
            nacks_last_hour: h
                .nacks_last_hour
                .iter()
                .map(|(code, n)| (code.clone(), *n))
                .collect(),
        }
    }
}

impl From<waotp::SessionStatus> for SessionStatus {
    fn from(s: waotp::SessionStatus) -> Self {
        SessionStatus {
            user: s.user.as_ref().map(LinkedUser::from),
            session_id: s.id,
            state: s.state.as_str().to_owned(),
            is_connected: s.is_connected,
            since: date(s.since),
            last_seen: s.last_seen.map(date),
            qr_refresh_count: s.qr_refresh_count,
            reason: s.reason,
            passkey: s.passkey.map(PasskeyChallenge::from),
            health: SessionHealth::from(&s.health),
        }
    }
}

/// WhatsApp's request for a passkey (WebAuthn) assertion before it completes
/// a link. Run `snippet` in the console of a `https://web.whatsapp.com` tab
/// and hand what it prints to `submitPasskeyAssertion` before `expiresAt`.
#[napi(object)]
pub struct PasskeyChallenge {
    /// WhatsApp's `PublicKeyCredentialRequestOptions`, verbatim JSON.
    pub options_json: String,
    /// When WhatsApp stops accepting an answer.
    pub expires_at: DateTime<Utc>,
    /// JavaScript for the browser console: it calls
    /// `navigator.credentials.get` with the options and prints the
    /// assertion JSON.
    pub snippet: String,
    /// The code WhatsApp derived for this link (`XXXX-XXXX`), once it has
    /// one; the phone shows the same code.
    pub confirmation_code: Option<String>,
}

impl From<waotp::PasskeyChallenge> for PasskeyChallenge {
    fn from(c: waotp::PasskeyChallenge) -> Self {
        PasskeyChallenge {
            options_json: c.options_json,
            expires_at: date(c.expires_at),
            snippet: c.snippet,
            confirmation_code: c.confirmation_code,
        }
    }
}

/// A pairing QR code and its renderings. Show one to the phone's owner
/// (WhatsApp → Linked devices → Link a device) before `expiresAt`.
#[napi]
pub struct QrCode {
    qr: waotp::QrCode,
}

impl From<waotp::QrCode> for QrCode {
    fn from(qr: waotp::QrCode) -> Self {
        QrCode { qr }
    }
}

#[napi]
impl QrCode {
    /// The raw payload, for any QR encoder.
    #[napi(getter)]
    pub fn raw(&self) -> String {
        self.qr.raw().to_owned()
    }

    /// When WhatsApp stops accepting this code (a new one replaces it).
    #[napi(getter)]
    pub fn expires_at(&self) -> DateTime<Utc> {
        date(self.qr.expires_at())
    }

    /// The code as a PNG image.
    #[napi]
    pub fn png(&self, env: &Env) -> napi::Result<Buffer> {
        self.qr
            .png()
            .map(Buffer::from)
            .map_err(|e| js_error(env, &e))
    }

    /// The PNG as a `data:image/png;base64,…` URL, for an `<img src>`.
    #[napi]
    pub fn data_url(&self, env: &Env) -> napi::Result<String> {
        self.qr.png_data_url().map_err(|e| js_error(env, &e))
    }

    /// The code as an SVG document.
    #[napi]
    pub fn svg(&self, env: &Env) -> napi::Result<String> {
        self.qr.svg().map_err(|e| js_error(env, &e))
    }

    /// The code drawn with block characters, for a terminal.
    #[napi]
    pub fn terminal(&self, env: &Env) -> napi::Result<String> {
        self.qr.terminal().map_err(|e| js_error(env, &e))
    }
}

/// A message handed to WhatsApp by `sendText`.
#[napi(object)]
pub struct SentMessage {
    /// WhatsApp message id, for `messageStatus`.
    pub message_id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// False when an idempotency key matched an earlier send and nothing new was sent.
    pub newly_sent: bool,
    /// The session that sent it (for `sendTextPool`: the one that finally did).
    pub session_id: String,
}

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
#[napi(object)]
pub struct MessageStatus {
    /// WhatsApp message id.
    pub message_id: String,
    /// Session that sent it.
    pub session_id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// How far the message got.
    #[napi(ts_type = "'pending' | 'sent' | 'delivered' | 'read' | 'failed'")]
    pub status: String,
    /// Why it failed, for `failed`.
    pub reason: Option<String>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

fn failure_reason(s: &waotp::DeliveryStatus) -> Option<String> {
    match s {
        waotp::DeliveryStatus::Failed { reason } => Some(reason.clone()),
        _ => None,
    }
}

impl From<waotp::MessageRecord> for MessageStatus {
    fn from(r: waotp::MessageRecord) -> Self {
        MessageStatus {
            reason: failure_reason(&r.status),
            status: r.status.as_str().to_owned(),
            message_id: r.id,
            session_id: r.session,
            to: r.to,
            updated_at: date(r.updated_at),
        }
    }
}

/// An OTP that was sent (or, with an idempotency key, found already sent).
#[napi(object)]
pub struct SentOtp {
    /// Verification id.
    pub verification_id: String,
    /// WhatsApp message id of the message that carries the code.
    pub message_id: Option<String>,
    /// The session that sent it (for `sendOtpPool`: the one that finally did).
    pub session_id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
    /// The code itself, only when the request asked for it (`revealCode: true`).
    /// Never send it to a browser.
    pub code: Option<String>,
    /// True when an idempotency key matched a pending code and nothing was sent.
    pub replayed: bool,
}

impl From<waotp::SentOtp> for SentOtp {
    fn from(s: waotp::SentOtp) -> Self {
        SentOtp {
            code: s.code.as_ref().map(|c| c.expose().to_owned()),
            verification_id: s.verification_id,
            message_id: s.message_id,
            session_id: s.session_id,
            to: s.to,
            expires_at: date(s.expires_at),
            replayed: s.replayed,
        }
    }
}

/// The answer to a code. A wrong code is an answer, not a rejection.
#[napi(object)]
pub struct VerifyResult {
    /// `approved`: the code was right (and is used up). `invalid`: wrong,
    /// `attemptsLeft` more may be tried. `expired`, `max_attempts`
    /// (locked after too many wrong codes), `not_found` (no pending code).
    #[napi(ts_type = "'approved' | 'invalid' | 'expired' | 'max_attempts' | 'not_found'")]
    pub outcome: String,
    /// For `invalid`: attempts left before the code locks (0: it just locked).
    pub attempts_left: Option<u32>,
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
#[napi(object)]
pub struct OtpStatus {
    /// Verification id.
    pub verification_id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// Session that sent it.
    pub session_id: String,
    /// Where the code stands.
    #[napi(ts_type = "'pending' | 'approved' | 'canceled' | 'expired' | 'max_attempts_reached'")]
    pub status: String,
    /// Delivery of the message that carried it, once known.
    #[napi(ts_type = "'pending' | 'sent' | 'delivered' | 'read' | 'failed'")]
    pub delivery: Option<String>,
    /// WhatsApp message id of that message.
    pub message_id: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// Codes checked so far.
    pub attempts: u32,
    /// Codes that may be checked.
    pub max_attempts: u32,
    /// Checks left.
    pub attempts_left: u32,
}

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
            created_at: date(s.created_at),
            expires_at: date(s.expires_at),
            attempts: s.attempts,
            max_attempts: s.max_attempts,
        }
    }
}

/// Verification outcomes counted.
#[napi(object)]
pub struct VerifyCounts {
    /// Right codes.
    pub approved: f64,
    /// Wrong codes.
    pub invalid: f64,
    /// Codes checked after their expiry.
    pub expired: f64,
    /// Codes checked once the OTP was locked.
    pub max_attempts_reached: f64,
    /// Checks with no pending OTP.
    pub not_found: f64,
}

/// Verifications over one window: started, delivered, approved by method.
#[napi(object)]
pub struct Conversion {
    /// Verifications started (codes issued and inbound verifications).
    pub started: f64,
    /// Codes whose message reached the phone.
    pub delivered: f64,
    /// Approved with a typed code.
    pub approved_by_code: f64,
    /// Approved by the user sending the token.
    pub approved_inbound: f64,
    /// Approved / started; absent when nothing started.
    pub rate: Option<f64>,
}

impl From<waotp::otp::Conversion> for Conversion {
    fn from(c: waotp::otp::Conversion) -> Self {
        Conversion {
            started: c.started as f64,
            delivered: c.delivered as f64,
            approved_by_code: c.approved_by_code as f64,
            approved_inbound: c.approved_inbound as f64,
            rate: c.rate,
        }
    }
}

/// The conversion figures over the last hour and day (in 5-minute steps).
#[napi(object)]
pub struct ConversionFigures {
    /// The last hour.
    pub last_hour: Conversion,
    /// The last day.
    pub last_day: Conversion,
}

/// Send and verification figures of the gateway or one session.
#[napi(object)]
pub struct SendStats {
    /// Sends attempted.
    pub sends_total: f64,
    /// Sends WhatsApp accepted.
    pub sends_successful: f64,
    /// Sends that failed.
    pub sends_failed: f64,
    /// `sendsSuccessful / sendsTotal`, once there is a send.
    pub success_rate: Option<f64>,
    /// Mean send latency in milliseconds.
    pub mean_latency_ms: Option<f64>,
    /// Median send latency in milliseconds.
    pub p50_latency_ms: Option<f64>,
    /// 99th-percentile send latency in milliseconds.
    pub p99_latency_ms: Option<f64>,
    /// Longest send in milliseconds.
    pub max_latency_ms: Option<f64>,
    /// OTPs issued.
    pub otp_issued: f64,
    /// Requests refused by a limit.
    pub rate_limited: f64,
    /// Verification outcomes.
    pub verify: VerifyCounts,
    /// Started, delivered and approved over the last hour and day.
    pub conversion: ConversionFigures,
}

impl From<&waotp::otp::SendStats> for SendStats {
    fn from(s: &waotp::otp::SendStats) -> Self {
        SendStats {
            sends_total: s.sends_total as f64,
            sends_successful: s.sends_successful as f64,
            sends_failed: s.sends_failed as f64,
            success_rate: s.success_rate,
            mean_latency_ms: s.mean_latency_ms,
            p50_latency_ms: s.p50_latency_ms,
            p99_latency_ms: s.p99_latency_ms,
            max_latency_ms: s.max_latency_ms,
            otp_issued: s.otp_issued as f64,
            rate_limited: s.rate_limited as f64,
            verify: VerifyCounts {
                approved: s.verify.approved as f64,
                invalid: s.verify.invalid as f64,
                expired: s.verify.expired as f64,
                max_attempts_reached: s.verify.max_attempts_reached as f64,
                not_found: s.verify.not_found as f64,
            },
            conversion: ConversionFigures {
                last_hour: Conversion::from(s.conversion.last_hour),
                last_day: Conversion::from(s.conversion.last_day),
            },
        }
    }
}

/// The gateway's figures, in total and per session.
#[napi(object)]
pub struct Stats {
    /// Every session together.
    pub gateway: SendStats,
    /// Per session id.
    pub sessions: HashMap<String, SendStats>,
}

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
#[napi(object)]
pub struct BuildInfo {
    /// waotp's version.
    pub version: String,
    /// The whatsapp-rust version it runs on.
    pub whatsapp_rust_version: String,
    /// Whether this is a sandbox build (simulator endpoint, manual clock;
    /// certificate checks off: never in production).
    pub sandbox: bool,
}

/// The build of the loaded addon.
#[napi]
pub fn build_info() -> BuildInfo {
    let b = waotp::build_info();
    BuildInfo {
        version: b.version.to_owned(),
        whatsapp_rust_version: b.whatsapp_rust_version.to_owned(),
        sandbox: b.sandbox,
    }
}
