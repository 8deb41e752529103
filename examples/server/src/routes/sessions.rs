//! `/api/sessions`: create, list, status, QR code, pairing code, passkey,
//! restart, delete.

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

/// How long `POST /passkey` waits, after WhatsApp accepted the assertion,
/// for the confirmation code the phone shows (it follows within
/// milliseconds; the status keeps it only until the link completes).
const CONFIRMATION_WAIT: Duration = Duration::from_secs(5);

/// What the guide's clients read about a session (`sessionId`,
/// `isConnected`, `user`, `lastSeen`), plus waotp's `state`,
/// `qrRefreshCount`, `reason`, in state `passkey_required` `passkey`
/// (see [`passkey_json`]; `null` otherwise), and `health` (see
/// [`health_json`]).
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
        "passkey": status.passkey.as_ref().map(passkey_json),
        "health": health_json(&status.health),
    })
}

/// What WhatsApp lets the session's number do: `state` (`ok`,
/// `new_chats_limited`, `banned`, `logged_out`), `until` (ISO-8601, when a
/// limit or ban ends and WhatsApp said), `reason` (`timelock`, `capped`),
/// `quota` (`used`, `total`, `remaining`, `cycleEnds`; `null` until
/// WhatsApp tells it) and `nacksLastHour` by code.
pub fn health_json(health: &waotp::SessionHealth) -> Value {
    json!({
        "state": health.state.as_str(),
        "until": health.state.until().map(iso_time::iso),
        "reason": health.state.reason().map(|r| r.as_str()),
        "quota": health.quota.as_ref().map(|q| json!({
            "used": q.used,
            "total": q.total,
            "remaining": q.remaining(),
            "cycleEnds": q.cycle_ends.map(iso_time::iso),
        })),
        "nacksLastHour": health.nacks_last_hour,
    })
}

/// WhatsApp's passkey request as the API shows it: `optionsJson` (the
/// WebAuthn request options, verbatim JSON text), `expiresAt` (ISO-8601),
/// `snippet` (the JavaScript to paste into the console of a
/// `https://web.whatsapp.com` tab) and `confirmationCode` (`XXXX-XXXX` once
/// WhatsApp accepted the passkey, else `null`).
pub fn passkey_json(challenge: &waotp::PasskeyChallenge) -> Value {
    json!({
        "optionsJson": challenge.options_json,
        "expiresAt": iso_time::iso(challenge.expires_at),
        "snippet": challenge.snippet,
        "confirmationCode": challenge.confirmation_code,
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

/// Body of `POST /api/sessions/:id/passkey`.
#[derive(Deserialize)]
pub struct PasskeyBody {
    /// What the snippet printed: the assertion as a JSON object, or the
    /// same JSON as a string (what a textarea holds).
    assertion: Option<Value>,
}

/// `POST /api/sessions/:id/passkey {assertion}`: hands the passkey assertion
/// WhatsApp asked for (state `passkey_required`) to the session.
///
/// In order: unknown session 404; no `assertion` 400 `INVALID_ARGUMENT`;
/// connected 400 `ALREADY_CONNECTED`; a malformed assertion 400
/// `INVALID_ARGUMENT`; not waiting for a passkey 400 `INVALID_ARGUMENT`;
/// refused by WhatsApp 422 `PASSKEY_REJECTED`; challenge expired 410
/// `PASSKEY_EXPIRED` (after either refusal the session shows a fresh QR).
/// On success the link completes by itself; the answer carries the
/// confirmation code the phone shows, when it came within a few seconds.
pub async fn passkey(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PasskeyBody>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    let assertion = match body.assertion {
        Some(Value::String(text)) if !text.trim().is_empty() => text,
        Some(object @ Value::Object(_)) => object.to_string(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ApiError::bad_request(
                "Hasil passkey diperlukan (field \"assertion\": teks yang dicetak snippet)",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "Field \"assertion\" harus berupa objek JSON atau string",
            ));
        }
    };
    let status = session.status();
    if status.is_connected {
        return Err(ApiError::from(waotp::Error::AlreadyConnected(id))
            .with_message("Session sudah terhubung, passkey tidak diperlukan"));
    }
    // Checked here for a precise message; the core checks both again.
    if let Err(e) = waotp::PasskeyAssertion::parse(&assertion) {
        let why = match &e {
            waotp::Error::InvalidArgument(why) => why.clone(),
            other => other.to_string(),
        };
        return Err(ApiError::from(e).with_message(format!("Hasil passkey tidak valid: {why}")));
    }
    if status.state != waotp::SessionState::PasskeyRequired {
        return Err(ApiError::bad_request(format!(
            "Session tidak sedang menunggu passkey (state: {})",
            status.state.as_str()
        )));
    }
    // Subscribed before the submit, so the confirmation cannot slip by.
    let mut events = app.gateway.events();
    session.submit_passkey_assertion(&assertion).await?;
    let code = confirmation_code(&session, &mut events).await;
    let status = session.status();
    Ok(ok(
        StatusCode::OK,
        "Passkey diterima",
        json!({
            "sessionId": status.id,
            "isConnected": status.is_connected,
            "state": status.state.as_str(),
            "confirmationCode": code,
            "timestamp": iso_time::now(),
        }),
    ))
}

/// The confirmation code of `session`'s accepted passkey: from its event,
/// or its status (where another process owns the session); `None` when none
/// came within [`CONFIRMATION_WAIT`] or the link moved on without one.
async fn confirmation_code(
    session: &waotp::Session,
    events: &mut waotp::EventStream,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + CONFIRMATION_WAIT;
    loop {
        let status = session.status();
        if let Some(code) = status.passkey.and_then(|p| p.confirmation_code) {
            return Some(code);
        }
        if status.state != waotp::SessionState::PasskeyRequired {
            return None;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        // Each event (or a short tick, for a status another process
        // changes) leads to a fresh look at the status.
        let tick = left.min(Duration::from_millis(200));
        match events.next_within(Some(tick)).await {
            Some(waotp::Event::PasskeyConfirmation { session: s, code }) if s == session.id() => {
                return Some(code);
            }
            _ => {}
        }
    }
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
