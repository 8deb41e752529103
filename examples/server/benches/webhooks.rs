//! Webhook throughput on loopback: how fast the recorder queues events and
//! how fast the senders deliver them to a local receiver (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench -p waotp-server --features sandbox --bench webhooks -- 10000
//! ```
//!
//! The argument is the number of events (10,000). Each is a
//! `message_status` event's body, as the server writes it. The queue is the
//! server's own (`webhooks.db`, WAL, `secure_delete`, the default
//! `synchronous`), the senders are the server's own (one per endpoint,
//! signed POSTs through reqwest), and the receiver is an axum route in this
//! process that checks every signature (HMAC-SHA256, as a receiver should)
//! and answers 204.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use waotp_server::webhooks::deliver::body;
use waotp_server::webhooks::queue::NewEvent;
use waotp_server::webhooks::{WebhookConfig, WebhookQueue, WebhookSecret, deliver};

const SECRET: &str = "whsec_YmVuY2htYXJrIHNlY3JldCBvZiB0aGUgd2ViaG9va3M=";
const DEADLINE: Duration = Duration::from_secs(300);

/// Requests seen, and those whose signature checked out.
struct Receiver {
    secret: WebhookSecret,
    seen: AtomicUsize,
    valid: AtomicUsize,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    // The receiver's work: the HMAC over `id.timestamp.body` (the webhook
    // test checks it independently of the server's code; here it is a cost).
    let timestamp = header("webhook-timestamp").parse().unwrap_or(0);
    let expected = r.secret.sign(&header("webhook-id"), timestamp, &body);
    r.seen.fetch_add(1, Ordering::SeqCst);
    if header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
    {
        r.valid.fetch_add(1, Ordering::SeqCst);
    }
    StatusCode::NO_CONTENT
}

/// `n` events as the recorder makes them.
fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            let event = waotp::Event::MessageStatus {
                session: "shop".into(),
                message_id: format!("3EB0{i:016X}"),
                to: "6281234567890".into(),
                status: waotp::DeliveryStatus::Delivered,
            };
            NewEvent {
                id: format!("evt_{i:032x}"),
                body: body(&event, 1_700_000_000_000 + i as u64),
                at_ms: 0,
            }
        })
        .collect()
}

/// Events per second of `n` events in `elapsed`.
fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Queues `n` events in transactions of `batch`; events per second.
fn record(n: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(&dir.path().join("webhooks.db")).unwrap();
    let urls = vec!["http://127.0.0.1:9/hook".to_owned()];
    let all = events(n);
    let started = Instant::now();
    for chunk in all.chunks(batch) {
        queue.push_all(chunk, &urls).unwrap();
    }
    rate(n, started.elapsed())
}

/// An endpoint that accepts connections and never answers.
fn hanging_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// Delivers `n` queued events to a receiver (beside a hanging endpoint
/// when `with_hanging`); events per second to the receiver.
async fn deliver_all(n: usize, with_hanging: bool) -> f64 {
    let receiver = Arc::new(Receiver {
        secret: WebhookSecret::parse(SECRET).unwrap(),
        seen: AtomicUsize::new(0),
        valid: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut urls = Vec::new();
    if with_hanging {
        urls.push(hanging_endpoint());
    }
    urls.push(url);

    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(WebhookQueue::open(&dir.path().join("webhooks.db")).unwrap());
    let mut all = events(n);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for event in &mut all {
        event.at_ms = now;
    }
    for chunk in all.chunks(512) {
        queue.push_all(chunk, &urls).unwrap();
    }
    let config = WebhookConfig {
        urls,
        secret: WebhookSecret::parse(SECRET).unwrap(),
    };
    let started = Instant::now();
    let wakes = deliver::spawn_senders(queue.clone(), &config);
    wakes.iter().for_each(|w| w.notify_one());
    while receiver.seen.load(Ordering::SeqCst) < n {
        assert!(
            started.elapsed() < DEADLINE,
            "{} of {n} delivered",
            receiver.seen.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(
        receiver.valid.load(Ordering::SeqCst),
        n,
        "every signature valid"
    );
    rate(n, elapsed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let bytes = events(1)[0].body.len();
    println!("webhooks: {n} message_status events of {bytes} bytes");
    let single = tokio::task::spawn_blocking(move || record(n.min(2_000), 1))
        .await
        .unwrap();
    println!("record, one event per transaction: {single:.0} events/s");
    let batched = tokio::task::spawn_blocking(move || record(n, 512))
        .await
        .unwrap();
    println!("record, bursts of up to 512 per transaction: {batched:.0} events/s");
    let delivered = deliver_all(n, false).await;
    println!("deliver to one receiver: {delivered:.0} events/s");
    let beside = deliver_all(n, true).await;
    println!("deliver to one receiver beside an endpoint that never answers: {beside:.0} events/s");
}
