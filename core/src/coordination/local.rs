//! One host: leases are file locks, the outbox and the published statuses
//! are tables in `data_dir/shared.db`, and owners are woken through a Unix
//! socket (see [`super::wake`]).
//!
//! The database runs in WAL mode: a process killed mid-way loses nothing it
//! committed, and readers never wait for the writer. Each call is one short
//! transaction on a local file, run inline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
use super::{Command, Coordination, Lease, Outcome, Request, SharedStatus, Submitted};

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

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lease (
    session_id TEXT PRIMARY KEY NOT NULL,
    token      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    session_id      TEXT NOT NULL,
    idempotency_key TEXT,
    request         TEXT NOT NULL,
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
";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The shared state of the processes on one data dir.
pub(crate) struct LocalCoordination {
    db: Mutex<Connection>,
    data_dir: PathBuf,
    /// The sessions this process owns, with their wake-ups.
    owned: Arc<Mutex<HashMap<SessionId, Arc<Wakeups>>>>,
    last_cleanup_ms: AtomicU64,
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
    /// Opens (or creates) `data_dir/shared.db`, mode 0600.
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let path = layout::shared_db(data_dir);
        crate::platform::files::create_private_file(&path)?;
        let conn = Connection::open(&path)?;
        crate::platform::sqlite::prepare_shared_db(&conn, &path, SCHEMA, SCHEMA_VERSION)?;
        Ok(LocalCoordination {
            db: Mutex::new(conn),
            data_dir: data_dir.to_path_buf(),
            owned: Arc::default(),
            last_cleanup_ms: AtomicU64::new(0),
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        lock(&self.db)
    }

    fn socket(&self, session: &SessionId) -> Option<PathBuf> {
        layout::wake_socket(&self.data_dir, session)
    }

    fn hub(&self, session: &SessionId) -> Option<Arc<Wakeups>> {
        lock(&self.owned).get(session).cloned()
    }

    /// The row of a request: its state and outcome.
    fn read_outcome(&self, request_id: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .db()
            .prepare_cached("SELECT state, outcome FROM outbox WHERE id = ?1")?
            .query_row([request_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn maybe_cleanup(&self, now: u64) {
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
            .db()
            .prepare_cached("DELETE FROM outbox WHERE state = 'done' AND updated_at_ms <= ?1")
            .and_then(|mut s| s.execute([sql_ms(now.saturating_sub(RETENTION_MS))]));
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
        let token = {
            let mut db = self.db();
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
                        "UPDATE outbox SET state = 'done', outcome = ?2, updated_at_ms = ?3 \
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        Outcome::abandoned().to_json()?,
                        now
                    ])?;
                }
            }
            tx.commit()?;
            u64::try_from(token).unwrap_or(0)
        };
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
        let mut db = self.db();
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
                    // still gets one message.
                    tx.prepare_cached(
                        "UPDATE outbox SET state = 'queued', claimed_by = NULL, outcome = NULL, \
                         delivery = NULL, delivery_reason = NULL, updated_at_ms = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id, now])?;
                    Submitted::Pending(earlier)
                } else {
                    Submitted::AlreadyDone(earlier)
                };
                tx.commit()?;
                return Ok(answer);
            }
        }
        let (state, claimed_by) = match claim_for {
            Some(lease) => ("claimed", Some(sql_ms(lease.token))),
            None => ("queued", None),
        };
        tx.prepare_cached(
            "INSERT INTO outbox (id, session_id, idempotency_key, request, state, claimed_by, \
             message_id, recipient, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
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
        ])?;
        tx.commit()?;
        Ok(Submitted::Queued)
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
            match self.read_outcome(request_id)? {
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
        let n = self
            .db()
            .prepare_cached("DELETE FROM outbox WHERE id = ?1 AND state = 'queued'")?
            .execute([request_id])?;
        Ok(n > 0)
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
        self.maybe_cleanup(now);
        let claimed = claim_queued(&mut self.db(), session, lease.token)?;
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
        claim_queued(&mut self.db(), session, lease.token)
    }

    async fn finish(&self, request: &Request, lease: &Lease, outcome: &Outcome) -> Result<()> {
        let sent = matches!(
            (&request.command, outcome),
            (Command::SendText { .. }, Outcome::Done { .. })
        );
        // Fenced: an owner that gave the session up cannot answer over its
        // successor, which took the request back and carries it out again.
        self.db()
            .prepare_cached(
                "UPDATE outbox SET state = 'done', outcome = ?2, updated_at_ms = ?3, \
                 delivery = CASE WHEN ?5 THEN COALESCE(delivery, 'pending') ELSE delivery END \
                 WHERE id = ?1 AND state = 'claimed' AND claimed_by = ?4",
            )?
            .execute(params![
                request.id,
                outcome.to_json()?,
                sql_ms(now_ms()),
                sql_ms(lease.token),
                sent,
            ])?;
        if let Some(hub) = self.hub(&request.session) {
            hub.finished(&request.id);
        }
        Ok(())
    }

    async fn publish(&self, status: &SharedStatus) -> Result<()> {
        self.db()
            .prepare_cached(
                "INSERT OR REPLACE INTO session_status (session_id, status, updated_at_ms) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![status.id(), status.to_json()?, sql_ms(now_ms())])?;
        Ok(())
    }

    async fn status(&self, session: &SessionId) -> Result<Option<SharedStatus>> {
        let text: Option<String> = self
            .db()
            .prepare_cached("SELECT status FROM session_status WHERE session_id = ?1")?
            .query_row([session.as_str()], |r| r.get(0))
            .optional()?;
        text.map(|t| SharedStatus::from_json(&t)).transpose()
    }

    async fn sessions(&self) -> Result<Vec<SessionId>> {
        let ids: Vec<String> = self
            .db()
            .prepare_cached("SELECT session_id FROM session_status ORDER BY session_id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids
            .iter()
            .filter_map(|id| SessionId::parse(id).ok())
            .collect())
    }

    async fn forget(&self, session: &SessionId) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "DELETE FROM session_status WHERE session_id = ?1",
            [session.as_str()],
        )?;
        tx.execute(
            "DELETE FROM outbox WHERE session_id = ?1",
            [session.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<()> {
        let reason = match status {
            DeliveryStatus::Failed { reason } => Some(reason.as_str()),
            _ => None,
        };
        self.db()
            .prepare_cached(
                "UPDATE outbox SET delivery = ?2, delivery_reason = ?3, updated_at_ms = ?4 \
                 WHERE message_id = ?1",
            )?
            .execute(params![
                message_id,
                status.as_str(),
                reason,
                sql_ms(now_ms())
            ])?;
        Ok(())
    }

    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        type Row = (String, Option<String>, Option<String>, Option<String>, i64);
        let row: Option<Row> = self
            .db()
            .prepare_cached(
                "SELECT session_id, recipient, delivery, delivery_reason, updated_at_ms \
                 FROM outbox WHERE message_id = ?1 ORDER BY created_at_ms DESC LIMIT 1",
            )?
            .query_row([message_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
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
}

/// Claims up to a batch of the session's queued requests, oldest first.
fn claim_queued(db: &mut Connection, session: &SessionId, token: u64) -> Result<Vec<Request>> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows: Vec<(String, String)> = tx
        .prepare_cached(
            // 32 requests per claim. A literal: SQLite re-prepares a
            // statement whose LIMIT is a bound parameter on every run.
            "SELECT id, request FROM outbox WHERE session_id = ?1 AND state = 'queued' \
             ORDER BY created_at_ms LIMIT 32",
        )?
        .query_map(params![session.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut claimed = Vec::with_capacity(rows.len());
    let now = sql_ms(now_ms());
    for (id, text) in rows {
        match Request::from_json(&text) {
            Ok(request) => {
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'claimed', claimed_by = ?2, updated_at_ms = ?3 \
                     WHERE id = ?1",
                )?
                .execute(params![id, sql_ms(token), now])?;
                claimed.push(request);
            }
            Err(e) => {
                // A row no waotp could have written: answer it instead of retrying forever.
                let outcome = Outcome::of::<()>(&Err(e));
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'done', outcome = ?2, updated_at_ms = ?3 WHERE id = ?1",
                )?
                .execute(params![id, outcome.to_json()?, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(claimed)
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
        let a = Arc::new(LocalCoordination::open(dir.path()).unwrap());
        let b = Arc::new(LocalCoordination::open(dir.path()).unwrap());
        conformance::run_all(&a, &b).await;
    }
}
