//! Sessions (linked WhatsApp accounts) and plain messages.

use std::ffi::c_char;

use serde_json::{Value, json};

use crate::boundary::{block_on, c_json, c_string, guard, millis, opt_string, out, string};
use crate::gateway::{gw, waotp_gateway};
use crate::json;
use crate::status::{Failure, waotp_status};

/// Renderings of a pairing QR code, for `waotp_session_qr` (`format`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum waotp_qr_format {
    /// The raw payload (`ref,noise,identity,adv,type`), for any QR encoder.
    WAOTP_QR_RAW = 0,
    /// `data:image/png;base64,…`, ready for `<img src>`.
    WAOTP_QR_DATA_URL = 1,
    /// An SVG document.
    WAOTP_QR_SVG = 2,
    /// Unicode half blocks for a terminal.
    WAOTP_QR_TERMINAL = 3,
    /// `{"qr": raw payload, "expiresAt": Unix ms}`.
    WAOTP_QR_JSON = 4,
}

/// Bytes allocated by waotp (a PNG image). Free with `waotp_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct waotp_bytes {
    /// The bytes; NULL when empty or freed.
    pub data: *mut u8,
    /// How many.
    pub len: usize,
}

/// Creates a session and starts pairing it, or finds the existing one with
/// that id (idempotent). `session_id` NULL: a new id `session_<uuid>` is
/// generated. `*session_id_out` gets the id (free with `waotp_string_free`).
///
/// Errors: `WAOTP_INVALID_SESSION_ID` (ids are `[A-Za-z0-9_-]{1,64}`),
/// `WAOTP_CLOSED`, `WAOTP_STORE_ERROR`, `WAOTP_IO_ERROR`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_create(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    session_id_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = opt_string(session_id, "session_id")?;
        let slot = out(session_id_out, "session_id_out")?;
        let session = block_on(g.gateway.create_session(id))??;
        *slot = c_string(session.id().to_owned())?;
        Ok(())
    })
}

/// Every session with its status, sorted by id, as a JSON array of session
/// status objects (see `waotp_session_get_status`). Free with `waotp_string_free`.
///
/// Errors: `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_list(
    gateway: *const waotp_gateway,
    sessions_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let slot = out(sessions_json_out, "sessions_json_out")?;
        let list: Vec<Value> = g
            .gateway
            .list_sessions()
            .iter()
            .map(json::session_status)
            .collect();
        *slot = c_json(Value::Array(list))?;
        Ok(())
    })
}

/// A session's status as JSON (free with `waotp_string_free`):
/// `{"sessionId", "state", "isConnected", "user", "since", "lastSeen",
/// "qrRefreshCount", "reason", "passkey"}` where `state` is one of `starting`,
/// `awaiting_scan`, `passkey_required`, `connecting`, `connected`,
/// `reconnecting`, `logged_out`, `qr_expired`, `stopped`; `user` is
/// `{"jid", "phone", "name"}` or null; `since` and `lastSeen` are Unix ms
/// (`lastSeen` null before the first connection); `reason` is a string or
/// null. `passkey` is null except in state `passkey_required`, where it is
/// `{"optionsJson", "expiresAt", "snippet", "confirmationCode"}`: WhatsApp's
/// WebAuthn request options (verbatim JSON, as a string), when it stops
/// accepting an answer (Unix ms), the JavaScript to run in the console of a
/// `https://web.whatsapp.com` tab (it prints the assertion JSON for
/// `waotp_session_submit_passkey`), and the code the phone shows
/// (`XXXX-XXXX`) once WhatsApp derived one, else null.
///
/// Errors: `WAOTP_SESSION_NOT_FOUND`, `WAOTP_INVALID_SESSION_ID`,
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_get_status(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let slot = out(status_json_out, "status_json_out")?;
        *slot = c_json(json::session_status(&g.gateway.session(id)?.status()))?;
        Ok(())
    })
}

