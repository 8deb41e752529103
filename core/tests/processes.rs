//! Many processes on one host: one data dir, one linked session, several
//! worker processes (as PHP-FPM or gunicorn workers would be). Exactly one
//! runs the WhatsApp connection; the others send through it; limits and
//! codes are shared; a killed owner is replaced without losing sends.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::worker::{Worker, WorkerSetup, answer, worker_main};
use common::{STEP, gateway, link, simulator};
use serde_json::json;
use waotp_sim::Simulator;

const SESSION: &str = "shop";
const PHONE: &str = "6281100000001";

/// Not a test on its own: the body of the worker processes below.
#[test]
#[ignore = "run by the tests of this file as a separate process"]
fn worker_process() {
    worker_main(SESSION);
}

/// Links the session in this process, then closes the gateway so that the
/// workers find a linked, unowned session.
async fn linked_data_dir(sim: &Simulator) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(sim, dir.path()).await;
    link(&gw, sim, SESSION, PHONE).await;
    gw.close().await;
    dir
}

fn setup(sim: &Simulator, dir: &tempfile::TempDir) -> WorkerSetup {
    WorkerSetup {
        data_dir: dir.path().to_path_buf(),
        endpoint: sim.ws_url(),
        redis_url: None,
        secret_hex: None,
    }
}

fn recipient(i: usize) -> String {
    format!("62812000{i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_send_forty_codes_through_one_connection() {
    let sim = common::simulator().await;
    let dir = linked_data_dir(&sim).await;
    let setup = setup(&sim, &dir);
    let mut workers: Vec<Worker> = (0..4)
        .map(|i| Worker::spawn(&format!("worker-{i}"), "worker_process", &setup))
        .collect();
    let mut owners = 0;
    for w in &mut workers {
        owners += w.ready().await as usize;
    }
    assert_eq!(owners, 1, "exactly one process owns the session");

    // 40 codes to 40 recipients, 10 from each process, all at once.
    for i in 0..40 {
        sim.add_number(&recipient(i), true);
    }
    let mut pending = Vec::new();
    for i in 0..40 {
        let w = i % 4;
        let rx = workers[w].send(json!({"op": "send_otp", "to": recipient(i)}));
        pending.push((i, w, rx));
    }
    let mut codes = Vec::new();
    for (i, w, rx) in pending {
        let reply = answer(&workers[w].name, rx).await;
        assert_eq!(reply["ok"], true, "send {i} from worker {w}: {reply}");
        codes.push(reply["value"]["code"].as_str().unwrap().to_owned());
    }
    let mut ids = HashSet::new();
    for i in 0..40 {
        let inbox = sim.wait_for_inbox(&recipient(i), 1, STEP).await.unwrap();
        assert_eq!(inbox.len(), 1, "recipient {i} got exactly one message");
        assert!(
            inbox[0].text.contains(&codes[i]),
            "recipient {i} got its code"
        );
        ids.insert(inbox[0].id.clone());
    }
    assert_eq!(ids.len(), 40, "40 distinct messages");

    // Each code verifies from a different process than the one that sent it.
    for (i, code) in codes.iter().enumerate() {
        let verifier = (i % 4 + 1) % 4;
        let reply = workers[verifier]
            .call(json!({"op": "verify", "to": recipient(i), "code": code}))
            .await;
        assert_eq!(reply["value"]["outcome"], "Approved", "code {i}: {reply}");
    }

    // Five sends per minute to one recipient, whichever process sends.
    let to = recipient(99);
    sim.add_number(&to, true);
    for n in 0..5 {
        let reply = workers[n % 4]
            .call(json!({"op": "send_otp", "to": to}))
            .await;
        assert_eq!(reply["ok"], true, "send {n} of 5: {reply}");
    }
    for w in &mut workers {
        let reply = w.call(json!({"op": "send_otp", "to": to})).await;
        assert_eq!(
            reply["error"], "RATE_LIMITED",
            "{}: the sixth send: {reply}",
            w.name
        );
    }

    // WhatsApp saw one connection for the device throughout.
    devices_saw_one_connection(&sim);
    for w in workers {
        w.exit();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_is_replaced_and_queued_sends_arrive_once() {
    let sim = common::simulator().await;
    let dir = linked_data_dir(&sim).await;
    let setup = setup(&sim, &dir);
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| Worker::spawn(&format!("worker-{i}"), "worker_process", &setup))
        .collect();
    let mut owner = None;
    for (i, w) in workers.iter_mut().enumerate() {
        if w.ready().await {
            owner = Some(i);
        }
    }
    let owner = owner.expect("one worker owns the session");
    let followers: Vec<usize> = (0..3).filter(|&i| i != owner).collect();

    // The owner stops dead (it keeps its lease and socket), the followers
    // queue ten sends, then the owner is killed.
    workers[owner].pause();
    for i in 0..10 {
        sim.add_number(&recipient(200 + i), true);
    }
    let mut pending = Vec::new();
    for i in 0..10 {
        let w = followers[i % 2];
        let rx = workers[w].send(json!({"op": "send_otp", "to": recipient(200 + i)}));
        pending.push((i, w, rx));
    }
    let killed = Instant::now();
    workers[owner].kill();

    for (i, w, rx) in pending {
        let reply = answer(&workers[w].name, rx).await;
        assert_eq!(reply["ok"], true, "queued send {i}: {reply}");
    }
    let took_over = killed.elapsed();
    let mut new_owners = 0;
    for &w in &followers {
        let reply = workers[w].call(json!({"op": "owner"})).await;
        new_owners += (reply["value"]["owner"] == true) as usize;
    }
    assert_eq!(new_owners, 1, "exactly one follower took over");
    for i in 0..10 {
        let inbox = sim
            .wait_for_inbox(&recipient(200 + i), 1, STEP)
            .await
            .unwrap();
        assert_eq!(inbox.len(), 1, "queued send {i} arrived exactly once");
    }
    println!("failover: all 10 queued sends answered {took_over:?} after the SIGKILL");
    assert!(
        took_over < Duration::from_secs(60),
        "the sends waited for the new owner, not for their own timeout"
    );
    for w in followers.into_iter().rev() {
        workers.remove(w).exit();
    }
}

/// The simulator's view of the linked device: never two live connections,
/// never a replaced stream, never the same message twice.
fn devices_saw_one_connection(sim: &Simulator) {
    let devices = sim.devices();
    let device = devices
        .iter()
        .find(|d| d.phone == PHONE)
        .expect("the linked device is known to the simulator");
    assert_eq!(device.max_live_connections, 1, "{device:?}");
    assert_eq!(device.replaced, 0, "{device:?}");
    assert_eq!(device.duplicate_messages, 0, "{device:?}");
}
