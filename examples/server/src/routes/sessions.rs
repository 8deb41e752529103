//! `/api/sessions`: create, list, status, QR code, pairing code, passkey,
//! restart, delete.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::envelope::{ApiError, EmptyEnvelope, Envelope, ErrorBody, ok, ok_without_data};
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
/// `qrRefreshCount`, `reason`, `passkey` and `health`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session's id.
    pub session_id: String,
    /// Linked and connected to WhatsApp now.
    pub is_connected: bool,
    /// The linked account, once there is one.
    pub user: Option<UserView>,
    /// When the session was last connected (ISO-8601).
    pub last_seen: Option<String>,
    /// `starting`, `qr_required`, `passkey_required`, `connecting`,
    /// `connected`, `reconnecting`, `logged_out`, `stopped`, `failed`.
    pub state: String,
    /// QR codes shown since the pairing began.
    pub qr_refresh_count: u32,
    /// Why the session is in its state, when there is more to say.
    pub reason: Option<String>,
    /// In state `passkey_required`, what WhatsApp asks for; else `null`.
    pub passkey: Option<PasskeyView>,
    /// What WhatsApp lets the number do.
    pub health: HealthView,
}

impl SessionView {
    /// The view of `status`.
    pub fn of(status: &waotp::SessionStatus) -> Self {
        SessionView {
            session_id: status.id.clone(),
            is_connected: status.is_connected,
            user: status.user.as_ref().map(|u| UserView {
                id: u.jid.clone(),
                name: u.name.clone(),
                phone: u.phone.clone(),
            }),
            last_seen: status.last_seen.map(iso_time::iso),
            state: status.state.as_str().to_owned(),
            qr_refresh_count: status.qr_refresh_count,
            reason: status.reason.clone(),
            passkey: status.passkey.as_ref().map(PasskeyView::of),
            health: HealthView::of(&status.health),
        }
    }
}

/// The linked WhatsApp account.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Its JID (`628123456789:12@s.whatsapp.net`).
    pub id: String,
    /// Its push name, when known.
    pub name: Option<String>,
    /// Its phone number (E.164 digits).
    pub phone: String,
}

/// What WhatsApp lets the session's number do.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// `ok`, `new_chats_limited`, `banned`, `logged_out`.
    pub state: String,
    /// When a limit or ban ends (ISO-8601), when WhatsApp said.
    pub until: Option<String>,
    /// Why new chats are limited: `timelock` or `capped`.
    pub reason: Option<String>,
    /// The new-chat quota; `null` until WhatsApp tells it.
    pub quota: Option<QuotaView>,
    /// Refusals (nacks) over the last hour, by WhatsApp's code (`463`, `475`).
    pub nacks_last_hour: BTreeMap<String, u32>,
}

impl HealthView {
    /// The view of `health`.
    pub fn of(health: &waotp::SessionHealth) -> Self {
        HealthView {
            state: health.state.as_str().to_owned(),
            until: health.state.until().map(iso_time::iso),
            reason: health.state.reason().map(|r| r.as_str().to_owned()),
            quota: health.quota.as_ref().map(|q| QuotaView {
                used: q.used,
                total: q.total,
                remaining: q.remaining(),
                cycle_ends: q.cycle_ends.map(iso_time::iso),
            }),
            nacks_last_hour: health.nacks_last_hour.clone(),
        }
    }
}

/// The new-chat quota of the current cycle.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    /// New chats opened this cycle.
    pub used: u32,
    /// New chats allowed per cycle.
    pub total: u32,
    /// New chats left this cycle.
    pub remaining: u32,
    /// When the cycle ends (ISO-8601), when WhatsApp said.
    pub cycle_ends: Option<String>,
}

/// WhatsApp's passkey request as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    /// The WebAuthn request options, verbatim JSON text.
    pub options_json: String,
    /// When the challenge expires (ISO-8601).
    pub expires_at: String,
    /// The JavaScript to paste into the console of a
    /// `https://web.whatsapp.com` tab.
    pub snippet: String,
    /// `XXXX-XXXX` once WhatsApp accepted the passkey.
    pub confirmation_code: Option<String>,
}

