//! The options handle of `waotp_gateway_open_with`: one setter per option of
//! the core's `GatewayBuilder`, so options grow by new functions and never
//! change a struct a compiled caller knows the size of.

use std::ffi::c_char;
use std::time::Duration;

use waotp::otp::{Limits, Locale, OtpConfig, OtpSecret, Pacing, RateWindow};
use waotp::{GatewayBuilder, MemoryBounds, SendRetry, StoreKey};

use crate::boundary::{guard, guard_void, millis, out, string};
use crate::status::{Failure, waotp_status};

/// The core's shortest Redis lease (`GatewayBuilder::redis_lease_ttl`).
const MIN_LEASE_TTL: Duration = Duration::from_millis(300);

/// Options of a gateway: made by `waotp_options_new` (every option at its
/// default), changed by the `waotp_options_set_*` functions, read by
/// `waotp_gateway_open_with`, freed by `waotp_options_free`. Opaque.
#[derive(Clone, Default)]
pub struct waotp_options {
    pub(crate) data_dir: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) default_country_code: Option<u16>,
    pub(crate) otp: OtpConfig,
    pub(crate) otp_secret: Option<OtpSecret>,
    pub(crate) memory_store: bool,
    pub(crate) check_on_whatsapp: Option<bool>,
    pub(crate) on_whatsapp_cache_ttl: Option<Duration>,
    pub(crate) send_retry: Option<SendRetry>,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_key_prefix: Option<String>,
    pub(crate) redis_lease_ttl: Option<Duration>,
    pub(crate) otp_secret_in_redis: bool,
    pub(crate) memory_bounds: Option<MemoryBounds>,
    pub(crate) session_store_key: Option<StoreKey>,
    pub(crate) new_chats_per_day: Option<u32>,
    pub(crate) manual_clock: bool,
    pub(crate) whatsapp_version: Option<(u32, u32, u32)>,
}

impl waotp_options {
    /// The core's builder with these options.
    pub(crate) fn builder(&self) -> GatewayBuilder {
        let mut b = waotp::Gateway::builder().otp_config(self.otp.clone());
        if let Some(dir) = &self.data_dir {
            b = b.data_dir(dir);
        }
        if let Some(url) = &self.endpoint {
            b = b.endpoint(url);
        }
        if let Some(cc) = self.default_country_code {
            b = b.default_country_code(cc);
        }
        if let Some(secret) = &self.otp_secret {
            b = b.otp_secret(secret.clone());
        }
        b = b.memory_stores(self.memory_store);
        if let Some(check) = self.check_on_whatsapp {
            b = b.check_on_whatsapp(check);
        }
        if let Some(ttl) = self.on_whatsapp_cache_ttl {
            b = b.on_whatsapp_cache_ttl(ttl);
        }
        if let Some(retry) = self.send_retry {
            b = b.send_retry(retry);
        }
        if let Some(url) = &self.redis_url {
            b = b.redis_url(url);
        }
        if let Some(prefix) = &self.redis_key_prefix {
            b = b.redis_key_prefix(prefix);
        }
        if let Some(ttl) = self.redis_lease_ttl {
            b = b.redis_lease_ttl(ttl);
        }
        if self.otp_secret_in_redis {
            b = b.otp_secret_in_redis(true);
        }
        if let Some(bounds) = self.memory_bounds {
            b = b.memory_bounds(bounds);
        }
        if let Some(key) = &self.session_store_key {
            b = b.session_store_key(key.clone());
        }
        if let Some(per_day) = self.new_chats_per_day {
            b = b.new_chats_per_day(per_day);
        }
        if self.manual_clock {
            b = b.manual_clock();
        }
        if let Some(v) = self.whatsapp_version {
            b = b.whatsapp_version(v);
        }
        b
    }
}

/// Runs a setter's body on a copy of the options, kept only on success, so
/// a refused value leaves the handle as it was.
fn set(
    options: *mut waotp_options,
    body: impl FnOnce(&mut waotp_options) -> Result<(), Failure>,
) -> waotp_status {
    guard(|| {
        let o = out(options, "options")?;
        let mut changed = o.clone();
        body(&mut changed)?;
        *o = changed;
        Ok(())
    })
}

fn invalid(message: impl Into<String>) -> Failure {
    waotp::Error::InvalidArgument(message.into()).into()
}

