//! Sender pools: the ids a caller passes to pick from, and a text sent
//! through a pool (an OTP through a pool is in `otp.rs`).

use std::ffi::c_char;

use waotp::SenderPool;

use crate::boundary::{block_on, c_json, guard, out, string};
use crate::gateway::{gw, waotp_gateway};
use crate::json;
use crate::status::{Failure, waotp_status};

/// The pool named by `session_count` ids at `session_ids`, or every session
/// of the gateway when `session_ids` is NULL (and `session_count` 0).
pub(crate) fn sender_pool(
    session_ids: *const *const c_char,
    session_count: usize,
) -> Result<SenderPool, Failure> {
    if session_ids.is_null() {
        if session_count != 0 {
            return Err(waotp::Error::InvalidArgument(
                "session_ids is NULL but session_count is not 0".into(),
            )
            .into());
        }
        return Ok(SenderPool::All);
    }
    // SAFETY: the caller passes `session_count` pointers at `session_ids`.
    let ids = unsafe { std::slice::from_raw_parts(session_ids, session_count) };
    let mut owned = Vec::with_capacity(ids.len());
    for id in ids {
        owned.push(string(*id, "session_ids[i]")?.to_owned());
    }
    Ok(SenderPool::Sessions(owned))
}

/// Sends `text` to `to` through the best session of a sender pool (the
/// ids and the order of `waotp_otp_send_pool`), failing over to the next
/// number when one is refused. No idempotency key: the same text through
/// another number would be another message.
///
/// `*result_json_out` (free with `waotp_string_free`):
/// `{"messageId", "sessionId", "to"}`, `sessionId` naming the session that
/// sent it.
///
/// Errors: `WAOTP_ACCOUNT_LIMITED` when no number can deliver
/// (`waotp_last_error_retry_after_ms` says when a limit ends, when known),
/// `WAOTP_SESSION_NOT_FOUND` (an id of the pool), `WAOTP_INVALID_ARGUMENT`
/// (an empty pool, a non-NULL count with NULL ids, an empty or too long
/// text), and those of `waotp_session_send_text`.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_send_text_pool(
    gateway: *const waotp_gateway,
    session_ids: *const *const c_char,
    session_count: usize,
    to: *const c_char,
    text: *const c_char,
    result_json_out: *mut *mut c_char,
) -> waotp_status {
    guard(|| {
        let g = gw(gateway)?;
        let pool = sender_pool(session_ids, session_count)?;
        let to = string(to, "to")?;
        let text = string(text, "text")?;
        let slot = out(result_json_out, "result_json_out")?;
        let sent = block_on(g.gateway.send_text_pool(&pool, to, text))??;
        *slot = c_json(json::sent_message(&sent))?;
        Ok(())
    })
}
