//! Redis store: records and limits shared by every process that uses the
//! same Redis and key prefix.
//!
//! Each trait method is one Lua script or one command (`remove_expired`: one
//! script per batch), so it is one atomic step however many processes share
//! the data (see `redis/scripts.rs`).
//! Times are the caller's (`now_ms` arguments), never Redis's clock. Keys,
//! all under the caller's prefix `P`:
//!
//! | key | type | holds | lives |
//! |-----|------|-------|-------|
//! | `P otp:{recipient}` | hash | the record (fields in `redis/hash.rs`; the MAC as 32 raw bytes) | validity + retention |
//! | `P otp-vid:{verification_id}` | string | the recipient | as its record |
//! | `P otp-msg:{message_id}` | string | the recipient | as its record |
//! | `P otp-exp` | sorted set | recipients scored by `expires_at_ms` | until `remove_expired` |
//! | `P limit-send:{recipient}` | list | granted send times, oldest first | send memory + margin |
//! | `P limit-verify:{recipient}` | list | granted verification times | window + margin |
//! | `P pace:{session_id}` | string | the session's next free send slot | until then + margin |
//!
//! (written without the space: prefix `waotp:` gives `waotp:otp:62811…`.)
//!
//! Expiry. `remove_expired` deletes what the expiry index names, in batches
//! of [`REMOVE_BATCH`] (each batch one script, so Redis never blocks long),
//! and counts exactly the records it deleted. Records also carry a Redis TTL
//! of their validity plus [`RedisStore::with_retention`] (default
//! [`DEFAULT_RETENTION`]), counted from when they are written, so nothing
//! stays forever when no process cleans up; keep it longer than the engine's
//! `OtpConfig::retention` so the engine's cleanup normally comes first. A
//! record Redis dropped by itself leaves its name in the expiry index (and in
//! [`len`](OtpStore::len)) until the next `remove_expired`, which does not
//! count it.
//!
//! Limit state needs no cleanup: each limit key's TTL is how long it can
//! still limit anything plus [`LIMIT_KEY_MARGIN`]. TTLs run on Redis's clock
//! and the rules on the caller's; keeping a key longer never changes an
//! answer (the rules forget old times themselves), dropping it early would,
//! hence the margin. So `remove_expired` leaves limit state to Redis.
//!
//! Scripts build the keys they reach through an index from the prefix, so
//! this store is for one Redis server (or a primary with replicas), not
//! Redis Cluster. It needs Redis 6.2 or newer (`SET … GET`).

mod hash;
mod scripts;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, FromRedisValue, RedisError, ScriptInvocation};

use crate::error::{Error, Result};
use crate::model::DeliveryStatus;
use crate::otp::limiter::{Admission, LimitRule, Limits};
use crate::otp::mac::CodeMac;
use crate::otp::state::{OtpState, VerifyOutcome, effective_state};

use super::{CheckResult, OtpRecord, OtpStore};
use scripts::SCRIPTS;

/// How long one attempt to open a connection may take. Loopback or a LAN
/// answers in milliseconds; a second covers a busy server without letting a
/// dead address hold callers.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a command may wait for its answer. Every script here is a few
/// hash or list operations (microseconds); two seconds only runs out when
/// Redis is stuck or unreachable.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Reconnection attempts after a connection is lost, before a call fails.
/// With [`RECONNECT_MIN_DELAY`] doubling between them, a call made while
/// Redis is down fails with `STORE_ERROR` within about
/// `3 × CONNECTION_TIMEOUT + 0.6 s` (under 4 s; well under one when the port
/// refuses, as a stopped local server does), and the next call tries again.
/// A server that keeps the connection open but stops answering fails each
/// call after [`RESPONSE_TIMEOUT`].
pub const RECONNECT_RETRIES: usize = 2;

/// First delay between reconnection attempts (doubled each time, with jitter).
pub const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);

/// Default extra lifetime of a record after its expiry; see
/// [`RedisStore::with_retention`].
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(3600);

/// Extra lifetime of limit keys beyond the time they can still limit (see the
/// module docs).
pub const LIMIT_KEY_MARGIN: Duration = Duration::from_secs(60);

