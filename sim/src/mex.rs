//! MEX (WhatsApp's GraphQL over IQ) as the account limits use it: the
//! notifications WhatsApp pushes when a limit changes, and the answers to
//! the two queries a companion asks about them.
//!
//! A notification is `<notification type="mex"><update op_name="…">` with
//! a JSON body `{"data": {…}}`; a query is `<iq xmlns="w:mex" type="get">`
//! with `<query query_id="…">{"variables": …}</query>`, answered with
//! `<result>{"data": …}</result>`. The op names and payload keys are
//! WhatsApp Web's (the same ones Baileys and whatsapp-rust read).

use std::sync::Arc;

use serde_json::{Value, json};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use crate::limits::{CappingInfo, TimelockInfo};
use crate::state::{Shared, now_secs};
use crate::wire::{self, tag};

/// `op_name` of the reachout-timelock notification.
pub const OP_TIMELOCK: &str = "NotificationUserReachoutTimelockUpdate";
/// `op_name` of the new-chat capping notification.
pub const OP_CAPPING: &str = "MessageCappingInfoNotification";

/// `query_id` of `WAWebMexFetchReachoutTimelockJobQuery`
/// (`wacore::iq::mex_operations::fetch_reachout_timelock::DOC_ID`).
const QUERY_TIMELOCK: &str = "23983697327930364";
/// `query_id` of `WAWebMexFetchNewChatMessageCappingInfoJobQuery`
/// (`fetch_new_chat_message_capping_info::DOC_ID`).
const QUERY_CAPPING: &str = "24503548349331633";

fn timelock_fields(info: &TimelockInfo) -> Value {
    let mut fields = json!({ "is_active": info.is_active });
    if let Some(ends) = info.ends_at {
        // WhatsApp sends the end as a string of unix seconds.
        fields["time_enforcement_ends"] = json!(ends.to_string());
    }
    if let Some(enforcement) = &info.enforcement {
        fields["enforcement_type"] = json!(enforcement);
    }
    fields
}

fn capping_fields(info: Option<&CappingInfo>) -> Value {
    match info {
        // No quota: WhatsApp's answer for an account it does not cap.
        None => json!({ "capping_status": "NONE", "server_sent_timestamp": now_secs() }),
        Some(c) => json!({
            "capping_status": c.status.as_str(),
            // Quotas are strings on the wire, timestamps numbers.
            "used_quota": c.used.to_string(),
            "total_quota": c.total.to_string(),
            "cycle_start_timestamp": c.cycle_start,
            "cycle_end_timestamp": c.cycle_end,
            "server_sent_timestamp": now_secs(),
        }),
    }
}

fn notification(shared: &Shared, op_name: &str, data: Value) -> Node {
    let body = json!({ "data": data }).to_string();
    NodeBuilder::new(tag::NOTIFICATION)
        .attrs([
            ("type", "mex".to_string()),
            ("id", shared.stanza_id()),
            ("from", wire::SERVER_JID.to_string()),
            ("t", now_secs().to_string()),
        ])
        .children([NodeBuilder::new("update")
            .attr("op_name", op_name.to_string())
            .bytes(body.into_bytes())
            .build()])
        .build()
}

/// The notification WhatsApp pushes when a timelock starts or ends.
pub fn timelock_notification(shared: &Shared, info: &TimelockInfo) -> Node {
    let data = json!({ "xwa2_notify_account_reachout_timelock": timelock_fields(info) });
    notification(shared, OP_TIMELOCK, data)
}

/// The notification WhatsApp pushes when the capping status changes.
pub fn capping_notification(shared: &Shared, info: &CappingInfo) -> Node {
    let data =
        json!({ "xwa2_notify_new_chat_messages_capping_info_update": capping_fields(Some(info)) });
    notification(shared, OP_CAPPING, data)
}

/// Sends `node` to every live connection of `phone`'s account.
pub fn push(shared: &Shared, phone: &str, node: &Node) {
    for conn in shared.conns_for(Some(phone)) {
        conn.send(node.clone());
    }
}

/// Tells `phone`'s companions a timelock started (or was lifted) and, for
/// one that started, tells them again when it ends by itself: WhatsApp
/// pushes both edges.
pub fn announce_timelock(shared: &Arc<Shared>, phone: &str, info: TimelockInfo, generation: u64) {
    push(shared, phone, &timelock_notification(shared, &info));
    let Some(ends_at) = info.ends_at.filter(|_| info.is_active) else {
        return;
    };
    let shared = shared.clone();
    let phone = phone.to_owned();
    tokio::spawn(async move {
        let left = u64::try_from(ends_at.saturating_sub(now_secs())).unwrap_or(0);
        // Ends are whole seconds; wake just after the second turns, when
        // `timelock(now)` already reads inactive.
        tokio::time::sleep(std::time::Duration::from_millis(left * 1000 + 50)).await;
        let ended = shared
            .lock()
            .limits
            .get_mut(&phone)
            .is_some_and(|l| l.end_timelock(generation));
        if ended {
            let off = TimelockInfo {
                is_active: false,
                ends_at: None,
                enforcement: None,
            };
            push(&shared, &phone, &timelock_notification(&shared, &off));
        }
    });
}

/// The `<result>` of a MEX query from `phone`'s account; an unknown query
/// gets a GraphQL error, as WhatsApp answers a query id it does not know.
pub fn answer(shared: &Shared, phone: Option<&str>, iq: &Node) -> Node {
    let query_id = iq
        .get_optional_child(tag::QUERY)
        .and_then(|q| q.attrs.get("query_id").map(|v| v.to_string()))
        .unwrap_or_default();
    let now = now_secs();
    let body = match (query_id.as_str(), phone) {
        (QUERY_TIMELOCK, Some(phone)) => {
            let info = shared.lock().limits_mut(phone).timelock(now);
            json!({ "data": { "xwa2_fetch_account_reachout_timelock": timelock_fields(&info) } })
        }
        (QUERY_CAPPING, Some(phone)) => {
            let info = shared.lock().limits_mut(phone).capping(now);
            json!({ "data": { "xwa2_message_capping_info": capping_fields(info.as_ref()) } })
        }
        _ => json!({
            "data": null,
            "errors": [{
                "message": format!("the simulator does not answer query {query_id:?}"),
                "extensions": { "error_code": 400, "is_summary": true, "severity": "CRITICAL" }
            }]
        }),
    };
    NodeBuilder::new(tag::RESULT)
        .bytes(body.to_string().into_bytes())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timelock_fields_carry_the_end_as_a_string() {
        let on = timelock_fields(&TimelockInfo {
            is_active: true,
            ends_at: Some(1_700_000_060),
            enforcement: Some("RESTRICT_ALL_COMPANIONS".into()),
        });
        assert_eq!(on["time_enforcement_ends"], "1700000060");
        assert_eq!(on["enforcement_type"], "RESTRICT_ALL_COMPANIONS");
        let off = timelock_fields(&TimelockInfo {
            is_active: false,
            ends_at: None,
            enforcement: None,
        });
        assert_eq!(off, json!({ "is_active": false }));
    }
}
