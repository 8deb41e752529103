//! Delivery honesty when the recipient cannot decrypt: a retry receipt makes
//! whatsapp-rust resend; a resend that decrypts is delivered; once
//! whatsapp-rust gives up (the fifth receipt), the message is failed rather
//! than `sent` forever.

mod common;

use common::{STEP, gateway, link, simulator};
use waotp::DeliveryStatus;
use waotp_sim::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_that_decrypts_is_delivered() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let (session, _) = link(&gw, &sim, "honest", "6281100000201").await;
    let to = "6281200000201";
    sim.add_number(to, true);
    sim.fault(Fault::Undecryptable(to.into()));
    let sent = session.send_text(to, "halo", None).await.unwrap();
    let record = gw
        .wait_message_status(&sent.id, STEP, |s| {
            matches!(
                s,
                DeliveryStatus::Delivered | DeliveryStatus::Read | DeliveryStatus::Failed { .. }
            )
        })
        .await
        .unwrap();
    assert!(
        matches!(
            record.status,
            DeliveryStatus::Delivered | DeliveryStatus::Read
        ),
        "{record:?}"
    );
    assert!(
        sim.fault_hits().iter().any(|h| h.kind == "undecryptable"),
        "the first copy really was undecryptable"
    );
    let inbox = sim.wait_for_inbox(to, 1, STEP).await.unwrap();
    assert_eq!(inbox.len(), 1, "the resend arrived once");
    gw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_given_up_after_five_retry_receipts_is_failed() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&sim, dir.path()).await;
    let own = "6281100000202";
    let (session, _) = link(&gw, &sim, "honest", own).await;
    let to = "6281200000202";
    sim.add_number(to, true);
    sim.set_withhold_receipts(to, true);
    let sent = session.send_text(to, "halo", None).await.unwrap();
    gw.wait_message_status(&sent.id, STEP, |s| *s == DeliveryStatus::Sent)
        .await
        .unwrap();
    let device = sim
        .devices()
        .into_iter()
        .find(|d| d.phone == own && d.live_connections == 1)
        .expect("the session's device is connected");
    // The fifth retry receipt: whatsapp-rust refuses to resend again.
    sim.send_retry_receipt(own, device.device, to, &sent.id, 5)
        .await
        .unwrap();
    let record = gw
        .wait_message_status(&sent.id, STEP, |s| {
            matches!(s, DeliveryStatus::Failed { .. })
        })
        .await
        .unwrap();
    match &record.status {
        DeliveryStatus::Failed { reason } => {
            assert!(reason.contains("could not decrypt"), "{reason}")
        }
        other => panic!("expected failed, got {other:?}"),
    }
    gw.close().await;
}
