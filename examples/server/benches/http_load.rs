//! Loopback load on the server, next to the same operations in process, and
//! the server's memory with many idle connected sessions.
//!
//! ```text
//! cargo bench -p waotp-server --features sandbox --bench http_load -- 100 20000 16
//! ```
//!
//! Arguments: sessions to link (100), verify requests (20,000), concurrent
//! connections for verify (16).
//!
//! The server is the release binary (`CARGO_BIN_EXE_waotp-server`) in its own
//! process, so its resident memory is the server's alone; the simulator runs
//! in this process. The load generator is a small keep-alive HTTP/1.1 client
//! on tokio (one connection per worker). The in-process figures call the same
//! operations on a `Gateway` opened in this process on the same simulator.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use waotp::{Gateway, OtpRequest};
use waotp_sim::{SimConfig, Simulator};

const STEP: Duration = Duration::from_secs(60);
const LINK_AT_ONCE: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sessions = numbers.first().copied().unwrap_or(100);
    let verifies = numbers.get(1).copied().unwrap_or(20_000);
    let concurrency = numbers.get(2).copied().unwrap_or(16).max(1);

    let sim = Simulator::start(SimConfig {
        pairing_timeout: STEP,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"), &sim.ws_url());
    let addr = server.addr.clone();
    println!("server at {addr} (pid {})", server.child.id());

    // --- memory with idle connected sessions ---------------------------------
    let mut conn = Conn::open(&addr).await;
    link_http(&mut conn, &sim, "warmup", "6281190000000").await;
    let base = settle_rss(server.child.id()).await;
    let started = Instant::now();
    let ids: Vec<usize> = (1..=sessions).collect();
    for chunk in ids.chunks(LINK_AT_ONCE) {
        let links = chunk.iter().map(|&i| {
            let addr = addr.clone();
            let sim = sim.clone();
            async move {
                let mut conn = Conn::open(&addr).await;
                link_http(
                    &mut conn,
                    &sim,
                    &format!("s{i:04}"),
                    &format!("628119{i:07}"),
                )
                .await;
            }
        });
        join_all(links).await;
    }
    let linked_in = started.elapsed();
    let with_all = settle_rss(server.child.id()).await;
    let per_session = (with_all.saturating_sub(base)) as f64 / sessions as f64;
    println!(
        "memory: {:.1} MiB after one session, {:.1} MiB with {} more idle connected \
         sessions: {:.0} KiB per session (linked in {:.1} s)",
        base as f64 / 1024.0,
        with_all as f64 / 1024.0,
        sessions,
        per_session,
        linked_in.as_secs_f64()
    );

    // --- verify: HTTP vs in process --------------------------------------------
    let per_worker = verifies / concurrency;
    let http = run_workers(concurrency, |worker, go| {
        let addr = addr.clone();
        async move {
            let mut conn = Conn::open(&addr).await;
            go.wait().await;
            let mut latencies = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                let body = json!({ "phoneNumber": verify_number(worker, i), "otp": "123456" });
                let t = Instant::now();
                let (status, _) = conn.post("/api/otp/verify", &body).await;
                latencies.push(t.elapsed());
                assert_eq!(status, 404, "no pending OTP: not_found");
            }
            latencies
        }
    })
    .await;
    report("POST /api/otp/verify (HTTP, not_found)", &http);

    let gateway = Gateway::builder()
        .data_dir(dir.path().join("in-process"))
        .endpoint(sim.ws_url())
        .open()
        .await
        .unwrap();
    let in_process = run_workers(concurrency, |worker, go| {
        let gateway = gateway.clone();
        async move {
            go.wait().await;
            let mut latencies = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                let number = verify_number(worker, i);
                let t = Instant::now();
                let outcome = gateway.verify_otp(&number, "123456").await.unwrap();
                latencies.push(t.elapsed());
                assert_eq!(outcome.as_str(), "not_found");
            }
            latencies
        }
    })
    .await;
    report("Gateway::verify_otp (in process, not_found)", &in_process);

    // --- OTP sends: HTTP vs in process ------------------------------------------
    // Every session sends two codes, to recipients of its own: the per-session
    // pacing (1 s + jitter between sends) bounds the rate, as it does in use.
    let http_sends = send_round_http(&addr, &sim, sessions).await;
    report(
        "POST /api/messages/:id/otp (HTTP, 2 per session)",
        &http_sends,
    );

    for chunk in ids.chunks(LINK_AT_ONCE) {
        join_all(chunk.iter().map(|&i| {
            let gateway = gateway.clone();
            let sim = sim.clone();
            async move {
                link_in_process(
                    &gateway,
                    &sim,
                    &format!("p{i:04}"),
                    &format!("628118{i:07}"),
                )
                .await;
            }
        }))
        .await;
    }
    let local_sends = send_round_in_process(&gateway, &sim, sessions).await;
    report(
        "Gateway::send_otp (in process, 2 per session)",
        &local_sends,
    );

    gateway.close().await;
    server.stop();
}

