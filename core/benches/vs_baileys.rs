//! waotp against Baileys in one run, against one simulator process.
//!
//! ```text
//! bash sim/peers/baileys/bench/run 1 20 200     # builds, then runs this
//! cargo bench --workspace --features waotp/sandbox --bench vs_baileys -- 1 20 200
//! ```
//!
//! Arguments: the session counts N to measure (1 20 200), then options:
//! `--batch 10` (sessions linked at once), `--window 60` (idle CPU window,
//! seconds), `--warm-sends 3` (sends after the first, per session),
//! `--load both|none|idle`, and the idle load `--idle-chats 20
//! --idle-messages 10 --idle-message-bytes 2048` (passed to the simulator
//! with `--idle-history`: an offline backlog on every login, and once per
//! new companion a history sync of as many chats × messages plus a contact
//! per chat in app state).
//!
//! For every N and load this process starts one `waotp-sim` (the binary next
//! to the bench; with `--idle-chats …` for the idle load), then runs the two
//! clients against it one after the other, each in a fresh process of its
//! own so neither inherits the other's heap:
//!
//! * waotp: this bench binary again (`--client`), N sessions in one
//!   [`Gateway`] (SQLite stores in a temporary data dir, as an application
//!   runs it);
//! * Baileys 6.7.24: `node sim/peers/baileys/bench/baileys.mjs`, N
//!   sockets in one Node process (in-memory auth state).
//!
//! Both follow the same script and print one JSON line:
//!
//! 1. link one session (create → QR → `POST /scan` → connected), let it
//!    settle, read VmRSS (`/proc/self/status`): the one-session figure;
//! 2. link the other N − 1, `--batch` at a time, timing create → first QR
//!    and scan → open/connected of each;
//! 3. settle: every session connected, with the idle load every backlog
//!    message acknowledged by the client and its history sync answered
//!    with a `hist_sync` receipt (`idle_load_acked`,
//!    `history_sync_receipts` of
//!    `GET /devices`), then VmRSS read every 500 ms until it moves less than
//!    256 KiB (at most 20 s): marginal RSS = (RSS_N − RSS_1) / (N − 1);
//! 4. idle window: utime + stime from `/proc/self/stat` before and after
//!    `--window` seconds of doing nothing, divided by N;
//! 5. sends: per session, one text to a fresh registered recipient (the
//!    first send: device lookup and prekey fetch included), then
//!    `--warm-sends` more to it, one at a time; each timed from the call to
//!    the server's ack of that message (waotp: `Session::send_text` →
//!    whatsapp-rust's `ServerAck` event, from a handler on the session's
//!    client; Baileys: `sendMessage` → the `<ack class="message">` off its
//!    socket).
//!
//! The table at the end gives both clients' figures and the waotp/Baileys
//! ratio of each (below 1: waotp smaller or faster); every client's raw
//! figures follow `json:` lines.
//!
//! Profiling one side: run the client mode by hand against a running
//! `waotp-sim` (`vs_baileys --client N --ws … --control … --backlog M`); it
//! prints `idle window of S s starts (pid P)` on stderr when settled, for
//! `perf record -p P`, and with `VS_BAILEYS_EXIT_SETTLED=1` it exits at that
//! point without freeing anything (under heaptrack, "leaked" is then the
//! live heap of N idle sessions).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use common::{Sim, cpu_ticks_of, rss_kib};
use serde_json::{Value, json};
use tokio::sync::Notify;
use waotp::{Gateway, Session};
use whatsapp_rust::wacore::types::events::{
    Event as WaEvent, EventHandler as WaEventHandler, EventInterest, EventKind,
};

/// Linux reports `/proc/PID/stat` times in USER_HZ, which is 100 on every
/// architecture the kernel exposes to user space through that file.
const TICKS_PER_SEC: f64 = 100.0;
/// How long one linking or sending step may take.
const STEP: Duration = Duration::from_secs(60);
/// The text every send carries (both clients), as long as an OTP message.
const TEXT: &str = "Your verification code is 482913. It expires in 5 minutes. Do not share it.";

