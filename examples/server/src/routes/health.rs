//! Liveness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::iso_time;

/// `GET /api/health`: `{"status":"OK","timestamp","uptime"}` (no envelope,
/// as the guide's server answered; `uptime` in seconds).
pub async fn health(State(app): State<AppState>) -> Response {
    Json(json!({
        "status": "OK",
        "timestamp": iso_time::now(),
        "uptime": app.started.elapsed().as_secs_f64(),
    }))
    .into_response()
}

/// `GET /metrics`: send and verification statistics in Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut response = app.gateway.stats_prometheus().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
