//! Whether a session's linked number can still deliver codes: WhatsApp
//! limits linked accounts on new chats (a reachout timelock, a quota per
//! cycle), bans them for a while, or removes the device. A code is a new
//! chat until the recipient has one with the number, so these limits are
//! the first reason codes stop arriving.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::time::unix_millis_opt;

/// Why new chats are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitReason {
    /// A reachout timelock: WhatsApp refuses messages to new contacts
    /// (nack 463) until it ends.
    Timelock,
    /// The quota of new chats for the cycle is spent (nack 475) until the
    /// cycle ends.
    Capped,
    /// The session's own budget of new chats per day is spent
    /// (`new_chats_per_day`).
    DailyBudget,
}

impl LimitReason {
    /// The reason's name in JSON and in the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::Timelock => "timelock",
            LimitReason::Capped => "capped",
            LimitReason::DailyBudget => "daily_budget",
        }
    }
}

/// What a session's linked number can do now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthState {
    /// Nothing known stands in the way.
    #[default]
    Ok,
    /// Messages to recipients without a chat are refused; chats the number
    /// already has still deliver.
    NewChatsLimited {
        /// When the limit ends, when WhatsApp said.
        #[serde(with = "unix_millis_opt", default)]
        until: Option<SystemTime>,
        /// Which limit.
        reason: LimitReason,
    },
    /// WhatsApp banned the account for a while: it cannot connect.
    Banned {
        /// When the ban ends.
        #[serde(with = "unix_millis_opt", default)]
        until: Option<SystemTime>,
    },
    /// The device was logged out or removed: it must be linked again.
    LoggedOut,
}

impl HealthState {
    /// The state's name in JSON and in the bindings (`ok`,
    /// `new_chats_limited`, `banned`, `logged_out`).
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthState::Ok => "ok",
            HealthState::NewChatsLimited { .. } => "new_chats_limited",
            HealthState::Banned { .. } => "banned",
            HealthState::LoggedOut => "logged_out",
        }
    }

    /// When the state ends by itself, if it does and WhatsApp said when.
    pub fn until(&self) -> Option<SystemTime> {
        match self {
            HealthState::NewChatsLimited { until, .. } | HealthState::Banned { until } => *until,
            _ => None,
        }
    }

    /// Why new chats are limited (`timelock`, `capped`, …); `None` in the
    /// other states.
    pub fn reason(&self) -> Option<LimitReason> {
        match self {
            HealthState::NewChatsLimited { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// The account's quota of new chats in the current cycle, as WhatsApp
/// reported it last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewChatQuota {
    /// New chats opened this cycle.
    pub used: u32,
    /// New chats allowed per cycle.
    pub total: u32,
    /// When the cycle ends (the quota is whole again).
    #[serde(with = "unix_millis_opt", default)]
    pub cycle_ends: Option<SystemTime>,
}

impl NewChatQuota {
    /// New chats left in this cycle.
    pub fn remaining(&self) -> u32 {
        self.total.saturating_sub(self.used)
    }
}

/// A session's health, in [`crate::SessionStatus::health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHealth {
    /// What the number can do now (flattened into the JSON object:
    /// `state`, and `until` / `reason` where they apply).
    #[serde(flatten)]
    pub state: HealthState,
    /// The new-chat quota, when WhatsApp has told it.
    pub quota: Option<NewChatQuota>,
    /// Messages WhatsApp refused over the last hour, by nack code
    /// (`"463"`, `"475"`, …).
    pub nacks_last_hour: BTreeMap<String, u32>,
}

impl Default for SessionHealth {
    fn default() -> Self {
        SessionHealth {
            state: HealthState::Ok,
            quota: None,
            nacks_last_hour: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn health_reads_back_as_written() {
        let health = SessionHealth {
            state: HealthState::NewChatsLimited {
                until: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)),
                reason: LimitReason::Timelock,
            },
            quota: Some(NewChatQuota {
                used: 4,
                total: 5,
                cycle_ends: None,
            }),
            nacks_last_hour: [("463".to_owned(), 2)].into(),
        };
        let json = serde_json::to_value(&health).unwrap();
        assert_eq!(json["state"], "new_chats_limited");
        assert_eq!(json["until"], 1_700_000_000_000u64);
        assert_eq!(json["reason"], "timelock");
        assert_eq!(json["quota"]["used"], 4);
        assert_eq!(json["nacks_last_hour"]["463"], 2);
        let back: SessionHealth = serde_json::from_value(json).unwrap();
        assert_eq!(back, health);
        assert_eq!(health.quota.unwrap().remaining(), 1);
        let ok = serde_json::to_value(SessionHealth::default()).unwrap();
        assert_eq!(ok["state"], "ok");
    }
}
