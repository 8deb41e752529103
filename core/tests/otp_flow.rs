//! OTP end to end: the engine joined to a real whatsapp-rust session through
//! the simulator.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{STEP, link, simulator, wait_event};
use waotp::otp::{Locale, ManualClock, OtpState};
use waotp::{DeliveryStatus, Event, Gateway, OtpRequest, VerifyOutcome};
use waotp_sim::{Fault, Simulator};

const OWN: &str = "6281111111111";

async fn gateway_with(
    sim: &Simulator,
    dir: &std::path::Path,
    clock: Option<ManualClock>,
) -> Gateway {
    let mut builder = Gateway::builder().data_dir(dir).endpoint(sim.ws_url());
    if let Some(clock) = clock {
        builder = builder.clock(Arc::new(clock));
    }
    builder.open().await.expect("gateway opens")
}

/// A gateway with its own OTP limits, on a clock that stands still unless the
/// test moves it. Pacing waits are computed on that clock, so a send's turn
/// comes exactly the pacing gap after it was queued, however long the machine
/// took over the sends before it.
async fn gateway_configured(
    sim: &Simulator,
    dir: &std::path::Path,
    config: waotp::otp::OtpConfig,
    clock: &ManualClock,
) -> Gateway {
    Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config)
        .clock(Arc::new(clock.clone()))
        .open()
        .await
        .expect("gateway opens")
}

/// Session pacing of exactly `gap` between two sends (no jitter).
fn pacing(gap: Duration) -> waotp::otp::Pacing {
    waotp::otp::Pacing {
        min_gap: gap,
        jitter: Duration::ZERO,
        max_wait: Duration::from_secs(60),
    }
}

