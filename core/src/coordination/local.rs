//! One host: leases are file locks, the outbox and the published statuses
//! are tables in `data_dir/shared.db`, and owners are woken through a Unix
//! socket (see [`super::wake`]).
//!
//! The database runs in WAL mode: a process killed mid-way loses nothing it
//! committed, and readers never wait for the writer. Each call is one short
//! transaction on a local file, run off the runtime's workers (it may wait
//! for another process's write lock; see `platform::sqlite::off_the_runtime`).
//!
//! A request's payload (a message's text) is only ever in the `payload`
//! column, sealed (see [`super::sealed`]), and set to NULL when the request
//! finishes; with `secure_delete` on, SQLite overwrites what it frees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::model::DeliveryStatus;
use crate::model::MessageRecord;
use crate::model::SessionId;
use crate::platform::layout;
use crate::platform::sync::lock;

use super::file_lease::{self, FileLock};
use super::wake::{self, WakeServer, Wakeups};
use super::{Command, Coordination, Lease, OutboxKey, Outcome, Request, SharedStatus, Submitted};

/// File name of the shared database inside a data dir.
/// How often a follower tries a free lease: well inside the 5 s failover bound.
const LEASE_POLL: Duration = Duration::from_millis(250);
/// How often a sender that cannot reach an owner reads its request's row.
const OUTCOME_POLL: Duration = Duration::from_millis(25);
/// How long one poke waits for the owner's answer before the sender reads
/// the request's row again.
const POKE_WAIT: Duration = Duration::from_millis(200);
/// How long an owner whose wake socket is up waits for a poke before it
/// reads the outbox anyway: a fallback, as senders poke (see `claim`).
const WOKEN_POLL: Duration = Duration::from_secs(5);
/// How long finished requests stay (idempotency keys and message status
/// answer for that long).
const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// How often finished requests past retention are removed.
const CLEANUP_EVERY_MS: u64 = 60 * 1000;

