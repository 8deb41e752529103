//! Linked WhatsApp sessions.
//!
//! A [`Session`] is one linked device: one whatsapp-rust client on its own
//! SQLite store (`data_dir/sessions/<id>.db`). Handles are cheap to clone and
//! all refer to the same session; the [`crate::Gateway`] owns the sessions
//! and gives them a `SessionContext` (see `context.rs`), the one
//! thing they know of it.
//!
//! By job: this file holds the handle and the state; `pairing` the QR and
//! pairing codes and the waits for them; `send` text sends and lookups;
//! `lifecycle` starting, stopping, logging out and deleting; `ownership`
//! which process runs the connection; `link` the wiring to whatsapp-rust
//! (with its `transport` and the `retry_receipts` it watches).

pub(crate) mod context;
mod health;
mod incoming;
mod inner;
mod lifecycle;
mod link;
pub(crate) mod ownership;
mod pairing;
mod passkey;
mod retry_receipts;
mod send;
mod sent_erasure;
#[cfg(test)]
pub(crate) mod store_conformance;
mod transport;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use whatsapp_rust::prelude::Client;

use crate::error::Result;
use crate::platform::{files, layout};

use context::SessionContext;
use ownership::{OwnerTasks, Role};

pub use crate::model::{LinkedUser, QrCode, SessionId, SessionState, SessionStatus};
pub use send::{MAX_TEXT_LEN, SentMessage};

/// How long operations through another process's connection may wait.
const REMOTE_CALL_WAIT: Duration = Duration::from_secs(30);

/// The session id type (kept at its old path; it lives in the `model` layer).
pub mod id {
    pub use crate::model::session_id::*;
}

/// QR codes (kept at their old path; they live in the `model` layer).
pub mod qr {
    pub use crate::model::qr::*;
}

/// Session states (kept at their old path; they live in the `model` layer).
pub mod state {
    pub use crate::model::session_state::*;
}

/// A handle to one linked WhatsApp session.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

/// Two handles are equal when they are handles to the same running
/// session (not merely the same id: a session deleted and created again is
/// another one).
impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Session {}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .finish()
    }
}

pub(crate) struct SessionInner {
    pub(crate) id: SessionId,
    pub(crate) store_path: PathBuf,
    pub(crate) context: Arc<SessionContext>,
    status: watch::Sender<SessionStatus>,
    qr: Mutex<Option<QrCode>>,
    pair_code: Mutex<Option<String>>,
    /// The running client, for sends; swapped on restart.
    client: Mutex<Option<Arc<Client>>>,
    /// Serialises start, stop and restart; holds the running client's watcher.
    lifecycle: tokio::sync::Mutex<Option<link::Running>>,
    generation: AtomicU64,
    /// Held while a client event updates the state and publishes it, so that
    /// events (which whatsapp-rust may dispatch from several tasks at once)
    /// reach subscribers in the order the state changed.
    pub(crate) event_order: Mutex<()>,
    /// Set when WhatsApp logged the device out: its credentials are dead and
    /// are wiped once the client has stopped.
    logged_out: AtomicBool,
    /// Known only from the shared state: its store is on another host, so
    /// this process never owns it.
    pub(crate) is_remote: bool,
    /// Owner or follower (see [`ownership`]).
    pub(crate) role: Mutex<Role>,
    /// The owner's status publisher and outbox drain.
    pub(crate) owner_tasks: Mutex<OwnerTasks>,
    /// The ownership task.
    pub(crate) ownership: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Publishes the status now (the pairing code changed).
    pub(crate) publish_nudge: Arc<Notify>,
    /// Shut down or deleted: the gateway no longer lists it.
    closed: AtomicBool,
    /// Delivered messages whose text is about to leave the store.
    pub(crate) pending_erasure: sent_erasure::PendingErasure,
    /// What WhatsApp lets the number do, and who it has a chat with (kept
    /// by the process that runs the connection).
    pub(crate) health: crate::health::HealthTracker,
}

impl Session {
    /// Creates the session's store file (if new) and starts its client, or
    /// follows the process that already runs it.
    pub(crate) async fn open(id: SessionId, context: Arc<SessionContext>) -> Result<Session> {
        files::create_private_file(&layout::session_store(&context.config.data_dir, &id))?;
        let session = Self::new(id, context, false);
        ownership::begin(&session.inner).await?;
        Ok(session)
    }

    /// Reopens a stored session (or follows the process that runs it). A
    /// store the client cannot open (damaged, unreadable) leaves the session
    /// listed in state `stopped` with the reason, instead of keeping every
    /// other session from starting. `None` when the store is gone (deleted
    /// since it was listed): reopening must not bring a deleted session back.
    pub(crate) async fn restore(id: SessionId, context: Arc<SessionContext>) -> Option<Session> {
        let session = Self::new(id, context, false);
        if !session.inner.store_path.exists() {
            return None;
        }
        if let Err(e) = ownership::begin(&session.inner).await {
            log::error!("session {}: could not be restored: {e}", session.id());
        }
        Some(session)
    }

    /// A session whose store is on another host: followed, never owned.
    pub(crate) async fn remote(id: SessionId, context: Arc<SessionContext>) -> Result<Session> {
        let session = Self::new(id, context, true);
        ownership::begin(&session.inner).await?;
        Ok(session)
    }

    /// The session's state; creates nothing (`open` creates a new store).
    fn new(id: SessionId, context: Arc<SessionContext>, is_remote: bool) -> Session {
        let store_path = layout::session_store(&context.config.data_dir, &id);
        let inner = Arc::new(SessionInner {
            status: watch::Sender::new(SessionStatus::new(id.as_str())),
            id,
            store_path,
            context,
            qr: Mutex::new(None),
            pair_code: Mutex::new(None),
            client: Mutex::new(None),
            lifecycle: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            logged_out: AtomicBool::new(false),
            event_order: Mutex::new(()),
            is_remote,
            role: Mutex::new(Role::Follower),
            owner_tasks: Mutex::new(OwnerTasks::default()),
            ownership: Mutex::new(None),
            publish_nudge: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            pending_erasure: sent_erasure::PendingErasure::default(),
            health: crate::health::HealthTracker::default(),
        });
        Session { inner }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        self.inner.id.as_str()
    }

    /// A snapshot of the session's state.
    pub fn status(&self) -> SessionStatus {
        let mut status = self.inner.status.borrow().clone();
        status.health = self.inner.current_health(&status.health);
        status
    }

    /// The running whatsapp-rust client, for what waotp does not wrap.
    ///
    /// Anything sent through it bypasses waotp: no delivery tracking, no
    /// idempotency, no pacing, no statistics. A restart replaces the client,
    /// so take it for one operation rather than keeping it. Fails with
    /// `NOT_CONNECTED` unless the session is connected in this process (the
    /// owner; see [`Session::is_owner`]).
    pub fn whatsapp_client(&self) -> Result<Arc<Client>> {
        self.inner.connected_client()
    }

    /// Whether this process runs the session's WhatsApp connection. Every
    /// process can use every session; exactly one runs each connection.
    pub fn is_owner(&self) -> bool {
        self.inner.is_owner()
    }
}
