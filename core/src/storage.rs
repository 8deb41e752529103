//! Where things live on disk, and how they are created: private to the
//! process owner, because a session store is a logged-in WhatsApp account.
//!
//! ```text
//! data_dir/            0700
//!   sessions/          0700
//!     <id>.db          0600  whatsapp-rust's SQLite store (+ -wal/-shm, same mode)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::session::SessionId;

/// `data_dir/sessions`.
pub(crate) fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

/// `data_dir/sessions/<id>.db`. The id is validated, so it cannot escape the folder.
pub(crate) fn session_store_path(data_dir: &Path, id: &SessionId) -> PathBuf {
    sessions_dir(data_dir).join(format!("{}.db", id.as_str()))
}

/// Creates `dir` and its parents with mode 0700 (existing folders keep theirs).
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    Ok(())
}

/// Creates an empty file with mode 0600 unless it exists; an existing file is
/// tightened to 0600. SQLite gives its `-wal` and `-shm` files the database
/// file's mode, so setting it here covers them too.
pub(crate) fn create_private_file(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

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
/// then `schema` (idempotent `CREATE … IF NOT EXISTS`) at `version`. A file
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

/// Removes a store's files (credentials included) and leaves an empty store
/// in their place, so the session is still listed and links afresh.
pub(crate) fn wipe_store(path: &Path) -> Result<()> {
    remove_store(path)?;
    create_private_file(path)
}

/// Removes a store and its SQLite side files.
pub(crate) fn remove_store(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The ids of the sessions stored under `data_dir`, sorted. Files whose names
/// are not valid session ids are ignored (and logged), never opened.
pub(crate) fn stored_session_ids(data_dir: &Path) -> Result<Vec<SessionId>> {
    let dir = sessions_dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".db") else {
            continue;
        };
        match SessionId::parse(stem) {
            Ok(id) => ids.push(id),
            Err(_) => log::warn!(
                "ignoring {name:?} in {}: not a session store",
                dir.display()
            ),
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_private_and_ids_are_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let a = SessionId::parse("a").unwrap();
        let path = session_store_path(&data, &a);
        create_private_file(&path).unwrap();
        fs::write(sessions_dir(&data).join("not valid!.db"), b"").unwrap();
        fs::write(sessions_dir(&data).join("notes.txt"), b"").unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&sessions_dir(&data)), 0o700);
        }
        assert_eq!(stored_session_ids(&data).unwrap(), vec![a]);
        assert!(
            stored_session_ids(&tmp.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }

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

    #[test]
    fn wipe_leaves_an_empty_private_store() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sessions").join("s.db");
        create_private_file(&path).unwrap();
        fs::write(&path, b"credentials").unwrap();
        fs::write(tmp.path().join("sessions").join("s.db-wal"), b"wal").unwrap();
        wipe_store(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert!(!tmp.path().join("sessions").join("s.db-wal").exists());
        remove_store(&path).unwrap();
        assert!(!path.exists());
    }
}
