//! The gateway's list of sessions, kept in step with the data dir and the
//! other processes, and the jobs that run while the gateway is open.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::error::Result;
use crate::model::SessionId;
use crate::platform::{layout, sync};
use crate::session::Session;

use super::GatewayInner;

impl GatewayInner {
    pub(super) fn read_sessions(&self) -> RwLockReadGuard<'_, BTreeMap<SessionId, Session>> {
        sync::read(&self.sessions)
    }

    pub(super) fn write_sessions(&self) -> RwLockWriteGuard<'_, BTreeMap<SessionId, Session>> {
        sync::write(&self.sessions)
    }

    /// Adds the sessions stored in the data dir or published by other
    /// processes that this gateway does not know yet, and drops deleted ones.
    pub(super) async fn discover(&self) -> Result<()> {
        let context = &self.context;
        let mut found = layout::stored_session_ids(&context.config.data_dir)?;
        let local = found.len();
        for id in context.coordination.sessions().await? {
            if !found.contains(&id) {
                found.push(id);
            }
        }
        self.write_sessions().retain(|_, s| !s.inner.is_closed());
        for (i, id) in found.into_iter().enumerate() {
            if self.read_sessions().contains_key(&id) || self.closed.load(Ordering::SeqCst) {
                continue;
            }
            // A create or delete of this id in progress finishes first.
            let _guard = self.creating.lock(&id).await;
            if self.read_sessions().contains_key(&id) {
                continue;
            }
            let session = if i < local {
                match Session::restore(id.clone(), context.clone()).await {
                    Some(session) => session,
                    None => continue,
                }
            } else {
                Session::remote(id.clone(), context.clone()).await?
            };
            self.write_sessions().insert(id, session);
        }
        Ok(())
    }
}

/// How often expired OTP records are swept, besides the sweep `issue` does.
const OTP_CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Sweeps expired OTP records while the gateway lives, so a quiet gateway
/// does not keep stale rows.
pub(super) fn spawn_otp_cleanup(gateway: std::sync::Weak<GatewayInner>) {
    spawn_while_open(gateway, OTP_CLEANUP_EVERY, |inner| async move {
        if let Err(e) = inner.context.otp.cleanup_expired().await {
            log::warn!("OTP cleanup failed: {e}");
        }
        if let Err(e) = inner.context.inbound.remove_old().await {
            log::warn!("inbound verification cleanup failed: {e}");
        }
    });
}

/// How often a gateway looks for sessions other processes created or deleted.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);

/// Keeps the session list in step with the other processes while the gateway lives.
pub(super) fn spawn_discovery(gateway: std::sync::Weak<GatewayInner>) {
    spawn_while_open(gateway, DISCOVER_EVERY, |inner| async move {
        if let Err(e) = inner.discover().await {
            log::warn!("looking for sessions of other processes failed: {e}");
        }
    });
}

/// Runs `job` every `every` (first after one period) until the gateway is
/// closed or dropped. Holds only a weak reference between runs, so the task
/// never keeps a gateway alive.
fn spawn_while_open<F, Fut>(gateway: std::sync::Weak<GatewayInner>, every: Duration, job: F)
where
    F: Fn(Arc<GatewayInner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = gateway.upgrade() else {
                return;
            };
            if inner.closed.load(Ordering::SeqCst) {
                return;
            }
            job(inner).await;
        }
    });
}
