//! Rate limits and per-session pacing: the rules, and an in-memory keeper.
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
//! The state lives in the [`OtpStore`](super::OtpStore), so that every
//! process sharing a store shares the limits: the memory store keeps a
//! [`Limiter`], the SQLite store keeps the same timestamps in tables and
//! applies the same rules ([`send_decision`], [`window_decision`],
//! [`pace_decision`]), the Redis store applies them in Lua.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::error::Error;
use crate::platform::sync;

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

    /// The window's length in milliseconds.
    pub fn span_ms(&self) -> u64 {
        ms(self.window)
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

    /// How long a send is remembered: the longer of the window and the cooldown.
    pub fn send_memory_ms(&self) -> u64 {
        self.sends_per_recipient
            .map(|w| w.span_ms())
            .unwrap_or(0)
            .max(ms(self.resend_cooldown))
    }
}

/// The limit that refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRule {
    /// [`Limits::resend_cooldown`].
    ResendCooldown,
    /// [`Limits::sends_per_recipient`].
    SendsPerRecipient,
    /// [`Limits::verifies_per_recipient`].
    VerifiesPerRecipient,
    /// [`Limits::session_pacing`]: the session's queue is longer than `max_wait`.
    SessionPacing,
}

/// What a store answers when asked for a send, verification or pacing slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Taken. For pacing, how long to wait before sending (zero otherwise).
    Granted {
        /// Milliseconds until the reserved slot.
        wait_ms: u64,
    },
    /// Refused by `rule`; nothing was recorded.
    Refused {
        /// The limit that refused.
        rule: LimitRule,
        /// Milliseconds until the same request would be granted.
        retry_after_ms: u64,
    },
}

impl Admission {
    /// Granted without a wait.
    pub const GO: Admission = Admission::Granted { wait_ms: 0 };

    /// `Ok(wait)` when granted, the `RATE_LIMITED` error (with its retry time
    /// and a message naming the limit) when refused.
    pub fn into_result(self, limits: &Limits, session_id: &str) -> crate::Result<Duration> {
        match self {
            Admission::Granted { wait_ms } => Ok(Duration::from_millis(wait_ms)),
            Admission::Refused {
                rule,
                retry_after_ms,
            } => Err(limited(
                rule_message(rule, limits, session_id),
                retry_after_ms,
            )),
        }
    }
}

fn rule_message(rule: LimitRule, limits: &Limits, session_id: &str) -> String {
    let window = |w: Option<RateWindow>| w.map(|w| (w.max, w.window.as_secs())).unwrap_or((0, 0));
    match rule {
        LimitRule::ResendCooldown => format!(
            "resend cooldown: one code per {}s to the same recipient",
            limits.resend_cooldown.as_secs()
        ),
        LimitRule::SendsPerRecipient => {
            let (max, secs) = window(limits.sends_per_recipient);
            format!("too many codes sent to this recipient ({max} per {secs}s)")
        }
        LimitRule::VerifiesPerRecipient => {
            let (max, secs) = window(limits.verifies_per_recipient);
            format!("too many verification attempts for this recipient ({max} per {secs}s)")
        }
        LimitRule::SessionPacing => format!(
            "session `{session_id}` is sending too fast (queue longer than {}s)",
            limits
                .session_pacing
                .map(|p| p.max_wait.as_secs())
                .unwrap_or(0)
        ),
    }
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

/// Drops the timestamps of `log` (oldest first) that left the window at `now`.
fn forget_outside(log: &mut VecDeque<u64>, span: u64, now: u64) {
    while log.front().is_some_and(|&t| t.saturating_add(span) <= now) {
        log.pop_front();
    }
}

/// The sliding-window rule: `log` holds the granted timestamps, oldest first.
/// Drops those that left the window, then either records `now` or refuses
/// with the time until the oldest leaves.
pub fn window_decision(
    log: &mut VecDeque<u64>,
    w: &RateWindow,
    rule: LimitRule,
    now: u64,
) -> Admission {
    let span = w.span_ms();
    forget_outside(log, span, now);
    if log.len() >= w.max as usize {
        let oldest = log.front().copied().unwrap_or(now);
        return Admission::Refused {
            rule,
            retry_after_ms: oldest.saturating_add(span).saturating_sub(now),
        };
    }
    log.push_back(now);
    Admission::GO
}

/// The send rule for one recipient: the cooldown since the latest send, then
/// the window. `sends` holds the recipient's granted send times, oldest
/// first; on a grant `now` is appended.
pub fn send_decision(sends: &mut VecDeque<u64>, limits: &Limits, now: u64) -> Admission {
    let cooldown = ms(limits.resend_cooldown);
    if let Some(&last) = sends.back() {
        let ready = last.saturating_add(cooldown);
        if now < ready {
            return Admission::Refused {
                rule: LimitRule::ResendCooldown,
                retry_after_ms: ready - now,
            };
        }
    }
    match &limits.sends_per_recipient {
        Some(w) => window_decision(sends, w, LimitRule::SendsPerRecipient, now),
        None => {
            // Only the latest send matters for the cooldown.
            sends.clear();
            sends.push_back(now);
            Admission::GO
        }
    }
}

/// The pacing rule: with the session's next free slot at `next_free`, answers
/// the wait and the next free slot after this send.
pub fn pace_decision(next_free: u64, p: &Pacing, now: u64, jitter_ms: u64) -> (Admission, u64) {
    let slot = next_free.max(now);
    let wait = slot - now;
    let max_wait = ms(p.max_wait);
    if wait > max_wait {
        let refused = Admission::Refused {
            rule: LimitRule::SessionPacing,
            retry_after_ms: wait - max_wait,
        };
        return (refused, next_free);
    }
    let gap = ms(p.min_gap).saturating_add(jitter_ms.min(ms(p.jitter)));
    (
        Admission::Granted { wait_ms: wait },
        slot.saturating_add(gap),
    )
}

#[derive(Debug, Default)]
struct RecipientState {
    sends: VecDeque<u64>,
    verifies: VecDeque<u64>,
}

#[derive(Debug, Default)]
struct State {
    recipients: HashMap<String, RecipientState>,
    /// session id → earliest time its next send may go out (Unix ms)
    sessions: HashMap<String, u64>,
}

/// Limit state in memory, for [`MemoryStore`](super::MemoryStore). Every
/// check-and-record is one step under one lock, so concurrent callers cannot
/// both take the last slot.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
}

