//! Opening and closing a gateway, events, statistics, the test clock.

use std::ffi::c_char;
use std::sync::Mutex;

use waotp::otp::{Limits, Locale};
use waotp::{EventStream, Gateway};

use crate::boundary::{arg, block_on, c_json, c_string, guard, millis, opt_string, out};
use crate::json;
use crate::options::waotp_options;
use crate::status::{Failure, waotp_status};

/// An open gateway: the linked sessions, the OTP engine and the event queue.
/// Opaque; made by `waotp_gateway_open`, ended by `waotp_gateway_close`.
pub struct waotp_gateway {
    pub(crate) gateway: Gateway,
    events: Mutex<EventStream>,
}

/// The gateway behind a handle; fails on NULL and after a fork.
pub(crate) fn gw<'a>(ptr: *const waotp_gateway) -> Result<&'a waotp_gateway, Failure> {
    crate::boundary::check_fork()?;
    arg(ptr, "gateway")
}

/// Settings of the deprecated `waotp_gateway_open`; new code uses the
/// `waotp_options` handle, which has every option. This struct is frozen:
/// it never grows, so callers compiled against it keep working. Zero / NULL
/// fields take the defaults, so a zero-initialised struct (or
/// `waotp_gateway_options_default`) is the default configuration; passing
/// NULL instead of the struct means the same.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct waotp_gateway_options {
    /// Directory of session credentials (`sessions/<id>.db`), the OTP store
    /// (`otp.db`) and its secret. NULL: `./waotp-data`.
    pub data_dir: *const c_char,
    /// WebSocket endpoint override. NULL: WhatsApp itself. Only sandbox builds
    /// accept one, and only a loopback `ws://` URL (the simulator); sandbox
    /// builds require it. Otherwise `WAOTP_ENDPOINT_NOT_ALLOWED`.
    pub endpoint: *const c_char,
    /// Country of numbers written in local form (`08…`). 0: 62 (Indonesia).
    pub default_country_code: u16,
    /// Digits per OTP, 4–10. 0: 6.
    pub otp_length: u32,
    /// Validity of an OTP in seconds, 10–86400. 0: 300.
    pub otp_ttl_secs: u32,
    /// Verification attempts per OTP, 1–100. 0: 3.
    pub otp_max_attempts: u32,
    /// Language of the default message, `"id"` or `"en"`. NULL: `"id"`.
    pub locale: *const c_char,
    /// Keep OTP state in memory instead of `data_dir/otp.db`.
    pub memory_store: bool,
    /// Turn every send limit, cooldown and pacing off (tests, benchmarks).
    pub no_limits: bool,
    /// Send OTPs without first checking that the number is on WhatsApp.
    pub skip_on_whatsapp_check: bool,
    /// Sandbox builds only: OTP expiry and limits read a manual clock that
    /// starts at the current time and moves only by `waotp_test_clock_advance`.
    /// A normal build answers `WAOTP_SANDBOX_ONLY` (the core's code).
    pub manual_clock: bool,
    /// Redis shared by every host of a deployment (`redis://host:port/db`):
    /// OTP state, limits, session leases and the outbox go there. NULL: one
    /// host, everything in `data_dir`.
    pub redis_url: *const c_char,
    /// Prefix of every Redis key, so deployments can share one Redis. NULL: `"waotp:"`.
    pub redis_key_prefix: *const c_char,
}

impl Default for waotp_gateway_options {
    fn default() -> Self {
        waotp_gateway_options {
            data_dir: std::ptr::null(),
            endpoint: std::ptr::null(),
            default_country_code: 0,
            otp_length: 0,
            otp_ttl_secs: 0,
            otp_max_attempts: 0,
            locale: std::ptr::null(),
            memory_store: false,
            no_limits: false,
            skip_on_whatsapp_check: false,
            manual_clock: false,
            redis_url: std::ptr::null(),
            redis_key_prefix: std::ptr::null(),
        }
    }
}

/// Fills `options` with the defaults (every field zero or NULL).
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_gateway_options_default(
    options: *mut waotp_gateway_options,
) -> waotp_status {
    guard(|| {
        *out(options, "options")? = waotp_gateway_options::default();
        Ok(())
    })
}

