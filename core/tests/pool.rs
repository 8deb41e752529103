//! A sender pool against the simulator's new-chat quotas, with the real
//! whatsapp-rust client on every linked number: codes spread over the
//! numbers that can still deliver them, a recipient keeps its number, a
//! logged-out number is skipped with the code still verifiable, and when no
//! number can deliver the answer is `ACCOUNT_LIMITED`, never a silent drop.

mod common;

use std::time::Duration;

use common::{STEP, link, simulator};
use waotp::otp::{Limits, OtpConfig};
use waotp::{Gateway, OtpRequest, SenderPool, VerifyOutcome};
use waotp_sim::{Fault, NewChatQuota, Simulator};

const PHONES: [&str; 3] = ["6281111111601", "6281111111602", "6281111111603"];
const IDS: [&str; 3] = ["pool-a", "pool-b", "pool-c"];

fn recipient(i: usize) -> String {
    format!("62812345{i:05}")
}

async fn gateway(sim: &Simulator, dir: &std::path::Path) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config)
        .open()
        .await
        .expect("gateway opens")
}

async fn three_sessions(sim: &Simulator, gw: &Gateway) {
    for (id, phone) in IDS.iter().zip(PHONES) {
        link(gw, sim, id, phone).await;
    }
}

/// The digits of the only code in the newest message `to` received.
async fn code_received(sim: &Simulator, to: &str, count: usize) -> String {
    let inbox = sim
        .wait_for_inbox(to, count, STEP)
        .await
        .unwrap_or_else(|e| panic!("{to} got no code: {e:#}"));
    let text = &inbox.last().expect("a message").text;
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_numbers_with_quotas_of_five_deliver_fifteen_codes_and_refuse_the_sixteenth() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    three_sessions(&sim, &gw).await;
    for phone in PHONES {
        sim.set_new_chat_quota(
            phone,
            Some(NewChatQuota {
                total: 5,
                cycle_secs: 3600,
            }),
        );
    }
    let pool = SenderPool::of(IDS);
    let request = OtpRequest::new("Toko Sehat");
    let mut by_session = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..15 {
        let to = recipient(i);
        sim.add_number(&to, true);
        let sent = gw
            .send_otp_pool(&pool, &to, &request)
            .await
            .unwrap_or_else(|e| panic!("code {i} to {to}: {e}"));
        *by_session.entry(sent.session_id.clone()).or_default() += 1;
        let code = code_received(&sim, &to, 1).await;
        assert_eq!(
            gw.verify_otp(&to, &code).await.unwrap(),
            VerifyOutcome::Approved,
            "code {i}"
        );
    }
    assert_eq!(
        by_session.values().copied().collect::<Vec<_>>(),
        vec![5, 5, 5],
        "{by_session:?}"
    );
    let to = recipient(15);
    sim.add_number(&to, true);
    let refused = gw
        .send_otp_pool(&pool, &to, &request)
        .await
        .expect_err("every quota is spent");
    assert_eq!(refused.code(), "ACCOUNT_LIMITED", "{refused}");
    let wait = refused.retry_after().expect("the cycles' end is known");
    assert!(wait <= Duration::from_secs(3600), "{wait:?}");
    assert!(sim.inbox(&to).is_empty());
    for id in IDS {
        let health = gw.session(id).unwrap().status().health;
        assert!(
            health.nacks_last_hour.is_empty(),
            "{id}: no message was sent into a nack: {health:?}"
        );
    }
    let left = gw.otp_status(&to).await;
    assert!(
        left.as_ref()
            .map_or(true, |s| s.state != waotp::otp::OtpState::Pending),
        "no code is left pending for a send that never went: {left:?}"
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recipient_keeps_its_number_and_a_logged_out_number_is_skipped() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    three_sessions(&sim, &gw).await;
    let pool = SenderPool::All;
    let request = OtpRequest::new("Toko Sehat");
    // Spread first codes over the numbers, then each recipient again.
    let mut first = Vec::new();
    for i in 0..3 {
        let to = recipient(100 + i);
        sim.add_number(&to, true);
        first.push(
            gw.send_otp_pool(&pool, &to, &request)
                .await
                .unwrap()
                .session_id,
        );
    }
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "least recently used first: {first:?}");
    for (i, session) in first.iter().enumerate() {
        let to = recipient(100 + i);
        let again = gw.send_otp_pool(&pool, &to, &request).await.unwrap();
        assert_eq!(&again.session_id, session, "{to} keeps its number");
        assert_eq!(
            gw.otp_status(&to).await.unwrap().session_id,
            *session,
            "the record names the sender"
        );
    }

    // The number of recipient 0 is logged out from the phone.
    let gone = &first[0];
    let phone = PHONES[IDS.iter().position(|id| id == gone).unwrap()];
    sim.fault(Fault::Logout(Some(phone.into())));
    let session = gw.session(gone).unwrap();
    common::poll_until("the session to be logged out", || {
        session.status().state.as_str() == "logged_out"
    })
    .await;
    let to = recipient(100);
    let before = sim.inbox(&to).len();
    let sent = gw.send_otp_pool(&pool, &to, &request).await.unwrap();
    assert_ne!(&sent.session_id, gone, "a logged-out number is skipped");
    let code = code_received(&sim, &to, before + 1).await;
    assert_eq!(
        gw.verify_otp(&to, &code).await.unwrap(),
        VerifyOutcome::Approved
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_pool_is_a_clear_error() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let request = OtpRequest::new("Toko Sehat");
    let to = recipient(200);
    let empty = gw.send_otp_pool(&SenderPool::All, &to, &request).await;
    assert_eq!(empty.unwrap_err().code(), "INVALID_ARGUMENT");
    let none = gw
        .send_otp_pool(&SenderPool::Sessions(vec![]), &to, &request)
        .await;
    assert_eq!(none.unwrap_err().code(), "INVALID_ARGUMENT");
    let unknown = gw
        .send_otp_pool(&SenderPool::of(["nope"]), &to, &request)
        .await;
    assert_eq!(unknown.unwrap_err().code(), "SESSION_NOT_FOUND");
    let bad_id = gw
        .send_otp_pool(&SenderPool::of(["../x"]), &to, &request)
        .await;
    assert_eq!(bad_id.unwrap_err().code(), "INVALID_SESSION_ID");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_through_the_pool_names_its_number_and_says_account_limited() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let ids = ["text-a", "text-b"];
    let phones = ["6281111111611", "6281111111612"];
    for (id, phone) in ids.iter().zip(phones) {
        link(&gw, &sim, id, phone).await;
        sim.set_new_chat_quota(
            phone,
            Some(NewChatQuota {
                total: 1,
                cycle_secs: 600,
            }),
        );
    }
    let pool = SenderPool::of(ids);
    let mut senders = Vec::new();
    for i in 0..2 {
        let to = recipient(300 + i);
        sim.add_number(&to, true);
        let sent = gw
            .send_text_pool(&pool, &to, "Pesanan Anda sudah dikirim")
            .await
            .unwrap_or_else(|e| panic!("text {i}: {e}"));
        assert!(sent.newly_sent);
        senders.push(sent.session_id);
        sim.wait_for_inbox(&to, 1, STEP)
            .await
            .expect("the text arrived");
    }
    senders.sort();
    assert_eq!(senders, vec!["text-a", "text-b"]);
    let to = recipient(302);
    sim.add_number(&to, true);
    let refused = gw
        .send_text_pool(&pool, &to, "Pesanan Anda sudah dikirim")
        .await
        .expect_err("both quotas are spent");
    assert_eq!(refused.code(), "ACCOUNT_LIMITED", "{refused}");
    assert!(refused.retry_after().is_some());
    assert!(sim.inbox(&to).is_empty());
    gw.close().await;
}