/// A change of the OTP settings, kept only when the core accepts the result.
fn set_otp(options: *mut waotp_options, change: impl FnOnce(&mut OtpConfig)) -> waotp_status {
    set(options, |o| {
        let mut config = o.otp.clone();
        change(&mut config);
        config.validate()?;
        o.otp = config;
        Ok(())
    })
}

/// A rate window from C: (0, 0) turns the rule off; one zero is refused.
fn window(name: &str, max: u32, window_ms: u64) -> Result<Option<RateWindow>, Failure> {
    match (max, window_ms) {
        (0, 0) => Ok(None),
        (0, _) | (_, 0) => Err(invalid(format!(
            "{name}: a positive count and window, or both 0 to turn the rule off"
        ))),
        (max, ms) => Ok(Some(RateWindow::new(max, millis(ms)))),
    }
}

/// Makes options with every option at its default (the same defaults as a
/// NULL `options` in `waotp_gateway_open_with`). Free with `waotp_options_free`.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_new(options_out: *mut *mut waotp_options) -> waotp_status {
    guard(|| {
        // The slot first: in `*place = value` the value is made before the place.
        let slot = out(options_out, "options_out")?;
        *slot = Box::into_raw(Box::default());
        Ok(())
    })
}

/// Frees options and sets `*options` to NULL. `options == NULL` or
/// `*options == NULL` is a no-op. A gateway opened with them does not need
/// them any more.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_free(options: *mut *mut waotp_options) {
    guard_void(|| {
        // SAFETY: NULL is a no-op; otherwise the caller's slot.
        let Some(slot) = (unsafe { options.as_mut() }) else {
            return;
        };
        if slot.is_null() {
            return;
        }
        // SAFETY: made by `waotp_options_new`, not yet freed (freeing NULLs the slot).
        drop(unsafe { Box::from_raw(*slot) });
        *slot = std::ptr::null_mut();
    })
}

/// Directory of session credentials (`sessions/<id>.db`), the OTP store
/// (`otp.db`) and its secret. Default `./waotp-data`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`, `WAOTP_INVALID_ARGUMENT` (empty).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_data_dir(
    options: *mut waotp_options,
    data_dir: *const c_char,
) -> waotp_status {
    set(options, |o| {
        let dir = string(data_dir, "data_dir")?;
        if dir.is_empty() {
            return Err(invalid("data_dir is empty"));
        }
        o.data_dir = Some(dir.to_owned());
        Ok(())
    })
}

/// WebSocket endpoint override. Default: WhatsApp itself. Only sandbox
/// builds accept one, and only a loopback `ws://` URL (the simulator);
/// `waotp_gateway_open_with` refuses others with `WAOTP_ENDPOINT_NOT_ALLOWED`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`, `WAOTP_INVALID_ARGUMENT` (empty).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_endpoint(
    options: *mut waotp_options,
    endpoint: *const c_char,
) -> waotp_status {
    set(options, |o| {
        let url = string(endpoint, "endpoint")?;
        if url.is_empty() {
            return Err(invalid("endpoint is empty"));
        }
        o.endpoint = Some(url.to_owned());
        Ok(())
    })
}

/// Country of numbers written in local form (`08…`). Default 62 (Indonesia).
/// A code libphonenumber does not know is refused by the open.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (0).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_default_country_code(
    options: *mut waotp_options,
    country_code: u16,
) -> waotp_status {
    set(options, |o| {
        if country_code == 0 {
            return Err(invalid("default_country_code 0 is not a country"));
        }
        o.default_country_code = Some(country_code);
        Ok(())
    })
}

/// Digits per OTP, 4–10. Default 6.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (out of range).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_length(
    options: *mut waotp_options,
    digits: u32,
) -> waotp_status {
    set_otp(options, |c| c.length = digits as usize)
}

/// Validity of an OTP in milliseconds, 10 s – 24 h. Default 5 minutes.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (out of range).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_ttl_ms(
    options: *mut waotp_options,
    ttl_ms: u64,
) -> waotp_status {
    set_otp(options, |c| c.ttl = millis(ttl_ms))
}