#[derive(Parser, Debug, Clone)]
#[command(about = "waotp against Baileys, same run, same simulator")]
struct Args {
    /// Session counts to measure.
    sessions: Vec<usize>,
    /// Sessions linked at once after the first.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Idle CPU window in seconds.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Sends per session after the first one.
    #[arg(long, default_value_t = 3)]
    warm_sends: usize,
    /// Which simulator loads to run: `both`, `none` or `idle`.
    #[arg(long, default_value = "both")]
    load: String,
    /// Idle load: senders whose backlog every login receives.
    #[arg(long, default_value_t = 20)]
    idle_chats: usize,
    /// Idle load: offline messages per sender.
    #[arg(long, default_value_t = 10)]
    idle_messages: usize,
    /// Idle load: bytes of text per message.
    #[arg(long, default_value_t = 2048)]
    idle_message_bytes: usize,
    /// The Node executable for the Baileys side.
    #[arg(long, env = "NODE", default_value = "node")]
    node: String,
    /// Client mode (internal): run the waotp side against a running
    /// simulator and print its JSON line.
    #[arg(long, hide = true)]
    client: bool,
    /// Client mode: the simulator's WebSocket URL.
    #[arg(long, hide = true)]
    ws: Option<String>,
    /// Client mode: the simulator's control URL.
    #[arg(long, hide = true)]
    control: Option<String>,
    /// Client mode: backlog messages each login receives (0: no idle load).
    #[arg(long, hide = true, default_value_t = 0)]
    backlog: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    if args.client {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let figures = runtime.block_on(waotp_client(&args));
        println!("{figures}");
        return;
    }
    orchestrate(&args);
}

// --- the orchestrator ---------------------------------------------------------

fn orchestrate(args: &Args) {
    let counts = if args.sessions.is_empty() {
        vec![1, 20, 200]
    } else {
        args.sessions.clone()
    };
    let loads: Vec<bool> = match args.load.as_str() {
        "none" => vec![false],
        "idle" => vec![true],
        _ => vec![false, true],
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sim/peers/baileys/bench/baileys.mjs")
        .canonicalize()
        .expect("sim/peers/baileys/bench/baileys.mjs");
    let backlog = (args.idle_chats * args.idle_messages) as u64;
    let mut rows = Vec::new();
    for &n in &counts {
        for &idle in &loads {
            let extra: Vec<String> = if idle {
                vec![
                    "--idle-chats".into(),
                    args.idle_chats.to_string(),
                    "--idle-messages".into(),
                    args.idle_messages.to_string(),
                    "--idle-message-bytes".into(),
                    args.idle_message_bytes.to_string(),
                    "--idle-history".into(),
                ]
            } else {
                Vec::new()
            };
            let sim = Sim::start_with(&extra);
            let common_args = vec![
                "--ws".to_string(),
                sim.ws.clone(),
                "--control".into(),
                sim.control.clone(),
                "--batch".into(),
                args.batch.to_string(),
                "--window".into(),
                args.window.to_string(),
                "--warm-sends".into(),
                args.warm_sends.to_string(),
                "--backlog".into(),
                if idle { backlog } else { 0 }.to_string(),
            ];
            let label = format!(
                "N={n}, {}",
                if idle {
                    format!(
                        "idle load {}×{}×{} B",
                        args.idle_chats, args.idle_messages, args.idle_message_bytes
                    )
                } else {
                    "no idle load".to_string()
                }
            );
            eprintln!("== {label}: waotp");
            let exe = std::env::current_exe().unwrap();
            let mut waotp = Command::new(exe);
            waotp.arg("--client").arg(n.to_string()).args(&common_args);
            let w = run_child(waotp, "waotp");
            eprintln!("== {label}: Baileys");
            let mut baileys = Command::new(&args.node);
            baileys
                .arg(&script)
                .arg("--sessions")
                .arg(n.to_string())
                .args(&common_args);
            let b = run_child(baileys, "baileys");
            println!(
                "json: {}",
                json!({"sessions": n, "idle_load": idle, "waotp": w, "baileys": b})
            );
            rows.push((label, n, w, b));
            drop(sim);
        }
    }
    println!();
    for (label, n, w, b) in &rows {
        print_table(label, *n, w, b);
    }
}

/// Runs one client process and parses the JSON line it prints last.
fn run_child(mut command: Command, what: &str) -> Value {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {what} client: {e}"));
    let mut last = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with('{') {
            last = line;
        } else {
            eprintln!("[{what}] {line}");
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the {what} client failed: {status}");
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("{what}'s JSON line {last:?}: {e}"))
}

/// The `q` quantile of a list of numbers (sorted here).
fn quantile(values: &Value, q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[((v.len() - 1) as f64 * q).round() as usize])
}

