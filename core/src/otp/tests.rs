//! Engine behaviour tests: the issue's acceptance list, against both stores.
//!
//! The tests drive the engine through [`Engine`], which runs each async call
//! to completion, so that they read as plain sequences and can hammer the
//! engine from real threads. (The memory and SQLite stores never wait on
//! I/O; the Redis store has its own tests.)

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::*;
use crate::error::Error;
use crate::model::DeliveryStatus;

/// Runs a future to completion on this thread's own runtime.
fn run<T>(f: impl Future<Output = T>) -> T {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
    }
    RT.with(|rt| rt.block_on(f))
}

/// [`OtpEngine`] with each call run to completion.
#[derive(Clone, Debug)]
struct Engine(OtpEngine);

impl Engine {
    fn issue(&self, to: &str, session: &str, req: &OtpRequest) -> crate::Result<IssuedOtp> {
        run(self.0.issue(to, session, req))
    }
    fn issue_for_message(
        &self,
        to: &str,
        session: &str,
        req: &OtpRequest,
        message_id: &str,
    ) -> crate::Result<IssuedOtp> {
        run(self.0.issue_for_message(to, session, req, message_id))
    }
    fn verify(&self, to: &str, code: &str) -> crate::Result<VerifyOutcome> {
        run(self.0.verify(to, code))
    }
    fn verify_detailed(&self, to: &str, code: &str) -> crate::Result<Verification> {
        run(self.0.verify_detailed(to, code))
    }
    fn cancel(&self, to: &str) -> crate::Result<OtpStatus> {
        run(self.0.cancel(to))
    }
    fn status(&self, to: &str) -> crate::Result<OtpStatus> {
        run(self.0.status(to))
    }
    fn is_pending(&self, to: &str, vid: &str) -> crate::Result<bool> {
        run(self.0.is_pending(to, vid))
    }
    fn pace(&self, session: &str) -> crate::Result<Duration> {
        run(self.0.pace(session))
    }
    fn attach_message(&self, vid: &str, message_id: &str) -> crate::Result<()> {
        run(self.0.attach_message(vid, message_id))
    }
    fn record_delivery(&self, message_id: &str, status: DeliveryStatus) -> crate::Result<bool> {
        run(self.0.record_delivery(message_id, status))
    }
    fn cleanup_expired(&self) -> crate::Result<usize> {
        run(self.0.cleanup_expired())
    }
    fn stats(&self) -> &Arc<OtpStats> {
        self.0.stats()
    }
    fn store_len(&self) -> usize {
        run(self.0.store().len()).unwrap()
    }
    fn store_get(&self, to: &str) -> Option<OtpRecord> {
        run(self.0.store().get(to)).unwrap()
    }
}

const TO: &str = "6281234567890";
const SESSION: &str = "main";

fn clock() -> ManualClock {
    ManualClock::from_unix_ms(1_750_000_000_000)
}

fn unlimited() -> OtpConfig {
    OtpConfig {
        limits: Limits::none(),
        ..OtpConfig::default()
    }
}