/// Verification attempts per OTP, 1–100. Default 3.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (out of range).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_max_attempts(
    options: *mut waotp_options,
    max_attempts: u32,
) -> waotp_status {
    set_otp(options, |c| c.max_attempts = max_attempts)
}

/// Language of the default message, `"id"` or `"en"`. Default `"id"`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_INVALID_ARGUMENT` (another language).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_locale(
    options: *mut waotp_options,
    locale: *const c_char,
) -> waotp_status {
    set(options, |o| {
        o.otp.locale = string(locale, "locale")?.parse::<Locale>()?;
        Ok(())
    })
}

/// The HMAC secret of stored codes (`len` bytes, at least 32). Default:
/// generated once into `data_dir/otp.secret`; required with a Redis URL.
/// Give the same secret to every process that shares OTP state. The bytes
/// are copied.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (too short).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_secret(
    options: *mut waotp_options,
    secret: *const u8,
    len: usize,
) -> waotp_status {
    set(options, |o| {
        if secret.is_null() {
            return Err(crate::boundary::null("secret"));
        }
        // SAFETY: the caller passes `len` readable bytes at `secret`.
        let bytes = unsafe { std::slice::from_raw_parts(secret, len) };
        o.otp_secret = Some(OtpSecret::from_bytes(bytes)?);
        Ok(())
    })
}

/// Turns every send limit, cooldown and pacing off (`true`, for tests and
/// benchmarks) or back to the defaults (`false`). The four limit setters
/// below change one rule each.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_no_limits(
    options: *mut waotp_options,
    no_limits: bool,
) -> waotp_status {
    set_otp(options, |c| {
        c.limits = if no_limits {
            Limits::none()
        } else {
            Limits::default()
        }
    })
}

/// Sends per recipient: at most `max` in a sliding window of `window_ms`.
/// Default 5 per minute. Both 0 turn the rule off.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (one of them 0).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_sends_per_recipient(
    options: *mut waotp_options,
    max: u32,
    window_ms: u64,
) -> waotp_status {
    set(options, |o| {
        o.otp.limits.sends_per_recipient = window("sends_per_recipient", max, window_ms)?;
        Ok(())
    })
}

/// Smallest time between two sends to one recipient. Default 10 s; 0 turns
/// the cooldown off.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_resend_cooldown_ms(
    options: *mut waotp_options,
    cooldown_ms: u64,
) -> waotp_status {
    set(options, |o| {
        o.otp.limits.resend_cooldown = millis(cooldown_ms);
        Ok(())
    })
}

/// Verification attempts per recipient: at most `max` in a sliding window
/// of `window_ms`. Default 10 per 10 minutes. Both 0 turn the rule off.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (one of them 0).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_verifies_per_recipient(
    options: *mut waotp_options,
    max: u32,
    window_ms: u64,
) -> waotp_status {
    set(options, |o| {
        o.otp.limits.verifies_per_recipient = window("verifies_per_recipient", max, window_ms)?;
        Ok(())
    })
}

/// Pacing of each session's sends: at least `min_gap_ms` between two, plus
/// up to `jitter_ms` at random; a send that would wait longer than
/// `max_wait_ms` is refused with `WAOTP_RATE_LIMITED`. Default 1 s gap.
/// `enabled == false` turns pacing off (the numbers are then ignored).
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (`max_wait_ms`
/// shorter than `min_gap_ms`).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_session_pacing(
    options: *mut waotp_options,
    enabled: bool,
    min_gap_ms: u64,
    jitter_ms: u64,
    max_wait_ms: u64,
) -> waotp_status {
    set(options, |o| {
        o.otp.limits.session_pacing = if enabled {
            if max_wait_ms < min_gap_ms {
                return Err(invalid(
                    "session pacing: max_wait_ms is shorter than min_gap_ms, every send would be refused",
                ));
            }
            Some(Pacing {
                min_gap: millis(min_gap_ms),
                jitter: millis(jitter_ms),
                max_wait: millis(max_wait_ms),
            })
        } else {
            None
        };
        Ok(())
    })
}

/// Keep OTP codes and inbound verifications in memory instead of
/// `data_dir/otp.db` and `inbound.db` (or Redis): one process only.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_memory_store(
    options: *mut waotp_options,
    memory_store: bool,
) -> waotp_status {
    set(options, |o| {
        o.memory_store = memory_store;
        Ok(())
    })
}

