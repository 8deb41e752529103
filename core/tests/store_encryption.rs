//! Session stores encrypted at rest (`GatewayBuilder::session_store_key`,
//! the `sqlcipher` feature): the file holds no readable page, the session
//! reconnects with its key after a restart, and without it (or with
//! another key) it stops with a reason that says so.

#![cfg(feature = "sqlcipher")]

mod common;

use std::path::Path;

use common::{STEP, link};
use waotp::otp::{Limits, OtpConfig};
use waotp::{DeliveryStatus, Gateway, OtpRequest, SessionState, StoreKey};
use waotp_sim::Simulator;

const PHONE: &str = "6281100000077";
const SESSION: &str = "vault";
const TO: &str = "6281230000077";

fn key(byte: u8) -> StoreKey {
    StoreKey::from_bytes(&[byte; 32]).unwrap()
}

async fn open(sim: &Simulator, dir: &Path, store_key: Option<StoreKey>) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config);
    if let Some(key) = store_key {
        builder = builder.session_store_key(key);
    }
    builder.open().await.expect("gateway opens")
}

/// Every byte of the session's store and its side files.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let path = dir.join("sessions").join(format!("{SESSION}.db{suffix}"));
        if let Ok(b) = std::fs::read(&path) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_store_is_unreadable_without_its_key_and_reopens_with_it() {
    let sim = common::simulator().await;
    sim.add_number(TO, true);
    let dir = tempfile::tempdir().unwrap();

    let gateway = open(&sim, dir.path(), Some(key(1))).await;
    link(&gateway, &sim, SESSION, PHONE).await;
    let sent = gateway
        .send_otp(SESSION, TO, &OtpRequest::new("Toko"))
        .await
        .unwrap();
    gateway
        .wait_message_status(sent.message_id.as_deref().unwrap(), STEP, |s| {
            matches!(s, DeliveryStatus::Delivered | DeliveryStatus::Read)
        })
        .await
        .unwrap();
    gateway.close().await;

    // No page is plain SQLite: no header, and not the linked number, which
    // a plain store holds in its device row as text.
    let bytes = store_bytes(dir.path());
    assert!(
        bytes.len() > 4096,
        "the store was written ({} bytes)",
        bytes.len()
    );
    assert!(
        !bytes.starts_with(b"SQLite format 3\0"),
        "a plain SQLite header"
    );
    assert!(
        !contains(&bytes, PHONE.as_bytes()),
        "the linked number in clear"
    );
    let plain = rusqlite::Connection::open(dir.path().join("sessions/vault.db")).unwrap();
    assert!(
        plain
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
                .get::<_, i64>(0))
            .is_err(),
        "read without the key"
    );

    // Restarted with its key: the link holds, no QR code.
    let gateway = open(&sim, dir.path(), Some(key(1))).await;
    let session = gateway.session(SESSION).unwrap();
    let status = session.wait_connected(STEP).await.unwrap();
    assert_eq!(status.user.unwrap().phone, PHONE);
    gateway.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_key_or_with_another_a_store_stops_with_the_reason() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = open(&sim, dir.path(), Some(key(2))).await;
    link(&gateway, &sim, SESSION, PHONE).await;
    gateway.close().await;

    for (what, store_key) in [("no key", None), ("another key", Some(key(3)))] {
        let gateway = open(&sim, dir.path(), store_key).await;
        let session = gateway.session(SESSION).unwrap();
        common::poll_until(&format!("{what}: the session stops"), || {
            session.status().state == SessionState::Stopped
        })
        .await;
        let reason = session.status().reason.unwrap_or_default();
        assert!(
            reason.contains("not a usable session store") && reason.contains("key"),
            "{what}: {reason}"
        );
        gateway.close().await;
    }

    // The right key still opens it: a refused open changed nothing.
    let gateway = open(&sim, dir.path(), Some(key(2))).await;
    gateway
        .session(SESSION)
        .unwrap()
        .wait_connected(STEP)
        .await
        .unwrap();
    gateway.close().await;
}

#[test]
fn a_key_is_exactly_32_bytes() {
    for len in [0, 16, 31, 33, 64] {
        let err = StoreKey::from_bytes(&vec![9; len]).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{len} bytes");
    }
}
