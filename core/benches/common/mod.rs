//! What the benches that need WhatsApp share: the simulator as a separate
//! process, and linking a gateway session to it.
//!
//! The simulator runs as its own process (the `waotp-sim` binary built next
//! to the bench, `cargo build --release -p waotp-sim`), so the bench process
//! holds only the gateway: its memory and CPU are what waotp costs.

#![allow(dead_code)] // each bench uses part of this

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waotp::{Gateway, Session};

/// How long one linking step may take before the bench gives up.
pub const STEP: Duration = Duration::from_secs(30);

/// A running `waotp-sim` process, killed on drop (unless attached to one
/// another process started).
pub struct Sim {
    child: Option<std::process::Child>,
    /// WebSocket endpoint for the gateway.
    pub ws: String,
    /// Base URL of the control API.
    pub control: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Sim {
    /// Starts the `waotp-sim` binary found next to the bench executable.
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    /// The simulator another process started, by its URLs; not stopped on drop.
    pub fn attach(ws: &str, control: &str) -> Sim {
        Sim {
            child: None,
            ws: ws.into(),
            control: control.into(),
        }
    }

    /// The process id of the simulator this bench started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Starts the `waotp-sim` binary found next to the bench executable,
    /// with `extra` command-line arguments (e.g. the idle load).
    pub fn start_with(extra: &[String]) -> Sim {
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
            .args(extra)
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
            child: Some(child),
        }
    }

    /// POSTs `body` to the control API (off the async runtime's threads).
    pub async fn post(&self, path: &str, body: serde_json::Value) {
        let url = format!("{}{path}", self.control);
        tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .header("content-type", "application/json")
                .send(body.to_string())
                .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        })
        .await
        .unwrap();
    }

    /// GETs `path` from the control API as JSON (off the async runtime's threads).
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.control);
        let body = tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .unwrap_or_else(|e| panic!("GET {url}: {e}"))
                .body_mut()
                .read_to_string()
                .unwrap()
        })
        .await
        .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// Texts that reached `phone`'s inbox, oldest first.
    pub async fn inbox(&self, phone: &str) -> Vec<String> {
        let v = self.get(&format!("/inbox/{phone}")).await;
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Registers `phone` as a number on WhatsApp.
    pub async fn add_registered(&self, phone: &str) {
        self.post(
            "/numbers",
            serde_json::json!({"phone": phone, "registered": true}),
        )
        .await;
    }
}

/// Creates session `id` and links it as `phone`; returns the session and
/// how long create → first QR took.
pub async fn link(gw: &Gateway, sim: &Sim, id: &str, phone: &str) -> (Session, Duration) {
    let (session, first_qr, _) = link_timed(gw, sim, id, phone).await;
    (session, first_qr)
}

/// [`link`], also answering how long the session took from the scan to
/// connected (pairing, login, the first connection).
pub async fn link_timed(
    gw: &Gateway,
    sim: &Sim,
    id: &str,
    phone: &str,
) -> (Session, Duration, Duration) {
    let started = Instant::now();
    let session = gw.create_session(Some(id)).await.unwrap();
    let qr = session.wait_qr(STEP).await.unwrap();
    let first_qr = started.elapsed();
    let scanned = Instant::now();
    sim.post(
        "/scan",
        serde_json::json!({"qr": qr.raw(), "phone": phone, "name": "Bench"}),
    )
    .await;
    session.wait_connected(STEP).await.unwrap();
    (session, first_qr, scanned.elapsed())
}

/// Resident memory of this process.
pub fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Resident memory (VmRSS) of process `pid` (`"self"` for this one).
pub fn rss_kib_of(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time (utime + stime, fields 14 and 15 of `/proc/PID/stat`) of
/// process `pid` (`"self"` for this one), in clock ticks.
pub fn cpu_ticks_of(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The `q` quantile of an ascending list.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
