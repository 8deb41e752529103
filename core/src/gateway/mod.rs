//! The gateway: the one object an application keeps. It owns the linked
//! sessions, builds the context they share, and offers the OTP API.
//!
//! `builder` configures and opens it (with `redis_wiring` and `endpoint`),
//! `registry` keeps its list of sessions, `otp_api` joins the OTP engine to
//! the sessions, `send_retry` is the retry policy of those sends.

mod builder;
mod endpoint;
mod health_metrics;
mod id_locks;
mod inbound_api;
mod otp_api;
mod otp_outcome;
mod pool_api;
#[cfg(test)]
mod property_tests;
mod redis_wiring;
mod registry;
pub mod send_retry;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::events::EventStream;
use crate::model::{DeliveryStatus, MessageRecord, SessionId, SessionStatus};
use crate::otp::ManualClock;
use crate::session::Session;
use crate::session::context::SessionContext;

pub use builder::GatewayBuilder;
pub use otp_api::SentOtp;
pub use send_retry::SendRetry;

/// The facade over everything waotp does. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<GatewayInner>,
}

pub(crate) struct GatewayInner {
    /// What every session shares; built by [`GatewayBuilder::open`].
    pub(crate) context: Arc<SessionContext>,
    /// How `send_otp` retries transient failures.
    pub(crate) send_retry: SendRetry,
    /// Whether `send_otp` first checks the recipient is on WhatsApp.
    pub(crate) check_on_whatsapp: bool,
    sessions: RwLock<BTreeMap<SessionId, Session>>,
    /// Serialises create, restore and delete of each id, so two creates of
    /// one id make one session (and different ids open side by side).
    creating: id_locks::IdLocks,
    closed: AtomicBool,
    /// The clock [`GatewayBuilder::manual_clock`] made, for `advance_clock`.
    manual_clock: Option<ManualClock>,
    /// When each session last carried a pool send.
    pub(crate) pool_last_used: crate::pool::LastUsed,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("data_dir", &self.inner.context.config.data_dir)
            .field("sessions", &self.inner.read_sessions().len())
            .finish()
    }
}

impl Gateway {
    /// Starts configuring a gateway.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// `CLOSED` once [`Gateway::close`] ran: every operation refuses then.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Creates a session and starts pairing it, or returns the existing
    /// session with that id. Without an id, one is generated
    /// (`session_<uuid>`).
    pub async fn create_session(&self, id: Option<&str>) -> Result<Session> {
        self.check_open()?;
        let id = match id {
            Some(raw) => SessionId::parse(raw)?,
            None => SessionId::generate(),
        };
        let _guard = self.inner.creating.lock(&id).await;
        if let Some(existing) = self.inner.read_sessions().get(&id) {
            return Ok(existing.clone());
        }
        let session = Session::open(id.clone(), self.inner.context.clone()).await?;
        self.inner.write_sessions().insert(id, session.clone());
        Ok(session)
    }

    /// The session with this id. Sessions created by other processes appear
    /// within about a second.
    pub fn session(&self, id: &str) -> Result<Session> {
        self.check_open()?;
        let id = SessionId::parse(id)?;
        self.inner
            .read_sessions()
            .get(&id)
            .filter(|s| !s.inner.is_closed())
            .cloned()
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))
    }

    /// Every session with its status, sorted by id, whichever process runs it.
    pub fn list_sessions(&self) -> Vec<SessionStatus> {
        self.inner
            .read_sessions()
            .values()
            .filter(|s| !s.inner.is_closed())
            .map(Session::status)
            .collect()
    }

    /// Logs the session out and removes its credentials from disk (done by
    /// the process that runs the session).
    pub async fn delete_session(&self, id: &str) -> Result<()> {
        let session = self.session(id)?;
        let _guard = self.inner.creating.lock(&session.inner.id).await;
        session.delete().await?;
        session.inner.mark_closed();
        self.inner.pool_last_used.forget(id);
        self.inner.write_sessions().remove(&session.inner.id);
        Ok(())
    }

    /// The delivery record of a message sent through any session, by any process.
    pub async fn message_status(&self, message_id: &str) -> Result<MessageRecord> {
        self.check_open()?;
        self.inner
            .context
            .deliveries
            .message_status(message_id)
            .await
    }

    /// Waits until a message's status satisfies `done` (e.g. delivered), or
    /// the timeout. A message another process's connection sent is followed
    /// through the shared outbox.
    pub async fn wait_message_status(
        &self,
        message_id: &str,
        timeout: Duration,
        done: impl FnMut(&DeliveryStatus) -> bool,
    ) -> Result<MessageRecord> {
        self.inner
            .context
            .deliveries
            .wait_message_status(message_id, timeout, done)
            .await
    }

    /// Moves the manual clock on by `by` (a gateway opened with
    /// [`GatewayBuilder::manual_clock`]); `SANDBOX_ONLY` in a normal
    /// build, `INVALID_ARGUMENT` for a gateway opened without one.
    pub fn advance_clock(&self, by: Duration) -> Result<()> {
        if !cfg!(feature = "sandbox") {
            return Err(Error::SandboxOnly("the test clock".into()));
        }
        match &self.inner.manual_clock {
            Some(clock) => {
                clock.advance(by);
                Ok(())
            }
            None => Err(Error::InvalidArgument(
                "the gateway was opened without a manual clock".into(),
            )),
        }
    }

    /// Subscribes to the gateway's events from now on.
    pub fn events(&self) -> EventStream {
        self.inner.context.events.subscribe()
    }

    /// Normalises a phone number with this gateway's default country
    /// (`08123456789` → `628123456789`).
    pub fn normalize_phone(&self, input: &str) -> Result<String> {
        self.inner.context.phones.normalize(input)
    }

    /// Stops every session gracefully; stored credentials stay for the next
    /// open. Later calls fail with `CLOSED`.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let sessions: Vec<Session> = self.inner.read_sessions().values().cloned().collect();
        let stops = sessions.iter().map(|s| s.inner.shutdown("gateway closed"));
        whatsapp_rust::futures::future::join_all(stops).await;
        // After the sessions' last events, so that streams deliver those first.
        self.inner.context.events.close();
    }
}
