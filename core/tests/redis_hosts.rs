//! Many hosts through one Redis: two data dirs stand for two hosts. The
//! session is linked on host A (its credentials stay there); processes on
//! both hosts send through its one connection, share codes and limits, and
//! a killed owner is replaced by the other process of host A.

mod common;

use std::time::{Duration, Instant};

use common::scenarios::{self, link_and_close};
use common::worker::{REDIS_LEASE_TTL, Worker, WorkerSetup, worker_main};
use common::{STEP, link};
use waotp::otp::{Limits, OtpConfig};
use waotp::{Gateway, OtpRequest, VerifyOutcome};
use waotp_sim::redis_server::RedisServer;

const PHONE: &str = "6281100000301";

/// Not a test on its own: the body of the worker processes below.
#[test]
#[ignore = "run by the tests of this file as a separate process"]
fn worker_process() {
    worker_main(scenarios::SESSION);
}

struct Hosts {
    redis: RedisServer,
    a: tempfile::TempDir,
    b: tempfile::TempDir,
}

impl Hosts {
    fn new() -> Hosts {
        Hosts {
            redis: RedisServer::start().expect("redis-server starts"),
            a: tempfile::tempdir().unwrap(),
            b: tempfile::tempdir().unwrap(),
        }
    }

    fn setup(&self, sim: &waotp_sim::Simulator, host_a: bool) -> WorkerSetup {
        WorkerSetup {
            data_dir: if host_a { self.a.path() } else { self.b.path() }.to_path_buf(),
            endpoint: sim.ws_url(),
            redis_url: Some(self.redis.url()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_four_processes_send_forty_codes_through_one_connection() {
    let sim = common::simulator().await;
    let hosts = Hosts::new();
    link_and_close(&sim, hosts.a.path(), Some(&hosts.redis.url()), PHONE).await;
    let mut workers: Vec<Worker> = (0..4)
        .map(|i| {
            let on_a = i % 2 == 0;
            let name = format!("host-{}-{i}", if on_a { "a" } else { "b" });
            Worker::spawn(&name, "worker_process", &hosts.setup(&sim, on_a))
        })
        .collect();
    let owner = scenarios::ready(&mut workers).await;
    assert!(
        owner % 2 == 0,
        "only host A, which has the credentials, runs the session"
    );
    // Codes sent through host A's workers verify on host B's and back.
    scenarios::forty_codes(&sim, &mut workers, PHONE).await;
    for w in workers {
        w.exit();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_is_replaced_within_the_lease_ttl() {
    let sim = common::simulator().await;
    let hosts = Hosts::new();
    link_and_close(&sim, hosts.a.path(), Some(&hosts.redis.url()), PHONE).await;
    let mut workers = vec![
        Worker::spawn("host-a-0", "worker_process", &hosts.setup(&sim, true)),
        Worker::spawn("host-a-1", "worker_process", &hosts.setup(&sim, true)),
        Worker::spawn("host-b-2", "worker_process", &hosts.setup(&sim, false)),
    ];
    let owner = scenarios::ready(&mut workers).await;
    assert!(owner < 2, "host A runs the session");
    let standby = 1 - owner;
    scenarios::killed_owner(&sim, &mut workers, owner, &[standby]).await;
    scenarios::one_connection_now(&sim, PHONE);
    println!("lease TTL in this test: {REDIS_LEASE_TTL:?}");
}

async fn gateway_on(sim: &waotp_sim::Simulator, dir: &std::path::Path, redis: &str) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    config.max_attempts = 3;
    Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .redis_url(redis)
        .otp_secret(common::worker::test_otp_secret())
        .redis_lease_ttl(REDIS_LEASE_TTL)
        .otp_config(config)
        .open()
        .await
        .expect("gateway opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_from_host_a_verifies_on_host_b_and_guesses_from_both_count_once() {
    let sim = common::simulator().await;
    let hosts = Hosts::new();
    let url = hosts.redis.url();
    let a = gateway_on(&sim, hosts.a.path(), &url).await;
    let b = gateway_on(&sim, hosts.b.path(), &url).await;
    link(&a, &sim, "shop", "6281100000302").await;
    let to = "6281200000301";
    sim.add_number(to, true);
    let request = OtpRequest::new("PT. Contoh").reveal_code(true);
    let sent = a.send_otp("shop", to, &request).await.unwrap();
    let code = sent.code.unwrap().expose().to_owned();
    assert_eq!(
        b.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Approved
    );

    // 100 wrong guesses at once, half from each host: exactly max_attempts count.
    let sent = a.send_otp("shop", to, &request).await.unwrap();
    let right = sent.code.unwrap().expose().to_owned();
    let wrong = if right.ends_with('0') {
        "111111"
    } else {
        "000000"
    };
    let guesses: Vec<_> = (0..100)
        .map(|i| {
            let gw = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { gw.verify_otp(to, wrong).await.unwrap() })
        })
        .collect();
    let mut invalid = 0;
    let mut locked = 0;
    for g in guesses {
        match g.await.unwrap() {
            VerifyOutcome::Invalid { .. } => invalid += 1,
            VerifyOutcome::MaxAttemptsReached => locked += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(
        (invalid, locked),
        (3, 97),
        "exactly max_attempts guesses were checked"
    );
    assert_eq!(
        b.verify_otp(to, &right).await.unwrap(),
        VerifyOutcome::MaxAttemptsReached
    );
    b.close().await;
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_store_error_and_the_service_recovers() {
    let sim = common::simulator().await;
    let mut hosts = Hosts::new();
    let url = hosts.redis.url();
    let a = gateway_on(&sim, hosts.a.path(), &url).await;
    let (session, _) = link(&a, &sim, "shop", "6281100000303").await;
    let to = "6281200000303";
    sim.add_number(to, true);

    hosts.redis.stop();
    let started = Instant::now();
    let err = a.verify_otp(to, "123456").await.unwrap_err();
    assert_eq!(err.code(), "STORE_ERROR", "{err}");
    assert!(
        err.to_string().contains("Redis") || err.to_string().contains("redis"),
        "{err}"
    );
    assert!(started.elapsed() < STEP, "the error came promptly");
    let err = a
        .send_otp("shop", to, &OtpRequest::new("PT. Contoh"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE_ERROR", "{err}");

    hosts.redis.start_again().unwrap();
    // The owner's lease expired with Redis; it is taken again and the
    // session serves once more.
    let deadline = Instant::now() + STEP * 2;
    let sent = loop {
        let request = OtpRequest::new("PT. Contoh").reveal_code(true);
        match a.send_otp("shop", to, &request).await {
            Ok(sent) => break sent,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no recovery after Redis came back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let code = sent.code.unwrap().expose().to_owned();
    assert_eq!(
        a.verify_otp(to, &code).await.unwrap(),
        VerifyOutcome::Approved
    );
    assert!(session.status().is_connected);
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_verification_started_on_host_b_is_approved_through_host_a() {
    let sim = common::simulator().await;
    let hosts = Hosts::new();
    link_and_close(&sim, hosts.a.path(), Some(&hosts.redis.url()), PHONE).await;
    let mut workers = vec![
        Worker::spawn("host-a-0", "worker_process", &hosts.setup(&sim, true)),
        Worker::spawn("host-b-1", "worker_process", &hosts.setup(&sim, false)),
    ];
    let owner = scenarios::ready(&mut workers).await;
    assert_eq!(
        owner, 0,
        "host A, which has the credentials, runs the session"
    );
    // Worker 1 (host B) starts it; the user's message reaches host A.
    scenarios::inbound_across_processes(&sim, &mut workers, owner, PHONE).await;
    for w in workers {
        w.exit();
    }
}