fn memory_engine(config: OtpConfig, clock: &ManualClock) -> Engine {
    Engine(
        OtpEngine::builder()
            .config(config)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
}

fn sqlite_engine(dir: &std::path::Path, config: OtpConfig, clock: &ManualClock) -> Engine {
    Engine(
        OtpEngine::builder()
            .config(config)
            .data_dir(dir)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
}

/// Runs `f` against a memory engine and a SQLite engine.
fn each_store(config: OtpConfig, f: impl Fn(&Engine, &ManualClock)) {
    let c = clock();
    f(&memory_engine(config.clone(), &c), &c);
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    f(&sqlite_engine(dir.path(), config, &c), &c);
}

fn issue(e: &Engine) -> String {
    let issued = e
        .issue(TO, SESSION, &OtpRequest::new("PT. Contoh"))
        .unwrap();
    issued.code.unwrap().expose().to_string()
}

fn wrong(code: &str) -> String {
    // Same length, different last digit.
    let mut w: Vec<u8> = code.bytes().collect();
    let last = w.len() - 1;
    w[last] = if w[last] == b'9' { b'0' } else { w[last] + 1 };
    String::from_utf8(w).unwrap()
}

fn retry_after(e: Error) -> Duration {
    match e {
        Error::RateLimited { retry_after, .. } => retry_after,
        other => panic!("expected RATE_LIMITED, got {other:?}"),
    }
}

#[test]
fn issue_then_verify_approves_once() {
    each_store(unlimited(), |e, _| {
        let issued = e
            .issue(TO, SESSION, &OtpRequest::new("PT. Contoh"))
            .unwrap();
        assert!(!issued.replayed);
        assert_eq!(issued.recipient, TO);
        let code = issued.code.as_ref().unwrap().expose().to_string();
        assert_eq!(code.len(), 6);
        let text = issued.message.as_ref().unwrap().expose();
        assert!(text.contains(&code) && text.contains("PT. Contoh") && text.contains("5 menit"));
        assert_eq!(e.status(TO).unwrap().state, OtpState::Pending);
        let v = e.verify_detailed(TO, &code).unwrap();
        assert_eq!(v.outcome, VerifyOutcome::Approved);
        assert_eq!(
            v.verification_id.as_deref(),
            Some(issued.verification_id.as_str())
        );
        assert_eq!(v.session_id.as_deref(), Some(SESSION));
        assert_eq!(
            e.verify(TO, &code).unwrap(),
            VerifyOutcome::NotFound,
            "single use"
        );
        assert_eq!(e.status(TO).unwrap().state, OtpState::Approved);
        assert_eq!(
            e.verify("6289999999999", &code).unwrap(),
            VerifyOutcome::NotFound
        );
    });
}

#[test]
fn a_new_code_replaces_the_pending_one() {
    each_store(unlimited(), |e, _| {
        let first = issue(e);
        let second = issue(e);
        if first != second {
            assert_eq!(
                e.verify(TO, &first).unwrap(),
                VerifyOutcome::Invalid { attempts_left: 2 },
                "the old code no longer works"
            );
        }
        assert_eq!(e.verify(TO, &second).unwrap(), VerifyOutcome::Approved);
    });
}

#[test]
fn wrong_and_malformed_codes_count_then_lock() {
    each_store(unlimited(), |e, _| {
        let code = issue(e);
        assert_eq!(
            e.verify(TO, "12ab5Z").unwrap(),
            VerifyOutcome::Invalid { attempts_left: 2 }
        );
        assert_eq!(
            e.verify(TO, &"9".repeat(10_000)).unwrap(),
            VerifyOutcome::Invalid { attempts_left: 1 }
        );
        assert_eq!(
            e.verify(TO, &wrong(&code)).unwrap(),
            VerifyOutcome::Invalid { attempts_left: 0 }
        );
        assert_eq!(
            e.verify(TO, &code).unwrap(),
            VerifyOutcome::MaxAttemptsReached
        );
        let s = e.status(TO).unwrap();
        assert_eq!(
            (s.state, s.attempts, s.attempts_left()),
            (OtpState::MaxAttemptsReached, 3, 0)
        );
        // Whitespace around a right code is fine.
        let code = issue(e);
        assert_eq!(
            e.verify(TO, &format!(" {code}\n")).unwrap(),
            VerifyOutcome::Approved
        );
        assert_eq!(e.verify(TO, "").unwrap(), VerifyOutcome::NotFound);
    });
}

/// 100 threads guess wrong at the same moment: at most `max_attempts` of them
/// are checked, and afterwards even the right code is refused.
fn hammer(e: &Engine) {
    let code = issue(e);
    let bad = wrong(&code);
    let barrier = Arc::new(Barrier::new(100));
    let outcomes: Vec<_> = (0..100)
        .map(|_| {
            let (e, bad, barrier) = (e.clone(), bad.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                e.verify(TO, &bad).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let checked = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::Invalid { .. }))
        .count();
    let locked = outcomes
        .iter()
        .filter(|o| **o == VerifyOutcome::MaxAttemptsReached)
        .count();
    assert_eq!(
        checked, 3,
        "exactly max_attempts guesses were checked: {outcomes:?}"
    );
    assert_eq!(locked, 97);
    let mut left: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            VerifyOutcome::Invalid { attempts_left } => Some(*attempts_left),
            _ => None,
        })
        .collect();
    left.sort_unstable();
    assert_eq!(left, [0, 1, 2], "each guess saw its own count");
    assert_eq!(
        e.verify(TO, &code).unwrap(),
        VerifyOutcome::MaxAttemptsReached
    );
    assert_eq!(e.status(TO).unwrap().attempts, 3);
}

#[test]
fn concurrent_wrong_guesses_memory() {
    hammer(&memory_engine(unlimited(), &clock()));
}

#[test]
fn concurrent_wrong_guesses_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hammer(&sqlite_engine(dir.path(), unlimited(), &clock()));
}

