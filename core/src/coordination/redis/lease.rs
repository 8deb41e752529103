//! Keeping a Redis lease: the key `{prefix}lease:{session}` holds
//! `{owner id}:{token}` with a TTL; its holder renews it and gives it up.
//!
//! ```text
//!  acquired     renew        renew     (Redis away)      lost          key expires
//!  |------------|------------|- - - - - - - - - - - - - -|- - margin - -|
//!  0          ttl/3       2ttl/3                  last renewal       last renewal
//!                                                 + ttl - margin     + ttl
//! ```
//!
//! The key lives at least `ttl` from the moment the last successful renewal
//! was *sent* (Redis runs it later, never earlier). The holder gives up
//! `margin` before that, so its connection is stopping before anyone else
//! can take the key.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::watch;
use tokio::time::Instant;

use super::OP_TIMEOUT;
use super::scripts;

/// How often the holder renews: three chances within one TTL.
pub(super) fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}

/// How often a renewal that failed is tried again.
fn retry_every(ttl: Duration) -> Duration {
    ttl / 10
}

/// How long before the key can expire the holder gives up: time to stop
/// its WhatsApp connection, plus any difference between its clock's pace
/// and Redis's.
pub(super) fn loss_margin(ttl: Duration) -> Duration {
    ttl / 3
}

/// What a Redis lease holds: the renewal task, stopped on drop, and the
/// key, released on drop if it is still ours.
pub(super) struct RedisHolder {
    renewal: tokio::task::JoinHandle<()>,
    conn: ConnectionManager,
    key: String,
    value: String,
}

impl RedisHolder {
    /// Starts renewing `key` (holding `value`, taken when `acquired_at`
    /// was sent); `lost` turns true when it can no longer be trusted.
    pub(super) fn start(
        conn: ConnectionManager,
        key: String,
        value: String,
        ttl: Duration,
        acquired_at: Instant,
        lost: watch::Sender<bool>,
    ) -> Self {
        let renewal = tokio::spawn(keep(
            conn.clone(),
            key.clone(),
            value.clone(),
            ttl,
            acquired_at,
            lost,
        ));
        RedisHolder {
            renewal,
            conn,
            key,
            value,
        }
    }
}

impl Drop for RedisHolder {
    fn drop(&mut self) {
        self.renewal.abort();
        // Released now rather than at expiry, so a follower takes over at
        // its next poll. Outside a runtime (a late drop at exit) the key
        // simply expires.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let key = std::mem::take(&mut self.key);
        let value = std::mem::take(&mut self.value);
        runtime.spawn(async move {
            let mut release = scripts::RELEASE.prepare_invoke();
            release.key(&key).arg(&value);
            match tokio::time::timeout(OP_TIMEOUT, release.invoke_async::<i64>(&mut conn)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::warn!("releasing {key} failed ({e}); it expires by itself"),
                Err(_) => log::warn!("releasing {key} timed out; it expires by itself"),
            }
        });
    }
}

/// Renews the lease until it is taken from us or cannot be renewed in time.
async fn keep(
    mut conn: ConnectionManager,
    key: String,
    value: String,
    ttl: Duration,
    acquired_at: Instant,
    lost: watch::Sender<bool>,
) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut renewed_at = acquired_at;
    let mut next = acquired_at + renew_every(ttl);
    loop {
        let give_up_at = renewed_at + ttl - loss_margin(ttl);
        tokio::time::sleep_until(next.min(give_up_at)).await;
        if Instant::now() >= give_up_at {
            log::warn!(
                "{key}: not renewed for {:?}; giving it up",
                ttl - loss_margin(ttl)
            );
            lost.send_replace(true);
            return;
        }
        let sent = Instant::now();
        let mut renew = scripts::RENEW.prepare_invoke();
        renew.key(&key).arg(&value).arg(ttl_ms);
        match tokio::time::timeout_at(give_up_at, renew.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(1)) => {
                renewed_at = sent;
                next = sent + renew_every(ttl);
            }
            Ok(Ok(_)) => {
                log::warn!("{key}: no longer ours (expired, or taken by another owner)");
                lost.send_replace(true);
                return;
            }
            Ok(Err(e)) => {
                log::warn!("{key}: renewal failed: {e}");
                next = Instant::now() + retry_every(ttl);
            }
            // Out of time: the top of the loop gives up.
            Err(_) => {}
        }
    }
}
