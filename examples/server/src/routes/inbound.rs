//! `/api/otp/inbound`: the user sends the code. Start an inbound
//! verification (a `wa.me` link and its QR code for the user), then read
//! where it stands; once approved it names the number that sent the code.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use waotp::{InboundRequest, InboundStatus, SenderPool};

use crate::app::AppState;
use crate::envelope::{ApiError, ok};
use crate::iso_time;
use crate::json_body::JsonBody;

/// Body of `POST /api/otp/inbound`; every field optional.
#[derive(Deserialize, Default)]
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
        json!({
            "verificationId": started.verification_id,
            "sessionId": started.session_id,
            "number": started.number,
            "text": started.text,
            "link": started.link,
            "qrCode": started.qr.png_data_url()?,
            "expiresAt": iso_time::iso(started.expires_at),
        }),
    ))
}

/// `GET /api/otp/inbound/:id`: where it stands; `sender` once approved.
pub async fn status(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.inbound_verification_status(&id).await?;
    Ok(ok(
        StatusCode::OK,
        "Status verifikasi masuk",
        status_json(&status),
    ))
}

/// `POST /api/otp/inbound/:id/cancel`: the token approves nothing afterwards.
pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let status = app.gateway.cancel_inbound_verification(&id).await?;
    Ok(ok(
        StatusCode::OK,
        "Verifikasi masuk dibatalkan",
        status_json(&status),
    ))
}

fn status_json(s: &InboundStatus) -> Value {
    json!({
        "verificationId": s.verification_id,
        "sessionId": s.session_id,
        "status": s.state.as_str(),
        "phoneNumber": s.expected_phone,
        "sender": s.sender,
        "attempts": s.attempts,
        "maxAttempts": s.max_attempts,
        "createdAt": iso_time::iso(s.created_at),
        "expiresAt": iso_time::iso(s.expires_at),
        "approvedAt": s.approved_at.map(iso_time::iso),
    })
}