/// Expiry index entries handled per `remove_expired` script call.
pub const REMOVE_BATCH: usize = 1000;

/// OTP records and limit state in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    retention: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]` or
    /// `unix:///path/to/redis.sock`; TLS is not built in) with
    /// [`RedisStore::connection_config`], and
    /// keeps every key under `key_prefix` (e.g. `waotp:`; stores with
    /// different prefixes on one server do not see each other).
    ///
    /// `INVALID_ARGUMENT` for a URL that does not parse, `STORE_ERROR` when
    /// the server cannot be reached.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisStore> {
        // The URL may hold a password, so it is never repeated in an error.
        let client = redis::Client::open(url)
            .map_err(|e| Error::InvalidArgument(format!("Redis URL: {e}")))?;
        let addr = client.get_connection_info().addr().to_string();
        let conn = ConnectionManager::new_with_config(client, Self::connection_config())
            .await
            .map_err(|e| Error::Store(format!("cannot connect to Redis at {addr}: {e}")))?;
        Ok(Self::with_connection(conn, key_prefix))
    }

    /// A store on an existing connection, so that one connection can serve
    /// the store and anything else of the application's. Build it with
    /// [`RedisStore::connection_config`] to get the same timeouts.
    pub fn with_connection(conn: ConnectionManager, key_prefix: &str) -> RedisStore {
        RedisStore {
            conn,
            prefix: key_prefix.to_string(),
            retention: DEFAULT_RETENTION,
        }
    }

    /// The connection settings [`RedisStore::connect`] uses:
    /// [`CONNECTION_TIMEOUT`], [`RESPONSE_TIMEOUT`], [`RECONNECT_RETRIES`]
    /// and [`RECONNECT_MIN_DELAY`], so a call fails with `STORE_ERROR` within
    /// seconds while Redis is away instead of waiting for it.
    pub fn connection_config() -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
    }

    /// How long Redis keeps a record after its expiry when no
    /// `remove_expired` deleted it first (default [`DEFAULT_RETENTION`]).
    /// Make it at least the engine's `OtpConfig::retention`, so a record's
    /// final state stays readable as long as the engine promises.
    pub fn with_retention(mut self, retention: Duration) -> RedisStore {
        self.retention = retention;
        self
    }

    /// The prefix of every key of this store.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn record_key(&self, recipient: &str) -> String {
        format!("{}otp:{recipient}", self.prefix)
    }

    fn verification_key(&self, verification_id: &str) -> String {
        format!("{}otp-vid:{verification_id}", self.prefix)
    }

    fn message_key(&self, message_id: &str) -> String {
        format!("{}otp-msg:{message_id}", self.prefix)
    }

    fn expiry_key(&self) -> String {
        format!("{}otp-exp", self.prefix)
    }

    /// Redis TTL of a record: its validity plus the retention, at least 1 ms
    /// (Redis refuses a zero TTL).
    fn record_ttl_ms(&self, r: &OtpRecord) -> u64 {
        r.expires_at_ms
            .saturating_sub(r.created_at_ms)
            .saturating_add(ms(self.retention))
            .max(1)
    }

    /// Runs a script invocation; errors name Redis and `what` failed.
    async fn run<T: FromRedisValue>(
        &self,
        what: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(failed(what))
    }

    /// Runs a limit script and reads its {granted, ms, rule} answer.
    async fn admission(
        &self,
        what: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<Admission> {
        let (granted, ms, rule): (u8, u64, u8) = self.run(what, invocation).await?;
        if granted == 1 {
            return Ok(Admission::Granted { wait_ms: ms });
        }
        let rule = match rule {
            1 => LimitRule::ResendCooldown,
            2 => LimitRule::SendsPerRecipient,
            3 => LimitRule::VerifiesPerRecipient,
            4 => LimitRule::SessionPacing,
            other => {
                return Err(Error::Store(format!(
                    "Redis {what} answered an unknown limit rule {other}"
                )));
            }
        };
        Ok(Admission::Refused {
            rule,
            retry_after_ms: ms,
        })
    }
}

