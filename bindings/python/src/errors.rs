//! Core errors as the exceptions of `waotp.errors`: one class per stable
//! code, chosen by the Python side (`waotp.errors._from_native`) so that the
//! hierarchy, including `ValueError` and `TimeoutError` bases, is written once.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Extra facts some errors carry, passed to the exception's attributes.
#[derive(Default)]
struct Details {
    retry_after_ms: Option<u64>,
    attempts_left: Option<u32>,
}

/// The Python exception for a core error.
pub(crate) fn to_py_err(py: Python<'_>, e: waotp::Error) -> PyErr {
    let details = Details {
        retry_after_ms: e
            .retry_after()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        attempts_left: e.attempts_left(),
    };
    exception(py, e.code(), &e.to_string(), details)
}

/// The Python exception for a runtime that cannot be used (after a fork).
pub(crate) fn runtime_error(py: Python<'_>, e: waotp::runtime::RuntimeError) -> PyErr {
    exception(py, e.code(), &e.to_string(), Details::default())
}

/// An `INVALID_ARGUMENT` error raised by this module's own checks.
pub(crate) fn invalid_argument(message: impl Into<String>) -> waotp::Error {
    waotp::Error::InvalidArgument(message.into())
}

fn exception(py: Python<'_>, code: &str, message: &str, d: Details) -> PyErr {
    static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let made = FROM_NATIVE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("waotp.errors")?.getattr("_from_native")?.unbind())
        })
        .and_then(|f| f.call1(py, (code, message, d.retry_after_ms, d.attempts_left)));
    match made {
        Ok(instance) => PyErr::from_value(instance.into_bound(py)),
        // `waotp.errors` is part of the package; without it, say so plainly.
        Err(e) => e,
    }
}
