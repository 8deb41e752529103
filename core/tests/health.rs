//! Session health against the simulator's account limits, with the real
//! whatsapp-rust client: a session whose number is timelocked or whose
//! new-chat quota is spent refuses codes to new chats up front with
//! `ACCOUNT_LIMITED` (and the time to retry), still delivers to recipients
//! it has a chat with, shows it in its status and events, and recovers.

mod common;

use std::time::Duration;

use common::{STEP, link, simulator, wait_event};
use waotp::otp::{Limits, OtpConfig};
use waotp::{DeliveryStatus, Event, Gateway, HealthState, LimitReason, OtpRequest, SessionHealth};
use waotp_sim::{NewChatQuota, Simulator};

const KNOWN: &str = "6281234560001";
const NEW_1: &str = "6281234560002";
const NEW_2: &str = "6281234560003";
const NEW_3: &str = "6281234560004";

async fn gateway(sim: &Simulator, dir: &std::path::Path) -> Gateway {
    gateway_with(sim, dir, None).await
}

/// A gateway without OTP limits, with a daily budget of new chats if given.
async fn gateway_with(sim: &Simulator, dir: &std::path::Path, per_day: Option<u32>) -> Gateway {
    for number in [KNOWN, NEW_1, NEW_2, NEW_3] {
        sim.add_number(number, true);
    }
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config);
    if let Some(n) = per_day {
        builder = builder.new_chats_per_day(n);
    }
    builder.open().await.expect("gateway opens")
}

/// Sends a code to `to` and waits until the simulated phone has it.
async fn deliver(gw: &Gateway, sim: &Simulator, session: &str, to: &str) {
    let before = sim.inbox(to).len();
    gw.send_otp(session, to, &OtpRequest::new("Toko Sehat"))
        .await
        .unwrap_or_else(|e| panic!("a code to {to}: {e}"));
    sim.wait_for_inbox(to, before + 1, STEP)
        .await
        .unwrap_or_else(|e| panic!("the code to {to} never arrived: {e:#}"));
}

/// Waits for the session's next `HealthChanged` event whose state `pick` accepts.
async fn health_event(
    events: &mut waotp::EventStream,
    what: &str,
    pick: impl Fn(&SessionHealth) -> bool,
) -> SessionHealth {
    wait_event(events, what, |e| match e {
        Event::HealthChanged { health, .. } if pick(health) => Some(health.clone()),
        _ => None,
    })
    .await
}