impl PasskeyView {
    /// The view of `challenge`.
    pub fn of(challenge: &waotp::PasskeyChallenge) -> Self {
        PasskeyView {
            options_json: challenge.options_json.clone(),
            expires_at: iso_time::iso(challenge.expires_at),
            snippet: challenge.snippet.clone(),
            confirmation_code: challenge.confirmation_code.clone(),
        }
    }
}

/// A session's id and state, as create and restart answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBrief {
    /// The session's id.
    pub session_id: String,
    /// Linked and connected now.
    pub is_connected: bool,
    /// Its state (see [`SessionView::state`]).
    pub state: String,
    /// When this answer was made (ISO-8601).
    pub timestamp: String,
}

impl SessionBrief {
    fn of(status: &waotp::SessionStatus) -> Self {
        SessionBrief {
            session_id: status.id.clone(),
            is_connected: status.is_connected,
            state: status.state.as_str().to_owned(),
            timestamp: iso_time::now(),
        }
    }
}

/// Body of `POST /api/sessions/create`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// The id to use; generated (`session_<uuid>`) when absent or blank.
    session_id: Option<String>,
}

/// `POST /api/sessions/create`: 201 with the new session; for an id that
/// exists, 200 with that session (the guide's server answered 400).
#[utoipa::path(post, path = "/api/sessions/create", operation_id = "createSession", tag = "sessions",
    request_body(content = CreateBody, description = "May be empty: the id is then generated"),
    responses(
        (status = 201, description = "Created; it starts pairing (QR code)", body = Envelope<SessionBrief>),
        (status = 200, description = "A session with this id exists", body = Envelope<SessionBrief>),
        (status = 400, description = "INVALID_SESSION_ID", body = ErrorBody),
    ))]
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
    let data = SessionBrief::of(&status);
    if existed {
        let message = format!("Session {} sudah ada", status.id);
        Ok(ok(StatusCode::OK, &message, data))
    } else {
        Ok(ok(StatusCode::CREATED, "Session berhasil dibuat", data))
    }
}

/// Every session of the gateway.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    /// Each session, keyed by its id.
    pub sessions: BTreeMap<String, SessionView>,
    /// How many there are.
    pub total: usize,
}

/// `GET /api/sessions`: every session, as an object keyed by id.
#[utoipa::path(get, path = "/api/sessions", operation_id = "listSessions", tag = "sessions",
    responses((status = 200, description = "Every session", body = Envelope<SessionList>)))]
pub async fn list(State(app): State<AppState>) -> Response {
    let statuses = app.gateway.list_sessions();
    let sessions: BTreeMap<String, SessionView> = statuses
        .iter()
        .map(|s| (s.id.clone(), SessionView::of(s)))
        .collect();
    ok(
        StatusCode::OK,
        "Daftar sessions berhasil diambil",
        SessionList {
            sessions,
            total: statuses.len(),
        },
    )
}

/// `GET /api/sessions/:id/status`.
#[utoipa::path(get, path = "/api/sessions/{id}/status", operation_id = "getSessionStatus", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = Envelope<SessionView>),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn status(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = app.gateway.session(&id)?;
    Ok(ok(
        StatusCode::OK,
        "Status session berhasil diambil",
        SessionView::of(&session.status()),
    ))
}

/// The QR code to scan.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrView {
    /// The session's id.
    pub session_id: String,
    /// The QR code as a PNG data URL (`data:image/png;base64,…`).
    pub qr_code: String,
    /// The text the QR code encodes (for a terminal or a QR library).
    pub qr_payload: String,
    /// When WhatsApp stops accepting this code (ISO-8601).
    pub expires_at: String,
    /// When this answer was made (ISO-8601).
    pub timestamp: String,
    /// What to do with it.
    pub instructions: String,
}

