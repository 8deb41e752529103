//! Webhooks from the real `waotp-server` binary to a receiver in this
//! process, which checks every signature itself (HMAC-SHA256 over
//! `id.timestamp.body`, as the Standard Webhooks specification says). The
//! receiver refuses everything at first, so events pile up in the queue;
//! the server is killed (SIGKILL) with the queue full, started again, and
//! the receiver, now accepting, gets every queued event: repeats allowed,
//! each with its id, none lost.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use waotp_sim::{SimConfig, Simulator};

mod common;

use common::server_process::{STEP, ServerProcess};

/// 32 bytes, base64: a test secret.
const SECRET: &str = "whsec_dGVzdCBzZWNyZXQgb2YgdGhlIHdlYmhvb2sgdGVzdHM=";

/// What the receiver saw.
#[derive(Default)]
struct Received {
    /// Every request: (webhook-id, event type, signature valid, accepted).
    requests: Mutex<Vec<(String, String, bool, bool)>>,
    /// Answer 503 while set.
    refuse: AtomicBool,
}

fn signature_valid(headers: &HeaderMap, body: &[u8]) -> bool {
    let key = STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(header("webhook-id").as_bytes());
    mac.update(b".");
    mac.update(header("webhook-timestamp").as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

async fn hook(State(r): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let kind = event["type"].as_str().unwrap_or("").to_owned();
    let accept = !r.refuse.load(Ordering::SeqCst);
    r.requests
        .lock()
        .unwrap()
        .push((id, kind, signature_valid(&headers, &body), accept));
    if accept {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The server binary with webhooks to `hook_url`, the secret through the
/// environment as a deployment would pass it.
fn start(data_dir: &Path, ws_url: &str, hook_url: &str) -> ServerProcess {
    ServerProcess::start(
        data_dir,
        ws_url,
        &["--webhook-url", hook_url],
        &[("WAOTP_WEBHOOK_SECRET", SECRET)],
    )
}

async fn post_json(url: String, body: Value) -> u16 {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
            .status()
            .as_u16()
    })
    .await
    .unwrap()
}

/// The event ids waiting in the queue file.
fn queued_ids(data_dir: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(data_dir.join("webhooks.db")).unwrap();
    let mut statement = conn.prepare("SELECT event_id FROM webhook").unwrap();
    statement
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Polls until `check` holds; fails with `what` after [`STEP`].
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queued_event_arrives_signed_after_a_kill_and_a_restart() {
    let received = Arc::new(Received::default());
    received.refuse.store(true, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &sim.ws_url(), &hook_url);
    // Events: two sessions made, a QR code each.
    for id in ["hook-a", "hook-b"] {
        let status = post_json(
            format!("{}/api/sessions/create", first.base),
            json!({ "sessionId": id }),
        )
        .await;
        assert_eq!(status, 201);
    }
    wait_until("refused deliveries of both QR code events", || {
        let requests = received.requests.lock().unwrap();
        let ids: HashSet<&String> = requests
            .iter()
            .filter(|(_, kind, ..)| kind == "qr_updated")
            .map(|(id, ..)| id)
            .collect();
        ids.len() >= 2
    })
    .await;
    let queued = queued_ids(dir.path());
    assert!(queued.len() >= 2, "events wait in the queue: {queued:?}");
    first.kill();
    let queued_at_kill = queued_ids(dir.path());
    assert!(
        queued_at_kill.is_superset(&queued),
        "the kill lost nothing queued"
    );

    // Accepting now; the restarted server delivers what waited.
    received.refuse.store(false, Ordering::SeqCst);
    let second = start(dir.path(), &sim.ws_url(), &hook_url);
    wait_until("every queued event delivered", || {
        let accepted: HashSet<String> = received
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(.., accepted)| *accepted)
            .map(|(id, ..)| id.clone())
            .collect();
        queued_at_kill.is_subset(&accepted)
    })
    .await;
    let requests = received.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|(id, kind, valid, _)| *valid && id.starts_with("evt_") && !kind.is_empty()),
        "every request signed, with an id and a type: {requests:?}"
    );
    drop(second);
}
