//! What WhatsApp refuses a linked account, per account: messages to new
//! chats beyond the account's quota for the cycle (nack `475`), messages to
//! new chats while a reachout timelock holds (nack `463`), and logins while
//! the account is temporarily banned.
//!
//! An OTP goes to someone who has not written first, so every code is a
//! new chat until the recipient has one with the account: these are the
//! limits a sender of codes meets first. The wire side (MEX notifications
//! and query answers) is in `mex.rs`; this file only decides.

use std::collections::{HashSet, VecDeque};

use serde::Serialize;

/// The enforcement WhatsApp names for a timelock that stops every linked
/// companion from starting new chats.
pub const RESTRICT_ALL_COMPANIONS: &str = "RESTRICT_ALL_COMPANIONS";

/// Share of the quota used at which the account enters the first warning.
const FIRST_WARNING_PERCENT: u64 = 50;
/// Share of the quota used at which the account enters the second warning.
const SECOND_WARNING_PERCENT: u64 = 80;

/// A quota of new chats per cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewChatQuota {
    /// New chats allowed per cycle.
    pub total: u32,
    /// Length of a cycle, in seconds (the first starts when the quota is set).
    pub cycle_secs: u64,
}

/// Starts a timelock by itself once the account opened `after_new_chats`
/// new chats within `window_secs` (WhatsApp's reaction to a burst of
/// messages to strangers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoTimelock {
    /// New chats within the window that trigger the timelock.
    pub after_new_chats: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// How long the timelock it starts lasts, in seconds.
    pub seconds: u64,
}

/// Where the account stands against its new-chat quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CappingStatus {
    /// Under the first warning threshold.
    None,
    /// Half of the quota used.
    FirstWarning,
    /// Four fifths of the quota used.
    SecondWarning,
    /// The quota is spent: new chats are refused until the cycle ends.
    Capped,
}

impl CappingStatus {
    fn of(used: u32, total: u32) -> CappingStatus {
        let (used, total) = (u64::from(used), u64::from(total));
        if used >= total {
            CappingStatus::Capped
        } else if used * 100 >= total * SECOND_WARNING_PERCENT {
            CappingStatus::SecondWarning
        } else if used * 100 >= total * FIRST_WARNING_PERCENT {
            CappingStatus::FirstWarning
        } else {
            CappingStatus::None
        }
    }

    /// The status as WhatsApp spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CappingStatus::None => "NONE",
            CappingStatus::FirstWarning => "FIRST_WARNING",
            CappingStatus::SecondWarning => "SECOND_WARNING",
            CappingStatus::Capped => "CAPPED",
        }
    }
}

/// The account's quota in the current cycle, as the capping notification
/// and the capping query report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CappingInfo {
    /// Where the account stands.
    pub status: CappingStatus,
    /// New chats opened this cycle.
    pub used: u32,
    /// New chats allowed per cycle.
    pub total: u32,
    /// Unix seconds the cycle started.
    pub cycle_start: i64,
    /// Unix seconds the cycle ends (the quota is whole again).
    pub cycle_end: i64,
}

/// A reachout timelock, as the timelock notification and query report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelockInfo {
    /// Whether new chats are refused now.
    pub is_active: bool,
    /// Unix seconds it ends (absent when inactive).
    pub ends_at: Option<i64>,
    /// What it restricts (e.g. `RESTRICT_ALL_COMPANIONS`).
    pub enforcement: Option<String>,
}

/// A temporary ban: logins are refused with `<failure reason="402">`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ban {
    /// Unix seconds it ends.
    pub ends_at: i64,
    /// The ban's sub-reason code (`code` on the failure).
    pub code: u32,
}

#[derive(Debug, Clone)]
struct Cycle {
    quota: NewChatQuota,
    used: u32,
    start: i64,
}

impl Cycle {
    fn end(&self) -> i64 {
        self.start
            .saturating_add(i64::try_from(self.quota.cycle_secs).unwrap_or(i64::MAX))
    }

    /// Starts a fresh cycle if the current one is over; true if it did.
    fn roll(&mut self, now: i64) -> bool {
        if now < self.end() {
            return false;
        }
        let len = i64::try_from(self.quota.cycle_secs.max(1)).unwrap_or(i64::MAX);
        // Cycles keep their rhythm: the new one starts where the schedule
        // says, not when a message next happened to come by.
        self.start += (now - self.start) / len * len;
        self.used = 0;
        true
    }

    fn info(&self) -> CappingInfo {
        CappingInfo {
            status: CappingStatus::of(self.used, self.quota.total),
            used: self.used,
            total: self.quota.total,
            cycle_start: self.start,
            cycle_end: self.end(),
        }
    }
}

#[derive(Debug, Clone)]
struct Timelock {
    ends_at: i64,
    enforcement: String,
}

