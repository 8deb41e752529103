//! Status codes with fixed numbers, and the thread-local last error message.

use std::cell::RefCell;
use std::ffi::c_char;

/// What a call returned. `WAOTP_OK` (0) is success; every other value is a
/// failure whose message `waotp_last_error_message` gives.
///
/// Numbers are fixed and never reused. 1–22 are the core's error codes in the
/// order of `waotp::Error::ALL_CODES` (the same strings every binding uses;
/// `waotp_status_code_name` returns them); 100 and up are errors of the C
/// boundary itself.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum waotp_status {
    /// Success.
    WAOTP_OK = 0,
    /// No session with this id exists in the gateway.
    WAOTP_SESSION_NOT_FOUND = 1,
    /// A session id that is not `[A-Za-z0-9_-]{1,64}`.
    WAOTP_INVALID_SESSION_ID = 2,
    /// The operation needs a connected session.
    WAOTP_NOT_CONNECTED = 3,
    /// The recipient has no WhatsApp account.
    WAOTP_NOT_ON_WHATSAPP = 4,
    /// The phone number could not be read.
    WAOTP_INVALID_PHONE = 5,
    /// No QR code to show yet (the session is starting or connecting).
    WAOTP_QR_NOT_AVAILABLE = 6,
    /// The session is already linked and connected; there is no QR code.
    WAOTP_ALREADY_CONNECTED = 7,
    /// The linked device was logged out; link it again.
    WAOTP_LOGGED_OUT = 8,
    /// A wait ran out of time (also: `waotp_events_poll` found no event).
    WAOTP_TIMEOUT = 9,
    /// An argument is out of range or malformed.
    WAOTP_INVALID_ARGUMENT = 10,
    /// A rate limit was hit; the message says when to retry.
    WAOTP_RATE_LIMITED = 11,
    /// No message with this id is known.
    WAOTP_MESSAGE_NOT_FOUND = 12,
    /// No OTP for this recipient.
    WAOTP_OTP_NOT_FOUND = 13,
    /// The OTP has expired.
    WAOTP_OTP_EXPIRED = 14,
    /// Too many wrong codes were entered.
    WAOTP_OTP_MAX_ATTEMPTS = 15,
    /// The code does not match.
    WAOTP_OTP_INVALID = 16,
    /// The endpoint is not allowed in this build (a normal build takes none;
    /// a sandbox build takes only loopback `ws://` URLs).
    WAOTP_ENDPOINT_NOT_ALLOWED = 17,
    /// WhatsApp refused or failed to send a message.
    WAOTP_SEND_FAILED = 18,
    /// The WhatsApp client reported an error.
    WAOTP_WHATSAPP_ERROR = 19,
    /// The persistent store failed.
    WAOTP_STORE_ERROR = 20,
    /// A file system operation failed.
    WAOTP_IO_ERROR = 21,
    /// The gateway has been closed.
    WAOTP_CLOSED = 22,
    /// A required pointer argument was NULL.
    WAOTP_NULL_PARAMETER = 100,
    /// A string argument was not valid UTF-8.
    WAOTP_INVALID_UTF8 = 101,
    /// The library panicked; the call had no effect that can be relied on.
    WAOTP_PANIC = 102,
    /// A blocking call was made from a thread that runs an async runtime
    /// (for example from inside a Rust async task); it would deadlock.
    WAOTP_REENTRANT_CALL = 103,
    /// The call was made in a child process after `fork()`; the library's
    /// threads do not exist there. Open a new gateway only in a process
    /// that has not inherited one, or call before forking only.
    WAOTP_AFTER_FORK = 104,
    /// The async runtime could not be started.
    WAOTP_RUNTIME_ERROR = 105,
    /// The operation exists only in sandbox builds (`--features sandbox`).
    WAOTP_SANDBOX_ONLY = 106,
    /// An error code this version of the C ABI does not know yet.
    WAOTP_UNKNOWN_ERROR = 199,
}

use waotp_status::*;

/// Core codes and their statuses, in `waotp::Error::ALL_CODES` order.
const CORE: [(&str, waotp_status); 22] = [
    ("SESSION_NOT_FOUND", WAOTP_SESSION_NOT_FOUND),
    ("INVALID_SESSION_ID", WAOTP_INVALID_SESSION_ID),
    ("NOT_CONNECTED", WAOTP_NOT_CONNECTED),
    ("NOT_ON_WHATSAPP", WAOTP_NOT_ON_WHATSAPP),
    ("INVALID_PHONE", WAOTP_INVALID_PHONE),
    ("QR_NOT_AVAILABLE", WAOTP_QR_NOT_AVAILABLE),
    ("ALREADY_CONNECTED", WAOTP_ALREADY_CONNECTED),
    ("LOGGED_OUT", WAOTP_LOGGED_OUT),
    ("TIMEOUT", WAOTP_TIMEOUT),
    ("INVALID_ARGUMENT", WAOTP_INVALID_ARGUMENT),
    ("RATE_LIMITED", WAOTP_RATE_LIMITED),
    ("MESSAGE_NOT_FOUND", WAOTP_MESSAGE_NOT_FOUND),
    ("OTP_NOT_FOUND", WAOTP_OTP_NOT_FOUND),
    ("OTP_EXPIRED", WAOTP_OTP_EXPIRED),
    ("OTP_MAX_ATTEMPTS", WAOTP_OTP_MAX_ATTEMPTS),
    ("OTP_INVALID", WAOTP_OTP_INVALID),
    ("ENDPOINT_NOT_ALLOWED", WAOTP_ENDPOINT_NOT_ALLOWED),
    ("SEND_FAILED", WAOTP_SEND_FAILED),
    ("WHATSAPP_ERROR", WAOTP_WHATSAPP_ERROR),
    ("STORE_ERROR", WAOTP_STORE_ERROR),
    ("IO_ERROR", WAOTP_IO_ERROR),
    ("CLOSED", WAOTP_CLOSED),
];

