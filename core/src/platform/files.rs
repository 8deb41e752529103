//! Files private to the process owner, and removing a session store.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::Result;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionId;
    use crate::platform::layout::{session_store, sessions_dir};

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let a = SessionId::parse("a").unwrap();
        let path = session_store(&data, &a);
        create_private_file(&path).unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&sessions_dir(&data)), 0o700);
        }
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
