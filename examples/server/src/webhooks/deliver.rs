//! The tasks behind the webhooks: a recorder writes every gateway event
//! into the queue (a local SQLite write, so a slow or failing endpoint
//! never touches a send), and one sender per endpoint POSTs what is due to
//! it, signed, and retries what failed (so a slow endpoint delays no other).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

use super::queue::{Attempt, NewEvent, Pending, WebhookQueue};
use super::signature::WebhookSecret;

/// How long one POST may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries taken from the queue at a time, per endpoint.
const BATCH: usize = 64;
/// POSTs in flight at once, per endpoint (Standard Webhooks does not
/// promise order; the event's `timestamp` gives it).
const IN_FLIGHT: usize = 16;
/// Events written in one transaction at most, when a burst is waiting.
const RECORD_BATCH: usize = 512;
/// The longest a sender sleeps without being woken (a retry that came due).
const IDLE: Duration = Duration::from_millis(500);

/// Where and how events go.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The endpoints; every event goes to each.
    pub urls: Vec<String>,
    /// The signing secret.
    pub secret: WebhookSecret,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An event as the body of a webhook: Standard Webhooks' `{type,
/// timestamp, data}`, `data` being the event's own fields.
pub fn body(event: &waotp::Event, at_ms: u64) -> Vec<u8> {
    let mut data = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    // A pairing QR's payload carries the session's keys and ADV secret: it
    // is not written to the queue or sent on (`GET /api/sessions/:id/qr`
    // gives it to whoever may link the session).
    if let Some(fields) = data.as_object_mut() {
        fields.remove("qr");
    }
    let timestamp =
        chrono::DateTime::<chrono::Utc>::from(UNIX_EPOCH + Duration::from_millis(at_ms))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({ "type": event.kind(), "timestamp": timestamp, "data": data })
        .to_string()
        .into_bytes()
}

/// Starts the recorder of `events` (subscribed before the gateway's
/// sessions started: see `GatewayBuilder::open_with_events`) and a sender
/// per endpoint.
pub fn spawn(mut events: waotp::EventStream, queue: Arc<WebhookQueue>, config: WebhookConfig) {
    let wakes = spawn_senders(queue.clone(), &config);
    let urls = config.urls;
    tokio::spawn(async move {
        while let Some(first) = events.next().await {
            // What else already waits goes in the same transaction: a burst
            // costs one commit, and the recorder keeps up with the bus.
            let mut batch = vec![record(&first)];
            while batch.len() < RECORD_BATCH {
                match events.try_next() {
                    Some(event) => batch.push(record(&event)),
                    None => break,
                }
            }
            let (queue, urls) = (queue.clone(), urls.clone());
            let written = tokio::task::spawn_blocking(move || queue.push_all(&batch, &urls)).await;
            match written {
                Ok(Ok(())) => wakes.iter().for_each(|wake| wake.notify_one()),
                Ok(Err(e)) => log::error!("webhook events not queued: {e}"),
                Err(e) => log::error!("webhook events not queued: {e}"),
            }
        }
    });
}

/// An event as a queue row, with its id.
fn record(event: &waotp::Event) -> NewEvent {
    if let waotp::Event::Lagged { missed } = event {
        // The receiver gets a `lagged` event saying how many it missed.
        log::warn!("the webhook recorder fell behind; {missed} event(s) were not queued");
    }
    let at_ms = now_ms();
    NewEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        body: body(event, at_ms),
        at_ms,
    }
}

/// Starts one sender per endpoint of `config` on `queue`; answers each
/// sender's wake-up, in the order of `config.urls`.
pub fn spawn_senders(queue: Arc<WebhookQueue>, config: &WebhookConfig) -> Vec<Arc<Notify>> {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            log::error!("webhooks are off: no HTTP client ({e})");
            return Vec::new();
        }
    };
    config
        .urls
        .iter()
        .map(|url| {
            let wake = Arc::new(Notify::new());
            tokio::spawn(send_loop(
                queue.clone(),
                url.clone(),
                client.clone(),
                config.secret.clone(),
                wake.clone(),
            ));
            wake
        })
        .collect()
}

/// Delivers what is due to `url`, a batch at a time, until the runtime ends.
async fn send_loop(
    queue: Arc<WebhookQueue>,
    url: String,
    client: reqwest::Client,
    secret: WebhookSecret,
    wake: Arc<Notify>,
) {
    loop {
        let due = {
            let (queue, url) = (queue.clone(), url.clone());
            tokio::task::spawn_blocking(move || queue.due_for(&url, now_ms(), BATCH)).await
        };
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                log::error!("{e}");
                Vec::new()
            }
            Err(e) => {
                log::error!("webhook queue: {e}");
                Vec::new()
            }
        };
        if due.is_empty() {
            let _ = tokio::time::timeout(IDLE, wake.notified()).await;
            continue;
        }
        let attempts: Vec<Attempt> = futures_util::stream::iter(due)
            .map(|pending| attempt(&client, &secret, pending))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let settled = {
            let queue = queue.clone();
            tokio::task::spawn_blocking(move || queue.settle(&attempts, now_ms())).await
        };
        match settled {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                log::warn!("{n} webhook event(s) for {url} given up after a day of failures")
            }
            Ok(Err(e)) => log::error!("{e}"),
            Err(e) => log::error!("webhook queue: {e}"),
        }
    }
}

/// One signed POST of `pending`.
async fn attempt(client: &reqwest::Client, secret: &WebhookSecret, pending: Pending) -> Attempt {
    let timestamp = now_ms() / 1000;
    let signature = secret.sign(&pending.event_id, timestamp, &pending.body);
    let answer = client
        .post(&pending.url)
        .header("content-type", "application/json")
        .header("webhook-id", &pending.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(pending.body.clone())
        .send()
        .await;
    Attempt {
        delivered: matches!(&answer, Ok(r) if r.status().is_success()),
        pending,
        jitter: 0.8 + 0.4 * rand_unit(),
    }
}

/// A uniform number in [0, 1) for the retry jitter (0.5 if the OS random
/// source failed: jitter is a nicety, not a secret).
fn rand_unit() -> f64 {
    getrandom::u64().map_or(0.5, |v| (v >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_body_has_the_type_a_timestamp_and_the_fields() {
        let event = waotp::Event::QrExpired {
            session: "shop".into(),
        };
        let body: serde_json::Value =
            serde_json::from_slice(&body(&event, 1_700_000_000_123)).unwrap();
        assert_eq!(body["type"], "qr_expired");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(body["data"]["session"], "shop");
    }

    #[test]
    fn a_qr_payload_is_not_sent() {
        let event = waotp::Event::QrUpdated {
            session: "shop".into(),
            qr: "2@ref,noise,identity,adv-secret".into(),
            expires_at: UNIX_EPOCH,
            refresh_count: 1,
        };
        let body = String::from_utf8(body(&event, 0)).unwrap();
        assert!(!body.contains("adv-secret"), "{body}");
        assert!(body.contains("qr_updated"));
    }

    #[test]
    fn jitter_stays_in_its_range() {
        for _ in 0..1000 {
            let u = rand_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }
}
