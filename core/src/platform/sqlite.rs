//! SQLite helpers: checking a session store, readying a database that
//! several processes write at once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::error::Result;

/// Checks that `path` is a readable SQLite database (an empty file counts:
/// SQLite makes it one). whatsapp-rust's pool would retry a damaged file
/// for half a minute before giving up; this answers at once.
pub(crate) fn check_sqlite(path: &Path) -> Result<()> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.query_row("PRAGMA schema_version", [], |row| row.get::<_, i64>(0))
        .map_err(|e| {
            crate::Error::Store(format!(
                "{} is not a usable session store: {e}",
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
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
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

/// Runs `work` on `conn` on tokio's blocking pool, inline when no runtime
/// is running.
///
/// A call on a database that several processes write waits up to the busy
/// timeout (5 s) while another process holds the write lock. On a runtime
/// worker that wait would stall every task of the process (the C library's
/// runtime has two workers), and through a binding the caller's event loop.
pub(crate) async fn off_the_runtime<T, F>(conn: &Arc<Mutex<Connection>>, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    let conn = conn.clone();
    // SQLite rolls back an unfinished transaction when its guard drops, so
    // a connection whose holder panicked is still consistent.
    let run = move || work(&mut crate::platform::sync::lock(&conn));
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| crate::Error::Store(format!("a database call did not finish: {e}")))?
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
        check_sqlite(&empty).unwrap();
        let damaged = tmp.path().join("damaged.db");
        fs::write(
            &damaged,
            b"not a database at all, only some bytes that are long enough",
        )
        .unwrap();
        assert_eq!(check_sqlite(&damaged).unwrap_err().code(), "STORE_ERROR");
    }
}
