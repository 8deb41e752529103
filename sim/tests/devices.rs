//! Per-device accounting with the real client: one live stream per linked
//! device (a second login replaces the first), duplicate message ids, and
//! retry receipts for messages the simulated phone cannot decrypt.

mod common;

use std::path::Path;

use common::log_capture::{self, LogCapture};
use common::*;
use waotp_sim::{DeviceConnections, Fault, SimConfig, Simulator};
use whatsapp_rust::prelude::*;
use whatsapp_rust::types::presence::ReceiptType;

const RECIPIENT: &str = "6281234567890";

/// The client's retry handling logs its decisions here (`src/retry.rs`).
fn retry_logs() -> &'static LogCapture {
    log_capture::install("whatsapp_rust::retry")
}

async fn sim() -> Simulator {
    retry_logs();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("sim start");
    sim.add_number(RECIPIENT, true);
    sim
}

/// The only linked device of `phone`.
fn device_of(sim: &Simulator, phone: &str) -> DeviceConnections {
    let devices: Vec<_> = sim
        .devices()
        .into_iter()
        .filter(|d| d.phone == phone)
        .collect();
    assert_eq!(devices.len(), 1, "{devices:?}");
    devices.into_iter().next().unwrap()
}

/// Copies a stopped client's SQLite store from `from` to `to`: both then
/// hold the same device identity.
///
/// Through SQLite (`VACUUM INTO`), not file by file: the stopped client's
/// connections may still be closing, and the last one checkpoints its WAL
/// into the main file and deletes it, so a file copy could catch the WAL
/// half gone. `VACUUM INTO` reads one consistent snapshot.
fn copy_store(from: &Path, to: &Path) {
    let db = rusqlite::Connection::open(from).expect("open the store to copy");
    db.execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .expect("copy the store");
}

/// Two processes restored from one store log in as the same device: the
/// second login replaces the first, which gets `StreamReplaced` and stays
/// down (the client turns reconnecting off on a conflict).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_login_as_the_same_device_replaces_the_first() {
    let sim = sim().await;
    let phone = "6281111111131";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wa.db");
    let paired = paired_client(&sim, phone, &db).await;
    paired.shutdown().await;
    let copy = dir.path().join("copy.db");
    copy_store(&db, &copy);

    let mut first = TestClient::start(&sim, &db, None).await;
    first.connected(EVENT_DEADLINE).await;
    // The client may log in more than once around pairing (a reconnect of
    // its own right after the post-pairing login), so the counts below are
    // taken relative to this point.
    let before = device_of(&sim, phone);
    assert_eq!(before.live_connections, 1, "{before:?}");

    let mut second = TestClient::start(&sim, &copy, None).await;
    second.connected(EVENT_DEADLINE).await;
    first
        .wait_for(
            "StreamReplaced on the older connection",
            EVENT_DEADLINE,
            |e| matches!(e, Event::StreamReplaced(_)).then_some(()),
        )
        .await;
    let after = device_of(&sim, phone);
    assert_eq!(
        after.jid,
        format!("{phone}:{}@s.whatsapp.net", after.device)
    );
    assert_eq!(
        after.live_connections, 1,
        "the older connection is gone: {after:?}"
    );
    assert_eq!(after.logins, before.logins + 1, "{after:?}");
    assert_eq!(after.replaced, before.replaced + 1, "{after:?}");
    // The second login is counted together with the connection it replaced.
    assert_eq!(after.max_live_connections, 2, "{after:?}");

    // The connection that took over works.
    let sent = second
        .client
        .send_text(Jid::pn(RECIPIENT), "from the second process")
        .await
        .expect("send from the replacing client");
    let inbox = sim
        .wait_for_inbox(RECIPIENT, 1, EVENT_DEADLINE)
        .await
        .unwrap();
    assert_eq!(inbox[0].id, sent.message_id);
    assert_eq!(device_of(&sim, phone).duplicate_messages, 0);
    second.shutdown().await;
    first.shutdown().await;
}

