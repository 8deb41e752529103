//! Accounts that WhatsApp gates with a passkey: after the scan (or the typed
//! pairing code) the session waits in `passkey_required`, the operator's
//! assertion (here signed by the simulator, which holds the account's test
//! passkey) is handed in, and the link completes. Each refusal reaches the
//! caller as its code and the session starts linking again.

mod common;

use std::time::Duration;

use common::{STEP, gateway, link, poll_until, simulator, simulator_with, wait_event};
use waotp::{Event, EventStream, Session, SessionState};
use waotp_sim::{AssertionTweaks, SimConfig, Simulator};

const OWN: &str = "6281100000221";
const OWN_LOCAL: &str = "081100000221";
const FRIEND: &str = "6281200000221";

fn gated_simulator(sim: &Simulator) {
    sim.add_number(OWN, true);
    sim.require_passkey(OWN);
    sim.add_number(FRIEND, true);
}

/// Waits for the session's passkey request; answers its options JSON.
async fn passkey_requested(events: &mut EventStream, session: &Session) -> String {
    let options = wait_event(events, "a PasskeyRequired event", |e| match e {
        Event::PasskeyRequired {
            session: s,
            options_json,
            snippet,
            ..
        } if s == session.id() => {
            assert!(snippet.contains("navigator.credentials.get"));
            Some(options_json.clone())
        }
        _ => None,
    })
    .await;
    let status = session.status();
    assert_eq!(status.state, SessionState::PasskeyRequired);
    let challenge = status.passkey.expect("the status carries the challenge");
    assert_eq!(challenge.options_json, options);
    options
}

/// Scans the session's next QR code as the gated account.
async fn scan(sim: &Simulator, session: &Session) {
    let qr = session.wait_qr(STEP).await.expect("a QR code");
    sim.scan(qr.raw(), OWN, "Gated Phone")
        .await
        .expect("the phone scans");
}