/// A distinct recipient per request, so no per-recipient limit applies.
fn verify_number(worker: usize, i: usize) -> String {
    format!("62817{:02}{:06}", worker % 100, i % 1_000_000)
}

/// Latencies of one run and its wall time.
struct Load {
    latencies: Vec<Duration>,
    wall: Duration,
}

/// Runs `workers` tasks; each gets its index and a barrier to wait on once
/// it is ready (connection open), and returns its calls' latencies. The wall
/// time runs from the barrier to the last task's end.
async fn run_workers<F, Fut>(workers: usize, worker: F) -> Load
where
    F: Fn(usize, Arc<tokio::sync::Barrier>) -> Fut,
    Fut: std::future::Future<Output = Vec<Duration>> + Send + 'static,
{
    let go = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let tasks: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(worker(w, go.clone())))
        .collect();
    go.wait().await;
    let t = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load {
        latencies,
        wall: t.elapsed(),
    }
}

fn report(what: &str, load: &Load) {
    let mut l = load.latencies.clone();
    l.sort();
    let pct = |q: f64| l[((l.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: {} requests in {:.2} s = {:.0} req/s; p50 {:.3} ms, p99 {:.3} ms",
        l.len(),
        load.wall.as_secs_f64(),
        l.len() as f64 / load.wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

async fn send_round_http(addr: &str, sim: &Simulator, sessions: usize) -> Load {
    run_workers(sessions, |w, go| {
        let i = w + 1;
        let recipients = [format!("628127{i:06}1"), format!("628127{i:06}2")];
        for r in &recipients {
            sim.add_number(r, true);
        }
        let addr = addr.to_owned();
        async move {
            let mut conn = Conn::open(&addr).await;
            go.wait().await;
            let mut latencies = Vec::new();
            for to in recipients {
                let t = Instant::now();
                let (status, body) = conn
                    .post(&format!("/api/messages/s{i:04}/otp"), &json!({ "to": to }))
                    .await;
                latencies.push(t.elapsed());
                assert_eq!(status, 200, "{body}");
            }
            latencies
        }
    })
    .await
}

async fn send_round_in_process(gateway: &Gateway, sim: &Simulator, sessions: usize) -> Load {
    run_workers(sessions, |w, go| {
        let i = w + 1;
        let recipients = [format!("628126{i:06}1"), format!("628126{i:06}2")];
        for r in &recipients {
            sim.add_number(r, true);
        }
        let gateway = gateway.clone();
        async move {
            go.wait().await;
            let mut latencies = Vec::new();
            for to in recipients {
                let t = Instant::now();
                gateway
                    .send_otp(&format!("p{i:04}"), &to, &OtpRequest::new("PT. Contoh"))
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }
    })
    .await
}

/// Creates `id` over HTTP, lets the simulated phone scan its QR, waits until connected.
async fn link_http(conn: &mut Conn, sim: &Simulator, id: &str, phone: &str) {
    let (status, body) = conn
        .post("/api/sessions/create", &json!({ "sessionId": id }))
        .await;
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + STEP;
    let qr = loop {
        let (status, body) = conn.get(&format!("/api/sessions/{id}/qr")).await;
        if status == 200 {
            break body["data"]["qrPayload"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "{id}: no QR: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    sim.scan(&qr, phone, "Bench Phone").await.unwrap();
    loop {
        let (_, body) = conn.get(&format!("/api/sessions/{id}/status")).await;
        if body["data"]["isConnected"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "{id}: not connected: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn link_in_process(gateway: &Gateway, sim: &Simulator, id: &str, phone: &str) {
    let session = gateway.create_session(Some(id)).await.unwrap();
    let qr = session.wait_qr(STEP).await.unwrap();
    sim.scan(qr.raw(), phone, "Bench Phone").await.unwrap();
    session.wait_connected(STEP).await.unwrap();
}

/// Resident memory of `pid` once it stops moving (post-login work done).
async fn settle_rss(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid);
        if now.abs_diff(last) < 256 {
            return now;
        }
        last = now;
    }
    last
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs `futures` concurrently (each on its own task) until all are done.
async fn join_all<F>(futures: impl Iterator<Item = F>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

/// One keep-alive HTTP/1.1 connection; enough for JSON answers with a
/// Content-Length, which is all the server writes.
struct Conn {
    stream: tokio::io::BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream: tokio::io::BufReader::new(stream),
        }
    }

    async fn get(&mut self, path: &str) -> (u16, Value) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n"))
            .await
    }

    async fn post(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        self.send(format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await
    }

    async fn send(&mut self, request: String) -> (u16, Value) {
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// The release server binary, on a free loopback port.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(data_dir: &Path, ws_url: &str) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_waotp-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--endpoint",
                ws_url,
                "--data-dir",
            ])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("waotp-server listening on http://")
            .unwrap_or_else(|| panic!("unexpected: {line:?}"))
            .to_owned();
        ServerProcess { child, addr }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
