//! Time source of the OTP engine.
//!
//! Expiry, rate-limit windows and pacing all read time through [`Clock`], so a
//! test can move time forward with [`ManualClock::advance`] instead of sleeping.
//! Time is wall-clock Unix milliseconds because expiries are persisted (SQLite)
//! and must mean the same thing after a restart; a monotonic clock would not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in Unix milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// The current time as a [`SystemTime`].
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock set before 1970 reads as the epoch rather than panicking; every
        // code would then simply look fresh until the clock is fixed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests.
///
/// Clones share the same time, so a test can keep one clone and hand another
/// to the engine (or to a `Gateway`).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        let ms = start
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
            .unwrap_or(0);
        Self::from_unix_ms(ms)
    }

    /// A clock standing at `ms` Unix milliseconds.
    pub fn from_unix_ms(ms: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(ms)))
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::from_unix_ms(SystemClock.now_ms())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = by.as_millis().min(u64::MAX as u128) as u64;
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Sets the clock to `ms` Unix milliseconds (may move it backwards, to test
    /// a wall clock that jumps).
    pub fn set_unix_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_now()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::from_unix_ms(1_000);
        let b = a.clone();
        a.advance(Duration::from_secs(2));
        assert_eq!(b.now_ms(), 3_000);
        assert_eq!(b.now(), UNIX_EPOCH + Duration::from_millis(3_000));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
