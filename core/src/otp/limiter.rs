//! Rate limits and per-session pacing.
//!
//! * sends per recipient: a sliding window (default 5 per 60 s) kept as the
//!   timestamps of the last sends, so the answer says exactly when the oldest
//!   one leaves the window;
//! * resend cooldown per recipient (default 10 s, short enough that 5 per
//!   minute still means something);
//! * verification attempts per recipient across codes (default 10 per 10 min),
//!   so requesting new codes does not buy unlimited guesses;
//! * per-session pacing: a minimum gap between sends plus random jitter, so a
//!   linked number does not send at machine speed and get flagged. Pacing
//!   reserves a slot and returns how long to wait; the caller awaits it, so no
//!   thread sleeps here. When the queue would make a sender wait longer than
//!   `max_wait`, the send is refused with a retry time instead.
//!
//! State lives in memory: after a restart the windows start empty.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Error, Result};

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Events allowed in one window.
    pub max: u32,
    /// Length of the sliding window.
    pub window: Duration,
}

impl RateWindow {
    /// `max` events per `window`.
    pub const fn new(max: u32, window: Duration) -> Self {
        RateWindow { max, window }
    }
}

/// Per-session pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Smallest gap between two sends of one session.
    pub min_gap: Duration,
    /// Up to this much random extra gap, so sends do not tick like a clock.
    pub jitter: Duration,
    /// Longest wait handed out; beyond it the send is refused (`RATE_LIMITED`).
    pub max_wait: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            min_gap: Duration::from_secs(1),
            jitter: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Which limits apply; `None` / zero turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Sends per recipient.
    pub sends_per_recipient: Option<RateWindow>,
    /// Minimum time between two sends to one recipient.
    pub resend_cooldown: Duration,
    /// Verification attempts per recipient.
    pub verifies_per_recipient: Option<RateWindow>,
    /// Pacing of each session's sends.
    pub session_pacing: Option<Pacing>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sends_per_recipient: Some(RateWindow::new(5, Duration::from_secs(60))),
            resend_cooldown: Duration::from_secs(10),
            verifies_per_recipient: Some(RateWindow::new(10, Duration::from_secs(600))),
            session_pacing: Some(Pacing::default()),
        }
    }
}

impl Limits {
    /// Every limit off (benchmarks, tests of other behaviour).
    pub fn none() -> Self {
        Limits {
            sends_per_recipient: None,
            resend_cooldown: Duration::ZERO,
            verifies_per_recipient: None,
            session_pacing: None,
        }
    }
}

#[derive(Debug, Default)]
struct RecipientState {
    sends: VecDeque<u64>,
    last_send: Option<u64>,
    verifies: VecDeque<u64>,
}

#[derive(Debug, Default)]
struct State {
    recipients: HashMap<String, RecipientState>,
    /// session id → earliest time its next send may go out (Unix ms)
    sessions: HashMap<String, u64>,
}

/// Applies [`Limits`]. Every check-and-record is one step under one lock, so
/// concurrent callers cannot both take the last slot.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    state: Mutex<State>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn limited(reason: String, retry_after_ms: u64) -> Error {
    Error::RateLimited {
        reason,
        retry_after: Duration::from_millis(retry_after_ms.max(1)),
    }
}

/// Sliding-window check: drops timestamps that left the window, then either
/// records `now` or says how long until the oldest one leaves.
fn window_take(log: &mut VecDeque<u64>, w: &RateWindow, now: u64) -> std::result::Result<(), u64> {
    let span = ms(w.window);
    while log.front().is_some_and(|&t| t.saturating_add(span) <= now) {
        log.pop_front();
    }
    if log.len() >= w.max as usize {
        let oldest = log.front().copied().unwrap_or(now);
        return Err(oldest.saturating_add(span).saturating_sub(now));
    }
    log.push_back(now);
    Ok(())
}

