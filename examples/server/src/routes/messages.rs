//! `/api/messages`: text and OTP sends, code generation, phone formatting,
//! and the delivery status of a sent message.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use waotp::{OtpRequest, SenderPool, SessionState};

use crate::app::AppState;
use crate::envelope::{ApiError, Envelope, ErrorBody, ok};
use crate::iso_time;
use crate::json_body::JsonBody;
use crate::routes::{first_present, jid};

/// Company named in an OTP message when the request names none (the guide's default).
const DEFAULT_COMPANY: &str = "WhatsApp OTP API";

/// The OTP message the guide's server sent, so recipients see what they saw
/// before (WhatsApp `*bold*`; `{MINUTES}` follows the configured validity).
const GUIDE_TEMPLATE: &str = "🔐 *Kode OTP Anda*\n\
    \n\
    Kode OTP: *{OTP}*\n\
    \n\
    Kode ini akan kedaluwarsa dalam {MINUTES} menit.\n\
    Jangan bagikan kode ini kepada siapapun.\n\
    \n\
    Terima kasih,\n\
    {COMPANY}";

/// The guide's check after "session exists": the session must be connected.
///
/// A linked session that is reconnecting (or restoring its link at start)
/// passes: the core waits for it to come back within the send's retry
/// budget, instead of failing a send over a blip.
fn ensure_linked(session: &waotp::Session) -> Result<(), ApiError> {
    let status = session.status();
    let linked = match status.state {
        SessionState::Connected | SessionState::Reconnecting => true,
        SessionState::Starting | SessionState::Connecting => status.user.is_some(),
        _ => false,
    };
    if linked {
        Ok(())
    } else {
        Err(waotp::Error::NotConnected {
            session: status.id,
            state: status.state.to_string(),
        }
        .into())
    }
}

/// The guide's answer when neither `to` nor `phone` is given.
fn phone_required() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_PHONE",
        "Nomor telepon diperlukan (gunakan field \"to\" atau \"phone\")",
    )
}

/// Body of `POST /api/messages/:id/text` and `POST /api/messages/send`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextBody {
    /// The recipient's number (a leading 0 reads as Indonesia's 62).
    to: Option<String>,
    /// Alias of `to`.
    phone: Option<String>,
    /// The text (up to 65,536 characters).
    message: Option<String>,
    /// Alias of `message`.
    text: Option<String>,
    /// A retry with the same key sends nothing new and answers the first
    /// message's id (one session only: through a pool, the same text from
    /// another number would be another message).
    idempotency_key: Option<String>,
    /// `POST /api/messages/send` only: the sessions of the sender pool
    /// (every session when absent).
    sessions: Option<Vec<String>>,
}

impl TextBody {
    /// The recipient and the text, or the guide's answer when one is missing.
    fn recipient_and_text(&mut self) -> Result<(String, String), ApiError> {
        let to = first_present(self.to.take(), self.phone.take()).ok_or_else(phone_required)?;
        let Some(message) = first_present(self.message.take(), self.text.take()) else {
            return Err(ApiError::bad_request(
                "Pesan teks diperlukan (gunakan field \"message\" atau \"text\")",
            ));
        };
        Ok((to, message))
    }
}

/// `POST /api/messages/:id/text {to, message}`.
#[utoipa::path(post, path = "/api/messages/{id}/text", operation_id = "sendText", tag = "messages",
    params(("id" = String, Path, description = "The session that sends it")),
    request_body = TextBody,
    responses(
        (status = 200, description = "Sent", body = Envelope<TextSent>),
        (status = 400, description = "INVALID_PHONE, INVALID_ARGUMENT, NOT_CONNECTED or NOT_ON_WHATSAPP", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 429, description = "ACCOUNT_LIMITED (with `Retry-After` when its end is known)", body = ErrorBody),
        (status = 500, description = "SEND_FAILED", body = ErrorBody),
    ))]
pub async fn text(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(mut body): JsonBody<TextBody>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    ensure_linked(&session)?;
    if body.sessions.is_some() {
        return Err(ApiError::bad_request(
            "Field \"sessions\" hanya untuk POST /api/messages/send",
        ));
    }
    let (to, message) = body.recipient_and_text()?;
    let sent = session
        .send_text(&to, &message, body.idempotency_key.as_deref())
        .await?;
    Ok(text_sent(&sent, message))
}

