//! Sessions end to end: the real whatsapp-rust client, linked through the
//! loopback simulator.

mod common;

use std::time::Duration;

use common::{STEP, gateway, link, link_within, poll_until, simulator, simulator_with, wait_event};
use waotp::{DeliveryStatus, Event, Gateway, SessionState};
use waotp_sim::{Fault, SimConfig};

const OWN: &str = "6281111111111";
const FRIEND: &str = "6281234567890";
const FRIEND_LOCAL: &str = "081234567890";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_links_sends_and_reports_delivery_then_read() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();

    let (session, status) = link(&gw, &sim, "shop", OWN).await;
    assert_eq!(status.state, SessionState::Connected);
    assert!(status.is_connected);
    assert_eq!(status.user.as_ref().map(|u| u.phone.as_str()), Some(OWN));
    assert!(status.qr_refresh_count >= 1);
    wait_event(&mut events, "a QrUpdated event", |e| {
        matches!(e, Event::QrUpdated { .. }).then_some(())
    })
    .await;
    wait_event(&mut events, "a Connected event", |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;

    assert!(session.is_on_whatsapp(FRIEND_LOCAL).await.unwrap());
    let text = "Kode OTP Anda: 123456 — uji coba ✓";
    let sent = session.send_text(FRIEND_LOCAL, text, None).await.unwrap();
    assert_eq!(sent.to, FRIEND);
    assert!(sent.newly_sent);

    let inbox = sim
        .wait_for_inbox(FRIEND, 1, STEP)
        .await
        .expect("message reaches the recipient");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].text, text);
    assert_eq!(inbox[0].from, OWN);
    assert_eq!(inbox[0].id, sent.id);

    let delivered = gw
        .wait_message_status(&sent.id, STEP, |s| {
            matches!(s, DeliveryStatus::Delivered | DeliveryStatus::Read)
        })
        .await
        .unwrap();
    assert_eq!(delivered.to, FRIEND);
    let read = gw
        .wait_message_status(&sent.id, STEP, |s| *s == DeliveryStatus::Read)
        .await
        .unwrap();
    assert_eq!(read.status, DeliveryStatus::Read);
    assert_eq!(
        session.message_status(&sent.id).await.unwrap().status,
        DeliveryStatus::Read
    );

    // The same progression reached subscribers, in order.
    let mut seen = Vec::new();
    wait_event(&mut events, "MessageStatus read", |e| match e {
        Event::MessageStatus {
            message_id, status, ..
        } if *message_id == sent.id => {
            seen.push(status.as_str());
            (*status == DeliveryStatus::Read).then_some(())
        }
        _ => None,
    })
    .await;
    // Receipts are processed concurrently by the client, so a read receipt may
    // overtake the delivery receipt; the status still only ever moves forward.
    let order = ["pending", "sent", "delivered", "read"];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "statuses only move forward: {seen:?}"
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_session_comes_back_from_disk_without_a_qr() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    {
        let gw = gateway(&sim, dir.path()).await;
        link(&gw, &sim, "persisted", OWN).await;
        let mut events = gw.events();
        // An event sent before the close is still read; then the stream ends.
        gw.verify_otp(FRIEND, "123456").await.unwrap();
        gw.close().await;
        let mut last = Vec::new();
        while let Some(e) = tokio::time::timeout(STEP, events.next())
            .await
            .expect("the event stream ends once the gateway is closed")
        {
            last.push(e.kind());
        }
        assert_eq!(
            last.last(),
            Some(&"otp_verified"),
            "what came before the close: {last:?}"
        );
        assert_eq!(
            gw.create_session(Some("x")).await.unwrap_err().code(),
            "CLOSED"
        );
        // Every operation refuses once closed, the OTP ones included.
        let refusals = [
            gw.session("persisted").err().map(|e| e.code()),
            gw.verify_otp(FRIEND, "123456")
                .await
                .err()
                .map(|e| e.code()),
            gw.otp_status(FRIEND).await.err().map(|e| e.code()),
            gw.cancel_otp(FRIEND).await.err().map(|e| e.code()),
            gw.message_status("3EB0").await.err().map(|e| e.code()),
        ];
        assert!(
            refusals.iter().all(|c| *c == Some("CLOSED")),
            "{refusals:?}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let store = dir.path().join("sessions").join("persisted.db");
        let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "session store must be private");
    }

    // Opened with its events: the restored session's `connected` is among
    // them (subscribed before the session started).
    let (gw, mut events) = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(sim.ws_url())
        .open_with_events()
        .await
        .expect("gateway opens");
    let listed = gw.list_sessions();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "persisted");
    wait_event(&mut events, "the restored session's connected event", |e| {
        matches!(e, Event::Connected { session, .. } if session == "persisted").then_some(())
    })
    .await;
    let session = gw.session("persisted").unwrap();
    let status = session
        .wait_connected(STEP)
        .await
        .expect("reconnects from its store");
    assert_eq!(status.qr_refresh_count, 0, "no QR code was needed");
    assert_eq!(status.user.unwrap().phone, OWN);

    // A restart keeps the link too.
    session.restart().await.unwrap();
    let status = session
        .wait_connected(STEP)
        .await
        .expect("reconnects after restart");
    assert_eq!(status.qr_refresh_count, 0);
    session
        .send_text(FRIEND, "after restart", None)
        .await
        .unwrap();
    let inbox = sim.wait_for_inbox(FRIEND, 1, STEP).await.unwrap();
    assert_eq!(inbox[0].text, "after restart");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_the_phone_stops_the_session_and_delete_removes_its_files() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let (session, _) = link(&gw, &sim, "unlinked", OWN).await;
    let store = dir.path().join("sessions").join("unlinked.db");
    assert!(
        std::fs::metadata(&store).unwrap().len() > 0,
        "credentials were stored"
    );

    sim.fault(Fault::Logout(Some(OWN.into())));
    wait_event(&mut events, "LoggedOut", |e| {
        matches!(e, Event::LoggedOut { .. }).then_some(())
    })
    .await;
    assert_eq!(session.status().state, SessionState::LoggedOut);
    assert!(session.status().user.is_none() || session.status().state == SessionState::LoggedOut);
    assert_eq!(
        session
            .send_text(FRIEND, "x", None)
            .await
            .unwrap_err()
            .code(),
        "LOGGED_OUT"
    );
    assert_eq!(
        session.wait_connected(STEP).await.unwrap_err().code(),
        "LOGGED_OUT"
    );

    // The client's run loop ends (no reconnect loop) and the dead credentials are wiped.
    poll_until("the store to be wiped after logout", || {
        std::fs::metadata(&store)
            .map(|m| m.len() == 0)
            .unwrap_or(false)
    })
    .await;
    assert_eq!(
        session.status().state,
        SessionState::LoggedOut,
        "still logged out, not reconnecting"
    );

    gw.delete_session("unlinked").await.unwrap();
    assert!(!store.exists());
    assert!(!dir.path().join("sessions").join("unlinked.db-wal").exists());
    assert_eq!(
        gw.session("unlinked").unwrap_err().code(),
        "SESSION_NOT_FOUND"
    );
    assert!(gw.list_sessions().is_empty());
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_by_request_then_link_again() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let (session, _) = link(&gw, &sim, "again", OWN).await;
    session.logout().await.unwrap();
    let status = session.status();
    assert_eq!(status.state, SessionState::LoggedOut);
    assert!(status.user.is_none());
    assert_eq!(
        std::fs::metadata(dir.path().join("sessions/again.db"))
            .unwrap()
            .len(),
        0
    );

    // Asking for a QR starts a fresh pairing on the same (now empty) store.
    assert_eq!(session.qr().await.unwrap_err().code(), "QR_NOT_AVAILABLE");
    let qr = session
        .wait_qr(STEP)
        .await
        .expect("a fresh QR after logout");
    sim.scan(qr.raw(), "6281222222222", "Second Phone")
        .await
        .unwrap();
    let status = session.wait_connected(STEP).await.unwrap();
    assert_eq!(status.user.unwrap().phone, "6281222222222");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_reconnects_and_sending_works_after() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let (session, _) = link(&gw, &sim, "flaky", OWN).await;
    let mut events = gw.events();

    sim.fault(Fault::Drop(Some(OWN.into())));
    let reason = wait_event(&mut events, "Disconnected", |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(!reason.is_empty());
    wait_event(&mut events, "Connected again", |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;
    assert_eq!(session.status().state, SessionState::Connected);

    session
        .send_text(FRIEND, "after the drop", None)
        .await
        .unwrap();
    let inbox = sim.wait_for_inbox(FRIEND, 1, STEP).await.unwrap();
    assert_eq!(inbox[0].text, "after the drop");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_whatsapp_client_is_lent_only_while_connected() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let unlinked = gw.create_session(Some("unlinked")).await.unwrap();
    let err = unlinked
        .whatsapp_client()
        .err()
        .expect("no client before linking");
    assert_eq!(err.code(), "NOT_CONNECTED");

    let (session, _) = link(&gw, &sim, "raw", OWN).await;
    let client = session.whatsapp_client().unwrap();
    let sent = client
        .send_text(whatsapp_rust::Jid::pn(FRIEND), "sent around waotp")
        .await
        .unwrap();
    let inbox = sim.wait_for_inbox(FRIEND, 1, STEP).await.unwrap();
    assert_eq!(inbox[0].text, "sent around waotp");
    // Sends through the raw client are the caller's business: not tracked.
    let err = session.message_status(&sent.message_id).await.unwrap_err();
    assert_eq!(err.code(), "MESSAGE_NOT_FOUND");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_numbers_and_error_acks() {
    let sim = simulator().await;
    let stranger = "6281299999999";
    sim.add_number(stranger, false);
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let (session, _) = link(&gw, &sim, "checks", OWN).await;

    assert!(!session.is_on_whatsapp(stranger).await.unwrap());
    let err = session
        .send_text(stranger, "hello?", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_ON_WHATSAPP", "{err}");
    assert!(sim.inbox(stranger).is_empty());

    sim.fault(Fault::ErrorAck(FRIEND.into()));
    let sent = session.send_text(FRIEND, "refused", None).await.unwrap();
    let record = gw
        .wait_message_status(&sent.id, STEP, |s| {
            matches!(s, DeliveryStatus::Failed { .. })
        })
        .await
        .unwrap();
    match record.status {
        DeliveryStatus::Failed { reason } => {
            assert!(reason.contains("479"), "reason names the error: {reason}")
        }
        other => panic!("expected failed, got {other:?}"),
    }
    assert!(
        sim.inbox(FRIEND).is_empty(),
        "a refused message is not delivered"
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_sends_once() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let (session, _) = link(&gw, &sim, "idem", OWN).await;

    let first = session
        .send_text(FRIEND, "once", Some("order-42"))
        .await
        .unwrap();
    let again = session
        .send_text(FRIEND, "once", Some("order-42"))
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert!(first.newly_sent && !again.newly_sent);
    let other = session
        .send_text(FRIEND, "twice", Some("order-43"))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    let inbox = sim.wait_for_inbox(FRIEND, 2, STEP).await.unwrap();
    assert_eq!(inbox.iter().filter(|m| m.text == "once").count(), 1);
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_code() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    for bad in ["../x", "", &"a".repeat(65), "a/b", "x y"] {
        assert_eq!(
            gw.create_session(Some(bad)).await.unwrap_err().code(),
            "INVALID_SESSION_ID",
            "{bad:?}"
        );
    }
    assert!(
        std::fs::read_dir(dir.path().join("sessions"))
            .unwrap()
            .next()
            .is_none(),
        "nothing created"
    );
    assert_eq!(
        gw.session("missing").unwrap_err().code(),
        "SESSION_NOT_FOUND"
    );
    assert_eq!(
        gw.session("../etc").unwrap_err().code(),
        "INVALID_SESSION_ID"
    );
    assert_eq!(
        gw.message_status("nope").await.unwrap_err().code(),
        "MESSAGE_NOT_FOUND"
    );

    let (session, _) = link(&gw, &sim, "valid", OWN).await;
    // create is idempotent
    let same = gw.create_session(Some("valid")).await.unwrap();
    assert_eq!(same.status().state, SessionState::Connected);
    assert_eq!(gw.list_sessions().len(), 1);
    assert_eq!(session.qr().await.unwrap_err().code(), "ALREADY_CONNECTED");
    for phone in ["hello", "", "0812", "+999 123"] {
        assert_eq!(
            session
                .send_text(phone, "x", None)
                .await
                .unwrap_err()
                .code(),
            "INVALID_PHONE",
            "{phone:?}"
        );
        assert_eq!(
            session.is_on_whatsapp(phone).await.unwrap_err().code(),
            "INVALID_PHONE",
            "{phone:?}"
        );
    }
    assert_eq!(
        session
            .send_text(FRIEND, "  ", None)
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );

    // A generated id is valid and distinct.
    let generated = gw.create_session(None).await.unwrap();
    assert!(generated.id().starts_with("session_"));
    assert_eq!(gw.list_sessions().len(), 2);
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_build_refuses_non_loopback_endpoints() {
    assert!(waotp::build_info().sandbox);
    assert!(waotp::build_info().to_string().contains("SANDBOX"));
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "wss://web.whatsapp.com/ws/chat",
        "ws://192.0.2.1:443/ws/chat",
    ] {
        let err = waotp::Gateway::builder()
            .data_dir(dir.path())
            .endpoint(url)
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ENDPOINT_NOT_ALLOWED", "{url}");
    }
    let err = waotp::Gateway::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "ENDPOINT_NOT_ALLOWED",
        "a sandbox build never defaults to WhatsApp"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_links_a_session() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("by-code")).await.unwrap();
    session.wait_qr(STEP).await.unwrap();
    let code = session.pair_code("081233334444").await.unwrap();
    assert_eq!(code.len(), 8);
    let announced = wait_event(&mut events, "PairingCode", |e| match e {
        Event::PairingCode { code, .. } => Some(code.clone()),
        _ => None,
    })
    .await;
    assert_eq!(announced, code);
    // The QR stays available as a fallback while the code is pending.
    assert!(session.qr().await.is_ok());
    sim.enter_pair_code("6281233334444", &code)
        .await
        .expect("the phone accepts the code");
    let status = session.wait_connected(STEP).await.unwrap();
    assert_eq!(status.user.unwrap().phone, "6281233334444");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sessions_in_one_gateway_each_send() {
    // Twenty clients pairing at once share the machine's cores: each step of
    // a link takes seconds here (up to ~6 s measured on a loaded 2-core
    // machine) where one session takes well under one, so each step and the
    // simulator's wait for the pairing get a minute.
    const CROWDED_STEP: Duration = Duration::from_secs(60);
    let sim = simulator_with(SimConfig {
        pairing_timeout: CROWDED_STEP,
        ..SimConfig::default()
    })
    .await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (gw, sim) = (gw.clone(), sim.clone());
        tasks.push(tokio::spawn(async move {
            let phone = format!("62811000000{i:02}");
            let id = format!("s{i:02}");
            let (session, _) = link_within(&gw, &sim, &id, &phone, CROWDED_STEP).await;
            session
                .send_text(FRIEND, &format!("from session {i}"), None)
                .await
                .unwrap();
            phone
        }));
    }
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await.expect("session task"));
    }
    let inbox = sim.wait_for_inbox(FRIEND, 20, CROWDED_STEP).await.unwrap();
    let mut senders: Vec<_> = inbox.iter().map(|m| m.from.clone()).collect();
    senders.sort();
    phones.sort();
    assert_eq!(senders, phones, "one message from each linked account");
    assert_eq!(
        gw.list_sessions().iter().filter(|s| s.is_connected).count(),
        20
    );
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_does_not_keep_other_sessions_from_restoring() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let gw = gateway(&sim, dir.path()).await;
        link(&gw, &sim, "healthy", OWN).await;
        gw.close().await;
    }
    std::fs::write(
        dir.path().join("sessions").join("damaged.db"),
        b"this is not a SQLite database, just noise....",
    )
    .unwrap();

    let gw = gateway(&sim, dir.path()).await;
    assert_eq!(gw.list_sessions().len(), 2);
    gw.session("healthy")
        .unwrap()
        .wait_connected(STEP)
        .await
        .expect("the healthy session reconnects");
    let damaged = gw.session("damaged").unwrap().status();
    assert_eq!(damaged.state, SessionState::Stopped, "{damaged:?}");
    assert!(damaged.reason.is_some());
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_created_at_once_are_each_made_once_and_all_pair() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    // Ten ids, each asked for twice at the same moment: the lock is per id,
    // so the ten open side by side and each id still makes one session.
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..20 {
        let gw = gw.clone();
        creates.spawn(async move { gw.create_session(Some(&format!("burst-{}", i % 10))).await });
    }
    let mut made = Vec::new();
    while let Some(created) = creates.join_next().await {
        made.push(created.unwrap().expect("create"));
    }
    assert_eq!(made.len(), 20);
    let listed: Vec<String> = gw.list_sessions().into_iter().map(|s| s.id).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("burst-{i}")).collect();
    assert_eq!(listed, expected, "one session per id");
    for session in &made {
        assert_eq!(
            &gw.session(session.id()).unwrap(),
            session,
            "both creates of {} answered the one session",
            session.id()
        );
        session
            .wait_qr(STEP)
            .await
            .unwrap_or_else(|e| panic!("{}: no QR code: {e}", session.id()));
    }
    gw.close().await;
}
