//! The guide's response envelope, and how a core error becomes one.
//!
//! Success: `{"success": true, "message": "…", "data": {…}}`.
//! Error: `{"success": false, "message": "…", "error": "<CODE>"}`, plus
//! `data` when there is more to say (a verification's precise outcome) and,
//! for `RATE_LIMITED`, `retryAfterMs` (the core's wait in milliseconds, the
//! same field as every binding's) beside the `Retry-After` header (whole
//! seconds, rounded up, as HTTP requires).
//! `error` is the core's stable code (`SESSION_NOT_FOUND`, `RATE_LIMITED`, …),
//! so HTTP clients branch on the same values as every binding; the few
//! failures that happen before the core is reached (malformed body, API key)
//! use `INVALID_ARGUMENT` or the server's own `UNAUTHORIZED`.
//!
//! Both bodies are types ([`Envelope`], [`ErrorBody`]) so the OpenAPI
//! document (`crate::openapi`) describes what is actually written.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A successful answer: `success` is always `true`, `data` is the route's
/// own type.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// Text for people (Indonesian, as the guide's server wrote it).
    pub message: String,
    /// What the route answers.
    pub data: T,
}

/// An answer without `data` (the guide's `DELETE` answers so).
#[derive(Serialize, ToSchema)]
pub struct EmptyEnvelope {
    /// Always `true`.
    pub success: bool,
    /// Text for people.
    pub message: String,
}

/// Every error answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// Text for people (Indonesian).
    pub message: String,
    /// The stable code: the core's (`SESSION_NOT_FOUND`, `RATE_LIMITED`,
    /// `ACCOUNT_LIMITED`, `OTP_INVALID`, …), `INVALID_ARGUMENT` for a
    /// malformed request, `UNAUTHORIZED` for a missing or wrong API key.
    pub error: String,
    /// More detail, when there is some (a refused verification's outcome).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// A rate or account limit's wait in milliseconds (`Retry-After` has it
    /// in whole seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// A successful answer: `status` with `{success: true, message, data}`.
pub fn ok<T: Serialize>(status: StatusCode, message: &str, data: T) -> Response {
    let body = Envelope {
        success: true,
        message: message.to_owned(),
        data,
    };
    (status, Json(body)).into_response()
}

/// A successful answer without `data` (the guide's `DELETE` answers so).
pub fn ok_without_data(message: &str) -> Response {
    Json(EmptyEnvelope {
        success: true,
        message: message.to_owned(),
    })
    .into_response()
}

