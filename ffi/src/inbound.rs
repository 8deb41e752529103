//! Inbound verification: the user sends the code from WhatsApp.

use std::ffi::c_char;
use std::time::Duration;

use waotp::InboundRequest;

use crate::boundary::{block_on, c_json, guard, opt_string, out, string};
use crate::gateway::{gw, waotp_gateway};
use crate::json;
use crate::pool::sender_pool;
use crate::status::{Failure, waotp_status};

/// Options of one `waotp_inbound_start`. Zero / NULL fields take the
/// defaults; passing NULL instead of the struct means all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct waotp_inbound_request {
    /// Only a message from this number approves it (any phone form). NULL:
    /// any sender does, and is reported (login with WhatsApp).
    pub expected_phone: *const c_char,
    /// The text the user sends; must contain `{TOKEN}` once. NULL:
    /// `Kode masuk: {TOKEN}`.
    pub template_text: *const c_char,
    /// Validity in seconds, 30–86400. 0: 600.
    pub ttl_secs: u32,
    /// A text sent to the user once approved (in the chat they opened, so
    /// it costs no new-chat quota). NULL: none.
    pub reply: *const c_char,
}

fn inbound_request(request: *const waotp_inbound_request) -> Result<InboundRequest, Failure> {
    let mut req = InboundRequest::new();
    // SAFETY: NULL means defaults; otherwise the caller's initialised struct.
    let Some(r) = (unsafe { request.as_ref() }) else {
        return Ok(req);
    };
    if let Some(phone) = opt_string(r.expected_phone, "request->expected_phone")? {
        req = req.expected_phone(phone);
    }
    if let Some(template) = opt_string(r.template_text, "request->template_text")? {
        req = req.template(template);
    }
    if r.ttl_secs != 0 {
        req = req.ttl(Duration::from_secs(r.ttl_secs.into()));
    }
    if let Some(reply) = opt_string(r.reply, "request->reply")? {
        req = req.reply(reply);
    }
    Ok(req)
}

/// Starts an inbound verification: the user opens the link (or scans its
/// QR code), WhatsApp opens with the text written out, the user taps send,
/// and the linked number receives the token. The number is one of a pool
/// (the ids and NULL/0 for every session, as `waotp_otp_send_pool`): the
/// one the expected number already has a chat with, else the one used
/// least recently; numbers limited on new chats receive as well as any.
///
/// `*result_json_out` (free with `waotp_string_free`): `{"verificationId",
/// "sessionId", "number", "text", "link", "qrCode" (PNG data URL),
/// "expiresAt"}`.
///
/// Errors: `WAOTP_NOT_CONNECTED` (no number of the pool can receive),
/// `WAOTP_INVALID_ARGUMENT` (a template without `{TOKEN}`, a validity out
/// of range, an empty pool), `WAOTP_INVALID_PHONE`, `WAOTP_SESSION_NOT_FOUND`,
/// `WAOTP_STORE_ERROR`, `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_inbound_start(
    gateway: *const waotp_gateway,
    session_ids: *const *const c_char,
    session_count: usize,
    request: *const waotp_inbound_request,
    result_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let pool = sender_pool(session_ids, session_count)?;
        let req = inbound_request(request)?;
        let slot = out(result_json_out, "result_json_out")?;
        let started = block_on(g.gateway.start_inbound_verification(&pool, &req))??;
        *slot = c_json(json::inbound_verification(&started)?)?;
        Ok(())
    })
}

/// Where an inbound verification stands, as JSON (free with
/// `waotp_string_free`): `{"verificationId", "sessionId", "status"
/// (pending, approved, canceled, expired, max_attempts_reached),
/// "expectedPhone", "sender" (the number that sent the token, once
/// approved), "attempts", "maxAttempts", "createdAt", "expiresAt",
/// "approvedAt"}`. Visible from every process that shares the store.
///
/// Errors: `WAOTP_OTP_NOT_FOUND` (unknown, or forgotten an hour after it
/// expired), `WAOTP_STORE_ERROR`, `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_inbound_get_status(
    gateway: *const waotp_gateway,
    verification_id: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(verification_id, "verification_id")?;
        let slot = out(status_json_out, "status_json_out")?;
        let status = block_on(g.gateway.inbound_verification_status(id))??;
        *slot = c_json(json::inbound_status(&status))?;
        Ok(())
    })
}

/// Cancels a pending inbound verification and writes where it stands (as
/// `waotp_inbound_get_status`) to `*status_json_out`.
///
/// Errors: as `waotp_inbound_get_status`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_inbound_cancel(
    gateway: *const waotp_gateway,
    verification_id: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(verification_id, "verification_id")?;
        let slot = out(status_json_out, "status_json_out")?;
        let status = block_on(g.gateway.cancel_inbound_verification(id))??;
        *slot = c_json(json::inbound_status(&status))?;
        Ok(())
    })
}