/// Whether an OTP send first checks that the number is on WhatsApp (default
/// true): no code is issued for a number without WhatsApp.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_check_on_whatsapp(
    options: *mut waotp_options,
    check: bool,
) -> waotp_status {
    set(options, |o| {
        o.check_on_whatsapp = Some(check);
        Ok(())
    })
}

/// How long an is-on-WhatsApp answer is reused by OTP sends. Default one
/// hour; 0 turns the cache off.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_on_whatsapp_cache_ttl_ms(
    options: *mut waotp_options,
    ttl_ms: u64,
) -> waotp_status {
    set(options, |o| {
        o.on_whatsapp_cache_ttl = Some(millis(ttl_ms));
        Ok(())
    })
}

/// How OTP sends retry transient failures: `max_attempts` in total (the
/// first included; 1 = no retry), waiting `initial_backoff_ms` before the
/// first retry and doubling up to `max_backoff_ms`, with no new attempt
/// after `max_elapsed_ms`. Default 4 attempts, 250 ms, 4 s, 30 s.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (`max_attempts`
/// 0, or `max_backoff_ms` shorter than `initial_backoff_ms`).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_send_retry(
    options: *mut waotp_options,
    max_attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    max_elapsed_ms: u64,
) -> waotp_status {
    set(options, |o| {
        if max_attempts == 0 {
            return Err(invalid(
                "send retry: max_attempts counts the first attempt, at least 1",
            ));
        }
        if max_backoff_ms < initial_backoff_ms {
            return Err(invalid(
                "send retry: max_backoff_ms is shorter than initial_backoff_ms",
            ));
        }
        let mut retry = SendRetry::default();
        retry.max_attempts = max_attempts;
        retry.initial_backoff = millis(initial_backoff_ms);
        retry.max_backoff = millis(max_backoff_ms);
        retry.max_elapsed = millis(max_elapsed_ms);
        o.send_retry = Some(retry);
        Ok(())
    })
}

/// Redis shared by every host of a deployment (`redis://host:port/db`): OTP
/// state, limits, session leases and the outbox go there. Default: one
/// host, everything in `data_dir`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_INVALID_ARGUMENT` (not a `redis://` or `rediss://` URL).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_redis_url(
    options: *mut waotp_options,
    redis_url: *const c_char,
) -> waotp_status {
    set(options, |o| {
        let url = string(redis_url, "redis_url")?;
        if !(url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("redis+unix://")
            || url.starts_with("unix://"))
        {
            return Err(invalid(format!("redis_url `{url}` is not a redis:// URL")));
        }
        o.redis_url = Some(url.to_owned());
        Ok(())
    })
}

/// Prefix of every Redis key, so deployments can share one Redis. Default `"waotp:"`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`, `WAOTP_INVALID_ARGUMENT` (empty).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_redis_key_prefix(
    options: *mut waotp_options,
    prefix: *const c_char,
) -> waotp_status {
    set(options, |o| {
        let prefix = string(prefix, "prefix")?;
        if prefix.is_empty() {
            return Err(invalid("redis_key_prefix is empty"));
        }
        o.redis_key_prefix = Some(prefix.to_owned());
        Ok(())
    })
}

/// How long a session's lease lives in Redis without renewal. Default 10 s,
/// at least 300 ms: a host that dies is replaced within it.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (below 300 ms).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_redis_lease_ttl_ms(
    options: *mut waotp_options,
    ttl_ms: u64,
) -> waotp_status {
    set(options, |o| {
        let ttl = millis(ttl_ms);
        if ttl < MIN_LEASE_TTL {
            return Err(invalid(format!(
                "redis lease TTL {ttl_ms} ms is below the minimum of {} ms",
                MIN_LEASE_TTL.as_millis()
            )));
        }
        o.redis_lease_ttl = Some(ttl);
        Ok(())
    })
}

/// Encrypts every session store at rest with `key` (`len` bytes, exactly
/// 32 random bytes; SQLCipher). Needs a library built with the `sqlcipher`
/// feature: otherwise `waotp_gateway_open_with` refuses it. Every process on
/// the data dir must use the same key. The bytes are copied.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (not 32 bytes).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_session_store_key(
    options: *mut waotp_options,
    key: *const u8,
    len: usize,
) -> waotp_status {
    set(options, |o| {
        if key.is_null() {
            return Err(crate::boundary::null("key"));
        }
        // SAFETY: the caller passes `len` readable bytes at `key`.
        let bytes = unsafe { std::slice::from_raw_parts(key, len) };
        o.session_store_key = Some(StoreKey::from_bytes(bytes)?);
        Ok(())
    })
}

