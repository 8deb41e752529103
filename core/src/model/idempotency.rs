//! Idempotency keys: one limit for every operation that takes one.

use crate::error::{Error, Result};

/// The longest idempotency key `send_text` and `send_otp` accept, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// Refuses an empty key or one longer than [`MAX_IDEMPOTENCY_KEY_LEN`] bytes.
pub(crate) fn check_idempotency_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(Error::InvalidArgument(format!(
            "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_limit_for_every_key() {
        assert!(check_idempotency_key(&"k".repeat(MAX_IDEMPOTENCY_KEY_LEN)).is_ok());
        for bad in [String::new(), "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1)] {
            let error = check_idempotency_key(&bad).unwrap_err();
            assert_eq!(error.code(), "INVALID_ARGUMENT");
            assert_eq!(
                error.to_string(),
                Error::InvalidArgument("idempotency_key must be 1 to 256 bytes".into()).to_string()
            );
        }
    }
}
