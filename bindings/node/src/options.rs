//! Option objects as core settings. Durations carry their unit in the name
//! (`ttlSecs`, `timeoutMs`); a missing field takes the core's default.

use std::time::Duration;

use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use waotp::otp::{Locale, OtpConfig, OtpRequest, Pacing, RateWindow as CoreRateWindow};

use crate::errors::invalid_argument;

/// Seconds from JavaScript as a `Duration`: finite and not negative.
pub(crate) fn secs(value: f64, name: &str) -> waotp::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        invalid_argument(format!(
            "`{name}` must be a finite, non-negative number of seconds, not {value}"
        ))
    })
}

/// Milliseconds from JavaScript as a `Duration`: finite and not negative.
pub(crate) fn millis(value: f64, name: &str) -> waotp::Result<Duration> {
    Duration::try_from_secs_f64(value / 1000.0).map_err(|_| {
        invalid_argument(format!(
            "`{name}` must be a finite, non-negative number of milliseconds, not {value}"
        ))
    })
}

/// Settings of `Gateway.open`. Every field is optional.
#[napi(object)]
#[derive(Default)]
pub struct GatewayOptions {
    /// Directory of session credentials (`sessions/<id>.db`), the OTP store
    /// and its secret. Default `./waotp-data`.
    pub data_dir: Option<String>,
    /// WebSocket endpoint override. Only sandbox builds accept one, and only a
    /// loopback `ws://` URL (the simulator); otherwise `ENDPOINT_NOT_ALLOWED`.
    pub endpoint: Option<String>,
    /// Country of numbers written in local form (`08…`). Default 62 (Indonesia).
    pub default_country_code: Option<u32>,
    /// Digits per OTP, 4–10. Default 6.
    pub otp_length: Option<u32>,
    /// Validity of an OTP in seconds, 10–86400. Default 300.
    pub otp_ttl_secs: Option<f64>,
    /// Verification attempts per OTP, 1–100. Default 3.
    pub otp_max_attempts: Option<u32>,
    /// Language of the default message: `'id'` (default) or `'en'`.
    #[napi(ts_type = "'id' | 'en'")]
    pub otp_locale: Option<String>,
    /// Send limits, verification limits and pacing (defaults: 5 sends per
    /// recipient per minute, 60 s between two sends to one recipient, …).
    pub limits: Option<Limits>,
    /// Turn every limit, cooldown and pacing off (tests, benchmarks).
    pub no_limits: Option<bool>,
    /// Keep OTP codes and inbound verifications in memory instead of the
    /// data dir (one process only).
    pub memory_store: Option<bool>,
    /// Whether `sendOtp` first checks that the recipient is on WhatsApp. Default true.
    pub check_on_whatsapp: Option<bool>,
    /// How long an `isOnWhatsapp` answer is reused by `sendOtp`, in seconds.
    /// Default 3600; 0 turns the cache off.
    pub on_whatsapp_cache_ttl_secs: Option<f64>,
    /// Redis shared by every host of a deployment (`redis://host:port/db`):
    /// OTP state, limits, session leases and the outbox go there. Default: one
    /// host, everything in `dataDir`.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so deployments can share one Redis. Default `waotp:`.
    pub redis_key_prefix: Option<String>,
    /// How long a session's lease lives in Redis without renewal, in seconds
    /// (default 10): a host that dies is replaced within it.
    pub redis_lease_ttl_secs: Option<f64>,
    /// Sandbox builds: OTP expiry and limits read a clock that moves only by
    /// `advanceClock`. A normal build refuses it with `SANDBOX_ONLY`.
    pub manual_clock: Option<bool>,
    /// The WhatsApp Web version to announce, `[major, minor, patch]`.
    pub whatsapp_version: Option<Vec<u32>>,
    /// The OTP secret (32 bytes) every process of a deployment shares.
    /// Default: made once and kept in the data dir; required with `redisUrl`.
    pub otp_secret: Option<Buffer>,
    /// How `sendOtp` retries transient failures.
    pub send_retry: Option<SendRetry>,
    /// How much the gateway keeps in memory, however long it runs.
    pub memory_bounds: Option<MemoryBounds>,
    /// Development only: with `redisUrl` and no `otpSecret`, generate the
    /// secret into Redis instead of refusing to open. Whoever can read that
    /// Redis can then read every pending code; never in production.
    pub otp_secret_in_redis: Option<bool>,
    /// 32 random bytes that encrypt the session stores at rest (SQLCipher).
    /// Needs an addon built with the `sqlcipher` feature; every process on
    /// the data dir must use the same key.
    pub session_store_key: Option<Buffer>,
    /// A budget of new chats per session per UTC day, across processes and
    /// hosts (default: none); past it a code to a recipient the number has
    /// no chat with rejects with `ACCOUNT_LIMITED`.
    pub new_chats_per_day: Option<u32>,
}

