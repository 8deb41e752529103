//! The passkey gate of linking: WhatsApp asks for a WebAuthn assertion after
//! the scan (or the typed pairing code), the operator produces it in a
//! `https://web.whatsapp.com` tab and hands it in, and whatsapp-rust
//! finishes the SHORTCAKE exchange with it.
//!
//! The session shows the request as state `passkey_required` and never waits
//! for it forever: a refusal or an expired challenge is reported with its
//! code and the session starts linking again (fresh QR codes).

use std::sync::Arc;
use std::time::SystemTime;

use whatsapp_rust::passkey::{Assertion, PasskeyError};

use crate::coordination::Command;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::{PasskeyAssertion, PasskeyChallenge, SessionState};

use super::ownership::on_owner;
use super::{REMOTE_CALL_WAIT, Session, SessionInner};

impl Session {
    /// Hands in the passkey assertion WhatsApp asked for (state
    /// `passkey_required`): the JSON the challenge's snippet printed.
    ///
    /// Returns once WhatsApp accepted it; the link then completes by itself
    /// (wait with [`Session::wait_connected`]). Errors: `INVALID_ARGUMENT`
    /// for malformed JSON or when the session is not waiting for a passkey;
    /// `PASSKEY_REJECTED` when WhatsApp refuses it; `PASSKEY_EXPIRED` when
    /// the challenge ran out. After a refusal or expiry the session starts
    /// linking again. Works from any process: the owner carries it out.
    pub async fn submit_passkey_assertion(&self, assertion_json: &str) -> Result<()> {
        let assertion = PasskeyAssertion::parse(assertion_json)?;
        let command = Command::SubmitPasskey {
            assertion: assertion.json().to_owned(),
        };
        on_owner(&self.inner, command, REMOTE_CALL_WAIT).await
    }

    /// What WhatsApp asks for while the session is in state
    /// `passkey_required` (also in [`Session::status`]).
    pub fn passkey_challenge(&self) -> Option<PasskeyChallenge> {
        self.inner.status.borrow().passkey.clone()
    }
}

/// The error a refusal from WhatsApp (or from whatsapp-rust's flow) stands for.
fn refusal(error: &str) -> Error {
    // WhatsApp answers a stale challenge with 410 and any other refusal with
    // 4xx; whatsapp-rust passes the IQ error's code and text on in its message.
    if error.contains("code=410") || error.contains("expired") {
        Error::PasskeyExpired(error.to_owned())
    } else {
        Error::PasskeyRejected(error.to_owned())
    }
}

impl SessionInner {
    /// The owner's side of [`Session::submit_passkey_assertion`].
    pub(crate) async fn submit_passkey_here(self: &Arc<Self>, assertion_json: &str) -> Result<()> {
        let assertion = PasskeyAssertion::parse(assertion_json)?;
        let (state, challenge) = {
            let status = self.status.borrow();
            (status.state, status.passkey.clone())
        };
        let challenge = match (state, challenge) {
            (SessionState::PasskeyRequired, Some(c)) => c,
            (state, _) => {
                return Err(Error::InvalidArgument(format!(
                    "session `{}` is not waiting for a passkey (state: {state})",
                    self.id
                )));
            }
        };
        if SystemTime::now() >= challenge.expires_at {
            let error =
                Error::PasskeyExpired("the challenge expired before the assertion arrived".into());
            self.passkey_failed(&error);
            return Err(error);
        }
        let client = self
            .client()
            .ok_or_else(|| Error::QrNotAvailable(self.id.to_string()))?;
        let answer = Assertion {
            assertion_json: assertion.json().as_bytes().to_vec(),
            credential_id: assertion.credential_id().to_vec(),
        };
        match client.send_passkey_response(answer).await {
            Ok(()) => {
                log::info!("session {}: passkey accepted", self.id);
                Ok(())
            }
            Err(e) => {
                let error = match &e {
                    PasskeyError::Flow(text) if text.contains("already in progress") => {
                        return Err(Error::InvalidArgument(format!(
                            "session `{}` is already answering a passkey request",
                            self.id
                        )));
                    }
                    other => refusal(&other.to_string()),
                };
                self.passkey_failed(&error);
                Err(error)
            }
        }
    }

