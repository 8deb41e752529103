//! `/api/sessions`: create, list, status, QR code, pairing code, restart, delete.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::envelope::{ApiError, ok, ok_without_data};
use crate::iso_time;
use crate::json_body::JsonBody;
use crate::routes::first_present;

/// How long `GET /qr` waits for a QR code that is on its way (a session
/// created a moment ago, or a fresh pairing after the last QR expired),
/// instead of answering "not yet" to a client that asks right after `create`.
const QR_WAIT: Duration = Duration::from_secs(5);

/// What the guide's clients read about a session (`sessionId`,
/// `isConnected`, `user`, `lastSeen`), plus waotp's `state`,
/// `qrRefreshCount` and `reason`.
pub fn session_json(status: &waotp::SessionStatus) -> Value {
    json!({
        "sessionId": status.id,
        "isConnected": status.is_connected,
        "user": status.user.as_ref().map(|u| json!({
            "id": u.jid,
            "name": u.name,
            "phone": u.phone,
        })),
        "lastSeen": status.last_seen.map(iso_time::iso),
        "state": status.state.as_str(),
        "qrRefreshCount": status.qr_refresh_count,
        "reason": status.reason,
    })
}

/// Body of `POST /api/sessions/create`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// The id to use; generated (`session_<uuid>`) when absent or blank.
    session_id: Option<String>,
}

/// `POST /api/sessions/create`: 201 with the new session; for an id that
/// exists, 200 with that session (the guide's server answered 400).
pub async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let wanted = body.session_id.filter(|id| !id.trim().is_empty());
    // Told apart only to choose the status and message: the core's create is
    // idempotent either way.
    let existed = wanted
        .as_deref()
        .is_some_and(|id| app.gateway.session(id).is_ok());
    let session = app.gateway.create_session(wanted.as_deref()).await?;
    let status = session.status();
    let data = json!({
        "sessionId": status.id,
        "isConnected": status.is_connected,
        "state": status.state.as_str(),
        "timestamp": iso_time::now(),
    });
    if existed {
        let message = format!("Session {} sudah ada", status.id);
        Ok(ok(StatusCode::OK, &message, data))
    } else {
        Ok(ok(StatusCode::CREATED, "Session berhasil dibuat", data))
    }
}

/// `GET /api/sessions`: every session, as an object keyed by id.
pub async fn list(State(app): State<AppState>) -> Response {
    let statuses = app.gateway.list_sessions();
    let sessions: serde_json::Map<String, Value> = statuses
        .iter()
        .map(|s| (s.id.clone(), session_json(s)))
        .collect();
    ok(
        StatusCode::OK,
        "Daftar sessions berhasil diambil",
        json!({ "sessions": sessions, "total": statuses.len() }),
    )
}

/// `GET /api/sessions/:id/status`.
pub async fn status(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    Ok(ok(
        StatusCode::OK,
        "Status session berhasil diambil",
        session_json(&session.status()),
    ))
}

/// `GET /api/sessions/:id/qr`: the current QR code as a PNG data URL.
///
/// In the guide's order: unknown session 404; connected 400; no QR 404. A
/// session whose QR codes all expired starts a fresh pairing here, so the
/// QR page's "new QR" button and a client's retry both get a new code.
pub async fn qr(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    if session.status().is_connected {
        return Err(waotp::Error::AlreadyConnected(id).into());
    }
    let qr = match session.wait_qr(QR_WAIT).await {
        Ok(qr) => qr,
        Err(e @ waotp::Error::AlreadyConnected(_)) => return Err(e.into()),
        // Still connecting, or every fresh code expired at once: either way
        // there is nothing to scan now.
        Err(_) => return Err(waotp::Error::QrNotAvailable(id).into()),
    };
    Ok(ok(
        StatusCode::OK,
        "QR Code berhasil diambil",
        json!({
            "sessionId": session.id(),
            "qrCode": qr.png_data_url()?,
            "qrPayload": qr.raw(),
            "expiresAt": iso_time::iso(qr.expires_at()),
            "timestamp": iso_time::now(),
            "instructions": "Scan QR Code ini dengan aplikasi WhatsApp Anda",
        }),
    ))
}

/// Body of `POST /api/sessions/:id/pair-code`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairCodeBody {
    /// The phone number of the WhatsApp account to link.
    phone: Option<String>,
    /// Alias of `phone`, as the verification routes name it.
    phone_number: Option<String>,
}

/// `POST /api/sessions/:id/pair-code {phone}`: an 8-character code to type
/// on the phone instead of scanning the QR code.
pub async fn pair_code(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PairCodeBody>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    if session.status().is_connected {
        return Err(ApiError::from(waotp::Error::AlreadyConnected(id))
            .with_message("Session sudah terhubung, kode pairing tidak diperlukan"));
    }
    let Some(phone) = first_present(body.phone, body.phone_number) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PHONE",
            "Nomor telepon diperlukan (gunakan field \"phone\")",
        ));
    };
    let code = session.pair_code(&phone).await?;
    Ok(ok(
        StatusCode::OK,
        "Kode pairing berhasil dibuat",
        json!({
            "sessionId": session.id(),
            "pairingCode": code,
            "timestamp": iso_time::now(),
            "instructions": "Buka WhatsApp > Perangkat Tertaut > Tautkan Perangkat > \
                             Tautkan dengan nomor telepon, lalu masukkan kode ini",
        }),
    ))
}

/// `PUT /api/sessions/:id/restart`: a new connection on the same
/// credentials (the guide's server wiped them and asked for a new scan).
pub async fn restart(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    session.restart().await?;
    let status = session.status();
    Ok(ok(
        StatusCode::OK,
        "Session berhasil direstart",
        json!({
            "sessionId": status.id,
            "isConnected": status.is_connected,
            "state": status.state.as_str(),
            "timestamp": iso_time::now(),
        }),
    ))
}

/// `DELETE /api/sessions/:id`: logs out and removes the credentials.
pub async fn remove(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.gateway.delete_session(&id).await?;
    Ok(ok_without_data("Session berhasil dihapus"))
}
