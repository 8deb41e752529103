//! A sender pool: several linked numbers behind one send, and which of them
//! should carry the next code.
//!
//! WhatsApp limits each number on new chats; a deployment with several
//! numbers can keep codes flowing by sending each one through a number that
//! can still deliver it. The order, best first:
//!
//! 1. **Sticky**: the number that sent the recipient's previous code (the
//!    user keeps getting codes from the same number, and that number has a
//!    chat with them, so no limit on new chats applies).
//! 2. Healthy numbers (no limit known), the one with the most new-chat
//!    quota left first (unknown counts as plenty), then the one used least
//!    recently.
//!
//! Numbers that are not connected, or are limited for new chats, banned or
//! logged out, are left out (the sticky one only if it is not connected:
//! its chat with the recipient passes any limit on new chats). The gateway
//! tries them in this order and fails over to the next on a refusal.
//!
//! Imports only from [`crate::model`] and [`crate::platform`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::model::{HealthState, SessionHealth, SessionState};
use crate::platform::sync::lock;

/// The sessions a pool send may use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderPool {
    /// Every session of the gateway.
    All,
    /// These sessions (ids), in no particular order: the pool orders them.
    Sessions(Vec<String>),
}

impl SenderPool {
    /// A pool of the given session ids.
    pub fn of<I, S>(ids: I) -> SenderPool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SenderPool::Sessions(ids.into_iter().map(Into::into).collect())
    }
}

/// What a binding's optional list means: no list, every session; a list,
/// those sessions (an empty one is refused when the pool is used).
impl From<Option<Vec<String>>> for SenderPool {
    fn from(ids: Option<Vec<String>>) -> SenderPool {
        match ids {
            None => SenderPool::All,
            Some(ids) => SenderPool::Sessions(ids),
        }
    }
}

/// What the pool knows of one session when it chooses.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Session id.
    pub(crate) id: String,
    /// Its state.
    pub(crate) state: SessionState,
    /// What WhatsApp lets its number do.
    pub(crate) health: SessionHealth,
}

/// A session the pool left out, and until when (when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeftOut {
    /// Session id.
    pub(crate) id: String,
    /// Why: `not_connected`, or the health state's name.
    pub(crate) why: &'static str,
    /// When it could deliver again, if known.
    pub(crate) until: Option<SystemTime>,
}

/// The pool's choice: the sessions to try, best first, and those left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    /// Sessions to try, in order.
    pub(crate) order: Vec<String>,
    /// Sessions left out.
    pub(crate) left_out: Vec<LeftOut>,
}

/// When each session last carried a pool send, for "least recently used".
#[derive(Debug, Default)]
pub(crate) struct LastUsed {
    at: Mutex<HashMap<String, Instant>>,
}

impl LastUsed {
    /// Records that `session` carries a send now.
    pub(crate) fn touch(&self, session: &str) {
        lock(&self.at).insert(session.to_owned(), Instant::now());
    }

    fn get(&self, session: &str) -> Option<Instant> {
        lock(&self.at).get(session).copied()
    }

    /// Forgets a deleted session.
    pub(crate) fn forget(&self, session: &str) {
        lock(&self.at).remove(session);
    }
}

/// Orders `candidates` for a code to a recipient whose previous code went
/// through `sticky` (if any).
pub(crate) fn choose(
    candidates: &[Candidate],
    sticky: Option<&str>,
    last_used: &LastUsed,
) -> Choice {
    let mut left_out = Vec::new();
    let mut healthy: Vec<(&Candidate, u32, Option<Instant>)> = Vec::new();
    let mut first = None;
    for c in candidates {
        if c.state != SessionState::Connected {
            left_out.push(LeftOut {
                id: c.id.clone(),
                why: "not_connected",
                until: None,
            });
            continue;
        }
        if sticky == Some(c.id.as_str()) {
            first = Some(c.id.clone());
            continue;
        }
        match &c.health.state {
            HealthState::Ok => {
                let quota_left = c.health.quota.as_ref().map_or(u32::MAX, |q| q.remaining());
                healthy.push((c, quota_left, last_used.get(&c.id)));
            }
            other => left_out.push(LeftOut {
                id: c.id.clone(),
                why: other.as_str(),
                until: other.until(),
            }),
        }
    }
    // Most quota left first; then never used, then used longest ago.
    healthy.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.id.cmp(&b.0.id)));
    let order = first
        .into_iter()
        .chain(healthy.into_iter().map(|(c, ..)| c.id.clone()))
        .collect();
    Choice { order, left_out }
}

