//! The blocking C ABI of waotp (`libwaotp`, header `include/waotp.h`).
//!
//! A thin layer: every export converts its arguments, calls the async core on
//! one process-wide tokio runtime (two worker threads, started by the first
//! call that needs it) and converts the answer. The conventions (errors,
//! ownership, threads, UTF-8) are in `cbindgen.toml`'s header block.

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// Exports are called from C, where `unsafe` means nothing; each one checks
// its pointers and documents what it requires of them.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod boundary;
mod gateway;
mod inbound;
mod json;
mod options;
mod otp;
mod pool;
mod session;
mod status;

use std::ffi::{CString, c_char};

pub use gateway::{
    waotp_events_poll, waotp_gateway, waotp_gateway_close, waotp_gateway_open,
    waotp_gateway_open_with, waotp_gateway_options, waotp_gateway_options_default, waotp_stats_get,
    waotp_stats_prometheus, waotp_test_clock_advance,
};
pub use inbound::{
    waotp_inbound_cancel, waotp_inbound_get_status, waotp_inbound_request, waotp_inbound_start,
};
pub use options::{
    waotp_options, waotp_options_free, waotp_options_new, waotp_options_set_check_on_whatsapp,
    waotp_options_set_data_dir, waotp_options_set_default_country_code, waotp_options_set_endpoint,
    waotp_options_set_manual_clock, waotp_options_set_memory_store, waotp_options_set_no_limits,
    waotp_options_set_on_whatsapp_cache_ttl_ms, waotp_options_set_otp_length,
    waotp_options_set_otp_locale, waotp_options_set_otp_max_attempts, waotp_options_set_otp_secret,
    waotp_options_set_otp_ttl_ms, waotp_options_set_redis_key_prefix,
    waotp_options_set_redis_lease_ttl_ms, waotp_options_set_redis_url,
    waotp_options_set_resend_cooldown_ms, waotp_options_set_send_retry,
    waotp_options_set_sends_per_recipient, waotp_options_set_session_pacing,
    waotp_options_set_verifies_per_recipient, waotp_options_set_whatsapp_version,
};
pub use otp::{
    waotp_otp_cancel, waotp_otp_generate, waotp_otp_get_status, waotp_otp_request, waotp_otp_send,
    waotp_otp_verify, waotp_verify_outcome, waotp_verify_result,
};
pub use pool::waotp_send_text_pool;
pub use session::{
    waotp_bytes, waotp_message_get_status, waotp_qr_format, waotp_session_create,
    waotp_session_delete, waotp_session_get_status, waotp_session_is_on_whatsapp,
    waotp_session_list, waotp_session_logout, waotp_session_pair_code, waotp_session_qr,
    waotp_session_qr_png, waotp_session_restart, waotp_session_send_text,
    waotp_session_submit_passkey, waotp_session_wait_connected,
};
pub use status::waotp_status;

use boundary::guard_void;

/// Frees a string returned by waotp and sets `*s` to NULL. `s == NULL` or
/// `*s == NULL` is a no-op, so freeing twice through the same variable is
/// harmless. Only for strings waotp returned.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_string_free(s: *mut *mut c_char) {
    guard_void(|| {
        // SAFETY: NULL is a no-op; otherwise the caller's slot.
        let Some(slot) = (unsafe { s.as_mut() }) else {
            return;
        };
        if slot.is_null() {
            return;
        }
        // SAFETY: made by `CString::into_raw` in this library, not yet freed
        // (freeing NULLs the slot).
        drop(unsafe { CString::from_raw(*slot) });
        *slot = std::ptr::null_mut();
    })
}

/// Frees bytes returned by waotp and sets `bytes->data` to NULL and
/// `bytes->len` to 0. `bytes == NULL` or `bytes->data == NULL` is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_bytes_free(bytes: *mut waotp_bytes) {
    guard_void(|| {
        // SAFETY: NULL is a no-op; otherwise the caller's struct.
        let Some(b) = (unsafe { bytes.as_mut() }) else {
            return;
        };
        if b.data.is_null() {
            return;
        }
        // SAFETY: made from a boxed slice of exactly `len` bytes in this library.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(b.data, b.len)) });
        b.data = std::ptr::null_mut();
        b.len = 0;
    })
}

/// Copies the message of the last failed call on this thread into `buf`
/// (at most `cap - 1` bytes and a NUL, cut at a UTF-8 character boundary) and
/// writes its full length (without the NUL) to `*len_out`; a message longer
/// than `cap - 1` is truncated. `buf` may be NULL when `cap` is 0 (to ask
/// for the length). Messages are UTF-8 and never contain an OTP code. This
/// call does not change the last error.
///
/// Errors: `WAOTP_NULL_PARAMETER` when `len_out` is NULL, or `buf` is NULL
/// with `cap` > 0.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_last_error_message(
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> waotp_status {
    let r = std::panic::catch_unwind(|| {
        // SAFETY: NULL is refused; otherwise the caller's slot.
        let Some(len) = (unsafe { len_out.as_mut() }) else {
            return waotp_status::WAOTP_NULL_PARAMETER;
        };
        if buf.is_null() && cap > 0 {
            return waotp_status::WAOTP_NULL_PARAMETER;
        }
        status::copy_last_error(buf, cap, len);
        waotp_status::WAOTP_OK
    });
    r.unwrap_or(waotp_status::WAOTP_PANIC)
}

/// The stable code string of a status (`"OK"`, `"SESSION_NOT_FOUND"`,
/// `"NULL_PARAMETER"`, …; the same strings as the other bindings'
/// error codes), or `"UNKNOWN_STATUS"`. A static string: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_status_code_name(status: i32) -> *const c_char {
    std::panic::catch_unwind(|| status::waotp_status::code_name(status).as_ptr())
        .unwrap_or(c"UNKNOWN_STATUS".as_ptr())
}

/// The wait, in milliseconds, of the last failed call on this thread when it
/// was `WAOTP_RATE_LIMITED` (the same number as Python's `retry_after_ms`,
/// Node's `retryAfterMs` and the REST server's `retryAfterMs`); 0 after any
/// other failure. Like `waotp_last_error_message`, it does not change the
/// last error.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_last_error_retry_after_ms() -> u64 {
    status::last_retry_after_ms()
}

/// The library's version and build kind, e.g. `"waotp 0.1.0 (whatsapp-rust
/// 0.7.0)"`; sandbox builds say so. A static string: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_version() -> *const c_char {
    static VERSION: std::sync::OnceLock<CString> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| CString::new(waotp::build_info().to_string()).unwrap_or_default())
        .as_ptr()
}

/// True for a sandbox build (`--features sandbox`): loopback simulator
/// endpoints only, certificate chain not verified. Never ship one.
#[unsafe(no_mangle)]
pub extern "C" fn waotp_is_sandbox_build() -> bool {
    waotp::build_info().sandbox
}
