//! The states a session goes through, reported as they are.

use std::time::SystemTime;

use serde::Serialize;

use crate::model::health::SessionHealth;
use crate::model::passkey::PasskeyChallenge;
use crate::model::time::{unix_millis, unix_millis_opt};

/// Where a session is in its life.
///
/// ```text
///  Starting ──QR──▶ AwaitingScan ──scan──▶ Connecting ──▶ Connected ◀──▶ Reconnecting
///     │                  │   │                 ▲             │
///     │                  │   └─scan─▶ PasskeyRequired ─assertion accepted
///     │                  │            (refused or expired: back to AwaitingScan)
///     │                  │                                   │
///     │ (stored          └──refs run out──▶ QrExpired        ├──401 / logout──▶ LoggedOut
///     │  credentials)                                        └──replaced, banned, shutdown──▶ Stopped
///     └────────────────────────────────────▶ Connecting
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionState {
    /// The WhatsApp client is being built or is opening its first connection.
    Starting,
    /// Not linked yet: a QR code (or pairing code) is waiting for the phone.
    AwaitingScan,
    /// WhatsApp asks for a passkey before it completes the link (see
    /// [`SessionStatus::passkey`]); waiting for the operator's assertion.
    PasskeyRequired,
    /// Linked (or restoring a stored link), logging in.
    Connecting,
    /// Logged in and ready to send.
    Connected,
    /// The connection dropped; the client is reconnecting by itself.
    Reconnecting,
    /// The device was unlinked (from the phone or by `logout`); its
    /// credentials were removed. Asking for a QR code links it again.
    LoggedOut,
    /// Every QR code expired before the phone scanned one. Asking for a QR
    /// code starts fresh ones.
    QrExpired,
    /// The client stopped (shutdown, replaced by another connection, banned).
    Stopped,
}

impl SessionState {
    /// The state's name as used in JSON and by the bindings (`awaiting_scan`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Starting => "starting",
            SessionState::AwaitingScan => "awaiting_scan",
            SessionState::PasskeyRequired => "passkey_required",
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Reconnecting => "reconnecting",
            SessionState::LoggedOut => "logged_out",
            SessionState::QrExpired => "qr_expired",
            SessionState::Stopped => "stopped",
        }
    }

    /// The state named `name` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(name: &str) -> Option<Self> {
        [
            SessionState::Starting,
            SessionState::AwaitingScan,
            SessionState::PasskeyRequired,
            SessionState::Connecting,
            SessionState::Connected,
            SessionState::Reconnecting,
            SessionState::LoggedOut,
            SessionState::QrExpired,
            SessionState::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// States in which the WhatsApp client is no longer running.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::LoggedOut | SessionState::QrExpired | SessionState::Stopped
        )
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The WhatsApp account a session is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LinkedUser {
    /// The device's JID (`6281234567890:12@s.whatsapp.net`).
    pub jid: String,
    /// The account's phone number, E.164 digits.
    pub phone: String,
    /// The account's push name, when WhatsApp has told us.
    pub name: Option<String>,
}

/// A snapshot of a session, as `status(id)` and `list()` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    /// Session id.
    pub id: String,
    /// Current state.
    pub state: SessionState,
    /// When the current state began.
    #[serde(with = "unix_millis")]
    pub since: SystemTime,
    /// Shorthand for `state == Connected`.
    pub is_connected: bool,
    /// The linked account, once paired.
    pub user: Option<LinkedUser>,
    /// Last time the session was known to be connected.
    #[serde(with = "unix_millis_opt")]
    pub last_seen: Option<SystemTime>,
    /// How many QR codes have been issued since the session started pairing.
    pub qr_refresh_count: u32,
    /// Why the session is in this state, when there is more to say
    /// (disconnect reason, logout reason, …).
    pub reason: Option<String>,
    /// In state `passkey_required`: what WhatsApp asks for and the snippet
    /// that produces it.
    pub passkey: Option<PasskeyChallenge>,
    /// What WhatsApp lets the linked number do now: limits on new chats,
    /// a ban, a logout; the new-chat quota; nacks over the last hour.
    pub health: SessionHealth,
}

impl SessionStatus {
    pub(crate) fn new(id: &str) -> Self {
        SessionStatus {
            id: id.to_owned(),
            state: SessionState::Starting,
            since: SystemTime::now(),
            is_connected: false,
            user: None,
            last_seen: None,
            qr_refresh_count: 0,
            reason: None,
            passkey: None,
            health: SessionHealth::default(),
        }
    }

    /// Moves to `state`, stamping the time only when the state really changes.
    pub(crate) fn enter(&mut self, state: SessionState, reason: Option<String>) {
        if self.state != state {
            self.state = state;
            self.since = SystemTime::now();
        }
        self.is_connected = state == SessionState::Connected;
        if state != SessionState::PasskeyRequired {
            self.passkey = None;
        }
        if self.is_connected {
            self.last_seen = Some(SystemTime::now());
        }
        self.reason = reason;
    }
}
