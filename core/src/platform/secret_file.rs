//! Files that hold a secret as hex: the OTP secret (`data_dir/otp.secret`,
//! or the application's), a session store key.

use std::fs;
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Reads the secret at `path` (hex, surrounding whitespace ignored); `what`
/// names it in errors and logs. A file readable by others is made private.
pub(crate) fn read_hex(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let mut text = fs::read_to_string(path)?;
    tighten_permissions(path, what);
    let decoded = hex_decode(text.trim());
    text.zeroize();
    decoded
        .map(Zeroizing::new)
        .ok_or_else(|| Error::InvalidArgument(format!("{what} file {} is not hex", path.display())))
}

/// A secret file readable by others is repaired rather than refused: refusing
/// would take the service down over a permission bit.
#[cfg(unix)]
fn tighten_permissions(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            log::warn!(
                "{what} file {} had mode {:o}; setting it to 600",
                path.display(),
                mode & 0o777
            );
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        }
    }
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path, _what: &str) {}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// The bytes of hex `s` (either case); `None` if it is not hex.
pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&b)).unwrap(), b);
        assert_eq!(hex_decode("ABCD").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_is_read_and_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, " 0aFF\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            read_hex(&path, "test key").unwrap().as_slice(),
            &[0x0a, 0xff]
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::write(&path, "not hex").unwrap();
        let err = read_hex(&path, "test key").unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("test key file"), "{err}");
        assert!(err.to_string().ends_with("is not hex"), "{err}");
    }
}