    /// WhatsApp asked for a passkey (`PairPasskeyRequest`).
    pub(super) fn on_passkey_request(self: &Arc<Self>, options_json: &str) {
        let challenge = PasskeyChallenge::new(options_json, SystemTime::now());
        // The scan is spent: no QR code is worth showing any more.
        self.clear_pairing();
        self.update_status(|s| {
            s.enter(SessionState::PasskeyRequired, None);
            s.passkey = Some(challenge.clone());
        });
        log::info!("session {}: WhatsApp asks for a passkey", self.id);
        self.context.emit(Event::PasskeyRequired {
            session: self.id.to_string(),
            options_json: challenge.options_json.clone(),
            snippet: challenge.snippet.clone(),
            expires_at: challenge.expires_at,
        });
        self.expire_passkey_at(challenge.expires_at);
    }

    /// WhatsApp accepted the assertion and the phone shows `code`
    /// (`PairPasskeyConfirmation`): report it and complete the link.
    pub(super) fn on_passkey_confirmation(self: &Arc<Self>, code: &str) {
        self.update_status(|s| {
            if let Some(p) = s.passkey.as_mut() {
                p.confirmation_code = Some(code.to_owned());
            }
        });
        self.context.emit(Event::PasskeyConfirmation {
            session: self.id.to_string(),
            code: code.to_owned(),
        });
        // The code is for the operator to compare with the phone's; the
        // phone is where the link is refused if they differ.
        let Some(client) = self.client() else { return };
        let session = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = client.send_passkey_confirmation().await {
                session.passkey_failed(&refusal(&e.to_string()));
            }
        });
    }

    /// whatsapp-rust's passkey flow failed (`PairPasskeyError`).
    pub(super) fn on_passkey_error(self: &Arc<Self>, error: &str) {
        self.passkey_failed(&refusal(error));
    }

    /// Fails the link with `PASSKEY_EXPIRED` at `expires_at` if the same
    /// challenge is still waiting then.
    fn expire_passkey_at(self: &Arc<Self>, expires_at: SystemTime) {
        let weak = Arc::downgrade(self);
        let generation = self.generation();
        tokio::spawn(async move {
            let wait = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tokio::time::sleep(wait).await;
            let Some(session) = weak.upgrade() else {
                return;
            };
            let waiting = session.generation() == generation
                && session
                    .status
                    .borrow()
                    .passkey
                    .as_ref()
                    .is_some_and(|p| p.expires_at == expires_at);
            if waiting {
                session.passkey_failed(&Error::PasskeyExpired(
                    "no assertion was accepted before the challenge expired".into(),
                ));
            }
        });
    }

    /// Reports a failed passkey step and starts linking again, once per
    /// challenge (a refusal can reach us both as the submit's answer and as
    /// an event).
    pub(super) fn passkey_failed(self: &Arc<Self>, error: &Error) {
        let mut was_waiting = false;
        self.update_status(|s| {
            if s.state == SessionState::PasskeyRequired {
                was_waiting = true;
                s.enter(SessionState::Starting, Some(error.to_string()));
            }
        });
        if !was_waiting {
            return;
        }
        log::warn!("session {}: passkey step failed: {error}", self.id);
        self.context.emit(Event::PasskeyFailed {
            session: self.id.to_string(),
            code: error.code().to_owned(),
            reason: error.to_string(),
        });
        let session = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = session.start().await {
                log::error!("session {}: could not start linking again: {e}", session.id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_their_codes() {
        let expired = "passkey linking flow error: passkey_prologue iq failed: received a server error response: code=410, text='passkey-expired'";
        assert_eq!(refusal(expired).code(), "PASSKEY_EXPIRED");
        let bad = "passkey linking flow error: passkey_prologue iq failed: received a server error response: code=401, text='passkey-signature'";
        assert_eq!(refusal(bad).code(), "PASSKEY_REJECTED");
    }
}