/// `POST /api/messages/send {to, message, sessions?}`: sends a text
/// through the best session of the pool (every session without
/// `sessions`; the order of `POST /api/otp/send`), failing over when one
/// cannot deliver. `data.sessionId` names the session that sent it; no
/// session can deliver: 429 `ACCOUNT_LIMITED` with `Retry-After` when a
/// limit's end is known.
#[utoipa::path(post, path = "/api/messages/send", operation_id = "sendTextPool", tag = "messages",
    request_body = TextBody,
    responses(
        (status = 200, description = "Sent; `sessionId` names the session that sent it", body = Envelope<TextSent>),
        (status = 400, description = "INVALID_PHONE, INVALID_ARGUMENT or NOT_ON_WHATSAPP", body = ErrorBody),
        (status = 429, description = "ACCOUNT_LIMITED: no session of the pool can deliver", body = ErrorBody),
        (status = 500, description = "SEND_FAILED", body = ErrorBody),
    ))]
pub async fn send_through_pool(
    State(app): State<AppState>,
    JsonBody(mut body): JsonBody<TextBody>,
) -> Result<Response, ApiError> {
    if body.idempotency_key.is_some() {
        return Err(ApiError::bad_request(
            "Field \"idempotencyKey\" hanya untuk POST /api/messages/:id/text",
        ));
    }
    let (to, message) = body.recipient_and_text()?;
    let pool = SenderPool::from(body.sessions.take());
    let sent = app.gateway.send_text_pool(&pool, &to, &message).await?;
    Ok(text_sent(&sent, message))
}

/// A sent text.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextSent {
    /// The session that sent it.
    pub session_id: String,
    /// The recipient's JID (`628123456789@s.whatsapp.net`).
    pub to: String,
    /// The text.
    pub message: String,
    /// The message's id, for `GET /api/messages/status/{messageId}`.
    pub message_id: String,
    /// When it was sent (ISO-8601).
    pub timestamp: String,
}

/// The answer to a sent text; `data.sessionId` names the session that sent it.
fn text_sent(sent: &waotp::SentMessage, message: String) -> Response {
    ok(
        StatusCode::OK,
        "Pesan teks berhasil dikirim",
        TextSent {
            session_id: sent.session_id.clone(),
            to: jid(&sent.to),
            message,
            message_id: sent.id.clone(),
            timestamp: iso_time::now(),
        },
    )
}

/// Body of `POST /api/messages/:id/otp` and `POST /api/otp/send`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpBody {
    /// The recipient's number (a leading 0 reads as Indonesia's 62).
    to: Option<String>,
    /// Alias of `to`.
    phone: Option<String>,
    /// Named in the message (default "WhatsApp OTP API").
    company_name: Option<String>,
    /// Digits, 4–10 (a number, or a string of digits as form-minded clients send).
    #[schema(value_type = Option<u32>)]
    length: Option<Value>,
    /// A caller-chosen code: refused, codes come from the server's CSPRNG.
    #[schema(value_type = Option<String>)]
    otp: Option<Value>,
    /// A custom message; must contain `{OTP}`, may use `{COMPANY}` and `{MINUTES}`.
    template: Option<String>,
    /// A retry with the same key while the code is pending sends no second code.
    idempotency_key: Option<String>,
    /// `POST /api/otp/send` only: the sessions of the sender pool (every
    /// session when absent).
    pub(crate) sessions: Option<Vec<String>>,
}

/// `POST /api/messages/:id/otp {to, companyName?, length?}`: issues a code
/// and sends it. `data.otp` carries the code unless `--no-reveal-otp`.
#[utoipa::path(post, path = "/api/messages/{id}/otp", operation_id = "sendOtp", tag = "messages",
    params(("id" = String, Path, description = "The session that sends it")),
    request_body = OtpBody,
    responses(
        (status = 200, description = "Sent", body = Envelope<OtpSent>),
        (status = 400, description = "INVALID_PHONE, INVALID_ARGUMENT, NOT_CONNECTED or NOT_ON_WHATSAPP", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED or ACCOUNT_LIMITED (with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "SEND_FAILED", body = ErrorBody),
    ))]
