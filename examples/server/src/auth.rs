//! The API key: when it is required, and how a request presents it.
//!
//! The guide's server had no authentication and handed OTP codes to any
//! caller. Here a key is optional on a loopback listen (only this machine can
//! reach it) and required on any other address: the server refuses to start
//! without one. A request presents it as `X-API-Key: <key>` or
//! `Authorization: Bearer <key>`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::envelope::ApiError;

/// Shortest key accepted: a key must not be guessable.
pub const MIN_KEY_LEN: usize = 16;

/// The route that answers without a key: load balancers probe it.
const OPEN_PATH: &str = "/api/health";

/// The one route opened by a browser (it cannot send headers when following
/// a link): it may carry the key as `?key=…`; its script then sends the key
/// in `X-API-Key` on every call it makes.
const QR_PAGE_SUFFIX: &str = "/qr-page";

/// Checks the key against where the server listens, at start.
///
/// Errors with the reason when a non-loopback address has no key, or a key
/// is shorter than [`MIN_KEY_LEN`].
pub fn check_startup(listen: &SocketAddr, api_key: Option<&str>) -> Result<(), String> {
    match api_key {
        Some(key) if key.chars().count() < MIN_KEY_LEN => Err(format!(
            "the API key must be at least {MIN_KEY_LEN} characters"
        )),
        Some(_) => Ok(()),
        None if listen.ip().is_loopback() => Ok(()),
        None => Err(format!(
            "listening on {listen}, which is not a loopback address, needs an API key \
             (--api-key or WAOTP_API_KEY): otherwise anyone who reaches it can send \
             messages and read OTP codes"
        )),
    }
}

/// Middleware: refuses a request without the right key with 401, when the
/// server has a key.
pub async fn require_key(
    State(expected): State<Option<Arc<str>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = expected else {
        return next.run(request).await;
    };
    if request.uri().path() == OPEN_PATH {
        return next.run(request).await;
    }
    let presented = key_from_headers(request.headers()).or_else(|| {
        if request.uri().path().ends_with(QR_PAGE_SUFFIX) {
            key_from_query(request.uri().query())
        } else {
            None
        }
    });
    match presented {
        Some(key) if keys_equal(&key, &expected) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "API key tidak valid atau tidak ada (gunakan header X-API-Key atau Authorization: Bearer)",
        )
        .into_response(),
    }
}

fn key_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_owned());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_owned())
}

/// `key=…` from a query string (percent-decoded).
fn key_from_query(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "key")
        .map(|(_, value)| percent_decode(value))
}

/// Percent-decoding of a query value (`+` is a space, as forms write it).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some([hi, lo]) if bytes[i] == b'%' => hex(*hi).zip(hex(*lo)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Compares in constant time, so the time taken does not tell how much of
/// a guess was right.
fn keys_equal(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_listen_needs_a_key() {
        let public: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert!(check_startup(&public, None).is_err());
        assert!(check_startup(&public, Some("0123456789abcdef")).is_ok());
        assert!(check_startup(&public, Some("short")).is_err());
        assert!(check_startup(&local, None).is_ok());
        assert!(check_startup(&"[::1]:3000".parse().unwrap(), None).is_ok());
    }

    #[test]
    fn keys_from_headers_and_query() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(key_from_headers(&h).as_deref(), Some("abc"));
        h.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(key_from_headers(&h).as_deref(), Some("xyz"));
        assert_eq!(
            key_from_query(Some("a=1&key=s%2Fk+y%")).as_deref(),
            Some("s/k y%")
        );
        assert_eq!(key_from_query(Some("keys=1")), None);
    }
}