#[test]
fn concurrent_wrong_guesses_with_default_limits() {
    // With the verify window on (10 per 10 min) the extra guesses are refused
    // with RATE_LIMITED instead; still no more than 3 are checked.
    let e = memory_engine(OtpConfig::default(), &clock());
    let code = issue(&e);
    let bad = wrong(&code);
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (e, bad) = (e.clone(), bad.clone());
            std::thread::spawn(move || e.verify(TO, &bad))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let checked = results
        .iter()
        .filter(|r| matches!(r, Ok(VerifyOutcome::Invalid { .. })))
        .count();
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(Error::RateLimited { .. })))
        .count();
    assert_eq!(checked, 3);
    assert_eq!(limited, 90);
    assert_eq!(e.status(TO).unwrap().state, OtpState::MaxAttemptsReached);
}

#[test]
fn expiry_under_a_manual_clock() {
    each_store(unlimited(), |e, clock| {
        let code = issue(e);
        clock.advance(Duration::from_secs(299));
        assert_eq!(e.status(TO).unwrap().state, OtpState::Pending);
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            e.status(TO).unwrap().state,
            OtpState::Expired,
            "expired at exactly ttl"
        );
        assert_eq!(e.verify(TO, &code).unwrap(), VerifyOutcome::Expired);
        assert_eq!(
            e.status(TO).unwrap().attempts,
            0,
            "an expired code takes no attempts"
        );

        // Custom ttl and the {MINUTES} it renders.
        let issued = e
            .issue(
                TO,
                SESSION,
                &OtpRequest::new("X")
                    .ttl(Duration::from_secs(120))
                    .locale(Locale::En),
            )
            .unwrap();
        assert!(
            issued
                .message
                .as_ref()
                .unwrap()
                .expose()
                .contains("valid for 2 minutes")
        );
        clock.advance(Duration::from_secs(121));
        assert_eq!(
            e.verify(TO, issued.code.unwrap().expose()).unwrap(),
            VerifyOutcome::Expired
        );
    });
}

#[test]
fn cleanup_removes_records_after_expiry_and_retention() {
    each_store(unlimited(), |e, clock| {
        issue(e);
        e.issue(
            "6281111111111",
            SESSION,
            &OtpRequest::new("X").ttl(Duration::from_secs(3600)),
        )
        .unwrap();
        clock.advance(Duration::from_secs(300 + 599));
        assert_eq!(
            e.cleanup_expired().unwrap(),
            0,
            "retention keeps the final state readable"
        );
        assert_eq!(e.status(TO).unwrap().state, OtpState::Expired);
        clock.advance(Duration::from_secs(1));
        assert_eq!(e.cleanup_expired().unwrap(), 1);
        assert_eq!(e.status(TO).unwrap_err().code(), "OTP_NOT_FOUND");
        assert_eq!(e.status("6281111111111").unwrap().state, OtpState::Pending);
        // issue() also cleans up on its own once per cleanup_interval.
        clock.advance(Duration::from_secs(3600 + 600));
        issue(e);
        assert!(e.status("6281111111111").is_err());
        assert_eq!(e.store_len(), 1);
    });
}

#[test]
fn cancel_and_status_with_delivery() {
    each_store(unlimited(), |e, clock| {
        assert_eq!(e.status(TO).unwrap_err().code(), "OTP_NOT_FOUND");
        assert_eq!(e.cancel(TO).unwrap_err().code(), "OTP_NOT_FOUND");
        let issued = e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap();
        assert!(e.status(TO).unwrap().delivery.is_none());
        e.attach_message(&issued.verification_id, "3EB0C0DE")
            .unwrap();
        assert_eq!(
            e.status(TO).unwrap().delivery,
            Some(DeliveryStatus::Pending)
        );
        assert!(e.record_delivery("3EB0C0DE", DeliveryStatus::Sent).unwrap());
        assert!(
            e.record_delivery("3EB0C0DE", DeliveryStatus::Delivered)
                .unwrap()
        );
        assert!(!e.record_delivery("other", DeliveryStatus::Read).unwrap());
        let s = e.status(TO).unwrap();
        assert_eq!(s.delivery, Some(DeliveryStatus::Delivered));
        assert_eq!(s.message_id.as_deref(), Some("3EB0C0DE"));
        assert_eq!(s.expires_at, clock.now() + Duration::from_secs(300));
        let c = e.cancel(TO).unwrap();
        assert_eq!(c.state, OtpState::Canceled);
        assert_eq!(c.delivery, Some(DeliveryStatus::Delivered));
        assert_eq!(
            e.verify(TO, issued.code.unwrap().expose()).unwrap(),
            VerifyOutcome::NotFound
        );
        assert_eq!(e.status(TO).unwrap().state, OtpState::Canceled);
        assert_eq!(
            e.attach_message("no-such-id", "m").unwrap_err().code(),
            "OTP_NOT_FOUND"
        );
    });
}

