//! The Rust side of the C-call overhead benchmark: `Gateway::verify_otp` on
//! the memory store, called directly. `ffi/bench/verify_bench.c` makes the
//! same calls through `waotp_otp_verify`; the difference is the C boundary.
//!
//!   cargo bench -p waotp-ffi --features sandbox --bench verify_overhead
//!
//! Prints `rust verify_otp: N calls, X ns/call` (best of 5 rounds).

use std::sync::Arc;
use std::time::Instant;

use waotp::Gateway;
use waotp::otp::{Limits, MemoryStore, OtpConfig};

const CALLS: u32 = 1_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("waotp-bench-{}", std::process::id()));
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(&dir)
        .otp_config(config)
        .otp_store(Arc::new(MemoryStore::new()));
    if cfg!(feature = "sandbox") {
        // No session is created, so nothing connects to it.
        builder = builder.endpoint("ws://127.0.0.1:9/ws/chat");
    }
    let gateway = rt.block_on(builder.open()).expect("gateway opens");
    // The C layer keeps one event subscriber per gateway; so does this.
    let _events = gateway.events();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..CALLS {
            let outcome = rt
                .block_on(gateway.verify_otp("081234567890", "123456"))
                .unwrap();
            std::hint::black_box(outcome);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / CALLS as f64);
    }
    println!("rust verify_otp: {CALLS} calls, {best:.1} ns/call");
    rt.block_on(gateway.close());
    let _ = std::fs::remove_dir_all(dir);
}
