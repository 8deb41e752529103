//! Core errors as JavaScript `Error`s: `code` is the core's stable code
//! (`SESSION_NOT_FOUND`, `RATE_LIMITED`, …); the facts some errors carry are
//! properties: `retryAfterMs` (RATE_LIMITED, ACCOUNT_LIMITED when known), `attemptsLeft` (OTP_INVALID).

use napi::Env;
use napi::bindgen_prelude::{JsError, JsObjectValue, JsValue};

/// The JavaScript error for a core error, made on the JS thread.
pub(crate) fn js_error(env: &Env, e: &waotp::Error) -> napi::Error {
    let plain = || napi::Error::from_reason(format!("{}: {e}", e.code()));
    let error = JsError::from(napi::Error::new(e.code(), e.to_string())).into_unknown(*env);
    let with_details = || -> napi::Result<napi::Error> {
        let mut object = error.coerce_to_object()?;
        if let Some(wait) = e.retry_after() {
            object.set_named_property("retryAfterMs", wait.as_millis() as f64)?;
        }
        if let Some(left) = e.attempts_left() {
            object.set_named_property("attemptsLeft", left)?;
        }
        // An error made from a JS value rejects (or throws) with that very object.
        Ok(napi::Error::from(object.to_unknown()))
    };
    with_details().unwrap_or_else(|_| plain())
}

/// An `INVALID_ARGUMENT` error for this binding's own argument checks.
pub(crate) fn invalid_argument(message: impl Into<String>) -> waotp::Error {
    waotp::Error::InvalidArgument(message.into())
}

/// Every stable error code a rejection's `code` can carry.
#[napi_derive::napi]
pub fn error_codes() -> Vec<&'static str> {
    waotp::Error::ALL_CODES.to_vec()
}
