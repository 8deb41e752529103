//! The multi-process scenarios, run on one host (shared data dir) and
//! across hosts (Redis): the same checks whatever carries the shared state.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use waotp::Gateway;
use waotp_sim::Simulator;

use super::worker::{REDIS_LEASE_TTL, Worker, answer};
use super::{STEP, link};

pub const SESSION: &str = "shop";

/// Links the session in this process on `dir` (with Redis when given), then
/// closes the gateway so that the workers find a linked, unowned session.
pub async fn link_and_close(
    sim: &Simulator,
    dir: &std::path::Path,
    redis: Option<&str>,
    phone: &str,
) {
    let mut builder = Gateway::builder().data_dir(dir).endpoint(sim.ws_url());
    if let Some(url) = redis {
        builder = builder
            .redis_url(url)
            .otp_secret(super::worker::test_otp_secret())
            .redis_lease_ttl(REDIS_LEASE_TTL);
    }
    let gw = builder.open().await.expect("gateway opens");
    link(&gw, sim, SESSION, phone).await;
    gw.close().await;
}

pub fn recipient(i: usize) -> String {
    format!("62812000{i:05}")
}

/// Waits until every worker is ready; returns the index of the owner.
pub async fn ready(workers: &mut [Worker]) -> usize {
    let mut owners = Vec::new();
    for (i, w) in workers.iter_mut().enumerate() {
        if w.ready().await {
            owners.push(i);
        }
    }
    assert_eq!(
        owners.len(),
        1,
        "exactly one process owns the session: {owners:?}"
    );
    owners[0]
}

/// 40 codes to 40 recipients, spread over the workers and sent at once;
/// each verified from another worker; a sixth send to one recipient within
/// a minute refused by every worker; one connection throughout.
pub async fn forty_codes(sim: &Simulator, workers: &mut [Worker], phone: &str) {
    let n = workers.len();
    for i in 0..40 {
        sim.add_number(&recipient(i), true);
    }
    let mut pending = Vec::new();
    for i in 0..40 {
        let rx = workers[i % n].send(json!({"op": "send_otp", "to": recipient(i)}));
        pending.push((i, i % n, rx));
    }
    let mut codes = Vec::new();
    for (i, w, rx) in pending {
        let reply = answer(&workers[w].name, rx).await;
        assert_eq!(
            reply["ok"], true,
            "send {i} from {}: {reply}",
            workers[w].name
        );
        codes.push(reply["value"]["code"].as_str().unwrap().to_owned());
    }
    let mut ids = HashSet::new();
    for (i, code) in codes.iter().enumerate() {
        let inbox = sim.wait_for_inbox(&recipient(i), 1, STEP).await.unwrap();
        assert_eq!(inbox.len(), 1, "recipient {i} got exactly one message");
        assert!(
            inbox[0].text.contains(code.as_str()),
            "recipient {i} got its code"
        );
        ids.insert(inbox[0].id.clone());
    }
    assert_eq!(ids.len(), 40, "40 distinct messages");
    for (i, code) in codes.iter().enumerate() {
        let verifier = (i % n + 1) % n;
        let reply = workers[verifier]
            .call(json!({"op": "verify", "to": recipient(i), "code": code}))
            .await;
        assert_eq!(
            reply["value"]["outcome"], "Approved",
            "code {i} at {}: {reply}",
            workers[verifier].name
        );
    }
    let to = recipient(99);
    sim.add_number(&to, true);
    for k in 0..5 {
        let reply = workers[k % n]
            .call(json!({"op": "send_otp", "to": to}))
            .await;
        assert_eq!(reply["ok"], true, "send {k} of 5: {reply}");
    }
    for w in workers.iter_mut() {
        let reply = w.call(json!({"op": "send_otp", "to": to})).await;
        assert_eq!(
            reply["error"], "RATE_LIMITED",
            "{}: the sixth send: {reply}",
            w.name
        );
    }
    one_connection(sim, phone);
}

