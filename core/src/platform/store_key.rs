//! The key that encrypts the session stores at rest (SQLCipher).
//!
//! A session's store (`sessions/<id>.db`) holds the linked account's Signal
//! identity and Noise keys: whoever copies the file can act as the linked
//! device. With a [`StoreKey`] every session store is an SQLCipher database
//! (AES-256, every page authenticated), opened with the key as the first
//! statement of each connection. The key is raw (32 bytes, used as is), so
//! opening a connection costs no key derivation; it comes from the
//! application, like the OTP secret, and is never stored by waotp.
//!
//! SQLCipher replaces SQLite in the build when waotp's `sqlcipher` feature
//! is on (one SQLite for the whole process: whatsapp-rust's store, the OTP
//! store and `shared.db` all use it; without a key SQLCipher reads and
//! writes plain SQLite files). A key given to a build without it is refused
//! when the gateway opens, rather than silently ignored.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Bytes of a store key: AES-256.
const KEY_BYTES: usize = 32;

/// The key of the session stores: 32 random bytes the application keeps
/// (a secret manager, a file readable only by the service), the same for
/// every process that opens the data dir. Not a passphrase: it is used as
/// is, so it must be random.
#[derive(Clone)]
pub struct StoreKey {
    bytes: [u8; KEY_BYTES],
}

impl StoreKey {
    /// A key from exactly 32 bytes; anything else is `INVALID_ARGUMENT`.
    pub fn from_bytes(bytes: &[u8]) -> Result<StoreKey> {
        let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| {
            Error::InvalidArgument(format!(
                "a session store key is {KEY_BYTES} random bytes, not {}",
                bytes.len()
            ))
        })?;
        Ok(StoreKey { bytes })
    }

    /// Reads a key file: 64 hex characters (surrounding whitespace
    /// ignored), e.g. written by `openssl rand -hex 32`. A file readable
    /// by others is made private.
    pub fn load(path: &std::path::Path) -> Result<StoreKey> {
        let bytes = crate::platform::secret_file::read_hex(path, "session store key")?;
        StoreKey::from_bytes(&bytes)
    }

    /// The statement that keys a connection; it must run before any other.
    /// (A raw key in SQLCipher's blob syntax: no key derivation.)
    pub(crate) fn pragma(&self) -> Zeroizing<String> {
        let hex: Zeroizing<String> =
            Zeroizing::new(self.bytes.iter().map(|b| format!("{b:02x}")).collect());
        Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex.as_str()))
    }

    /// Keys a fresh rusqlite connection.
    pub(crate) fn apply(&self, conn: &rusqlite::Connection) -> Result<()> {
        conn.execute_batch(&self.pragma())?;
        Ok(())
    }

    /// Refuses a key when the SQLite this process runs is not SQLCipher
    /// (waotp built without its `sqlcipher` feature): plain SQLite would
    /// ignore `PRAGMA key` and write the stores unencrypted.
    pub(crate) fn check_supported() -> Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        let version: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .ok();
        match version {
            Some(_) => {
                // SQLCipher writes its own log to stderr (a wrong key shows
                // as "hmac check failed"); waotp reports the same failure as
                // STORE_ERROR with its reason, and a library does not write
                // to its host's stderr. Process-wide, like the log itself.
                conn.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(()))?;
                Ok(())
            }
            None => Err(Error::InvalidArgument(
                "a session store key needs SQLCipher: build waotp with its `sqlcipher` feature"
                    .into(),
            )),
        }
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl Drop for StoreKey {
    fn drop(&mut self) {
        // The key does not outlive its holder in this struct's memory.
        self.bytes.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_32_bytes_and_never_shown() {
        assert_eq!(
            StoreKey::from_bytes(&[7; 31]).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        let key = StoreKey::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "StoreKey(..)");
        assert_eq!(
            key.pragma().as_str(),
            format!("PRAGMA key = \"x'{}'\";", "ab".repeat(32))
        );
    }

    #[test]
    fn the_linked_sqlite_decides_whether_a_key_works() {
        let result = StoreKey::check_supported();
        if cfg!(feature = "sqlcipher") {
            result.unwrap();
        } else {
            assert_eq!(result.unwrap_err().code(), "INVALID_ARGUMENT");
        }
    }
}
