//! The data dir's layout: every path waotp reads or writes under it, in
//! one place. Everything here is private to the process owner, because a
//! session store is a logged-in WhatsApp account.
//!
//! ```text
//! data_dir/            0700
//!   otp.db             0600  pending OTP codes, limits (SQLite, WAL)
//!   otp.secret         0600  the HMAC secret of stored codes
//!   shared.db          0600  leases, outbox, published statuses of the processes on this host
//!   inbound.db         0600  inbound verifications: token MACs, who sent them (SQLite, WAL)
//!   sessions/          0700
//!     <id>.db          0600  whatsapp-rust's SQLite store (+ -wal/-shm, same mode)
//!     <id>.lock              the one-host lease (an OS file lock)
//!     <id>.sock              the owner's wake-up socket
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::SessionId;

/// The OTP store's file name in the data dir.
pub const OTP_DB_FILE: &str = "otp.db";
/// The OTP secret's file name in the data dir.
pub const OTP_SECRET_FILE: &str = "otp.secret";
/// The file name of the processes' shared state (one host) in the data dir.
pub(crate) const SHARED_DB_FILE: &str = "shared.db";

/// `data_dir/otp.db`.
pub(crate) fn otp_db(data_dir: &Path) -> PathBuf {
    data_dir.join(OTP_DB_FILE)
}

/// `data_dir/otp.secret`.
pub(crate) fn otp_secret(data_dir: &Path) -> PathBuf {
    data_dir.join(OTP_SECRET_FILE)
}

/// The inbound verifications' file name in the data dir.
pub(crate) const INBOUND_DB_FILE: &str = "inbound.db";

/// `data_dir/inbound.db`.
pub(crate) fn inbound_db(data_dir: &Path) -> PathBuf {
    data_dir.join(INBOUND_DB_FILE)
}

/// `data_dir/shared.db`.
pub(crate) fn shared_db(data_dir: &Path) -> PathBuf {
    data_dir.join(SHARED_DB_FILE)
}

/// `data_dir/sessions`.
pub(crate) fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

/// `data_dir/sessions/<id>.db`. The id is validated, so it cannot escape the folder.
pub(crate) fn session_store(data_dir: &Path, id: &SessionId) -> PathBuf {
    sessions_dir(data_dir).join(format!("{}.db", id.as_str()))
}

/// `data_dir/sessions/<id>.lock`, beside the session's store.
pub(crate) fn session_lock(data_dir: &Path, id: &SessionId) -> PathBuf {
    sessions_dir(data_dir).join(format!("{}.lock", id.as_str()))
}

/// `data_dir/sessions/<id>.sock`, or `None` when the path is too long for a
/// Unix socket (then senders poll).
pub(crate) fn wake_socket(data_dir: &Path, id: &SessionId) -> Option<PathBuf> {
    let path = sessions_dir(data_dir).join(format!("{}.sock", id.as_str()));
    // sun_path holds 108 bytes including the terminating NUL.
    (path.as_os_str().len() < 108).then_some(path)
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
    use crate::platform::files::create_private_file;

    #[test]
    fn stored_ids_skip_what_is_not_a_session_store() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let a = SessionId::parse("a").unwrap();
        create_private_file(&session_store(&data, &a)).unwrap();
        fs::write(sessions_dir(&data).join("not valid!.db"), b"").unwrap();
        fs::write(sessions_dir(&data).join("notes.txt"), b"").unwrap();
        assert_eq!(stored_session_ids(&data).unwrap(), vec![a]);
        assert!(
            stored_session_ids(&tmp.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