/// An error answer in the envelope. Built from a core [`waotp::Error`] (the
/// usual way) or directly for checks the server makes itself.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Text for people (Indonesian, as the guide's server wrote it).
    pub message: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Extra detail for clients, when there is some.
    pub data: Option<Value>,
    /// The wait of a rate limit: `retryAfterMs` in the body, and rounded up
    /// to whole seconds in `Retry-After`.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// An error with this status, message and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code,
            data: None,
            retry_after: None,
        }
    }

    /// A 400 `INVALID_ARGUMENT`: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// Replaces the message, keeping status and code (a route that has the
    /// guide's own words for this case).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds `data` to the body.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl From<waotp::Error> for ApiError {
    fn from(e: waotp::Error) -> Self {
        use waotp::Error as E;
        let (status, message) = match &e {
            E::SessionNotFound(_) => (StatusCode::NOT_FOUND, "Session tidak ditemukan".into()),
            E::InvalidSessionId(_) => (
                StatusCode::BAD_REQUEST,
                "Session ID tidak valid (gunakan 1-64 karakter: huruf, angka, _ atau -)".into(),
            ),
            // A logged-out session is not connected either; `error` tells them apart.
            E::NotConnected { .. } | E::LoggedOut(_) => {
                (StatusCode::BAD_REQUEST, "Session belum terhubung".into())
            }
            E::NotOnWhatsapp(_) => (
                StatusCode::BAD_REQUEST,
                "Nomor tidak terdaftar di WhatsApp".into(),
            ),
            E::InvalidPhone(_) => (StatusCode::BAD_REQUEST, "Nomor telepon tidak valid".into()),
            E::QrNotAvailable(_) => (
                StatusCode::NOT_FOUND,
                "QR Code belum tersedia atau sudah kedaluwarsa".into(),
            ),
            E::AlreadyConnected(_) => (
                StatusCode::BAD_REQUEST,
                "Session sudah terhubung, QR Code tidak diperlukan".into(),
            ),
            E::Timeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!("Waktu tunggu habis: {e}"),
            ),
            E::InvalidArgument(why) => (
                StatusCode::BAD_REQUEST,
                format!("Permintaan tidak valid: {why}"),
            ),
            E::RateLimited { retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Terlalu banyak permintaan, tunggu {} detik sebelum mencoba lagi",
                    retry_seconds(*retry_after)
                ),
            ),
            // WhatsApp limits the number on new chats: like a rate limit,
            // the same request succeeds later (`Retry-After` when known).
            E::AccountLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Nomor WhatsApp sedang dibatasi untuk chat baru; coba lagi nanti".into(),
            ),
            E::MessageNotFound(_) => (StatusCode::NOT_FOUND, "Pesan tidak ditemukan".into()),
            E::OtpNotFound(_) => (StatusCode::NOT_FOUND, "OTP tidak ditemukan".into()),
            E::OtpExpired(_) => (StatusCode::GONE, "OTP sudah kedaluwarsa".into()),
            E::OtpMaxAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Terlalu banyak percobaan OTP".into(),
            ),
            E::OtpInvalid { .. } => (StatusCode::BAD_REQUEST, "OTP tidak valid".into()),
            // The guide: "a failed send is 500". The detail goes to the
            // log; `error` says which kind of failure it was.
            E::SendFailed(_) | E::WhatsApp(_) => {
                log::warn!("a send failed: {e} ({})", e.code());
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Gagal mengirim pesan".into(),
                )
            }
            // Well-formed, but WhatsApp refused it (another passkey, a bad
            // signature, the wrong site): the request cannot succeed as sent.
            E::PasskeyRejected(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Passkey ditolak oleh WhatsApp; pindai QR Code baru untuk mencoba lagi".into(),
            ),
            // Like an expired OTP: the thing answered no longer exists.
            E::PasskeyExpired(_) => (
                StatusCode::GONE,
                "Verifikasi passkey sudah kedaluwarsa; pindai QR Code baru untuk mencoba lagi"
                    .into(),
            ),
            E::Closed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Server sedang berhenti".into(),
            ),
            // A store or I/O failure names files, hosts and Redis's words:
            // for the log, not for whoever called.
            _ => {
                log::error!("request failed: {e} ({})", e.code());
                (StatusCode::INTERNAL_SERVER_ERROR, "Kesalahan server".into())
            }
        };
        ApiError {
            status,
            message,
            code: e.code(),
            data: None,
            retry_after: e.retry_after(),
        }
    }
}

/// Whole seconds to wait, rounded up and at least 1 (`Retry-After` takes
/// integers, and 0 would invite an immediate retry that fails again).
pub fn retry_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The wait in whole milliseconds, as every binding reports it.
pub fn retry_ms(wait: std::time::Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            message: self.message,
            error: self.code.to_owned(),
            data: self.data,
            retry_after_ms: self.retry_after.map(retry_ms),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_seconds(wait)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_core_code_maps_to_an_http_error() {
        let e = ApiError::from(waotp::Error::SessionNotFound("x".into()));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.code, "SESSION_NOT_FOUND");
        let e = ApiError::from(waotp::Error::RateLimited {
            reason: "cooldown".into(),
            retry_after: Duration::from_millis(2300),
        });
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(Duration::from_millis(2300)));
        assert!(e.message.contains("3 detik"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_rate_limit_answers_its_wait_in_ms_and_the_header_in_seconds() {
        let response = ApiError::from(waotp::Error::RateLimited {
            reason: "cooldown".into(),
            retry_after: Duration::from_millis(2300),
        })
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["retryAfterMs"], 2300);
        assert_eq!(body["error"], "RATE_LIMITED");
        let other = ApiError::from(waotp::Error::Closed).into_response();
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn an_account_limit_is_a_429_with_the_limit_s_end() {
        let limited = ApiError::from(waotp::Error::AccountLimited {
            session: "shop".into(),
            reason: "timelock".into(),
            retry_after: Some(std::time::Duration::from_millis(1500)),
        });
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.code, "ACCOUNT_LIMITED");
        assert_eq!(
            limited.retry_after,
            Some(std::time::Duration::from_millis(1500))
        );
    }

    #[test]
    fn passkey_refusals_are_client_errors_with_their_codes() {
        let e = ApiError::from(waotp::Error::PasskeyRejected("code=401".into()));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "PASSKEY_REJECTED");
        let e = ApiError::from(waotp::Error::PasskeyExpired("code=410".into()));
        assert_eq!(e.status, StatusCode::GONE);
        assert_eq!(e.code, "PASSKEY_EXPIRED");
    }

    #[test]
    fn retry_after_is_never_zero() {
        assert_eq!(retry_seconds(Duration::ZERO), 1);
        assert_eq!(retry_seconds(Duration::from_secs(10)), 10);
    }
}
