//! The two tasks behind the webhooks: one writes every gateway event into
//! the queue (a local SQLite write, so a slow or failing endpoint never
//! touches a send), the other POSTs what is due, signed, and retries what
//! failed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::Notify;

use super::queue::WebhookQueue;
use super::signature::WebhookSecret;

/// How long one POST may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries taken from the queue at a time.
const BATCH: usize = 32;
/// The longest the sender sleeps without being woken (a retry that came due).
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

/// Starts the recorder and the sender for `gateway`'s events.
pub fn spawn(gateway: &waotp::Gateway, queue: Arc<WebhookQueue>, config: WebhookConfig) {
    let wake = Arc::new(Notify::new());
    let mut events = gateway.events();
    {
        let (queue, wake, urls) = (queue.clone(), wake.clone(), config.urls.clone());
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let at = now_ms();
                let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
                let body = body(&event, at);
                let (queue, urls) = (queue.clone(), urls.clone());
                let written =
                    tokio::task::spawn_blocking(move || queue.push(&id, &urls, &body, at)).await;
                match written {
                    Ok(Ok(())) => wake.notify_one(),
                    Ok(Err(e)) => log::error!("webhook event not queued: {e}"),
                    Err(e) => log::error!("webhook event not queued: {e}"),
                }
            }
        });
    }
    tokio::spawn(send_loop(queue, config.secret, wake));
}

async fn send_loop(queue: Arc<WebhookQueue>, secret: WebhookSecret, wake: Arc<Notify>) {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            log::error!("webhooks are off: no HTTP client ({e})");
            return;
        }
    };
    loop {
        let due = {
            let queue = queue.clone();
            tokio::task::spawn_blocking(move || queue.due(now_ms(), BATCH)).await
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
        for pending in due {
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
            let ok = matches!(&answer, Ok(r) if r.status().is_success());
            let queue = queue.clone();
            let jitter = 0.8 + 0.4 * rand_unit();
            let step = tokio::task::spawn_blocking(move || {
                if ok {
                    queue.delivered(pending.seq).map(|()| true)
                } else {
                    queue.failed(&pending, now_ms(), jitter)
                }
            })
            .await;
            match (ok, step) {
                (false, Ok(Ok(false))) => {
                    log::warn!("a webhook event was given up after a day of failures")
                }
                (_, Ok(Err(e))) => log::error!("{e}"),
                (_, Err(e)) => log::error!("webhook queue: {e}"),
                _ => {}
            }
        }
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
