//! Status codes with fixed numbers, and the thread-local last error message.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use waotp::error::ErrorCode;

/// What a call returned. `WAOTP_OK` (0) is success; every other value is a
/// failure whose message `waotp_last_error_message` gives.
///
/// Numbers are fixed and never reused. They come from the core's one table of
/// error codes (`waotp::error::ErrorCode`: the same strings every binding
/// uses; `waotp_status_code_name` returns them): 1–99 the core's errors,
/// 100–199 the C boundary's own and the few codes the core took over from
/// it (AFTER_FORK, RUNTIME_ERROR, SANDBOX_ONLY keep their numbers).
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
    /// A rate limit was hit; `waotp_last_error_retry_after_ms` gives the wait.
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
    /// WhatsApp refused the passkey assertion (wrong credential, bad
    /// signature, another site or challenge); the session starts linking
    /// again with a fresh QR code.
    WAOTP_PASSKEY_REJECTED = 23,
    /// The passkey challenge expired before an assertion arrived; the session
    /// starts linking again with a fresh QR code.
    WAOTP_PASSKEY_EXPIRED = 24,
    /// WhatsApp limits the session's number on new chats (a reachout
    /// timelock, a spent new-chat quota): a code to a recipient without a
    /// chat with the number was refused before it was sent;
    /// `waotp_last_error_retry_after_ms` says when the limit ends, when
    /// known (0 otherwise).
    WAOTP_ACCOUNT_LIMITED = 25,
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

/// Every status, so a number can be turned back into one. cbindgen needs the
/// enum above written out; the test below checks it against the core's code
/// table (`waotp::error::ErrorCode`), which owns every code's string and number.
const ALL: [waotp_status; 33] = [
    WAOTP_OK,
    WAOTP_SESSION_NOT_FOUND,
    WAOTP_INVALID_SESSION_ID,
    WAOTP_NOT_CONNECTED,
    WAOTP_NOT_ON_WHATSAPP,
    WAOTP_INVALID_PHONE,
    WAOTP_QR_NOT_AVAILABLE,
    WAOTP_ALREADY_CONNECTED,
    WAOTP_LOGGED_OUT,
    WAOTP_TIMEOUT,
    WAOTP_INVALID_ARGUMENT,
    WAOTP_RATE_LIMITED,
    WAOTP_MESSAGE_NOT_FOUND,
    WAOTP_OTP_NOT_FOUND,
    WAOTP_OTP_EXPIRED,
    WAOTP_OTP_MAX_ATTEMPTS,
    WAOTP_OTP_INVALID,
    WAOTP_ENDPOINT_NOT_ALLOWED,
    WAOTP_SEND_FAILED,
    WAOTP_WHATSAPP_ERROR,
    WAOTP_STORE_ERROR,
    WAOTP_IO_ERROR,
    WAOTP_CLOSED,
    WAOTP_PASSKEY_REJECTED,
    WAOTP_PASSKEY_EXPIRED,
    WAOTP_ACCOUNT_LIMITED,
    WAOTP_NULL_PARAMETER,
    WAOTP_INVALID_UTF8,
    WAOTP_PANIC,
    WAOTP_REENTRANT_CALL,
    WAOTP_AFTER_FORK,
    WAOTP_RUNTIME_ERROR,
    WAOTP_SANDBOX_ONLY,
];

/// The statuses of the C boundary itself (not in the core's table), with
/// their code strings.
const BOUNDARY: [(waotp_status, &CStr); 6] = [
    (WAOTP_OK, c"OK"),
    (WAOTP_NULL_PARAMETER, c"NULL_PARAMETER"),
    (WAOTP_INVALID_UTF8, c"INVALID_UTF8"),
    (WAOTP_PANIC, c"PANIC"),
    (WAOTP_REENTRANT_CALL, c"REENTRANT_CALL"),
    (WAOTP_UNKNOWN_ERROR, c"UNKNOWN_ERROR"),
];

