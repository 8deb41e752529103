//! The session's own state: status, QR and pairing codes, the running
//! client, and the one wait for a connection on its way.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use whatsapp_rust::prelude::Client;

use crate::error::{Error, Result};
use crate::model::{QrCode, SessionState, SessionStatus};
use crate::platform::sync::lock;

use super::SessionInner;

impl SessionInner {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(super) fn client(&self) -> Option<Arc<Client>> {
        lock(&self.client).clone()
    }

    pub(crate) fn connected_client(&self) -> Result<Arc<Client>> {
        let state = self.status.borrow().state;
        match (state, self.client()) {
            (SessionState::Connected, Some(client)) => Ok(client),
            (SessionState::LoggedOut, _) => Err(Error::LoggedOut(self.id.to_string())),
            (state, _) => Err(Error::NotConnected {
                session: self.id.to_string(),
                state: state.to_string(),
            }),
        }
    }

    pub(crate) fn update_status(&self, f: impl FnOnce(&mut SessionStatus)) {
        self.status.send_modify(f);
    }

    pub(super) fn current_qr(&self) -> Result<Option<QrCode>> {
        match self.status.borrow().state {
            SessionState::Connected => return Err(Error::AlreadyConnected(self.id.to_string())),
            SessionState::AwaitingScan => {}
            _ => return Ok(None),
        }
        Ok(lock(&self.qr).clone())
    }

    pub(super) fn needs_fresh_pairing(&self) -> bool {
        // A stopped session (replaced, banned, shut down) is restarted only on
        // an explicit `restart`: pairing again would not be what the caller meant.
        matches!(
            self.status.borrow().state,
            SessionState::QrExpired | SessionState::LoggedOut
        )
    }

    pub(super) fn terminal_error(&self, state: SessionState) -> Error {
        let id = self.id.to_string();
        match state {
            SessionState::LoggedOut => Error::LoggedOut(id),
            SessionState::QrExpired => {
                Error::Timeout(format!("a scan of session `{id}`: every QR code expired"))
            }
            _ => Error::NotConnected {
                session: id,
                state: state.to_string(),
            },
        }
    }

    /// Stores a new QR code; returns how many this pairing attempt has issued.
    pub(crate) fn show_qr(&self, qr: QrCode) -> u32 {
        *lock(&self.qr) = Some(qr);
        let mut count = 0;
        self.update_status(|s| {
            s.qr_refresh_count += 1;
            count = s.qr_refresh_count;
            s.enter(SessionState::AwaitingScan, None);
        });
        count
    }

    pub(crate) fn set_pair_code(&self, code: Option<String>) {
        *lock(&self.pair_code) = code;
        self.publish_nudge.notify_one();
    }

    pub(crate) fn clear_pairing(&self) {
        *lock(&self.qr) = None;
        self.set_pair_code(None);
    }

    pub(crate) fn mark_logged_out(&self) {
        self.logged_out.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_deleted(&self) -> bool {
        !self.store_path.exists()
    }

    /// Waits for a connection on its way (starting, connecting,
    /// reconnecting); fails at once when the session cannot get there by
    /// itself (logged out, waiting for a scan, stopped). The one "wait until
    /// connected" of the crate: callers bound it with their own timeout.
    pub(crate) async fn until_ready(&self) -> Result<()> {
        let mut rx = self.status.subscribe();
        loop {
            let state = rx.borrow_and_update().state;
            match state {
                SessionState::Connected => return Ok(()),
                SessionState::Starting | SessionState::Connecting | SessionState::Reconnecting => {}
                SessionState::LoggedOut => return Err(Error::LoggedOut(self.id.to_string())),
                other => {
                    return Err(Error::NotConnected {
                        session: self.id.to_string(),
                        state: other.to_string(),
                    });
                }
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }
}
