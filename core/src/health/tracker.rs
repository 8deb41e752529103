//! One session's health, kept from what WhatsApp says (see `signals.rs`):
//! each limit is remembered with its end, and the state shown is the
//! strongest one still in force, so a limit lifts by itself when its time
//! is up even if WhatsApp never says so.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::model::{HealthState, LimitReason, NewChatQuota, SessionHealth};
use crate::platform::sync::lock;

use super::signals::Signal;

/// How long nacks are counted in [`SessionHealth::nacks_last_hour`].
const NACK_WINDOW: Duration = Duration::from_secs(3600);
/// The end assumed for a timelock whose end WhatsApp did not give (463
/// before the query answers, or a notification without one), as WhatsApp
/// Web assumes: a minute, then the next message finds out again.
const TIMELOCK_WITHOUT_END: Duration = Duration::from_secs(60);
/// The end assumed for a spent quota whose cycle end is unknown.
const CAPPED_WITHOUT_END: Duration = Duration::from_secs(3600);
/// Recipients remembered as having a chat with the number, newest kept.
const KNOWN_CONTACTS_MAX: usize = 100_000;

/// Why a message to a new chat is refused now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Which limit.
    pub(crate) reason: LimitReason,
    /// When it ends, if known.
    pub(crate) until: Option<SystemTime>,
}

/// The limits WhatsApp put on the number, each with its end.
#[derive(Debug, Default)]
struct Limits {
    logged_out: bool,
    banned_until: Option<SystemTime>,
    timelock_until: Option<SystemTime>,
    capped_until: Option<SystemTime>,
    quota: Option<NewChatQuota>,
}

impl Limits {
    /// The strongest limit still in force at `now`; forgets ended ones.
    fn state(&mut self, now: SystemTime) -> HealthState {
        let in_force = |until: &mut Option<SystemTime>| {
            if until.is_some_and(|t| t <= now) {
                *until = None;
            }
            *until
        };
        if self.logged_out {
            return HealthState::LoggedOut;
        }
        if let Some(until) = in_force(&mut self.banned_until) {
            return HealthState::Banned { until: Some(until) };
        }
        if let Some(until) = in_force(&mut self.timelock_until) {
            return HealthState::NewChatsLimited {
                until: Some(until),
                reason: LimitReason::Timelock,
            };
        }
        if let Some(until) = in_force(&mut self.capped_until) {
            return HealthState::NewChatsLimited {
                until: Some(until),
                reason: LimitReason::Capped,
            };
        }
        HealthState::Ok
    }
}

/// Recipients the number has a chat with: messages to them are never
/// limited. Bounded: past [`KNOWN_CONTACTS_MAX`] the oldest is forgotten
/// (a forgotten one is only treated as new again).
#[derive(Debug, Default)]
struct KnownContacts {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl KnownContacts {
    fn insert(&mut self, phone: &str) -> bool {
        if self.set.contains(phone) {
            return false;
        }
        self.set.insert(phone.to_owned());
        self.order.push_back(phone.to_owned());
        if self.order.len() > KNOWN_CONTACTS_MAX
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}

#[derive(Debug, Default)]
struct Inner {
    limits: Limits,
    nacks: VecDeque<(SystemTime, String)>,
    known: KnownContacts,
    /// The state and quota last reported as a change (at first: ok, no
    /// quota), so that a limit that lapses by itself is a change too, once.
    announced: (HealthState, Option<NewChatQuota>),
    /// New chats admitted since WhatsApp last reported the quota: counted
    /// against it here, so that the last unit is not spent twice while
    /// WhatsApp's next report is on its way. (At most the quota's size.)
    counted: HashSet<String>,
}

impl Inner {
    /// The health at `now`, and whether its state or quota differs from
    /// what was last reported (then it is reported now).
    fn report(&mut self, now: SystemTime) -> (SessionHealth, bool) {
        let health = self.snapshot(now);
        let current = (health.state.clone(), health.quota.clone());
        let changed = self.announced != current;
        self.announced = current;
        (health, changed)
    }

    fn snapshot(&mut self, now: SystemTime) -> SessionHealth {
        while self
            .nacks
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at).is_ok_and(|d| d >= NACK_WINDOW))
        {
            self.nacks.pop_front();
        }
        let mut nacks_last_hour = BTreeMap::new();
        for (_, code) in &self.nacks {
            *nacks_last_hour.entry(code.clone()).or_insert(0) += 1;
        }
        SessionHealth {
            state: self.limits.state(now),
            quota: self.limits.quota.clone(),
            nacks_last_hour,
        }
    }
}

/// A session's health and the recipients its number has a chat with.
#[derive(Debug, Default)]
pub(crate) struct HealthTracker {
    inner: Mutex<Inner>,
}