fn print_table(label: &str, n: usize, w: &Value, b: &Value) {
    println!("### {label}");
    println!();
    println!("| figure | waotp | Baileys | waotp/Baileys |");
    println!("|---|---|---|---|");
    let row = |name: &str, unit: &str, digits: usize, wv: Option<f64>, bv: Option<f64>| {
        let show = |v: Option<f64>| match v {
            Some(v) => format!("{v:.digits$} {unit}"),
            None => "—".to_string(),
        };
        let ratio = match (wv, bv) {
            (Some(a), Some(c)) if c > 0.0 => format!("{:.2}", a / c),
            _ => "—".to_string(),
        };
        println!("| {name} | {} | {} | {ratio} |", show(wv), show(bv));
    };
    let kib = |v: &Value, k: &str| v[k].as_f64().map(|x| x / 1024.0);
    row(
        "RSS with 1 session",
        "MiB",
        1,
        kib(w, "rss_one_kib"),
        kib(b, "rss_one_kib"),
    );
    if n > 1 {
        row(
            &format!("RSS with {n} sessions"),
            "MiB",
            1,
            kib(w, "rss_all_kib"),
            kib(b, "rss_all_kib"),
        );
    }
    let marginal = |v: &Value| {
        let (one, all) = (v["rss_one_kib"].as_f64()?, v["rss_all_kib"].as_f64()?);
        (n > 1).then(|| (all - one) / (n - 1) as f64)
    };
    row(
        "marginal RSS per session",
        "KiB",
        0,
        marginal(w),
        marginal(b),
    );
    for (name, key, q) in [
        ("create → first QR, p50", "first_qr_ms", 0.5),
        ("scan → open/connected, p50", "scan_to_open_ms", 0.5),
        ("first send → server ack, p50", "send_first_ms", 0.5),
        ("next sends → server ack, p50", "send_warm_ms", 0.5),
        ("create → first QR, p99", "first_qr_ms", 0.99),
        ("scan → open/connected, p99", "scan_to_open_ms", 0.99),
        ("next sends → server ack, p99", "send_warm_ms", 0.99),
    ] {
        row(name, "ms", 2, quantile(&w[key], q), quantile(&b[key], q));
    }
    let cpu = |v: &Value| {
        let ms = v["idle_cpu_ms"].as_f64()?;
        let window = v["idle_window_s"].as_f64()?;
        Some(ms / n as f64 * 60.0 / window)
    };
    row("idle CPU per session, per 60 s", "ms", 2, cpu(w), cpu(b));
    println!();
}

// --- the waotp client ----------------------------------------------------------

/// When the server's ack of each sent message reached the client, by
/// message id: whatsapp-rust's `ServerAck` event, from a handler subscribed
/// on the session's client (the raw ack, as Baileys' socket reports it).
/// waotp's own `Event::MessageStatus` is not used: its statuses only move
/// forward, so when the read receipt is handled before the ack (whatsapp-rust
/// dispatches them from different tasks) the app never sees `Sent`.
#[derive(Default)]
struct Acks {
    at: Mutex<HashMap<String, Instant>>,
    arrived: Notify,
}

