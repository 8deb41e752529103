//! SQLite store (`data_dir/otp.db`): pending codes survive a restart.
//!
//! One connection behind a mutex, in WAL mode with `synchronous=NORMAL`: a
//! commit appends to the WAL without an fsync, so a power cut can lose the
//! last codes issued (their recipients ask again) but never corrupts the file.
//! Every statement is prepared once and cached. A guess runs in one
//! `BEGIN IMMEDIATE` transaction, which takes the write lock before reading,
//! so guesses from other processes sharing the file are serialised too.
//! The file holds MACs, never codes or message texts.
//!
//! Rate-limit state lives in the same file (`limit_event`, `pacing`), so
//! every process that opens the data dir shares one set of limits and they
//! survive a restart.
//!
//! Each call is one short transaction on a local file (microseconds) — until
//! another process holds the write lock, when it waits up to the busy
//! timeout (5 s). So calls run on tokio's blocking pool, never on a runtime
//! worker: a wait there would stall every session of the process (the C
//! library's runtime has two workers) and, through a binding, the caller's
//! event loop.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::error::Result;
use crate::model::DeliveryStatus;
use crate::otp::limiter::{
    Admission, LimitRule, Limits, pace_decision, send_decision, window_decision,
};
use crate::otp::mac::{CodeMac, MAC_LEN};
use crate::otp::state::{OtpState, apply_check, effective_state};

use super::{CheckResult, OtpRecord, OtpStore};

/// File name of the store inside a data dir.
pub const DB_FILE_NAME: &str = crate::platform::layout::OTP_DB_FILE;

