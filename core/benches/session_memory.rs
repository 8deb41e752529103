//! Marginal memory of an idle connected session, create → first QR time,
//! and scan → connected time.
//!
//! ```text
//! cargo build --release -p waotp-sim
//! cargo bench -p waotp --features sandbox --bench session_memory -- 200 10
//! ```
//!
//! Arguments: sessions to link (200), how many link at once (10).
//!
//! The simulator runs as its own process (the `waotp-sim` binary next to this
//! bench), so this process holds only the gateway and its sessions: its
//! resident memory grows by what each linked, idle session costs. One session
//! is linked first so one-time costs (runtime, pools, code pages) stay out of
//! the per-session figure.

mod common;

use std::time::{Duration, Instant};

use common::{Sim, link, link_timed, percentile, rss_kib};
use waotp::Gateway;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = numbers.first().copied().unwrap_or(200);
    let batch = numbers.get(1).copied().unwrap_or(10).max(1);
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(&sim.ws)
        .open()
        .await
        .unwrap();

    link(&gw, &sim, "s0000", "6281100000000").await;
    let base = rss_kib();
    let mut first_qr = Vec::with_capacity(n);
    let mut to_connected = Vec::with_capacity(n);
    for chunk in (1..=n).collect::<Vec<_>>().chunks(batch) {
        let ids: Vec<(String, String)> = chunk
            .iter()
            .map(|i| (format!("s{i:04}"), format!("628110{i:07}")))
            .collect();
        let links = ids
            .iter()
            .map(|(id, phone)| link_timed(&gw, &sim, id, phone));
        let linked = whatsapp_rust::futures::future::join_all(links).await;
        for (_, first, connected) in linked {
            first_qr.push(first);
            to_connected.push(connected);
        }
    }
    // Let post-login work (prekey upload, app-state sync) finish before reading memory.
    let settle = Instant::now();
    let mut last = rss_kib();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib();
        if now.abs_diff(last) < 256 || settle.elapsed() > Duration::from_secs(20) {
            last = now;
            break;
        }
        last = now;
    }
    // A session may be between a dropped socket and its reconnect; give it
    // time, and name the stragglers if they stay away.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = gw.list_sessions();
        let away: Vec<String> = list
            .iter()
            .filter(|s| !s.is_connected)
            .map(|s| format!("{} ({:?}: {:?})", s.id, s.state, s.reason))
            .collect();
        if away.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} sessions not connected after 60 s: {away:?}",
            away.len(),
            list.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let per_session = (last.saturating_sub(base)) as f64 / n as f64;
    first_qr.sort();
    let mean = first_qr.iter().sum::<Duration>() / first_qr.len() as u32;
    println!("sessions linked and idle: {n} (+1 warm-up)");
    println!("RSS: {base} KiB after the warm-up session, {last} KiB with all sessions");
    println!(
        "marginal memory per idle connected session: {:.0} KiB ({:.2} MiB)",
        per_session,
        per_session / 1024.0
    );
    println!(
        "create -> first QR: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms ({batch} at a time)",
        mean.as_secs_f64() * 1e3,
        percentile(&first_qr, 0.5).as_secs_f64() * 1e3,
        percentile(&first_qr, 0.99).as_secs_f64() * 1e3
    );
    to_connected.sort();
    let mean = to_connected.iter().sum::<Duration>() / to_connected.len() as u32;
    println!(
        "scan -> connected: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms ({batch} at a time)",
        mean.as_secs_f64() * 1e3,
        percentile(&to_connected, 0.5).as_secs_f64() * 1e3,
        percentile(&to_connected, 0.99).as_secs_f64() * 1e3
    );
    gw.close().await;
}
