//! WhatsApp's limits on a linked account, as the REAL whatsapp-rust client
//! meets them: nacks 475 (new-chat quota) and 463 (reachout timelock) on
//! `Event::ServerAck`, the MEX notifications (`Event::MexNotification`)
//! when a limit changes, the timelock query's decoded answer, a temporary
//! ban at login (`Event::TemporaryBan`) and a device removal
//! (`Event::LoggedOut`).

mod common;

use common::*;
use serde_json::Value;
use waotp_sim::{AutoTimelock, NewChatQuota, SimConfig, Simulator};
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::iq::mex_operations::fetch_new_chat_message_capping_info as capping_query;

const KNOWN: &str = "6281234567001";
const NEW_1: &str = "6281234567002";
const NEW_2: &str = "6281234567003";
const NEW_3: &str = "6281234567004";

async fn sim() -> Simulator {
    init_logs();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("sim start");
    for number in [KNOWN, NEW_1, NEW_2, NEW_3] {
        sim.add_number(number, true);
    }
    sim
}

/// A client and the MEX notifications it received that a test has not
/// looked at yet: they may arrive before or after the ack of the message
/// that caused them, and waiting for one event must not lose the other.
struct Watched {
    client: TestClient,
    notices: Vec<(String, Value)>,
}

impl Watched {
    /// Sends a text to `to` and waits for the server's ack: its error code.
    async fn send_and_ack(&mut self, to: &str) -> Option<String> {
        let id = self
            .client
            .client
            .send_text(Jid::pn(to), "Kode OTP Anda: 123456")
            .await
            .expect("send")
            .message_id;
        let notices = &mut self.notices;
        self.client
            .wait_for(
                &format!("the ack of {id} to {to}"),
                EVENT_DEADLINE,
                |e| match e {
                    Event::ServerAck(ack) if ack.id == id => Some(ack.error.clone()),
                    Event::MexNotification(n) => {
                        notices.push((n.op_name.clone(), n.payload["data"].clone()));
                        None
                    }
                    _ => None,
                },
            )
            .await
    }

    /// The oldest MEX notification named `op_name` not looked at yet
    /// (waiting for it if need be): its `data` object.
    async fn notification(&mut self, op_name: &str) -> Value {
        if let Some(at) = self.notices.iter().position(|(op, _)| op == op_name) {
            return self.notices.remove(at).1;
        }
        let notices = &mut self.notices;
        self.client
            .wait_for(op_name, EVENT_DEADLINE, |e| match e {
                Event::MexNotification(n) if n.op_name == op_name => {
                    Some(n.payload["data"].clone())
                }
                Event::MexNotification(n) => {
                    notices.push((n.op_name.clone(), n.payload["data"].clone()));
                    None
                }
                _ => None,
            })
            .await
    }
}

