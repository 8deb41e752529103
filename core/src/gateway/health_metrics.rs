//! Each session's health as Prometheus gauges, appended to the statistics
//! (`Gateway::stats_prometheus`): the state (one series per state, 1 for
//! the current one), the new-chat quota left when known, and nacks over
//! the last hour by code.

use std::fmt::Write as _;

use crate::model::SessionStatus;

/// Every health state, in the order the gauges list them.
const STATES: [&str; 4] = ["ok", "new_chats_limited", "banned", "logged_out"];

/// The gauges for `sessions`, in the text exposition format. Session ids
/// are `[A-Za-z0-9_-]`, so they need no escaping in a label.
pub(super) fn health_gauges(sessions: &[SessionStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP waotp_session_health What WhatsApp lets the session's number do (1 for its current state).\n\
         # TYPE waotp_session_health gauge"
    );
    for s in sessions {
        let current = s.health.state.as_str();
        for state in STATES {
            let on = u8::from(state == current);
            let _ = writeln!(
                out,
                "waotp_session_health{{session=\"{}\",state=\"{state}\"}} {on}",
                s.id
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP waotp_new_chat_quota_remaining New chats the session's number may still open this cycle (when WhatsApp said).\n\
         # TYPE waotp_new_chat_quota_remaining gauge"
    );
    for s in sessions {
        if let Some(quota) = &s.health.quota {
            let _ = writeln!(
                out,
                "waotp_new_chat_quota_remaining{{session=\"{}\"}} {}",
                s.id,
                quota.remaining()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP waotp_session_nacks_last_hour Messages WhatsApp refused over the last hour, by nack code.\n\
         # TYPE waotp_session_nacks_last_hour gauge"
    );
    for s in sessions {
        for (code, count) in &s.health.nacks_last_hour {
            let _ = writeln!(
                out,
                "waotp_session_nacks_last_hour{{session=\"{}\",code=\"{code}\"}} {count}",
                s.id
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HealthState, LimitReason, NewChatQuota};

    #[test]
    fn one_series_per_state_the_quota_and_the_nacks() {
        let mut s = SessionStatus::new("shop");
        s.health.state = HealthState::NewChatsLimited {
            until: None,
            reason: LimitReason::Capped,
        };
        s.health.quota = Some(NewChatQuota {
            used: 5,
            total: 5,
            cycle_ends: None,
        });
        s.health.nacks_last_hour.insert("475".into(), 2);
        let text = health_gauges(&[s, SessionStatus::new("other")]);
        for line in [
            "waotp_session_health{session=\"shop\",state=\"new_chats_limited\"} 1",
            "waotp_session_health{session=\"shop\",state=\"ok\"} 0",
            "waotp_session_health{session=\"other\",state=\"ok\"} 1",
            "waotp_new_chat_quota_remaining{session=\"shop\"} 0",
            "waotp_session_nacks_last_hour{session=\"shop\",code=\"475\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert!(!text.contains("waotp_new_chat_quota_remaining{session=\"other\"}"));
    }
}
