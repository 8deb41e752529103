//! [`OtpEngine`]: issue, verify, cancel and track one-time passwords.
//!
//! The engine knows nothing about WhatsApp. The gateway's `send_otp` calls
//! [`OtpEngine::issue`] (limits, code, MAC, message text), awaits
//! [`OtpEngine::pace`], sends the text through a session, then reports back
//! with [`OtpEngine::attach_message`], [`OtpEngine::record_delivery`] and
//! [`OtpStats::record_send`]. Verification needs no session at all.
//!
//! Methods that touch the store are async (the Redis store is a network
//! round trip); each is one or two store calls. The handle is cheap to clone
//! and `Send + Sync`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::DeliveryStatus;
use crate::model::check_idempotency_key;
use crate::platform::layout;

use super::clock::{Clock, SystemClock};
use super::code::{OtpCode, OtpMessage};
use super::generator::{check_length, generate_otp};
use super::limiter::{Admission, Limits};
use super::mac::CodeHasher;
use super::secret::OtpSecret;
use super::state::{OtpState, VerifyOutcome, effective_state};
use super::stats::OtpStats;
use super::store::{MemoryStore, OtpRecord, OtpStore, SqliteStore};
use super::template::{Locale, Template, check_company, minutes_of};

/// Shortest validity accepted.
pub const MIN_TTL: Duration = Duration::from_secs(10);
/// Longest validity accepted.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most attempts that may be allowed per code.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// Entered codes longer than this are not even hashed (they cannot match).
const MAX_CODE_INPUT: usize = 64;

/// Engine settings. Defaults follow the reference guide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtpConfig {
    /// Digits per code (4–10); default 6.
    pub length: usize,
    /// Validity of a code (10 s – 24 h); default 5 minutes.
    pub ttl: Duration,
    /// Codes that may be checked per OTP (1–100); default 3.
    pub max_attempts: u32,
    /// Language of the default message; default Indonesian.
    pub locale: Locale,
    /// Rate limits and pacing; see [`Limits::default`].
    pub limits: Limits,
    /// How long a record stays after its expiry, so that its final state
    /// (approved, expired, …) can still be read; default 10 minutes.
    pub retention: Duration,
    /// Expired records are removed opportunistically at most this often (on
    /// `issue`), besides explicit [`OtpEngine::cleanup_expired`]; default 60 s.
    pub cleanup_interval: Duration,
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig {
            length: 6,
            ttl: Duration::from_secs(300),
            max_attempts: 3,
            locale: Locale::Id,
            limits: Limits::default(),
            retention: Duration::from_secs(600),
            cleanup_interval: Duration::from_secs(60),
        }
    }
}

impl OtpConfig {
    /// Checks every field; `INVALID_ARGUMENT` names the first bad one.
    pub fn validate(&self) -> Result<()> {
        check_length(self.length)?;
        check_ttl(self.ttl)?;
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(Error::InvalidArgument(format!(
                "max_attempts must be 1 to {MAX_ATTEMPTS_LIMIT}, got {}",
                self.max_attempts
            )));
        }
        let windows = [
            ("sends_per_recipient", self.limits.sends_per_recipient),
            ("verifies_per_recipient", self.limits.verifies_per_recipient),
        ];
        for (name, w) in windows {
            if let Some(w) = w
                && (w.max == 0 || w.window.is_zero())
            {
                return Err(Error::InvalidArgument(format!(
                    "{name} needs a positive count and window (use None to turn it off)"
                )));
            }
        }
        Ok(())
    }
}

fn check_ttl(ttl: Duration) -> Result<()> {
    if (MIN_TTL..=MAX_TTL).contains(&ttl) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "ttl must be between {}s and {}s, got {}s",
            MIN_TTL.as_secs(),
            MAX_TTL.as_secs(),
            ttl.as_secs_f64()
        )))
    }
}