/// Statuses of the C boundary, with their code strings.
const BOUNDARY: [(&str, waotp_status); 9] = [
    ("OK", WAOTP_OK),
    ("NULL_PARAMETER", WAOTP_NULL_PARAMETER),
    ("INVALID_UTF8", WAOTP_INVALID_UTF8),
    ("PANIC", WAOTP_PANIC),
    ("REENTRANT_CALL", WAOTP_REENTRANT_CALL),
    ("AFTER_FORK", WAOTP_AFTER_FORK),
    ("RUNTIME_ERROR", WAOTP_RUNTIME_ERROR),
    ("SANDBOX_ONLY", WAOTP_SANDBOX_ONLY),
    ("UNKNOWN_ERROR", WAOTP_UNKNOWN_ERROR),
];

impl waotp_status {
    /// The status of a core error code; unknown codes (a newer core) map to
    /// `WAOTP_UNKNOWN_ERROR`, whose message still names the code.
    pub(crate) fn of_code(code: &str) -> waotp_status {
        CORE.iter()
            .find(|(c, _)| *c == code)
            .map(|(_, s)| *s)
            .unwrap_or(WAOTP_UNKNOWN_ERROR)
    }

    /// The code string: the core's for 1–22, the boundary's otherwise.
    pub(crate) fn code_name(number: i32) -> &'static [u8] {
        // NUL-terminated so the C side can use them directly.
        macro_rules! z {
            ($($name:literal),* $(,)?) => {
                &[$(concat!($name, "\0").as_bytes()),*]
            };
        }
        const CORE_Z: &[&[u8]] = z!(
            "SESSION_NOT_FOUND",
            "INVALID_SESSION_ID",
            "NOT_CONNECTED",
            "NOT_ON_WHATSAPP",
            "INVALID_PHONE",
            "QR_NOT_AVAILABLE",
            "ALREADY_CONNECTED",
            "LOGGED_OUT",
            "TIMEOUT",
            "INVALID_ARGUMENT",
            "RATE_LIMITED",
            "MESSAGE_NOT_FOUND",
            "OTP_NOT_FOUND",
            "OTP_EXPIRED",
            "OTP_MAX_ATTEMPTS",
            "OTP_INVALID",
            "ENDPOINT_NOT_ALLOWED",
            "SEND_FAILED",
            "WHATSAPP_ERROR",
            "STORE_ERROR",
            "IO_ERROR",
            "CLOSED",
        );
        const BOUNDARY_Z: &[&[u8]] = z!(
            "OK",
            "NULL_PARAMETER",
            "INVALID_UTF8",
            "PANIC",
            "REENTRANT_CALL",
            "AFTER_FORK",
            "RUNTIME_ERROR",
            "SANDBOX_ONLY",
            "UNKNOWN_ERROR",
        );
        if (1..=CORE.len() as i32).contains(&number) {
            return CORE_Z[number as usize - 1];
        }
        match BOUNDARY.iter().position(|(_, s)| *s as i32 == number) {
            Some(i) => BOUNDARY_Z[i],
            None => b"UNKNOWN_STATUS\0",
        }
    }
}

/// A failed call: its status and the message for `waotp_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: waotp_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: waotp_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<waotp::Error> for Failure {
    fn from(e: waotp::Error) -> Self {
        let status = waotp_status::of_code(e.code());
        let message = if status == WAOTP_UNKNOWN_ERROR {
            format!("{}: {e}", e.code())
        } else {
            e.to_string()
        };
        Failure { status, message }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn set_last_error(message: &str) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
}

/// Copies the last error message into `buf` (at most `cap - 1` bytes plus a
/// NUL, cut at a UTF-8 boundary); `len` gets the full length.
pub(crate) fn copy_last_error(buf: *mut c_char, cap: usize, len: &mut usize) {
    LAST_ERROR.with(|m| {
        let m = m.borrow();
        *len = m.len();
        if cap == 0 || buf.is_null() {
            return;
        }
        let mut n = m.len().min(cap - 1);
        while !m.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: the caller promised `buf` holds `cap` bytes; n + 1 <= cap.
        unsafe {
            std::ptr::copy_nonoverlapping(m.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_has_its_fixed_number_in_order() {
        assert_eq!(
            waotp::Error::ALL_CODES.len(),
            CORE.len(),
            "a new core code needs a status"
        );
        for (i, code) in waotp::Error::ALL_CODES.iter().enumerate() {
            assert_eq!(CORE[i].0, *code);
            assert_eq!(CORE[i].1 as i32, i as i32 + 1);
            let name = waotp_status::code_name(i as i32 + 1);
            assert_eq!(&name[..name.len() - 1], code.as_bytes());
        }
        assert_eq!(waotp_status::of_code("NOT_A_CODE"), WAOTP_UNKNOWN_ERROR);
        assert_eq!(waotp_status::code_name(100), b"NULL_PARAMETER\0");
        assert_eq!(waotp_status::code_name(0), b"OK\0");
        assert_eq!(waotp_status::code_name(-5), b"UNKNOWN_STATUS\0");
    }
}