#[test]
fn issuing_for_a_message_writes_the_message_id_with_the_code() {
    each_store(unlimited(), |e, _| {
        let req = OtpRequest::new("X");
        let issued = e.issue_for_message(TO, SESSION, &req, "3EB0F00D").unwrap();
        assert_eq!(issued.message_id.as_deref(), Some("3EB0F00D"));
        let s = e.status(TO).unwrap();
        assert_eq!(s.message_id.as_deref(), Some("3EB0F00D"));
        assert_eq!(s.delivery, Some(DeliveryStatus::Pending));
        // Delivery reports find it at once, with no attach step.
        assert!(e.record_delivery("3EB0F00D", DeliveryStatus::Sent).unwrap());
        assert_eq!(e.status(TO).unwrap().delivery, Some(DeliveryStatus::Sent));
        assert_eq!(
            e.issue_for_message(TO, SESSION, &req, "")
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
        // The refused request changed nothing.
        assert_eq!(
            e.status(TO).unwrap().message_id.as_deref(),
            Some("3EB0F00D")
        );
    });
}

#[test]
fn only_the_current_pending_code_is_pending() {
    each_store(unlimited(), |e, _| {
        let req = OtpRequest::new("X");
        assert!(!e.is_pending(TO, "nothing-issued").unwrap());
        let first = e.issue(TO, SESSION, &req).unwrap().verification_id;
        assert!(e.is_pending(TO, &first).unwrap());
        let second = e.issue(TO, SESSION, &req).unwrap().verification_id;
        assert!(!e.is_pending(TO, &first).unwrap(), "replaced");
        assert!(e.is_pending(TO, &second).unwrap());
        e.cancel(TO).unwrap();
        assert!(!e.is_pending(TO, &second).unwrap(), "canceled");
    });
}

#[test]
fn sqlite_codes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let code = {
        let e = sqlite_engine(dir.path(), unlimited(), &c);
        let code = issue(&e);
        assert_eq!(
            e.verify(TO, &wrong(&code)).unwrap(),
            VerifyOutcome::Invalid { attempts_left: 2 }
        );
        code
    };
    let e = sqlite_engine(dir.path(), unlimited(), &c);
    let s = e.status(TO).unwrap();
    assert_eq!((s.state, s.attempts), (OtpState::Pending, 1));
    assert_eq!(e.verify(TO, &code).unwrap(), VerifyOutcome::Approved);
    // A different secret (another data dir's) cannot approve it.
    let other = tempfile::tempdir().unwrap();
    let e2 = Engine(
        OtpEngine::builder()
            .config(unlimited())
            .store(Arc::new(SqliteStore::open_in(dir.path()).unwrap()))
            .secret(OtpSecret::load_or_create(&other.path().join(SECRET_FILE_NAME)).unwrap())
            .clock(Arc::new(c.clone()))
            .build()
            .unwrap(),
    );
    let code = issue(&e);
    assert_eq!(
        e2.verify(TO, &code).unwrap(),
        VerifyOutcome::Invalid { attempts_left: 2 }
    );
}

#[test]
fn sqlite_file_bytes_never_contain_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let e = sqlite_engine(dir.path(), unlimited(), &c);
    let mut codes = Vec::new();
    // Ten-digit codes cannot turn up by chance in the other columns; the
    // recipients are chosen so no code could be a part of them either.
    for i in 0..50u64 {
        let to = format!("62800000{:05}", i);
        let issued = e
            .issue(&to, SESSION, &OtpRequest::new("PT. Contoh").length(10))
            .unwrap();
        e.attach_message(&issued.verification_id, &format!("3EB0{i:04X}"))
            .unwrap();
        codes.push(issued.code.unwrap().expose().to_string());
    }
    e.verify("6280000000007", "0000000000").unwrap();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("otp.db")
        {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(bytes.len() > 4096, "the database was written");
    for code in &codes {
        assert!(
            !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
            "a code was found in the database files"
        );
    }
}

