//! Linking a device: QR codes, pairing codes, and the waits for them.

use std::sync::Arc;
use std::time::Duration;

use whatsapp_rust::pair_code::PairCodeOptions;

use crate::coordination::Command;
use crate::error::{Error, Result};
use crate::model::{QrCode, SessionState, SessionStatus};
use crate::platform::sync::lock;

use super::ownership::on_owner;
use super::{REMOTE_CALL_WAIT, Session, SessionInner};

impl Session {
    /// The current pairing QR code.
    ///
    /// Errors: `ALREADY_CONNECTED` when linked; `QR_NOT_AVAILABLE` while
    /// starting or connecting. When every QR expired, or the device was logged
    /// out, this starts a fresh pairing and answers `QR_NOT_AVAILABLE` until
    /// its first code arrives (or use [`Session::wait_qr`]).
    pub async fn qr(&self) -> Result<QrCode> {
        if let Some(qr) = self.inner.current_qr()? {
            return Ok(qr);
        }
        if self.inner.needs_fresh_pairing() {
            self.restart().await?;
        }
        Err(Error::QrNotAvailable(self.id().to_owned()))
    }

    /// Waits up to `timeout` for a QR code (starting a fresh pairing if the
    /// old one expired or the device was logged out).
    pub async fn wait_qr(&self, timeout: Duration) -> Result<QrCode> {
        if self.inner.needs_fresh_pairing() {
            self.restart().await?;
        }
        let mut rx = self.inner.status.subscribe();
        let wait = async {
            loop {
                if let Some(qr) = self.inner.current_qr()? {
                    return Ok(qr);
                }
                let state = rx.borrow_and_update().state;
                if state.is_terminal() {
                    return Err(self.inner.terminal_error(state));
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout(format!("a QR code for session `{}`", self.id())))?
    }

    /// Waits up to `timeout` until the session is connected.
    ///
    /// Fails early with `LOGGED_OUT` if the device is unlinked, or `TIMEOUT`
    /// if the QR codes expire before a scan.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<SessionStatus> {
        let mut rx = self.inner.status.subscribe();
        let wait = async {
            loop {
                let status = rx.borrow_and_update().clone();
                match status.state {
                    SessionState::Connected => return Ok(status),
                    s if s.is_terminal() => return Err(self.inner.terminal_error(s)),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout(format!("session `{}` to connect", self.id())))?
    }

    /// Asks WhatsApp for an 8-character pairing code to type on the phone
    /// (WhatsApp → Linked devices → Link with phone number). The QR code stays
    /// valid as a fallback.
    pub async fn pair_code(&self, phone: &str) -> Result<String> {
        let phone = self.inner.context.phones.normalize(phone)?;
        on_owner(&self.inner, Command::PairCode { phone }, REMOTE_CALL_WAIT).await
    }

    /// The last pairing code issued, while the session is not yet linked.
    pub fn current_pair_code(&self) -> Option<String> {
        lock(&self.inner.pair_code).clone()
    }
}

impl SessionInner {
    /// Asks for a pairing code on this process's client (the owner's side of
    /// [`Session::pair_code`]).
    pub(crate) async fn pair_code_here(self: &Arc<Self>, digits: &str) -> Result<String> {
        let state = self.status.borrow().state;
        match state {
            SessionState::Connected => return Err(Error::AlreadyConnected(self.id.to_string())),
            SessionState::Starting | SessionState::AwaitingScan => {}
            SessionState::LoggedOut | SessionState::QrExpired => self.start().await?,
            other => {
                return Err(Error::NotConnected {
                    session: self.id.to_string(),
                    state: other.to_string(),
                });
            }
        }
        let client = self
            .client()
            .ok_or_else(|| Error::QrNotAvailable(self.id.to_string()))?;
        client
            .wait_for_socket(Duration::from_secs(30))
            .await
            .map_err(|e| Error::WhatsApp(format!("waiting for the socket: {e}")))?;
        let options = PairCodeOptions {
            phone_number: digits.to_owned(),
            ..Default::default()
        };
        let code = client
            .pair_with_code(options)
            .await
            .map_err(|e| Error::WhatsApp(format!("pairing code request failed: {e}")))?;
        self.set_pair_code(Some(code.clone()));
        Ok(code)
    }
}
