//! OTP throughput on the Redis store: issue + verify pairs per second through
//! [`OtpEngine`], from many concurrent tasks, against a local `redis-server`.
//!
//! ```text
//! cargo bench -p waotp --bench redis_store -- [TASKS] [SECONDS]
//! ```
//!
//! Defaults: 64 tasks, 5 measured seconds (after 1 s of warm-up). Every task
//! runs pairs back to back (issue a code, verify it, expect `approved`), each
//! pair to a recipient no other pair uses, through one [`RedisStore`] (one
//! multiplexed connection: concurrent calls share the socket, so Redis
//! receives them pipelined without any batching in the store).
//!
//! Two rounds:
//!
//! * limits off (`Limits::none()`, as in the `otp` bench): a pair is two
//!   store calls, the `put` script and the `check` script;
//! * default limits: also the send-slot and verification-slot scripts, four
//!   store calls per pair. Fresh recipients keep every limit granting.
//!
//! Redis runs on the same machine, so the figure is what one host with
//! both gets: the bench process and `redis-server` share the cores. The
//! load average is printed before and after, since other work on the machine
//! moves the figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use waotp::otp::{Limits, OtpConfig, OtpEngine, OtpRequest, RedisStore, VerifyOutcome};
use waotp_sim::redis_server::RedisServer;

const DEFAULT_TASKS: usize = 64;
const DEFAULT_SECONDS: u64 = 5;
const WARM_UP: Duration = Duration::from_secs(1);

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Redis's CPU seconds so far and, per command name, (calls, µs spent
/// executing), from `INFO`.
async fn redis_counters(server: &RedisServer) -> (f64, Vec<(String, u64, u64)>) {
    let client = redis::Client::open(server.url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("INFO connection");
    let info: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(&mut conn)
        .await
        .expect("INFO");
    let mut cpu = 0.0;
    let mut commands = Vec::new();
    for line in info.lines() {
        if let Some(v) = line
            .strip_prefix("used_cpu_user:")
            .or_else(|| line.strip_prefix("used_cpu_sys:"))
        {
            cpu += v.trim().parse::<f64>().unwrap_or(0.0);
        }
        // cmdstat_evalsha:calls=…,usec=…,usec_per_call=…
        if let Some((name, stats)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        {
            let field = |key: &str| {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            commands.push((name.to_string(), field("calls="), field("usec=")));
        }
    }
    (cpu, commands)
}

/// Runs `tasks` loops of issue + verify until told to stop; counts pairs.
async fn round(
    server: &RedisServer,
    name: &str,
    limits: Limits,
    tasks: usize,
    measure: Duration,
) -> f64 {
    // A prefix per round, so the second round starts from no state.
    let store = RedisStore::connect(&server.url(), &format!("bench-{name}:"))
        .await
        .expect("connect to the bench redis-server");
    let mut config = OtpConfig::default();
    config.limits = limits;
    let engine = OtpEngine::builder()
        .store(Arc::new(store))
        .config(config)
        .build()
        .expect("engine");
    let pairs = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let (engine, pairs, stop) = (engine.clone(), pairs.clone(), stop.clone());
            tokio::spawn(async move {
                let request = OtpRequest::new("PT. Contoh");
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let to = format!("62{task:03}{n:010}");
                    n += 1;
                    let issued = engine.issue(&to, "bench", &request).await.expect("issue");
                    let code = issued.code.as_ref().expect("a fresh code");
                    let outcome = engine.verify(&to, code.expose()).await.expect("verify");
                    assert_eq!(outcome, VerifyOutcome::Approved);
                    pairs.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let (cpu_before, commands_before) = redis_counters(server).await;
    let (start, before) = (Instant::now(), pairs.load(Ordering::Relaxed));
    tokio::time::sleep(measure).await;
    let (elapsed, after) = (start.elapsed(), pairs.load(Ordering::Relaxed));
    let (cpu_after, commands_after) = redis_counters(server).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a bench task panicked");
    }
    let rate = (after - before) as f64 / elapsed.as_secs_f64();
    println!(
        "redis_store/{name:<14} {tasks} tasks: {rate:>9.0} pairs/s ({} pairs in {:.2} s)",
        after - before,
        elapsed.as_secs_f64()
    );
    let measured = (after - before).max(1) as f64;
    println!(
        "    redis-server: {:.1} µs CPU per pair ({:.0}% of one core)",
        (cpu_after - cpu_before) * 1e6 / measured,
        (cpu_after - cpu_before) * 100.0 / elapsed.as_secs_f64()
    );
    for (name, calls, usec) in commands_after {
        let (calls0, usec0) = commands_before
            .iter()
            .find(|(n, ..)| *n == name)
            .map_or((0, 0), |&(_, c, u)| (c, u));
        let calls = calls - calls0;
        if calls as f64 >= measured / 2.0 {
            println!(
                "    {name}: {:.2} calls per pair, {:.1} µs executing per call",
                calls as f64 / measured,
                (usec - usec0) as f64 / calls as f64
            );
        }
    }
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; only plain numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tasks = numbers.first().map_or(DEFAULT_TASKS, |&n| n as usize);
    let seconds = numbers.get(1).copied().unwrap_or(DEFAULT_SECONDS);
    let measure = Duration::from_secs(seconds);

    let server =
        RedisServer::start().expect("start redis-server (install it, or set WAOTP_REDIS_SERVER)");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    println!(
        "cores: {}, load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    runtime.block_on(async {
        round(&server, "limits-off", Limits::none(), tasks, measure).await;
        round(&server, "default-limits", Limits::default(), tasks, measure).await;
    });
    println!("load average after: {}", load_average());
}
