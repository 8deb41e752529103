//! Many processes on one host: one data dir, one linked session, several
//! worker processes (as PHP-FPM or gunicorn workers would be). Exactly one
//! runs the WhatsApp connection; the others send through it; limits and
//! codes are shared; a killed owner is replaced without losing sends; an
//! inbound verification started by any of them is approved by the owner's
//! connection and seen by all.

mod common;

use common::scenarios::{self, link_and_close};
use common::worker::{Worker, WorkerSetup, worker_main};

const PHONE: &str = "6281100000001";

/// Not a test on its own: the body of the worker processes below.
#[test]
#[ignore = "run by the tests of this file as a separate process"]
fn worker_process() {
    worker_main(scenarios::SESSION);
}

fn spawn(n: usize, setup: &WorkerSetup) -> Vec<Worker> {
    (0..n)
        .map(|i| Worker::spawn(&format!("worker-{i}"), "worker_process", setup))
        .collect()
}

/// Links the session into `data_dir` and closes it, as a deploy would
/// before starting its workers; the workers share that data dir only.
async fn linked_data_dir(sim: &waotp_sim::Simulator, data_dir: &std::path::Path) -> WorkerSetup {
    link_and_close(sim, data_dir, None, PHONE).await;
    WorkerSetup {
        data_dir: data_dir.to_path_buf(),
        endpoint: sim.ws_url(),
        redis_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_send_forty_codes_through_one_connection() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let setup = linked_data_dir(&sim, dir.path()).await;
    let mut workers = spawn(4, &setup);
    scenarios::ready(&mut workers).await;
    scenarios::forty_codes(&sim, &mut workers, PHONE).await;
    for w in workers {
        w.exit();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_is_replaced_and_queued_sends_arrive_once() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let setup = linked_data_dir(&sim, dir.path()).await;
    let mut workers = spawn(3, &setup);
    let owner = scenarios::ready(&mut workers).await;
    scenarios::killed_owner(&sim, &mut workers, owner, &[0, 1, 2]).await;
    scenarios::one_connection_now(&sim, PHONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_verification_started_by_one_process_is_approved_through_the_owner() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let setup = linked_data_dir(&sim, dir.path()).await;
    let mut workers = spawn(3, &setup);
    let owner = scenarios::ready(&mut workers).await;
    scenarios::inbound_across_processes(&sim, &mut workers, owner, PHONE).await;
    for w in workers {
        w.exit();
    }
}