#[test]
fn send_limits_and_cooldown_say_when_to_retry() {
    let c = clock();
    let e = memory_engine(OtpConfig::default(), &c);
    issue(&e);
    c.advance(Duration::from_secs(4));
    let err = e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap_err();
    assert_eq!(err.code(), "RATE_LIMITED");
    assert!(err.to_string().contains("retry in 6s"), "{err}");
    assert_eq!(retry_after(err), Duration::from_secs(6));
    // Another recipient is not affected.
    e.issue("6281111111111", SESSION, &OtpRequest::new("X"))
        .unwrap();
    // 5 per minute: sends at 0, 14, 24, 34, 44 s; the 6th at 54 s waits until 60 s.
    for _ in 0..4 {
        c.advance(Duration::from_secs(10));
        e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap();
    }
    c.advance(Duration::from_secs(10));
    let err = e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap_err();
    assert!(err.to_string().contains("5 per 60s"), "{err}");
    assert_eq!(retry_after(err), Duration::from_secs(6));
    c.advance(Duration::from_secs(6));
    e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap();
    assert_eq!(e.stats().snapshot().gateway.rate_limited, 2);
}

#[test]
fn verify_attempts_per_recipient_are_limited_across_codes() {
    let c = clock();
    let config = OtpConfig {
        limits: Limits {
            resend_cooldown: Duration::ZERO,
            sends_per_recipient: None,
            ..Limits::default()
        },
        ..OtpConfig::default()
    };
    let e = memory_engine(config, &c);
    for _ in 0..3 {
        let code = issue(&e);
        for _ in 0..3 {
            e.verify(TO, &wrong(&code)).unwrap();
        }
    }
    let code = issue(&e);
    e.verify(TO, &wrong(&code)).unwrap();
    c.advance(Duration::from_secs(60));
    let err = e.verify(TO, &code).unwrap_err();
    assert!(err.to_string().contains("verification attempts"), "{err}");
    assert_eq!(retry_after(err), Duration::from_secs(540));
}