impl HealthTracker {
    /// Takes in what WhatsApp said at `now`. Returns the health after it,
    /// and whether its state or quota changed (the nack counts change on
    /// every nack and do not count as a change).
    pub(crate) fn apply(&self, signal: Signal, now: SystemTime) -> (SessionHealth, bool) {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let limits = &mut inner.limits;
        match signal {
            Signal::Nack(code) => {
                match code.as_str() {
                    super::signals::NACK_TIMELOCKED if limits.timelock_until.is_none() => {
                        limits.timelock_until = Some(now + TIMELOCK_WITHOUT_END);
                    }
                    super::signals::NACK_CAPPED => {
                        let cycle_end = limits
                            .quota
                            .as_ref()
                            .and_then(|q| q.cycle_ends)
                            .filter(|end| *end > now);
                        limits.capped_until = Some(cycle_end.unwrap_or(now + CAPPED_WITHOUT_END));
                    }
                    _ => {}
                }
                inner.nacks.push_back((now, code));
            }
            Signal::Timelock { active, ends } => {
                limits.timelock_until = active.then(|| {
                    ends.filter(|end| *end > now)
                        .unwrap_or(now + TIMELOCK_WITHOUT_END)
                });
            }
            Signal::Capping {
                capped,
                used,
                total,
                cycle_ends,
            } => {
                if let (Some(used), Some(total)) = (used, total) {
                    limits.quota = Some(NewChatQuota {
                        used,
                        total,
                        cycle_ends,
                    });
                    // WhatsApp's own count replaces the estimate.
                    inner.counted.clear();
                }
                limits.capped_until = capped.then(|| {
                    cycle_ends
                        .filter(|end| *end > now)
                        .unwrap_or(now + CAPPED_WITHOUT_END)
                });
            }
            Signal::Banned { until } => limits.banned_until = Some(until),
            Signal::LoggedOut => limits.logged_out = true,
            Signal::Connected => {
                // Logged in: whatever ban or logout was known is over.
                limits.logged_out = false;
                limits.banned_until = None;
            }
        }
        inner.report(now)
    }

    /// The health at `now`, and whether it changed since last reported
    /// without a word from WhatsApp (a limit whose time is up).
    pub(crate) fn recheck(&self, now: SystemTime) -> (SessionHealth, bool) {
        lock(&self.inner).report(now)
    }

    /// The health at `now` (limits whose time is up are gone).
    pub(crate) fn snapshot(&self, now: SystemTime) -> SessionHealth {
        lock(&self.inner).snapshot(now)
    }

    /// Whether a message to `to` may go at `now`: recipients with a chat
    /// always may; new chats not while new chats are limited. A new chat
    /// that may go uses a unit of the known quota (once per recipient): the
    /// one that spends it limits new chats until the cycle ends, before
    /// WhatsApp has to say so with a nack.
    pub(crate) fn admit(&self, to: &str, now: SystemTime) -> Result<(), Refusal> {
        let mut inner = lock(&self.inner);
        if inner.known.set.contains(to) {
            return Ok(());
        }
        if let HealthState::NewChatsLimited { until, reason } = inner.limits.state(now) {
            return Err(Refusal { reason, until });
        }
        let inner = &mut *inner;
        if let Some(quota) = &mut inner.limits.quota
            && inner.counted.insert(to.to_owned())
        {
            quota.used = quota.used.saturating_add(1);
            if quota.used >= quota.total {
                let cycle_end = quota.cycle_ends.filter(|end| *end > now);
                inner.limits.capped_until = Some(cycle_end.unwrap_or(now + CAPPED_WITHOUT_END));
            }
        }
        Ok(())
    }

    /// Whether the number has a chat with `phone`, as this process knows.
    pub(crate) fn is_known_contact(&self, phone: &str) -> bool {
        lock(&self.inner).known.set.contains(phone)
    }

