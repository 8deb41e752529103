//! Marginal memory of an idle connected session, and create → first QR time.
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

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waotp::Gateway;

const STEP: Duration = Duration::from_secs(30);

struct Sim {
    child: std::process::Child,
    ws: String,
    control: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim() -> Sim {
    let exe = std::env::current_exe().unwrap();
    let bin: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("waotp-sim");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --release -p waotp-sim` first",
        bin.display()
    );
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("waotp-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("the simulator's JSON line");
    Sim {
        ws: v["ws"].as_str().unwrap().into(),
        control: v["control"].as_str().unwrap().into(),
        child,
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Links session `i`; returns how long create → first QR took.
async fn link(gw: &Gateway, sim: &Sim, i: usize) -> Duration {
    let started = Instant::now();
    let session = gw.create_session(Some(&format!("s{i:04}"))).await.unwrap();
    let qr = session.wait_qr(STEP).await.unwrap();
    let first_qr = started.elapsed();
    let body =
        serde_json::json!({"qr": qr.raw(), "phone": format!("628110{i:07}"), "name": "Bench"})
            .to_string();
    let url = format!("{}/scan", sim.control);
    tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .header("content-type", "application/json")
            .send(body)
            .expect("scan")
    })
    .await
    .unwrap();
    session.wait_connected(STEP).await.unwrap();
    first_qr
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = numbers.first().copied().unwrap_or(200);
    let batch = numbers.get(1).copied().unwrap_or(10).max(1);
    let sim = start_sim();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(&sim.ws)
        .open()
        .await
        .unwrap();

    link(&gw, &sim, 0).await;
    let base = rss_kib();
    let mut first_qr = Vec::with_capacity(n);
    for chunk in (1..=n).collect::<Vec<_>>().chunks(batch) {
        let links = chunk.iter().map(|&i| link(&gw, &sim, i));
        first_qr.extend(whatsapp_rust::futures::future::join_all(links).await);
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
    let connected = gw.list_sessions().iter().filter(|s| s.is_connected).count();
    assert_eq!(connected, n + 1, "every session is connected");
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
    gw.close().await;
}