/// A message id sent twice is one delivery and one duplicate: the phone
/// keeps the first, the counter shows the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_id_sent_twice_counts_as_a_duplicate() {
    let sim = sim().await;
    let phone = "6281111111132";
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, phone, &dir.path().join("wa.db")).await;

    let once = client
        .client
        .send_text(Jid::pn(RECIPIENT), "sent once")
        .await
        .expect("send")
        .message_id;
    let id = "3EB0SIMDUPLICATE01";
    for text in ["first copy", "second copy"] {
        let message = wa::Message {
            conversation: Some(text.into()),
            ..Default::default()
        };
        let sent = client
            .client
            .send_message_with_options(
                Jid::pn(RECIPIENT),
                message,
                SendOptions::default().with_message_id(id),
            )
            .await
            .expect("send with a fixed id");
        assert_eq!(sent.message_id, id);
    }
    let mut acks = 0;
    client
        .wait_for("server acks of both copies", EVENT_DEADLINE, |e| {
            if matches!(e, Event::ServerAck(a) if a.id == id) {
                acks += 1;
            }
            (acks == 2).then_some(())
        })
        .await;

    let device = device_of(&sim, phone);
    assert_eq!(device.duplicate_messages, 1, "{device:?}");
    assert_eq!(sim.message_stanzas(phone, device.device, id), 2);
    assert_eq!(sim.message_stanzas(phone, device.device, &once), 1);
    let inbox = sim.inbox(RECIPIENT);
    let texts: Vec<_> = inbox
        .iter()
        .map(|m| (m.id.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![(once.as_str(), "sent once"), (id, "first copy")],
        "the phone keeps one message per id"
    );
    client.shutdown().await;
}

/// The phone cannot decrypt a message: the server acks it, the phone sends
/// a retry receipt, and whatsapp-rust resends the message under the same id
/// (re-encrypted, `<enc count="1">`), which is then delivered. The client
/// emits no event for the retry receipt itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undecryptable_message_is_resent_after_a_retry_receipt() {
    let sim = sim().await;
    let phone = "6281111111133";
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, phone, &dir.path().join("wa.db")).await;

    sim.fault(Fault::Undecryptable(RECIPIENT.into()));
    let id = client
        .client
        .send_text(Jid::pn(RECIPIENT), "kode 111111")
        .await
        .expect("send")
        .message_id;
    let (mut acks, mut delivered, mut read) = (0, false, false);
    client
        .wait_for(
            "acks of the message and its resend, then delivered and read",
            EVENT_DEADLINE,
            |e| {
                eprintln!("event: {e:?}");
                match e {
                    Event::ServerAck(a) if a.id == id => {
                        assert_eq!(a.error, None, "{a:?}");
                        acks += 1;
                    }
                    Event::Receipt(r) if r.message_ids.contains(&id) => match r.r#type {
                        ReceiptType::Delivered => delivered = true,
                        ReceiptType::Read => read = true,
                        _ => panic!("unexpected receipt event {r:?}"),
                    },
                    _ => {}
                }
                (acks == 2 && delivered && read).then_some(())
            },
        )
        .await;

    let inbox = sim.inbox(RECIPIENT);
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(
        (inbox[0].id.as_str(), inbox[0].text.as_str()),
        (id.as_str(), "kode 111111")
    );
    let hits = sim.fault_hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (
            hits[0].kind.as_str(),
            hits[0].target.as_str(),
            hits[0].stanza_id.as_str()
        ),
        ("undecryptable", RECIPIENT, id.as_str())
    );
    let device = device_of(&sim, phone);
    assert_eq!(
        (
            device.retry_receipts_sent,
            device.retry_resends,
            device.duplicate_messages
        ),
        (1, 1, 0),
        "{device:?}"
    );
    assert_eq!(sim.message_stanzas(phone, device.device, &id), 2);
    retry_logs()
        .wait_for(&["Resending message", &id, "(retry #1)"], EVENT_DEADLINE)
        .await;
    client.shutdown().await;
}

/// Sends `text` to the recipient and waits for its ack and read receipt.
async fn send_and_wait_read(client: &mut TestClient, text: &str) -> String {
    let id = client
        .client
        .send_text(Jid::pn(RECIPIENT), text)
        .await
        .expect("send")
        .message_id;
    // Acks and receipts reach the test in any order: wait for both.
    let (mut acked, mut read) = (false, false);
    client
        .wait_for("ack and read receipt", EVENT_DEADLINE, |e| {
            match e {
                Event::ServerAck(a) if a.id == id => acked = true,
                Event::Receipt(r)
                    if r.r#type == ReceiptType::Read && r.message_ids.contains(&id) =>
                {
                    read = true
                }
                _ => {}
            }
            (acked && read).then_some(())
        })
        .await;
    id
}