/// The session's current pairing QR code in `format` (a `waotp_qr_format`
/// value), written to `*qr_out` (free with `waotp_string_free`). With
/// `wait_ms` > 0 waits that long for a code to appear (starting a fresh
/// pairing if the old codes expired or the device was logged out); with 0
/// answers at once.
///
/// Errors: `WAOTP_QR_NOT_AVAILABLE` (no code yet; with `wait_ms` 0),
/// `WAOTP_TIMEOUT` (none within `wait_ms`), `WAOTP_ALREADY_CONNECTED`,
/// `WAOTP_SESSION_NOT_FOUND`, `WAOTP_INVALID_ARGUMENT` (unknown format),
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_qr(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    format: u32,
    wait_ms: u64,
    qr_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let slot = out(qr_out, "qr_out")?;
        let qr = current_qr(g, id, wait_ms)?;
        let text = match format {
            0 => qr.raw().to_owned(),
            1 => qr.png_data_url()?,
            2 => qr.svg()?,
            3 => qr.terminal()?,
            4 => json!({"qr": qr.raw(), "expiresAt": json::unix_ms(qr.expires_at())}).to_string(),
            other => {
                return Err(Failure::new(
                    waotp_status::WAOTP_INVALID_ARGUMENT,
                    format!("unknown QR format {other}"),
                ));
            }
        };
        *slot = c_string(text)?;
        Ok(())
    })
}

/// The session's current pairing QR code as a PNG image (8-bit grayscale),
/// written to `*png_out` (free with `waotp_bytes_free`). `wait_ms` and the
/// errors are those of `waotp_session_qr`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_qr_png(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    wait_ms: u64,
    png_out: *mut waotp_bytes,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let slot = out(png_out, "png_out")?;
        let png = current_qr(g, id, wait_ms)?.png()?.into_boxed_slice();
        let len = png.len();
        *slot = waotp_bytes {
            data: Box::into_raw(png).cast::<u8>(),
            len,
        };
        Ok(())
    })
}

fn current_qr(g: &waotp_gateway, id: &str, wait_ms: u64) -> Result<waotp::QrCode, Failure> {
    let session = g.gateway.session(id)?;
    let qr = if wait_ms == 0 {
        block_on(session.qr())?
    } else {
        block_on(session.wait_qr(millis(wait_ms)))?
    };
    Ok(qr?)
}

/// Asks WhatsApp for an 8-character pairing code for the account `phone`
/// (typed on the phone: WhatsApp → Linked devices → Link with phone number).
/// The QR code stays valid as a fallback. `*code_out`: free with
/// `waotp_string_free`.
///
/// Errors: `WAOTP_ALREADY_CONNECTED`, `WAOTP_INVALID_PHONE`,
/// `WAOTP_SESSION_NOT_FOUND`, `WAOTP_WHATSAPP_ERROR`, `WAOTP_TIMEOUT`,
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_pair_code(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    phone: *const c_char,
    code_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let phone = string(phone, "phone")?;
        let slot = out(code_out, "code_out")?;
        let session = g.gateway.session(id)?;
        let code = block_on(session.pair_code(phone))??;
        *slot = c_string(code)?;
        Ok(())
    })
}

/// Answers WhatsApp's passkey check of a link (state `passkey_required`):
/// `assertion_json` is what the status's `passkey.snippet` printed in a
/// `https://web.whatsapp.com` tab (a `PublicKeyCredential` as JSON: `id`,
/// `rawId`, `type`, `response` with `clientDataJSON`, `authenticatorData`,
/// `signature`, `userHandle`). Returns once WhatsApp accepted it; the link
/// then completes (wait for it with `waotp_session_wait_connected`). Works
/// from any process that opened the gateway's data directory.
///
/// After `WAOTP_PASSKEY_REJECTED` or `WAOTP_PASSKEY_EXPIRED` the session
/// starts linking again: a fresh QR code follows.
///
/// Errors: `WAOTP_INVALID_ARGUMENT` (not an assertion, or the session is not
/// waiting for a passkey), `WAOTP_PASSKEY_REJECTED`, `WAOTP_PASSKEY_EXPIRED`,
/// `WAOTP_SESSION_NOT_FOUND`, `WAOTP_TIMEOUT`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_submit_passkey(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    assertion_json: *const c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let assertion = string(assertion_json, "assertion_json")?;
        let session = g.gateway.session(id)?;
        block_on(session.submit_passkey_assertion(assertion))??;
        Ok(())
    })
}