/// `GET /api/sessions/:id/qr`: the current QR code as a PNG data URL.
///
/// In the guide's order: unknown session 404; connected 400; no QR 404. A
/// session whose QR codes all expired starts a fresh pairing here, so the
/// QR page's "new QR" button and a client's retry both get a new code.
#[utoipa::path(get, path = "/api/sessions/{id}/qr", operation_id = "getQrCode", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The current QR code", body = Envelope<QrView>),
        (status = 400, description = "ALREADY_CONNECTED", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND or QR_NOT_AVAILABLE", body = ErrorBody),
    ))]
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
        QrView {
            session_id: session.id().to_owned(),
            qr_code: qr.png_data_url()?,
            qr_payload: qr.raw().to_owned(),
            expires_at: iso_time::iso(qr.expires_at()),
            timestamp: iso_time::now(),
            instructions: "Scan QR Code ini dengan aplikasi WhatsApp Anda".to_owned(),
        },
    ))
}

/// Body of `POST /api/sessions/:id/pair-code`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairCodeBody {
    /// The phone number of the WhatsApp account to link.
    phone: Option<String>,
    /// Alias of `phone`, as the verification routes name it.
    phone_number: Option<String>,
}

/// A pairing code to type on the phone.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairCodeView {
    /// The session's id.
    pub session_id: String,
    /// 8 characters (`ABCD-EFGH`).
    pub pairing_code: String,
    /// When this answer was made (ISO-8601).
    pub timestamp: String,
    /// Where to type it.
    pub instructions: String,
}

/// `POST /api/sessions/:id/pair-code {phone}`: an 8-character code to type
/// on the phone instead of scanning the QR code.
#[utoipa::path(post, path = "/api/sessions/{id}/pair-code", operation_id = "requestPairCode", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    request_body = PairCodeBody,
    responses(
        (status = 200, description = "The code", body = Envelope<PairCodeView>),
        (status = 400, description = "INVALID_PHONE or ALREADY_CONNECTED", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    ))]
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
        PairCodeView {
            session_id: session.id().to_owned(),
            pairing_code: code,
            timestamp: iso_time::now(),
            instructions: "Buka WhatsApp > Perangkat Tertaut > Tautkan Perangkat > \
                           Tautkan dengan nomor telepon, lalu masukkan kode ini"
                .to_owned(),
        },
    ))
}

/// Body of `POST /api/sessions/:id/passkey`.
#[derive(Deserialize, ToSchema)]
pub struct PasskeyBody {
    /// What the snippet printed: the assertion as a JSON object, or the
    /// same JSON as a string (what a textarea holds).
    #[schema(value_type = Object)]
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
#[utoipa::path(post, path = "/api/sessions/{id}/passkey", operation_id = "submitPasskey", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    request_body = PasskeyBody,
    responses(
        (status = 200, description = "Accepted; the link completes by itself", body = Envelope<PasskeyAccepted>),
        (status = 400, description = "INVALID_ARGUMENT or ALREADY_CONNECTED", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 410, description = "PASSKEY_EXPIRED", body = ErrorBody),
        (status = 422, description = "PASSKEY_REJECTED", body = ErrorBody),
    ))]
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
        PasskeyAccepted {
            session: SessionBrief::of(&status),
            confirmation_code: code,
        },
    ))
}

/// The answer to an accepted passkey.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyAccepted {
    /// The session's id and state.
    #[serde(flatten)]
    pub session: SessionBrief,
    /// The code the phone shows (`XXXX-XXXX`), when it came in time.
    pub confirmation_code: Option<String>,
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
#[utoipa::path(put, path = "/api/sessions/{id}/restart", operation_id = "restartSession", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Restarted", body = Envelope<SessionBrief>),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    ))]
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
        SessionBrief::of(&status),
    ))
}

/// `DELETE /api/sessions/:id`: logs out and removes the credentials.
#[utoipa::path(delete, path = "/api/sessions/{id}", operation_id = "deleteSession", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Deleted", body = EmptyEnvelope),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn remove(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.gateway.delete_session(&id).await?;
    Ok(ok_without_data("Session berhasil dihapus"))
}