/// The digits of the only OTP in `text`.
fn code_in(text: &str) -> String {
    let runs: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() >= 4)
        .collect();
    assert_eq!(runs.len(), 1, "exactly one code in {text:?}");
    runs[0].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_verify_and_single_use_with_a_custom_template() {
    let sim = simulator().await;
    let to = "6281234567001";
    sim.add_number(to, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with(&sim, dir.path(), None).await;
    link(&gw, &sim, "otp", OWN).await;
    let mut events = gw.events();

    let request = OtpRequest::new("PT. Contoh")
        .template("Kode {OTP} dari {COMPANY}, berlaku {MINUTES} menit.")
        .length(8);
    let sent = gw.send_otp("otp", "081234567001", &request).await.unwrap();
    assert_eq!(sent.to, to);
    assert!(sent.code.is_none(), "the code is not revealed by default");
    assert!(!format!("{sent:?}").is_empty());

    let inbox = sim.wait_for_inbox(to, 1, STEP).await.unwrap();
    let text = &inbox[0].text;
    let code = code_in(text);
    assert_eq!(code.len(), 8);
    assert_eq!(
        *text,
        format!("Kode {code} dari PT. Contoh, berlaku 5 menit.")
    );
    assert_eq!(Some(inbox[0].id.clone()), sent.message_id);

    // Status carries the delivery of the message.
    let delivered = gw
        .wait_message_status(sent.message_id.as_deref().unwrap(), STEP, |s| {
            *s == DeliveryStatus::Read
        })
        .await
        .unwrap();
    assert_eq!(delivered.status, DeliveryStatus::Read);
    let status = gw.otp_status(to).await.unwrap();
    assert_eq!(status.state, OtpState::Pending);
    assert_eq!(status.delivery, Some(DeliveryStatus::Read));

    assert_eq!(
        gw.verify_otp("+62 812-3456-7001", &code).await.unwrap(),
        VerifyOutcome::Approved
    );
    assert_ne!(
        gw.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Approved,
        "a code works once"
    );
    assert_eq!(gw.otp_status(to).await.unwrap().state, OtpState::Approved);

    // Events: sent, delivery, verified — and none of them carries the code.
    let mut seen = Vec::new();
    wait_event(&mut events, "OtpVerified approved", |e| {
        seen.push(serde_json::to_string(e).unwrap());
        matches!(
            e,
            Event::OtpVerified {
                outcome: VerifyOutcome::Approved,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let all = seen.join("\n");
    assert!(
        all.contains("\"otp_sent\"") && all.contains("\"otp_delivery\""),
        "{all}"
    );
    assert!(!all.contains(&code), "no event carries the code");

    let stats = gw.stats();
    assert_eq!(stats.gateway.sends_successful, 1);
    assert_eq!(stats.sessions["otp"].sends_total, 1);
    let prom = gw.stats_prometheus();
    assert!(prom.contains("# TYPE") && !prom.contains(&code));
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revealed_english_code_expires_under_a_controlled_clock() {
    let sim = simulator().await;
    let to = "6281234567002";
    sim.add_number(to, true);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let gw = gateway_with(&sim, dir.path(), Some(clock.clone())).await;
    link(&gw, &sim, "otp", OWN).await;

    let request = OtpRequest::new("ACME").locale(Locale::En).reveal_code(true);
    let sent = gw.send_otp("otp", to, &request).await.unwrap();
    let code = sent
        .code
        .as_ref()
        .expect("revealed on request")
        .expose()
        .to_owned();
    let inbox = sim.wait_for_inbox(to, 1, STEP).await.unwrap();
    assert!(inbox[0].text.contains(&code) && inbox[0].text.contains("ACME"));
    assert!(inbox[0].text.contains("do not share"), "{}", inbox[0].text);

    clock.advance(Duration::from_secs(5 * 60 + 1));
    assert_eq!(
        gw.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Expired
    );
    assert_eq!(gw.otp_status(to).await.unwrap().state, OtpState::Expired);
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_codes_survive_a_gateway_reopen_and_the_database_never_holds_the_code() {
    let sim = simulator().await;
    let to = "6281234567003";
    sim.add_number(to, true);
    let dir = tempfile::tempdir().unwrap();
    {
        let gw = gateway_with(&sim, dir.path(), None).await;
        link(&gw, &sim, "otp", OWN).await;
        // Ten digits: a six-digit code would be found in the database by
        // chance one run in ~100,000 (the recipient's number alone holds
        // eight six-digit runs).
        gw.send_otp("otp", to, &OtpRequest::new("PT. Contoh").length(10))
            .await
            .unwrap();
        gw.close().await;
    }
    let code = code_in(&sim.wait_for_inbox(to, 1, STEP).await.unwrap()[0].text);
    assert_eq!(code.len(), 10);
    for file in ["otp.db", "otp.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(
                !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                "{file} contains the code"
            );
        }
    }
    let gw = gateway_with(&sim, dir.path(), None).await;
    assert_eq!(gw.otp_status(to).await.unwrap().state, OtpState::Pending);
    assert_eq!(
        gw.verify_otp(to, &"0".repeat(10)).await.unwrap(),
        VerifyOutcome::Invalid { attempts_left: 2 }
    );
    assert_eq!(
        gw.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Approved
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_dropped_socket_delivers_exactly_one_message() {
    let sim = simulator().await;
    let (to, later) = ("6281234567004", "6281234567007");
    sim.add_number(to, true);
    sim.add_number(later, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with(&sim, dir.path(), None).await;
    let (session, _) = link(&gw, &sim, "otp", OWN).await;
    // Cache the on-WhatsApp answers, then cut the socket right before the send.
    assert!(session.is_on_whatsapp(to).await.unwrap());
    assert!(session.is_on_whatsapp(later).await.unwrap());
    let mut events = gw.events();
    sim.fault(Fault::Drop(Some(OWN.into())));
    let sent = gw
        .send_otp("otp", to, &OtpRequest::new("PT. Contoh"))
        .await
        .expect("sent after a retry");
    let inbox = sim.wait_for_inbox(to, 1, STEP).await.unwrap();
    wait_event(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    gw.wait_message_status(sent.message_id.as_deref().unwrap(), STEP, |s| {
        *s == DeliveryStatus::Read
    })
    .await
    .unwrap();
    let inbox_after = sim.inbox(to);
    assert_eq!(inbox_after.len(), 1, "exactly one message: {inbox:?}");
    assert_eq!(
        gw.verify_otp(to, &code_in(&inbox_after[0].text))
            .await
            .unwrap(),
        VerifyOutcome::Approved
    );

    // A send made once the drop is known waits for the reconnect and goes out once.
    sim.fault(Fault::Drop(Some(OWN.into())));
    wait_event(&mut events, "second Disconnected", |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    let state_at_call = session.status().state;
    gw.send_otp("otp", later, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap_or_else(|e| panic!("send_otp called in state {state_at_call}: {e}"));
    let inbox = sim.wait_for_inbox(later, 1, STEP).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        gw.verify_otp(later, &code_in(&inbox[0].text))
            .await
            .unwrap(),
        VerifyOutcome::Approved
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_numbers_without_whatsapp() {
    let sim = simulator().await;
    let stranger = "6281234567005";
    sim.add_number(stranger, false);
    let ok = "6281234567006";
    sim.add_number(ok, true);
    let dir = tempfile::tempdir().unwrap();
    // The cooldown below is measured on this clock, not on how long the
    // first send took.
    let clock = ManualClock::starting_now();
    let gw = gateway_with(&sim, dir.path(), Some(clock)).await;
    link(&gw, &sim, "otp", OWN).await;

    let err = gw
        .send_otp("otp", stranger, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_ON_WHATSAPP");
    assert_eq!(
        gw.otp_status(stranger).await.unwrap_err().code(),
        "OTP_NOT_FOUND",
        "no code issued"
    );

    let cases = [
        OtpRequest::new("PT. Contoh").template("no placeholder"),
        OtpRequest::new("PT. Contoh").length(3),
        OtpRequest::new("PT. Contoh").length(11),
        OtpRequest::new(""),
    ];
    for request in cases {
        let err = gw.send_otp("otp", ok, &request).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{request:?}: {err}");
    }
    assert_eq!(
        gw.send_otp("nope", ok, &OtpRequest::new("X"))
            .await
            .unwrap_err()
            .code(),
        "SESSION_NOT_FOUND"
    );
    assert_eq!(
        gw.send_otp("otp", "garbage", &OtpRequest::new("X"))
            .await
            .unwrap_err()
            .code(),
        "INVALID_PHONE"
    );
    assert_eq!(gw.generate_otp(3).unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(gw.generate_otp(10).unwrap().expose().len(), 10);
    assert!(
        sim.inbox(ok).is_empty(),
        "nothing was sent for bad requests"
    );

    // A second code right away hits the resend cooldown (10 s), with a retry time.
    gw.send_otp("otp", ok, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap();
    match gw
        .send_otp("otp", ok, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap_err()
    {
        waotp::Error::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Duration::from_secs(10))
        }
        other => panic!("expected RATE_LIMITED, got {other}"),
    }
    gw.close().await;
}

/// Waits until `to`'s current verification is not `old`; returns the new one.
async fn next_verification(gw: &Gateway, to: &str, old: Option<&str>) -> String {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let current = gw
            .otp_status(to)
            .await
            .ok()
            .map(|s| s.verification_id)
            .filter(|id| Some(id.as_str()) != old);
        if let Some(id) = current {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for a new verification for {to}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_replaced_or_canceled_while_waiting_its_turn_is_never_sent() {
    // A send waits its turn for `GAP` after it was queued (the clock stands
    // still); the replacement or cancel below only has to come within that.
    const GAP: Duration = Duration::from_secs(2);
    let sim = simulator().await;
    let (to, other) = ("6281234567008", "6281234567009");
    sim.add_number(to, true);
    sim.add_number(other, true);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut config = waotp::otp::OtpConfig::default();
    config.limits.resend_cooldown = Duration::ZERO;
    config.limits.session_pacing = Some(pacing(GAP));
    let gw = gateway_configured(&sim, dir.path(), config, &clock).await;
    link(&gw, &sim, "otp", OWN).await;
    let send = |to: &'static str| {
        let gw = gw.clone();
        tokio::spawn(async move { gw.send_otp("otp", to, &OtpRequest::new("PT. Contoh")).await })
    };
    // Takes the session's slot, so the sends below wait their turn: the
    // first GAP after it is queued, the second 2 × GAP after it is queued.
    gw.send_otp("otp", other, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap();

    let first = send(to);
    let first_id = next_verification(&gw, to, None).await;
    let second = send(to);
    let second_id = next_verification(&gw, to, Some(&first_id)).await;
    let err = first
        .await
        .unwrap()
        .expect_err("the replaced code went out: its turn came before the replacement was issued");
    assert_eq!(err.code(), "OTP_NOT_FOUND", "{err}");
    let sent = second.await.unwrap().unwrap();
    assert_eq!(sent.verification_id, second_id);
    let inbox = sim.wait_for_inbox(to, 1, STEP).await.unwrap();
    assert_eq!(inbox.len(), 1, "only the code that still works went out");

    // The session's next turn is 3 × GAP after the first send; move the
    // clock so the third send waits one GAP.
    clock.advance(2 * GAP);
    let third = send(to);
    let third_id = next_verification(&gw, to, Some(&second_id)).await;
    assert_eq!(gw.cancel_otp(to).await.unwrap().verification_id, third_id);
    let err = third
        .await
        .unwrap()
        .expect_err("the canceled code went out: its turn came before the cancel");
    assert_eq!(err.code(), "OTP_NOT_FOUND", "{err}");
    assert_eq!(sim.inbox(to).len(), 1, "the canceled code never went out");
    let status = gw.otp_status(to).await.unwrap();
    assert_eq!(
        (status.verification_id.as_str(), status.state),
        (third_id.as_str(), OtpState::Canceled),
        "the cancel stands"
    );
    assert_eq!(
        gw.verify_otp(to, &code_in(&inbox[0].text)).await.unwrap(),
        VerifyOutcome::NotFound,
        "the second code went with the cancel of the third"
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resend_gives_back_the_code_the_recipient_already_has() {
    // The resend waits its turn for exactly `GAP` (the clock stands still,
    // so however long the first send took does not shorten it); the logout
    // only has to reach the client within that.
    const GAP: Duration = Duration::from_secs(2);
    let sim = simulator().await;
    let to = "6281234567007";
    sim.add_number(to, true);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let mut config = waotp::otp::OtpConfig::default();
    config.limits.resend_cooldown = Duration::ZERO;
    config.limits.session_pacing = Some(pacing(GAP));
    let gw = gateway_configured(&sim, dir.path(), config, &clock).await;
    link(&gw, &sim, "otp", OWN).await;
    let first = gw
        .send_otp("otp", to, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap();
    let code = code_in(&sim.wait_for_inbox(to, 1, STEP).await.unwrap()[0].text);

    // The resend is issued at once, then waits for the session's pacing gap;
    // the phone logs the device out during that wait, so it is never sent.
    let resend = {
        let gw = gw.clone();
        tokio::spawn(async move { gw.send_otp("otp", to, &OtpRequest::new("PT. Contoh")).await })
    };
    next_verification(&gw, to, Some(&first.verification_id)).await;
    sim.fault(Fault::Logout(Some(OWN.into())));
    let err = resend
        .await
        .unwrap()
        .expect_err("the resend went out: its turn came before the logout reached the client");
    assert_eq!(err.code(), "LOGGED_OUT", "{err}");
    assert_eq!(sim.inbox(to).len(), 1, "the resend never went out");

    let status = gw.otp_status(to).await.unwrap();
    assert_eq!(
        status.verification_id, first.verification_id,
        "the earlier code is back"
    );
    assert_eq!(status.state, OtpState::Pending);
    assert_eq!(
        gw.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Approved
    );
    gw.close().await;
}