pub async fn otp(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OtpBody>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    ensure_linked(&session)?;
    if body.sessions.is_some() {
        return Err(ApiError::bad_request(
            "Field \"sessions\" hanya untuk POST /api/otp/send",
        ));
    }
    let (to, request) = otp_request(&app, body)?;
    let sent = app
        .gateway
        .send_otp(&id, &to, &request)
        .await
        .map_err(otp_send_error)?;
    Ok(otp_sent(&app, &sent))
}

/// The recipient and the request an OTP body asks for.
pub(crate) fn otp_request(app: &AppState, body: OtpBody) -> Result<(String, OtpRequest), ApiError> {
    let to = first_present(body.to, body.phone).ok_or_else(phone_required)?;
    if body.otp.is_some() {
        return Err(ApiError::bad_request(
            "Field \"otp\" tidak didukung: kode OTP dibuat oleh server",
        ));
    }
    let company = body
        .company_name
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_COMPANY.to_owned());
    let mut request = OtpRequest::new(company)
        .template(body.template.unwrap_or_else(|| GUIDE_TEMPLATE.to_owned()))
        .reveal_code(app.settings.reveal_otp);
    if let Some(length) = body.length {
        request = request.length(parse_length(&length)?);
    }
    if let Some(key) = body.idempotency_key {
        request = request.idempotency_key(key);
    }
    Ok((to, request))
}

/// A failed OTP send as the guide's clients expect it: a rate limit says
/// how long to wait in words.
pub(crate) fn otp_send_error(e: waotp::Error) -> ApiError {
    match e {
        e @ waotp::Error::RateLimited { .. } => {
            let error = ApiError::from(e);
            let seconds = error
                .retry_after
                .map(crate::envelope::retry_seconds)
                .unwrap_or(1);
            error.with_message(format!("Tunggu {seconds} detik sebelum mengirim OTP lagi"))
        }
        e => e.into(),
    }
}

/// A sent OTP.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpSent {
    /// The session that sent it.
    pub session_id: String,
    /// The recipient's JID.
    pub to: String,
    /// The message's id, for `GET /api/messages/status/{messageId}`
    /// (`null` when the code was queued for another process to send).
    pub message_id: Option<String>,
    /// The verification's id.
    pub verification_id: String,
    /// When it was sent (ISO-8601).
    pub timestamp: String,
    /// The validity in words (`5 menit`).
    pub expires_in: String,
    /// When the code expires (ISO-8601).
    pub expires_at: String,
    /// `true` when an idempotency key matched a code already sent.
    pub replayed: bool,
    /// The code, unless the server runs with `--no-reveal-otp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp: Option<String>,
}

/// The answer to a sent OTP; `data.sessionId` names the session that sent it.
pub(crate) fn otp_sent(app: &AppState, sent: &waotp::SentOtp) -> Response {
    let minutes = validity_minutes(app);
    let data = OtpSent {
        session_id: sent.session_id.clone(),
        to: jid(&sent.to),
        message_id: sent.message_id.clone(),
        verification_id: sent.verification_id.clone(),
        timestamp: iso_time::now(),
        expires_in: format!("{minutes} menit"),
        expires_at: iso_time::iso(sent.expires_at),
        replayed: sent.replayed,
        otp: sent.code.as_ref().map(|code| code.expose().to_owned()),
    };
    ok(StatusCode::OK, "OTP berhasil dikirim", data)
}

/// The configured validity in whole minutes, rounded as the core rounds
/// `{MINUTES}` in messages.
fn validity_minutes(app: &AppState) -> u64 {
    let ttl = app.gateway.otp_engine().config().ttl;
    ((ttl.as_secs() + 30) / 60).max(1)
}

/// A length given as a JSON number or a string of digits.
fn parse_length(value: &Value) -> Result<usize, ApiError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::bad_request("Panjang OTP harus berupa angka 4-10"))
}

/// `GET /api/messages/:id/generate-otp?length=N`: a random code, for a
/// client that writes its own message (the session id is not used, as in
/// the guide's server).
#[utoipa::path(get, path = "/api/messages/{id}/generate-otp", operation_id = "generateOtp", tag = "messages",
    params(
        ("id" = String, Path, description = "Not used (the guide's route has it)"),
        ("length" = Option<u32>, Query, description = "Digits, 4–10 (default: the server's)"),
    ),
    responses(
        (status = 200, description = "A random code", body = Envelope<GeneratedOtp>),
        (status = 400, description = "INVALID_ARGUMENT", body = ErrorBody),
    ))]