/// What an account is allowed, and what it has used.
#[derive(Debug, Default)]
pub struct AccountLimits {
    /// Numbers the account has a chat with: messages to them are never
    /// limited.
    chats: HashSet<String>,
    cycle: Option<Cycle>,
    timelock: Option<Timelock>,
    /// Bumped at every timelock change, so that the task that ends one
    /// does not end its successor.
    timelock_generation: u64,
    auto_timelock: Option<AutoTimelock>,
    /// Unix seconds of the new chats inside the auto-timelock window.
    recent_new_chats: VecDeque<i64>,
    ban: Option<Ban>,
}

/// The decision on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Refuse it with this nack code.
    Nack(&'static str),
}

/// Nack code for a message to a new chat during a reachout timelock.
pub const NACK_TIMELOCKED: &str = "463";
/// Nack code for a message to a new chat past the quota
/// (`NackReason::NewChatMessagesCapped`).
pub const NACK_CAPPED: &str = "475";

/// A decision and what the account's companions must be told because of it.
#[derive(Debug)]
pub struct Admission {
    /// Deliver or refuse.
    pub verdict: Verdict,
    /// The quota's new state, when its status changed.
    pub capping_changed: Option<CappingInfo>,
    /// A timelock this message started (auto timelock), with its generation.
    pub timelock_started: Option<(TimelockInfo, u64)>,
}

impl AccountLimits {
    /// Decides on a message to `to` at `now` (unix seconds), recording the
    /// new chat it opens if it passes.
    pub fn admit(&mut self, to: &str, now: i64) -> Admission {
        let mut admission = Admission {
            verdict: Verdict::Pass,
            capping_changed: None,
            timelock_started: None,
        };
        if self.chats.contains(to) {
            return admission;
        }
        let rolled = self.cycle.as_mut().is_some_and(|c| c.roll(now));
        if rolled {
            admission.capping_changed = self.capping(now);
        }
        if self.timelock(now).is_active {
            admission.verdict = Verdict::Nack(NACK_TIMELOCKED);
            return admission;
        }
        if let Some(cycle) = &mut self.cycle {
            if cycle.used >= cycle.quota.total {
                admission.verdict = Verdict::Nack(NACK_CAPPED);
                return admission;
            }
            let before = CappingStatus::of(cycle.used, cycle.quota.total);
            cycle.used += 1;
            if CappingStatus::of(cycle.used, cycle.quota.total) != before {
                admission.capping_changed = Some(cycle.info());
            }
        }
        self.chats.insert(to.to_owned());
        if let Some(auto) = self.auto_timelock {
            let window = i64::try_from(auto.window_secs).unwrap_or(i64::MAX);
            self.recent_new_chats.push_back(now);
            while self
                .recent_new_chats
                .front()
                .is_some_and(|t| now.saturating_sub(*t) >= window)
            {
                self.recent_new_chats.pop_front();
            }
            if self.recent_new_chats.len() >= auto.after_new_chats as usize {
                self.recent_new_chats.clear();
                let generation = self.set_timelock(auto.seconds, RESTRICT_ALL_COMPANIONS, now);
                admission.timelock_started = Some((self.timelock(now), generation));
            }
        }
        admission
    }

    /// Records a chat the account has with `number` (either side wrote).
    pub fn add_chat(&mut self, number: &str) {
        self.chats.insert(number.to_owned());
    }

    /// Whether the account has a chat with `number`.
    pub fn has_chat(&self, number: &str) -> bool {
        self.chats.contains(number)
    }

    /// Sets (or with `None` removes) the quota; a new cycle starts `now`.
    pub fn set_quota(&mut self, quota: Option<NewChatQuota>, now: i64) -> Option<CappingInfo> {
        self.cycle = quota.map(|quota| Cycle {
            quota,
            used: 0,
            start: now,
        });
        self.capping(now)
    }

    /// Sets (or with `None` removes) the automatic timelock.
    pub fn set_auto_timelock(&mut self, auto: Option<AutoTimelock>) {
        self.auto_timelock = auto;
        self.recent_new_chats.clear();
    }

    /// The quota's state now, if the account has one.
    pub fn capping(&mut self, now: i64) -> Option<CappingInfo> {
        let cycle = self.cycle.as_mut()?;
        cycle.roll(now);
        Some(cycle.info())
    }

    /// Starts a timelock of `seconds` (0 lifts one); returns its generation.
    pub fn set_timelock(&mut self, seconds: u64, enforcement: &str, now: i64) -> u64 {
        self.timelock_generation += 1;
        self.timelock = (seconds > 0).then(|| Timelock {
            ends_at: now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
            enforcement: enforcement.to_owned(),
        });
        self.timelock_generation
    }

    /// Ends the timelock of `generation` if it is still the current one;
    /// true if it did.
    pub fn end_timelock(&mut self, generation: u64) -> bool {
        if generation != self.timelock_generation || self.timelock.is_none() {
            return false;
        }
        self.timelock = None;
        true
    }

