//! The router: every route of the API, the key check, CORS, body limits and
//! the guards of an open network (see [`crate::guard`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::json;

use crate::routes::{health, inbound, messages, otp, sessions};
use crate::{auth, cors, guard, inbound_page, json_body, qr_page};

/// How the server behaves, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Required in `X-API-Key` / `Authorization: Bearer` when set.
    pub api_key: Option<String>,
    /// Whether `POST /api/messages/:id/otp` returns the code in `data.otp`
    /// (the guide's clients read it there; `--no-reveal-otp` turns it off).
    pub reveal_otp: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_key: None,
            reveal_otp: true,
        }
    }
}

/// What every handler reads: the gateway and the settings.
#[derive(Clone)]
pub struct AppState {
    /// The library's facade.
    pub gateway: waotp::Gateway,
    /// The server's settings.
    pub settings: Arc<Settings>,
    /// When the server started (`uptime` in `/api/health`).
    pub started: Instant,
}

/// The whole API over `gateway`.
pub fn router(gateway: waotp::Gateway, settings: Settings) -> Router {
    let key: Option<Arc<str>> = settings.api_key.as_deref().map(Arc::from);
    let cors_open = key.is_some();
    let state = AppState {
        gateway,
        settings: Arc::new(settings),
        started: Instant::now(),
    };
    Router::new()
        .route("/api/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/create", post(sessions::create))
        .route("/api/sessions/{id}/status", get(sessions::status))
        .route("/api/sessions/{id}/qr", get(sessions::qr))
        .route("/api/sessions/{id}/qr-page", get(qr_page::page))
        .route("/api/sessions/{id}/pair-code", post(sessions::pair_code))
        .route("/api/sessions/{id}/passkey", post(sessions::passkey))
        .route("/api/sessions/{id}/restart", put(sessions::restart))
        .route("/api/sessions/{id}", delete(sessions::remove))
        .route(
            "/api/messages/format-phone/{phone}",
            get(messages::format_phone),
        )
        .route("/api/messages/status/{message_id}", get(messages::status))
        .route("/api/messages/send", post(messages::send_through_pool))
        .route("/api/messages/{id}/text", post(messages::text))
        .route("/api/messages/{id}/otp", post(messages::otp))
        .route(
            "/api/messages/{id}/generate-otp",
            get(messages::generate_otp),
        )
        .route("/api/otp/send", post(otp::send))
        .route("/api/otp/inbound", post(inbound::start))
        .route("/api/otp/inbound-page", get(inbound_page::page))
        .route("/api/otp/inbound/{id}", get(inbound::status))
        .route("/api/otp/inbound/{id}/cancel", post(inbound::cancel))
        .route("/api/otp/verify", post(otp::verify))
        .route("/api/otp/status/{phone}", get(otp::status))
        .route("/api/otp/cancel", post(otp::cancel))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(json_body::MAX_BODY_BYTES))
        .layer(middleware::from_fn(guard::json_requests))
        .layer(middleware::from_fn_with_state(key, auth::require_key))
        // A preflight is answered before the key check, and a 401 still
        // carries the CORS headers a browser needs to read it.
        .layer(middleware::from_fn_with_state(cors_open, cors::cors))
        // Before anything reads the request: a keyless server answers only
        // loopback names.
        .layer(middleware::from_fn_with_state(
            !cors_open,
            guard::loopback_host,
        ))
        // Outermost, so every answer carries it, refusals included.
        .layer(middleware::from_fn(guard::no_store))
}

/// The guide's answer to an unknown route.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "success": false,
            "error": "Not Found",
            "message": "Endpoint tidak ditemukan",
        })),
    )
        .into_response()
}

/// A known route called with the wrong method.
async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({
            "success": false,
            "error": "Method Not Allowed",
            "message": "Metode HTTP tidak didukung untuk endpoint ini",
        })),
    )
        .into_response()
}
