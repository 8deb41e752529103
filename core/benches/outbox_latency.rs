//! What a send through another process's connection costs over a send on
//! the process's own connection (one host: the shared SQLite outbox and the
//! owner's wake socket).
//!
//! ```text
//! cargo build --release -p waotp-sim
//! cargo bench -p waotp --features sandbox --bench outbox_latency -- 1000
//! ```
//!
//! Arguments: measured sends per path (1000); `--store-key` encrypts the
//! session store (a build with `--features sandbox,sqlcipher`), to measure
//! what SQLCipher costs a send.
//!
//! Two gateways on one data dir, in this process: the first links the
//! session and so owns it; the second follows, and its `send_text` goes
//! into the outbox, wakes the owner, and returns the owner's answer. (Two
//! gateways exclude each other exactly like two processes: the lease is a
//! lock on an open file.) Each round sends one text each way, in
//! alternating order; both paths write an outbox row (that is how
//! idempotency keys and message status hold across processes), so the
//! difference is the hand-over: the wake-up, the owner's claim, and the
//! sender reading the answer.

mod common;

use std::time::{Duration, Instant};

use common::{Sim, link, percentile};
use waotp::Gateway;
use waotp::otp::{Limits, OtpConfig};

const RECIPIENTS: usize = 20;

fn recipient(i: usize) -> String {
    format!("628130{i:07}")
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn open(sim: &Sim, dir: &std::path::Path, store_key: bool) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(dir)
        .endpoint(&sim.ws)
        .otp_config(config);
    if store_key {
        builder = builder.session_store_key(waotp::StoreKey::from_bytes(&[7; 32]).unwrap());
    }
    builder.open().await.unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let store_key = std::env::args().any(|a| a == "--store-key");
    let sim = Sim::start();
    for i in 0..RECIPIENTS {
        sim.add_registered(&recipient(i)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let owner_gw = open(&sim, dir.path(), store_key).await;
    let (owner, _) = link(&owner_gw, &sim, "bench", "6281199000003").await;
    let follower_gw = open(&sim, dir.path(), store_key).await;
    let follower = follower_gw.session("bench").unwrap();
    follower.wait_connected(common::STEP).await.unwrap();
    assert!(owner.is_owner() && !follower.is_owner());

    let text = "Kode OTP Anda: 123456. Berlaku 5 menit.";
    // Warm-up: Signal sessions with every recipient, caches, statements.
    for i in 0..RECIPIENTS {
        owner.send_text(&recipient(i), text, None).await.unwrap();
        follower.send_text(&recipient(i), text, None).await.unwrap();
    }
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let to = recipient(round % RECIPIENTS);
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_local in order {
            let session = if is_local { &owner } else { &follower };
            let started = Instant::now();
            session.send_text(&to, text, None).await.unwrap();
            let took = started.elapsed();
            if is_local {
                local.push(took)
            } else {
                remote.push(took)
            }
        }
    }
    local.sort();
    remote.sort();
    for (name, d) in [
        ("owner's own send", &local),
        ("through the outbox", &remote),
    ] {
        println!(
            "{name:>20}: p50 {:>7.0} µs  p99 {:>7.0} µs",
            us(percentile(d, 0.5)),
            us(percentile(d, 0.99))
        );
    }
    println!(
        "outbox adds (p50): {:.0} µs over {} sends per path{}",
        us(percentile(&remote, 0.5)) - us(percentile(&local, 0.5)),
        rounds,
        if store_key {
            ", session store encrypted"
        } else {
            ""
        }
    );
    follower_gw.close().await;
    owner_gw.close().await;
}
