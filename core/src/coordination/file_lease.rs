//! The one-host lease: an exclusive OS file lock on `sessions/<id>.lock`
//! (see [`crate::platform::layout::session_lock`]).
//!
//! The kernel releases the lock when the process exits, however it exits
//! (SIGKILL included), so a dead owner never blocks a session. The lock
//! belongs to the open file, so two gateways in one process exclude each
//! other too.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held file lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// The lock file's path.
    #[allow(dead_code)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock without waiting; `None` while another open file holds it.
pub(crate) fn try_lock(path: &Path) -> Result<Option<FileLock>> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionId;
    use crate::platform::layout::session_lock;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_lock(dir.path(), &SessionId::parse("shop").unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let first = try_lock(&path).unwrap().expect("a free lock is taken");
        assert!(try_lock(&path).unwrap().is_none(), "a held lock is refused");
        drop(first);
        assert!(
            try_lock(&path).unwrap().is_some(),
            "a dropped lock is free again"
        );
    }
}
