//! The JSON control API served by the `waotp-sim` binary (axum).
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/health` | | `{"ok":true}` |
//! | POST | `/numbers` | `{"phone","registered"}` | `{"ok":true}` |
//! | POST | `/scan` | `{"qr","phone","name"}` | `{"ok":true}` once paired |
//! | POST | `/pair-code` | `{"phone","code"}` | `{"ok":true}` once paired |
//! | GET | `/inbox/{phone}` | | `{"messages":[{"id","from","text","at"}]}` |
//! | GET | `/accounts` | | `{"accounts":[…]}` |
//! | GET | `/devices` | | `{"devices":[{"jid","phone","device","live_connections","max_live_connections","logins","replaced","duplicate_messages","retry_receipts_sent","retry_resends","idle_load_sent","idle_load_acked","history_syncs_sent","history_sync_receipts","history_blob_downloads"}]}` |
//! | POST | `/faults` | `{"kind","phone"?,"xmlns"?,"context"?,"delay_ms"?}` | `{"ok":true}` |
//! | GET | `/faults` | | `{"hits":[{"kind","phone","target","context","stanza_id"}]}` |
//! | POST | `/receipt-delay` | `{"phone","delay_ms"}` | `{"ok":true}` |
//! | GET | `/v/{*path}` | | the encrypted history-sync blob at that `directPath` (`application/octet-stream`), 404 if none |
//!
//! Errors answer 4xx with `{"error":"…"}`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Fault, Simulator};

/// An API error: status plus message, rendered as `{"error": …}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

type ApiResult = Result<Json<Value>, ApiError>;

fn ok() -> ApiResult {
    Ok(Json(json!({ "ok": true })))
}

/// The router for the control API over `sim`.
pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/numbers", post(add_number))
        .route("/scan", post(scan))
        .route("/pair-code", post(pair_code))
        .route("/inbox/{phone}", get(inbox))
        .route("/accounts", get(accounts))
        .route("/devices", get(devices))
        .route("/faults", post(fault).get(fault_hits))
        .route("/receipt-delay", post(receipt_delay))
        // Media paths (`directPath`s) of history-sync blobs: a client that
        // routes the media host here downloads them. Any absolute-form
        // request URI (`GET https://mmg.whatsapp.net/v/…`) routes by path.
        .route("/v/{*path}", get(media))
        .with_state(sim)
}

#[derive(Deserialize)]
struct NumberBody {
    phone: String,
    #[serde(default = "yes")]
    registered: bool,
}

fn yes() -> bool {
    true
}

async fn add_number(
    State(sim): State<Simulator>,
    body: Result<Json<NumberBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    if body.phone.chars().filter(|c| c.is_ascii_digit()).count() < 5 {
        return Err(bad_request("phone must contain at least 5 digits"));
    }
    sim.add_number(&body.phone, body.registered);
    ok()
}

#[derive(Deserialize)]
struct ScanBody {
    qr: String,
    phone: String,
    #[serde(default = "default_name")]
    name: String,
}

fn default_name() -> String {
    "Sim Phone".to_string()
}

async fn scan(
    State(sim): State<Simulator>,
    body: Result<Json<ScanBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    sim.scan(&body.qr, &body.phone, &body.name)
        .await
        .map_err(|e| bad_request(format!("{e:#}")))?;
    ok()
}

#[derive(Deserialize)]
struct PairCodeBody {
    phone: String,
    code: String,
}

async fn pair_code(
    State(sim): State<Simulator>,
    body: Result<Json<PairCodeBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    sim.enter_pair_code(&body.phone, &body.code)
        .await
        .map_err(|e| bad_request(format!("{e:#}")))?;
    ok()
}

async fn inbox(State(sim): State<Simulator>, Path(phone): Path<String>) -> ApiResult {
    Ok(Json(json!({ "messages": sim.inbox(&phone) })))
}

async fn accounts(State(sim): State<Simulator>) -> ApiResult {
    Ok(Json(json!({ "accounts": sim.linked_accounts() })))
}

async fn devices(State(sim): State<Simulator>) -> ApiResult {
    Ok(Json(json!({ "devices": sim.devices() })))
}

#[derive(Deserialize)]
struct FaultBody {
    kind: String,
    phone: Option<String>,
    /// `slow_iq` only: the IQ namespace to slow (any IQ when absent).
    xmlns: Option<String>,
    /// `slow_iq` only: the query context to slow (any when absent).
    context: Option<String>,
    delay_ms: Option<u64>,
}

async fn fault(
    State(sim): State<Simulator>,
    body: Result<Json<FaultBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    let need_phone = || {
        body.phone
            .clone()
            .ok_or_else(|| bad_request(format!("fault {} needs a phone", body.kind)))
    };
    if (body.xmlns.is_some() || body.context.is_some()) && body.kind != "slow_iq" {
        return Err(bad_request(format!(
            "xmlns and context aim slow_iq faults only, not {}",
            body.kind
        )));
    }
    let fault = match body.kind.as_str() {
        "drop" => Fault::Drop(body.phone.clone()),
        "logout" => Fault::Logout(body.phone.clone()),
        "conflict" => Fault::Conflict(body.phone.clone()),
        "error_ack" => Fault::ErrorAck(need_phone()?),
        "withhold_receipts" => Fault::WithholdReceipts(need_phone()?),
        "undecryptable" => Fault::Undecryptable(need_phone()?),
        "slow_iq" => Fault::SlowIq {
            phone: body.phone.clone(),
            xmlns: body.xmlns.clone(),
            context: body.context.clone(),
            delay: body.delay_ms.map(Duration::from_millis),
        },
        other => return Err(bad_request(format!("unknown fault kind {other:?}"))),
    };
    sim.fault(fault);
    ok()
}

async fn fault_hits(State(sim): State<Simulator>) -> ApiResult {
    Ok(Json(json!({ "hits": sim.fault_hits() })))
}

async fn media(State(sim): State<Simulator>, uri: axum::http::Uri) -> Response {
    match sim.media(uri.path()) {
        Some(blob) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            blob,
        )
            .into_response(),
        None => {
            ApiError(StatusCode::NOT_FOUND, format!("no media at {}", uri.path())).into_response()
        }
    }
}

#[derive(Deserialize)]
struct DelayBody {
    phone: String,
    delay_ms: u64,
}

async fn receipt_delay(
    State(sim): State<Simulator>,
    body: Result<Json<DelayBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    sim.set_receipt_delay(&body.phone, Duration::from_millis(body.delay_ms));
    ok()
}