    /// The timelock's state at `now`.
    pub fn timelock(&self, now: i64) -> TimelockInfo {
        match &self.timelock {
            Some(t) if t.ends_at > now => TimelockInfo {
                is_active: true,
                ends_at: Some(t.ends_at),
                enforcement: Some(t.enforcement.clone()),
            },
            _ => TimelockInfo {
                is_active: false,
                ends_at: None,
                enforcement: None,
            },
        }
    }

    /// Bans the account for `seconds` (0 lifts a ban).
    pub fn set_ban(&mut self, seconds: u64, code: u32, now: i64) {
        self.ban = (seconds > 0).then(|| Ban {
            ends_at: now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
            code,
        });
    }

    /// The ban in force at `now`, if any.
    pub fn ban(&self, now: i64) -> Option<Ban> {
        self.ban.clone().filter(|b| b.ends_at > now)
    }

    /// Everything at `now`, for the control API.
    pub fn snapshot(&mut self, now: i64) -> LimitsSnapshot {
        let mut chats: Vec<String> = self.chats.iter().cloned().collect();
        chats.sort();
        LimitsSnapshot {
            chats,
            capping: self.capping(now),
            timelock: self.timelock(now),
            ban: self.ban(now),
        }
    }
}

/// An account's limits as `GET /accounts/{phone}/limits` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitsSnapshot {
    /// Numbers the account has a chat with, sorted.
    pub chats: Vec<String>,
    /// The quota, if one is set.
    pub capping: Option<CappingInfo>,
    /// The timelock.
    pub timelock: TimelockInfo,
    /// The ban in force, if any.
    pub ban: Option<Ban>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    #[test]
    fn a_quota_warns_then_caps_new_chats_but_not_known_ones() {
        let mut l = AccountLimits::default();
        let info = l
            .set_quota(
                Some(NewChatQuota {
                    total: 5,
                    cycle_secs: 3600,
                }),
                T0,
            )
            .unwrap();
        assert_eq!(
            (info.status, info.used, info.cycle_end),
            (CappingStatus::None, 0, T0 + 3600)
        );
        let statuses: Vec<_> = (0..5)
            .map(|i| {
                let a = l.admit(&format!("62800{i}"), T0);
                assert_eq!(a.verdict, Verdict::Pass);
                a.capping_changed.map(|c| c.status)
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                None,
                None,
                Some(CappingStatus::FirstWarning),
                Some(CappingStatus::SecondWarning),
                Some(CappingStatus::Capped)
            ]
        );
        assert_eq!(l.admit("628009", T0).verdict, Verdict::Nack(NACK_CAPPED));
        assert_eq!(l.admit("628000", T0).verdict, Verdict::Pass, "a known chat");
        // The next cycle makes the quota whole again, and says so.
        let next = l.admit("628009", T0 + 3600);
        assert_eq!(next.verdict, Verdict::Pass);
        let info = next.capping_changed.unwrap();
        assert_eq!((info.cycle_start, info.used), (T0 + 3600, 0));
        assert_eq!(l.capping(T0 + 3601).unwrap().used, 1);
    }

    #[test]
    fn a_timelock_refuses_new_chats_until_it_ends() {
        let mut l = AccountLimits::default();
        l.add_chat("628001");
        let generation = l.set_timelock(60, RESTRICT_ALL_COMPANIONS, T0);
        assert_eq!(
            l.admit("628002", T0).verdict,
            Verdict::Nack(NACK_TIMELOCKED)
        );
        assert_eq!(l.admit("628001", T0).verdict, Verdict::Pass);
        let info = l.timelock(T0);
        assert_eq!((info.is_active, info.ends_at), (true, Some(T0 + 60)));
        assert_eq!(l.admit("628002", T0 + 60).verdict, Verdict::Pass);
        assert!(!l.end_timelock(generation + 1), "a stale generation");
        assert!(l.end_timelock(generation));
        assert!(!l.timelock(T0).is_active);
    }

    #[test]
    fn a_burst_of_new_chats_starts_the_auto_timelock() {
        let mut l = AccountLimits::default();
        l.set_auto_timelock(Some(AutoTimelock {
            after_new_chats: 3,
            window_secs: 10,
            seconds: 30,
        }));
        assert!(l.admit("628001", T0).timelock_started.is_none());
        // Outside the window: the first one no longer counts.
        assert!(l.admit("628002", T0 + 10).timelock_started.is_none());
        assert!(l.admit("628003", T0 + 11).timelock_started.is_none());
        let started = l.admit("628004", T0 + 12).timelock_started.unwrap().0;
        assert_eq!(started.ends_at, Some(T0 + 42));
        assert_eq!(
            l.admit("628005", T0 + 13).verdict,
            Verdict::Nack(NACK_TIMELOCKED)
        );
    }

    #[test]
    fn a_ban_lasts_its_time() {
        let mut l = AccountLimits::default();
        l.set_ban(100, 101, T0);
        assert_eq!(l.ban(T0 + 99).map(|b| b.code), Some(101));
        assert_eq!(l.ban(T0 + 100), None);
    }
}