/// Opens a gateway with the options of an old-style struct. Kept for callers
/// compiled against earlier headers: this struct never grows, and options
/// added since (send retry, limits, OTP secret, Redis lease TTL, WhatsApp
/// version, on-WhatsApp cache TTL) are set only through `waotp_options`.
/// Deprecated: use `waotp_options_new` and `waotp_gateway_open_with`.
/// `options` may be NULL (defaults). On success `*gateway_out` is the new
/// gateway; close it with `waotp_gateway_close`.
///
/// Errors: as `waotp_gateway_open_with`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_gateway_open(
    options: *const waotp_gateway_options,
    gateway_out: *mut *mut waotp_gateway,
) -> waotp_status {
    guard(|| {
        let slot = out(gateway_out, "gateway_out")?;
        // SAFETY: NULL means defaults; otherwise the caller's initialised struct.
        let o = unsafe { options.as_ref() }.copied().unwrap_or_default();
        let mut handle = waotp_options {
            data_dir: opt_string(o.data_dir, "options->data_dir")?.map(str::to_owned),
            endpoint: opt_string(o.endpoint, "options->endpoint")?.map(str::to_owned),
            ..waotp_options::default()
        };
        if o.default_country_code != 0 {
            handle.default_country_code = Some(o.default_country_code);
        }
        if o.otp_length != 0 {
            handle.otp.length = o.otp_length as usize;
        }
        if o.otp_ttl_secs != 0 {
            handle.otp.ttl = std::time::Duration::from_secs(o.otp_ttl_secs.into());
        }
        if o.otp_max_attempts != 0 {
            handle.otp.max_attempts = o.otp_max_attempts;
        }
        if let Some(locale) = opt_string(o.locale, "options->locale")? {
            handle.otp.locale = locale.parse::<Locale>()?;
        }
        if o.no_limits {
            handle.otp.limits = Limits::none();
        }
        handle.memory_store = o.memory_store;
        if o.skip_on_whatsapp_check {
            handle.check_on_whatsapp = Some(false);
        }
        handle.redis_url = opt_string(o.redis_url, "options->redis_url")?.map(str::to_owned);
        handle.redis_key_prefix =
            opt_string(o.redis_key_prefix, "options->redis_key_prefix")?.map(str::to_owned);
        handle.manual_clock = o.manual_clock;
        *slot = open(&handle)?;
        Ok(())
    })
}

/// Opens a gateway with `options` (made by `waotp_options_new`; NULL means
/// every default) and restores every session stored in the data dir (linked
/// ones reconnect without a QR code). The options are only read: free them
/// when convenient. On success `*gateway_out` is the new gateway; close it
/// with `waotp_gateway_close`.
///
/// Errors: `WAOTP_NULL_PARAMETER`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_ENDPOINT_NOT_ALLOWED`, `WAOTP_INVALID_ARGUMENT`,
/// `WAOTP_SANDBOX_ONLY`, `WAOTP_STORE_ERROR`, `WAOTP_IO_ERROR`, and the
/// context errors (`WAOTP_REENTRANT_CALL`, `WAOTP_AFTER_FORK`).
#[unsafe(no_mangle)]
pub extern "C" fn waotp_gateway_open_with(
    options: *const waotp_options,
    gateway_out: *mut *mut waotp_gateway,
) -> waotp_status {
    guard(|| {
        let slot = out(gateway_out, "gateway_out")?;
        let defaults = waotp_options::default();
        // SAFETY: NULL means defaults; otherwise made by `waotp_options_new`.
        let o = unsafe { options.as_ref() }.unwrap_or(&defaults);
        *slot = open(o)?;
        Ok(())
    })
}

fn open(options: &waotp_options) -> Result<*mut waotp_gateway, Failure> {
    let gateway = block_on(options.builder().open())??;
    let events = Mutex::new(gateway.events());
    Ok(Box::into_raw(Box::new(waotp_gateway { gateway, events })))
}

/// Stops every session gracefully (credentials stay for the next open),
/// frees the gateway and sets `*gateway` to NULL. `gateway == NULL` or
/// `*gateway == NULL` is a no-op, so closing twice is harmless. No other call
/// on this gateway may be running or start afterwards.
///
/// Errors: the context errors (`WAOTP_REENTRANT_CALL`, `WAOTP_AFTER_FORK`),
/// in which case nothing was freed.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_gateway_close(gateway: *mut *mut waotp_gateway) -> waotp_status {
    guard(|| {
        // SAFETY: NULL is a no-op; otherwise the caller's slot.
        let Some(slot) = (unsafe { gateway.as_mut() }) else {
            return Ok(());
        };
        if slot.is_null() {
            return Ok(());
        }
        crate::boundary::check_context()?;
        // SAFETY: made by `waotp_gateway_open` and not freed (the slot is
        // NULLed below), as documented.
        let handle = unsafe { Box::from_raw(*slot) };
        *slot = std::ptr::null_mut();
        block_on(async move {
            handle.gateway.close().await;
            drop(handle);
        })?;
        Ok(())
    })
}

