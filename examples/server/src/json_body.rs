//! The JSON body of a request, with every failure in the envelope.
//!
//! axum's own `Json` answers a malformed body with plain text; the guide's
//! server answered 500. Here a malformed body is a 400, an oversized one a
//! 413, and both say so in the envelope.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::envelope::ApiError;

/// The largest body any route accepts. A text message may hold 65,536
/// characters of up to 4 bytes each, plus JSON escaping.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// A request body parsed as JSON into `T`.
///
/// An empty body reads as `{}`, so `POST /api/sessions/create` without a body
/// creates a session with a generated id, as the guide's server did. That
/// the request was sent as `application/json` (which a browser cannot do
/// cross-origin without a CORS preflight) is checked before any route, by
/// `guard::json_requests`, for every request that changes something.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    format!("Body permintaan terlalu besar (maksimal {MAX_BODY_BYTES} byte)"),
                )
            } else {
                ApiError::bad_request(format!("Body permintaan tidak terbaca: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_slice(b"{}")
                .map(JsonBody)
                .map_err(|e| ApiError::bad_request(format!("Body JSON diperlukan: {e}")));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("Format JSON tidak valid: {e}")))
    }
}