/// 1: `otp`; 2: adds the rate-limit tables (a version-1 file gains them on open).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS otp (
    recipient       TEXT PRIMARY KEY NOT NULL,
    verification_id TEXT NOT NULL UNIQUE,
    session_id      TEXT NOT NULL,
    mac             BLOB NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    max_attempts    INTEGER NOT NULL,
    state           TEXT NOT NULL,
    message_id      TEXT,
    delivery        TEXT,
    delivery_reason TEXT,
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS otp_by_message ON otp(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS otp_by_expiry ON otp(expires_at_ms);
-- Granted sends and verifications per recipient (kind 'send' / 'verify').
CREATE TABLE IF NOT EXISTS limit_event (
    recipient TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS limit_event_by_key ON limit_event(recipient, kind, at_ms);
CREATE INDEX IF NOT EXISTS limit_event_by_time ON limit_event(at_ms);
-- The earliest time each session's next paced send may go out.
CREATE TABLE IF NOT EXISTS pacing (
    session_id   TEXT PRIMARY KEY NOT NULL,
    next_free_ms INTEGER NOT NULL
);
";

const COLUMNS: &str = "recipient, verification_id, session_id, mac, created_at_ms, expires_at_ms, \
     attempts, max_attempts, state, message_id, delivery, delivery_reason, idempotency_key";

/// OTP records in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`. A new file is created with mode
    /// 0600 on Unix; SQLite gives its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        precreate_private(path)?;
        let conn = Connection::open(path)?;
        Self::init(conn, path.to_path_buf())
    }

    /// Opens `data_dir/otp.db`.
    pub fn open_in(data_dir: &Path) -> Result<Self> {
        Self::open(&crate::platform::layout::otp_db(data_dir))
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Self> {
        crate::platform::sqlite::prepare_shared_db(&conn, &path, SCHEMA, SCHEMA_VERSION)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Runs `work` on the connection, never waiting for a lock on the
    /// runtime's workers (it may run twice: see `off_the_runtime`).
    async fn with_conn<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T> + Send + 'static,
    {
        crate::platform::sqlite::off_the_runtime(&self.conn, work).await
    }
}

#[cfg(unix)]
fn precreate_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn precreate_private(_path: &Path) -> Result<()> {
    Ok(())
}

fn ms_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn ms_from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn delivery_to_sql(d: &Option<DeliveryStatus>) -> (Option<&'static str>, Option<String>) {
    match d {
        None => (None, None),
        Some(DeliveryStatus::Failed { reason }) => (Some("failed"), Some(reason.clone())),
        Some(s) => (Some(s.as_str()), None),
    }
}

fn delivery_from_sql(status: Option<String>, reason: Option<String>) -> Option<DeliveryStatus> {
    Some(match status?.as_str() {
        "pending" => DeliveryStatus::Pending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed {
            reason: reason.unwrap_or_default(),
        },
        _ => return None,
    })
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<OtpRecord> {
    let mac_bytes: Vec<u8> = row.get(3)?;
    let mut mac: CodeMac = [0; MAC_LEN];
    // A MAC of the wrong size (a damaged row) stays all zeros and can never
    // match a real MAC, so the record just fails verification.
    if mac_bytes.len() == MAC_LEN {
        mac.copy_from_slice(&mac_bytes);
    }
    let state: String = row.get(8)?;
    Ok(OtpRecord {
        recipient: row.get(0)?,
        verification_id: row.get(1)?,
        session_id: row.get(2)?,
        mac,
        created_at_ms: ms_from_sql(row.get(4)?),
        expires_at_ms: ms_from_sql(row.get(5)?),
        attempts: u32::try_from(row.get::<_, i64>(6)?).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        // Unknown state names (a newer writer) read as locked: fail closed.
        state: OtpState::parse(&state).unwrap_or(OtpState::MaxAttemptsReached),
        message_id: row.get(9)?,
        delivery: delivery_from_sql(row.get(10)?, row.get(11)?),
        idempotency_key: row.get(12)?,
    })
}

fn select_by_recipient(conn: &Connection, recipient: &str) -> rusqlite::Result<Option<OtpRecord>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM otp WHERE recipient = ?1"))?
        .query_row([recipient], read_record)
        .optional()
}

fn update_state(conn: &Connection, rec: &OtpRecord) -> rusqlite::Result<usize> {
    conn.prepare_cached("UPDATE otp SET attempts = ?2, state = ?3 WHERE recipient = ?1")?
        .execute(params![
            rec.recipient,
            rec.attempts as i64,
            rec.state.as_str()
        ])
}

fn insert_record(conn: &Connection, r: &OtpRecord) -> rusqlite::Result<()> {
    let (delivery, reason) = delivery_to_sql(&r.delivery);
    // REPLACE removes the recipient's previous row (and any row with the same
    // verification id) in the same statement.
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO otp ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        r.recipient,
        r.verification_id,
        r.session_id,
        &r.mac[..],
        ms_to_sql(r.created_at_ms),
        ms_to_sql(r.expires_at_ms),
        r.attempts as i64,
        r.max_attempts as i64,
        r.state.as_str(),
        r.message_id,
        delivery,
        reason,
        r.idempotency_key,
    ])?;
    Ok(())
}

#[async_trait]
impl OtpStore for SqliteStore {
    async fn put(&self, r: &OtpRecord) -> Result<()> {
        let r = r.clone();
        self.with_conn(move |conn| Ok(insert_record(conn, &r)?))
            .await
    }

    async fn get(&self, recipient: &str) -> Result<Option<OtpRecord>> {
        let recipient = recipient.to_owned();
        self.with_conn(move |conn| Ok(select_by_recipient(conn, &recipient)?))
            .await
    }

