//! One-time passwords: generate, send, verify, cancel, status.

use std::ffi::c_char;

use waotp::VerifyOutcome;
use waotp::otp::{Locale, OtpRequest};

use crate::boundary::{block_on, c_json, c_string, guard, opt_string, out, string};
use crate::gateway::{gw, waotp_gateway};
use crate::json;
use crate::pool::sender_pool;
use crate::status::{Failure, waotp_status};

/// Options of one `waotp_otp_send`. Zero / NULL fields take the gateway's
/// defaults; passing NULL instead of the struct means all defaults (and no
/// company name, which the default templates need).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct waotp_otp_request {
    /// Company named in the message (`{COMPANY}`), e.g. `"PT. Contoh"`.
    pub company_name: *const c_char,
    /// Digits, 4–10. 0: the gateway's default (6).
    pub length: u32,
    /// Validity in seconds, 10–86400. 0: the gateway's default (300).
    pub ttl_secs: u32,
    /// Custom message: must contain `{OTP}`; may use `{COMPANY}` and
    /// `{MINUTES}`. NULL: the locale's default message.
    pub template_text: *const c_char,
    /// `"id"` or `"en"`. NULL: the gateway's default.
    pub locale: *const c_char,
    /// Return the code in the result's `otp` field (the code is never
    /// returned otherwise).
    pub reveal_code: bool,
    /// Repeating a send with the same key while its code is pending returns
    /// the same verification and sends nothing. NULL: none.
    pub idempotency_key: *const c_char,
}

/// What a verification found (`waotp_verify_result.outcome`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum waotp_verify_outcome {
    /// The code was right; the OTP is used up.
    WAOTP_VERIFY_APPROVED = 0,
    /// The code was wrong; `attempts_left` attempts remain (0: now locked).
    WAOTP_VERIFY_INVALID = 1,
    /// The OTP expired.
    WAOTP_VERIFY_EXPIRED = 2,
    /// The OTP is locked after too many wrong codes.
    WAOTP_VERIFY_MAX_ATTEMPTS = 3,
    /// No pending OTP for this recipient (never sent, canceled or used).
    WAOTP_VERIFY_NOT_FOUND = 4,
}

/// The result of `waotp_otp_verify`. A wrong code is an answer, not an error.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct waotp_verify_result {
    /// What was found.
    pub outcome: waotp_verify_outcome,
    /// For `WAOTP_VERIFY_INVALID`: attempts that remain; otherwise 0.
    pub attempts_left: u32,
}

/// A random code of `length` digits (4–10) from the OS CSPRNG, uniform, with
/// leading zeros kept. Nothing is stored or sent. `*code_out`: free with
/// `waotp_string_free`.
///
/// Errors: `WAOTP_INVALID_ARGUMENT`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_generate(length: u32, code_out: *mut *mut c_char) -> waotp_status {
    guard(|| {
        let slot = out(code_out, "code_out")?;
        let code = waotp::otp::generate_otp(length as usize)?;
        *slot = c_string(code.expose().to_owned())?;
        Ok(())
    })
}

/// Issues a code for `to` and sends it through session `session_id`
/// (checking the number is on WhatsApp, the limits and the session's pacing;
/// transient failures are retried under one message id). A new code replaces
/// the recipient's pending one. `request` may be NULL (defaults).
///
/// `*result_json_out` (free with `waotp_string_free`): `{"verificationId",
/// "messageId", "sessionId", "to" (E.164 digits), "expiresAt" (Unix ms),
/// "replayed"}` plus `"otp"` (the code, a string) only when `reveal_code`
/// was set.
///
/// Errors: `WAOTP_RATE_LIMITED` (the message says when to retry),
/// `WAOTP_NOT_ON_WHATSAPP`, `WAOTP_NOT_CONNECTED`, `WAOTP_INVALID_PHONE`,
/// `WAOTP_INVALID_ARGUMENT`, `WAOTP_SEND_FAILED`, `WAOTP_SESSION_NOT_FOUND`,
/// `WAOTP_STORE_ERROR`, `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`,
/// context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_send(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    to: *const c_char,
    request: *const waotp_otp_request,
    result_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let to = string(to, "to")?;
        let slot = out(result_json_out, "result_json_out")?;
        let req = otp_request(request)?;
        let sent = block_on(g.gateway.send_otp(id, to, &req))??;
        *slot = c_json(json::sent_otp(&sent))?;
        Ok(())
    })
}

/// The request a C caller described; NULL means defaults.
fn otp_request(request: *const waotp_otp_request) -> Result<OtpRequest, Failure> {
    let mut req = OtpRequest::default();
    // SAFETY: NULL means defaults; otherwise the caller's initialised struct.
    if let Some(r) = unsafe { request.as_ref() } {
        req = OtpRequest::new(opt_string(r.company_name, "request->company_name")?.unwrap_or(""));
        if r.length != 0 {
            req = req.length(r.length as usize);
        }
        if r.ttl_secs != 0 {
            req = req.ttl(std::time::Duration::from_secs(r.ttl_secs.into()));
        }
        if let Some(t) = opt_string(r.template_text, "request->template_text")? {
            req = req.template(t);
        }
        if let Some(l) = opt_string(r.locale, "request->locale")? {
            req = req.locale(l.parse::<Locale>()?);
        }
        if let Some(k) = opt_string(r.idempotency_key, "request->idempotency_key")? {
            req = req.idempotency_key(k);
        }
        req = req.reveal_code(r.reveal_code);
    }
    Ok(req)
}

