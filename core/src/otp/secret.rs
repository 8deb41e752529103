//! The HMAC secret that turns codes into stored MACs.
//!
//! Stores keep only `HMAC-SHA256(secret, recipient ‖ 0 ‖ code)`, never a code.
//! A MAC of a 6-digit code without the secret is worthless to someone who
//! reads the database, because the million candidates cannot be tried offline.
//! The secret is generated once into a file that only the owner can read
//! (`data_dir/otp.secret`, mode 0600, 64 hex characters) or supplied by the
//! application (for example shared by several instances behind one store).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::platform::secret_file::{hex_encode, read_hex};

/// File name of the secret inside a data dir.
pub const SECRET_FILE_NAME: &str = crate::platform::layout::OTP_SECRET_FILE;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// Length of a generated secret, in bytes.
pub const GENERATED_SECRET_LEN: usize = 32;

/// The HMAC key of the OTP engine. `Debug` never shows it; dropped copies are wiped.
#[derive(Clone)]
pub struct OtpSecret(pub(super) Vec<u8>);

impl OtpSecret {
    /// A fresh random secret from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut key = vec![0u8; GENERATED_SECRET_LEN];
        getrandom::fill(&mut key).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "OS random source failed: {e}"
            )))
        })?;
        Ok(OtpSecret(key))
    }

    /// The key bytes, for storing a shared secret (never for logs).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A secret supplied by the application; at least 16 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::InvalidArgument(format!(
                "OTP secret must be at least {MIN_SECRET_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(OtpSecret(bytes.to_vec()))
    }

    /// Reads the secret at `path`, or creates it (random, mode 0600) if the file
    /// does not exist.
    ///
    /// Creation is atomic: the key is written to a temporary file that is then
    /// hard-linked to `path`, which fails if another process won the race, in
    /// which case that process's secret is read. Nobody ever reads half a key.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match Self::load(path) {
            Ok(s) => return Ok(s),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let secret = Self::generate()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{SECRET_FILE_NAME}.{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let result = (|| -> Result<()> {
            let mut f = create_private(&tmp)?;
            let mut text = hex_encode(&secret.0);
            text.push('\n');
            let written = f.write_all(text.as_bytes()).and_then(|_| f.sync_all());
            text.zeroize();
            written?;
            fs::hard_link(&tmp, path)?;
            Ok(())
        })();
        let _ = fs::remove_file(&tmp);
        match result {
            Ok(()) => Ok(secret),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(e),
        }
    }

    /// Reads an existing secret file (hex, surrounding whitespace ignored).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_hex(path, "OTP secret")?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpSecret(<redacted>)")
    }
}

impl Drop for OtpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(SECRET_FILE_NAME);
        let a = OtpSecret::load_or_create(&path).unwrap();
        let b = OtpSecret::load_or_create(&path).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), GENERATED_SECRET_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No temporary files left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE_NAME);
        fs::write(&path, hex_encode(&[7u8; 32])).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let s = OtpSecret::load_or_create(&path).unwrap();
        assert_eq!(s.as_bytes(), &[7u8; 32]);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn debug_is_redacted_and_short_or_bad_secrets_refused() {
        let s = OtpSecret::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "OtpSecret(<redacted>)");
        assert_eq!(
            OtpSecret::from_bytes(&[1; 8]).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE_NAME);
        fs::write(&path, "not hex at all").unwrap();
        assert_eq!(
            OtpSecret::load(&path).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }
}
