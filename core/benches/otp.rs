//! OTP engine throughput: `generate_otp`, and issue + verify pairs against the
//! memory and the SQLite store (one thread, so "per core").
//!
//! Run: `cargo bench -p waotp --bench otp`. Throughput is reported as
//! elements/s, one element being one code (generate) or one issue+verify pair.
//! Limits are turned off (`Limits::none()`), otherwise the resend cooldown
//! would refuse the second issue to a recipient; everything else is the
//! default configuration (6 digits, default Indonesian template rendered,
//! HMAC-SHA256, uuid v4 verification ids, SQLite in WAL + synchronous=NORMAL).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use waotp::otp::{Limits, OtpConfig, OtpEngine, OtpRequest, VerifyOutcome, generate_otp};

/// Recipients cycled through, so the store holds a realistic number of rows.
const RECIPIENTS: u64 = 1_000;

fn config() -> OtpConfig {
    let mut c = OtpConfig::default();
    c.limits = Limits::none();
    c
}

/// One issue + verify, driven by a current-thread runtime (the engine is
/// async; with these stores nothing inside ever waits, so `block_on` only
/// adds the cost of polling two futures).
fn pair(
    rt: &tokio::runtime::Runtime,
    engine: &OtpEngine,
    request: &OtpRequest,
    recipients: &[String],
    i: &mut usize,
) {
    let to = &recipients[*i % recipients.len()];
    *i += 1;
    rt.block_on(async {
        let issued = engine.issue(to, "bench", request).await.expect("issue");
        let code = issued.code.as_ref().expect("code");
        let outcome = engine.verify(to, code.expose()).await.expect("verify");
        assert_eq!(outcome, VerifyOutcome::Approved);
        black_box(issued);
    });
}

fn benches(c: &mut Criterion) {
    let recipients: Vec<String> = (0..RECIPIENTS).map(|n| format!("62812{n:08}")).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = OtpRequest::new("PT. Contoh");

    let mut g = c.benchmark_group("otp");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));

    g.bench_function("generate_otp_6", |b| {
        b.iter(|| black_box(generate_otp(6).unwrap()))
    });

    let memory = OtpEngine::builder().config(config()).build().unwrap();
    let mut i = 0;
    g.bench_function("issue_verify_memory", |b| {
        b.iter(|| pair(&rt, &memory, &request, &recipients, &mut i))
    });

    let dir = tempfile::tempdir().unwrap();
    let sqlite = OtpEngine::builder()
        .config(config())
        .data_dir(dir.path())
        .build()
        .unwrap();
    let mut i = 0;
    g.bench_function("issue_verify_sqlite", |b| {
        b.iter(|| pair(&rt, &sqlite, &request, &recipients, &mut i))
    });
    g.finish();
}

criterion_group!(otp, benches);
criterion_main!(otp);