/// Orders `candidates` to receive a message the user sends (an inbound
/// verification): connected numbers that are not banned or logged out,
/// `sticky` first (the number the user already has a chat with), then the
/// one used least recently. A number limited on new chats receives as well
/// as any: a user writing to it opens no new chat on its side.
pub(crate) fn choose_receiver(
    candidates: &[Candidate],
    sticky: Option<&str>,
    last_used: &LastUsed,
) -> Vec<String> {
    let mut able: Vec<(&Candidate, Option<Instant>)> = candidates
        .iter()
        .filter(|c| c.state == SessionState::Connected)
        .filter(|c| {
            matches!(
                c.health.state,
                HealthState::Ok | HealthState::NewChatsLimited { .. }
            )
        })
        .map(|c| (c, last_used.get(&c.id)))
        .collect();
    able.sort_by(|a, b| {
        let a_sticky = sticky == Some(a.0.id.as_str());
        let b_sticky = sticky == Some(b.0.id.as_str());
        b_sticky
            .cmp(&a_sticky)
            .then(a.1.cmp(&b.1))
            .then(a.0.id.cmp(&b.0.id))
    });
    able.into_iter().map(|(c, _)| c.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LimitReason, NewChatQuota};
    use std::time::{Duration, UNIX_EPOCH};

    fn candidate(
        id: &str,
        state: SessionState,
        health: HealthState,
        quota: Option<(u32, u32)>,
    ) -> Candidate {
        Candidate {
            id: id.into(),
            state,
            health: SessionHealth {
                state: health,
                quota: quota.map(|(used, total)| NewChatQuota {
                    used,
                    total,
                    cycle_ends: None,
                }),
                nacks_last_hour: Default::default(),
            },
        }
    }

    #[test]
    fn sticky_first_then_most_quota_then_least_recently_used() {
        let used = LastUsed::default();
        let until = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let limited = HealthState::NewChatsLimited {
            until: Some(until),
            reason: LimitReason::Timelock,
        };
        let candidates = [
            candidate("a", SessionState::Connected, HealthState::Ok, Some((4, 5))),
            candidate("b", SessionState::Connected, HealthState::Ok, Some((1, 5))),
            candidate("c", SessionState::Connected, HealthState::Ok, None),
            candidate("d", SessionState::Reconnecting, HealthState::Ok, None),
            candidate("e", SessionState::Connected, limited.clone(), None),
            candidate("f", SessionState::Connected, limited.clone(), None),
        ];
        let choice = choose(&candidates, Some("f"), &used);
        assert_eq!(choice.order, vec!["f", "c", "b", "a"]);
        assert_eq!(
            choice.left_out,
            vec![
                LeftOut {
                    id: "d".into(),
                    why: "not_connected",
                    until: None
                },
                LeftOut {
                    id: "e".into(),
                    why: "new_chats_limited",
                    until: Some(until)
                },
            ]
        );
        // Equal quota: the one never used, then the one used longest ago.
        let even = [
            candidate("x", SessionState::Connected, HealthState::Ok, Some((0, 5))),
            candidate("y", SessionState::Connected, HealthState::Ok, Some((0, 5))),
            candidate("z", SessionState::Connected, HealthState::Ok, Some((0, 5))),
        ];
        used.touch("x");
        used.touch("y");
        assert_eq!(choose(&even, None, &used).order, vec!["z", "x", "y"]);
        used.touch("z");
        used.forget("x");
        assert_eq!(choose(&even, None, &used).order, vec!["x", "y", "z"]);
        assert!(choose(&[], None, &used).order.is_empty());
    }

    #[test]
    fn a_receiver_may_be_limited_on_new_chats_but_not_banned_or_away() {
        let used = LastUsed::default();
        let limited = HealthState::NewChatsLimited {
            until: None,
            reason: LimitReason::Capped,
        };
        let candidates = [
            candidate("a", SessionState::Connected, HealthState::Ok, None),
            candidate("b", SessionState::Connected, limited, None),
            candidate("c", SessionState::Reconnecting, HealthState::Ok, None),
            candidate(
                "d",
                SessionState::Connected,
                HealthState::Banned { until: None },
                None,
            ),
            candidate("e", SessionState::Connected, HealthState::LoggedOut, None),
        ];
        used.touch("a");
        assert_eq!(choose_receiver(&candidates, None, &used), vec!["b", "a"]);
        assert_eq!(
            choose_receiver(&candidates, Some("a"), &used),
            vec!["a", "b"]
        );
        assert_eq!(
            choose_receiver(&candidates, Some("c"), &used),
            vec!["b", "a"]
        );
    }
}
