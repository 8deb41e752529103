//! QR exhaustion: whatsapp-rust gives the first QR ref 60 s, so this test
//! runs about a minute with a simulator that offers a single ref.

mod common;

use std::time::Duration;

use common::{STEP, gateway, simulator_with, wait_event};
use waotp::{Event, SessionState};
use waotp_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_qr_codes_end_in_qr_expired_and_a_new_request_starts_fresh() {
    let sim = simulator_with(SimConfig {
        qr_ref_count: 1,
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let mut events = gw.events();
    let session = gw.create_session(Some("slow-scanner")).await.unwrap();
    let first = session.wait_qr(STEP).await.unwrap();
    assert!(first.expires_at() > std::time::SystemTime::now());

    // The single ref lives 60 s; allow for it plus slack.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("QrExpired within 90 s");
        if matches!(event, Some(Event::QrExpired { .. })) {
            break;
        }
    }
    let status = session.status();
    assert_eq!(status.state, SessionState::QrExpired);
    assert_eq!(
        session.wait_connected(STEP).await.unwrap_err().code(),
        "TIMEOUT"
    );

    // Asking again starts fresh refs on the same store.
    let fresh = session
        .wait_qr(STEP)
        .await
        .expect("a fresh QR after expiry");
    assert_ne!(fresh.raw(), first.raw());
    assert_eq!(
        session.status().qr_refresh_count,
        1,
        "the count restarts with the new pairing"
    );
    wait_event(&mut events, "the fresh QrUpdated", |e| {
        matches!(e, Event::QrUpdated { .. }).then_some(())
    })
    .await;
    sim.scan(fresh.raw(), "6281111111111", "Late Phone")
        .await
        .unwrap();
    session
        .wait_connected(STEP)
        .await
        .expect("the fresh QR links");
    gw.close().await;
}
