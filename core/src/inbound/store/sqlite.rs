//! SQLite inbound store (`data_dir/inbound.db`): the processes of one host
//! share it, and a pending verification survives a restart.
//!
//! The same settings as the OTP store (WAL, `synchronous=NORMAL`,
//! `secure_delete`, a busy timeout, calls that never wait for another
//! process's lock on a runtime worker). A message carrying a token is
//! applied in one `BEGIN IMMEDIATE` transaction, so two processes never both
//! approve it. The file holds token MACs, never tokens.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::Result;
use crate::inbound::record::{InboundRecord, apply_redeem};
use crate::otp::OtpState;
use crate::otp::{CodeMac, MAC_LEN};

use super::{InboundStore, Redeemed, apply_cancel};

/// 1: `inbound`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbound (
    verification_id TEXT PRIMARY KEY NOT NULL,
    session_id      TEXT NOT NULL,
    expected        TEXT,
    token_mac       BLOB NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    max_attempts    INTEGER NOT NULL,
    state           TEXT NOT NULL,
    sender          TEXT,
    approved_at_ms  INTEGER,
    reply           TEXT
);
CREATE INDEX IF NOT EXISTS inbound_by_expiry ON inbound(expires_at_ms);
";

const COLUMNS: &str = "verification_id, session_id, expected, token_mac, created_at_ms, \
     expires_at_ms, attempts, max_attempts, state, sender, approved_at_ms, reply";

/// Inbound verifications in a SQLite file.
#[derive(Debug)]
pub struct SqliteInboundStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteInboundStore {
    /// Opens (or creates, mode 0600) `data_dir/inbound.db`.
    pub fn open_in(data_dir: &Path) -> Result<Self> {
        Self::open(&crate::platform::layout::inbound_db(data_dir))
    }

    /// Opens (or creates, mode 0600) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        crate::platform::files::create_private_file(path)?;
        Self::init(Connection::open(path)?, path.to_path_buf())
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Self> {
        crate::platform::sqlite::prepare_shared_db(&conn, &path, SCHEMA, SCHEMA_VERSION)?;
        Ok(SqliteInboundStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T> + Send + 'static,
    {
        crate::platform::sqlite::off_the_runtime(&self.conn, work).await
    }
}

fn ms_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn ms_from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<InboundRecord> {
    let mac_bytes: Vec<u8> = row.get(3)?;
    let mut token_mac: CodeMac = [0; MAC_LEN];
    // A damaged MAC stays all zeros: no token's MAC matches it.
    if mac_bytes.len() == MAC_LEN {
        token_mac.copy_from_slice(&mac_bytes);
    }
    let state: String = row.get(8)?;
    Ok(InboundRecord {
        verification_id: row.get(0)?,
        session_id: row.get(1)?,
        expected: row.get(2)?,
        token_mac,
        created_at_ms: ms_from_sql(row.get(4)?),
        expires_at_ms: ms_from_sql(row.get(5)?),
        attempts: u32::try_from(row.get::<_, i64>(6)?).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        // An unknown state (a newer waotp's) approves nothing.
        state: OtpState::parse(&state).unwrap_or(OtpState::Canceled),
        sender: row.get(9)?,
        approved_at_ms: row.get::<_, Option<i64>>(10)?.map(ms_from_sql),
        reply: row.get(11)?,
    })
}

fn write_record(conn: &Connection, r: &InboundRecord) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO inbound ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        r.verification_id,
        r.session_id,
        r.expected,
        r.token_mac.as_slice(),
        ms_to_sql(r.created_at_ms),
        ms_to_sql(r.expires_at_ms),
        i64::from(r.attempts),
        i64::from(r.max_attempts),
        r.state.as_str(),
        r.sender,
        r.approved_at_ms.map(ms_to_sql),
        r.reply,
    ])?;
    Ok(())
}

fn read_by(
    conn: &Connection,
    column: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<InboundRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM inbound WHERE {column} = ?1"
        ))?
        .query_row([key], read_record)
        .optional()?)
}

#[async_trait]
impl InboundStore for SqliteInboundStore {
    async fn put(&self, record: &InboundRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| write_record(conn, &record))
            .await
    }

    async fn get(&self, verification_id: &str) -> Result<Option<InboundRecord>> {
        let id = verification_id.to_owned();
        self.with_conn(move |conn| read_by(conn, "verification_id", &id))
            .await
    }

    async fn redeem(
        &self,
        token_mac: &CodeMac,
        session_id: &str,
        sender: &str,
        now_ms: u64,
    ) -> Result<Redeemed> {
        let (mac, session_id, sender) = (*token_mac, session_id.to_owned(), sender.to_owned());
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut record) = read_by(&tx, "token_mac", &mac.as_slice())? else {
                return Ok(Redeemed::not_found());
            };
            let before = record.clone();
            let outcome = apply_redeem(&mut record, &session_id, &sender, now_ms);
            if record != before {
                write_record(&tx, &record)?;
            }
            tx.commit()?;
            Ok(Redeemed {
                outcome,
                record: Some(record),
            })
        })
        .await
    }

    async fn cancel(&self, verification_id: &str, now_ms: u64) -> Result<Option<InboundRecord>> {
        let id = verification_id.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut record) = read_by(&tx, "verification_id", &id)? else {
                return Ok(None);
            };
            apply_cancel(&mut record, now_ms);
            write_record(&tx, &record)?;
            tx.commit()?;
            Ok(Some(record))
        })
        .await
    }

    async fn remove_older_than(&self, before_ms: u64) -> Result<usize> {
        self.with_conn(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM inbound WHERE expires_at_ms < ?1")?
                .execute([ms_to_sql(before_ms)])?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let store = SqliteInboundStore::open_in_memory().unwrap();
        super::super::conformance::run_all(&store).await;
        super::super::conformance::cleanup(&store).await;
    }

    #[tokio::test]
    async fn two_handles_on_one_file_approve_a_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = SqliteInboundStore::open_in(dir.path()).unwrap();
        let b = SqliteInboundStore::open_in(dir.path()).unwrap();
        a.put(&crate::inbound::record::tests::record("v", None, 7))
            .await
            .unwrap();
        let first = b.redeem(&[7; 32], "shop", "6281", 2_000).await.unwrap();
        let second = a.redeem(&[7; 32], "shop", "6282", 2_000).await.unwrap();
        assert_eq!(
            first.outcome,
            crate::inbound::record::RedeemOutcome::Approved
        );
        assert_eq!(second.outcome, crate::inbound::record::RedeemOutcome::Spent);
        let seen = a.get("v").await.unwrap().unwrap();
        assert_eq!(seen.sender.as_deref(), Some("6281"));
    }
}