async fn watched(sim: &Simulator, phone: &str, dir: &tempfile::TempDir) -> Watched {
    Watched {
        client: paired_client(sim, phone, &dir.path().join("wa.db")).await,
        notices: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_chats_past_the_quota_get_475_and_the_capping_notifications() {
    let sim = sim().await;
    let phone = "6281111111401";
    let dir = tempfile::tempdir().unwrap();
    let mut client = watched(&sim, phone, &dir).await;
    assert_eq!(client.send_and_ack(KNOWN).await, None, "no quota yet");

    let quota = NewChatQuota {
        total: 2,
        cycle_secs: 3600,
    };
    sim.set_new_chat_quota(phone, Some(quota));
    let key = "xwa2_notify_new_chat_messages_capping_info_update";
    let set = client.notification("MessageCappingInfoNotification").await;
    assert_eq!(set[key]["capping_status"], "NONE", "{set}");
    assert_eq!(set[key]["total_quota"], "2", "{set}");

    assert_eq!(client.send_and_ack(NEW_1).await, None);
    let half = client.notification("MessageCappingInfoNotification").await;
    assert_eq!(half[key]["capping_status"], "FIRST_WARNING", "{half}");
    assert_eq!(client.send_and_ack(NEW_2).await, None);
    let capped = client.notification("MessageCappingInfoNotification").await;
    assert_eq!(capped[key]["capping_status"], "CAPPED", "{capped}");
    assert_eq!(capped[key]["used_quota"], "2", "{capped}");
    let cycle_end = capped[key]["cycle_end_timestamp"]
        .as_i64()
        .expect("cycle end");

    assert_eq!(
        client.send_and_ack(NEW_3).await.as_deref(),
        Some("475"),
        "a third new chat"
    );
    assert!(
        sim.inbox(NEW_3).is_empty(),
        "a refused message is not delivered"
    );
    // Chats the account already has are not limited.
    assert_eq!(client.send_and_ack(KNOWN).await, None);
    assert_eq!(client.send_and_ack(NEW_1).await, None);

    // The capping query answers the same state.
    let answer = client
        .client
        .client
        .mex()
        .query(whatsapp_rust::MexRequest::new(
            capping_query::NAME,
            capping_query::DOC_ID,
            capping_query::Variables::default(),
        ))
        .await
        .expect("capping query");
    let info: capping_query::Response =
        serde_json::from_value(answer.data.expect("data")).expect("decode");
    let info = info.xwa2_message_capping_info.expect("capping info");
    assert_eq!(info.capping_status.as_deref(), Some("CAPPED"));
    assert_eq!(info.used_quota.as_deref(), Some("2"));
    assert_eq!(info.cycle_end_timestamp, Some(cycle_end));

    let limits = sim.account_limits(phone);
    assert_eq!(limits.chats, vec![KNOWN, NEW_1, NEW_2], "{limits:?}");
    client.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timelock_gets_463_for_new_chats_is_announced_and_answers_the_query() {
    let sim = sim().await;
    let phone = "6281111111402";
    let dir = tempfile::tempdir().unwrap();
    let mut client = watched(&sim, phone, &dir).await;
    assert_eq!(client.send_and_ack(KNOWN).await, None);
    let before = client
        .client
        .client
        .mex()
        .fetch_reachout_timelock()
        .await
        .expect("timelock query");
    assert_eq!(before.is_active, Some(false), "{before:?}");

    sim.timelock(phone, 2, None);
    let key = "xwa2_notify_account_reachout_timelock";
    let on = client
        .notification("NotificationUserReachoutTimelockUpdate")
        .await;
    assert_eq!(on[key]["is_active"], true, "{on}");
    assert_eq!(
        on[key]["enforcement_type"], "RESTRICT_ALL_COMPANIONS",
        "{on}"
    );
    let ends: i64 = on[key]["time_enforcement_ends"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("the end, as a string of unix seconds");

    let state = client
        .client
        .client
        .mex()
        .fetch_reachout_timelock()
        .await
        .expect("timelock query");
    assert_eq!(state.is_active, Some(true), "{state:?}");
    assert_eq!(state.time_enforcement_ends, Some(ends.to_string()));
    assert_eq!(
        state.enforcement_type.as_deref(),
        Some("RESTRICT_ALL_COMPANIONS")
    );
    assert_eq!(
        client.send_and_ack(NEW_1).await.as_deref(),
        Some("463"),
        "a new chat during the timelock"
    );
    assert_eq!(client.send_and_ack(KNOWN).await, None, "a known chat");

    // It ends by itself, and WhatsApp says so.
    let off = client
        .notification("NotificationUserReachoutTimelockUpdate")
        .await;
    assert_eq!(off[key]["is_active"], false, "{off}");
    let after = client
        .client
        .client
        .mex()
        .fetch_reachout_timelock()
        .await
        .expect("timelock query");
    assert_eq!(after.is_active, Some(false), "{after:?}");
    assert_eq!(client.send_and_ack(NEW_1).await, None);
    client.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_new_chats_starts_a_timelock_by_itself() {
    let sim = sim().await;
    let phone = "6281111111403";
    let dir = tempfile::tempdir().unwrap();
    let mut client = watched(&sim, phone, &dir).await;
    sim.set_auto_timelock(
        phone,
        Some(AutoTimelock {
            after_new_chats: 2,
            window_secs: 600,
            seconds: 600,
        }),
    );
    assert_eq!(client.send_and_ack(NEW_1).await, None);
    assert_eq!(client.send_and_ack(NEW_2).await, None);
    let on = client
        .notification("NotificationUserReachoutTimelockUpdate")
        .await;
    assert_eq!(
        on["xwa2_notify_account_reachout_timelock"]["is_active"],
        true
    );
    assert_eq!(client.send_and_ack(NEW_3).await.as_deref(), Some("463"));
    assert_eq!(client.send_and_ack(NEW_1).await, None);
    client.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_account_is_refused_at_login_with_a_temporary_ban() {
    let sim = sim().await;
    let phone = "6281111111404";
    let dir = tempfile::tempdir().unwrap();
    let mut client = watched(&sim, phone, &dir).await;
    sim.ban(phone, 600, 101);
    let ban = client
        .client
        .wait_for("TemporaryBan", EVENT_DEADLINE, |e| match e {
            Event::TemporaryBan(ban) => Some(ban.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        ban.code,
        whatsapp_rust::types::events::TempBanReason::SentToTooManyPeople,
        "{ban:?}"
    );
    let secs = ban.expire.num_seconds();
    assert!((590..=600).contains(&secs), "expire {secs} s");
    assert_eq!(sim.account_limits(phone).ban.map(|b| b.code), Some(101));
    client.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_the_devices_logs_the_client_out() {
    let sim = sim().await;
    let phone = "6281111111405";
    let dir = tempfile::tempdir().unwrap();
    let mut client = watched(&sim, phone, &dir).await;
    sim.remove_devices(phone);
    client
        .client
        .wait_for("LoggedOut", EVENT_DEADLINE, |e| {
            matches!(e, Event::LoggedOut(_)).then_some(())
        })
        .await;
    assert!(
        sim.linked_accounts()
            .iter()
            .all(|a| a.phone != phone || a.devices.is_empty()),
        "{:?}",
        sim.linked_accounts()
    );
    client.client.shutdown().await;
}