/// The owner stops dead, the others queue ten sends, the owner is killed:
/// another eligible worker takes over and every send arrives once.
pub async fn killed_owner(
    sim: &Simulator,
    workers: &mut [Worker],
    owner: usize,
    eligible: &[usize],
) {
    let senders: Vec<usize> = (0..workers.len()).filter(|&i| i != owner).collect();
    workers[owner].pause();
    for i in 0..10 {
        sim.add_number(&recipient(200 + i), true);
    }
    let mut pending = Vec::new();
    for i in 0..10 {
        let w = senders[i % senders.len()];
        pending.push((
            i,
            w,
            workers[w].send(json!({"op": "send_otp", "to": recipient(200 + i)})),
        ));
    }
    let killed = Instant::now();
    workers[owner].kill();
    for (i, w, rx) in pending {
        let reply = answer(&workers[w].name, rx).await;
        assert_eq!(reply["ok"], true, "queued send {i}: {reply}");
    }
    println!(
        "failover: all 10 queued sends answered {:?} after the SIGKILL",
        killed.elapsed()
    );
    let mut new_owners = Vec::new();
    for &w in &senders {
        if workers[w].call(json!({"op": "owner"})).await["value"]["owner"] == true {
            new_owners.push(w);
        }
    }
    assert_eq!(
        new_owners.len(),
        1,
        "exactly one worker took over: {new_owners:?}"
    );
    assert!(
        eligible.contains(&new_owners[0]),
        "the new owner has the session's credentials"
    );
    for i in 0..10 {
        let inbox = sim
            .wait_for_inbox(&recipient(200 + i), 1, STEP)
            .await
            .unwrap();
        assert_eq!(inbox.len(), 1, "queued send {i} arrived exactly once");
    }
    assert!(killed.elapsed() < Duration::from_secs(300));
}

/// The simulator's view of the linked device: never two live connections,
/// never a replaced stream, never the same message twice.
pub fn one_connection(sim: &Simulator, phone: &str) {
    let devices = sim.devices();
    let device = devices
        .iter()
        .find(|d| d.phone == phone)
        .expect("the linked device is known to the simulator");
    assert_eq!(device.max_live_connections, 1, "{device:?}");
    assert_eq!(device.replaced, 0, "{device:?}");
    assert_eq!(device.duplicate_messages, 0, "{device:?}");
}

/// After a failover: one live connection now, and no message sent twice.
pub fn one_connection_now(sim: &Simulator, phone: &str) {
    let devices = sim.devices();
    let device = devices
        .iter()
        .find(|d| d.phone == phone)
        .expect("the linked device is known to the simulator");
    assert!(device.live_connections <= 1, "{device:?}");
    assert_eq!(device.duplicate_messages, 0, "{device:?}");
}

/// Inbound verification across processes: a worker that does not own the
/// session starts a verification, the user sends its token to the number,
/// the owner's connection receives it, and the starter (and every other
/// worker) sees the approval with the sender.
pub async fn inbound_across_processes(
    sim: &Simulator,
    workers: &mut [Worker],
    owner: usize,
    phone: &str,
) {
    let user = "6281200077001";
    sim.add_number(user, true);
    let starter = (owner + 1) % workers.len();
    let started = workers[starter]
        .call(json!({"op": "inbound_start", "expected": user}))
        .await;
    assert_eq!(started["ok"], true, "{started}");
    let id = started["value"]["id"].as_str().unwrap().to_owned();
    let text = started["value"]["text"].as_str().unwrap().to_owned();
    sim.user_send(user, phone, &text)
        .await
        .unwrap_or_else(|e| panic!("the user writes: {e:#}"));
    let deadline = tokio::time::Instant::now() + super::STEP;
    loop {
        let status = workers[starter]
            .call(json!({"op": "inbound_status", "id": id}))
            .await;
        if status["value"]["status"] == "approved" {
            assert_eq!(status["value"]["sender"], user, "{status}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the starter never saw the approval: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        let status = w.call(json!({"op": "inbound_status", "id": id})).await;
        assert_eq!(
            status["value"]["status"], "approved",
            "worker {i}: {status}"
        );
    }
}