impl WaEventHandler for Acks {
    fn handle_event(&self, event: Arc<WaEvent>) {
        if let WaEvent::ServerAck(ack) = &*event
            && ack.class.as_deref() == Some("message")
        {
            let now = Instant::now();
            self.at.lock().unwrap().entry(ack.id.clone()).or_insert(now);
            self.arrived.notify_waiters();
        }
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(&[EventKind::ServerAck])
    }
}

impl Acks {
    /// When the ack of `id` arrived (waits for it).
    async fn wait(&self, id: &str) -> Instant {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                if let Some(at) = self.at.lock().unwrap().get(id) {
                    return *at;
                }
                notified.await;
            }
        };
        tokio::time::timeout(STEP, wait)
            .await
            .unwrap_or_else(|_| panic!("no server ack for {id}"))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn account(i: usize) -> String {
    format!("628110{i:07}")
}

fn recipient(i: usize) -> String {
    format!("628210{i:07}")
}

/// Links session `i`: answers it with create → `create_session` returned,
/// create → QR and scan → connected.
async fn link(gw: &Gateway, sim: &Sim, i: usize) -> (Session, f64, f64, f64) {
    let started = Instant::now();
    let session = gw.create_session(Some(&format!("s{i:04}"))).await.unwrap();
    let created = ms(started.elapsed());
    let qr = session.wait_qr(STEP).await.unwrap();
    let first_qr = ms(started.elapsed());
    let scanned = Instant::now();
    let body = json!({"qr": qr.raw(), "phone": account(i), "name": "Bench"});
    // The scan answers once pairing is over; connected may come before.
    let (_, connected) = tokio::join!(sim.post("/scan", body), async {
        session.wait_connected(STEP).await.unwrap();
        scanned.elapsed()
    });
    (session, created, first_qr, ms(connected))
}

/// Waits until every session is connected and, with the idle load, the
/// simulator has seen every backlog message acknowledged and the history
/// sync's `hist_sync` receipt; then until VmRSS
/// stops moving. Answers the settled VmRSS.
async fn settle(gw: &Gateway, sim: &Sim, n: usize, backlog: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    let phones: Vec<String> = (0..n).map(account).collect();
    loop {
        let away = gw
            .list_sessions()
            .iter()
            .filter(|s| !s.is_connected)
            .count();
        let unacked = if backlog > 0 {
            let devices = sim.get("/devices").await;
            // Per phone: backlog sent and acknowledged, history syncs sent
            // and answered with a `hist_sync` receipt.
            let mut sent = HashMap::<String, [u64; 4]>::new();
            for d in devices["devices"].as_array().unwrap() {
                let phone = d["phone"].as_str().unwrap();
                if phones.iter().any(|p| p == phone) {
                    let e = sent.entry(phone.to_owned()).or_default();
                    e[0] += d["idle_load_sent"].as_u64().unwrap();
                    e[1] += d["idle_load_acked"].as_u64().unwrap();
                    e[2] += d["history_syncs_sent"].as_u64().unwrap();
                    e[3] += d["history_sync_receipts"].as_u64().unwrap();
                }
            }
            phones
                .iter()
                .filter(|p| match sent.get(*p) {
                    Some([s, a, h, r]) => *s < backlog || a < s || *h == 0 || r < h,
                    None => true,
                })
                .count()
        } else {
            0
        };
        if away == 0 && unacked == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled after 180 s: {away} sessions not connected, {unacked} with backlog or history sync unacknowledged"
        );
        // A bounded poll of the simulator's counters, not a wait for time to pass.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    settle_rss(rss_kib).await
}

/// Reads VmRSS every 500 ms until two reads differ by less than 256 KiB, at
/// most 20 s; answers the last read.
async fn settle_rss(read: impl Fn() -> u64) -> u64 {
    let started = Instant::now();
    let mut last = read();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = read();
        let still = now.abs_diff(last) < 256;
        last = now;
        if still || started.elapsed() > Duration::from_secs(20) {
            return last;
        }
    }
}