/// Two processes restored from one store encrypt from the same ratchet: the
/// second one's message reuses a counter the phone already consumed
/// (libsignal "message with old counter"). The phone asks for a retry and
/// the client resends under the same id from its own, advanced, ratchet: the
/// message is delivered, late.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reused_ratchet_counter_is_recovered_by_a_retry_receipt() {
    let sim = sim().await;
    let phone = "6281111111135";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wa.db");
    let mut paired = paired_client(&sim, phone, &db).await;
    send_and_wait_read(&mut paired, "session up").await;
    paired.shutdown().await;
    let copy = dir.path().join("copy.db");
    copy_store(&db, &copy);

    let mut first = TestClient::start(&sim, &db, None).await;
    first.connected(EVENT_DEADLINE).await;
    send_and_wait_read(&mut first, "from the first process").await;
    first.shutdown().await;

    let mut second = TestClient::start(&sim, &copy, None).await;
    second.connected(EVENT_DEADLINE).await;
    let id = send_and_wait_read(&mut second, "from the second process").await;
    let device = device_of(&sim, phone);
    assert_eq!(
        (
            device.retry_receipts_sent,
            device.retry_resends,
            device.duplicate_messages
        ),
        (1, 1, 0),
        "{device:?}"
    );
    assert_eq!(sim.message_stanzas(phone, device.device, &id), 2);
    assert_eq!(sim.fault_hits(), vec![], "no fault was armed");
    let texts: Vec<String> = sim.inbox(RECIPIENT).into_iter().map(|m| m.text).collect();
    assert_eq!(
        texts,
        [
            "session up",
            "from the first process",
            "from the second process"
        ]
    );
    second.shutdown().await;
}

/// whatsapp-rust answers retry counts below 5 with a resend and refuses
/// count 5 (`MAX_RETRY_COUNT`) silently: nothing on the wire, no event.
/// Each count is sent on its own, after the previous resend arrived and was
/// acked: the client ignores a retry receipt that reaches it while it is
/// still handling the previous one for the same message, so a chain of
/// armed faults answered at loopback speed can stall (see README).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_client_resends_at_retry_count_four_and_refuses_five() {
    let sim = sim().await;
    let phone = "6281111111134";
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, phone, &dir.path().join("wa.db")).await;
    let device = device_of(&sim, phone).device;

    let id = send_and_wait_read(&mut client, "kode 444444").await;

    sim.send_retry_receipt(phone, device, RECIPIENT, &id, 4)
        .await
        .expect("retry receipt #4");
    client
        .wait_for("ack of the resend", EVENT_DEADLINE, |e| match e {
            Event::Receipt(r) if r.r#type == ReceiptType::Retry => {
                panic!("retry receipt surfaced as an event: {r:?}")
            }
            Event::ServerAck(a) if a.id == id => Some(()),
            _ => None,
        })
        .await;
    retry_logs()
        .wait_for(&["Resending message", &id, "(retry #4)"], EVENT_DEADLINE)
        .await;
    assert_eq!(sim.message_stanzas(phone, device, &id), 2);

    sim.send_retry_receipt(phone, device, RECIPIENT, &id, 5)
        .await
        .expect("retry receipt #5");
    // Nothing goes on the wire when the client refuses: its log line is the
    // only sign, and its handler returns right after it.
    retry_logs()
        .wait_for(&["Refusing retry #5 for message", &id], EVENT_DEADLINE)
        .await;
    assert_eq!(
        sim.message_stanzas(phone, device, &id),
        2,
        "a resend for #5"
    );
    assert!(retry_logs().lines_with(&["(retry #5)", &id]).is_empty());
    let counters = device_of(&sim, phone);
    assert_eq!(
        (
            counters.retry_receipts_sent,
            counters.retry_resends,
            counters.duplicate_messages
        ),
        (2, 1, 0),
        "{counters:?}"
    );
    let inbox = sim.inbox(RECIPIENT);
    assert_eq!(inbox.len(), 1, "delivered once: {inbox:?}");
    client.shutdown().await;
}
