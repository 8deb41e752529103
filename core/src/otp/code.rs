//! Values that carry a code: they never show it by accident.
//!
//! [`OtpCode`] and [`OtpMessage`] print `<redacted>` in `Debug` and `Display`, so
//! a stray `{:?}` in a log line, an error or a panic message cannot leak the
//! code. Reading the value takes an explicit [`OtpCode::expose`]. Both are wiped
//! from memory when dropped.

use std::fmt;

use zeroize::Zeroize;

/// A one-time password: ASCII digits, leading zeros kept.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// Wraps digits produced by the generator (crate-internal: callers get codes
    /// only from [`generate_otp`](super::generate_otp) or the engine).
    pub(crate) fn from_digits(digits: String) -> Self {
        OtpCode(digits)
    }

    /// The digits. Call this only where the code must leave the process (the
    /// message to the recipient, or `reveal_code`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a code has at least 4 digits. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtpCode(<redacted {} digits>)", self.0.len())
    }
}

impl fmt::Display for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for OtpCode {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The rendered text of an OTP message; it contains the code, so it is
/// redacted like [`OtpCode`].
#[derive(Clone, PartialEq, Eq)]
pub struct OtpMessage(String);

impl OtpMessage {
    pub(crate) fn new(text: String) -> Self {
        OtpMessage(text)
    }

    /// The text to send to the recipient.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtpMessage(<redacted {} bytes>)", self.0.len())
    }
}

impl fmt::Display for OtpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for OtpMessage {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_code() {
        let c = OtpCode::from_digits("048213".into());
        assert_eq!(c.expose(), "048213");
        assert!(!format!("{c:?} {c} {c:#?}").contains("048213"));
        let m = OtpMessage::new("code 048213".into());
        assert!(!format!("{m:?} {m}").contains("048213"));
    }
}