/// Issues a code for `to` and sends it through the best session of a
/// sender pool: the `session_count` ids at `session_ids`, or every session
/// of the gateway when `session_ids` is NULL (and `session_count` 0). The
/// recipient's previous number goes first, then healthy numbers with the
/// most new-chat quota left; numbers not connected or limited by WhatsApp
/// on new chats are skipped, and a refused send fails over to the next
/// number with the same code. `request` may be NULL (defaults).
///
/// `*result_json_out`: as `waotp_otp_send`; `"sessionId"` names the
/// session that sent it.
///
/// Errors: `WAOTP_ACCOUNT_LIMITED` when no number can deliver
/// (`waotp_last_error_retry_after_ms` says when a limit ends, when known),
/// `WAOTP_SESSION_NOT_FOUND` (an id of the pool), `WAOTP_INVALID_ARGUMENT`
/// (an empty pool, a non-NULL count with NULL ids), and those of
/// `waotp_otp_send`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_send_pool(
    gateway: *const waotp_gateway,
    session_ids: *const *const c_char,
    session_count: usize,
    to: *const c_char,
    request: *const waotp_otp_request,
    result_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let pool = sender_pool(session_ids, session_count)?;
        let to = string(to, "to")?;
        let slot = out(result_json_out, "result_json_out")?;
        let req = otp_request(request)?;
        let sent = block_on(g.gateway.send_otp_pool(&pool, to, &req))??;
        *slot = c_json(json::sent_otp(&sent))?;
        Ok(())
    })
}

/// Checks `code` against the recipient's pending OTP (constant time, attempts
/// counted atomically, single use) and writes the outcome to `*result_out`.
/// A wrong, expired or unknown code is `WAOTP_OK` with that outcome.
///
/// Errors: `WAOTP_INVALID_PHONE`, `WAOTP_RATE_LIMITED` (verification limit),
/// `WAOTP_STORE_ERROR`, `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_verify(
    gateway: *const waotp_gateway,
    to: *const c_char,
    code: *const c_char,
    result_out: *mut waotp_verify_result,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let to = string(to, "to")?;
        let code = string(code, "code")?;
        let slot = out(result_out, "result_out")?;
        use waotp_verify_outcome::*;
        let (outcome, attempts_left) = match block_on(g.gateway.verify_otp(to, code))?? {
            VerifyOutcome::Approved => (WAOTP_VERIFY_APPROVED, 0),
            VerifyOutcome::Invalid { attempts_left } => (WAOTP_VERIFY_INVALID, attempts_left),
            VerifyOutcome::Expired => (WAOTP_VERIFY_EXPIRED, 0),
            VerifyOutcome::MaxAttemptsReached => (WAOTP_VERIFY_MAX_ATTEMPTS, 0),
            // NotFound, and any outcome a newer core adds.
            _ => (WAOTP_VERIFY_NOT_FOUND, 0),
        };
        *slot = waotp_verify_result {
            outcome,
            attempts_left,
        };
        Ok(())
    })
}

/// Cancels the recipient's pending OTP and writes its status afterwards (see
/// `waotp_otp_get_status`) to `*status_json_out`.
///
/// Errors: `WAOTP_OTP_NOT_FOUND`, `WAOTP_INVALID_PHONE`, `WAOTP_STORE_ERROR`,
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_cancel(
    gateway: *const waotp_gateway,
    to: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let to = string(to, "to")?;
        let slot = out(status_json_out, "status_json_out")?;
        *slot = c_json(json::otp_status(&block_on(g.gateway.cancel_otp(to))??))?;
        Ok(())
    })
}

/// The recipient's latest OTP as JSON (free with `waotp_string_free`):
/// `{"verificationId", "to", "sessionId", "status", "delivery", "messageId",
/// "createdAt", "expiresAt", "attempts", "maxAttempts", "attemptsLeft"}`;
/// `status` is `pending`, `approved`, `canceled`, `expired` or
/// `max_attempts_reached`; `delivery` is null or `pending`/`sent`/
/// `delivered`/`read`/`failed`; times are Unix ms. Never contains the code.
///
/// Errors: `WAOTP_OTP_NOT_FOUND`, `WAOTP_INVALID_PHONE`, `WAOTP_STORE_ERROR`,
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_otp_get_status(
    gateway: *const waotp_gateway,
    to: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let to = string(to, "to")?;
        let slot = out(status_json_out, "status_json_out")?;
        *slot = c_json(json::otp_status(&block_on(g.gateway.otp_status(to))??))?;
        Ok(())
    })
}
