//! End-to-end tests: the real whatsapp-rust client against the simulator.

mod common;

use common::*;
use std::time::Duration;

use waotp_sim::{Fault, IdleLoad, SimConfig, Simulator};
use whatsapp_rust::prelude::*;
use whatsapp_rust::types::presence::ReceiptType;

async fn sim() -> Simulator {
    init_logs();
    Simulator::start(SimConfig::default())
        .await
        .expect("sim start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qr_pairing_reaches_connected_quickly() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (client, took) =
        paired_client_timed(&sim, "6281111111111", &dir.path().join("wa.db")).await;
    // Without the simulator's key share the client would wait out its grace
    // period after login (which comes after the scan) before `Connected`.
    assert!(
        took < KEY_SHARE_GRACE,
        "Connected came {took:?} after the scan: the client waited for the key share"
    );
    let accounts = sim.linked_accounts();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0].phone, "6281111111111");
    assert!(accounts[0].online);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_reaches_inbox_with_ack_and_receipts() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111112", &dir.path().join("wa.db")).await;

    let text = "Kode OTP Anda: 123456";
    let sent = client
        .client
        .send_text(Jid::pn("6281234567890"), text)
        .await
        .expect("send");
    let inbox = sim
        .wait_for_inbox("6281234567890", 1, EVENT_DEADLINE)
        .await
        .expect("inbox");
    assert_eq!(inbox[0].text, text);
    assert_eq!(inbox[0].from, "6281111111112");
    assert_eq!(inbox[0].id, sent.message_id);

    let id = sent.message_id.clone();
    let (mut acked, mut delivered, mut read) = (false, false, false);
    client
        .wait_for(
            "server ack + delivered + read receipts",
            EVENT_DEADLINE,
            |e| {
                match e {
                    Event::ServerAck(ack) if ack.id == id => {
                        assert_eq!(ack.error, None, "unexpected nack");
                        acked = true;
                    }
                    Event::Receipt(r) if r.message_ids.contains(&id) => match r.r#type {
                        ReceiptType::Delivered => delivered = true,
                        ReceiptType::Read => read = true,
                        _ => {}
                    },
                    _ => {}
                }
                (acked && delivered && read).then_some(())
            },
        )
        .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unregistered_number_is_not_on_whatsapp() {
    let sim = sim().await;
    sim.add_number("6289999999999", false);
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111113", &dir.path().join("wa.db")).await;
    let results = client
        .client
        .contacts()
        .is_on_whatsapp(&[Jid::pn("6289999999999"), Jid::pn("6281234567890")])
        .await
        .expect("is_on_whatsapp");
    let by_user = |u: &str| {
        results
            .iter()
            .find(|r| r.jid.user == u)
            .map(|r| r.is_registered)
    };
    assert_eq!(by_user("6289999999999"), Some(false), "{results:?}");
    assert_eq!(by_user("6281234567890"), Some(true), "{results:?}");

    // The number has no device, but the sender's own phone gets its copy,
    // as with WhatsApp: the client sends, and the server refuses the
    // message with an error ack.
    let id = client
        .client
        .send_text(Jid::pn("6289999999999"), "hello?")
        .await
        .expect("the copy for the sender's own phone goes out")
        .message_id;
    let error = client
        .wait_for("error ack", EVENT_DEADLINE, |e| match e {
            Event::ServerAck(ack) if ack.id == id => Some(ack.error.clone()),
            _ => None,
        })
        .await;
    assert!(error.is_some(), "ack for {id} carried no error");
    assert!(sim.inbox("6289999999999").is_empty());
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_from_store_logs_in_without_qr() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wa.db");
    let client = paired_client(&sim, "6281111111114", &db).await;
    client.shutdown().await;

    let mut again = TestClient::start(&sim, &db, None).await;
    again
        .wait_for("Connected after restart", EVENT_DEADLINE, |e| match e {
            Event::PairingQrCode(_) => panic!("restarted client asked for a QR code"),
            Event::Connected(_) => Some(()),
            _ => None,
        })
        .await;
    again
        .client
        .send_text(Jid::pn("6281234567890"), "after restart")
        .await
        .expect("send after restart");
    let inbox = sim
        .wait_for_inbox("6281234567890", 1, EVENT_DEADLINE)
        .await
        .unwrap();
    assert_eq!(inbox[0].text, "after restart");
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drop_fault_reconnects_and_sends() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111115", &dir.path().join("wa.db")).await;

    sim.fault(Fault::Drop(Some("6281111111115".into())));
    client
        .wait_for("Disconnected", EVENT_DEADLINE, |e| {
            matches!(e, Event::Disconnected(_)).then_some(())
        })
        .await;
    client.connected(EVENT_DEADLINE).await;
    client
        .client
        .send_text(Jid::pn("6281234567890"), "after drop")
        .await
        .expect("send after reconnect");
    let inbox = sim
        .wait_for_inbox("6281234567890", 1, EVENT_DEADLINE)
        .await
        .unwrap();
    assert_eq!(inbox[0].text, "after drop");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_fault_logs_the_client_out() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111116", &dir.path().join("wa.db")).await;
    sim.fault(Fault::Logout(Some("6281111111116".into())));
    client
        .wait_for("LoggedOut", EVENT_DEADLINE, |e| {
            matches!(e, Event::LoggedOut(_)).then_some(())
        })
        .await;
    assert!(
        sim.linked_accounts().is_empty(),
        "the simulator must forget the logged-out device"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_ack_fault_nacks_one_message() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111117", &dir.path().join("wa.db")).await;

    sim.add_number("6281234567899", true);
    sim.fault(Fault::ErrorAck("6281234567890".into()));
    // A message to another number first: it is delivered and leaves the
    // fault armed for its recipient.
    client
        .client
        .send_text(Jid::pn("6281234567899"), "to someone else")
        .await
        .expect("send to another number");
    sim.wait_for_inbox("6281234567899", 1, EVENT_DEADLINE)
        .await
        .expect("the other number's message is delivered");
    assert_eq!(sim.fault_hits(), vec![], "error_ack hit the wrong message");

    let sent = client
        .client
        .send_text(Jid::pn("6281234567890"), "will be refused")
        .await
        .expect("send returns before the ack");
    let id = sent.message_id.clone();
    let error = client
        .wait_for("error ack", EVENT_DEADLINE, |e| match e {
            Event::ServerAck(ack) if ack.id == id => Some(ack.error.clone()),
            _ => None,
        })
        .await;
    assert!(error.is_some(), "ack for {id} carried no error");
    assert!(sim.inbox("6281234567890").is_empty());
    let hits = sim.fault_hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].kind.as_str(), hits[0].target.as_str()),
        ("error_ack", "6281234567890")
    );
    assert_eq!(hits[0].stanza_id, id);

    // The fault is one-shot: the next message goes through.
    client
        .client
        .send_text(Jid::pn("6281234567890"), "second try")
        .await
        .expect("send");
    let inbox = sim
        .wait_for_inbox("6281234567890", 1, EVENT_DEADLINE)
        .await
        .unwrap();
    assert_eq!(inbox[0].text, "second try");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withheld_receipts_never_arrive_but_ack_does() {
    let sim = sim().await;
    sim.add_number("6281234567891", true);
    sim.add_number("6281234567892", true);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111118", &dir.path().join("wa.db")).await;
    sim.fault(Fault::WithholdReceipts("6281234567891".into()));

    let silent = client
        .client
        .send_text(Jid::pn("6281234567891"), "no receipts")
        .await
        .unwrap()
        .message_id;
    // A second message to a normal number: once its read receipt arrived,
    // the withheld one would have arrived too (same path, no delay).
    let normal = client
        .client
        .send_text(Jid::pn("6281234567892"), "receipts")
        .await
        .unwrap()
        .message_id;
    // The client may hand its events over in any order, so wait for both:
    // the withheld message's server ack and the normal message's read.
    let (mut silent_acked, mut normal_read) = (false, false);
    client
        .wait_for(
            "server ack of the withheld message and read receipt of the normal one",
            EVENT_DEADLINE,
            |e| {
                match e {
                    Event::ServerAck(a) if a.id == silent => silent_acked = true,
                    Event::Receipt(r) if r.message_ids.contains(&silent) => {
                        panic!("receipt for a withheld message: {r:?}")
                    }
                    Event::Receipt(r)
                        if r.r#type == ReceiptType::Read && r.message_ids.contains(&normal) =>
                    {
                        normal_read = true
                    }
                    _ => {}
                }
                (silent_acked && normal_read).then_some(())
            },
        )
        .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pairing_code_login() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let options = whatsapp_rust::pair_code::PairCodeOptions {
        phone_number: "6281111111119".into(),
        ..Default::default()
    };
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), Some(options)).await;
    let code = client
        .wait_for("PairingCode", EVENT_DEADLINE, |e| match e {
            Event::PairingCode(c) => Some(c.code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code.len(), 8);
    sim.enter_pair_code("6281111111119", &code)
        .await
        .expect("enter pair code");
    client.connected(EVENT_DEADLINE).await;
    assert_eq!(sim.linked_accounts()[0].phone, "6281111111119");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zero_qr_refs_exhaust_immediately() {
    init_logs();
    let sim = Simulator::start(SimConfig {
        qr_ref_count: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), None).await;
    client
        .wait_for("PairingQrCodesExhausted", EVENT_DEADLINE, |e| match e {
            Event::PairingQrCodesExhausted(x) => Some(x.disconnected),
            _ => None,
        })
        .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflict_fault_replaces_the_stream() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111120", &dir.path().join("wa.db")).await;
    sim.fault(Fault::Conflict(Some("6281111111120".into())));
    client
        .wait_for("StreamReplaced", EVENT_DEADLINE, |e| {
            matches!(e, Event::StreamReplaced(_)).then_some(())
        })
        .await;
    client.shutdown().await;
}

/// A `slow_iq` fault aimed at `is_on_whatsapp` (usync, context
/// `interactive`) is spent on that query, not on the IQs the client sends
/// around it: other IQs fired before it and at the same time leave it armed.
/// (The client also sends usync queries of its own after login, with
/// context `message` or `background`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_iq_aimed_at_usync_skips_other_iqs_and_hits_the_query() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let client = paired_client(&sim, "6281111111121", &dir.path().join("wa.db")).await;
    let delay = std::time::Duration::from_millis(1500);
    sim.fault(Fault::SlowIq {
        phone: Some("6281111111121".into()),
        xmlns: Some("usync".into()),
        context: Some("interactive".into()),
        delay: Some(delay),
    });

    // Other traffic first: it passes and leaves the fault armed.
    client.client.fetch_props().await.expect("props");
    client
        .client
        .fetch_privacy_settings()
        .await
        .expect("privacy settings");
    assert_eq!(sim.fault_hits(), vec![], "the usync fault hit another IQ");

    // Then the query, with other IQs in flight beside it.
    let started = std::time::Instant::now();
    let (query, props, privacy) = tokio::join!(
        async {
            let registered = client.is_on_whatsapp("6281234567890").await;
            (registered, started.elapsed())
        },
        client.client.fetch_props(),
        client.client.fetch_privacy_settings(),
    );
    props.expect("props beside the query");
    privacy.expect("privacy settings beside the query");
    let (registered, took) = query;
    assert!(registered);
    assert!(
        took >= delay,
        "the query was answered after {took:?}, the fault holds it {delay:?}"
    );
    let hits = sim.fault_hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].kind, "slow_iq");
    assert_eq!(hits[0].target, "usync");
    assert_eq!(hits[0].context.as_deref(), Some("interactive"));
    assert_eq!(hits[0].phone.as_deref(), Some("6281111111121"));

    // One-shot: the next query is not held.
    assert!(client.is_on_whatsapp("6281234567890").await);
    assert_eq!(sim.fault_hits().len(), 1, "{:?}", sim.fault_hits());
    client.shutdown().await;
}