/// Bounds on what a gateway keeps in memory; a missing field keeps the
/// default, and 0 is refused (`INVALID_ARGUMENT`).
#[napi(object)]
pub struct MemoryBounds {
    /// Sent messages whose delivery status is tracked in memory (default 50,000).
    pub tracked_messages: Option<u32>,
    /// Seconds a message's status is tracked in memory (default 86,400).
    pub tracked_message_age_secs: Option<f64>,
    /// Numbers whose `isOnWhatsapp` answer is cached (default 100,000).
    pub on_whatsapp_entries: Option<u32>,
    /// Acks and receipts that may wait to be applied (default 10,000).
    pub queued_delivery_reports: Option<u32>,
}

/// At most `max` events per `windowSecs`.
#[napi(object)]
pub struct RateWindow {
    /// Events allowed in one window.
    pub max: u32,
    /// The window's length in seconds.
    pub window_secs: f64,
}

/// Pacing of one session's sends, so a linked number does not look like a bot.
#[napi(object)]
pub struct SessionPacing {
    /// Least time between two sends of the session, in seconds.
    pub min_gap_secs: f64,
    /// Random extra time up to this many seconds.
    pub jitter_secs: f64,
    /// A send that would wait longer than this is refused (`RATE_LIMITED`).
    pub max_wait_secs: f64,
}

/// Limits; a missing field keeps the default, `false` turns that rule off.
#[napi(object)]
pub struct Limits {
    /// OTP sends per recipient.
    pub sends_per_recipient: Option<Either<RateWindow, bool>>,
    /// Seconds between two sends to one recipient (0: none).
    pub resend_cooldown_secs: Option<f64>,
    /// Verification attempts per recipient.
    pub verifies_per_recipient: Option<Either<RateWindow, bool>>,
    /// Pacing of each session's sends.
    pub session_pacing: Option<Either<SessionPacing, bool>>,
}

/// How a transient send failure is retried: exponential backoff under one
/// message id. A missing field keeps the default.
#[napi(object)]
pub struct SendRetry {
    /// Attempts in total, the first included (1: no retry).
    pub max_attempts: Option<u32>,
    /// Milliseconds before the first retry; doubles each time.
    pub initial_backoff_ms: Option<f64>,
    /// Longest wait between two attempts, in milliseconds.
    pub max_backoff_ms: Option<f64>,
    /// Milliseconds after which no new attempt starts.
    pub max_elapsed_ms: Option<f64>,
}

/// Options of `sendText`.
#[napi(object)]
pub struct SendTextOptions {
    /// A retry with the same key sends nothing and answers the first message's id.
    pub idempotency_key: Option<String>,
}

/// Options of `sendOtp`.
#[napi(object)]
pub struct SendOtpOptions {
    /// The name the message signs with (`PT. Contoh`).
    pub company_name: String,
    /// Digits of this code, 4–10 (default: the gateway's `otpLength`).
    pub length: Option<u32>,
    /// Validity of this code in seconds (default: the gateway's `otpTtlSecs`).
    pub ttl_secs: Option<f64>,
    /// The message, with `{OTP}` (required), `{COMPANY}` and `{MINUTES}`.
    pub template: Option<String>,
    /// Language of the default message.
    #[napi(ts_type = "'id' | 'en'")]
    pub locale: Option<String>,
    /// Answer the code in `SentOtp.code` (for your own channel; never to a browser).
    pub reveal_code: Option<bool>,
    /// A retry with the same key within the code's life sends nothing and
    /// answers the first send (`replayed: true`).
    pub idempotency_key: Option<String>,
}