    async fn check(
        &self,
        recipient: &str,
        candidate: &CodeMac,
        now_ms: u64,
    ) -> Result<CheckResult> {
        let recipient = recipient.to_owned();
        let candidate = *candidate;
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut rec) = select_by_recipient(&tx, &recipient)? else {
                return Ok(CheckResult::not_found());
            };
            let (outcome, changed) = apply_check(&mut rec, &candidate, now_ms);
            if changed {
                update_state(&tx, &rec)?;
            }
            tx.commit()?;
            Ok(CheckResult::of(&rec, outcome))
        })
        .await
    }

    async fn cancel(&self, recipient: &str, now_ms: u64) -> Result<Option<OtpRecord>> {
        let recipient = recipient.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut rec) = select_by_recipient(&tx, &recipient)? else {
                return Ok(None);
            };
            if effective_state(&rec, now_ms) == OtpState::Pending {
                rec.state = OtpState::Canceled;
                update_state(&tx, &rec)?;
            }
            tx.commit()?;
            Ok(Some(rec))
        })
        .await
    }

    async fn set_message_id(&self, verification_id: &str, message_id: &str) -> Result<bool> {
        let (verification_id, message_id) = (verification_id.to_owned(), message_id.to_owned());
        self.with_conn(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE otp SET message_id = ?2, delivery = COALESCE(delivery, 'pending') \
                     WHERE verification_id = ?1",
                )?
                .execute(params![verification_id, message_id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_sender(
        &self,
        verification_id: &str,
        session_id: &str,
        message_id: &str,
    ) -> Result<bool> {
        let (verification_id, session_id, message_id) = (
            verification_id.to_owned(),
            session_id.to_owned(),
            message_id.to_owned(),
        );
        self.with_conn(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE otp SET session_id = ?2, message_id = ?3, \
                     delivery = COALESCE(delivery, 'pending') WHERE verification_id = ?1",
                )?
                .execute(params![verification_id, session_id, message_id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<bool> {
        let (message_id, status) = (message_id.to_owned(), status.clone());
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<(String, Option<String>, Option<String>)> = tx
                .prepare_cached(
                    "SELECT recipient, delivery, delivery_reason FROM otp WHERE message_id = ?1",
                )?
                .query_row([&message_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((recipient, delivery, reason)) = current else {
                return Ok(false);
            };
            let now = delivery_from_sql(delivery, reason).unwrap_or(DeliveryStatus::Pending);
            let next = now.advance(status.clone());
            let (d, r) = delivery_to_sql(&Some(next));
            tx.prepare_cached(
                "UPDATE otp SET delivery = ?2, delivery_reason = ?3 WHERE recipient = ?1",
            )?
            .execute(params![recipient, d, r])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn remove_expired(
        &self,
        expired_before_ms: u64,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<usize> {
        // Limit state that no longer limits anything.
        let memory = limits.send_memory_ms().max(
            limits
                .verifies_per_recipient
                .map(|w| w.span_ms())
                .unwrap_or(0),
        );
        self.with_conn(move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM otp WHERE expires_at_ms <= ?1")?
                .execute([ms_to_sql(expired_before_ms)])?;
            conn.prepare_cached("DELETE FROM limit_event WHERE at_ms <= ?1")?
                .execute([ms_to_sql(now_ms.saturating_sub(memory))])?;
            conn.prepare_cached("DELETE FROM pacing WHERE next_free_ms <= ?1")?
                .execute([ms_to_sql(now_ms)])?;
            Ok(n)
        })
        .await
    }

    async fn len(&self) -> Result<usize> {
        self.with_conn(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM otp")?
                .query_row([], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn withdraw(
        &self,
        recipient: &str,
        verification_id: &str,
        previous: Option<&OtpRecord>,
        now_ms: u64,
    ) -> Result<()> {
        let (recipient, verification_id) = (recipient.to_owned(), verification_id.to_owned());
        let previous = previous.cloned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut current) = select_by_recipient(&tx, &recipient)? else {
                return Ok(());
            };
            if current.verification_id != verification_id
                || effective_state(&current, now_ms) != OtpState::Pending
            {
                return Ok(());
            }
            match &previous {
                Some(prev) if effective_state(prev, now_ms) == OtpState::Pending => {
                    insert_record(&tx, prev)?;
                }
                _ => {
                    current.state = OtpState::Canceled;
                    update_state(&tx, &current)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
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
        let memory = limits.send_memory_ms();
        let limits = limits.clone();
        let recipient = recipient.to_owned();
        self.with_conn(move |conn| {
            with_events(conn, &recipient, "send", memory, now_ms, |log| {
                send_decision(log, &limits, now_ms)
            })
        })
        .await
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
        let recipient = recipient.to_owned();
        self.with_conn(move |conn| {
            with_events(conn, &recipient, "verify", w.span_ms(), now_ms, |log| {
                window_decision(log, &w, LimitRule::VerifiesPerRecipient, now_ms)
            })
        })
        .await
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
        let session_id = session_id.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let next_free: Option<i64> = tx
                .prepare_cached("SELECT next_free_ms FROM pacing WHERE session_id = ?1")?
                .query_row([&session_id], |r| r.get(0))
                .optional()?;
            let (admission, next) = pace_decision(
                next_free.map(ms_from_sql).unwrap_or(0),
                &p,
                now_ms,
                jitter_ms,
            );
            if matches!(admission, Admission::Granted { .. }) {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO pacing (session_id, next_free_ms) VALUES (?1, ?2)",
                )?
                .execute(params![session_id, ms_to_sql(next)])?;
            }
            tx.commit()?;
            Ok(admission)
        })
        .await
    }
}

/// Runs a limit rule on the recipient's `kind` events of the last
/// `memory_ms`, in one IMMEDIATE transaction (so processes sharing the file
/// take slots one at a time), and records a granted one.
fn with_events(
    conn: &mut Connection,
    recipient: &str,
    kind: &str,
    memory_ms: u64,
    now_ms: u64,
    rule: impl FnOnce(&mut VecDeque<u64>) -> Admission,
) -> Result<Admission> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut log = read_events(&tx, recipient, kind, now_ms.saturating_sub(memory_ms))?;
    let admission = rule(&mut log);
    if matches!(admission, Admission::Granted { .. }) {
        // The rule appended `now` to its copy; the table gets the same row.
        tx.prepare_cached("INSERT INTO limit_event (recipient, kind, at_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![recipient, kind, ms_to_sql(now_ms)])?;
    }
    tx.commit()?;
    Ok(admission)
}

fn read_events(
    tx: &Transaction<'_>,
    recipient: &str,
    kind: &str,
    after_ms: u64,
) -> rusqlite::Result<VecDeque<u64>> {
    let mut stmt = tx.prepare_cached(
        "SELECT at_ms FROM limit_event WHERE recipient = ?1 AND kind = ?2 AND at_ms > ?3 \
         ORDER BY at_ms",
    )?;
    let rows = stmt.query_map(params![recipient, kind, ms_to_sql(after_ms)], |r| {
        r.get::<_, i64>(0).map(ms_from_sql)
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::otp::store::conformance;

    #[tokio::test]
    async fn sqlite_store_conformance() {
        conformance::run_all(&SqliteStore::open_in_memory().unwrap()).await;
        let dir = tempfile::tempdir().unwrap();
        conformance::run_all(&SqliteStore::open_in(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn limits_are_shared_by_two_handles_on_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = SqliteStore::open_in(dir.path()).unwrap();
        let b = SqliteStore::open_in(dir.path()).unwrap();
        let limits = Limits {
            resend_cooldown: Duration::ZERO,
            ..Limits::default()
        };
        let mut granted = 0;
        for i in 0..10 {
            let store = if i % 2 == 0 { &a } else { &b };
            if store
                .take_send_slot("628111", &limits, 1_000 + i)
                .await
                .unwrap()
                == Admission::GO
            {
                granted += 1;
            }
        }
        assert_eq!(granted, 5, "5 sends per minute across both handles");
        // And they survive a reopen.
        drop((a, b));
        let c = SqliteStore::open_in(dir.path()).unwrap();
        assert!(matches!(
            c.take_send_slot("628111", &limits, 2_000).await.unwrap(),
            Admission::Refused {
                rule: LimitRule::SendsPerRecipient,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn records_survive_reopen_and_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = conformance::record("6281234567890", "v1", 10_000);
        r.delivery = Some(DeliveryStatus::Failed {
            reason: "463".into(),
        });
        r.message_id = Some("3EB0ABC".into());
        {
            let s = SqliteStore::open_in(dir.path()).unwrap();
            s.put(&r).await.unwrap();
            s.check("6281234567890", &[0; 32], 1).await.unwrap();
        }
        let s = SqliteStore::open_in(dir.path()).unwrap();
        let back = s.get("6281234567890").await.unwrap().unwrap();
        assert_eq!(back.attempts, 1);
        assert_eq!(back.delivery, r.delivery);
        assert_eq!(back.mac, r.mac);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert_eq!(SqliteStore::open(&path).unwrap_err().code(), "STORE_ERROR");
    }
}
