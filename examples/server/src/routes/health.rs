//! Liveness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::iso_time;

/// The answer of `GET /api/health` (no envelope, as the guide's server
/// answered).
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// Always `OK`.
    pub status: String,
    /// Now (ISO-8601).
    pub timestamp: String,
    /// Seconds since the server started.
    pub uptime: f64,
}

/// `GET /api/health`: `{"status":"OK","timestamp","uptime"}`.
#[utoipa::path(get, path = "/api/health", operation_id = "health", tag = "server",
    responses((status = 200, description = "The server is up", body = Liveness)))]
pub async fn health(State(app): State<AppState>) -> Response {
    Json(Liveness {
        status: "OK".to_owned(),
        timestamp: iso_time::now(),
        uptime: app.started.elapsed().as_secs_f64(),
    })
    .into_response()
}

/// `GET /metrics`: send and verification statistics in Prometheus text format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "server",
    responses((status = 200, description = "Prometheus text format: sends, deliveries, \
        verifications, conversion, session health", content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut response = app.gateway.stats_prometheus().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