async fn failed_with(events: &mut EventStream, code: &str) -> String {
    wait_event(
        events,
        &format!("a PasskeyFailed event with {code}"),
        |e| match e {
            Event::PasskeyFailed {
                code: c, reason, ..
            } if c == code => Some(reason.clone()),
            _ => None,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_account_links_by_qr_sends_and_reconnects_without_a_new_assertion() {
    let sim = simulator().await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("gated")).await.unwrap();

    scan(&sim, &session).await;
    let options = passkey_requested(&mut events, &session).await;
    assert!(
        session.qr().await.is_err(),
        "the spent QR code is not offered while the passkey is awaited"
    );
    let assertion = sim
        .sign_passkey_assertion(OWN, &options, &AssertionTweaks::default())
        .unwrap();
    session.submit_passkey_assertion(&assertion).await.unwrap();
    let code = wait_event(&mut events, "a PasskeyConfirmation event", |e| match e {
        Event::PasskeyConfirmation { code, .. } => Some(code.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        Some(code.replace('-', "")),
        sim.passkey_code(OWN).map(|c| c.replace('-', "")),
        "the code the phone shows"
    );
    let status = session.wait_connected(STEP).await.expect("linked");
    assert_eq!(status.user.map(|u| u.phone), Some(OWN.to_owned()));
    assert!(status.passkey.is_none());

    let sent = session
        .send_text(FRIEND, "Kode OTP Anda: 482913", None)
        .await
        .unwrap();
    let inbox = sim.wait_for_inbox(FRIEND, 1, STEP).await.unwrap();
    assert_eq!(inbox[0].id, sent.id);

    // A restart reconnects on the stored link: no new passkey request.
    gw.close().await;
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.session("gated").unwrap();
    session.wait_connected(STEP).await.expect("reconnected");
    while let Some(e) = events.next_within(Some(Duration::ZERO)).await {
        assert!(!matches!(e, Event::PasskeyRequired { .. }), "{e:?}");
    }
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_account_links_with_a_pairing_code() {
    let sim = simulator().await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("by-code")).await.unwrap();
    session.wait_qr(STEP).await.unwrap();
    let code = session.pair_code(OWN_LOCAL).await.unwrap();
    sim.enter_pair_code(OWN, &code)
        .await
        .expect("the phone takes the code");

    let options = passkey_requested(&mut events, &session).await;
    let assertion = sim
        .sign_passkey_assertion(OWN, &options, &AssertionTweaks::default())
        .unwrap();
    session.submit_passkey_assertion(&assertion).await.unwrap();
    let status = session.wait_connected(STEP).await.expect("linked");
    assert_eq!(status.user.map(|u| u.phone), Some(OWN.to_owned()));
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_reaches_the_caller_as_its_code_and_linking_starts_again() {
    let sim = simulator().await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("refused")).await.unwrap();

    let refusals: Vec<(&str, AssertionTweaks, &str)> = vec![
        (
            "a bad signature",
            AssertionTweaks {
                corrupt_signature: true,
                ..Default::default()
            },
            "PASSKEY_REJECTED",
        ),
        (
            "another site's rpId",
            AssertionTweaks {
                rp_id: Some("evil.example".into()),
                ..Default::default()
            },
            "PASSKEY_REJECTED",
        ),
        (
            "an old challenge",
            AssertionTweaks {
                challenge: Some("b2xkLWNoYWxsZW5nZQ".into()),
                ..Default::default()
            },
            "PASSKEY_REJECTED",
        ),
        (
            "an expired challenge",
            AssertionTweaks::default(),
            "PASSKEY_EXPIRED",
        ),
    ];
    for (what, tweaks, code) in refusals {
        scan(&sim, &session).await;
        let options = passkey_requested(&mut events, &session).await;
        if code == "PASSKEY_EXPIRED" {
            sim.expire_passkey_challenge(OWN);
        }
        let assertion = sim.sign_passkey_assertion(OWN, &options, &tweaks).unwrap();
        let err = session
            .submit_passkey_assertion(&assertion)
            .await
            .expect_err(what);
        assert_eq!(err.code(), code, "{what}: {err}");
        let reason = failed_with(&mut events, code).await;
        assert!(!reason.is_empty());
        // Linking starts again by itself: a fresh QR code is offered.
        session
            .wait_qr(STEP)
            .await
            .unwrap_or_else(|e| panic!("{what}: no fresh QR code after the refusal: {e}"));
    }

    // And the next attempt, answered properly, links.
    scan(&sim, &session).await;
    let options = passkey_requested(&mut events, &session).await;
    let assertion = sim
        .sign_passkey_assertion(OWN, &options, &AssertionTweaks::default())
        .unwrap();
    session.submit_passkey_assertion(&assertion).await.unwrap();
    session.wait_connected(STEP).await.expect("linked at last");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_assertions_are_invalid_arguments_and_keep_the_challenge() {
    let sim = simulator().await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("malformed")).await.unwrap();

    let early = session.submit_passkey_assertion("{}").await.unwrap_err();
    assert_eq!(early.code(), "INVALID_ARGUMENT");
    scan(&sim, &session).await;
    let options = passkey_requested(&mut events, &session).await;
    let good = sim
        .sign_passkey_assertion(OWN, &options, &AssertionTweaks::default())
        .unwrap();
    let truncated = &good[..good.len() / 2];
    for bad in ["", "null", "[]", "{\"id\":1}", truncated] {
        let err = session.submit_passkey_assertion(bad).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{bad:?}: {err}");
    }
    assert_eq!(session.status().state, SessionState::PasskeyRequired);
    session.submit_passkey_assertion(&good).await.unwrap();
    session.wait_connected(STEP).await.expect("linked");

    let late = session.submit_passkey_assertion(&good).await.unwrap_err();
    assert_eq!(
        late.code(),
        "INVALID_ARGUMENT",
        "not waiting any more: {late}"
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_nobody_answers_expires_with_its_code() {
    let sim = simulator_with(SimConfig {
        passkey_challenge_ttl: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("unanswered")).await.unwrap();
    scan(&sim, &session).await;
    passkey_requested(&mut events, &session).await;
    failed_with(&mut events, "PASSKEY_EXPIRED").await;
    session
        .wait_qr(STEP)
        .await
        .expect("a fresh QR code once the challenge expired");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_hands_the_assertion_to_the_owner() {
    let sim = simulator().await;
    gated_simulator(&sim);
    let dir = tempfile::tempdir().unwrap();
    // Two gateways on one data dir exclude each other like two processes.
    let owner = gateway(&sim, dir.path()).await;
    let session = owner.create_session(Some("shared")).await.unwrap();
    let follower = gateway(&sim, dir.path()).await;
    let mirrored = follower.session("shared").unwrap();
    assert!(!mirrored.is_owner());

    scan(&sim, &session).await;
    poll_until("the follower to see the passkey request", || {
        mirrored.status().passkey.is_some()
    })
    .await;
    let challenge = mirrored.status().passkey.unwrap();
    assert_eq!(mirrored.status().state, SessionState::PasskeyRequired);
    let assertion = sim
        .sign_passkey_assertion(OWN, &challenge.options_json, &AssertionTweaks::default())
        .unwrap();
    mirrored.submit_passkey_assertion(&assertion).await.unwrap();
    session
        .wait_connected(STEP)
        .await
        .expect("the owner linked");
    follower.close().await;
    owner.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_the_gate_links_as_before() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let (_session, status) = link(&gw, &sim, "plain", OWN).await;
    assert!(status.passkey.is_none());
    while let Some(e) = events.next_within(Some(Duration::ZERO)).await {
        assert!(!matches!(e, Event::PasskeyRequired { .. }), "{e:?}");
    }
    gw.close().await;
}
