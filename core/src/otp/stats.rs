//! Send and verification statistics, per gateway and per session, with a
//! Prometheus text form.
//!
//! Latency is kept two ways: an exact sum (so the mean is the true mean, not
//! an estimate) and a log-bucket histogram for percentiles. The histogram
//! stores microseconds; values below 16 µs are exact, above that every
//! power-of-two range is split into 16 equal buckets and a percentile is
//! reported as its bucket's midpoint (clamped to the observed min/max), so
//! p50/p99 are within ±3.2 % of the true sample quantile. Values are capped at
//! 2^40 µs (about 12 days). Buckets are allocated on the first sample, at most
//! 592 counters (4.7 KiB) per session.
//!
//! No code, MAC or message text ever reaches these numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use super::conversion::{ConversionEvent, ConversionFigures, ConversionWindows};
use super::state::VerifyOutcome;

use crate::platform::sync;

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 39;
const MAX_US: u64 = (1 << (MAX_EXP + 1)) - 1;
const BUCKETS: usize = (SUB + (MAX_EXP as u64 + 1 - SUB_BITS as u64) * SUB) as usize;

/// Log-bucket latency histogram with an exact sum.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

fn bucket_of(us: u64) -> usize {
    let v = us.min(MAX_US);
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let sub = (v >> (exp - SUB_BITS)) & (SUB - 1);
    (SUB + (exp - SUB_BITS) as u64 * SUB + sub) as usize
}

/// Midpoint of bucket `i`, in µs.
fn bucket_mid(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i - SUB) / SUB + SUB_BITS as u64;
    let sub = (i - SUB) % SUB;
    let width = 1u64 << (exp - SUB_BITS as u64);
    (SUB + sub) * width + width / 2
}

impl LatencyHistogram {
    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_micros().min(u64::MAX as u128) as u64;
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
            self.min_us = us;
        }
        self.counts[bucket_of(us)] += 1;
        self.count += 1;
        self.sum_us += us as u128;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of all samples.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us.min(u64::MAX as u128) as u64)
    }

    /// The exact mean, or `None` without samples.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros((self.sum_us / self.count as u128) as u64))
    }

    /// Largest sample.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.max_us))
    }

    /// The `q` quantile (0.0–1.0) within ±3.2 %, or `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let us = bucket_mid(i).clamp(self.min_us, self.max_us);
                return Some(Duration::from_micros(us));
            }
        }
        Some(Duration::from_micros(self.max_us))
    }
}

/// Verification outcomes counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerifyCounts {
    /// Right code.
    pub approved: u64,
    /// Wrong or malformed code.
    pub invalid: u64,
    /// Code expired.
    pub expired: u64,
    /// Locked after too many attempts.
    pub max_attempts_reached: u64,
    /// Nothing to verify against.
    pub not_found: u64,
}

impl VerifyCounts {
    fn add(&mut self, o: VerifyOutcome) {
        match o {
            VerifyOutcome::Approved => self.approved += 1,
            VerifyOutcome::Invalid { .. } => self.invalid += 1,
            VerifyOutcome::Expired => self.expired += 1,
            VerifyOutcome::MaxAttemptsReached => self.max_attempts_reached += 1,
            VerifyOutcome::NotFound => self.not_found += 1,
        }
    }

    fn pairs(&self) -> [(&'static str, u64); 5] {
        [
            ("approved", self.approved),
            ("invalid", self.invalid),
            ("expired", self.expired),
            ("max_attempts_reached", self.max_attempts_reached),
            ("not_found", self.not_found),
        ]
    }
}

#[derive(Debug, Clone, Default)]
struct Counters {
    sends_successful: u64,
    sends_failed: u64,
    otp_issued: u64,
    rate_limited: u64,
    verify: VerifyCounts,
    latency: LatencyHistogram,
    conversion: ConversionWindows,
}

impl Counters {
    fn snapshot(&self, now_secs: u64) -> SendStats {
        let total = self.sends_successful + self.sends_failed;
        let ms = |d: Option<Duration>| d.map(|d| d.as_micros() as f64 / 1_000.0);
        SendStats {
            sends_total: total,
            sends_successful: self.sends_successful,
            sends_failed: self.sends_failed,
            success_rate: (total > 0).then(|| self.sends_successful as f64 / total as f64),
            mean_latency_ms: ms(self.latency.mean()),
            p50_latency_ms: ms(self.latency.quantile(0.5)),
            p99_latency_ms: ms(self.latency.quantile(0.99)),
            max_latency_ms: ms(self.latency.max()),
            otp_issued: self.otp_issued,
            rate_limited: self.rate_limited,
            verify: self.verify,
            conversion: self.conversion.figures(now_secs),
        }
    }
}

/// Unix seconds now: the conversion windows follow the wall clock.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Figures of one session, or of the whole gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendStats {
    /// Sends attempted (successful + failed).
    pub sends_total: u64,
    /// Sends WhatsApp accepted.
    pub sends_successful: u64,
    /// Sends that failed.
    pub sends_failed: u64,
    /// successful / total (0.0–1.0); `None` before the first send.
    pub success_rate: Option<f64>,
    /// True mean send latency, ms.
    pub mean_latency_ms: Option<f64>,
    /// Median send latency, ms (±3.2 %).
    pub p50_latency_ms: Option<f64>,
    /// 99th percentile send latency, ms (±3.2 %).
    pub p99_latency_ms: Option<f64>,
    /// Slowest send, ms.
    pub max_latency_ms: Option<f64>,
    /// OTPs issued.
    pub otp_issued: u64,
    /// Requests refused by a rate limit or pacing.
    pub rate_limited: u64,
    /// Verification outcomes.
    pub verify: VerifyCounts,
    /// Verifications started, delivered and approved (by method) over the
    /// last hour and day, and the conversion rate.
    pub conversion: ConversionFigures,
}

