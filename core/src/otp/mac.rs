//! The stored form of a code: `HMAC-SHA256(secret, recipient ‖ 0x00 ‖ code)`.
//!
//! The zero byte separates recipient and code so that no two different
//! (recipient, code) pairs feed the same bytes to the MAC ("1" + "23" and
//! "12" + "3" differ). Recipients are checked to contain no zero byte.
//! MACs are compared with [`subtle`] in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::secret::OtpSecret;

/// Length of a code MAC in bytes.
pub const MAC_LEN: usize = 32;

/// A code MAC as stored. Not secret by itself, but there is no reason to print it.
pub type CodeMac = [u8; MAC_LEN];

/// Computes code MACs with one secret.
///
/// The HMAC state after absorbing the key is computed once and cloned per MAC,
/// which halves the SHA-256 work of every issue and verify.
#[derive(Clone)]
pub(crate) struct CodeHasher {
    keyed: Hmac<Sha256>,
}

impl CodeHasher {
    pub(crate) fn new(secret: &OtpSecret) -> Self {
        // HMAC takes keys of any length, so this cannot fail; the fallback only
        // exists to avoid a panic path.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        CodeHasher { keyed }
    }

    /// The MAC of `code` for `recipient`.
    pub(crate) fn mac(&self, recipient: &str, code: &[u8]) -> CodeMac {
        let mut m = self.keyed.clone();
        m.update(recipient.as_bytes());
        m.update(&[0u8]);
        m.update(code);
        m.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHasher(<redacted>)")
    }
}

/// Constant-time equality of two MACs.
pub fn macs_equal(a: &CodeMac, b: &CodeMac) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> CodeHasher {
        CodeHasher::new(&OtpSecret::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap())
    }

    #[test]
    fn separator_keeps_recipient_and_code_apart() {
        let h = hasher();
        assert!(!macs_equal(&h.mac("1", b"23"), &h.mac("12", b"3")));
        assert!(macs_equal(
            &h.mac("62812", b"123456"),
            &h.mac("62812", b"123456")
        ));
        assert!(!macs_equal(
            &h.mac("62812", b"123456"),
            &h.mac("62813", b"123456")
        ));
    }

    #[test]
    fn matches_a_plain_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = CodeHasher::new(&OtpSecret(b"Jefe".to_vec()));
        let mut m = h.keyed.clone();
        m.update(b"what do ya want for nothing?");
        let out: [u8; 32] = m.finalize().into_bytes().into();
        assert_eq!(
            out[..4],
            [0x5b, 0xdc, 0xc1, 0x46],
            "HMAC-SHA256 does not match RFC 4231"
        );
    }

    #[test]
    fn different_secrets_give_different_macs() {
        let other = CodeHasher::new(&OtpSecret::from_bytes(&[9u8; 32]).unwrap());
        assert!(!macs_equal(
            &hasher().mac("1", b"1234"),
            &other.mac("1", b"1234")
        ));
    }
}
