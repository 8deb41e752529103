//! What keeps web pages and open networks from driving the server.
//!
//! * **Host.** Without an API key the server only answers requests whose
//!   `Host` is a loopback name (`localhost`, `127.0.0.1`, `[::1]`, any
//!   port). A page that rebinds its own DNS name to 127.0.0.1 (DNS
//!   rebinding) still sends its own name as `Host`, and is refused with 403.
//! * **JSON only.** Every `POST`, `PUT` and `DELETE` must say
//!   `Content-Type: application/json`, body or no body, or it is refused
//!   with 415. A browser sends that type cross-origin only after a CORS
//!   preflight, which a keyless server never grants; an HTML form cannot
//!   send it at all. So no other site can create a session, send a message
//!   or verify a code through a server on the user's machine.
//! * **No caching.** Every answer carries `Cache-Control: no-store`: some
//!   carry codes, and none should outlive the request in a browser's or a
//!   proxy's cache.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::envelope::ApiError;

/// Middleware: when `keyless`, refuses a `Host` that is not loopback.
pub async fn loopback_host(State(keyless): State<bool>, request: Request, next: Next) -> Response {
    if keyless {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().host());
        if !host.is_some_and(is_loopback_host) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Server tanpa API key hanya melayani localhost",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Middleware: a request that changes something must be sent as JSON.
pub async fn json_requests(request: Request, next: Next) -> Response {
    let changes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    );
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_content_type);
    if changes && !is_json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT",
            "Content-Type harus application/json",
        )
        .into_response();
    }
    next.run(request).await
}

/// Middleware: no answer is kept by a cache.
pub async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `application/json`, optionally with parameters (`; charset=utf-8`).
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal: `[::1]:3000`.
        match rest.split_once(']') {
            Some((ip, _)) => ip,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST.",
            "app.localhost:8080",
            "127.0.0.1",
            "127.0.0.1:3000",
            "127.1.2.3:1",
            "[::1]:3000",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "10.0.0.5:3000",
            "[::2]:3000",
            "[::1",
            "127.0.0.1.evil.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }
}
