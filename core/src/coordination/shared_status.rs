//! A session's status as its owner publishes it for every other process:
//! the [`SessionStatus`], the current QR code and pairing code, and who owns it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::time::unix_millis::to_millis;
use crate::model::{
    LinkedUser, PasskeyChallenge, QrCode, SessionHealth, SessionState, SessionStatus,
};

/// The published status of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedStatus {
    id: String,
    state: String,
    since_ms: u64,
    user: Option<LinkedUser>,
    last_seen_ms: Option<u64>,
    qr_refresh_count: u32,
    reason: Option<String>,
    qr: Option<String>,
    qr_expires_ms: Option<u64>,
    pair_code: Option<String>,
    /// The passkey gate's challenge (absent in what older builds publish).
    #[serde(default)]
    passkey: Option<PasskeyChallenge>,
    /// The number's health (absent in what older builds publish; one a
    /// newer build writes that this one cannot read shows as the default).
    #[serde(default, deserialize_with = "health_or_default")]
    health: SessionHealth,
    /// `host:pid` of the owner, for diagnostics.
    pub(crate) owner: String,
}

fn health_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SessionHealth, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// `host:pid` of this process.
pub(crate) fn this_process() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

impl SharedStatus {
    /// What the owner publishes.
    pub(crate) fn new(
        status: &SessionStatus,
        qr: Option<&QrCode>,
        pair_code: Option<&str>,
    ) -> Self {
        SharedStatus {
            id: status.id.clone(),
            state: status.state.as_str().to_owned(),
            since_ms: to_millis(&status.since),
            user: status.user.clone(),
            last_seen_ms: status.last_seen.as_ref().map(to_millis),
            qr_refresh_count: status.qr_refresh_count,
            reason: status.reason.clone(),
            qr: qr.map(|q| q.raw().to_owned()),
            qr_expires_ms: qr.map(|q| to_millis(&q.expires_at())),
            pair_code: pair_code.map(str::to_owned),
            passkey: status.passkey.clone(),
            health: status.health.clone(),
            owner: this_process(),
        }
    }

    /// The session id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The status, QR code and pairing code as a follower shows them.
    pub(crate) fn view(&self) -> (SessionStatus, Option<QrCode>, Option<String>) {
        // A state this build does not know (a newer owner) reads as stopped.
        let state = SessionState::parse(&self.state).unwrap_or(SessionState::Stopped);
        let status = SessionStatus {
            id: self.id.clone(),
            state,
            since: time_of(self.since_ms),
            is_connected: state == SessionState::Connected,
            user: self.user.clone(),
            last_seen: self.last_seen_ms.map(time_of),
            qr_refresh_count: self.qr_refresh_count,
            reason: self.reason.clone(),
            passkey: self.passkey.clone(),
            health: self.health.clone(),
        };
        let qr = match (&self.qr, self.qr_expires_ms) {
            (Some(raw), Some(ms)) => Some(QrCode::new(raw.clone(), time_of(ms))),
            _ => None,
        };
        (status, qr, self.pair_code.clone())
    }

    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Store(format!("encoding a status: {e}")))
    }

    pub(crate) fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::Store(format!("a damaged session status: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_round_trips_with_its_qr() {
        let mut status = SessionStatus::new("shop");
        status.enter(SessionState::AwaitingScan, Some("scan me".into()));
        status.qr_refresh_count = 2;
        let qr = QrCode::new("ref,a,b,c".into(), time_of(1_700_000_000_123));
        let shared = SharedStatus::new(&status, Some(&qr), Some("ABCD-EFGH"));
        let back = SharedStatus::from_json(&shared.to_json().unwrap()).unwrap();
        let (s, q, p) = back.view();
        assert_eq!(s.state, SessionState::AwaitingScan);
        assert_eq!(s.qr_refresh_count, 2);
        assert_eq!(s.reason.as_deref(), Some("scan me"));
        assert_eq!(q, Some(qr));
        assert_eq!(p.as_deref(), Some("ABCD-EFGH"));
        assert_eq!(to_millis(&s.since), to_millis(&status.since));
    }

    #[test]
    fn a_passkey_challenge_reaches_every_process() {
        let mut status = SessionStatus::new("shop");
        status.enter(SessionState::PasskeyRequired, None);
        let challenge =
            PasskeyChallenge::new(r#"{"challenge":"YWJj"}"#, time_of(1_700_000_000_000));
        status.passkey = Some(challenge.clone());
        let shared = SharedStatus::new(&status, None, None);
        let (s, _, _) = SharedStatus::from_json(&shared.to_json().unwrap())
            .unwrap()
            .view();
        assert_eq!(s.state, SessionState::PasskeyRequired);
        assert_eq!(s.passkey, Some(challenge));
    }
}
