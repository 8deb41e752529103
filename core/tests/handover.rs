//! An owner that closes while it is carrying out another process's request
//! lets it finish for a bounded time (10 s), then hands the session over:
//! a request that hangs must not keep the lease (and so the session) from
//! everyone else until it ends.

mod common;

use std::time::Duration;

use common::{STEP, gateway, link, simulator};
use waotp_sim::Fault;

const OWN: &str = "6281100000091";
const FRIEND: &str = "6281200000091";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_closing_mid_request_hands_the_session_over_in_bounded_time() {
    let sim = simulator().await;
    sim.add_number(FRIEND, true);
    let dir = tempfile::tempdir().unwrap();
    // Two gateways on one data dir exclude each other like two processes
    // (the lease is a lock on an open file).
    let owner = gateway(&sim, dir.path()).await;
    link(&owner, &sim, "shop", OWN).await;
    let follower = gateway(&sim, dir.path()).await;
    let mirrored = follower.session("shop").unwrap();
    mirrored
        .wait_connected(STEP)
        .await
        .expect("the follower sees it connected");
    assert!(!mirrored.is_owner());

    // The owner's client will take `stall` to answer the follower's query.
    let stall = Duration::from_secs(60);
    sim.fault(Fault::SlowIq {
        phone: Some(OWN.into()),
        xmlns: Some("usync".into()),
        context: Some("interactive".into()),
        delay: Some(stall),
    });
    let query = tokio::spawn({
        let s = mirrored.clone();
        async move { s.is_on_whatsapp(FRIEND).await }
    });
    common::poll_until("the owner's client to send the stalled query", || {
        !sim.fault_hits().is_empty()
    })
    .await;

    let closed_at = std::time::Instant::now();
    owner.close().await;
    // The follower takes the session over and carries out the query the
    // old owner had claimed, long before the old owner's stall ends.
    let answer = tokio::time::timeout(stall / 2, query)
        .await
        .expect("the follower's query was answered before the old owner's stall ended")
        .unwrap();
    let took = closed_at.elapsed();
    assert!(
        answer.expect("the new owner answers it"),
        "{FRIEND} is on WhatsApp"
    );
    assert!(
        mirrored.is_owner(),
        "the follower took over ({took:?} after the close)"
    );
    assert_eq!(
        sim.fault_hits().len(),
        1,
        "the new owner's query was not stalled"
    );
    follower.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_deletes_a_session_through_its_owner() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let owner = gateway(&sim, dir.path()).await;
    link(&owner, &sim, "gone", "6281100000092").await;
    let follower = gateway(&sim, dir.path()).await;
    follower
        .session("gone")
        .unwrap()
        .wait_connected(STEP)
        .await
        .expect("the follower sees it connected");

    // The owner carries the delete out; it stops the session on the way,
    // and must still finish: credentials removed, the session forgotten.
    follower.delete_session("gone").await.expect("deleted");
    assert!(
        !dir.path().join("sessions").join("gone.db").exists(),
        "the credentials are removed"
    );
    common::poll_until("the owner to forget the session", || {
        owner.session("gone").is_err()
    })
    .await;
    assert!(follower.list_sessions().iter().all(|s| s.id != "gone"));
    owner.close().await;
    follower.close().await;
}
