//! The JSON control API served by the `waotp-sim` binary (axum).
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/health` | | `{"ok":true}` |
//! | POST | `/numbers` | `{"phone","registered","passkey"?}` | `{"ok":true}` |
//! | POST | `/scan` | `{"qr","phone","name"}` | `{"ok":true}` once paired |
//! | POST | `/pair-code` | `{"phone","code"}` | `{"ok":true}` once paired |
//! | GET | `/inbox/{phone}` | | `{"messages":[{"id","from","text","at"}]}` |
//! | GET | `/accounts` | | `{"accounts":[…]}` |
//! | GET | `/accounts/{phone}/limits` | | `{"chats":[…],"capping":{"status","used","total","cycle_start","cycle_end"}\|null,"timelock":{"is_active","ends_at","enforcement"},"ban":{"ends_at","code"}\|null}` |
//! | POST | `/accounts/{phone}/limits` | `{"new_chat_quota":N\|null,"cycle_secs"?,"auto_timelock"?:{"after_new_chats","window_secs","seconds"}\|null}` | the limits, as `GET` answers them |
//! | POST | `/accounts/{phone}/timelock` | `{"seconds","enforcement"?}` (0 lifts it) | the limits |
//! | POST | `/accounts/{phone}/ban` | `{"seconds","code"?}` (0 lifts it; code default 101) | the limits |
//! | POST | `/accounts/{phone}/chats` | `{"with"}` | the limits |
//! | POST | `/accounts/{phone}/remove-devices` | | `{"ok":true}` |
//! | GET | `/devices` | | `{"devices":[{"jid","phone","device","live_connections","max_live_connections","logins","replaced","duplicate_messages","retry_receipts_sent","retry_resends","idle_load_sent","idle_load_acked","history_syncs_sent","history_sync_receipts","history_blob_downloads"}]}` |
//! | POST | `/faults` | `{"kind","phone"?,"xmlns"?,"context"?,"delay_ms"?}` | `{"ok":true}` |
//! | GET | `/faults` | | `{"hits":[{"kind","phone","target","context","stanza_id"}]}` |
//! | POST | `/receipt-delay` | `{"phone","delay_ms"}` | `{"ok":true}` |
//! | GET | `/passkey/{phone}` | | `{"credentialId","rpId","userHandle","privateKeyPkcs8","options","code"}` (404 if not gated) |
//! | POST | `/passkey/assert` | `{"phone","options"?,"rpId"?,"origin"?,"challenge"?,"userVerified"?,"userPresent"?,"corruptSignature"?}` | the assertion JSON object |
//! | POST | `/passkey/expire` | `{"phone"}` | `{"ok":true}` (404 if no challenge is pending) |
//! | GET | `/v/{*path}` | | the encrypted history-sync blob at that `directPath` (`application/octet-stream`), 404 if none |
//!
//! Errors answer 4xx with `{"error":"…"}`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::prelude::{BASE64_STANDARD, BASE64_URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{AssertionTweaks, Fault, Simulator};

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
        .route("/send", post(user_send))
        .route("/accounts", get(accounts))
        .route("/accounts/{phone}/limits", get(limits).post(set_limits))
        .route("/accounts/{phone}/timelock", post(timelock))
        .route("/accounts/{phone}/ban", post(ban))
        .route("/accounts/{phone}/chats", post(add_chat))
        .route("/accounts/{phone}/remove-devices", post(remove_devices))
        .route("/devices", get(devices))
        .route("/faults", post(fault).get(fault_hits))
        .route("/receipt-delay", post(receipt_delay))
        .route("/passkey/{phone}", get(passkey))
        .route("/passkey/assert", post(passkey_assert))
        .route("/passkey/expire", post(passkey_expire))
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
    /// Gate the account's linking behind a passkey.
    #[serde(default)]
    passkey: bool,
    /// Address the user by LID (its messages come from `<lid>@lid`).
    #[serde(default)]
    lid: bool,
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
    if body.passkey {
        sim.require_passkey(&body.phone);
    }
    if body.lid {
        let lid = sim.address_by_lid(&body.phone);
        return Ok(Json(json!({ "ok": true, "lid": lid })));
    }
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

/// A phone number in a path or body: at least 5 digits.
fn phone_arg(phone: &str) -> Result<&str, ApiError> {
    if phone.chars().filter(|c| c.is_ascii_digit()).count() < 5 {
        return Err(bad_request(format!("{phone:?} is not a phone number")));
    }
    Ok(phone)
}

fn limits_of(sim: &Simulator, phone: &str) -> ApiResult {
    let snapshot = sim.account_limits(phone);
    Ok(Json(serde_json::to_value(snapshot).map_err(bad_request)?))
}

async fn limits(State(sim): State<Simulator>, Path(phone): Path<String>) -> ApiResult {
    limits_of(&sim, phone_arg(&phone)?)
}

#[derive(Deserialize)]
struct AutoTimelockBody {
    after_new_chats: u32,
    window_secs: u64,
    seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    /// Absent: leave the quota as it is; `null`: remove it.
    #[serde(default, deserialize_with = "present")]
    new_chat_quota: Option<Option<u32>>,
    cycle_secs: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    auto_timelock: Option<Option<AutoTimelockBody>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A day: the quota's cycle when the body names none.
const DEFAULT_CYCLE_SECS: u64 = 86_400;

async fn set_limits(
    State(sim): State<Simulator>,
    Path(phone): Path<String>,
    body: Result<Json<LimitsBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let phone = phone_arg(&phone)?;
    let Json(body) = body.map_err(bad_request)?;
    if let Some(quota) = body.new_chat_quota {
        let cycle_secs = body.cycle_secs.unwrap_or(DEFAULT_CYCLE_SECS);
        if cycle_secs == 0 {
            return Err(bad_request("cycle_secs must be at least 1"));
        }
        let quota = quota.map(|total| crate::NewChatQuota { total, cycle_secs });
        sim.set_new_chat_quota(phone, quota);
    } else if body.cycle_secs.is_some() {
        return Err(bad_request("cycle_secs goes with new_chat_quota"));
    }
    if let Some(auto) = body.auto_timelock {
        if auto
            .as_ref()
            .is_some_and(|a| a.after_new_chats == 0 || a.seconds == 0)
        {
            return Err(bad_request(
                "auto_timelock needs after_new_chats and seconds of at least 1",
            ));
        }
        sim.set_auto_timelock(
            phone,
            auto.map(|a| crate::AutoTimelock {
                after_new_chats: a.after_new_chats,
                window_secs: a.window_secs,
                seconds: a.seconds,
            }),
        );
    }
    limits_of(&sim, phone)
}

#[derive(Deserialize)]
struct TimelockBody {
    seconds: u64,
    enforcement: Option<String>,
}

async fn timelock(
    State(sim): State<Simulator>,
    Path(phone): Path<String>,
    body: Result<Json<TimelockBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let phone = phone_arg(&phone)?;
    let Json(body) = body.map_err(bad_request)?;
    sim.timelock(phone, body.seconds, body.enforcement.as_deref());
    limits_of(&sim, phone)
}

#[derive(Deserialize)]
struct BanBody {
    seconds: u64,
    /// WhatsApp's ban sub-reason; 101 is "sent to too many people".
    #[serde(default = "default_ban_code")]
    code: u32,
}

fn default_ban_code() -> u32 {
    101
}

async fn ban(
    State(sim): State<Simulator>,
    Path(phone): Path<String>,
    body: Result<Json<BanBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let phone = phone_arg(&phone)?;
    let Json(body) = body.map_err(bad_request)?;
    sim.ban(phone, body.seconds, body.code);
    limits_of(&sim, phone)
}

#[derive(Deserialize)]
struct ChatBody {
    with: String,
}

async fn add_chat(
    State(sim): State<Simulator>,
    Path(phone): Path<String>,
    body: Result<Json<ChatBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let phone = phone_arg(&phone)?;
    let Json(body) = body.map_err(bad_request)?;
    sim.add_chat(phone, phone_arg(&body.with)?);
    limits_of(&sim, phone)
}

#[derive(Deserialize)]
struct SendBody {
    from: String,
    to: String,
    text: String,
}

/// A simulated user writes to a linked account (see `Simulator::user_send`).
async fn user_send(
    State(sim): State<Simulator>,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    let sent = sim
        .user_send(phone_arg(&body.from)?, phone_arg(&body.to)?, &body.text)
        .await
        .map_err(bad_request)?;
    Ok(Json(serde_json::to_value(sent).map_err(bad_request)?))
}

async fn remove_devices(State(sim): State<Simulator>, Path(phone): Path<String>) -> ApiResult {
    sim.remove_devices(phone_arg(&phone)?);
    ok()
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

fn not_found(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, e.to_string())
}

/// The passkey as an operator would load it into a browser (Chrome
/// DevTools' `WebAuthn.addCredential` takes the PKCS#8 key in standard
/// base64), plus the pending request options and the last code.
async fn passkey(State(sim): State<Simulator>, Path(phone): Path<String>) -> ApiResult {
    let key = sim
        .passkey(&phone)
        .ok_or_else(|| not_found(format!("{phone} has no passkey")))?;
    let options = match sim.pending_passkey_options(&phone) {
        Some(json) => serde_json::from_str(&json).map_err(bad_request)?,
        None => Value::Null,
    };
    Ok(Json(json!({
        "credentialId": BASE64_URL_SAFE_NO_PAD.encode(&key.credential_id),
        "rpId": key.rp_id,
        "userHandle": BASE64_URL_SAFE_NO_PAD.encode(&key.user_handle),
        "privateKeyPkcs8": BASE64_STANDARD.encode(&key.private_key_pkcs8),
        "options": options,
        "code": sim.passkey_code(&phone),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssertBody {
    phone: String,
    /// The request options, as an object or a JSON string (default: the
    /// pending ones).
    options: Option<Value>,
    rp_id: Option<String>,
    origin: Option<String>,
    challenge: Option<String>,
    user_verified: Option<bool>,
    user_present: Option<bool>,
    #[serde(default)]
    corrupt_signature: bool,
}

async fn passkey_assert(
    State(sim): State<Simulator>,
    body: Result<Json<AssertBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    if sim.passkey(&body.phone).is_none() {
        return Err(not_found(format!("{} has no passkey", body.phone)));
    }
    let options = match body.options {
        Some(Value::String(json)) => json,
        Some(object @ Value::Object(_)) => object.to_string(),
        Some(other) => {
            return Err(bad_request(format!(
                "options must be an object or a JSON string, not {other}"
            )));
        }
        None => sim.pending_passkey_options(&body.phone).ok_or_else(|| {
            not_found(format!(
                "no passkey challenge is pending for {}",
                body.phone
            ))
        })?,
    };
    let defaults = AssertionTweaks::default();
    let tweaks = AssertionTweaks {
        rp_id: body.rp_id,
        origin: body.origin,
        challenge: body.challenge,
        user_verified: body.user_verified.unwrap_or(defaults.user_verified),
        user_present: body.user_present.unwrap_or(defaults.user_present),
        corrupt_signature: body.corrupt_signature,
    };
    let assertion = sim
        .sign_passkey_assertion(&body.phone, &options, &tweaks)
        .map_err(|e| bad_request(format!("{e:#}")))?;
    let assertion: Value = serde_json::from_str(&assertion).map_err(bad_request)?;
    Ok(Json(assertion))
}

#[derive(Deserialize)]
struct PhoneBody {
    phone: String,
}

async fn passkey_expire(
    State(sim): State<Simulator>,
    body: Result<Json<PhoneBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_request)?;
    if !sim.expire_passkey_challenge(&body.phone) {
        return Err(not_found(format!(
            "no passkey challenge is pending for {}",
            body.phone
        )));
    }
    ok()
}
