//! Webhooks from the real `waotp-server` binary to a receiver in this
//! process, which checks every signature itself (HMAC-SHA256 over
//! `id.timestamp.body`, as the Standard Webhooks specification says). The
//! receiver refuses everything at first, so events pile up in the queue;
//! the server is killed (SIGKILL) with the queue full, started again, and
//! the receiver, now accepting, gets every queued event: repeats allowed,
//! each with its id, none lost; and the restored session's
//! `connected`, an event of the server's start.
//!
//! A second test gives the server an endpoint that never answers beside
//! one that does: the good endpoint gets every event of a link and an OTP
//! send while the other one's requests hang.

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

/// A receiver on a loopback port: what it saw, and its URL.
async fn receiver() -> (Arc<Received>, String) {
    let received = Arc::new(Received::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, url)
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

/// An HTTP request to the server: its status and JSON body.
async fn call(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let answer = match body {
            Some(body) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            None => agent.get(&url).call(),
        };
        let mut answer = answer.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = answer.body_mut().read_to_string().unwrap_or_default();
        (
            answer.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

async fn post_json(url: String, body: Value) -> u16 {
    call("POST", url, Some(body)).await.0
}

/// Links session `id` of the server at `base` as the simulated phone `phone`.
async fn link(sim: &Simulator, base: &str, id: &str, phone: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    let payload = loop {
        let (status, body) = call("GET", format!("{base}/api/sessions/{id}/qr"), None).await;
        if status == 200 {
            break body["data"]["qrPayload"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no QR code for {id}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    sim.scan(&payload, phone, "Webhook Phone").await.unwrap();
}

/// The ids of the accepted requests of type `kind`.
fn accepted_of(received: &Received, kind: &str) -> HashSet<String> {
    received
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, k, _, accepted)| k == kind && *accepted)
        .map(|(id, ..)| id.clone())
        .collect()
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
    let (received, hook_url) = receiver().await;
    received.refuse.store(true, Ordering::SeqCst);

    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &sim.ws_url(), &hook_url);
    // Events: two sessions made, a QR code each; the first one linked.
    for id in ["hook-a", "hook-b"] {
        let status = post_json(
            format!("{}/api/sessions/create", first.base),
            json!({ "sessionId": id }),
        )
        .await;
        assert_eq!(status, 201);
    }
    link(&sim, &first.base, "hook-a", "6281111112001").await;
    wait_until(
        "refused deliveries of both QR code events and the link",
        || {
            let requests = received.requests.lock().unwrap();
            let kinds = |kind: &str| {
                requests
                    .iter()
                    .filter(|(_, k, ..)| k == kind)
                    .map(|(id, ..)| id)
                    .collect::<HashSet<&String>>()
                    .len()
            };
            kinds("qr_updated") >= 2 && kinds("connected") >= 1
        },
    )
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
    // The restored session connected during the server's start: that
    // event is sent too (the stream is subscribed before sessions start).
    wait_until("the restored session's connected event", || {
        accepted_of(&received, "connected")
            .difference(&queued_at_kill)
            .count()
            >= 1
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_delays_no_other_endpoint() {
    // It accepts connections and reads nothing back: every POST to it
    // waits for the server's request timeout.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for stream in hanging.incoming().flatten() {
                held.lock().unwrap().push(stream);
            }
        });
    }
    let (received, hook_url) = receiver().await;

    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The hanging endpoint first: with one sender for every endpoint, each
    // event would wait for its 10 s timeout before the good one got it.
    let server = ServerProcess::start(
        dir.path(),
        &sim.ws_url(),
        &["--webhook-url", &hanging_url, "--webhook-url", &hook_url],
        &[("WAOTP_WEBHOOK_SECRET", SECRET)],
    );
    let created = post_json(
        format!("{}/api/sessions/create", server.base),
        json!({ "sessionId": "shop" }),
    )
    .await;
    assert_eq!(created, 201);
    link(&sim, &server.base, "shop", "6281111112002").await;
    wait_until("the link's events at the answering endpoint", || {
        !accepted_of(&received, "connected").is_empty()
    })
    .await;
    sim.add_number("6281234562002", true);
    let (status, body) = call(
        "POST",
        format!("{}/api/messages/shop/otp", server.base),
        Some(json!({ "to": "6281234562002" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_until(
        "otp_sent and the message's delivery at the answering endpoint",
        || {
            !accepted_of(&received, "otp_sent").is_empty()
                && !accepted_of(&received, "message_status").is_empty()
        },
    )
    .await;
    assert!(
        !held.lock().unwrap().is_empty(),
        "the hanging endpoint was called too"
    );
    let requests = received.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|(_, _, valid, _)| *valid),
        "{requests:?}"
    );
}
