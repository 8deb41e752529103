//! Shared set-up for the integration tests: a simulator, a gateway pointed at
//! it, and linking a session by scanning its QR code with the simulated phone.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use waotp::{Event, EventStream, Gateway, Session, SessionStatus};
use waotp_sim::{SimConfig, Simulator};

pub mod scenarios;
pub mod worker;

/// Generous bound for anything the simulator does in well under a second.
pub const STEP: Duration = Duration::from_secs(20);

pub async fn simulator() -> Simulator {
    simulator_with(SimConfig::default()).await
}

pub async fn simulator_with(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub async fn gateway(sim: &Simulator, data_dir: &Path) -> Gateway {
    Gateway::builder()
        .data_dir(data_dir)
        .endpoint(sim.ws_url())
        .open()
        .await
        .expect("gateway opens")
}

/// Creates `id`, scans its first QR as `phone`, and waits until connected.
pub async fn link(
    gateway: &Gateway,
    sim: &Simulator,
    id: &str,
    phone: &str,
) -> (Session, SessionStatus) {
    link_within(gateway, sim, id, phone, STEP).await
}

/// [`link`], waiting up to `step` for the QR code and again for the
/// connection (the simulator's `pairing_timeout` bounds the scan).
pub async fn link_within(
    gateway: &Gateway,
    sim: &Simulator,
    id: &str,
    phone: &str,
    step: Duration,
) -> (Session, SessionStatus) {
    let session = gateway
        .create_session(Some(id))
        .await
        .expect("create session");
    let qr = session
        .wait_qr(step)
        .await
        .unwrap_or_else(|e| panic!("{id}: no QR code within {step:?}: {e}"));
    sim.scan(qr.raw(), phone, "Test Phone")
        .await
        .unwrap_or_else(|e| panic!("{id}: the phone could not scan the QR: {e:#}"));
    let status = session
        .wait_connected(step)
        .await
        .unwrap_or_else(|e| panic!("{id}: not connected within {step:?} of the scan: {e}"));
    (session, status)
}

/// Waits for the first event that `pick` accepts; fails with `what` after `STEP`.
pub async fn wait_event<T>(
    events: &mut EventStream,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Ok(None) => panic!("event stream closed while waiting for {what}"),
            Err(_) => panic!("timed out after {STEP:?} waiting for {what}"),
        }
    }
}

/// Polls `check` until it holds, failing with `what` after [`STEP`]. For
/// conditions no event announces; each look is cheap and bounded.
pub async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// [`poll_until`] for a check that must await (a store read).
pub async fn poll_until_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