/// A copy of all figures at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// The whole gateway (every session, plus verifications that matched none).
    pub gateway: SendStats,
    /// Per session id.
    pub sessions: BTreeMap<String, SendStats>,
}

#[derive(Debug, Default)]
struct Inner {
    gateway: Counters,
    sessions: BTreeMap<String, Counters>,
}

/// Live statistics; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct OtpStats {
    inner: Mutex<Inner>,
}

impl OtpStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        sync::lock(&self.inner)
    }

    fn update(&self, session_id: Option<&str>, f: impl Fn(&mut Counters)) {
        let mut inner = self.lock();
        f(&mut inner.gateway);
        if let Some(s) = session_id {
            match inner.sessions.get_mut(s) {
                Some(c) => f(c),
                None => {
                    let mut c = Counters::default();
                    f(&mut c);
                    inner.sessions.insert(s.to_string(), c);
                }
            }
        }
    }

    /// Records one send by `session_id` that took `latency` and succeeded or not.
    /// Called by the session layer for OTP and plain text sends alike.
    pub fn record_send(&self, session_id: &str, latency: Duration, success: bool) {
        self.update(Some(session_id), |c| {
            if success {
                c.sends_successful += 1;
            } else {
                c.sends_failed += 1;
            }
            c.latency.record(latency);
        });
    }

    /// Records an issued OTP (a verification started).
    pub fn record_issued(&self, session_id: &str) {
        let now = now_secs();
        self.update(Some(session_id), |c| {
            c.otp_issued += 1;
            c.conversion.record(ConversionEvent::Started, now);
        });
    }

    /// Records an inbound verification started, an OTP's message delivered,
    /// or a user's token approving an inbound verification, for the
    /// conversion figures.
    pub fn record_conversion(&self, session_id: &str, event: ConversionEvent) {
        let now = now_secs();
        self.update(Some(session_id), |c| c.conversion.record(event, now));
    }

    /// Records a refusal by a limit (session unknown for verification limits).
    pub fn record_rate_limited(&self, session_id: Option<&str>) {
        self.update(session_id, |c| c.rate_limited += 1);
    }

    /// Records a verification outcome, attributed to the session that sent the code.
    pub fn record_verify(&self, session_id: Option<&str>, outcome: VerifyOutcome) {
        let now = now_secs();
        self.update(session_id, |c| {
            c.verify.add(outcome);
            if outcome == VerifyOutcome::Approved {
                c.conversion.record(ConversionEvent::ApprovedByCode, now);
            }
        });
    }

    /// Drops the figures of a deleted session (the gateway totals keep them).
    pub fn forget_session(&self, session_id: &str) {
        self.lock().sessions.remove(session_id);
    }

    /// All figures now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let inner = self.lock();
        let now = now_secs();
        StatsSnapshot {
            gateway: inner.gateway.snapshot(now),
            sessions: inner
                .sessions
                .iter()
                .map(|(k, v)| (k.clone(), v.snapshot(now)))
                .collect(),
        }
    }

    /// The figures in the Prometheus text exposition format (version 0.0.4).
    ///
    /// Gateway totals and per-session series are separate metric families
    /// (`waotp_…` and `waotp_session_…`), so summing a family never counts a
    /// send twice.
    pub fn to_prometheus(&self) -> String {
        let inner = self.lock();
        let mut out = String::with_capacity(2048);
        let sessions: Vec<(String, &Counters)> = inner
            .sessions
            .iter()
            .map(|(k, v)| (format!("session=\"{}\"", escape(k)), v))
            .collect();
        let gateway = [(String::new(), &inner.gateway)];
        for (prefix, rows) in [("waotp", &gateway[..]), ("waotp_session", &sessions[..])] {
            let scope = if prefix == "waotp" {
                "all sessions"
            } else {
                "one session"
            };
            family(
                &mut out,
                prefix,
                "sends_total",
                "counter",
                &format!("Messages handed to WhatsApp ({scope}), by result."),
            );
            for (l, c) in rows {
                sample(
                    &mut out,
                    prefix,
                    "sends_total",
                    &join(l, "result=\"success\""),
                    c.sends_successful as f64,
                );
                sample(
                    &mut out,
                    prefix,
                    "sends_total",
                    &join(l, "result=\"failure\""),
                    c.sends_failed as f64,
                );
            }
            family(
                &mut out,
                prefix,
                "send_success_ratio",
                "gauge",
                &format!("Successful sends / all sends ({scope}); NaN before the first send."),
            );
            for (l, c) in rows {
                let s = c.snapshot(now_secs());
                sample(
                    &mut out,
                    prefix,
                    "send_success_ratio",
                    l,
                    s.success_rate.unwrap_or(f64::NAN),
                );
            }
            family(
                &mut out,
                prefix,
                "send_latency_seconds",
                "summary",
                &format!("Send latency ({scope}); exact sum and count, quantiles within 3.2%."),
            );
            for (l, c) in rows {
                for (q, name) in [(0.5, "0.5"), (0.99, "0.99")] {
                    let v = c
                        .latency
                        .quantile(q)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(f64::NAN);
                    sample(
                        &mut out,
                        prefix,
                        "send_latency_seconds",
                        &join(l, &format!("quantile=\"{name}\"")),
                        v,
                    );
                }
                sample(
                    &mut out,
                    prefix,
                    "send_latency_seconds_sum",
                    l,
                    c.latency.sum().as_secs_f64(),
                );
                sample(
                    &mut out,
                    prefix,
                    "send_latency_seconds_count",
                    l,
                    c.latency.count() as f64,
                );
            }
            family(
                &mut out,
                prefix,
                "otp_issued_total",
                "counter",
                &format!("OTPs issued ({scope})."),
            );
            for (l, c) in rows {
                sample(&mut out, prefix, "otp_issued_total", l, c.otp_issued as f64);
            }
            family(
                &mut out,
                prefix,
                "otp_verifications_total",
                "counter",
                &format!("OTP verification outcomes ({scope})."),
            );
            for (l, c) in rows {
                for (name, n) in c.verify.pairs() {
                    sample(
                        &mut out,
                        prefix,
                        "otp_verifications_total",
                        &join(l, &format!("outcome=\"{name}\"")),
                        n as f64,
                    );
                }
            }
            let now = now_secs();
            let figures: Vec<(&String, ConversionFigures)> = rows
                .iter()
                .map(|(l, c)| (l, c.conversion.figures(now)))
                .collect();
            family(
                &mut out,
                prefix,
                "conversion",
                "gauge",
                &format!(
                    "Verifications started, delivered and approved (by method) over the \
                     last hour or day ({scope}), in 5-minute steps."
                ),
            );
            for (l, f) in &figures {
                for (window, w) in [("1h", f.last_hour), ("1d", f.last_day)] {
                    for (what, n) in [
                        ("started", w.started),
                        ("delivered", w.delivered),
                        ("approved_code", w.approved_by_code),
                        ("approved_inbound", w.approved_inbound),
                    ] {
                        let labels = join(l, &format!("window=\"{window}\",count=\"{what}\""));
                        sample(&mut out, prefix, "conversion", &labels, n as f64);
                    }
                }
            }
            family(
                &mut out,
                prefix,
                "conversion_rate",
                "gauge",
                &format!(
                    "Approved / started over the last hour or day ({scope}); NaN when none started."
                ),
            );
            for (l, f) in &figures {
                for (window, w) in [("1h", f.last_hour), ("1d", f.last_day)] {
                    let labels = join(l, &format!("window=\"{window}\""));
                    sample(
                        &mut out,
                        prefix,
                        "conversion_rate",
                        &labels,
                        w.rate.unwrap_or(f64::NAN),
                    );
                }
            }
            family(
                &mut out,
                prefix,
                "rate_limited_total",
                "counter",
                &format!("Requests refused by a rate limit or pacing ({scope})."),
            );
            for (l, c) in rows {
                sample(
                    &mut out,
                    prefix,
                    "rate_limited_total",
                    l,
                    c.rate_limited as f64,
                );
            }
        }
        out
    }
}