fn window(
    value: &Option<Either<RateWindow, bool>>,
    default: Option<CoreRateWindow>,
    name: &str,
) -> waotp::Result<Option<CoreRateWindow>> {
    match value {
        None => Ok(default),
        Some(Either::B(false)) => Ok(None),
        Some(Either::B(true)) => Err(invalid_argument(format!(
            "`limits.{name}` is a window or `false`, not `true`"
        ))),
        Some(Either::A(w)) => Ok(Some(CoreRateWindow::new(
            w.max,
            secs(w.window_secs, &format!("limits.{name}.windowSecs"))?,
        ))),
    }
}

impl Limits {
    fn to_core(&self) -> waotp::Result<waotp::otp::Limits> {
        let default = waotp::otp::Limits::default();
        let session_pacing = match &self.session_pacing {
            None => default.session_pacing,
            Some(Either::B(false)) => None,
            Some(Either::B(true)) => {
                return Err(invalid_argument(
                    "`limits.sessionPacing` is a pacing or `false`, not `true`",
                ));
            }
            Some(Either::A(p)) => Some(Pacing {
                min_gap: secs(p.min_gap_secs, "limits.sessionPacing.minGapSecs")?,
                jitter: secs(p.jitter_secs, "limits.sessionPacing.jitterSecs")?,
                max_wait: secs(p.max_wait_secs, "limits.sessionPacing.maxWaitSecs")?,
            }),
        };
        Ok(waotp::otp::Limits {
            sends_per_recipient: window(
                &self.sends_per_recipient,
                default.sends_per_recipient,
                "sendsPerRecipient",
            )?,
            resend_cooldown: match self.resend_cooldown_secs {
                Some(s) => secs(s, "limits.resendCooldownSecs")?,
                None => default.resend_cooldown,
            },
            verifies_per_recipient: window(
                &self.verifies_per_recipient,
                default.verifies_per_recipient,
                "verifiesPerRecipient",
            )?,
            session_pacing,
        })
    }
}

impl MemoryBounds {
    fn to_core(&self) -> waotp::Result<waotp::MemoryBounds> {
        let mut bounds = waotp::MemoryBounds::default();
        if let Some(n) = self.tracked_messages {
            bounds.tracked_messages = n as usize;
        }
        if let Some(t) = self.tracked_message_age_secs {
            bounds.tracked_message_age = secs(t, "memoryBounds.trackedMessageAgeSecs")?;
        }
        if let Some(n) = self.on_whatsapp_entries {
            bounds.on_whatsapp_entries = n as usize;
        }
        if let Some(n) = self.queued_delivery_reports {
            bounds.queued_delivery_reports = n as usize;
        }
        bounds.validate()?;
        Ok(bounds)
    }
}

impl SendRetry {
    fn to_core(&self) -> waotp::Result<waotp::SendRetry> {
        let mut retry = waotp::SendRetry::default();
        if let Some(n) = self.max_attempts {
            if n == 0 {
                return Err(invalid_argument(
                    "`sendRetry.maxAttempts` counts the first attempt: at least 1",
                ));
            }
            retry.max_attempts = n;
        }
        if let Some(ms) = self.initial_backoff_ms {
            retry.initial_backoff = millis(ms, "sendRetry.initialBackoffMs")?;
        }
        if let Some(ms) = self.max_backoff_ms {
            retry.max_backoff = millis(ms, "sendRetry.maxBackoffMs")?;
        }
        if let Some(ms) = self.max_elapsed_ms {
            retry.max_elapsed = millis(ms, "sendRetry.maxElapsedMs")?;
        }
        Ok(retry)
    }
}

