//! `/api/otp`: send a code through a sender pool, verify a code, read or
//! cancel a recipient's OTP. The guide's server documented the last three
//! but never made them work.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use waotp::{OtpStatus, SenderPool, VerifyOutcome};

use crate::app::AppState;
use crate::envelope::{ApiError, ok};
use crate::iso_time;
use crate::json_body::JsonBody;
use crate::routes::first_present;
use crate::routes::messages::{OtpBody, otp_request, otp_send_error, otp_sent};

/// The guide's message for every refused verification; `error` and
/// `data.status` say which refusal it was.
const REFUSED: &str = "OTP tidak valid atau sudah kedaluwarsa";

/// `POST /api/otp/send {to, companyName, sessions?}`: issues a code and
/// sends it through the best session of the pool (every session without
/// `sessions`), failing over when one cannot deliver; answers as
/// `/api/messages/:id/otp` does, `data.sessionId` naming the session that
/// sent it. No session can deliver: 429 `ACCOUNT_LIMITED` with
/// `Retry-After` when a limit's end is known.
pub async fn send(
    State(app): State<AppState>,
    JsonBody(mut body): JsonBody<OtpBody>,
) -> Result<Response, ApiError> {
    let pool = SenderPool::from(body.sessions.take());
    let (to, request) = otp_request(&app, body)?;
    let sent = app
        .gateway
        .send_otp_pool(&pool, &to, &request)
        .await
        .map_err(otp_send_error)?;
    Ok(otp_sent(&app, &sent))
}

/// Body of `POST /api/otp/verify`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    phone_number: Option<String>,
    /// The code the user typed: a string (a JSON number loses leading zeros,
    /// but is accepted as its digits).
    otp: Option<Value>,
}

/// `POST /api/otp/verify {phoneNumber, otp}`: 200 approved; refused with
/// 400 invalid (`attemptsLeft`), 410 expired, 429 too many attempts, 404 no
/// pending code.
pub async fn verify(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let code = body.otp.as_ref().and_then(code_text);
    let (Some(phone), Some(code)) = (first_present(body.phone_number, None), code) else {
        return Err(ApiError::bad_request("Nomor telepon dan OTP diperlukan"));
    };
    let outcome = app.gateway.verify_otp(&phone, &code).await?;
    if outcome.is_approved() {
        // The core's answer is the outcome only; the approved record names
        // the session that sent the code.
        let session_id = app
            .gateway
            .otp_status(&phone)
            .await
            .ok()
            .map(|s| s.session_id);
        return Ok(ok(
            StatusCode::OK,
            "OTP berhasil diverifikasi",
            json!({
                "phoneNumber": phone,
                "status": outcome.as_str(),
                "verifiedAt": iso_time::now(),
                "sessionId": session_id,
            }),
        ));
    }
    let mut data = json!({ "phoneNumber": phone, "status": outcome.as_str() });
    if let VerifyOutcome::Invalid { attempts_left } = outcome {
        data["attemptsLeft"] = json!(attempts_left);
    }
    let error = match outcome.into_error(&phone) {
        Some(e) => ApiError::from(e),
        None => ApiError::bad_request(REFUSED),
    };
    Err(error.with_message(REFUSED).with_data(data))
}

/// The code as text: a string as given, a number as its digits.
fn code_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET /api/otp/status/:phone`: the recipient's latest OTP.
pub async fn status(
    State(app): State<AppState>,
    Path(phone): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.otp_status(&phone).await?;
    Ok(ok(
        StatusCode::OK,
        "Status OTP berhasil diambil",
        status_json(&phone, &status),
    ))
}

/// Body of `POST /api/otp/cancel`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    phone_number: Option<String>,
}

/// `POST /api/otp/cancel {phoneNumber}`: the pending code stops working.
pub async fn cancel(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Response, ApiError> {
    let Some(phone) = first_present(body.phone_number, None) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PHONE",
            "Nomor telepon diperlukan (gunakan field \"phoneNumber\")",
        ));
    };
    let status = app.gateway.cancel_otp(&phone).await?;
    Ok(ok(
        StatusCode::OK,
        "OTP berhasil dibatalkan",
        status_json(&phone, &status),
    ))
}

/// An OTP's state for clients: never the code (only its MAC is stored).
fn status_json(phone: &str, s: &OtpStatus) -> Value {
    json!({
        "phoneNumber": phone,
        "recipient": s.recipient,
        "verificationId": s.verification_id,
        "sessionId": s.session_id,
        "status": s.state.as_str(),
        "delivery": s.delivery.as_ref().map(|d| d.as_str()),
        "messageId": s.message_id,
        "createdAt": iso_time::iso(s.created_at),
        "expiresAt": iso_time::iso(s.expires_at),
        "attempts": s.attempts,
        "maxAttempts": s.max_attempts,
        "attemptsLeft": s.attempts_left(),
    })
}