impl Limiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Takes a send slot for `recipient` at `now_ms`, or says when to retry.
    pub fn acquire_send(&self, limits: &Limits, recipient: &str, now_ms: u64) -> Admission {
        if limits.resend_cooldown.is_zero() && limits.sends_per_recipient.is_none() {
            return Admission::GO;
        }
        let mut st = self.lock();
        let r = st.recipients.entry(recipient.to_string()).or_default();
        send_decision(&mut r.sends, limits, now_ms)
    }

    /// Takes a verification slot for `recipient` at `now_ms`, or says when to retry.
    pub fn acquire_verify(&self, limits: &Limits, recipient: &str, now_ms: u64) -> Admission {
        let Some(w) = limits.verifies_per_recipient else {
            return Admission::GO;
        };
        let mut st = self.lock();
        let r = st.recipients.entry(recipient.to_string()).or_default();
        window_decision(&mut r.verifies, &w, LimitRule::VerifiesPerRecipient, now_ms)
    }

    /// Reserves the next send slot of `session_id` (see [`pace_decision`]).
    /// `jitter_ms` is the random extra gap to add after this send, drawn by the
    /// caller (so this stays deterministic under test).
    pub fn pace(
        &self,
        limits: &Limits,
        session_id: &str,
        now_ms: u64,
        jitter_ms: u64,
    ) -> Admission {
        let Some(p) = limits.session_pacing else {
            return Admission::GO;
        };
        let mut st = self.lock();
        let next_free = st.sessions.get(session_id).copied().unwrap_or(0);
        let (admission, next) = pace_decision(next_free, &p, now_ms, jitter_ms);
        if matches!(admission, Admission::Granted { .. }) {
            st.sessions.insert(session_id.to_string(), next);
        }
        admission
    }

    /// Forgets state that no longer limits anything at `now_ms` (bounded memory).
    pub fn prune(&self, limits: &Limits, now_ms: u64) {
        let send_span = limits.send_memory_ms();
        let verify_span = limits
            .verifies_per_recipient
            .map(|w| w.span_ms())
            .unwrap_or(0);
        let mut st = self.lock();
        st.recipients.retain(|_, r| {
            forget_outside(&mut r.sends, send_span, now_ms);
            forget_outside(&mut r.verifies, verify_span, now_ms);
            !r.sends.is_empty() || !r.verifies.is_empty()
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

    fn retry_after(a: Admission, limits: &Limits) -> Duration {
        match a.into_result(limits, "s") {
            Err(Error::RateLimited { retry_after, .. }) => retry_after,
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
    }

    fn message(a: Admission, limits: &Limits) -> String {
        a.into_result(limits, "s").unwrap_err().to_string()
    }

    #[test]
    fn cooldown_says_when_to_retry() {
        let limits = Limits::default();
        let l = Limiter::new();
        assert_eq!(l.acquire_send(&limits, "a", 1_000), Admission::GO);
        let refused = l.acquire_send(&limits, "a", 4_000);
        assert!(message(refused, &limits).contains("cooldown"));
        assert_eq!(retry_after(refused, &limits), Duration::from_secs(7));
        assert_eq!(l.acquire_send(&limits, "b", 4_000), Admission::GO);
        assert_eq!(l.acquire_send(&limits, "a", 11_000), Admission::GO);
    }

    #[test]
    fn five_sends_per_minute_window() {
        let limits = Limits {
            resend_cooldown: Duration::ZERO,
            ..Limits::default()
        };
        let l = Limiter::new();
        for i in 0..5 {
            assert_eq!(
                l.acquire_send(&limits, "a", 1_000 + i * 1_000),
                Admission::GO
            );
        }
        let refused = l.acquire_send(&limits, "a", 30_000);
        assert!(message(refused, &limits).contains("5 per 60s"));
        // The first send (t = 1 s) leaves the window at 61 s.
        assert_eq!(retry_after(refused, &limits), Duration::from_secs(31));
        assert_ne!(l.acquire_send(&limits, "a", 60_999), Admission::GO);
        assert_eq!(l.acquire_send(&limits, "a", 61_000), Admission::GO);
    }

    #[test]
    fn verify_window() {
        let limits = Limits::default();
        let l = Limiter::new();
        for _ in 0..10 {
            assert_eq!(l.acquire_verify(&limits, "a", 0), Admission::GO);
        }
        let refused = l.acquire_verify(&limits, "a", 5_000);
        assert_eq!(retry_after(refused, &limits), Duration::from_secs(595));
        assert_eq!(l.acquire_verify(&limits, "a", 600_000), Admission::GO);
    }

    #[test]
    fn pacing_spaces_sends_and_refuses_a_long_queue() {
        let limits = Limits::default();
        let l = Limiter::new();
        let wait = |a: Admission| a.into_result(&limits, "s").unwrap();
        assert_eq!(wait(l.pace(&limits, "s", 10_000, 0)), Duration::ZERO);
        assert_eq!(
            wait(l.pace(&limits, "s", 10_000, 200)),
            Duration::from_millis(1_000)
        );
        assert_eq!(
            wait(l.pace(&limits, "s", 10_000, 9_999)),
            Duration::from_millis(2_200)
        );
        // Jitter is capped at 500 ms: the next slot is 10 s + 2.2 + 1.5 s.
        assert_eq!(
            wait(l.pace(&limits, "s", 10_000, 0)),
            Duration::from_millis(3_700)
        );
        assert_eq!(wait(l.pace(&limits, "other", 10_000, 0)), Duration::ZERO);
        for _ in 0..26 {
            wait(l.pace(&limits, "s", 10_000, 0));
        }
        let refused = l.pace(&limits, "s", 10_000, 0);
        assert!(message(refused, &limits).contains("sending too fast"));
        assert!(retry_after(refused, &limits) > Duration::ZERO);
    }

    #[test]
    fn prune_forgets_idle_state() {
        let limits = Limits::default();
        let l = Limiter::new();
        l.acquire_send(&limits, "a", 0);
        l.acquire_verify(&limits, "b", 0);
        l.pace(&limits, "s", 0, 0);
        l.prune(&limits, 1);
        assert_eq!(l.tracked(), (2, 1));
        l.prune(&limits, 600_000);
        assert_eq!(l.tracked(), (0, 0));
    }

    #[test]
    fn no_limits_means_no_state() {
        let limits = Limits::none();
        let l = Limiter::new();
        for _ in 0..100 {
            assert_eq!(l.acquire_send(&limits, "a", 0), Admission::GO);
            assert_eq!(l.acquire_verify(&limits, "a", 0), Admission::GO);
            assert_eq!(l.pace(&limits, "s", 0, 0), Admission::GO);
        }
        assert_eq!(l.tracked(), (0, 0));
    }
}
