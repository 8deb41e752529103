//! Worker processes: the test binary started again, each copy a separate OS
//! process with its own gateway on a shared data dir (or a shared Redis), so
//! tests exercise what many PHP-FPM workers or replicas do.
//!
//! A test file that uses this has an ignored `#[test] fn worker_process()`
//! calling [`worker_main`]; [`Worker::spawn`] runs the binary with
//! `--ignored --exact worker_process` and talks JSON lines over stdin/stdout
//! (what the worker says follows `WORKER ` on a line; everything else is the
//! test harness talking). Workers log to stderr under `RUST_LOG`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use waotp::otp::{Limits, OtpConfig, Pacing, RateWindow};
use waotp::{Gateway, OtpRequest};

use super::STEP;

/// What a worker needs to open its gateway.
#[derive(Debug, Clone)]
pub struct WorkerSetup {
    pub data_dir: std::path::PathBuf,
    pub endpoint: String,
    pub redis_url: Option<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A running worker process.
pub struct Worker {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    pending: Pending,
    next: u64,
    ready: Option<oneshot::Receiver<Value>>,
}

impl Worker {
    /// Starts a worker; call [`Worker::ready`] before sending it commands.
    pub fn spawn(name: &str, test_file_worker: &str, setup: &WorkerSetup) -> Worker {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .args([
                "--ignored",
                "--exact",
                test_file_worker,
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WAOTP_WORKER_DATA", &setup.data_dir)
            .env("WAOTP_WORKER_ENDPOINT", &setup.endpoint)
            .env("WAOTP_WORKER_NAME", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &setup.redis_url {
            command.env("WAOTP_WORKER_REDIS", url);
        }
        let mut child = command.spawn().expect("worker process starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let pending: Pending = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel();
        let reader_pending = pending.clone();
        let reader_name = name.to_owned();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness prints "test worker_process ... " without a
                // newline before the test's own output.
                let Some(body) = line.find("WORKER ").map(|at| &line[at + 7..]) else {
                    continue;
                };
                let value: Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("{reader_name}: bad line {body:?}: {e}"));
                if value.get("ready").is_some() {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(value);
                    }
                    continue;
                }
                let n = value["n"].as_u64().unwrap_or(u64::MAX);
                if let Some(tx) = reader_pending.lock().unwrap().remove(&n) {
                    let _ = tx.send(value);
                }
            }
        });
        Worker {
            name: name.to_owned(),
            child,
            stdin,
            pending,
            next: 0,
            ready: Some(ready_rx),
        }
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the worker's gateway is open and its session connected;
    /// returns whether this worker owns the session.
    pub async fn ready(&mut self) -> bool {
        let rx = self.ready.take().expect("ready() is called once");
        let value = tokio::time::timeout(STEP * 2, rx)
            .await
            .unwrap_or_else(|_| panic!("{}: not ready within {:?}", self.name, STEP * 2))
            .unwrap_or_else(|_| panic!("{}: exited before it was ready", self.name));
        value["owner"].as_bool().unwrap()
    }

    /// Sends a command; the answer arrives through the returned receiver.
    pub fn send(&mut self, mut command: Value) -> oneshot::Receiver<Value> {
        self.next += 1;
        command["n"] = json!(self.next);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(self.next, tx);
        writeln!(self.stdin, "{command}").expect("worker stdin");
        self.stdin.flush().unwrap();
        rx
    }