impl Limiter {
    /// A limiter for `limits`.
    pub fn new(limits: Limits) -> Self {
        Limiter {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a send slot for `recipient` at `now_ms`, or says when to retry.
    pub fn acquire_send(&self, recipient: &str, now_ms: u64) -> Result<()> {
        let cooldown = ms(self.limits.resend_cooldown);
        let window = self.limits.sends_per_recipient;
        if cooldown == 0 && window.is_none() {
            return Ok(());
        }
        let mut st = self.lock();
        let r = st.recipients.entry(recipient.to_string()).or_default();
        if let Some(last) = r.last_send {
            let ready = last.saturating_add(cooldown);
            if now_ms < ready {
                return Err(limited(
                    format!(
                        "resend cooldown: one code per {}s to the same recipient",
                        self.limits.resend_cooldown.as_secs()
                    ),
                    ready - now_ms,
                ));
            }
        }
        if let Some(w) = &window {
            window_take(&mut r.sends, w, now_ms).map_err(|wait| {
                limited(
                    format!(
                        "too many codes sent to this recipient ({} per {}s)",
                        w.max,
                        w.window.as_secs()
                    ),
                    wait,
                )
            })?;
        }
        r.last_send = Some(now_ms);
        Ok(())
    }

    /// Takes a verification slot for `recipient` at `now_ms`, or says when to retry.
    pub fn acquire_verify(&self, recipient: &str, now_ms: u64) -> Result<()> {
        let Some(w) = self.limits.verifies_per_recipient else {
            return Ok(());
        };
        let mut st = self.lock();
        let r = st.recipients.entry(recipient.to_string()).or_default();
        window_take(&mut r.verifies, &w, now_ms).map_err(|wait| {
            limited(
                format!(
                    "too many verification attempts for this recipient ({} per {}s)",
                    w.max,
                    w.window.as_secs()
                ),
                wait,
            )
        })
    }

    /// Reserves the next send slot of `session_id` and returns how long the
    /// caller must wait before sending (zero if the session has been idle).
    /// `jitter_ms` is the random extra gap to add after this send, drawn by the
    /// caller (so this stays deterministic under test).
    pub fn pace(&self, session_id: &str, now_ms: u64, jitter_ms: u64) -> Result<Duration> {
        let Some(p) = self.limits.session_pacing else {
            return Ok(Duration::ZERO);
        };
        let mut st = self.lock();
        let next_free = st.sessions.get(session_id).copied().unwrap_or(0);
        let slot = next_free.max(now_ms);
        let wait = slot - now_ms;
        let max_wait = ms(p.max_wait);
        if wait > max_wait {
            return Err(limited(
                format!(
                    "session `{session_id}` is sending too fast (queue longer than {}s)",
                    p.max_wait.as_secs()
                ),
                wait - max_wait,
            ));
        }
        let gap = ms(p.min_gap).saturating_add(jitter_ms.min(ms(p.jitter)));
        st.sessions
            .insert(session_id.to_string(), slot.saturating_add(gap));
        Ok(Duration::from_millis(wait))
    }

    /// Forgets state that no longer limits anything at `now_ms` (bounded memory).
    pub fn prune(&self, now_ms: u64) {
        let send_span = self
            .limits
            .sends_per_recipient
            .map(|w| ms(w.window))
            .unwrap_or(0);
        let verify_span = self
            .limits
            .verifies_per_recipient
            .map(|w| ms(w.window))
            .unwrap_or(0);
        let cooldown = ms(self.limits.resend_cooldown);
        let mut st = self.lock();
        st.recipients.retain(|_, r| {
            let live = |log: &VecDeque<u64>, span: u64| {
                log.back().is_some_and(|&t| t.saturating_add(span) > now_ms)
            };
            live(&r.sends, send_span)
                || live(&r.verifies, verify_span)
                || r.last_send
                    .is_some_and(|t| t.saturating_add(cooldown) > now_ms)
        });
        st.sessions.retain(|_, &mut next| next > now_ms);
    }

    /// Number of recipients and sessions tracked (tests, diagnostics).
    pub fn tracked(&self) -> (usize, usize) {
        let st = self.lock();
        (st.recipients.len(), st.sessions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(e: Error) -> Duration {
        match e {
            Error::RateLimited { retry_after, .. } => retry_after,
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
    }

    #[test]
    fn cooldown_says_when_to_retry() {
        let l = Limiter::new(Limits::default());
        l.acquire_send("a", 1_000).unwrap();
        let e = l.acquire_send("a", 4_000).unwrap_err();
        assert_eq!(e.code(), "RATE_LIMITED");
        assert!(e.to_string().contains("cooldown"), "{e}");
        assert_eq!(retry_after(e), Duration::from_secs(7));
        l.acquire_send("b", 4_000).unwrap();
        l.acquire_send("a", 11_000).unwrap();
    }

    #[test]
    fn five_sends_per_minute_window() {
        let l = Limiter::new(Limits {
            resend_cooldown: Duration::ZERO,
            ..Limits::default()
        });
        for i in 0..5 {
            l.acquire_send("a", 1_000 + i * 1_000).unwrap();
        }
        let e = l.acquire_send("a", 30_000).unwrap_err();
        assert!(e.to_string().contains("5 per 60s"), "{e}");
        // The first send (t = 1 s) leaves the window at 61 s.
        assert_eq!(retry_after(e), Duration::from_secs(31));
        assert!(l.acquire_send("a", 60_999).is_err());
        l.acquire_send("a", 61_000).unwrap();
    }

    #[test]
    fn verify_window() {
        let l = Limiter::new(Limits::default());
        for _ in 0..10 {
            l.acquire_verify("a", 0).unwrap();
        }
        let e = l.acquire_verify("a", 5_000).unwrap_err();
        assert_eq!(retry_after(e), Duration::from_secs(595));
        l.acquire_verify("a", 600_000).unwrap();
    }

    #[test]
    fn pacing_spaces_sends_and_refuses_a_long_queue() {
        let l = Limiter::new(Limits::default());
        assert_eq!(l.pace("s", 10_000, 0).unwrap(), Duration::ZERO);
        assert_eq!(
            l.pace("s", 10_000, 200).unwrap(),
            Duration::from_millis(1_000)
        );
        assert_eq!(
            l.pace("s", 10_000, 9_999).unwrap(),
            Duration::from_millis(2_200)
        );
        // Jitter is capped at 500 ms: the next slot is 10 s + 2.2 + 1.5 s.
        assert_eq!(
            l.pace("s", 10_000, 0).unwrap(),
            Duration::from_millis(3_700)
        );
        assert_eq!(l.pace("other", 10_000, 0).unwrap(), Duration::ZERO);
        for _ in 0..26 {
            l.pace("s", 10_000, 0).unwrap();
        }
        let e = l.pace("s", 10_000, 0).unwrap_err();
        assert!(e.to_string().contains("sending too fast"), "{e}");
        assert!(retry_after(e) > Duration::ZERO);
    }

    #[test]
    fn prune_forgets_idle_state() {
        let l = Limiter::new(Limits::default());
        l.acquire_send("a", 0).unwrap();
        l.acquire_verify("b", 0).unwrap();
        l.pace("s", 0, 0).unwrap();
        l.prune(1);
        assert_eq!(l.tracked(), (2, 1));
        l.prune(600_000);
        assert_eq!(l.tracked(), (0, 0));
    }

    #[test]
    fn no_limits_means_no_state() {
        let l = Limiter::new(Limits::none());
        for _ in 0..100 {
            l.acquire_send("a", 0).unwrap();
            l.acquire_verify("a", 0).unwrap();
            assert_eq!(l.pace("s", 0, 0).unwrap(), Duration::ZERO);
        }
        assert_eq!(l.tracked(), (0, 0));
    }
}