async fn waotp_client(args: &Args) -> Value {
    let n = *args.sessions.first().expect("session count");
    let sim = Sim::attach(
        args.ws.as_deref().unwrap(),
        args.control.as_deref().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(&sim.ws)
        .open()
        .await
        .unwrap();

    let mut sessions = Vec::with_capacity(n);
    let mut first_qr = Vec::with_capacity(n);
    let mut scan_to_open = Vec::with_capacity(n);
    let mut create = Vec::with_capacity(n);
    let (s, c, q, o) = link(&gw, &sim, 0).await;
    sessions.push(s);
    create.push(c);
    first_qr.push(q);
    scan_to_open.push(o);
    let rss_one = settle(&gw, &sim, 1, args.backlog).await;
    eprintln!("[waotp] 1 session linked and settled: {rss_one} KiB");
    let rest: Vec<usize> = (1..n).collect();
    for chunk in rest.chunks(args.batch.max(1)) {
        let linked =
            whatsapp_rust::futures::future::join_all(chunk.iter().map(|&i| link(&gw, &sim, i)))
                .await;
        for (s, c, q, o) in linked {
            sessions.push(s);
            create.push(c);
            first_qr.push(q);
            scan_to_open.push(o);
        }
    }
    let rss_all = settle(&gw, &sim, n, args.backlog).await;
    eprintln!("[waotp] {n} sessions linked and settled: {rss_all} KiB");

    // For memory profilers (heaptrack's "leaked" = live now): stop here
    // without freeing anything.
    if std::env::var_os("VS_BAILEYS_EXIT_SETTLED").is_some() {
        std::process::exit(0);
    }
    // Progress lines name the window, so a profiler can be attached to it.
    eprintln!(
        "[waotp] idle window of {} s starts (pid {})",
        args.window,
        std::process::id()
    );
    let cpu_before = cpu_ticks_of("self");
    tokio::time::sleep(Duration::from_secs(args.window)).await;
    let idle_cpu_ms = (cpu_ticks_of("self") - cpu_before) as f64 / TICKS_PER_SEC * 1e3;
    let rss_after_idle = rss_kib();
    eprintln!("[waotp] idle window over: {idle_cpu_ms} ms CPU");

    for i in 0..n {
        sim.add_registered(&recipient(i)).await;
    }
    let mut send_first = Vec::with_capacity(n);
    let mut send_warm = Vec::with_capacity(n * args.warm_sends);
    let mut call_first = Vec::with_capacity(n);
    let mut call_warm = Vec::with_capacity(n * args.warm_sends);
    let acks = Arc::new(Acks::default());
    for (i, session) in sessions.iter().enumerate() {
        let client = session.whatsapp_client().unwrap();
        let _subscription = client.subscribe_handler(acks.clone());
        for k in 0..=args.warm_sends {
            let started = Instant::now();
            let sent = session
                .send_text(&recipient(i), TEXT, None)
                .await
                .unwrap_or_else(|e| panic!("send from session {i}: {e}"));
            let returned = ms(started.elapsed());
            let acked = ms(acks.wait(&sent.id).await - started);
            if k == 0 {
                send_first.push(acked);
                call_first.push(returned);
            } else {
                send_warm.push(acked);
                call_warm.push(returned);
            }
        }
    }
    gw.close().await;
    json!({
        "client": "waotp",
        "sessions": n,
        "rss_one_kib": rss_one,
        "rss_all_kib": rss_all,
        "rss_after_idle_kib": rss_after_idle,
        "create_ms": create,
        "first_qr_ms": first_qr,
        "scan_to_open_ms": scan_to_open,
        "idle_cpu_ms": idle_cpu_ms,
        "idle_window_s": args.window,
        "send_first_ms": send_first,
        "send_warm_ms": send_warm,
        "send_call_first_ms": call_first,
        "send_call_warm_ms": call_warm,
    })
}