/// 2: the `payload` column (sealed); requests' JSON no longer holds the text.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lease (
    session_id TEXT PRIMARY KEY NOT NULL,
    token      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    session_id      TEXT NOT NULL,
    idempotency_key TEXT,
    request         TEXT NOT NULL,   -- JSON without the payload
    payload         TEXT,            -- sealed payload; NULL once done
    state           TEXT NOT NULL,   -- queued | claimed | done
    claimed_by      INTEGER,         -- lease token of the owner that claimed it
    outcome         TEXT,
    message_id      TEXT,
    recipient       TEXT,
    delivery        TEXT,
    delivery_reason TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_by_key
    ON outbox(session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(session_id, state, created_at_ms);
CREATE INDEX IF NOT EXISTS outbox_by_message ON outbox(message_id) WHERE message_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS session_status (
    session_id    TEXT PRIMARY KEY NOT NULL,
    status        TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
-- Added without a version bump: older builds ignore both tables.
CREATE TABLE IF NOT EXISTS known_contact (
    session_id TEXT NOT NULL,
    phone      TEXT NOT NULL,
    since_ms   INTEGER NOT NULL,
    PRIMARY KEY (session_id, phone)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS new_chat_budget (
    session_id TEXT NOT NULL,
    day        INTEGER NOT NULL,   -- UTC days since the epoch
    phone      TEXT NOT NULL,
    PRIMARY KEY (session_id, day, phone)
) WITHOUT ROWID;
";

use crate::model::time::unix_ms_now as now_ms;

fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The shared state of the processes on one data dir.
pub(crate) struct LocalCoordination {
    db: Arc<Mutex<Connection>>,
    data_dir: PathBuf,
    /// The sessions this process owns, with their wake-ups.
    owned: Arc<Mutex<HashMap<SessionId, Arc<Wakeups>>>>,
    last_cleanup_ms: AtomicU64,
    key: OutboxKey,
}

/// What a local lease holds. Fields drop in order: the socket goes before
/// the lock, so the next owner's socket is never removed by this one.
struct LocalHolder {
    _server: Option<WakeServer>,
    _lock: FileLock,
    _lost: watch::Sender<bool>,
    owned: Arc<Mutex<HashMap<SessionId, Arc<Wakeups>>>>,
    session: SessionId,
}

impl Drop for LocalHolder {
    fn drop(&mut self) {
        lock(&self.owned).remove(&self.session);
    }
}

impl LocalCoordination {
    /// Opens (or creates) `data_dir/shared.db`, mode 0600; payloads are
    /// sealed with `key`.
    pub(crate) fn open(data_dir: &Path, key: OutboxKey) -> Result<Self> {
        let path = layout::shared_db(data_dir);
        crate::platform::files::create_private_file(&path)?;
        let mut conn = Connection::open(&path)?;
        crate::platform::sqlite::prepare_shared_db(&conn, &path, SCHEMA, SCHEMA_VERSION)?;
        upgrade_from_v1(&mut conn)?;
        Ok(LocalCoordination {
            db: Arc::new(Mutex::new(conn)),
            data_dir: data_dir.to_path_buf(),
            owned: Arc::default(),
            last_cleanup_ms: AtomicU64::new(0),
            key,
        })
    }

    /// Runs `work` on the database, never waiting for a lock on the
    /// runtime's workers (it may run twice: see `off_the_runtime`).
    async fn with_db<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T> + Send + 'static,
    {
        crate::platform::sqlite::off_the_runtime(&self.db, work).await
    }

    fn socket(&self, session: &SessionId) -> Option<PathBuf> {
        layout::wake_socket(&self.data_dir, session)
    }

    fn hub(&self, session: &SessionId) -> Option<Arc<Wakeups>> {
        lock(&self.owned).get(session).cloned()
    }

    /// The row of a request: its state and outcome.
    async fn read_outcome(&self, request_id: &str) -> Result<Option<(String, Option<String>)>> {
        let id = request_id.to_owned();
        self.with_db(move |db| {
            Ok(db
                .prepare_cached("SELECT state, outcome FROM outbox WHERE id = ?1")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
        .await
    }

    /// Claims what is queued for `session` under `token`.
    async fn claim_now(&self, session: &SessionId, token: u64) -> Result<Vec<Request>> {
        let (session, key) = (session.clone(), self.key.clone());
        self.with_db(move |db| claim_queued(db, &session, token, &key))
            .await
    }

    async fn maybe_cleanup(&self, now: u64) {
        let last = self.last_cleanup_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < CLEANUP_EVERY_MS
            || self
                .last_cleanup_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let result = self
            .with_db(move |db| {
                Ok(db
                    .prepare_cached(
                        "DELETE FROM outbox WHERE state = 'done' AND updated_at_ms <= ?1",
                    )?
                    .execute([sql_ms(now.saturating_sub(RETENTION_MS))])?)
            })
            .await;
        if let Err(e) = result {
            log::warn!("removing old outbox rows failed: {e}");
        }
    }
}

#[async_trait]
impl Coordination for LocalCoordination {
    async fn try_lease(&self, session: &SessionId) -> Result<Option<Lease>> {
        let path = layout::session_lock(&self.data_dir, session);
        let Some(file_lock) = file_lease::try_lock(&path)? else {
            return Ok(None);
        };
        let session_id = session.clone();
        let token = self
            .with_db(move |db| {
                let session = &session_id;
                let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let token: i64 = tx.query_row(
                    "INSERT INTO lease (session_id, token) VALUES (?1, 1) \
                 ON CONFLICT(session_id) DO UPDATE SET token = token + 1 RETURNING token",
                    [session.as_str()],
                    |r| r.get(0),
                )?;
                // What earlier owners claimed and never finished comes back: sends
                // are carried out again under their message id, other commands
                // are answered (running them twice could surprise the caller).
                let claimed: Vec<(String, String)> = tx
                .prepare_cached(
                    "SELECT id, request FROM outbox WHERE session_id = ?1 AND state = 'claimed'",
                )?
                .query_map([session.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
                let now = sql_ms(now_ms());
                for (id, request) in claimed {
                    let resumable = Request::from_json(&request)
                        .map(|r| r.command.resumable())
                        .unwrap_or(false);
                    if resumable {
                        tx.prepare_cached(
                        "UPDATE outbox SET state = 'queued', claimed_by = NULL, updated_at_ms = ?2 \
                         WHERE id = ?1",
                    )?
                    .execute(params![id, now])?;
                    } else {
                        tx.prepare_cached(
                            "UPDATE outbox SET state = 'done', outcome = ?2, payload = NULL, \
                         updated_at_ms = ?3 WHERE id = ?1",
                        )?
                        .execute(params![
                            id,
                            Outcome::abandoned().to_json()?,
                            now
                        ])?;
                    }
                }
                tx.commit()?;
                Ok(u64::try_from(token).unwrap_or(0))
            })
            .await?;
        let hub = Wakeups::new();
        let server =
            self.socket(session)
                .and_then(|path| match WakeServer::bind(&path, hub.clone()) {
                    Ok(server) => Some(server),
                    Err(e) => {
                        log::warn!("session {session}: no wake socket ({e}); senders will poll");
                        None
                    }
                });
        lock(&self.owned).insert(session.clone(), hub);
        let (lost_tx, lost) = watch::channel(false);
        Ok(Some(Lease {
            token,
            lost,
            _holder: Box::new(LocalHolder {
                _server: server,
                _lock: file_lock,
                _lost: lost_tx,
                owned: self.owned.clone(),
                session: session.clone(),
            }),
        }))
    }

    fn lease_poll(&self) -> Duration {
        LEASE_POLL
    }

    async fn submit(&self, request: &Request, claim_for: Option<&Lease>) -> Result<Submitted> {
        let (request, key) = (request.clone(), self.key.clone());
        let claimed_by = claim_for.map(|lease| sql_ms(lease.token));
        self.with_db(move |db| submit_in(db, &request, claimed_by, &key))
            .await
    }

    async fn wait_outcome(
        &self,
        session: &SessionId,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Option<Outcome>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let socket = self.socket(session);
        loop {
            match self.read_outcome(request_id).await? {
                None => {
                    return Err(Error::Store(format!(
                        "request {request_id} left the outbox before it was answered"
                    )));
                }
                Some((state, Some(outcome))) if state == "done" => {
                    return Ok(Some(Outcome::from_json(&outcome)?));
                }
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // The owner may finish the request before this poke's connection
            // is even accepted (its drain loop also polls), and then nobody
            // answers it: a poke waits briefly, and the row is read again.
            let answered = match &socket {
                Some(path) => wake::poke(path, request_id, POKE_WAIT.min(left)).await,
                None => false,
            };
            if !answered {
                tokio::time::sleep(OUTCOME_POLL.min(left)).await;
            }
        }
    }

    async fn withdraw(&self, request_id: &str) -> Result<bool> {
        let id = request_id.to_owned();
        self.with_db(move |db| {
            let n = db
                .prepare_cached("DELETE FROM outbox WHERE id = ?1 AND state = 'queued'")?
                .execute([&id])?;
            Ok(n > 0)
        })
        .await
    }

    /// Claims what is queued, else waits for a poke and claims again. While
    /// this process's wake socket for the session is up, a non-zero `wait`
    /// is stretched to `WOKEN_POLL`; without the socket it sleeps `wait`.
    async fn claim(
        &self,
        session: &SessionId,
        lease: &Lease,
        wait: Duration,
    ) -> Result<Vec<Request>> {
        let now = now_ms();
        self.maybe_cleanup(now).await;
        let claimed = self.claim_now(session, lease.token).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        if let Some(hub) = self.hub(session) {
            // Senders on this host poke the owner's socket, and poke again
            // while they wait for the outcome: reading the table every
            // `wait` would only find what a poke announces, and costs an
            // idle session a write transaction each time.
            let wait = if wait.is_zero() {
                wait
            } else {
                wait.max(WOKEN_POLL)
            };
            let _ = tokio::time::timeout(wait, hub.arrived.notified()).await;
        } else {
            tokio::time::sleep(wait).await;
        }
        self.claim_now(session, lease.token).await
    }

    async fn finish(&self, request: &Request, lease: &Lease, outcome: &Outcome) -> Result<()> {
        let sent = matches!(
            (&request.command, outcome),
            (Command::SendText { .. }, Outcome::Done { .. })
        );
        // Fenced: an owner that gave the session up cannot answer over its
        // successor, which took the request back and carries it out again.
        let (id, outcome_json, token) = (request.id.clone(), outcome.to_json()?, lease.token);
        self.with_db(move |db| {
            db.prepare_cached(
                // json_remove: a request queued before payloads were
                // sealed carries its text in the JSON (schema 1).
                "UPDATE outbox SET state = 'done', outcome = ?2, payload = NULL, updated_at_ms = ?3, \
                 request = json_remove(request, '$.command.text', '$.command.assertion'), \
                 delivery = CASE WHEN ?5 THEN COALESCE(delivery, 'pending') ELSE delivery END \
                 WHERE id = ?1 AND state = 'claimed' AND claimed_by = ?4",
            )?
            .execute(params![
                id,
                outcome_json,
                sql_ms(now_ms()),
                sql_ms(token),
                sent,
            ])?;
            Ok(())
        })
        .await?;
        if let Some(hub) = self.hub(&request.session) {
            hub.finished(&request.id);
        }
        Ok(())
    }

    async fn publish(&self, status: &SharedStatus) -> Result<()> {
        let (id, json) = (status.id().to_owned(), status.to_json()?);
        self.with_db(move |db| {
            db.prepare_cached(
                "INSERT OR REPLACE INTO session_status (session_id, status, updated_at_ms) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, json, sql_ms(now_ms())])?;
            Ok(())
        })
        .await
    }

    async fn status(&self, session: &SessionId) -> Result<Option<SharedStatus>> {
        let session = session.clone();
        let text: Option<String> = self
            .with_db(move |db| {
                Ok(db
                    .prepare_cached("SELECT status FROM session_status WHERE session_id = ?1")?
                    .query_row([session.as_str()], |r| r.get(0))
                    .optional()?)
            })
            .await?;
        text.map(|t| SharedStatus::from_json(&t)).transpose()
    }

    async fn sessions(&self) -> Result<Vec<SessionId>> {
        let ids: Vec<String> = self
            .with_db(|db| {
                Ok(db
                    .prepare_cached("SELECT session_id FROM session_status ORDER BY session_id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await?;
        Ok(ids
            .iter()
            .filter_map(|id| SessionId::parse(id).ok())
            .collect())
    }

    async fn forget(&self, session: &SessionId) -> Result<()> {
        let session = session.clone();
        self.with_db(move |db| {
            let tx = db.transaction()?;
            tx.execute(
                "DELETE FROM session_status WHERE session_id = ?1",
                [session.as_str()],
            )?;
            tx.execute(
                "DELETE FROM outbox WHERE session_id = ?1",
                [session.as_str()],
            )?;
            tx.execute(
                "DELETE FROM known_contact WHERE session_id = ?1",
                [session.as_str()],
            )?;
            tx.execute(
                "DELETE FROM new_chat_budget WHERE session_id = ?1",
                [session.as_str()],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<()> {
        let reason = match status {
            DeliveryStatus::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        let (message_id, state) = (message_id.to_owned(), status.as_str());
        self.with_db(move |db| {
            db.prepare_cached(
                "UPDATE outbox SET delivery = ?2, delivery_reason = ?3, updated_at_ms = ?4 \
                 WHERE message_id = ?1",
            )?
            .execute(params![message_id, state, reason, sql_ms(now_ms())])?;
            Ok(())
        })
        .await
    }

    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        type Row = (String, Option<String>, Option<String>, Option<String>, i64);
        let id = message_id.to_owned();
        let row: Option<Row> = self
            .with_db(move |db| {
                Ok(db
                    .prepare_cached(
                        "SELECT session_id, recipient, delivery, delivery_reason, updated_at_ms \
                         FROM outbox WHERE message_id = ?1 ORDER BY created_at_ms DESC LIMIT 1",
                    )?
                    .query_row([&id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .optional()?)
            })
            .await?;
        Ok(
            row.map(|(session, to, delivery, reason, updated)| MessageRecord {
                id: message_id.to_owned(),
                session,
                to: to.unwrap_or_default(),
                status: DeliveryStatus::parse(delivery.as_deref().unwrap_or("pending"), reason),
                updated_at: UNIX_EPOCH + Duration::from_millis(u64::try_from(updated).unwrap_or(0)),
            }),
        )
    }

    async fn add_contact(&self, session: &SessionId, phone: &str) -> Result<()> {
        let (session, phone) = (session.to_string(), phone.to_owned());
        self.with_db(move |db| {
            db.prepare_cached(
                "INSERT OR IGNORE INTO known_contact (session_id, phone, since_ms) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![session, phone, sql_ms(now_ms())])?;
            Ok(())
        })
        .await
    }

    async fn is_contact(&self, session: &SessionId, phone: &str) -> Result<bool> {
        let (session, phone) = (session.to_string(), phone.to_owned());
        self.with_db(move |db| {
            Ok(db
                .prepare_cached("SELECT 1 FROM known_contact WHERE session_id = ?1 AND phone = ?2")?
                .query_row(params![session, phone], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .await
    }

    async fn take_new_chat(
        &self,
        session: &SessionId,
        phone: &str,
        day: u64,
        per_day: u32,
    ) -> Result<bool> {
        let (session, phone) = (session.to_string(), phone.to_owned());
        let day = sql_ms(day);
        self.with_db(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken: bool = tx
                .prepare_cached(
                    "SELECT 1 FROM new_chat_budget WHERE session_id = ?1 AND day = ?2 AND phone = ?3",
                )?
                .query_row(params![session, day, phone], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Ok(true);
            }
            let used: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM new_chat_budget WHERE session_id = ?1 AND day = ?2",
                )?
                .query_row(params![session, day], |r| r.get(0))?;
            if used >= i64::from(per_day) {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO new_chat_budget (session_id, day, phone) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![session, day, phone])?;
            // Earlier days no longer limit anything.
            tx.prepare_cached("DELETE FROM new_chat_budget WHERE session_id = ?1 AND day < ?2")?
                .execute(params![session, day])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

/// Queues `request` (see [`Coordination::submit`]), as claimed under
/// `claimed_by` when the caller owns the session.
fn submit_in(
    db: &mut Connection,
    request: &Request,
    claimed_by: Option<i64>,
    outbox_key: &OutboxKey,
) -> Result<Submitted> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = sql_ms(now_ms());
    if let Some(key) = &request.idempotency_key {
        let existing: Option<(String, String, String, Option<String>)> = tx
            .prepare_cached(
                "SELECT id, request, state, outcome FROM outbox \
                 WHERE session_id = ?1 AND idempotency_key = ?2",
            )?
            .query_row(params![request.session.as_str(), key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        if let Some((id, text, state, outcome)) = existing {
            let earlier = Request::from_json(&text)?;
            let failed = match &outcome {
                Some(o) => Outcome::from_json(o)?.is_failed(),
                None => false,
            };
            let answer = if state != "done" {
                Submitted::Pending(earlier)
            } else if failed {
                // Sent again under the same message id: the recipient
                // still gets one message. Its payload was erased when it
                // failed; this call's takes its place.
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'queued', claimed_by = NULL, outcome = NULL, \
                     delivery = NULL, delivery_reason = NULL, payload = ?3, updated_at_ms = ?2 \
                     WHERE id = ?1",
                )?
                .execute(params![id, now, request.sealed_payload(outbox_key)?])?;
                Submitted::Pending(earlier)
            } else {
                Submitted::AlreadyDone(earlier)
            };
            tx.commit()?;
            return Ok(answer);
        }
    }
    let state = if claimed_by.is_some() {
        "claimed"
    } else {
        "queued"
    };
    tx.prepare_cached(
        "INSERT INTO outbox (id, session_id, idempotency_key, request, payload, state, \
         claimed_by, message_id, recipient, created_at_ms, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?10, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?
    .execute(params![
        request.id,
        request.session.as_str(),
        request.idempotency_key,
        request.to_json()?,
        state,
        claimed_by,
        request.message_id(),
        request.recipient(),
        now,
        request.sealed_payload(outbox_key)?,
    ])?;
    tx.commit()?;
    Ok(Submitted::Queued)
}

/// Claims up to a batch of the session's queued requests, oldest first.
fn claim_queued(
    db: &mut Connection,
    session: &SessionId,
    token: u64,
    key: &OutboxKey,
) -> Result<Vec<Request>> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows: Vec<(String, String, Option<String>)> = tx
        .prepare_cached(
            // 32 requests per claim. A literal: SQLite re-prepares a
            // statement whose LIMIT is a bound parameter on every run.
            "SELECT id, request, payload FROM outbox WHERE session_id = ?1 AND state = 'queued' \
             ORDER BY created_at_ms LIMIT 32",
        )?
        .query_map(params![session.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut claimed = Vec::with_capacity(rows.len());
    let now = sql_ms(now_ms());
    for (id, text, payload) in rows {
        match Request::from_stored(&text, payload.as_deref(), key) {
            Ok(request) => {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'claimed', claimed_by = ?2, updated_at_ms = ?3 \
                     WHERE id = ?1",
                )?
                .execute(params![id, sql_ms(token), now])?;
                claimed.push(request);
            }
            Err(e) => {
                // A row no waotp could have written (or sealed under
                // another OTP secret): answered instead of retried forever.
                let outcome = Outcome::of::<()>(&Err(e));
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'done', outcome = ?2, payload = NULL, \
                     updated_at_ms = ?3 WHERE id = ?1",
                )?
                .execute(params![id, outcome.to_json()?, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(claimed)
}

/// A `shared.db` of schema 1 kept each request's text in its JSON: the
/// `payload` column is added, and the text of finished requests is erased.
/// (Queued ones keep theirs until they finish; they still read.) In one
/// write transaction, so two processes opening the file at once do it once.
fn upgrade_from_v1(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_payload: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'payload'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_payload {
        tx.execute_batch(
            "ALTER TABLE outbox ADD COLUMN payload TEXT;
             UPDATE outbox SET request = json_remove(request, '$.command.text', '$.command.assertion')
             WHERE state = 'done';",
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::conformance;

    #[tokio::test]
    async fn local_coordination_conformance() {
        let dir = tempfile::tempdir().unwrap();
        crate::platform::files::create_private_dir(&crate::platform::layout::sessions_dir(
            dir.path(),
        ))
        .unwrap();
        // Two handles on one data dir: as two processes, each with its own
        // file locks and database connection.
        let key = conformance::test_key();
        let a = Arc::new(LocalCoordination::open(dir.path(), key.clone()).unwrap());
        let b = Arc::new(LocalCoordination::open(dir.path(), key).unwrap());
        conformance::run_all(&a, &b).await;
    }

    /// A data dir as the gateway lays it out (the leases live in `sessions/`).
    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::platform::files::create_private_dir(&layout::sessions_dir(dir.path())).unwrap();
        dir
    }

    fn row(dir: &Path, id: &str) -> (String, Option<String>) {
        Connection::open(layout::shared_db(dir))
            .unwrap()
            .query_row(
                "SELECT request, payload FROM outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[tokio::test]
    async fn payloads_are_sealed_in_the_row_and_erased_when_done() {
        let dir = data_dir();
        let c = LocalCoordination::open(dir.path(), conformance::test_key()).unwrap();
        let s = SessionId::parse("sealed").unwrap();
        let lease = c.try_lease(&s).await.unwrap().unwrap();
        let request = conformance::send(&s, None, "3EB20");
        c.submit(&request, None).await.unwrap();
        let (json, payload) = row(dir.path(), &request.id);
        assert!(!json.contains("\"hi\""), "{json}");
        let payload = payload.expect("a queued request has its payload");
        assert!(
            payload.starts_with("v1.") && !payload.contains("hi"),
            "{payload}"
        );
        let claimed = c.claim(&s, &lease, Duration::ZERO).await.unwrap();
        assert_eq!(claimed, vec![request.clone()], "opened for the owner");
        c.finish(&claimed[0], &lease, &Outcome::of(&Ok(())))
            .await
            .unwrap();
        assert_eq!(row(dir.path(), &request.id).1, None, "erased when done");
    }

    #[tokio::test]
    async fn a_payload_sealed_under_another_secret_is_answered_not_sent() {
        let dir = data_dir();
        let other_key = OutboxKey::derive(&[9; 32]);
        let sender = LocalCoordination::open(dir.path(), other_key).unwrap();
        let owner = LocalCoordination::open(dir.path(), conformance::test_key()).unwrap();
        let s = SessionId::parse("mismatch").unwrap();
        let lease = owner.try_lease(&s).await.unwrap().unwrap();
        let request = conformance::send(&s, None, "3EB21");
        sender.submit(&request, None).await.unwrap();
        assert!(
            owner
                .claim(&s, &lease, Duration::ZERO)
                .await
                .unwrap()
                .is_empty(),
            "nothing to carry out"
        );
        let e = sender
            .wait_outcome(&s, &request.id, Duration::ZERO)
            .await
            .unwrap()
            .expect("answered at once")
            .into_result::<()>()
            .unwrap_err();
        assert_eq!(e.code(), "STORE_ERROR");
        assert!(e.to_string().contains("another OTP secret"), "{e}");
        assert_eq!(row(dir.path(), &request.id).1, None);
    }

    #[test]
    fn a_v1_database_gets_the_payload_column_and_loses_finished_texts() {
        let dir = data_dir();
        {
            let conn = Connection::open(layout::shared_db(dir.path())).unwrap();
            let v1 = SCHEMA.replace(
                "    payload         TEXT,            -- sealed payload; NULL once done\n",
                "",
            );
            assert_ne!(v1, SCHEMA);
            conn.execute_batch(&v1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            for (id, state) in [("q", "queued"), ("d", "done")] {
                let json = format!(
                    r#"{{"id":"{id}","session":"old","idempotency_key":null,"command":{{"op":"send_text","to":"628111","text":"Your code is 123456","message_id":"3EB{id}"}}}}"#
                );
                conn.execute(
                    "INSERT INTO outbox (id, session_id, request, state, created_at_ms, updated_at_ms) \
                     VALUES (?1, 'old', ?2, ?3, 0, 0)",
                    params![id, json, state],
                )
                .unwrap();
            }
        }
        let c = LocalCoordination::open(dir.path(), conformance::test_key()).unwrap();
        let (done, _) = row(dir.path(), "d");
        assert!(!done.contains("123456"), "{done}");
        // A queued v1 request still goes out with its text.
        let queued = claim_queued(
            &mut lock(&c.db),
            &SessionId::parse("old").unwrap(),
            1,
            &conformance::test_key(),
        )
        .unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].command.payload(), Some("Your code is 123456"));
    }
}