    /// Records that the number has a chat with `phone` (a message to it was
    /// delivered, or it wrote); true if it is new.
    pub(crate) fn add_known_contact(&self, phone: &str) -> bool {
        lock(&self.inner).known.insert(phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn a_timelock_limits_new_chats_until_it_ends_and_known_ones_pass() {
        let h = HealthTracker::default();
        h.add_known_contact("628001");
        let (health, changed) = h.apply(
            Signal::Timelock {
                active: true,
                ends: Some(t(100)),
            },
            t(0),
        );
        assert!(changed);
        assert_eq!(
            health.state,
            HealthState::NewChatsLimited {
                until: Some(t(100)),
                reason: LimitReason::Timelock
            }
        );
        assert_eq!(
            h.admit("628002", t(1)),
            Err(Refusal {
                reason: LimitReason::Timelock,
                until: Some(t(100))
            })
        );
        assert_eq!(h.admit("628001", t(1)), Ok(()));
        // Its time up, it lifts by itself, and that is a change once.
        assert_eq!(h.admit("628002", t(100)), Ok(()));
        assert_eq!(h.recheck(t(100)), (h.snapshot(t(100)), true));
        assert_eq!(h.snapshot(t(100)).state, HealthState::Ok);
        assert!(!h.recheck(t(101)).1);
        let (_, changed) = h.apply(
            Signal::Timelock {
                active: false,
                ends: None,
            },
            t(102),
        );
        assert!(!changed, "WhatsApp's word on what already lapsed");
    }

    #[test]
    fn a_463_limits_for_a_minute_until_the_query_says_more() {
        let h = HealthTracker::default();
        let (health, changed) = h.apply(Signal::Nack("463".into()), t(0));
        assert!(changed);
        assert_eq!(health.state.until(), Some(t(60)));
        assert_eq!(health.nacks_last_hour.get("463"), Some(&1));
        // The query says there is no timelock (a missing privacy token).
        let (health, changed) = h.apply(
            Signal::Timelock {
                active: false,
                ends: None,
            },
            t(1),
        );
        assert!(changed);
        assert_eq!(health.state, HealthState::Ok);
        assert_eq!(health.nacks_last_hour.get("463"), Some(&1), "still counted");
        assert!(h.snapshot(t(3600)).nacks_last_hour.is_empty(), "an hour on");
    }

    #[test]
    fn a_spent_quota_limits_until_the_cycle_ends() {
        let h = HealthTracker::default();
        let (health, changed) = h.apply(
            Signal::Capping {
                capped: false,
                used: Some(4),
                total: Some(5),
                cycle_ends: Some(t(500)),
            },
            t(0),
        );
        assert!(changed, "the quota became known");
        assert_eq!(health.state, HealthState::Ok);
        assert_eq!(health.quota.as_ref().map(NewChatQuota::remaining), Some(1));
        let (health, _) = h.apply(Signal::Nack("475".into()), t(10));
        assert_eq!(
            health.state,
            HealthState::NewChatsLimited {
                until: Some(t(500)),
                reason: LimitReason::Capped
            }
        );
        assert!(h.admit("628009", t(499)).is_err());
        assert!(h.admit("628009", t(500)).is_ok());
    }

    #[test]
    fn the_last_unit_of_a_quota_limits_before_whatsapp_says_so() {
        let h = HealthTracker::default();
        h.apply(
            Signal::Capping {
                capped: false,
                used: Some(3),
                total: Some(5),
                cycle_ends: Some(t(500)),
            },
            t(0),
        );
        assert!(h.admit("628001", t(1)).is_ok());
        assert!(h.admit("628001", t(1)).is_ok(), "one recipient counts once");
        assert_eq!(h.snapshot(t(1)).quota.map(|q| q.used), Some(4));
        assert!(h.admit("628002", t(2)).is_ok(), "the last unit");
        assert_eq!(
            h.admit("628003", t(3)),
            Err(Refusal {
                reason: LimitReason::Capped,
                until: Some(t(500))
            })
        );
        // WhatsApp's report replaces the estimate.
        h.apply(
            Signal::Capping {
                capped: false,
                used: Some(0),
                total: Some(5),
                cycle_ends: Some(t(1000)),
            },
            t(4),
        );
        assert!(h.admit("628003", t(5)).is_ok());
    }

    #[test]
    fn a_ban_and_a_logout_outrank_limits_and_a_login_clears_them() {
        let h = HealthTracker::default();
        h.apply(Signal::Nack("463".into()), t(0));
        let (health, _) = h.apply(Signal::Banned { until: t(600) }, t(0));
        assert_eq!(
            health.state,
            HealthState::Banned {
                until: Some(t(600))
            }
        );
        let (health, _) = h.apply(Signal::LoggedOut, t(1));
        assert_eq!(health.state, HealthState::LoggedOut);
        let (health, changed) = h.apply(Signal::Connected, t(2));
        assert!(changed);
        assert_eq!(
            health.state.as_str(),
            "new_chats_limited",
            "the timelock is still on"
        );
        // A ban or logout does not refuse a send by itself here: the
        // session is not connected then, and the send fails for that.
        assert!(h.admit("628002", t(2)).is_err());
    }

    #[test]
    fn known_contacts_are_bounded_oldest_out() {
        let mut k = KnownContacts::default();
        for i in 0..=KNOWN_CONTACTS_MAX {
            k.insert(&format!("62{i:010}"));
        }
        assert_eq!(k.set.len(), KNOWN_CONTACTS_MAX);
        assert!(!k.set.contains("620000000000"));
        assert!(
            !k.insert(&format!("62{KNOWN_CONTACTS_MAX:010}")),
            "already known"
        );
    }
}
