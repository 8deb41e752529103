//! `/api/otp/inbound`: the user sends the code. Start an inbound
//! verification (a `wa.me` link and its QR code for the user), then read
//! where it stands; once approved it names the number that sent the code.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use waotp::{InboundRequest, InboundStatus, SenderPool};

use crate::app::AppState;
use crate::envelope::{ApiError, Envelope, ErrorBody, ok};
use crate::iso_time;
use crate::json_body::JsonBody;

/// Body of `POST /api/otp/inbound`; every field optional.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartBody {
    /// The session whose number the user writes to.
    session_id: Option<String>,
    /// A pool instead of one session (every session when neither is given).
    sessions: Option<Vec<String>>,
    /// Only a message from this number approves it; without, any sender
    /// does and is reported (login with WhatsApp).
    phone_number: Option<String>,
    /// The text the user sends; must contain `{TOKEN}`.
    template: Option<String>,
    /// Seconds the token is accepted (30–86400; default 600).
    ttl: Option<u64>,
    /// A text sent to the user once approved.
    reply: Option<String>,
}

/// `POST /api/otp/inbound {sessionId?, sessions?, phoneNumber?, template?,
/// ttl?, reply?}`: `data: {verificationId, sessionId, number, text, link,
/// qrCode (PNG data URL), expiresAt}`.
#[utoipa::path(post, path = "/api/otp/inbound", operation_id = "startInboundVerification", tag = "inbound",
    request_body(content = StartBody, description = "Every field optional; may be empty"),
    responses(
        (status = 200, description = "Started: show the user `link` (or `qrCode`)", body = Envelope<InboundStarted>),
        (status = 400, description = "INVALID_ARGUMENT, INVALID_PHONE, or NOT_CONNECTED: no session of the pool can receive", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn start(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<StartBody>,
) -> Result<Response, ApiError> {
    let pool = match (body.session_id, body.sessions) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "Gunakan \"sessionId\" atau \"sessions\", bukan keduanya",
            ));
        }
        (Some(id), None) => SenderPool::of([id]),
        (None, sessions) => SenderPool::from(sessions),
    };
    let mut request = InboundRequest::new();
    if let Some(phone) = body.phone_number.filter(|p| !p.trim().is_empty()) {
        request = request.expected_phone(phone);
    }
    if let Some(template) = body.template {
        request = request.template(template);
    }
    if let Some(ttl) = body.ttl {
        request = request.ttl(Duration::from_secs(ttl));
    }
    if let Some(reply) = body.reply {
        request = request.reply(reply);
    }
    let started = app
        .gateway
        .start_inbound_verification(&pool, &request)
        .await?;
    Ok(ok(
        StatusCode::OK,
        "Verifikasi masuk dimulai: kirim pesan dari WhatsApp",
        InboundStarted {
            qr_code: started.qr.png_data_url()?,
            expires_at: iso_time::iso(started.expires_at),
            verification_id: started.verification_id,
            session_id: started.session_id,
            number: started.number,
            text: started.text,
            link: started.link,
        },
    ))
}

/// A started inbound verification: what the user sends, and where.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundStarted {
    /// Its id, for `GET /api/otp/inbound/{id}`.
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// That number (E.164 digits).
    pub number: String,
    /// The text the user sends, token included.
    pub text: String,
    /// `https://wa.me/<number>?text=…`: opens WhatsApp with the text.
    pub link: String,
    /// The link as a QR code, a PNG data URL (for a desktop browser).
    pub qr_code: String,
    /// When the token stops being accepted (ISO-8601).
    pub expires_at: String,
}

/// Where an inbound verification stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundStatusView {
    /// Its id.
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// `pending`, `approved`, `canceled`, `expired`, `max_attempts_reached`.
    pub status: String,
    /// The number expected to send it, when one was given.
    pub phone_number: Option<String>,
    /// Once approved, the number that sent it (mapped from a LID when
    /// WhatsApp addressed it so).
    pub sender: Option<String>,
    /// Messages with the token from a wrong number.
    pub attempts: u32,
    /// Wrong senders allowed.
    pub max_attempts: u32,
    /// When it started (ISO-8601).
    pub created_at: String,
    /// When the token expires (ISO-8601).
    pub expires_at: String,
    /// When it was approved (ISO-8601).
    pub approved_at: Option<String>,
}

impl InboundStatusView {
    fn of(s: &InboundStatus) -> Self {
        InboundStatusView {
            verification_id: s.verification_id.clone(),
            session_id: s.session_id.clone(),
            status: s.state.as_str().to_owned(),
            phone_number: s.expected_phone.clone(),
            sender: s.sender.clone(),
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            created_at: iso_time::iso(s.created_at),
            expires_at: iso_time::iso(s.expires_at),
            approved_at: s.approved_at.map(iso_time::iso),
        }
    }
}

/// `GET /api/otp/inbound/:id`: where it stands; `sender` once approved.
#[utoipa::path(get, path = "/api/otp/inbound/{id}", operation_id = "getInboundVerification", tag = "inbound",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, description = "Where it stands", body = Envelope<InboundStatusView>),
        (status = 404, description = "OTP_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn status(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.inbound_verification_status(&id).await?;
    Ok(ok(
        StatusCode::OK,
        "Status verifikasi masuk",
        InboundStatusView::of(&status),
    ))
}

/// `POST /api/otp/inbound/:id/cancel`: the token approves nothing afterwards.
#[utoipa::path(post, path = "/api/otp/inbound/{id}/cancel", operation_id = "cancelInboundVerification", tag = "inbound",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, description = "Canceled", body = Envelope<InboundStatusView>),
        (status = 404, description = "OTP_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.cancel_inbound_verification(&id).await?;
    Ok(ok(
        StatusCode::OK,
        "Verifikasi masuk dibatalkan",
        InboundStatusView::of(&status),
    ))
}
