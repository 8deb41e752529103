//! The C boundary's machinery: the panic guard, the runtime, and typed
//! conversions of pointers, strings and outputs. Exports use only these.

use std::ffi::{CStr, CString, c_char};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{Failure, set_last_error, waotp_status};

pub(crate) type Outcome = Result<(), Failure>;

/// Runs an export's body behind the panic boundary, turning its failure (or a
/// panic) into a status and the thread's last error message.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> waotp_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => waotp_status::WAOTP_OK,
        Ok(Err(f)) => {
            set_last_error(&f.message, f.retry_after_ms);
            f.status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("panic in waotp: {what}"), 0);
            waotp_status::WAOTP_PANIC
        }
    }
}

/// For `void` exports (the `_free` functions): panics are swallowed.
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// The core's process-wide runtime, from a plain thread of this process.
pub(crate) fn check_context() -> Result<&'static tokio::runtime::Handle, Failure> {
    let rt = waotp::runtime::shared().map_err(runtime_failure)?;
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Failure::new(
            waotp_status::WAOTP_REENTRANT_CALL,
            "blocking waotp call from a thread that runs an async runtime (it would deadlock)",
        ));
    }
    Ok(rt)
}

/// Fails after a fork: locks held by the parent's threads would never be released.
pub(crate) fn check_fork() -> Result<(), Failure> {
    waotp::runtime::check_fork().map_err(runtime_failure)
}

fn runtime_failure(e: waotp::runtime::RuntimeError) -> Failure {
    Failure::new(waotp_status::of_kind(e.kind()), e.to_string())
}

/// Runs a future to completion on the runtime, from a plain thread.
pub(crate) fn block_on<T>(fut: impl Future<Output = T>) -> Result<T, Failure> {
    let rt = check_context()?;
    Ok(rt.block_on(fut))
}

/// A reference from a pointer the caller must keep valid for the call.
pub(crate) fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: non-NULL pointers come from this library or point at the
    // caller's initialised value, as the header documents.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// An output slot; NULL is refused.
pub(crate) fn out<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: as for `arg`; the slot is written only on success.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

pub(crate) fn null(name: &str) -> Failure {
    Failure::new(
        waotp_status::WAOTP_NULL_PARAMETER,
        format!("`{name}` is NULL"),
    )
}

/// A required NUL-terminated UTF-8 string.
pub(crate) fn string<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: the caller passes a NUL-terminated string valid for the call.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            waotp_status::WAOTP_INVALID_UTF8,
            format!("`{name}` is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// An optional string: NULL means "not given".
pub(crate) fn opt_string<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        string(ptr, name).map(Some)
    }
}

/// A Rust string handed to C; freed by `waotp_string_free`.
pub(crate) fn c_string(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s).map(CString::into_raw).map_err(|_| {
        Failure::new(
            waotp_status::WAOTP_INVALID_ARGUMENT,
            "result contains a NUL byte",
        )
    })
}

/// Serialises a JSON value into a C string.
pub(crate) fn c_json(v: serde_json::Value) -> Result<*mut c_char, Failure> {
    c_string(v.to_string())
}

/// Milliseconds to a Duration.
pub(crate) fn millis(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::waotp_status::*;

    fn last_error() -> String {
        let mut buf = vec![0 as c_char; 256];
        let mut len = 0usize;
        assert_eq!(
            crate::waotp_last_error_message(buf.as_mut_ptr(), buf.len(), &mut len),
            WAOTP_OK
        );
        // SAFETY: NUL-terminated by waotp_last_error_message.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        assert_eq!(guard(|| panic!("boom")), WAOTP_PANIC);
        assert_eq!(last_error(), "panic in waotp: boom");
        assert_eq!(guard(|| Ok(())), WAOTP_OK);
    }

    #[test]
    fn a_blocking_call_inside_a_runtime_is_refused_not_deadlocked() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut gw = std::ptr::null_mut();
            assert_eq!(
                crate::waotp_gateway_open(std::ptr::null(), &mut gw),
                WAOTP_REENTRANT_CALL
            );
            assert!(gw.is_null(), "no output on failure");
            assert!(last_error().contains("async runtime"));
        });
    }

    #[test]
    fn strings_are_checked() {
        assert_eq!(
            string(std::ptr::null(), "x").unwrap_err().status,
            WAOTP_NULL_PARAMETER
        );
        assert_eq!(
            string(c"\xff".as_ptr(), "x").unwrap_err().status,
            WAOTP_INVALID_UTF8
        );
        assert_eq!(string(c"héllo".as_ptr(), "x").unwrap(), "héllo");
        assert_eq!(opt_string(std::ptr::null(), "x").unwrap(), None);
    }
}