/// Waits until a message to `to` was delivered: from then on the session
/// knows it has a chat with `to`.
async fn delivered_receipt(events: &mut waotp::EventStream, to: &str) {
    wait_event(
        events,
        &format!("a delivered message to {to}"),
        |e| match e {
            Event::MessageStatus {
                to: t,
                status: DeliveryStatus::Delivered | DeliveryStatus::Read,
                ..
            } if t == to => Some(()),
            _ => None,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timelocked_session_refuses_new_chats_delivers_to_known_ones_and_recovers() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let phone = "6281111111501";
    let (session, _) = link(&gw, &sim, "tl", phone).await;
    let mut events = gw.events();
    deliver(&gw, &sim, "tl", KNOWN).await;
    delivered_receipt(&mut events, KNOWN).await;

    sim.timelock(phone, 3, None);
    let limited = health_event(&mut events, "the timelock", |h| {
        h.state.as_str() == "new_chats_limited"
    })
    .await;
    assert!(
        matches!(
            limited.state,
            HealthState::NewChatsLimited {
                reason: LimitReason::Timelock,
                until: Some(_)
            }
        ),
        "{limited:?}"
    );
    assert_eq!(session.status().health.state, limited.state);

    let refused = gw
        .send_otp("tl", NEW_1, &OtpRequest::new("Toko Sehat"))
        .await
        .expect_err("a new chat during the timelock");
    assert_eq!(refused.code(), "ACCOUNT_LIMITED", "{refused}");
    let wait = refused.retry_after().expect("the timelock's end is known");
    assert!(wait <= Duration::from_secs(3), "retry after {wait:?}");
    assert!(sim.inbox(NEW_1).is_empty());
    assert!(
        sim.account_limits(phone).chats.iter().all(|c| c != NEW_1),
        "nothing was sent into the wall"
    );
    // The recipient's pending code is not left behind by the refusal.
    let status = gw.otp_status(NEW_1).await;
    assert!(
        status
            .as_ref()
            .map_or(true, |s| s.state != waotp::otp::OtpState::Pending),
        "{status:?}"
    );
    deliver(&gw, &sim, "tl", KNOWN).await;

    // It ends; WhatsApp says so, and new chats go again.
    health_event(&mut events, "the timelock's end", |h| {
        h.state == HealthState::Ok
    })
    .await;
    deliver(&gw, &sim, "tl", NEW_1).await;
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capped_session_refuses_new_chats_until_the_cycle_ends() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let phone = "6281111111502";
    let (session, _) = link(&gw, &sim, "cap", phone).await;
    let mut events = gw.events();
    sim.set_new_chat_quota(
        phone,
        Some(NewChatQuota {
            total: 2,
            cycle_secs: 3600,
        }),
    );
    let known_quota = health_event(&mut events, "the quota", |h| h.quota.is_some()).await;
    assert_eq!(known_quota.quota.as_ref().map(|q| q.total), Some(2));

    deliver(&gw, &sim, "cap", KNOWN).await;
    delivered_receipt(&mut events, KNOWN).await;
    deliver(&gw, &sim, "cap", NEW_1).await;
    let capped = health_event(&mut events, "the spent quota", |h| {
        h.state.as_str() == "new_chats_limited"
    })
    .await;
    assert!(
        matches!(
            capped.state,
            HealthState::NewChatsLimited {
                reason: LimitReason::Capped,
                ..
            }
        ),
        "{capped:?}"
    );
    assert_eq!(capped.quota.as_ref().map(|q| q.remaining()), Some(0));

    let refused = gw
        .send_otp("cap", NEW_2, &OtpRequest::new("Toko Sehat"))
        .await
        .expect_err("a new chat past the quota");
    assert_eq!(refused.code(), "ACCOUNT_LIMITED", "{refused}");
    let wait = refused.retry_after().expect("the cycle's end is known");
    assert!(
        wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
        "retry after {wait:?}"
    );
    assert!(sim.inbox(NEW_2).is_empty());
    deliver(&gw, &sim, "cap", KNOWN).await;

    // A new cycle (the operator raised the quota): new chats go again.
    sim.set_new_chat_quota(
        phone,
        Some(NewChatQuota {
            total: 5,
            cycle_secs: 3600,
        }),
    );
    health_event(&mut events, "the new cycle", |h| h.state == HealthState::Ok).await;
    deliver(&gw, &sim, "cap", NEW_2).await;
    assert_eq!(session.status().health.state, HealthState::Ok);
    gw.close().await;
}

/// Two gateways on one data dir exclude each other like two processes (the
/// lease is a lock on an open file): what the first learns and spends, the
/// second inherits when it takes the session over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_budget_and_known_contacts_are_shared_and_survive_a_failover() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let first = gateway_with(&sim, dir.path(), Some(2)).await;
    let phone = "6281111111503";
    link(&first, &sim, "bud", phone).await;
    let mut events = first.events();
    deliver(&first, &sim, "bud", KNOWN).await;
    delivered_receipt(&mut events, KNOWN).await;
    deliver(&first, &sim, "bud", NEW_1).await;
    let refused = first
        .send_otp("bud", NEW_2, &OtpRequest::new("Toko Sehat"))
        .await
        .expect_err("two new chats a day");
    assert_eq!(refused.code(), "ACCOUNT_LIMITED", "{refused}");
    assert!(refused.to_string().contains("daily_budget"), "{refused}");
    let wait = refused.retry_after().expect("until the next UTC midnight");
    assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
    deliver(&first, &sim, "bud", KNOWN).await;
    // The chat with KNOWN is in the shared store for every process.
    let shared = dir.path().join("shared.db");
    common::poll_until("the known contact in shared.db", || {
        rusqlite::Connection::open(&shared)
            .and_then(|db| {
                db.query_row(
                    "SELECT COUNT(*) FROM known_contact WHERE session_id = 'bud' AND phone = ?1",
                    [KNOWN],
                    |r| r.get::<_, i64>(0),
                )
            })
            .is_ok_and(|n| n == 1)
    })
    .await;

    // WhatsApp timelocks the number; the other process sees it in the
    // status the owner publishes.
    sim.timelock(phone, 600, None);
    let second = gateway_with(&sim, dir.path(), Some(2)).await;
    let taken = second.session("bud").unwrap();
    taken
        .wait_connected(STEP)
        .await
        .expect("the second process sees it");
    common::poll_until("the follower to see the timelock", || {
        taken.status().health.state.as_str() == "new_chats_limited"
    })
    .await;
    assert!(!taken.is_owner());

    // It takes the session over, and learns the timelock by asking.
    let mut events = second.events();
    first.close().await;
    common::poll_until("the second process to own the session", || {
        taken.is_owner() && taken.status().state.as_str() == "connected"
    })
    .await;
    let limited = health_event(&mut events, "the timelock, asked on connect", |h| {
        h.state.as_str() == "new_chats_limited"
    })
    .await;
    assert!(
        matches!(
            limited.state,
            HealthState::NewChatsLimited {
                reason: LimitReason::Timelock,
                ..
            }
        ),
        "{limited:?}"
    );
    // The chat with KNOWN is known to the new owner through the shared store.
    deliver(&second, &sim, "bud", KNOWN).await;
    let blocked = second
        .send_otp("bud", NEW_3, &OtpRequest::new("Toko Sehat"))
        .await
        .expect_err("a new chat during the timelock");
    assert_eq!(blocked.code(), "ACCOUNT_LIMITED", "{blocked}");
    assert!(blocked.to_string().contains("timelock"), "{blocked}");
    sim.timelock(phone, 0, None);
    health_event(&mut events, "the lifted timelock", |h| {
        h.state == HealthState::Ok
    })
    .await;
    let still = second
        .send_otp("bud", NEW_2, &OtpRequest::new("Toko Sehat"))
        .await
        .expect_err("the day's budget is spent for every process");
    assert!(still.to_string().contains("daily_budget"), "{still}");
    second.close().await;
}