/// Waits up to `timeout_ms` (0: no wait) for the next gateway event and writes
/// it as JSON to `*event_json_out` (free with `waotp_string_free`). Events
/// are queued from `waotp_gateway_open` on; a caller that falls more than
/// 4096 events behind gets a `lagged` event saying how many it missed.
///
/// Event JSON: `{"type": T, ...}` with camelCase fields, times in Unix ms:
/// - `qr_updated`: `sessionId`, `qr` (raw payload), `expiresAt`, `refreshCount`
/// - `pairing_code`: `sessionId`, `code`
/// - `passkey_required`: `sessionId`, `optionsJson` (WhatsApp's WebAuthn
///   request options, verbatim JSON as a string), `snippet` (the console
///   JavaScript that answers them), `expiresAt`; answer with
///   `waotp_session_submit_passkey`
/// - `passkey_confirmation`: `sessionId`, `code` (`XXXX-XXXX`, as the phone shows it)
/// - `passkey_failed`: `sessionId`, `code` (`PASSKEY_REJECTED` or
///   `PASSKEY_EXPIRED`), `reason`; the session starts linking again
/// - `qr_expired`: `sessionId`
/// - `connected`: `sessionId`, `user` (`{"jid","phone","name"}` or null)
/// - `disconnected`, `logged_out`, `stopped`: `sessionId`, `reason`
/// - `session_deleted`: `sessionId`
/// - `message_status`: `sessionId`, `messageId`, `to`, `status` (`{"status": "pending"|"sent"|"delivered"|"read"|"failed", "reason"?}`)
/// - `otp_sent`: `sessionId`, `verificationId`, `messageId`, `to`
/// - `otp_delivery`: `messageId`, `to`, `status` (as in `message_status`)
/// - `otp_failed`: `sessionId`, `verificationId`, `to`, `code` (the error's
///   stable code, as `waotp_status_code_name` names it), `reason`
/// - `otp_verified`: `to` (for an inbound verification: the number that sent
///   the token), `verificationId`, `outcome` (`{"status": "approved"|"invalid"|…,
///   "attemptsLeft"?}`), `method` (`code`, or `inbound`: a token sent from WhatsApp)
/// - `lagged`: `missed`
///
/// Future versions may add event types and fields; ignore unknown ones.
///
/// Errors: `WAOTP_TIMEOUT` when no event arrived in time, `WAOTP_NULL_PARAMETER`,
/// `WAOTP_CLOSED`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_events_poll(
    gateway: *const waotp_gateway,
    timeout_ms: u64,
    event_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let slot = out(event_json_out, "event_json_out")?;
        let mut events = g.events.lock().unwrap_or_else(|p| p.into_inner());
        let event = if timeout_ms == 0 {
            crate::boundary::check_context()?;
            events.try_next()
        } else {
            // The timer must be made inside the runtime, hence the async block.
            match block_on(async { tokio::time::timeout(millis(timeout_ms), events.next()).await })?
            {
                Ok(Some(e)) => Some(e),
                Ok(None) => return Err(waotp::Error::Closed.into()),
                Err(_) => None,
            }
        };
        let event = event.ok_or_else(|| Failure::new(waotp_status::WAOTP_TIMEOUT, "no event"))?;
        *slot = c_json(json::event(&event))?;
        Ok(())
    })
}

/// Send and verification statistics as JSON (free with `waotp_string_free`):
/// `{"gateway": S, "sessions": {"<sessionId>": S, …}}` where S is
/// `{"totalRequests", "successfulRequests", "failedRequests",
/// "successRate" (0–1 or null), "averageResponseTimeMs", "p50ResponseTimeMs",
/// "p99ResponseTimeMs", "maxResponseTimeMs" (ms or null), "otpIssued",
/// "rateLimited", "verify": {"approved", "invalid", "expired",
/// "maxAttemptsReached", "notFound"}, "conversion": {"lastHour": C,
/// "lastDay": C}}` where C is `{"started", "delivered", "approvedByCode",
/// "approvedInbound", "rate" (0–1 or null)}` (verifications started, codes
/// delivered, approvals by method; the windows move in 5-minute steps).
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_stats_get(
    gateway: *const waotp_gateway,
    stats_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let slot = out(stats_json_out, "stats_json_out")?;
        *slot = c_json(json::stats(&g.gateway.stats()))?;
        Ok(())
    })
}

/// The statistics in Prometheus text exposition format (free with
/// `waotp_string_free`).
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_stats_prometheus(
    gateway: *const waotp_gateway,
    text_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let slot = out(text_out, "text_out")?;
        *slot = c_string(g.gateway.stats_prometheus())?;
        Ok(())
    })
}

/// Sandbox builds only: moves the gateway's manual clock (see
/// `waotp_options_set_manual_clock`) forward by `ms` milliseconds, e.g. to
/// expire an OTP in a test.
///
/// Errors: `WAOTP_SANDBOX_ONLY` in normal builds, `WAOTP_INVALID_ARGUMENT`
/// when the gateway was opened without `manual_clock`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_test_clock_advance(gateway: *const waotp_gateway, ms: u64) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        g.gateway.advance_clock(millis(ms))?;
        Ok(())
    })
}