/// A recipient must arrive normalised (E.164 digits, no `+`): the store is
/// keyed by it, so `+62…` and `62…` must never become two recipients.
fn check_recipient(recipient: &str) -> Result<()> {
    if (5..=20).contains(&recipient.len()) && recipient.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::InvalidPhone(format!(
            "`{}` is not a normalised phone number (5–20 digits, country code first, no `+`)",
            recipient.chars().take(40).collect::<String>()
        )))
    }
}

fn check_session(session_id: &str) -> Result<()> {
    if !session_id.is_empty()
        && session_id.len() <= 64
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(Error::InvalidSessionId(
            session_id.chars().take(80).collect(),
        ))
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Options of one OTP send. Unset fields take the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtpRequest {
    /// Company named in the message; required when the template uses `{COMPANY}`
    /// (the default templates do).
    pub company_name: String,
    /// Digits (4–10).
    pub length: Option<usize>,
    /// Validity.
    pub ttl: Option<Duration>,
    /// Custom template: must contain `{OTP}`; may use `{COMPANY}` and `{MINUTES}`.
    pub template: Option<String>,
    /// Language of the default template.
    pub locale: Option<Locale>,
    /// Whether `send_otp` returns the code to its caller (read by the gateway;
    /// the engine always hands the code to the gateway, which has to send it).
    pub reveal_code: bool,
    /// Repeating a request with the same key while its code is still pending
    /// returns the same verification instead of sending a second code.
    pub idempotency_key: Option<String>,
}

impl OtpRequest {
    /// A request naming `company_name`, with every other option at its default.
    pub fn new(company_name: impl Into<String>) -> Self {
        OtpRequest {
            company_name: company_name.into(),
            ..Default::default()
        }
    }

    /// Sets the number of digits.
    pub fn length(mut self, length: usize) -> Self {
        self.length = Some(length);
        self
    }

    /// Sets the validity.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets a custom template.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Sets the language of the default template.
    pub fn locale(mut self, locale: Locale) -> Self {
        self.locale = Some(locale);
        self
    }

    /// Asks for the code in `send_otp`'s result.
    pub fn reveal_code(mut self, reveal: bool) -> Self {
        self.reveal_code = reveal;
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A code that was issued (or an earlier issuance replayed by idempotency key).
#[derive(Debug, Clone)]
pub struct IssuedOtp {
    /// Id of this verification.
    pub verification_id: String,
    /// Normalised recipient.
    pub recipient: String,
    /// Session that should send it.
    pub session_id: String,
    /// The code; `None` for a replay (only its MAC was kept).
    pub code: Option<OtpCode>,
    /// The message text to send; `None` for a replay (nothing to send again).
    pub message: Option<OtpMessage>,
    /// For a replay, the message that already carried the code, if known.
    pub message_id: Option<String>,
    /// When the code stops being accepted.
    pub expires_at: SystemTime,
    /// Validity the code was issued with.
    pub ttl: Duration,
    /// True when this is an earlier issuance returned for the same idempotency key.
    pub replayed: bool,
}

/// The result of one verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// What was found.
    pub outcome: VerifyOutcome,
    /// The recipient.
    pub recipient: String,
    /// The verification checked against (none for `NotFound` with no record).
    pub verification_id: Option<String>,
    /// The session that sent the code.
    pub session_id: Option<String>,
}

/// The state of a recipient's latest OTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpStatus {
    /// Id of the verification.
    pub verification_id: String,
    /// Normalised recipient.
    pub recipient: String,
    /// Session that sent it.
    pub session_id: String,
    /// Pending, approved, canceled, expired or max_attempts_reached.
    pub state: OtpState,
    /// Delivery status of the message that carried the code (none before it was sent).
    pub delivery: Option<DeliveryStatus>,
    /// That message's id.
    pub message_id: Option<String>,
    /// When it was issued.
    pub created_at: SystemTime,
    /// When it stops (or stopped) being accepted.
    pub expires_at: SystemTime,
    /// Codes checked so far.
    pub attempts: u32,
    /// Codes that may be checked in total.
    pub max_attempts: u32,
}

impl OtpStatus {
    fn of(r: OtpRecord, now_ms: u64) -> Self {
        OtpStatus {
            state: effective_state(&r, now_ms),
            created_at: time_of(r.created_at_ms),
            expires_at: time_of(r.expires_at_ms),
            verification_id: r.verification_id,
            recipient: r.recipient,
            session_id: r.session_id,
            delivery: r.delivery,
            message_id: r.message_id,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
        }
    }

    /// Attempts that remain.
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }
}