/// Maps a Redis error to `STORE_ERROR`, saying what failed.
fn failed(what: &'static str) -> impl FnOnce(RedisError) -> Error {
    move |e| Error::Store(format!("Redis {what} failed: {e}"))
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// The flags `record_delivery`'s script looks up: for each current status
/// (pending, sent, delivered, read, failed), whether `next` replaces it under
/// [`DeliveryStatus::advance`]. `advance` answers either the current status
/// or `next`, so one flag per current status is the whole rule.
fn advance_flags(next: &DeliveryStatus) -> String {
    let failed = DeliveryStatus::Failed {
        reason: String::new(),
    };
    [
        DeliveryStatus::Pending,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        failed,
    ]
    .into_iter()
    .map(|current| {
        if current.advance(next.clone()) == current {
            '0'
        } else {
            '1'
        }
    })
    .collect()
}

#[async_trait]
impl OtpStore for RedisStore {
    async fn put(&self, record: &OtpRecord) -> Result<()> {
        let mut inv = SCRIPTS.put.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&record.recipient)
            .arg(self.record_ttl_ms(record))
            .arg(hash::fields(record));
        self.run::<i64>("put of an OTP record", &inv).await?;
        Ok(())
    }

    async fn get(&self, recipient: &str) -> Result<Option<OtpRecord>> {
        let mut conn = self.conn.clone();
        let h: HashMap<Vec<u8>, Vec<u8>> = conn
            .hgetall(self.record_key(recipient))
            .await
            .map_err(failed("read of an OTP record"))?;
        Ok((!h.is_empty()).then(|| hash::decode(recipient, h)))
    }

    async fn check(
        &self,
        recipient: &str,
        candidate: &CodeMac,
        now_ms: u64,
    ) -> Result<CheckResult> {
        let mut inv = SCRIPTS.check.key(self.record_key(recipient));
        inv.arg(&self.prefix).arg(&candidate[..]).arg(now_ms);
        let (outcome, attempts_left, vid, sid): (String, u32, Vec<u8>, Vec<u8>) =
            self.run("check of a code", &inv).await?;
        let outcome = match outcome.as_str() {
            "none" => return Ok(CheckResult::not_found()),
            "approved" => VerifyOutcome::Approved,
            "invalid" => VerifyOutcome::Invalid { attempts_left },
            "expired" => VerifyOutcome::Expired,
            "max_attempts_reached" => VerifyOutcome::MaxAttemptsReached,
            "not_found" => VerifyOutcome::NotFound,
            other => {
                return Err(Error::Store(format!(
                    "Redis check of a code answered an unknown outcome `{other}`"
                )));
            }
        };
        Ok(CheckResult {
            outcome,
            verification_id: Some(String::from_utf8_lossy(&vid).into_owned()),
            session_id: Some(String::from_utf8_lossy(&sid).into_owned()),
        })
    }

    async fn cancel(&self, recipient: &str, now_ms: u64) -> Result<Option<OtpRecord>> {
        let mut inv = SCRIPTS.cancel.key(self.record_key(recipient));
        inv.arg(&self.prefix).arg(now_ms);
        let h: Option<HashMap<Vec<u8>, Vec<u8>>> = self.run("cancel of a code", &inv).await?;
        Ok(h.map(|h| hash::decode(recipient, h)))
    }

    async fn withdraw(
        &self,
        recipient: &str,
        verification_id: &str,
        previous: Option<&OtpRecord>,
        now_ms: u64,
    ) -> Result<()> {
        let mut inv = SCRIPTS.withdraw.key(self.record_key(recipient));
        inv.arg(&self.prefix).arg(verification_id).arg(now_ms);
        // Whether the previous code is worth restoring is decided here, with
        // the shared rule; the script only restores or cancels.
        if let Some(prev) = previous.filter(|p| effective_state(p, now_ms) == OtpState::Pending) {
            inv.arg(&prev.recipient)
                .arg(self.record_ttl_ms(prev))
                .arg(hash::fields(prev));
        }
        self.run::<i64>("withdrawal of a code", &inv).await?;
        Ok(())
    }

    async fn set_message_id(&self, verification_id: &str, message_id: &str) -> Result<bool> {
        let mut inv = SCRIPTS
            .set_message_id
            .key(self.verification_key(verification_id));
        inv.arg(&self.prefix).arg(verification_id).arg(message_id);
        let found: i64 = self.run("update of a message id", &inv).await?;
        Ok(found == 1)
    }

    async fn set_sender(
        &self,
        verification_id: &str,
        session_id: &str,
        message_id: &str,
    ) -> Result<bool> {
        let mut inv = SCRIPTS
            .set_message_id
            .key(self.verification_key(verification_id));
        inv.arg(&self.prefix)
            .arg(verification_id)
            .arg(message_id)
            .arg(session_id);
        let found: i64 = self.run("update of a code's sender", &inv).await?;
        Ok(found == 1)
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<bool> {
        let reason = match status {
            DeliveryStatus::Failed { reason } => reason.as_str(),
            _ => "",
        };
        let mut inv = SCRIPTS.record_delivery.key(self.message_key(message_id));
        inv.arg(&self.prefix)
            .arg(message_id)
            .arg(advance_flags(status))
            .arg(status.as_str())
            .arg(reason);
        let found: i64 = self.run("update of a delivery status", &inv).await?;
        Ok(found == 1)
    }

    async fn remove_expired(
        &self,
        expired_before_ms: u64,
        _limits: &Limits,
        _now_ms: u64,
    ) -> Result<usize> {
        // Limit state expires by itself (see the module docs).
        let mut removed = 0;
        loop {
            let mut inv = SCRIPTS.remove_expired.key(self.expiry_key());
            inv.arg(&self.prefix)
                .arg(expired_before_ms)
                .arg(REMOVE_BATCH);
            let (gone, seen): (usize, usize) = self.run("removal of expired records", &inv).await?;
            removed += gone;
            if seen < REMOVE_BATCH {
                return Ok(removed);
            }
        }
    }

    async fn len(&self) -> Result<usize> {
        let mut conn = self.conn.clone();
        conn.zcard(self.expiry_key())
            .await
            .map_err(failed("count of records"))
    }

    async fn take_send_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission> {
        if limits.resend_cooldown.is_zero() && limits.sends_per_recipient.is_none() {
            return Ok(Admission::GO);
        }
        let (max, span) = match limits.sends_per_recipient {
            Some(w) => (w.max.to_string(), w.span_ms()),
            None => (String::new(), 0),
        };
        let keep = limits.send_memory_ms().saturating_add(ms(LIMIT_KEY_MARGIN));
        let mut inv = SCRIPTS
            .send_slot
            .key(format!("{}limit-send:{recipient}", self.prefix));
        inv.arg(now_ms)
            .arg(ms(limits.resend_cooldown))
            .arg(max)
            .arg(span)
            .arg(keep);
        self.admission("send limit", &inv).await
    }

    async fn take_verify_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission> {
        let Some(w) = limits.verifies_per_recipient else {
            return Ok(Admission::GO);
        };
        let keep = w.span_ms().saturating_add(ms(LIMIT_KEY_MARGIN));
        let mut inv = SCRIPTS
            .verify_slot
            .key(format!("{}limit-verify:{recipient}", self.prefix));
        inv.arg(now_ms).arg(w.max).arg(w.span_ms()).arg(keep);
        self.admission("verification limit", &inv).await
    }

    async fn reserve_pace(
        &self,
        session_id: &str,
        limits: &Limits,
        now_ms: u64,
        jitter_ms: u64,
    ) -> Result<Admission> {
        let Some(p) = limits.session_pacing else {
            return Ok(Admission::GO);
        };
        let gap = ms(p.min_gap).saturating_add(jitter_ms.min(ms(p.jitter)));
        let mut inv = SCRIPTS
            .pace
            .key(format!("{}pace:{session_id}", self.prefix));
        inv.arg(now_ms)
            .arg(gap)
            .arg(ms(p.max_wait))
            .arg(ms(LIMIT_KEY_MARGIN));
        self.admission("session pacing", &inv).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use waotp_sim::redis_server::RedisServer;

    use super::*;
    use crate::otp::limiter::{Limiter, Pacing, RateWindow};
    use crate::otp::state::apply_check;
    use crate::otp::store::conformance::{self, record};

    /// Documented bound on a call while Redis is away (see
    /// [`RECONNECT_RETRIES`]), plus slack for a loaded machine.
    const FAILS_WITHIN: Duration = Duration::from_secs(5);

    async fn start(prefix: &str) -> (RedisServer, RedisStore) {
        let server = RedisServer::start().expect("redis-server starts");
        let store = RedisStore::connect(&server.url(), prefix).await.unwrap();
        (server, store)
    }

    /// Every key on the server (tests hold a handful).
    async fn all_keys(store: &RedisStore) -> Vec<String> {
        let mut conn = store.conn.clone();
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn redis_store_conformance() {
        let (_server, store) = start("t:").await;
        conformance::run_all(&store).await;
        // Everything lives under the prefix, and everything but the expiry
        // index expires by itself.
        let keys = all_keys(&store).await;
        assert!(keys.len() > 5, "records and limit state are left: {keys:?}");
        let mut conn = store.conn.clone();
        for key in keys {
            assert!(key.starts_with("t:"), "`{key}` is outside the prefix");
            if key != "t:otp-exp" {
                let ttl: i64 = conn.pttl(&key).await.unwrap();
                assert!(ttl > 0, "`{key}` has no TTL ({ttl})");
            }
        }
    }

    #[tokio::test]
    async fn redis_prefixes_keep_stores_apart() {
        let (server, a) = start("a:").await;
        let b = RedisStore::connect(&server.url(), "b:").await.unwrap();
        a.put(&record("628111", "va", 10_000)).await.unwrap();
        b.put(&record("628111", "vb", 10_000)).await.unwrap();
        assert_eq!(
            a.check("628111", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::Approved
        );
        let in_b = b.get("628111").await.unwrap().unwrap();
        assert_eq!(
            (in_b.verification_id.as_str(), in_b.state),
            ("vb", OtpState::Pending)
        );
        assert!(
            !b.set_message_id("va", "m").await.unwrap(),
            "a's id is not b's"
        );
        assert_eq!(
            a.remove_expired(u64::MAX / 4, &Limits::none(), 0)
                .await
                .unwrap(),
            1
        );
        assert_eq!(b.len().await.unwrap(), 1, "b's record survives a's cleanup");
        let limits = Limits::default();
        assert_eq!(
            a.take_send_slot("628111", &limits, 0).await.unwrap(),
            Admission::GO
        );
        assert_eq!(
            b.take_send_slot("628111", &limits, 0).await.unwrap(),
            Admission::GO,
            "limits are per prefix too"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_concurrent_wrong_guesses_count_exactly_max_attempts() {
        let (server, a) = start("g:").await;
        // A second connection, as a second process would have.
        let b = RedisStore::connect(&server.url(), "g:").await.unwrap();
        a.put(&record("628222", "v", 10_000)).await.unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        let guesses: Vec<_> = (0..100)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { store.check("628222", &[0; 32], 200).await })
            })
            .collect();
        let mut left = Vec::new();
        let mut locked = 0;
        for guess in guesses {
            match guess.await.unwrap().unwrap().outcome {
                VerifyOutcome::Invalid { attempts_left } => left.push(attempts_left),
                VerifyOutcome::MaxAttemptsReached => locked += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        left.sort();
        assert_eq!(left, [0, 1, 2], "exactly max_attempts guesses were counted");
        assert_eq!(locked, 97);
        let r = b.get("628222").await.unwrap().unwrap();
        assert_eq!((r.attempts, r.state), (3, OtpState::MaxAttemptsReached));
    }

    #[tokio::test]
    async fn redis_going_away_fails_promptly_and_the_same_handle_recovers() {
        let (mut server, store) = start("x:").await;
        store.put(&record("628333", "v", 10_000)).await.unwrap();
        server.stop();
        // The first call finds the connection dead, the next ones wait for
        // the reconnection attempts: each must fail, and soon.
        for call in 0..3 {
            let started = Instant::now();
            let answer = tokio::time::timeout(
                Duration::from_secs(60),
                store.check("628333", &[0; 32], 200),
            )
            .await
            .unwrap_or_else(|_| panic!("call {call} hung while Redis was down"));
            let err = answer.expect_err("Redis is down");
            assert_eq!(err.code(), "STORE_ERROR", "call {call}: {err}");
            assert!(
                err.to_string().contains("Redis check of a code failed"),
                "{err}"
            );
            assert!(
                started.elapsed() < FAILS_WITHIN,
                "call {call} took {:?} to fail",
                started.elapsed()
            );
        }
        server.start_again().expect("redis-server starts again");
        // The handle reconnects by itself; the first calls may still meet a
        // reconnection that gave up before the server was back.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match store.len().await {
                Ok(n) => {
                    assert_eq!(n, 0, "a fresh server holds nothing");
                    break;
                }
                Err(e) if Instant::now() < deadline => {
                    assert_eq!(e.code(), "STORE_ERROR", "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the store did not recover within 20 s: {e}"),
            }
        }
        // The fresh server does not know the scripts yet; they load again.
        store.put(&record("628333", "v2", 10_000)).await.unwrap();
        assert_eq!(
            store.check("628333", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::Approved
        );
    }

    #[tokio::test]
    async fn redis_connect_errors_are_clear() {
        // TLS is not built in: refused up front rather than at connect time.
        for url in [
            "not a url",
            "http://127.0.0.1:6379",
            "rediss://127.0.0.1:6379",
        ] {
            let err = RedisStore::connect(url, "p:").await.unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{url}: {err}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let err = RedisStore::connect(&format!("redis://:secret@127.0.0.1:{port}"), "p:")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "STORE_ERROR");
        let message = err.to_string();
        assert!(
            message.contains(&format!("cannot connect to Redis at 127.0.0.1:{port}")),
            "{message}"
        );
        assert!(
            !message.contains("secret"),
            "the password leaked: {message}"
        );
        assert!(
            started.elapsed() < FAILS_WITHIN,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn redis_check_matches_apply_check_in_every_state() {
        let (_server, store) = start("c:").await;
        let states = [
            OtpState::Pending,
            OtpState::Approved,
            OtpState::Canceled,
            OtpState::Expired,
            OtpState::MaxAttemptsReached,
        ];
        let mut cases = 0;
        for state in states {
            for attempts in 0..4 {
                for max_attempts in 0..4 {
                    for now in [999, 1_000, 1_001] {
                        for candidate in [[7; 32], [8; 32]] {
                            let mut r = record("628444", "v", 1_000);
                            r.state = state;
                            r.attempts = attempts;
                            r.max_attempts = max_attempts;
                            store.put(&r).await.unwrap();
                            let (outcome, _) = apply_check(&mut r, &candidate, now);
                            let got = store.check("628444", &candidate, now).await.unwrap();
                            let case = format!("{state:?} {attempts}/{max_attempts} at {now}");
                            assert_eq!(got, CheckResult::of(&r, outcome), "{case}");
                            assert_eq!(store.get("628444").await.unwrap().unwrap(), r, "{case}");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 480);
    }

    #[tokio::test]
    async fn redis_limits_answer_like_the_rust_rules() {
        let server = RedisServer::start().expect("redis-server starts");
        let pacing = Pacing {
            min_gap: Duration::from_millis(1_000),
            jitter: Duration::from_millis(500),
            // Short enough that the sequence below fills a session's queue.
            max_wait: Duration::from_millis(1_500),
        };
        let with_window = Limits {
            sends_per_recipient: Some(RateWindow::new(4, Duration::from_secs(20))),
            resend_cooldown: Duration::from_secs(3),
            verifies_per_recipient: Some(RateWindow::new(3, Duration::from_secs(10))),
            session_pacing: Some(pacing),
        };
        let cooldown_only = Limits {
            sends_per_recipient: None,
            resend_cooldown: Duration::from_secs(2),
            ..with_window.clone()
        };
        for (prefix, limits) in [("l1:", with_window), ("l2:", cooldown_only)] {
            // Fresh state on both sides.
            let store = RedisStore::connect(&server.url(), prefix).await.unwrap();
            let reference = Limiter::new();
            // A fixed xorshift sequence: the same run every time.
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            let (mut now, mut refused) = (1_000_000u64, Vec::new());
            for step in 0..1_500 {
                // Steps of 250 ms land exactly on window edges, where `<`
                // and `<=` differ.
                now += next(4) * 250;
                let who = format!("62855{}", next(3));
                let (want, got) = match next(3) {
                    0 => (
                        reference.acquire_send(&limits, &who, now),
                        store.take_send_slot(&who, &limits, now).await.unwrap(),
                    ),
                    1 => (
                        reference.acquire_verify(&limits, &who, now),
                        store.take_verify_slot(&who, &limits, now).await.unwrap(),
                    ),
                    _ => {
                        let jitter = next(4) * 250;
                        (
                            reference.pace(&limits, &who, now, jitter),
                            store
                                .reserve_pace(&who, &limits, now, jitter)
                                .await
                                .unwrap(),
                        )
                    }
                };
                assert_eq!(got, want, "step {step} at {now} for {who}");
                if let Admission::Refused { rule, .. } = want {
                    refused.push(rule);
                }
            }
            for rule in [
                LimitRule::ResendCooldown,
                LimitRule::VerifiesPerRecipient,
                LimitRule::SessionPacing,
            ] {
                let n = refused.iter().filter(|&&r| r == rule).count();
                assert!(n >= 10, "the sequence exercises {rule:?} ({n} refusals)");
            }
        }
    }

    #[tokio::test]
    async fn redis_delivery_follows_advance() {
        let (_server, store) = start("d:").await;
        let statuses = || {
            [
                DeliveryStatus::Pending,
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read,
                DeliveryStatus::Failed {
                    reason: "479".into(),
                },
            ]
        };
        for current in statuses().map(Some).into_iter().chain([None]) {
            for next in statuses() {
                let mut r = record("628666", "v", 10_000);
                r.message_id = Some("m".into());
                r.delivery = current.clone();
                store.put(&r).await.unwrap();
                let next = match next {
                    DeliveryStatus::Failed { .. } => DeliveryStatus::Failed {
                        reason: "463".into(),
                    },
                    other => other,
                };
                assert!(store.record_delivery("m", &next).await.unwrap());
                let want = current
                    .clone()
                    .unwrap_or(DeliveryStatus::Pending)
                    .advance(next.clone());
                assert_eq!(
                    store.get("628666").await.unwrap().unwrap().delivery,
                    Some(want),
                    "{current:?} then {next:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn redis_put_replaces_fields_and_index_keys() {
        let (_server, store) = start("r:").await;
        let mut full = record("628100", "v-old", 10_000);
        full.message_id = Some("m-old".into());
        full.delivery = Some(DeliveryStatus::Failed {
            reason: "479".into(),
        });
        store.put(&full).await.unwrap();
        let mut bare = record("628100", "v-new", 20_000);
        bare.idempotency_key = None;
        store.put(&bare).await.unwrap();
        assert_eq!(
            store.get("628100").await.unwrap().unwrap(),
            bare,
            "no field is inherited"
        );
        assert!(!store.set_message_id("v-old", "m").await.unwrap());
        assert!(
            !store
                .record_delivery("m-old", &DeliveryStatus::Read)
                .await
                .unwrap()
        );
        // A verification id names one record, across recipients too.
        let mut other = record("628101", "v-new", 30_000);
        other.message_id = Some("m-other".into());
        store.put(&other).await.unwrap();
        assert!(
            store.get("628100").await.unwrap().is_none(),
            "the id's previous record went"
        );
        assert_eq!(store.len().await.unwrap(), 1);
        assert!(store.set_message_id("v-new", "m2").await.unwrap());
        assert_eq!(
            store
                .get("628101")
                .await
                .unwrap()
                .unwrap()
                .message_id
                .as_deref(),
            Some("m2")
        );
        let mut keys = all_keys(&store).await;
        keys.sort();
        assert_eq!(
            keys,
            [
                "r:otp-exp",
                "r:otp-msg:m2",
                "r:otp-vid:v-new",
                "r:otp:628101"
            ]
        );
    }

    #[tokio::test]
    async fn redis_mac_is_stored_binary_safe() {
        let (_server, store) = start("m:").await;
        let mut r = record("628777", "v", 10_000);
        r.mac = *b"\0\r\n\xff$3\r\n*1\0\0\x80\x7f\xfe\0abcdefghijklmn\0\n";
        store.put(&r).await.unwrap();
        assert_eq!(store.get("628777").await.unwrap().unwrap(), r);
        let mut almost = r.mac;
        almost[31] ^= 1;
        assert_eq!(
            store.check("628777", &almost, 200).await.unwrap().outcome,
            VerifyOutcome::Invalid { attempts_left: 2 }
        );
        assert_eq!(
            store.check("628777", &r.mac, 200).await.unwrap().outcome,
            VerifyOutcome::Approved
        );
    }

    #[tokio::test]
    async fn redis_damaged_records_read_as_locked_and_never_panic() {
        let (_server, store) = start("z:").await;
        let mut conn = store.conn.clone();
        let good = record("628888", "v", 10_000);
        let damage: [(&str, &[u8]); 3] = [("st", b"verified"), ("mac", b"short"), ("att", b"x")];
        for (field, value) in damage {
            store.put(&good).await.unwrap();
            let _: () = conn
                .hset(store.record_key("628888"), field, value)
                .await
                .unwrap();
            let r = store.get("628888").await.unwrap().unwrap();
            assert_eq!(r.state, OtpState::MaxAttemptsReached, "damaged `{field}`");
            let c = store.check("628888", &[7; 32], 200).await.unwrap();
            assert_eq!(
                c,
                CheckResult::of(&r, VerifyOutcome::MaxAttemptsReached),
                "{field}"
            );
            let canceled = store.cancel("628888", 200).await.unwrap().unwrap();
            assert_eq!(canceled, r, "cancel leaves a damaged record alone");
            store.withdraw("628888", "v", None, 200).await.unwrap();
            assert_eq!(store.get("628888").await.unwrap().unwrap(), r);
        }
        // A hash with none of the fields.
        let _: () = conn.del(store.record_key("628889")).await.unwrap();
        let _: () = conn
            .hset(store.record_key("628889"), "zzz", "1")
            .await
            .unwrap();
        assert_eq!(
            store.check("628889", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::MaxAttemptsReached
        );
        assert_eq!(
            store.get("628889").await.unwrap().unwrap().verification_id,
            ""
        );
        // A key of the wrong type is an error, not a panic.
        let _: () = conn.set(store.record_key("628890"), "text").await.unwrap();
        for err in [
            store.get("628890").await.unwrap_err(),
            store.check("628890", &[7; 32], 200).await.unwrap_err(),
        ] {
            assert_eq!(err.code(), "STORE_ERROR", "{err}");
            assert!(err.to_string().contains("Redis"), "{err}");
        }
    }

    #[tokio::test]
    async fn redis_records_expire_by_themselves_and_cleanup_counts_only_its_own() {
        let (_server, store) = start("e:").await;
        let store = store.with_retention(Duration::from_millis(100));
        // No validity left: Redis keeps it for the retention only.
        store.put(&record("628999", "v", 100)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.get("628999").await.unwrap().is_some() {
            assert!(Instant::now() < deadline, "Redis did not expire the record");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !store.set_message_id("v", "m").await.unwrap(),
            "its index went too"
        );
        assert_eq!(
            store.len().await.unwrap(),
            1,
            "the expiry index still names it"
        );
        assert_eq!(
            store
                .remove_expired(1_000, &Limits::none(), 0)
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.len().await.unwrap(), 0);
        assert!(all_keys(&store).await.is_empty());
    }

    #[tokio::test]
    async fn redis_remove_expired_counts_across_batches() {
        let (_server, store) = start("b:").await;
        let total = REMOVE_BATCH * 2 + 7;
        for i in 0..total {
            let mut r = record(&format!("6281{i:06}"), &format!("v{i}"), 500);
            r.message_id = Some(format!("m{i}"));
            store.put(&r).await.unwrap();
        }
        store.put(&record("6289", "keep", 10_000)).await.unwrap();
        assert_eq!(
            store.remove_expired(500, &Limits::none(), 0).await.unwrap(),
            total
        );
        assert_eq!(store.len().await.unwrap(), 1);
        // Only the kept record and its verification index are left.
        let mut keys = all_keys(&store).await;
        keys.sort();
        assert_eq!(keys, ["b:otp-exp", "b:otp-vid:keep", "b:otp:6289"]);
    }
}
