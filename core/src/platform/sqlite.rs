//! SQLite helpers: checking a session store, readying a database that
//! several processes write at once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::error::Result;
use crate::platform::store_key::StoreKey;

/// Checks that `path` is a readable SQLite database (an empty file counts:
/// SQLite makes it one), keyed with `key` when the stores are encrypted.
/// whatsapp-rust's pool would retry a damaged file (or a wrong key) for
/// half a minute before giving up; this answers at once.
pub(crate) fn check_sqlite(path: &Path, key: Option<&StoreKey>) -> Result<()> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    if let Some(key) = key {
        key.apply(&conn)?;
    }
    conn.query_row("PRAGMA schema_version", [], |row| row.get::<_, i64>(0))
        .map_err(|e| {
            let hint = match key {
                Some(_) => {
                    " (with the session store key: a wrong key, or a store made without one)"
                }
                None => " (a store made with a session store key opens only with it)",
            };
            crate::Error::Store(format!(
                "{} is not a usable session store: {e}{hint}",
                path.display()
            ))
        })?;
    Ok(())
}

/// Readies a database that several processes write at once (the OTP store,
/// `shared.db`): WAL, so a killed process loses nothing it committed and
/// readers never wait for the writer; a busy timeout for the writer's lock;
/// `secure_delete`; then `schema` (idempotent `CREATE … IF NOT EXISTS`) at `version`. A file
/// written by a newer waotp is refused rather than misread.
pub(crate) fn prepare_shared_db(
    conn: &rusqlite::Connection,
    path: &Path,
    schema: &str,
    version: i64,
) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // journal_mode answers with a row, so it is read rather than "updated".
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // What a delete or an update frees is overwritten, not left readable in
    // free pages: these files have held MACs and sealed payloads.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > version {
        return Err(crate::Error::Store(format!(
            "{} has schema version {found}; this waotp understands up to {version}",
            path.display()
        )));
    }
    conn.execute_batch(schema)?;
    conn.pragma_update(None, "user_version", version)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// How long a call waits for another process's write lock before it fails
/// with `SQLITE_BUSY`.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `work` on `conn`: at once on the calling thread when neither this
/// process nor another holds what it needs, otherwise on tokio's blocking
/// pool (inline when no runtime is running).
///
/// A call on a database that several processes write waits up to the busy
/// timeout (5 s) while another process holds the write lock. On a runtime
/// worker that wait would stall every task of the process (the C library's
/// runtime has two workers), and through a binding the caller's event loop.
/// A hop to the blocking pool costs tens of microseconds each way, though,
/// and almost every call finds the database free: so the first try runs
/// here, with a busy handler that gives up at once instead of waiting, and
/// only a try that found the lock taken is run again on the pool, where it
/// may wait. A failed try has rolled back (its transaction's guard dropped
/// with the error), which is why `work` is `Fn`: it runs again from the
/// start.
pub(crate) async fn off_the_runtime<T, F>(conn: &Arc<Mutex<Connection>>, work: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&mut Connection) -> Result<T> + Send + 'static,
{
    let first_try = match conn.try_lock() {
        Ok(mut guard) => without_waiting(&mut guard, &work),
        // SQLite rolls back an unfinished transaction when its guard
        // drops, so a connection whose holder panicked is still consistent.
        Err(std::sync::TryLockError::Poisoned(p)) => without_waiting(&mut p.into_inner(), &work),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(done) = first_try {
        return done;
    }
    let conn = conn.clone();
    let run = move || work(&mut crate::platform::sync::lock(&conn));
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| crate::Error::Store(format!("a database call did not finish: {e}")))?
}

thread_local! {
    /// Set by [`give_up_when_busy`]: the try on this thread met a lock.
    static MET_A_LOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A busy handler that never waits, and notes that it was asked.
fn give_up_when_busy(_retries: i32) -> bool {
    MET_A_LOCK.with(|met| met.set(true));
    false
}

/// Runs `work` once without waiting for any lock; `None` when it failed
/// because a lock was taken (so it must run again where it may wait).
fn without_waiting<T>(
    conn: &mut Connection,
    work: &impl Fn(&mut Connection) -> Result<T>,
) -> Option<Result<T>> {
    MET_A_LOCK.with(|met| met.set(false));
    conn.busy_handler(Some(give_up_when_busy)).ok()?;
    let result = work(conn);
    // The blocking path, and any other user of the connection, waits again.
    let restored = conn.busy_timeout(BUSY_TIMEOUT);
    let met_a_lock = MET_A_LOCK.with(|met| met.get());
    match (result, restored) {
        (Err(_), _) if met_a_lock => None,
        (result, Ok(())) => Some(result),
        (_, Err(e)) => Some(Err(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::files::create_private_file;
    use std::fs;

    #[test]
    fn damaged_stores_are_recognised() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.db");
        create_private_file(&empty).unwrap();
        check_sqlite(&empty, None).unwrap();
        let damaged = tmp.path().join("damaged.db");
        fs::write(
            &damaged,
            b"not a database at all, only some bytes that are long enough",
        )
        .unwrap();
        assert_eq!(
            check_sqlite(&damaged, None).unwrap_err().code(),
            "STORE_ERROR"
        );
    }
}