/// Waits up to `timeout_ms` until the session is connected, then writes its
/// status JSON (as `waotp_session_get_status`) to `*status_json_out`.
///
/// Errors: `WAOTP_TIMEOUT` (also when every QR code expired unscanned),
/// `WAOTP_LOGGED_OUT`, `WAOTP_SESSION_NOT_FOUND`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_wait_connected(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    timeout_ms: u64,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let slot = out(status_json_out, "status_json_out")?;
        let session = g.gateway.session(id)?;
        let status = block_on(session.wait_connected(millis(timeout_ms)))??;
        *slot = c_json(json::session_status(&status))?;
        Ok(())
    })
}

/// Which lifecycle call `session_action` makes.
enum Action {
    Restart,
    Logout,
    Delete,
}

fn session_action(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    action: Action,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        match action {
            Action::Restart => {
                let s = g.gateway.session(id)?;
                block_on(s.restart())??
            }
            Action::Logout => {
                let s = g.gateway.session(id)?;
                block_on(s.logout())??
            }
            Action::Delete => block_on(g.gateway.delete_session(id))??,
        }
        Ok(())
    })
}

/// Stops the session's client and starts a new one on the same credentials
/// (a linked session reconnects without a QR code).
///
/// Errors: `WAOTP_SESSION_NOT_FOUND`, `WAOTP_CLOSED`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_restart(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
) -> waotp_status {
    session_action(gateway, session_id, Action::Restart)
}

/// Unlinks the device and removes its credentials; the session stays (state
/// `logged_out`) and can be linked again through a new QR code.
///
/// Errors: as `waotp_session_restart`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_logout(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
) -> waotp_status {
    session_action(gateway, session_id, Action::Logout)
}

/// Logs the session out, removes its credentials from disk and forgets it.
///
/// Errors: as `waotp_session_restart`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_delete(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
) -> waotp_status {
    session_action(gateway, session_id, Action::Delete)
}

/// Sends a text message from the session to `to` (any phone form: `08…`,
/// `+62…`, E.164). `idempotency_key` may be NULL; with one, repeating the
/// call sends nothing new and returns the first message's id. `*message_id_out`
/// gets the WhatsApp message id (free with `waotp_string_free`).
///
/// Errors: `WAOTP_NOT_CONNECTED`, `WAOTP_INVALID_PHONE`, `WAOTP_SEND_FAILED`,
/// `WAOTP_INVALID_ARGUMENT` (empty or too long text), `WAOTP_SESSION_NOT_FOUND`,
/// `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_send_text(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    to: *const c_char,
    text: *const c_char,
    idempotency_key: *const c_char,
    message_id_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let to = string(to, "to")?;
        let text = string(text, "text")?;
        let key = opt_string(idempotency_key, "idempotency_key")?;
        let slot = out(message_id_out, "message_id_out")?;
        let session = g.gateway.session(id)?;
        let sent = block_on(session.send_text(to, text, key))??;
        *slot = c_string(sent.id)?;
        Ok(())
    })
}

/// Whether `phone` has a WhatsApp account, asked through the session.
///
/// Errors: `WAOTP_NOT_CONNECTED`, `WAOTP_INVALID_PHONE`,
/// `WAOTP_SESSION_NOT_FOUND`, `WAOTP_WHATSAPP_ERROR`, `WAOTP_INVALID_UTF8`,
/// `WAOTP_NULL_PARAMETER`, context errors.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_session_is_on_whatsapp(
    gateway: *const waotp_gateway,
    session_id: *const c_char,
    phone: *const c_char,
    on_whatsapp_out: *mut bool,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(session_id, "session_id")?;
        let phone = string(phone, "phone")?;
        let slot = out(on_whatsapp_out, "on_whatsapp_out")?;
        let session = g.gateway.session(id)?;
        *slot = block_on(session.is_on_whatsapp(phone))??;
        Ok(())
    })
}

/// The delivery record of a message sent through any session, as JSON (free
/// with `waotp_string_free`): `{"messageId", "sessionId", "to", "status",
/// "updatedAt"}` plus `"reason"` when failed; `status` is `pending`
/// (written), `sent` (server ack), `delivered`, `read` or `failed`.
///
/// Errors: `WAOTP_MESSAGE_NOT_FOUND`, `WAOTP_INVALID_UTF8`, `WAOTP_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_message_get_status(
    gateway: *const waotp_gateway,
    message_id: *const c_char,
    status_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let id = string(message_id, "message_id")?;
        let slot = out(status_json_out, "status_json_out")?;
        *slot = c_json(json::message_record(&block_on(
            g.gateway.message_status(id),
        )??))?;
        Ok(())
    })
}
