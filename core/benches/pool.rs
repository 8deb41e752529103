//! A sender pool under WhatsApp's limits on new chats, against the
//! simulator: 300 codes to 300 new recipients through a pool of 5 numbers
//! with a quota of 50 new chats each, one number timelocked half-way.
//!
//! ```text
//! cargo build --release -p waotp-sim
//! cargo bench -p waotp --features sandbox --bench pool
//! ```
//!
//! Arguments: codes (300), numbers (5), quota per number (50).
//!
//! Reports codes delivered, codes refused up front (`ACCOUNT_LIMITED`
//! before anything was sent), messages sent into a nack (WhatsApp refused
//! them: the target is 0), and the time the pool takes to pick the number
//! for a send (`Gateway::pool_order`: the sessions' statuses, the
//! recipient's previous code, the ordering), p50 and p99 over 10,000 picks.

mod common;

use std::time::{Duration, Instant};

use common::{Sim, link, percentile};
use waotp::otp::{Limits, OtpConfig};
use waotp::{Gateway, OtpRequest, SenderPool};

fn recipient(i: usize) -> String {
    format!("628140{i:07}")
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let codes = args.first().copied().unwrap_or(300);
    let numbers = args.get(1).copied().unwrap_or(5);
    let quota = args.get(2).copied().unwrap_or(50);

    let sim = Sim::start();
    for i in 0..codes {
        sim.add_registered(&recipient(i)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let gw = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(&sim.ws)
        .otp_config(config)
        .open()
        .await
        .unwrap();
    let mut phones = Vec::new();
    for n in 0..numbers {
        let phone = format!("62811990{n:05}");
        link(&gw, &sim, &format!("n{n}"), &phone).await;
        sim.post(
            &format!("/accounts/{phone}/limits"),
            serde_json::json!({ "new_chat_quota": quota, "cycle_secs": 86_400 }),
        )
        .await;
        phones.push(phone);
    }
    // The quota is known once WhatsApp's capping notification arrived.
    let deadline = Instant::now() + common::STEP;
    while !gw.list_sessions().iter().all(|s| s.health.quota.is_some()) {
        assert!(Instant::now() < deadline, "the quotas never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let request = OtpRequest::new("Toko Sehat");
    let (mut delivered, mut refused, mut other) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for i in 0..codes {
        if i == codes / 2 {
            // Half-way, WhatsApp timelocks one number for an hour.
            sim.post(
                &format!("/accounts/{}/timelock", phones[0]),
                serde_json::json!({ "seconds": 3600 }),
            )
            .await;
        }
        match gw
            .send_otp_pool(&SenderPool::All, &recipient(i), &request)
            .await
        {
            Ok(_) => delivered += 1,
            Err(e) if e.code() == "ACCOUNT_LIMITED" => refused += 1,
            Err(e) => {
                other += 1;
                eprintln!("code {i}: {e}");
            }
        }
    }
    let elapsed = started.elapsed();
    let nacked: u32 = gw
        .list_sessions()
        .iter()
        .flat_map(|s| {
            s.health
                .nacks_last_hour
                .values()
                .copied()
                .collect::<Vec<_>>()
        })
        .sum();
    // Every delivered code reached its recipient.
    let mut arrived = 0;
    for i in 0..codes {
        arrived += usize::from(!sim.inbox(&recipient(i)).await.is_empty());
    }

    // The pick alone: 10,000 picks for recipients old and new.
    let mut picks = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let to = recipient(i % codes);
        let t = Instant::now();
        let order = gw.pool_order(&SenderPool::All, &to).await.unwrap();
        picks.push(t.elapsed());
        std::hint::black_box(order);
    }
    picks.sort();

    println!(
        "pool: {codes} codes, {numbers} numbers x quota {quota}, number n0 timelocked at code {}",
        codes / 2
    );
    println!("  delivered            {delivered} (arrived in the inboxes: {arrived})");
    println!("  refused up front     {refused} (ACCOUNT_LIMITED, nothing sent)");
    println!("  sent into a nack     {nacked} (target 0)");
    println!("  other errors         {other}");
    println!(
        "  time for all sends   {:.1} s ({:.1} ms per code)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / codes as f64
    );
    println!(
        "  pick a number        p50 {:.1} us, p99 {:.1} us (target <= 10 us p50)",
        us(percentile(&picks, 0.50)),
        us(percentile(&picks, 0.99))
    );
    gw.close().await;
}