    /// Sends a command and waits for its answer.
    pub async fn call(&mut self, command: Value) -> Value {
        let name = self.name.clone();
        answer(&name, self.send(command)).await
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP: the process keeps its lease and sockets but does nothing.
    pub fn pause(&self) {
        signal(self.pid(), "-STOP");
    }

    /// Asks the worker to close its gateway and exit, and waits for it.
    pub fn exit(mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "exit"}));
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A failed test must not leave workers behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

/// Waits for a command's answer.
pub async fn answer(name: &str, rx: oneshot::Receiver<Value>) -> Value {
    let wait = STEP * 4;
    tokio::time::timeout(wait, rx)
        .await
        .unwrap_or_else(|_| panic!("{name}: no answer within {wait:?}"))
        .unwrap_or_else(|_| panic!("{name}: exited without answering"))
}

/// The OTP secret every gateway of a Redis test supplies: with Redis, the
/// application keeps the secret (the same on every host), not Redis.
pub fn test_otp_secret() -> waotp::otp::OtpSecret {
    waotp::otp::OtpSecret::from_bytes(TEST_OTP_SECRET).expect("a secret of more than 16 bytes")
}

/// The bytes of [`test_otp_secret`].
pub const TEST_OTP_SECRET: &[u8] = b"waotp integration tests' secret: not for use";

/// The Redis lease TTL of the tests' gateways: short, so a failover test
/// does not wait out the 10 s default.
pub const REDIS_LEASE_TTL: Duration = Duration::from_secs(2);

/// OTP settings every worker uses: five sends per recipient per minute, no
/// cooldown (so a test can reach the sixth quickly), a short pacing gap.
pub fn worker_otp_config() -> OtpConfig {
    let mut config = OtpConfig::default();
    config.limits = Limits {
        sends_per_recipient: Some(RateWindow::new(5, Duration::from_secs(60))),
        resend_cooldown: Duration::ZERO,
        verifies_per_recipient: None,
        session_pacing: Some(Pacing {
            min_gap: Duration::from_millis(10),
            jitter: Duration::ZERO,
            max_wait: Duration::from_secs(30),
        }),
    };
    config
}

/// The body of a worker process: opens a gateway from the environment and
/// answers commands until told to exit. Returns at once outside a worker.
pub fn worker_main(session: &str) {
    let Ok(data_dir) = std::env::var("WAOTP_WORKER_DATA") else {
        return;
    };
    let endpoint = std::env::var("WAOTP_WORKER_ENDPOINT").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _ = env_logger::builder().is_test(false).try_init();
    runtime.block_on(async move {
        let mut builder = Gateway::builder()
            .data_dir(&data_dir)
            .endpoint(endpoint)
            .otp_config(worker_otp_config());
        if let Ok(url) = std::env::var("WAOTP_WORKER_REDIS") {
            builder = builder
                .redis_url(url)
                .otp_secret(test_otp_secret())
                .redis_lease_ttl(REDIS_LEASE_TTL);
        }
        let gateway = builder.open().await.expect("worker gateway opens");
        let handle = gateway
            .session(session)
            .expect("the linked session is listed");
        handle
            .wait_connected(STEP)
            .await
            .expect("the session is connected somewhere");
        println!(
            "WORKER {}",
            json!({"ready": true, "owner": handle.is_owner()})
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let command: Value = serde_json::from_str(&line).expect("a JSON command");
            if command["op"] == "exit" {
                break;
            }
            let gateway = gateway.clone();
            let session = session.to_owned();
            tokio::spawn(async move {
                let mut reply = run_command(&gateway, &session, &command).await;
                reply["n"] = command["n"].clone();
                println!("WORKER {reply}");
            });
        }
        gateway.close().await;
    });
}

async fn run_command(gateway: &Gateway, session: &str, command: &Value) -> Value {
    let text = |key: &str| command[key].as_str().unwrap_or_default().to_owned();
    let result = match command["op"].as_str().unwrap_or_default() {
        "send_otp" => {
            let request = OtpRequest::new("PT. Contoh").reveal_code(true);
            gateway
                .send_otp(session, &text("to"), &request)
                .await
                .map(|sent| {
                    json!({
                        "code": sent.code.as_ref().map(|c| c.expose().to_owned()),
                        "message_id": sent.message_id,
                    })
                })
        }
        "verify" => gateway
            .verify_otp(&text("to"), &text("code"))
            .await
            .map(|outcome| json!({"outcome": format!("{outcome:?}")})),
        "owner" => gateway
            .session(session)
            .map(|s| json!({"owner": s.is_owner()})),
        "inbound_start" => {
            let request = waotp::InboundRequest::new().expected_phone(text("expected"));
            gateway
                .start_inbound_verification(&waotp::SenderPool::of([session]), &request)
                .await
                .map(|v| json!({"id": v.verification_id, "text": v.text}))
        }
        "inbound_status" => gateway
            .inbound_verification_status(&text("id"))
            .await
            .map(|s| json!({"status": s.state.as_str(), "sender": s.sender})),
        other => Ok(json!({"unknown": other})),
    };
    match result {
        Ok(value) => json!({"ok": true, "value": value}),
        Err(e) => json!({"ok": false, "error": e.code(), "message": e.to_string()}),
    }
}
