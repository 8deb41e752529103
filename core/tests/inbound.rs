//! Inbound verification against the simulator, with the real whatsapp-rust
//! client receiving: a simulated user sends the token to the linked number
//! and the verification is approved (with the expected number, or
//! reporting the sender without one); a wrong sender is refused without
//! spending the token; a LID-addressed sender is mapped to its number; the
//! clock expires a token and a used one stays used; another gateway on the
//! same store (SQLite, or Redis across hosts, where the verification may
//! start on a host that does not own the connection) sees the approval; and the
//! sender becomes a known contact, so a code to them passes a spent quota.

mod common;

use std::time::Duration;

use common::{STEP, link, simulator, wait_event};
use waotp::otp::{Limits, OtpConfig};
use waotp::{
    Event, Gateway, InboundRequest, InboundVerification, OtpRequest, SenderPool, VerifyMethod,
    VerifyOutcome,
};
use waotp_sim::redis_server::RedisServer;
use waotp_sim::{NewChatQuota, Simulator};

async fn open(sim: &Simulator, dir: &std::path::Path) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config)
        .manual_clock()
        .open()
        .await
        .expect("gateway opens")
}

/// `from` sends `text` to the linked number `to` (waiting, within a step,
/// for the companion's keys a first message needs).
async fn user_sends(sim: &Simulator, from: &str, to: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match sim.user_send(from, to, text).await {
            Ok(_) => return,
            Err(e) if tokio::time::Instant::now() < deadline => {
                log::debug!("not yet: {e:#}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{from} could not write to {to}: {e:#}"),
        }
    }
}

/// Waits for the approval of `verification` by an inbound message: the sender.
async fn approved(events: &mut waotp::EventStream, verification: &InboundVerification) -> String {
    wait_event(events, "the inbound approval", |e| match e {
        Event::OtpVerified {
            to,
            verification_id: Some(id),
            outcome: VerifyOutcome::Approved,
            method: VerifyMethod::Inbound,
        } if *id == verification.verification_id => Some(to.clone()),
        _ => None,
    })
    .await
}

/// A gateway of one host of a Redis deployment.
async fn open_on_redis(sim: &Simulator, dir: &std::path::Path, redis: &str) -> Gateway {
    Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .redis_url(redis)
        .otp_secret(common::worker::test_otp_secret())
        .redis_lease_ttl(common::worker::REDIS_LEASE_TTL)
        .open()
        .await
        .expect("gateway opens")
}