pub async fn generate_otp(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let length = match query_param(query.as_deref(), "length") {
        Some(raw) => parse_length(&Value::String(raw.to_owned()))?,
        None => app.gateway.otp_engine().config().length,
    };
    let code = app.gateway.generate_otp(length)?;
    Ok(ok(
        StatusCode::OK,
        "OTP berhasil digenerate",
        GeneratedOtp {
            otp: code.expose().to_owned(),
            length: code.len(),
            timestamp: iso_time::now(),
            expires_in: "5 menit (rekomendasi)".to_owned(),
        },
    ))
}

/// A random code (nothing is sent or stored).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedOtp {
    /// The code.
    pub otp: String,
    /// Its digits.
    pub length: usize,
    /// When it was made (ISO-8601).
    pub timestamp: String,
    /// The validity the guide recommends, in words.
    pub expires_in: String,
}

/// The value of `name` in a query string (`length=6`); digits need no decoding.
fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A number as the core reads it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormattedPhone {
    /// As given.
    pub original: String,
    /// E.164 digits.
    pub formatted: String,
    /// As a WhatsApp JID.
    pub whatsapp_format: String,
}

/// `GET /api/messages/format-phone/:phone`: the number as the core reads it.
#[utoipa::path(get, path = "/api/messages/format-phone/{phone}", operation_id = "formatPhone", tag = "messages",
    params(("phone" = String, Path, description = "A phone number, any punctuation; a leading 0 reads as Indonesia's 62")),
    responses(
        (status = 200, description = "The number", body = Envelope<FormattedPhone>),
        (status = 400, description = "INVALID_PHONE", body = ErrorBody),
    ))]
pub async fn format_phone(
    State(app): State<AppState>,
    Path(phone): Path<String>,
) -> Result<Response, ApiError> {
    let digits = app.gateway.normalize_phone(&phone)?;
    Ok(ok(
        StatusCode::OK,
        "Nomor telepon berhasil diformat",
        FormattedPhone {
            whatsapp_format: jid(&digits),
            original: phone,
            formatted: digits,
        },
    ))
}

/// `GET /api/messages/status/:messageId`: pending, sent, delivered, read or
/// failed (with the reason).
#[utoipa::path(get, path = "/api/messages/status/{message_id}", operation_id = "getMessageStatus", tag = "messages",
    params(("message_id" = String, Path, description = "The id a send answered")),
    responses(
        (status = 200, description = "Where the message stands", body = Envelope<MessageStatusView>),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn status(
    State(app): State<AppState>,
    Path(message_id): Path<String>,
) -> Result<Response, ApiError> {
    let record = app.gateway.message_status(&message_id).await?;
    let reason = match &record.status {
        waotp::DeliveryStatus::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    Ok(ok(
        StatusCode::OK,
        "Status pesan berhasil diambil",
        MessageStatusView {
            to: jid(&record.to),
            status: record.status.as_str().to_owned(),
            updated_at: iso_time::iso(record.updated_at),
            message_id: record.id,
            session_id: record.session,
            reason,
        },
    ))
}

/// Where a sent message stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatusView {
    /// The message's id.
    pub message_id: String,
    /// The session that sent it.
    pub session_id: String,
    /// The recipient's JID.
    pub to: String,
    /// `pending`, `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// When the status last changed (ISO-8601).
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lengths_and_query_params() {
        assert_eq!(parse_length(&json!(6)).unwrap(), 6);
        assert_eq!(parse_length(&json!("8")).unwrap(), 8);
        assert!(parse_length(&json!("six")).is_err());
        assert!(parse_length(&json!(-1)).is_err());
        assert_eq!(query_param(Some("a=1&length=7"), "length"), Some("7"));
        assert_eq!(query_param(Some("lengthy=7"), "length"), None);
        assert_eq!(query_param(None, "length"), None);
    }

    #[test]
    fn the_guide_template_is_accepted_by_the_core() {
        waotp::otp::Template::parse(GUIDE_TEMPLATE).expect("valid template");
    }
}