fn locale(name: &str) -> waotp::Result<Locale> {
    name.parse::<Locale>()
}

impl GatewayOptions {
    /// The core builder these options describe.
    pub(crate) fn to_builder(&self) -> waotp::Result<waotp::GatewayBuilder> {
        let mut b = waotp::Gateway::builder();
        if let Some(dir) = &self.data_dir {
            b = b.data_dir(dir);
        }
        if let Some(url) = &self.endpoint {
            b = b.endpoint(url);
        }
        if let Some(cc) = self.default_country_code {
            let cc = u16::try_from(cc)
                .map_err(|_| invalid_argument(format!("unknown default country code {cc}")))?;
            b = b.default_country_code(cc);
        }
        let mut config = OtpConfig::default();
        if let Some(n) = self.otp_length {
            config.length = n as usize;
        }
        if let Some(t) = self.otp_ttl_secs {
            config.ttl = secs(t, "otpTtlSecs")?;
        }
        if let Some(n) = self.otp_max_attempts {
            config.max_attempts = n;
        }
        if let Some(l) = &self.otp_locale {
            config.locale = locale(l)?;
        }
        if let Some(l) = &self.limits {
            config.limits = l.to_core()?;
        }
        if self.no_limits == Some(true) {
            config.limits = waotp::otp::Limits::none();
        }
        b = b.otp_config(config);
        b = b.memory_stores(self.memory_store == Some(true));
        if let Some(check) = self.check_on_whatsapp {
            b = b.check_on_whatsapp(check);
        }
        if let Some(t) = self.on_whatsapp_cache_ttl_secs {
            b = b.on_whatsapp_cache_ttl(secs(t, "onWhatsappCacheTtlSecs")?);
        }
        if let Some(url) = &self.redis_url {
            b = b.redis_url(url);
        }
        if let Some(prefix) = &self.redis_key_prefix {
            b = b.redis_key_prefix(prefix);
        }
        if let Some(t) = self.redis_lease_ttl_secs {
            b = b.redis_lease_ttl(secs(t, "redisLeaseTtlSecs")?);
        }
        if self.manual_clock == Some(true) {
            b = b.manual_clock();
        }
        if let Some(v) = &self.whatsapp_version {
            let [major, minor, patch] = v.as_slice() else {
                return Err(invalid_argument(
                    "`whatsappVersion` is [major, minor, patch]",
                ));
            };
            b = b.whatsapp_version((*major, *minor, *patch));
        }
        if let Some(bytes) = &self.otp_secret {
            b = b.otp_secret(waotp::otp::OtpSecret::from_bytes(bytes)?);
        }
        if let Some(r) = &self.send_retry {
            b = b.send_retry(r.to_core()?);
        }
        if let Some(m) = &self.memory_bounds {
            b = b.memory_bounds(m.to_core()?);
        }
        if let Some(allow) = self.otp_secret_in_redis {
            b = b.otp_secret_in_redis(allow);
        }
        if let Some(bytes) = &self.session_store_key {
            b = b.session_store_key(waotp::StoreKey::from_bytes(bytes)?);
        }
        if let Some(per_day) = self.new_chats_per_day {
            b = b.new_chats_per_day(per_day);
        }
        Ok(b)
    }
}

impl SendOtpOptions {
    /// The core request these options describe.
    pub(crate) fn to_request(&self) -> waotp::Result<OtpRequest> {
        let mut r =
            OtpRequest::new(self.company_name.clone()).reveal_code(self.reveal_code == Some(true));
        if let Some(n) = self.length {
            r = r.length(n as usize);
        }
        if let Some(t) = self.ttl_secs {
            r = r.ttl(secs(t, "ttlSecs")?);
        }
        if let Some(t) = &self.template {
            r = r.template(t.clone());
        }
        if let Some(l) = &self.locale {
            r = r.locale(locale(l)?);
        }
        if let Some(k) = &self.idempotency_key {
            r = r.idempotency_key(k.clone());
        }
        Ok(r)
    }
}