impl waotp_status {
    /// The status of an entry of the core's code table; one this version of
    /// the C ABI has no status for (a newer core) is `WAOTP_UNKNOWN_ERROR`,
    /// whose message still names the code.
    pub(crate) fn of_kind(kind: ErrorCode) -> waotp_status {
        ALL.iter()
            .copied()
            .find(|s| *s as i64 == i64::from(kind.number()))
            .unwrap_or(WAOTP_UNKNOWN_ERROR)
    }

    /// The NUL-terminated code string: the core table's, or the boundary's.
    pub(crate) fn code_name(number: i32) -> &'static CStr {
        static TABLE: OnceLock<Vec<(i64, CString)>> = OnceLock::new();
        let table = TABLE.get_or_init(|| {
            ErrorCode::ALL
                .iter()
                .map(|c| {
                    let name = CString::new(c.as_str()).unwrap_or_default();
                    (i64::from(c.number()), name)
                })
                .collect()
        });
        if let Some((_, name)) = table.iter().find(|(n, _)| *n == i64::from(number)) {
            return name;
        }
        match BOUNDARY.iter().find(|(s, _)| *s as i32 == number) {
            Some((_, name)) => name,
            None => c"UNKNOWN_STATUS",
        }
    }
}

/// A failed call: its status, the message for `waotp_last_error_message`
/// and the wait for `waotp_last_error_retry_after_ms`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: waotp_status,
    pub(crate) message: String,
    pub(crate) retry_after_ms: u64,
}

impl Failure {
    pub(crate) fn new(status: waotp_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            retry_after_ms: 0,
        }
    }
}

impl From<waotp::Error> for Failure {
    fn from(e: waotp::Error) -> Self {
        let status = waotp_status::of_kind(e.kind());
        let message = if status == WAOTP_UNKNOWN_ERROR {
            format!("{}: {e}", e.code())
        } else {
            e.to_string()
        };
        let retry_after_ms = e
            .retry_after()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Failure {
            status,
            message,
            retry_after_ms,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    static LAST_RETRY_AFTER_MS: Cell<u64> = const { Cell::new(0) };
}

pub(crate) fn set_last_error(message: &str, retry_after_ms: u64) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
    LAST_RETRY_AFTER_MS.with(|r| r.set(retry_after_ms));
}

/// The wait of the last failure on this thread (0: none).
pub(crate) fn last_retry_after_ms() -> u64 {
    LAST_RETRY_AFTER_MS.with(Cell::get)
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
    fn the_c_enum_is_the_core_table_plus_the_boundary() {
        for code in ErrorCode::ALL {
            let status = waotp_status::of_kind(*code);
            assert_ne!(status, WAOTP_UNKNOWN_ERROR, "{code:?} needs a C status");
            assert_eq!(status as i64, i64::from(code.number()), "{code:?}");
            let name = waotp_status::code_name(status as i32);
            assert_eq!(name.to_str().unwrap(), code.as_str());
        }
        for status in ALL.iter().chain([&WAOTP_UNKNOWN_ERROR]) {
            let in_table = ErrorCode::from_number(*status as u32).is_some();
            let in_boundary = BOUNDARY.iter().any(|(s, _)| s == status);
            assert!(in_table != in_boundary, "{status:?}: in exactly one list");
        }
        assert_eq!(waotp_status::code_name(100), c"NULL_PARAMETER");
        assert_eq!(waotp_status::code_name(0), c"OK");
        assert_eq!(waotp_status::code_name(106), c"SANDBOX_ONLY");
        assert_eq!(waotp_status::code_name(-5), c"UNKNOWN_STATUS");
    }

    #[test]
    fn a_rate_limit_keeps_its_wait() {
        let f = Failure::from(waotp::Error::RateLimited {
            reason: "r".into(),
            retry_after: std::time::Duration::from_millis(1500),
        });
        assert_eq!((f.status, f.retry_after_ms), (WAOTP_RATE_LIMITED, 1500));
        assert_eq!(Failure::from(waotp::Error::Closed).retry_after_ms, 0);
    }
}