#[test]
fn pacing_through_the_engine() {
    let c = clock();
    let e = memory_engine(OtpConfig::default(), &c);
    assert_eq!(e.pace("s1").unwrap(), Duration::ZERO);
    let wait = e.pace("s1").unwrap();
    assert!(
        (Duration::from_secs(1)..=Duration::from_millis(1_500)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(e.pace("s2").unwrap(), Duration::ZERO);
    c.advance(Duration::from_secs(10));
    assert_eq!(e.pace("s1").unwrap(), Duration::ZERO);
    assert_eq!(
        memory_engine(unlimited(), &c).pace("s1").unwrap(),
        Duration::ZERO
    );
}

#[test]
fn bad_requests_are_clear_invalid_argument_errors() {
    let e = memory_engine(unlimited(), &clock());
    let cases = [
        (OtpRequest::new("X").template("Your code"), "{OTP}"),
        (OtpRequest::new("X").template("{CODE}"), "{CODE}"),
        (OtpRequest::new("X").length(3), "4 to 10"),
        (OtpRequest::new("X").length(11), "4 to 10"),
        (OtpRequest::new(""), "company_name"),
        (OtpRequest::new("   "), "company_name"),
        (OtpRequest::new("X").ttl(Duration::from_secs(1)), "ttl"),
        (OtpRequest::new("X").idempotency_key(""), "idempotency_key"),
        (
            OtpRequest::new("X").idempotency_key("k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1)),
            "1 to 256 bytes",
        ),
    ];
    for (req, needle) in cases {
        let err = e.issue(TO, SESSION, &req).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{req:?}");
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
    // A template without {COMPANY} needs no company.
    let ok = e
        .issue(TO, SESSION, &OtpRequest::new("").template("Kode: {OTP}"))
        .unwrap();
    assert_eq!(
        ok.message.unwrap().expose(),
        format!("Kode: {}", ok.code.unwrap().expose())
    );
    assert_eq!(
        e.issue("+6281234", SESSION, &OtpRequest::new("X"))
            .unwrap_err()
            .code(),
        "INVALID_PHONE"
    );
    assert_eq!(e.verify("", "1234").unwrap_err().code(), "INVALID_PHONE");
    assert_eq!(
        e.issue(TO, "bad id!", &OtpRequest::new("X"))
            .unwrap_err()
            .code(),
        "INVALID_SESSION_ID"
    );
    assert_eq!(e.store_len(), 1, "refused requests store nothing");
}

#[test]
fn bad_config_is_refused() {
    for config in [
        OtpConfig {
            length: 2,
            ..OtpConfig::default()
        },
        OtpConfig {
            ttl: Duration::ZERO,
            ..OtpConfig::default()
        },
        OtpConfig {
            max_attempts: 0,
            ..OtpConfig::default()
        },
        OtpConfig {
            limits: Limits {
                sends_per_recipient: Some(RateWindow::new(0, Duration::from_secs(1))),
                ..Limits::default()
            },
            ..OtpConfig::default()
        },
    ] {
        let err = OtpEngine::builder().config(config).build().unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
    }
}

#[test]
fn idempotency_key_replays_the_pending_issuance() {
    each_store(OtpConfig::default(), |e, clock| {
        let req = OtpRequest::new("X").idempotency_key("req-1");
        let first = e.issue(TO, SESSION, &req).unwrap();
        e.attach_message(&first.verification_id, "m1").unwrap();
        let again = e.issue(TO, SESSION, &req).unwrap();
        assert!(again.replayed && again.code.is_none() && again.message.is_none());
        assert_eq!(again.verification_id, first.verification_id);
        assert_eq!(again.message_id.as_deref(), Some("m1"));
        assert_eq!(again.expires_at, first.expires_at);
        // A different key is a new send, subject to the cooldown.
        let err = e
            .issue(TO, SESSION, &OtpRequest::new("X").idempotency_key("req-2"))
            .unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        // After a failed delivery the same key sends a fresh code.
        e.record_delivery(
            "m1",
            DeliveryStatus::Failed {
                reason: "479".into(),
            },
        )
        .unwrap();
        clock.advance(Duration::from_secs(10));
        let fresh = e.issue(TO, SESSION, &req).unwrap();
        assert!(!fresh.replayed && fresh.code.is_some());
        assert_ne!(fresh.verification_id, first.verification_id);
        assert_eq!(
            e.verify(TO, fresh.code.unwrap().expose()).unwrap(),
            VerifyOutcome::Approved
        );
    });
}

#[test]
fn the_code_never_shows_in_debug_errors_or_metrics() {
    let e = memory_engine(OtpConfig::default(), &clock());
    let issued = e
        .issue(TO, SESSION, &OtpRequest::new("PT. Contoh").length(10))
        .unwrap();
    let code = issued.code.as_ref().unwrap().expose().to_string();
    let mut seen = format!("{issued:?} {issued:#?} {:?} {e:?}", e.status(TO).unwrap());
    seen += &format!("{:?}", e.store_get(TO));
    seen += &e.verify(TO, &wrong(&code)).unwrap().to_string();
    seen += &format!("{:?}", e.verify_detailed(TO, &wrong(&code)).unwrap());
    if let Some(err) = e.verify(TO, &wrong(&code)).unwrap().into_error(TO) {
        seen += &format!("{err} {err:?}");
    }
    seen += &format!(
        "{:?}",
        e.issue(TO, SESSION, &OtpRequest::new("X")).unwrap_err()
    );
    seen += &e.stats().to_prometheus();
    seen += &serde_json::to_string(&e.stats().snapshot()).unwrap();
    assert!(!seen.contains(&code), "the code leaked");
    assert!(!seen.contains(&wrong(&code)), "an entered code leaked");
    assert!(seen.contains("redacted"));
}

#[test]
fn verify_outcomes_are_counted_per_session() {
    let e = memory_engine(unlimited(), &clock());
    let code = issue(&e);
    e.verify(TO, &wrong(&code)).unwrap();
    e.verify(TO, &code).unwrap();
    e.verify("6280000000000", "1234").unwrap();
    e.stats()
        .record_send(SESSION, Duration::from_millis(12), true);
    let snap = e.stats().snapshot();
    let s = &snap.sessions[SESSION];
    assert_eq!(
        (
            s.otp_issued,
            s.verify.invalid,
            s.verify.approved,
            s.verify.not_found
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(snap.gateway.verify.not_found, 1);
    assert_eq!(s.success_rate, Some(1.0));
    assert!(e.stats().to_prometheus().contains(
        "waotp_session_otp_verifications_total{session=\"main\",outcome=\"approved\"} 1"
    ));
}

#[test]
fn engine_handle_is_send_sync_and_open_uses_the_data_dir() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<OtpEngine>();
    let dir = tempfile::tempdir().unwrap();
    let e = Engine(OtpEngine::open(dir.path()).unwrap());
    issue(&e);
    assert!(dir.path().join("otp.db").exists());
    assert!(dir.path().join(SECRET_FILE_NAME).exists());
    assert_eq!(generate_otp(8).unwrap().len(), 8);
}
