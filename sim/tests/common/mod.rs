//! Helpers that wire the REAL whatsapp-rust client to the simulator.
#![allow(dead_code)]

pub mod log_capture;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use waotp_sim::Simulator;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::*;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;

/// whatsapp-rust waits this long after login for the phone's app-state key
/// share before it asks for the key itself (`KEY_SHARE_GRACE_SECS` in
/// `client/node_io.rs`). `Connected` sooner than this after the scan means
/// the simulator's key share arrived and was used.
pub const KEY_SHARE_GRACE: Duration = Duration::from_secs(10);
/// Generic deadline for one expected event. A wait returns as soon as the
/// event arrives, so this only bounds a failing test; it is generous because
/// the suite runs on loaded 2-core machines.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(30);

/// A running real client plus the stream of its events.
pub struct TestClient {
    pub handle: Option<BotHandle>,
    pub client: Arc<Client>,
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
}

pub fn init_logs() {
    let _ = env_logger::builder().is_test(true).try_init();
}

impl TestClient {
    /// Builds and spawns a Bot on a SQLite store at `db`, pointed at `sim`.
    pub async fn start(sim: &Simulator, db: &Path, pair_code: Option<PairCodeOptions>) -> Self {
        Self::start_url(&sim.ws_url(), db, pair_code).await
    }

    /// Like [`TestClient::start`] for a simulator reached by URL.
    pub async fn start_url(ws_url: &str, db: &Path, pair_code: Option<PairCodeOptions>) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let store = SqliteStore::new(db.to_str().expect("utf-8 path"))
            .await
            .expect("sqlite store");
        let mut builder = Bot::builder()
            .with_backend(store)
            .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(ws_url))
            // Offline, the client cannot fetch the web version.
            .with_version((2, 3000, 1))
            .on_event(move |event, _client| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            });
        if let Some(options) = pair_code {
            builder = builder.with_pair_code(options);
        }
        let bot = builder.build().await.expect("bot build");
        let handle = bot.spawn();
        let client = handle.client();
        TestClient {
            handle: Some(handle),
            client,
            events,
        }
    }

    /// Waits for the first event for which `pick` returns `Some`, skipping
    /// others; panics with `what` when the deadline passes.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            let left = deadline
                .checked_sub(start.elapsed())
                .unwrap_or_else(|| panic!("timed out after {deadline:?} waiting for {what}"));
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Ok(None) => panic!("event stream ended while waiting for {what}"),
                Err(_) => panic!("timed out after {deadline:?} waiting for {what}"),
            }
        }
    }

    /// Waits for the next QR code string.
    pub async fn qr(&mut self) -> String {
        self.wait_for("PairingQrCode", EVENT_DEADLINE, |e| match e {
            Event::PairingQrCode(qr) => Some(qr.code.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for `Connected`.
    pub async fn connected(&mut self, deadline: Duration) {
        self.wait_for("Connected", deadline, |e| {
            matches!(e, Event::Connected(_)).then_some(())
        })
        .await
    }

    /// Asks whether `phone` is on WhatsApp (the usync IQ with context
    /// `interactive`), panicking on an error.
    pub async fn is_on_whatsapp(&self, phone: &str) -> bool {
        let results = self
            .client
            .contacts()
            .is_on_whatsapp(&[Jid::pn(phone)])
            .await
            .expect("is_on_whatsapp");
        results
            .iter()
            .any(|r| r.jid.user == phone && r.is_registered)
    }

    /// Gracefully stops the client (flushing its store).
    pub async fn shutdown(mut self) {
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(20), handle.shutdown())
                .await
                .expect("client shutdown timed out");
        }
    }
}

/// Starts a client, scans its first QR as `phone`, and waits for
/// `Connected`. Returns the client and how long `Connected` took after the
/// scan.
pub async fn paired_client_timed(
    sim: &Simulator,
    phone: &str,
    db: &Path,
) -> (TestClient, Duration) {
    let mut client = TestClient::start(sim, db, None).await;
    let qr = client.qr().await;
    let started = Instant::now();
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");
    client.connected(EVENT_DEADLINE).await;
    let took = started.elapsed();
    log::info!("{phone} connected {took:?} after scan");
    (client, took)
}

/// Starts a client, scans its first QR as `phone`, and waits for `Connected`.
pub async fn paired_client(sim: &Simulator, phone: &str, db: &Path) -> TestClient {
    paired_client_timed(sim, phone, db).await.0
}
