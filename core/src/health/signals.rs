//! What WhatsApp says about a number's limits, read into [`Signal`]s: nack
//! codes on server acks, the MEX notifications it pushes when a timelock or
//! the new-chat quota changes, the answer to the timelock query, a ban at
//! login, a logout. Parsing is lenient (WhatsApp's payloads are not
//! documented): a field that is missing or malformed is left out, never a
//! panic, and a payload without what it should carry is ignored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Nack of a message to a new chat during a reachout timelock (also what a
/// missing privacy token gets; the timelock query tells them apart).
pub(crate) const NACK_TIMELOCKED: &str = "463";
/// Nack of a message to a new chat past the quota
/// (`NackReason::NewChatMessagesCapped`).
pub(crate) const NACK_CAPPED: &str = "475";

/// `op_name` of the reachout-timelock notification.
pub(crate) const OP_TIMELOCK: &str = "NotificationUserReachoutTimelockUpdate";
/// `op_name` of the new-chat capping notification.
pub(crate) const OP_CAPPING: &str = "MessageCappingInfoNotification";

/// One thing WhatsApp said about the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// A message was refused with this nack code.
    Nack(String),
    /// The reachout timelock is on (until `ends`, if given) or off.
    Timelock {
        active: bool,
        ends: Option<SystemTime>,
    },
    /// The new-chat quota's state.
    Capping {
        capped: bool,
        used: Option<u32>,
        total: Option<u32>,
        cycle_ends: Option<SystemTime>,
    },
    /// Banned until then.
    Banned { until: SystemTime },
    /// Logged out or removed.
    LoggedOut,
    /// Logged in.
    Connected,
}

/// Whether a nack code means the number's new chats are limited.
pub(crate) fn is_limit_nack(code: &str) -> bool {
    code == NACK_TIMELOCKED || code == NACK_CAPPED
}

fn unix_secs(secs: i64) -> Option<SystemTime> {
    u64::try_from(secs)
        .ok()
        .filter(|s| *s > 0)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// A number WhatsApp may send as a JSON number or as a string of digits.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn count(value: &Value) -> Option<u32> {
    number(value).and_then(|n| u32::try_from(n).ok())
}

/// The timelock's state from the query's answer or a notification's fields.
pub(crate) fn timelock(is_active: Option<bool>, ends: Option<&str>) -> Signal {
    Signal::Timelock {
        active: is_active.unwrap_or(false),
        ends: ends
            .and_then(|s| s.trim().parse::<i64>().ok())
            .and_then(unix_secs),
    }
}

/// The signal in a MEX notification, if it is one about the number's limits.
pub(crate) fn from_mex(op_name: &str, payload: &Value) -> Option<Signal> {
    let data = payload.get("data").unwrap_or(payload);
    match op_name {
        OP_TIMELOCK => {
            let fields = data.get("xwa2_notify_account_reachout_timelock")?;
            let ends = fields.get("time_enforcement_ends").and_then(number);
            Some(Signal::Timelock {
                active: fields.get("is_active")?.as_bool()?,
                ends: ends.and_then(unix_secs),
            })
        }
        OP_CAPPING => {
            let fields = data.get("xwa2_notify_new_chat_messages_capping_info_update")?;
            let status = fields.get("capping_status")?.as_str()?;
            Some(Signal::Capping {
                capped: status.eq_ignore_ascii_case("CAPPED"),
                used: fields.get("used_quota").and_then(count),
                total: fields.get("total_quota").and_then(count),
                cycle_ends: fields
                    .get("cycle_end_timestamp")
                    .and_then(number)
                    .and_then(unix_secs),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_notifications_whatsapp_sends_are_read() {
        let on = json!({"data": {"xwa2_notify_account_reachout_timelock": {
            "is_active": true, "time_enforcement_ends": "1700000060",
            "enforcement_type": "RESTRICT_ALL_COMPANIONS"}}});
        assert_eq!(
            from_mex(OP_TIMELOCK, &on),
            Some(Signal::Timelock {
                active: true,
                ends: unix_secs(1_700_000_060)
            })
        );
        let off = json!({"data": {"xwa2_notify_account_reachout_timelock": {"is_active": false}}});
        assert_eq!(
            from_mex(OP_TIMELOCK, &off),
            Some(Signal::Timelock {
                active: false,
                ends: None
            })
        );
        let capped = json!({"data": {"xwa2_notify_new_chat_messages_capping_info_update": {
            "capping_status": "CAPPED", "used_quota": "5", "total_quota": 5,
            "cycle_end_timestamp": 1_700_086_400}}});
        assert_eq!(
            from_mex(OP_CAPPING, &capped),
            Some(Signal::Capping {
                capped: true,
                used: Some(5),
                total: Some(5),
                cycle_ends: unix_secs(1_700_086_400)
            })
        );
    }

    #[test]
    fn anything_else_is_ignored_without_a_panic() {
        for (op, payload) in [
            ("SomethingElse", json!({"data": {}})),
            (OP_TIMELOCK, json!({})),
            (
                OP_TIMELOCK,
                json!({"data": {"xwa2_notify_account_reachout_timelock": {"is_active": "yes"}}}),
            ),
            (
                OP_CAPPING,
                json!({"data": {"xwa2_notify_new_chat_messages_capping_info_update": 7}}),
            ),
            (OP_CAPPING, json!(null)),
        ] {
            assert_eq!(from_mex(op, &payload), None, "{op} {payload}");
        }
        let odd = json!({"data": {"xwa2_notify_new_chat_messages_capping_info_update": {
            "capping_status": "FIRST_WARNING", "used_quota": "-3", "total_quota": "lots",
            "cycle_end_timestamp": "x"}}});
        assert_eq!(
            from_mex(OP_CAPPING, &odd),
            Some(Signal::Capping {
                capped: false,
                used: None,
                total: None,
                cycle_ends: None
            })
        );
        assert_eq!(
            timelock(Some(true), Some("garbage")),
            Signal::Timelock {
                active: true,
                ends: None
            }
        );
        assert!(is_limit_nack("463") && is_limit_nack("475") && !is_limit_nack("479"));
    }
}