/// Builds an [`OtpEngine`].
///
/// Without a data dir: memory store and a random secret (codes do not survive
/// the process). With [`data_dir`](Self::data_dir): `data_dir/otp.db` (SQLite)
/// and `data_dir/otp.secret` (created once, mode 0600). An explicit store or
/// secret wins over the data dir.
#[derive(Debug, Default)]
pub struct OtpEngineBuilder {
    config: OtpConfig,
    store: Option<Arc<dyn OtpStore>>,
    secret: Option<OtpSecret>,
    clock: Option<Arc<dyn Clock>>,
    data_dir: Option<PathBuf>,
    stats: Option<Arc<OtpStats>>,
}

impl OtpEngineBuilder {
    /// Engine settings.
    pub fn config(mut self, config: OtpConfig) -> Self {
        self.config = config;
        self
    }

    /// Directory for `otp.db` and `otp.secret`.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// A store of the application's choice.
    pub fn store(mut self, store: Arc<dyn OtpStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A supplied HMAC secret (e.g. shared by several instances).
    pub fn secret(mut self, secret: OtpSecret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// A clock (tests: [`ManualClock`](super::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Statistics shared with the caller (the gateway records sends into them).
    pub fn stats(mut self, stats: Arc<OtpStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Checks the settings, opens the store and the secret.
    pub fn build(self) -> Result<OtpEngine> {
        self.config.validate()?;
        let secret = match (self.secret, &self.data_dir) {
            (Some(s), _) => s,
            (None, Some(dir)) => OtpSecret::load_or_create(&layout::otp_secret(dir))?,
            (None, None) => OtpSecret::generate()?,
        };
        let store: Arc<dyn OtpStore> = match (self.store, &self.data_dir) {
            (Some(s), _) => s,
            (None, Some(dir)) => Arc::new(SqliteStore::open_in(dir)?),
            (None, None) => Arc::new(MemoryStore::new()),
        };
        Ok(OtpEngine {
            inner: Arc::new(Inner {
                config: self.config,
                hasher: CodeHasher::new(&secret),
                store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                stats: self.stats.unwrap_or_default(),
                last_cleanup_ms: AtomicU64::new(0),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    config: OtpConfig,
    store: Arc<dyn OtpStore>,
    hasher: CodeHasher,
    clock: Arc<dyn Clock>,
    stats: Arc<OtpStats>,
    last_cleanup_ms: AtomicU64,
}

/// Issues and verifies OTPs. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct OtpEngine {
    inner: Arc<Inner>,
}

impl OtpEngine {
    /// A builder with default settings.
    pub fn builder() -> OtpEngineBuilder {
        OtpEngineBuilder::default()
    }

    /// Memory store, random secret, default settings.
    pub fn in_memory() -> Result<Self> {
        Self::builder().build()
    }

    /// SQLite store and secret file in `data_dir`, default settings.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::builder().data_dir(data_dir).build()
    }

    /// The settings in force.
    pub fn config(&self) -> &OtpConfig {
        &self.inner.config
    }

    /// The statistics (the gateway records sends with [`OtpStats::record_send`]).
    pub fn stats(&self) -> &Arc<OtpStats> {
        &self.inner.stats
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The MAC of stored codes, with this engine's secret (inbound tokens
    /// are stored under the same secret).
    pub(crate) fn hasher(&self) -> &CodeHasher {
        &self.inner.hasher
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn OtpStore> {
        &self.inner.store
    }

    /// Issues a code for `recipient` (normalised E.164 digits) to be sent by
    /// `session_id`, replacing any code the recipient had.
    ///
    /// Checks the request (`INVALID_ARGUMENT`), the recipient's send limits
    /// (`RATE_LIMITED` with the time to retry), then generates the code,
    /// stores its MAC and renders the message. With an idempotency key that
    /// matches the recipient's pending code from the same session (and whose
    /// message has not failed), returns that issuance again (`replayed`),
    /// without a new code and without counting against the limits.
    pub async fn issue(
        &self,
        recipient: &str,
        session_id: &str,
        req: &OtpRequest,
    ) -> Result<IssuedOtp> {
        self.issue_inner(recipient, session_id, req, None).await
    }

    /// [`issue`](Self::issue) for a code that will travel in the WhatsApp
    /// message `message_id`: the record is written once, already carrying the
    /// message id (delivery `pending`), so delivery reports find it and no
    /// second write is needed. A replayed issuance keeps its own message id.
    pub async fn issue_for_message(
        &self,
        recipient: &str,
        session_id: &str,
        req: &OtpRequest,
        message_id: &str,
    ) -> Result<IssuedOtp> {
        if message_id.is_empty() {
            return Err(Error::InvalidArgument(
                "message_id must not be empty".into(),
            ));
        }
        self.issue_inner(recipient, session_id, req, Some(message_id))
            .await
    }

    async fn issue_inner(
        &self,
        recipient: &str,
        session_id: &str,
        req: &OtpRequest,
        message_id: Option<&str>,
    ) -> Result<IssuedOtp> {
        let inner = &*self.inner;
        check_recipient(recipient)?;
        check_session(session_id)?;
        let length = req.length.unwrap_or(inner.config.length);
        check_length(length)?;
        let ttl = req.ttl.unwrap_or(inner.config.ttl);
        check_ttl(ttl)?;
        let locale = req.locale.unwrap_or(inner.config.locale);
        let template = match &req.template {
            Some(t) => Template::parse(t)?,
            None => Template::default_for(locale, minutes_of(ttl)),
        };
        let company = check_company(&req.company_name, template.uses_company())?;
        let key = req.idempotency_key.as_deref();
        if let Some(key) = key {
            check_idempotency_key(key)?;
        }

        let now = inner.clock.now_ms();
        self.maybe_cleanup(now).await;

        if let Some(key) = key
            && let Some(rec) = inner.store.get(recipient).await?
            && rec.idempotency_key.as_deref() == Some(key)
            && rec.session_id == session_id
            && effective_state(&rec, now) == OtpState::Pending
            && !matches!(rec.delivery, Some(DeliveryStatus::Failed { .. }))
        {
            return Ok(IssuedOtp {
                verification_id: rec.verification_id,
                recipient: rec.recipient,
                session_id: rec.session_id,
                code: None,
                message: None,
                message_id: rec.message_id,
                expires_at: time_of(rec.expires_at_ms),
                ttl: Duration::from_millis(rec.expires_at_ms.saturating_sub(rec.created_at_ms)),
                replayed: true,
            });
        }

        let admission = inner
            .store
            .take_send_slot(recipient, &inner.config.limits, now)
            .await?;
        if let Err(e) = admission.into_result(&inner.config.limits, session_id) {
            inner.stats.record_rate_limited(Some(session_id));
            return Err(e);
        }
        let code = generate_otp(length)?;
        let record = OtpRecord {
            verification_id: uuid::Uuid::new_v4().to_string(),
            recipient: recipient.to_string(),
            session_id: session_id.to_string(),
            mac: inner.hasher.mac(recipient, code.expose().as_bytes()),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ms(ttl)),
            attempts: 0,
            max_attempts: inner.config.max_attempts,
            state: OtpState::Pending,
            message_id: message_id.map(str::to_string),
            delivery: message_id.map(|_| DeliveryStatus::Pending),
            idempotency_key: key.map(str::to_string),
        };
        let message = OtpMessage::new(template.render(code.expose(), &company, ttl));
        inner.store.put(&record).await?;
        inner.stats.record_issued(session_id);
        Ok(IssuedOtp {
            expires_at: time_of(record.expires_at_ms),
            verification_id: record.verification_id,
            recipient: record.recipient,
            session_id: record.session_id,
            code: Some(code),
            message: Some(message),
            message_id: record.message_id,
            ttl,
            replayed: false,
        })
    }

    /// Reserves `session_id`'s next send slot and returns how long to wait
    /// before sending (await it; nothing sleeps here). `RATE_LIMITED` when the
    /// session's queue is already longer than the pacing's `max_wait`.
    pub async fn pace(&self, session_id: &str) -> Result<Duration> {
        let jitter_cap = self
            .inner
            .config
            .limits
            .session_pacing
            .map(|p| ms(p.jitter))
            .unwrap_or(0);
        // Jitter only needs to be unpredictable to an observer of send times;
        // a failing random source just means no jitter.
        let jitter = match jitter_cap {
            0 => 0,
            cap => getrandom::u64().map(|r| r % (cap + 1)).unwrap_or(0),
        };
        let now = self.inner.clock.now_ms();
        let limits = &self.inner.config.limits;
        let admission = if limits.session_pacing.is_some() {
            self.inner
                .store
                .reserve_pace(session_id, limits, now, jitter)
                .await?
        } else {
            Admission::GO
        };
        admission.into_result(limits, session_id).inspect_err(|_| {
            self.inner.stats.record_rate_limited(Some(session_id));
        })
    }

    /// Records the WhatsApp message id that carried a verification's code.
    /// `OTP_NOT_FOUND` if the verification was replaced or cleaned up meanwhile.
    pub async fn attach_message(&self, verification_id: &str, message_id: &str) -> Result<()> {
        if self
            .inner
            .store
            .set_message_id(verification_id, message_id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::OtpNotFound(verification_id.to_string()))
        }
    }

    /// Records that session `session_id` carries a verification's code now,
    /// in message `message_id` (a sender pool failing over: same code,
    /// another number). `OTP_NOT_FOUND` if the verification is gone.
    pub async fn attach_sender(
        &self,
        verification_id: &str,
        session_id: &str,
        message_id: &str,
    ) -> Result<()> {
        if self
            .inner
            .store
            .set_sender(verification_id, session_id, message_id)
            .await?
        {
            Ok(())
        } else {
            Err(Error::OtpNotFound(verification_id.to_string()))
        }
    }

    /// Moves the delivery status of the OTP carried by `message_id` forward.
    /// Returns false when no OTP has that message (a plain text message, or a
    /// code already replaced); that is not an error.
    pub async fn record_delivery(&self, message_id: &str, status: DeliveryStatus) -> Result<bool> {
        self.inner.store.record_delivery(message_id, &status).await
    }

    /// Checks `code` for `recipient`; the outcome is a value (see [`VerifyOutcome`]).
    ///
    /// `RATE_LIMITED` when the recipient used up its verification window.
    /// Surrounding whitespace is ignored; anything else that is not the code
    /// (letters, a wrong length) is an invalid attempt and is counted.
    pub async fn verify(&self, recipient: &str, code: &str) -> Result<VerifyOutcome> {
        self.verify_detailed(recipient, code)
            .await
            .map(|v| v.outcome)
    }

    /// [`verify`](Self::verify), also naming the verification and session
    /// (for the gateway's "OTP verified" event).
    pub async fn verify_detailed(&self, recipient: &str, code: &str) -> Result<Verification> {
        let inner = &*self.inner;
        check_recipient(recipient)?;
        let now = inner.clock.now_ms();
        let admission = inner
            .store
            .take_verify_slot(recipient, &inner.config.limits, now)
            .await?;
        if let Err(e) = admission.into_result(&inner.config.limits, "") {
            inner.stats.record_rate_limited(None);
            return Err(e);
        }
        let code = code.trim();
        // An oversized input cannot be a code; hashing an empty string instead
        // keeps the cost bounded and still counts the attempt.
        let candidate = if code.len() <= MAX_CODE_INPUT {
            code.as_bytes()
        } else {
            b""
        };
        let mac = inner.hasher.mac(recipient, candidate);
        let r = inner.store.check(recipient, &mac, now).await?;
        inner
            .stats
            .record_verify(r.session_id.as_deref(), r.outcome);
        Ok(Verification {
            outcome: r.outcome,
            recipient: recipient.to_string(),
            verification_id: r.verification_id,
            session_id: r.session_id,
        })
    }

    /// Cancels the recipient's pending code and returns its status afterwards
    /// (a code that is no longer pending keeps its state). `OTP_NOT_FOUND` if
    /// the recipient has no code.
    pub async fn cancel(&self, recipient: &str) -> Result<OtpStatus> {
        check_recipient(recipient)?;
        let now = self.inner.clock.now_ms();
        match self.inner.store.cancel(recipient, now).await? {
            Some(r) => Ok(OtpStatus::of(r, now)),
            None => Err(Error::OtpNotFound(recipient.to_string())),
        }
    }

    /// The status of the recipient's latest code. `OTP_NOT_FOUND` if there is
    /// none (never sent, or cleaned up after expiry + retention).
    pub async fn status(&self, recipient: &str) -> Result<OtpStatus> {
        check_recipient(recipient)?;
        let now = self.inner.clock.now_ms();
        match self.inner.store.get(recipient).await? {
            Some(r) => Ok(OtpStatus::of(r, now)),
            None => Err(Error::OtpNotFound(recipient.to_string())),
        }
    }

    /// Whether `verification_id` is still `recipient`'s pending code: not
    /// replaced by a newer send, canceled, used, locked or expired. Checked
    /// right before a code goes out, so a code that no longer works is never
    /// sent.
    pub async fn is_pending(&self, recipient: &str, verification_id: &str) -> Result<bool> {
        let now = self.inner.clock.now_ms();
        Ok(self.inner.store.get(recipient).await?.is_some_and(|r| {
            r.verification_id == verification_id && effective_state(&r, now) == OtpState::Pending
        }))
    }

    /// Undoes an issuance whose message never went out: if `verification_id`
    /// is still the recipient's pending code, the code it replaced comes back
    /// when still valid (a failed resend never costs the user a code already
    /// received), else it is canceled. A newer send, a cancel or a use that
    /// happened meanwhile is left alone.
    pub async fn withdraw(
        &self,
        recipient: &str,
        verification_id: &str,
        previous: Option<&OtpRecord>,
    ) -> Result<()> {
        let now = self.inner.clock.now_ms();
        self.inner
            .store
            .withdraw(recipient, verification_id, previous, now)
            .await
    }

    /// Removes records that expired more than `retention` ago, and idle
    /// rate-limit state; returns how many records went.
    pub async fn cleanup_expired(&self) -> Result<usize> {
        let now = self.inner.clock.now_ms();
        self.inner.last_cleanup_ms.store(now, Ordering::Relaxed);
        self.cleanup_at(now).await
    }

    async fn cleanup_at(&self, now: u64) -> Result<usize> {
        let before = now.saturating_sub(ms(self.inner.config.retention));
        self.inner
            .store
            .remove_expired(before, &self.inner.config.limits, now)
            .await
    }

    /// Runs a cleanup when the last one is older than `cleanup_interval`; the
    /// compare-exchange lets exactly one concurrent caller do it.
    async fn maybe_cleanup(&self, now: u64) {
        let last = self.inner.last_cleanup_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < ms(self.inner.config.cleanup_interval) {
            return;
        }
        if self
            .inner
            .last_cleanup_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && let Err(e) = self.cleanup_at(now).await
        {
            log::warn!("OTP cleanup failed: {e}");
        }
    }
}