fn family(out: &mut String, prefix: &str, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {prefix}_{name} {help}");
    let _ = writeln!(out, "# TYPE {prefix}_{name} {kind}");
}

fn sample(out: &mut String, prefix: &str, name: &str, labels: &str, v: f64) {
    let value = if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    };
    if labels.is_empty() {
        let _ = writeln!(out, "{prefix}_{name} {value}");
    } else {
        let _ = writeln!(out, "{prefix}_{name}{{{labels}}} {value}");
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a},{b}"),
    }
}

/// Label value escaping of the text format: backslash, quote, newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_layout_is_monotonic_and_precise() {
        let mut last = 0;
        for us in [
            0, 1, 15, 16, 17, 31, 32, 100, 1_000, 123_456, 10_000_000, MAX_US,
        ] {
            let b = bucket_of(us);
            assert!(b >= last && b < BUCKETS, "{us} -> {b}");
            last = b;
            let mid = bucket_mid(b) as f64;
            let err = (mid - us as f64).abs() / (us.max(1) as f64);
            assert!(err <= 1.0 / 32.0 + 1e-9, "{us}: mid {mid} err {err}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn mean_is_exact_and_percentiles_close() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=1_000u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.mean(), Some(Duration::from_micros(500_500)));
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e3;
        assert!((p50 - 500.0).abs() / 500.0 < 0.032, "p50 {p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.032, "p99 {p99}");
        assert_eq!(h.max(), Some(Duration::from_secs(1)));
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn per_session_and_gateway_figures() {
        let s = OtpStats::new();
        s.record_send("a", Duration::from_millis(10), true);
        s.record_send("a", Duration::from_millis(30), false);
        s.record_send("b", Duration::from_millis(20), true);
        s.record_issued("a");
        s.record_verify(Some("a"), VerifyOutcome::Approved);
        s.record_verify(None, VerifyOutcome::NotFound);
        s.record_rate_limited(None);
        let snap = s.snapshot();
        assert_eq!(snap.gateway.sends_total, 3);
        assert_eq!(snap.gateway.success_rate, Some(2.0 / 3.0));
        assert_eq!(snap.gateway.mean_latency_ms, Some(20.0));
        assert_eq!(snap.gateway.verify.not_found, 1);
        assert_eq!(snap.gateway.rate_limited, 1);
        let a = &snap.sessions["a"];
        assert_eq!((a.sends_total, a.sends_failed, a.otp_issued), (2, 1, 1));
        assert_eq!(a.verify.approved, 1);
        assert_eq!(a.success_rate, Some(0.5));
        assert!(
            serde_json::to_string(&snap)
                .unwrap()
                .contains("\"sends_total\":3")
        );
        // Issued and approved by code: the conversion figures count both.
        s.record_conversion("a", ConversionEvent::Started);
        s.record_conversion("a", ConversionEvent::Delivered);
        s.record_conversion("a", ConversionEvent::ApprovedInbound);
        let hour = s.snapshot().sessions["a"].conversion.last_hour;
        assert_eq!(
            (
                hour.started,
                hour.delivered,
                hour.approved_by_code,
                hour.approved_inbound
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(hour.rate, Some(1.0));
        assert_eq!(s.snapshot().gateway.conversion.last_day.started, 2);
        s.forget_session("a");
        assert!(!s.snapshot().sessions.contains_key("a"));
    }

    #[test]
    fn prometheus_text_has_help_type_and_labels() {
        let s = OtpStats::new();
        s.record_send("s\"1", Duration::from_millis(5), true);
        let text = s.to_prometheus();
        assert!(text.contains("# HELP waotp_sends_total "));
        assert!(text.contains("# TYPE waotp_sends_total counter"));
        assert!(text.contains("waotp_sends_total{result=\"success\"} 1\n"));
        assert!(
            text.contains("waotp_session_sends_total{session=\"s\\\"1\",result=\"success\"} 1\n")
        );
        assert!(text.contains("# TYPE waotp_send_latency_seconds summary"));
        assert!(text.contains("waotp_send_latency_seconds{quantile=\"0.99\"} 0.005"));
        assert!(text.contains("waotp_send_latency_seconds_count 1\n"));
        assert!(
            text.contains("waotp_otp_verifications_total{outcome=\"max_attempts_reached\"} 0\n")
        );
        s.record_issued("s\"1");
        let text = s.to_prometheus();
        assert!(text.contains("waotp_conversion{window=\"1h\",count=\"started\"} 1\n"));
        assert!(
            text.contains("waotp_session_conversion_rate{session=\"s\\\"1\",window=\"1d\"} 0\n")
        );
        // A family's samples come together, right after its HELP and TYPE.
        let mut seen = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            if seen.last() != Some(&name) {
                assert!(!seen.contains(&name), "{name} is split in two");
                seen.push(name);
            }
        }
        // Every sample line belongs to a family declared just before.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {base} ")),
                "undeclared {name}"
            );
        }
    }
}
