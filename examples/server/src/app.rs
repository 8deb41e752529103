//! The router: every route of the API, the key check, CORS, body limits and
//! the guards of an open network (see [`crate::guard`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde_json::json;

use crate::routes::{health, inbound, messages, otp, sessions};
use crate::{auth, cors, guard, inbound_page, json_body, openapi, qr_page};

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
    api_routes()
        .router
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

/// The API's routes: the router, and each route's method and path as it
/// was added, which the OpenAPI document must list exactly (tested in
/// [`crate::openapi`]).
pub struct Routes {
    router: Router<AppState>,
    added: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            added: Vec::new(),
        }
    }

    /// Adds `handler` for `method` on `path` (axum's path syntax, which is
    /// OpenAPI's: `{id}`).
    fn route<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
        self.router = self.router.route(path, on(filter, handler));
        self.added.push((method, path));
        self
    }

    /// Every route's method and path, in the order they were added.
    pub fn added(&self) -> &[(Method, &'static str)] {
        &self.added
    }
}

/// Every route of the API, before the state and the layers.
pub fn api_routes() -> Routes {
    use Method as M;
    Routes::new()
        .route(M::GET, "/api/health", health::health)
        .route(M::GET, "/metrics", health::metrics)
        .route(M::GET, "/api/openapi.json", openapi::document)
        .route(M::GET, "/api/sessions", sessions::list)
        .route(M::POST, "/api/sessions/create", sessions::create)
        .route(M::GET, "/api/sessions/{id}/status", sessions::status)
        .route(M::GET, "/api/sessions/{id}/qr", sessions::qr)
        .route(M::GET, "/api/sessions/{id}/qr-page", qr_page::page)
        .route(M::POST, "/api/sessions/{id}/pair-code", sessions::pair_code)
        .route(M::POST, "/api/sessions/{id}/passkey", sessions::passkey)
        .route(M::PUT, "/api/sessions/{id}/restart", sessions::restart)
        .route(M::DELETE, "/api/sessions/{id}", sessions::remove)
        .route(
            M::GET,
            "/api/messages/format-phone/{phone}",
            messages::format_phone,
        )
        .route(
            M::GET,
            "/api/messages/status/{message_id}",
            messages::status,
        )
        .route(M::POST, "/api/messages/send", messages::send_through_pool)
        .route(M::POST, "/api/messages/{id}/text", messages::text)
        .route(M::POST, "/api/messages/{id}/otp", messages::otp)
        .route(
            M::GET,
            "/api/messages/{id}/generate-otp",
            messages::generate_otp,
        )
        .route(M::POST, "/api/otp/send", otp::send)
        .route(M::POST, "/api/otp/inbound", inbound::start)
        .route(M::GET, "/api/otp/inbound-page", inbound_page::page)
        .route(M::GET, "/api/otp/inbound/{id}", inbound::status)
        .route(M::POST, "/api/otp/inbound/{id}/cancel", inbound::cancel)
        .route(M::POST, "/api/otp/verify", otp::verify)
        .route(M::GET, "/api/otp/status/{phone}", otp::status)
        .route(M::POST, "/api/otp/cancel", otp::cancel)
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
