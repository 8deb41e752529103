//! `/api/otp`: send a code through a sender pool, verify a code, read or
//! cancel a recipient's OTP. The guide's server documented the last three
//! but never made them work.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use waotp::{OtpStatus, SenderPool, VerifyOutcome};

use crate::app::AppState;
use crate::envelope::{ApiError, Envelope, ErrorBody, ok};
use crate::iso_time;
use crate::json_body::JsonBody;
use crate::routes::first_present;
use crate::routes::messages::{OtpBody, OtpSent, otp_request, otp_send_error, otp_sent};

/// The guide's message for every refused verification; `error` and
/// `data.status` say which refusal it was.
const REFUSED: &str = "OTP tidak valid atau sudah kedaluwarsa";

/// `POST /api/otp/send {to, companyName, sessions?}`: issues a code and
/// sends it through the best session of the pool (every session without
/// `sessions`), failing over when one cannot deliver; answers as
/// `/api/messages/:id/otp` does, `data.sessionId` naming the session that
/// sent it. No session can deliver: 429 `ACCOUNT_LIMITED` with
/// `Retry-After` when a limit's end is known.
#[utoipa::path(post, path = "/api/otp/send", operation_id = "sendOtpPool", tag = "otp",
    request_body = OtpBody,
    responses(
        (status = 200, description = "Sent; `sessionId` names the session that sent it", body = Envelope<OtpSent>),
        (status = 400, description = "INVALID_PHONE, INVALID_ARGUMENT or NOT_ON_WHATSAPP", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, or ACCOUNT_LIMITED: no session of the pool can deliver", body = ErrorBody),
        (status = 500, description = "SEND_FAILED", body = ErrorBody),
    ))]
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
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    /// The number the code was sent to.
    phone_number: Option<String>,
    /// The code the user typed: a string (a JSON number loses leading zeros,
    /// but is accepted as its digits).
    #[schema(value_type = Option<String>)]
    otp: Option<Value>,
}

/// An approved code; a refusal carries `phoneNumber`, `status` and, when
/// invalid, `attemptsLeft` in the error's `data`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The number.
    pub phone_number: String,
    /// `approved`.
    pub status: String,
    /// When (ISO-8601).
    pub verified_at: String,
    /// The session that sent the code.
    pub session_id: Option<String>,
}

/// `POST /api/otp/verify {phoneNumber, otp}`: 200 approved; refused with
/// 400 invalid (`attemptsLeft`), 410 expired, 429 too many attempts, 404 no
/// pending code.
#[utoipa::path(post, path = "/api/otp/verify", operation_id = "verifyOtp", tag = "otp",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Approved", body = Envelope<Verified>),
        (status = 400, description = "OTP_INVALID (`data.attemptsLeft`) or INVALID_ARGUMENT", body = ErrorBody),
        (status = 404, description = "OTP_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "OTP_EXPIRED", body = ErrorBody),
        (status = 429, description = "OTP_MAX_ATTEMPTS", body = ErrorBody),
    ))]
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
            Verified {
                status: outcome.as_str().to_owned(),
                phone_number: phone,
                verified_at: iso_time::now(),
                session_id,
            },
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
#[utoipa::path(get, path = "/api/otp/status/{phone}", operation_id = "getOtpStatus", tag = "otp",
    params(("phone" = String, Path, description = "The recipient's number")),
    responses(
        (status = 200, description = "The latest OTP (never the code)", body = Envelope<OtpStatusView>),
        (status = 400, description = "INVALID_PHONE", body = ErrorBody),
        (status = 404, description = "OTP_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn status(
    State(app): State<AppState>,
    Path(phone): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.otp_status(&phone).await?;
    Ok(ok(
        StatusCode::OK,
        "Status OTP berhasil diambil",
        OtpStatusView::of(&phone, &status),
    ))
}

/// Body of `POST /api/otp/cancel`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    /// The number whose pending code stops working.
    phone_number: Option<String>,
}

/// `POST /api/otp/cancel {phoneNumber}`: the pending code stops working.
#[utoipa::path(post, path = "/api/otp/cancel", operation_id = "cancelOtp", tag = "otp",
    request_body = CancelBody,
    responses(
        (status = 200, description = "Cancelled", body = Envelope<OtpStatusView>),
        (status = 400, description = "INVALID_PHONE", body = ErrorBody),
        (status = 404, description = "OTP_NOT_FOUND", body = ErrorBody),
    ))]
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
        OtpStatusView::of(&phone, &status),
    ))
}

/// An OTP's state for clients: never the code (only its MAC is stored).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpStatusView {
    /// The number as asked.
    pub phone_number: String,
    /// The recipient's E.164 digits.
    pub recipient: String,
    /// The verification's id.
    pub verification_id: String,
    /// The session that sent the code.
    pub session_id: String,
    /// `pending`, `approved`, `canceled`, `expired`, `max_attempts_reached`.
    pub status: String,
    /// The message's delivery: `pending`, `sent`, `delivered`, `read`, `failed`.
    pub delivery: Option<String>,
    /// The message's id.
    pub message_id: Option<String>,
    /// When it was issued (ISO-8601).
    pub created_at: String,
    /// When it expires (ISO-8601).
    pub expires_at: String,
    /// Wrong codes tried.
    pub attempts: u32,
    /// Wrong codes allowed.
    pub max_attempts: u32,
    /// Wrong codes left.
    pub attempts_left: u32,
}

impl OtpStatusView {
    fn of(phone: &str, s: &OtpStatus) -> Self {
        OtpStatusView {
            phone_number: phone.to_owned(),
            recipient: s.recipient.clone(),
            verification_id: s.verification_id.clone(),
            session_id: s.session_id.clone(),
            status: s.state.as_str().to_owned(),
            delivery: s.delivery.as_ref().map(|d| d.as_str().to_owned()),
            message_id: s.message_id.clone(),
            created_at: iso_time::iso(s.created_at),
            expires_at: iso_time::iso(s.expires_at),
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            attempts_left: s.attempts_left(),
        }
    }
}
