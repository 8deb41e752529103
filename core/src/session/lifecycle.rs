//! Starting, stopping, logging out and deleting a session's client.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::coordination::{Command, SharedStatus};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::SessionState;
use crate::platform::{files, sync::lock};

use super::ownership::{self, Role, on_owner};
use super::{REMOTE_CALL_WAIT, Session, SessionInner, link};

/// How long a closing session waits for the server to acknowledge what its
/// connection sent (an ack takes one round trip).
const ACKS_ON_CLOSE: Duration = Duration::from_secs(5);

impl Session {
    /// Stops the client and starts a new one on the same store (linked
    /// sessions reconnect without a QR).
    pub async fn restart(&self) -> Result<()> {
        on_owner(&self.inner, Command::Restart, REMOTE_CALL_WAIT).await
    }

    /// Unlinks the device from the WhatsApp account and removes its
    /// credentials. The session stays, in state `logged_out`; ask for a QR to
    /// link it again.
    pub async fn logout(&self) -> Result<()> {
        on_owner(&self.inner, Command::Logout, REMOTE_CALL_WAIT).await
    }

    /// Logs out, stops and removes the session, wherever it runs.
    pub(crate) async fn delete(&self) -> Result<()> {
        match on_owner(&self.inner, Command::Delete, REMOTE_CALL_WAIT).await {
            // The owner's delete forgets everything shared about the session,
            // the request it was answering included: a follower then finds
            // the request gone. Gone with the session's shared status means
            // it was deleted.
            Err(e @ Error::Store(_)) => {
                match self.inner.context.coordination.status(&self.inner.id).await {
                    Ok(None) => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }
}

impl SessionInner {
    /// Starts a fresh client (stopping any running one).
    pub(crate) async fn start(self: &Arc<Self>) -> Result<()> {
        let mut slot = self.lifecycle.lock().await;
        self.stop_locked(&mut slot).await;
        self.start_locked(&mut slot).await
    }

    pub(super) async fn start_locked(
        self: &Arc<Self>,
        slot: &mut Option<link::Running>,
    ) -> Result<()> {
        let generation = {
            // Under the event lock, so that no event of an older client is
            // applied after this reset (see `SessionEvents::handle_event`).
            let _order = lock(&self.event_order);
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            self.logged_out.store(false, Ordering::SeqCst);
            self.clear_pairing();
            self.update_status(|s| {
                s.qr_refresh_count = 0;
                s.enter(SessionState::Starting, None);
            });
            generation
        };
        files::create_private_file(&self.store_path)?;
        let running = match link::spawn(self, generation).await {
            Ok(running) => running,
            Err(e) => {
                self.update_status(|s| s.enter(SessionState::Stopped, Some(e.to_string())));
                return Err(e);
            }
        };
        *lock(&self.client) = Some(running.client.clone());
        *slot = Some(running);
        Ok(())
    }

    /// Stops the running client, gracefully if it lets us within the grace time.
    pub(super) async fn stop_locked(&self, slot: &mut Option<link::Running>) {
        let Some(running) = slot.take() else { return };
        // Later events from this client no longer speak for the session.
        {
            let _order = lock(&self.event_order);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        *lock(&self.client) = None;
        let link::Running {
            client,
            mut watcher,
        } = running;
        let graceful = async {
            client.disconnect().await;
            let _ = (&mut watcher).await;
        };
        if tokio::time::timeout(link::STOP_GRACE, graceful)
            .await
            .is_err()
        {
            log::warn!(
                "session {}: client did not stop within {:?}; aborting it",
                self.id,
                link::STOP_GRACE
            );
            watcher.abort();
        }
        // Nothing writes the store now: what was delivered leaves it before
        // the process can end.
        super::sent_erasure::erase_pending_now(self).await;
    }

    /// Stops the running client, if any.
    pub(crate) async fn stop_client(&self) {
        let mut slot = self.lifecycle.lock().await;
        self.stop_locked(&mut slot).await;
    }

    /// Stops the client for good (gateway close, delete) and gives the
    /// session up, so another process can take it over.
    pub(crate) async fn shutdown(&self, reason: &str) {
        self.mark_closed();
        if let Some(task) = lock(&self.ownership).take() {
            task.abort();
        }
        let was_owner = self.is_owner();
        ownership::stop_owner_tasks(self, ownership::FINISH_ON_CLOSE).await;
        // A send returns once its stanza is handed to the client, not once
        // the server has it: stopping the client at once could drop a stanza
        // still on its way out, and a caller told "sent" would wait forever.
        let unacked = if self.status.borrow().state == SessionState::Connected {
            self.context
                .deliveries
                .messages
                .wait_acked(self.id.as_str(), ACKS_ON_CLOSE)
                .await
        } else {
            0
        };
        if unacked > 0 {
            log::warn!(
                "session {}: stopping with {unacked} message(s) the server has not acknowledged",
                self.id
            );
        }
        self.stop_client().await;
        self.update_status(|s| {
            if !s.state.is_terminal() {
                s.enter(SessionState::Stopped, Some(reason.to_owned()));
            }
        });
        if was_owner && !self.is_deleted() {
            // What the other processes see until the next owner speaks: any
            // of them still running takes the lease over and reconnects, so
            // to them the session is on its way back, not stopped.
            let mut handing_over = self.status.borrow().clone();
            let next = if handing_over.user.is_some() {
                SessionState::Reconnecting
            } else {
                SessionState::Starting
            };
            handing_over.enter(
                next,
                Some(format!(
                    "the process that ran it stopped ({reason}); another takes over"
                )),
            );
            let status = SharedStatus::new(&handing_over, None, None);
            if let Err(e) = self.context.coordination.publish(&status).await {
                log::warn!("session {}: publishing its status failed: {e}", self.id);
            }
        }
        *lock(&self.role) = Role::Follower;
    }

    /// Logs out, stops and removes the session (the owner's side of
    /// `Gateway::delete_session`).
    pub(crate) async fn delete_here(&self) -> Result<()> {
        self.logout_here().await?;
        self.shutdown("deleted").await;
        files::remove_store(&self.store_path)?;
        self.context.coordination.forget(&self.id).await?;
        self.context
            .deliveries
            .messages
            .forget_session(self.id.as_str());
        self.context.otp.stats().forget_session(self.id.as_str());
        self.context.emit(Event::SessionDeleted {
            session: self.id.to_string(),
        });
        Ok(())
    }

    pub(crate) async fn logout_here(&self) -> Result<()> {
        let mut slot = self.lifecycle.lock().await;
        if let Some(client) = self.client()
            && client.is_logged_in()
        {
            // Deregisters the companion on the server, emits LoggedOut and
            // ends the run loop; the watcher then wipes the store.
            client.logout().await;
        }
        self.mark_logged_out();
        self.stop_locked(&mut slot).await;
        files::wipe_store(&self.store_path)?;
        self.clear_pairing();
        self.update_status(|s| {
            s.user = None;
            s.enter(
                SessionState::LoggedOut,
                Some("logged out by request".into()),
            )
        });
        Ok(())
    }

    /// Called by the watcher when a client's run loop has ended.
    pub(crate) async fn on_run_loop_end(&self, generation: u64) {
        if self.generation() != generation {
            return;
        }
        if self.logged_out.load(Ordering::SeqCst) {
            if let Err(e) = files::wipe_store(&self.store_path) {
                log::error!(
                    "session {}: could not remove dead credentials: {e}",
                    self.id
                );
            }
            self.update_status(|s| s.user = None);
        }
        self.update_status(|s| {
            if !s.state.is_terminal() {
                s.enter(
                    SessionState::Stopped,
                    Some("the WhatsApp client stopped".into()),
                );
            }
        });
    }
}