/// The untargeted form is spent on the very next IQ of the connection,
/// whatever it is: the request below, or one the client sent of its own
/// accord just before it. Either way exactly one IQ is hit by the time the
/// request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_iq_without_xmlns_delays_the_next_iq() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let client = paired_client(&sim, "6281111111125", &dir.path().join("wa.db")).await;
    let delay = std::time::Duration::from_millis(1000);
    sim.fault(Fault::SlowIq {
        phone: Some("6281111111125".into()),
        xmlns: None,
        context: None,
        delay: Some(delay),
    });
    client.client.fetch_props().await.expect("props");
    let hits = sim.fault_hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].kind, "slow_iq");
    assert_eq!(hits[0].phone.as_deref(), Some("6281111111125"));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_accounts_pair_concurrently_and_send() {
    init_logs();
    // Twenty pairings share two cores: the phone's wait for each client's
    // answers gets the same generous bound as the client's waits below.
    let sim = Simulator::start(SimConfig {
        pairing_timeout: EVENT_DEADLINE * 2,
        ..SimConfig::default()
    })
    .await
    .expect("sim start");
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let sim = sim.clone();
        let db = dir.path().join(format!("wa{i}.db"));
        tasks.push(tokio::spawn(async move {
            let phone = format!("62822000000{i:02}");
            let mut client = TestClient::start(&sim, &db, None).await;
            let qr = client.qr().await;
            sim.scan(&qr, &phone, "Phone").await.expect("scan");
            // Twenty pairings share two cores: bound the wait generously.
            client.connected(EVENT_DEADLINE * 2).await;
            client
                .client
                .send_text(Jid::pn("6281234567890"), format!("from {phone}"))
                .await
                .expect("send");
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("client task"));
    }
    let inbox = sim
        .wait_for_inbox("6281234567890", 20, EVENT_DEADLINE)
        .await
        .expect("20 messages");
    for i in 0..20 {
        let phone = format!("62822000000{i:02}");
        assert!(
            inbox
                .iter()
                .any(|m| m.from == phone && m.text == format!("from {phone}")),
            "missing message from {phone}"
        );
    }
    assert_eq!(sim.linked_accounts().len(), 20);
    for c in clients {
        c.shutdown().await;
    }
}

/// Speaks just enough WebSocket by hand to deliver `payload` as one masked
/// binary frame after a valid upgrade.
async fn raw_ws_send(addr: std::net::SocketAddr, payload: &[u8], hang_up: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.unwrap() == 0 {
            panic!("server closed during upgrade");
        }
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame).await.unwrap();
    if hang_up {
        tcp.shutdown().await.unwrap();
    }
    // The server must close the connection instead of panicking or hanging.
    let mut rest = Vec::new();
    tokio::time::timeout(EVENT_DEADLINE, tcp.read_to_end(&mut rest))
        .await
        .expect("server did not close a garbage connection")
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_input_closes_the_connection_and_serving_continues() {
    let sim = sim().await;
    // Wrong connection header.
    raw_ws_send(sim.local_addr(), b"XXXXXXXX", false).await;
    // Right header, garbage handshake frame.
    raw_ws_send(sim.local_addr(), b"WA\x06\x03\x00\x00\x05junk!", false).await;
    // Right header, frame claiming more bytes than sent, then hang up.
    raw_ws_send(sim.local_addr(), b"WA\x06\x03\xff\xff\xffabc", true).await;
    let dir = tempfile::tempdir().unwrap();
    let client = paired_client(&sim, "6281111111122", &dir.path().join("wa.db")).await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipt_delay_postpones_receipts() {
    let sim = sim().await;
    sim.add_number("6281234567890", true);
    let delay = std::time::Duration::from_millis(1200);
    sim.set_receipt_delay("6281234567890", delay);
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, "6281111111123", &dir.path().join("wa.db")).await;
    // The simulator receives the message after this instant and sends the
    // receipt `delay` after it received it, so no receipt can reach the test
    // sooner than `delay` from here, however the machine schedules things.
    let before_send = std::time::Instant::now();
    let id = client
        .client
        .send_text(Jid::pn("6281234567890"), "slow receipts")
        .await
        .unwrap()
        .message_id;
    let delivered_after = client
        .wait_for("delayed delivered receipt", EVENT_DEADLINE, |e| match e {
            Event::Receipt(r)
                if r.r#type == ReceiptType::Delivered && r.message_ids.contains(&id) =>
            {
                Some(before_send.elapsed())
            }
            _ => None,
        })
        .await;
    assert!(
        delivered_after >= delay,
        "delivered receipt came {delivered_after:?} after the send, delay is {delay:?}"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_ik_key_falls_back_to_xx_and_unknown_device_is_logged_out() {
    let first = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wa.db");
    let client = paired_client(&first, "6281111111124", &db).await;
    client.shutdown().await;
    first.shutdown();

    // A new simulator has a different Noise key and knows no accounts: the
    // client's IK hello must be answered with XX fallback (otherwise it
    // retries IK forever), and the unknown device refused with 401.
    let second = sim().await;
    let mut again = TestClient::start(&second, &db, None).await;
    again
        .wait_for("LoggedOut from an unknown simulator", EVENT_DEADLINE, |e| {
            matches!(e, Event::LoggedOut(_)).then_some(())
        })
        .await;
    again.shutdown().await;
}

/// Polls `check` every 25 ms until it answers `Some`; panics naming `what`
/// after `deadline`.
async fn poll_until<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        // A bounded poll interval, not a wait for something to happen.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_load_history_sync_and_contacts_reach_the_client() {
    use waproto::buffa::Message as _;
    use waproto::whatsapp as wa;

    const CHATS: usize = 3;
    const PER_CHAT: usize = 4;
    const BYTES: usize = 3000;
    init_logs();
    let sim = Simulator::start(SimConfig {
        idle_load: Some(IdleLoad {
            chats: CHATS,
            messages_per_chat: PER_CHAT,
            message_bytes: BYTES,
            history: true,
        }),
        ..SimConfig::default()
    })
    .await
    .expect("sim start");
    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), None).await;
    let qr = client.qr().await;
    sim.scan(&qr, "6281111111119", "History Phone")
        .await
        .expect("scan");
    // The history sync follows the key share right after pairing, possibly
    // before `Connected`, and the app-state sync brings one contact per
    // chat: wait for all of them, in whatever order they come.
    let mut blob = None;
    let mut contacts = std::collections::BTreeMap::new();
    client
        .wait_for(
            "Event::HistorySync and a ContactUpdate per chat",
            EVENT_DEADLINE,
            |e| {
                match e {
                    Event::HistorySync(h) => {
                        blob = Some(h.decompress().expect("inflate history sync"))
                    }
                    Event::ContactUpdate(c) => {
                        contacts.insert(c.jid.to_string(), c.action.full_name.clone());
                    }
                    _ => {}
                }
                (blob.is_some() && contacts.len() == CHATS).then_some(())
            },
        )
        .await;
    let blob = blob.expect("history sync");
    for (jid, name) in &contacts {
        assert!(jid.starts_with("62877"), "{jid}");
        assert!(
            name.as_deref().is_some_and(|n| n.ends_with(" Contact")),
            "{jid}: {name:?}"
        );
    }
    let history = wa::HistorySync::decode_from_slice(&blob).expect("HistorySync proto");
    assert_eq!(
        history.sync_type,
        wa::history_sync::HistorySyncType::INITIAL_BOOTSTRAP
    );
    assert_eq!(history.conversations.len(), CHATS);
    for conversation in &history.conversations {
        assert_eq!(conversation.messages.len(), PER_CHAT, "{}", conversation.id);
        for m in &conversation.messages {
            let text = m
                .message
                .message
                .conversation
                .as_deref()
                .expect("a text message");
            assert_eq!(text.len(), BYTES);
        }
    }
    assert!(history.pushnames.len() > CHATS, "{:?}", history.pushnames);
    // The client took the notification up (its `hist_sync` receipt) and,
    // with the inline payload, downloaded nothing.
    let device = poll_until("the hist_sync receipt", EVENT_DEADLINE, || {
        sim.devices()
            .into_iter()
            .find(|d| d.phone == "6281111111119" && d.history_sync_receipts == 1)
    })
    .await;
    assert_eq!(device.history_syncs_sent, 1, "{device:?}");
    assert_eq!(device.history_blob_downloads, 0, "{device:?}");
    client.shutdown().await;
}