fn shop() -> SenderPool {
    SenderPool::of(["shop"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expected_number_approves_and_a_wrong_sender_does_not_spend_the_token() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = open(&sim, dir.path()).await;
    let number = "6281100000401";
    link(&gw, &sim, "shop", number).await;
    let (user, stranger) = ("6281234560401", "6281234560402");
    sim.add_number(user, true);
    sim.add_number(stranger, true);

    let started = gw
        .start_inbound_verification(
            &shop(),
            &InboundRequest::new().expected_phone("081234560401"),
        )
        .await
        .unwrap();
    assert_eq!(started.session_id, "shop");
    assert_eq!(started.number, number);
    assert!(
        started
            .link
            .starts_with(&format!("https://wa.me/{number}?text=Kode%20masuk%3A%20"))
    );
    assert!(started.qr.png().unwrap().starts_with(b"\x89PNG"));
    let mut events = gw.events();

    // A stranger with the token: refused, counted, the token still valid.
    user_sends(&sim, stranger, number, &started.text).await;
    common::poll_until_async("the stranger's message counted", || async {
        gw.inbound_verification_status(&started.verification_id)
            .await
            .unwrap()
            .attempts
            == 1
    })
    .await;
    let status = gw
        .inbound_verification_status(&started.verification_id)
        .await
        .unwrap();
    assert!(!status.is_approved());
    assert_eq!(status.sender, None);

    user_sends(&sim, user, number, &started.text).await;
    assert_eq!(approved(&mut events, &started).await, user);
    let status = gw
        .inbound_verification_status(&started.verification_id)
        .await
        .unwrap();
    assert!(status.is_approved());
    assert_eq!(status.sender.as_deref(), Some(user));
    assert_eq!(status.expected_phone.as_deref(), Some(user));
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_expected_number_the_sender_is_reported_even_by_lid_and_a_reply_goes_back() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = open(&sim, dir.path()).await;
    let number = "6281100000402";
    link(&gw, &sim, "shop", number).await;
    let user = "6281234560403";
    sim.add_number(user, true);
    let lid = sim.address_by_lid(user);

    let request = InboundRequest::new()
        .template("Masuk ke Toko Sehat: {TOKEN}")
        .reply("Berhasil masuk ke Toko Sehat");
    let started = gw
        .start_inbound_verification(&SenderPool::All, &request)
        .await
        .unwrap();
    assert!(started.text.starts_with("Masuk ke Toko Sehat: "));
    let mut events = gw.events();
    user_sends(&sim, user, number, &started.text).await;
    assert_eq!(
        approved(&mut events, &started).await,
        user,
        "{lid} maps to the number"
    );
    let reply = sim.wait_for_inbox(user, 1, STEP).await.expect("the reply");
    assert_eq!(reply[0].text, "Berhasil masuk ke Toko Sehat");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expires_with_the_clock_and_is_used_once() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = open(&sim, dir.path()).await;
    let number = "6281100000403";
    link(&gw, &sim, "shop", number).await;
    let (first, second) = ("6281234560404", "6281234560405");
    sim.add_number(first, true);
    sim.add_number(second, true);

    let short = InboundRequest::new().ttl(Duration::from_secs(60));
    let late = gw
        .start_inbound_verification(&shop(), &short)
        .await
        .unwrap();
    gw.advance_clock(Duration::from_secs(60)).unwrap();
    let used = gw
        .start_inbound_verification(&shop(), &short)
        .await
        .unwrap();
    let mut events = gw.events();
    user_sends(&sim, first, number, &late.text).await;
    user_sends(&sim, first, number, &used.text).await;
    assert_eq!(approved(&mut events, &used).await, first);
    let expired = gw
        .inbound_verification_status(&late.verification_id)
        .await
        .unwrap();
    assert_eq!(expired.state, waotp::otp::OtpState::Expired);

    // The same token again, from another number: nothing changes.
    user_sends(&sim, second, number, &used.text).await;
    let again = gw
        .start_inbound_verification(&shop(), &short)
        .await
        .unwrap();
    user_sends(&sim, second, number, &again.text).await;
    assert_eq!(
        approved(&mut events, &again).await,
        second,
        "messages are read in order"
    );
    let status = gw
        .inbound_verification_status(&used.verification_id)
        .await
        .unwrap();
    assert_eq!(status.sender.as_deref(), Some(first), "single use");
    assert_eq!(status.attempts, 0);

    let canceled = gw
        .start_inbound_verification(&shop(), &short)
        .await
        .unwrap();
    let after = gw
        .cancel_inbound_verification(&canceled.verification_id)
        .await
        .unwrap();
    assert_eq!(after.state, waotp::otp::OtpState::Canceled);
    let unknown = gw.inbound_verification_status("nope").await.unwrap_err();
    assert_eq!(unknown.code(), "OTP_NOT_FOUND");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_becomes_a_known_contact_and_another_gateway_sees_the_approval() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = open(&sim, dir.path()).await;
    let number = "6281100000404";
    link(&gw, &sim, "shop", number).await;
    // No new chat left: only a known contact gets a code. (Subscribed
    // first: the capping notification may come at once.)
    let mut events = gw.events();
    sim.set_new_chat_quota(
        number,
        Some(NewChatQuota {
            total: 0,
            cycle_secs: 600,
        }),
    );
    let user = "6281234560406";
    sim.add_number(user, true);
    wait_event(&mut events, "the capped quota", |e| match e {
        Event::HealthChanged { health, .. } if health.quota.is_some() => Some(()),
        _ => None,
    })
    .await;

    let started = gw
        .start_inbound_verification(&shop(), &InboundRequest::new().expected_phone(user))
        .await
        .unwrap();
    user_sends(&sim, user, number, &started.text).await;
    assert_eq!(approved(&mut events, &started).await, user);

    // Another gateway on the same data dir reads the same store.
    let other = open(&sim, dir.path()).await;
    let seen = other
        .inbound_verification_status(&started.verification_id)
        .await
        .unwrap();
    assert!(seen.is_approved());
    assert_eq!(seen.sender.as_deref(), Some(user));
    other.close().await;

    // The user wrote first: a code to them is no new chat.
    let sent = gw
        .send_otp(
            "shop",
            user,
            &OtpRequest::new("Toko Sehat").reveal_code(true),
        )
        .await
        .expect("a code to a known contact passes a spent quota");
    let inbox = sim
        .wait_for_inbox(user, 1, STEP)
        .await
        .expect("the code arrives");
    assert!(inbox[0].text.contains("Toko Sehat"));
    let code = sent.code.expect("revealed").expose().to_owned();
    assert_eq!(
        gw.verify_otp(user, &code).await.unwrap(),
        VerifyOutcome::Approved
    );

    // The conversion figures: an inbound verification and a code started,
    // the code delivered, one approved each way.
    common::poll_until("the code's delivery counted", || {
        gw.stats().sessions["shop"].conversion.last_hour.delivered == 1
    })
    .await;
    let hour = gw.stats().sessions["shop"].conversion.last_hour;
    assert_eq!(
        (
            hour.started,
            hour.approved_by_code,
            hour.approved_inbound,
            hour.rate
        ),
        (2, 1, 1, Some(1.0))
    );
    let metric =
        "waotp_session_conversion{session=\"shop\",window=\"1h\",count=\"approved_inbound\"} 1\n";
    assert!(gw.stats_prometheus().contains(metric), "{metric}");
    let stranger = "6281234560407";
    sim.add_number(stranger, true);
    let refused = gw
        .send_otp("shop", stranger, &OtpRequest::new("Toko Sehat"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "ACCOUNT_LIMITED");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_redis_a_verification_started_on_another_host_is_approved_by_the_owner() {
    let sim = simulator().await;
    let redis = RedisServer::start().expect("redis-server starts");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_on_redis(&sim, dir_a.path(), &redis.url()).await;
    let b = open_on_redis(&sim, dir_b.path(), &redis.url()).await;
    let number = "6281100000405";
    link(&a, &sim, "shop", number).await;
    let user = "6281234560408";
    sim.add_number(user, true);
    common::poll_until("host B sees the session connected", || {
        b.session("shop")
            .map(|s| {
                let status = s.status();
                status.state == waotp::SessionState::Connected && status.user.is_some()
            })
            .unwrap_or(false)
    })
    .await;

    // Host B starts it; host A owns the connection and receives the token.
    let started = b
        .start_inbound_verification(&shop(), &InboundRequest::new().expected_phone(user))
        .await
        .unwrap();
    assert_eq!(started.number, number);
    user_sends(&sim, user, number, &started.text).await;
    common::poll_until_async("host B sees the approval", || async {
        b.inbound_verification_status(&started.verification_id)
            .await
            .unwrap()
            .is_approved()
    })
    .await;
    let on_a = a
        .inbound_verification_status(&started.verification_id)
        .await
        .unwrap();
    assert_eq!(on_a.sender.as_deref(), Some(user));
    b.close().await;
    a.close().await;
}
