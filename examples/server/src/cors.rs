//! Cross-origin access (CORS).
//!
//! The guide's server allowed every origin and required no key, so any web
//! page a developer visited could read OTP codes from `localhost:3000`. Here
//! CORS is open (`Access-Control-Allow-Origin: *`) only when the server has
//! an API key: a page from another origin then still needs the key. Without
//! a key, browsers keep other origins' pages from reading any answer.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware: answers preflights and marks answers readable by any origin,
/// when `open` (the server has an API key).
pub async fn cors(State(open): State<bool>, request: Request, next: Next) -> Response {
    if !open {
        return next.run(request).await;
    }
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if is_preflight {
        // Answered here: the key check must not refuse a preflight, which
        // browsers send without credentials.
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, X-API-Key, Authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // Lets browser clients read how long to wait after a 429.
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
    response
}