/// A budget of new chats per session per UTC day, across processes and
/// hosts (default: none): past it, a code to a recipient the session's
/// number has no chat with fails with `WAOTP_ACCOUNT_LIMITED` (retry at the
/// next UTC midnight). 0 allows known contacts only.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_new_chats_per_day(
    options: *mut waotp_options,
    per_day: u32,
) -> waotp_status {
    set(options, |o| {
        o.new_chats_per_day = Some(per_day);
        Ok(())
    })
}

/// Development only: with a Redis URL and no OTP secret, generate the
/// secret into Redis (`{prefix}otp-secret`) instead of refusing to open.
/// Whoever can read that Redis can then read every pending code; never in
/// production. Default false.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_otp_secret_in_redis(
    options: *mut waotp_options,
    allow: bool,
) -> waotp_status {
    set(options, |o| {
        o.otp_secret_in_redis = allow;
        Ok(())
    })
}

/// How much the gateway keeps in memory, however long it runs: delivery
/// statuses of up to `tracked_messages` sent messages (default 50,000) for
/// at most `tracked_message_age_ms` (default 24 h); up to
/// `on_whatsapp_entries` is-on-WhatsApp answers (default 100,000); up to
/// `queued_delivery_reports` acks and receipts waiting to be applied
/// (default 10,000).
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (a bound of 0).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_memory_bounds(
    options: *mut waotp_options,
    tracked_messages: u64,
    tracked_message_age_ms: u64,
    on_whatsapp_entries: u64,
    queued_delivery_reports: u64,
) -> waotp_status {
    set(options, |o| {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let bounds = MemoryBounds {
            tracked_messages: count(tracked_messages),
            tracked_message_age: millis(tracked_message_age_ms),
            on_whatsapp_entries: count(on_whatsapp_entries),
            queued_delivery_reports: count(queued_delivery_reports),
        };
        bounds.validate()?;
        o.memory_bounds = Some(bounds);
        Ok(())
    })
}

/// Sandbox builds only: OTP expiry and limits read a manual clock that
/// starts at the current time and moves only by `waotp_test_clock_advance`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_SANDBOX_ONLY` (a normal build,
/// for `true`).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_manual_clock(
    options: *mut waotp_options,
    manual_clock: bool,
) -> waotp_status {
    set(options, |o| {
        if manual_clock && !waotp::build_info().sandbox {
            return Err(waotp::Error::SandboxOnly("a manual clock".into()).into());
        }
        o.manual_clock = manual_clock;
        Ok(())
    })
}

/// The WhatsApp Web version to announce (`major.minor.patch`) instead of
/// looking up the current one at connect time.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_ARGUMENT` (0.0.0).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_options_set_whatsapp_version(
    options: *mut waotp_options,
    major: u32,
    minor: u32,
    patch: u32,
) -> waotp_status {
    set(options, |o| {
        if (major, minor, patch) == (0, 0, 0) {
            return Err(invalid("whatsapp version 0.0.0"));
        }
        o.whatsapp_version = Some((major, minor, patch));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::waotp_status::*;

    #[test]
    fn a_refused_value_leaves_the_options_as_they_were() {
        let mut o = std::ptr::null_mut();
        assert_eq!(waotp_options_new(&mut o), WAOTP_OK);
        assert_eq!(waotp_options_set_otp_length(o, 8), WAOTP_OK);
        assert_eq!(waotp_options_set_otp_length(o, 3), WAOTP_INVALID_ARGUMENT);
        // SAFETY: made above, not freed yet.
        assert_eq!(unsafe { &*o }.otp.length, 8);
        assert_eq!(
            waotp_options_set_otp_length(std::ptr::null_mut(), 6),
            WAOTP_NULL_PARAMETER
        );
        waotp_options_free(&mut o);
        assert!(o.is_null());
        waotp_options_free(&mut o);
        waotp_options_free(std::ptr::null_mut());
    }
}
