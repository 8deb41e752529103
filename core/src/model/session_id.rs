//! Session ids: validated once, so they can safely name files.

use std::fmt;

use crate::error::{Error, Result};

/// The longest id accepted.
pub const MAX_LEN: usize = 64;

/// A validated session id: 1 to 64 characters of `[A-Za-z0-9_-]`.
///
/// Ids become file names (`sessions/<id>.db`); the character set rules out
/// path separators, `..` and anything a shell or URL would treat specially.
///
/// As JSON it is a string, checked again when read back.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct SessionId(String);

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl TryFrom<String> for SessionId {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self> {
        SessionId::parse(&raw)
    }
}

impl SessionId {
    /// Checks `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::InvalidSessionId("empty".into()));
        }
        if raw.len() > MAX_LEN {
            return Err(Error::InvalidSessionId(format!(
                "{} characters, at most {MAX_LEN} allowed",
                raw.chars().count()
            )));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(Error::InvalidSessionId(format!(
                "character {bad:?} not allowed (use A-Z, a-z, 0-9, _ and -)"
            )));
        }
        Ok(SessionId(raw.to_owned()))
    }

    /// A fresh id of the form `session_<uuid>`.
    pub fn generate() -> Self {
        SessionId(format!("session_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "my-session", "Session_01", &"x".repeat(64)] {
            assert_eq!(SessionId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_paths_and_odd_lengths() {
        for bad in [
            "",
            "../x",
            "a/b",
            "a b",
            "é",
            "x.db",
            &"x".repeat(65),
            "a\0b",
        ] {
            assert_eq!(
                SessionId::parse(bad).unwrap_err().code(),
                "INVALID_SESSION_ID",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("session_"));
        SessionId::parse(a.as_str()).unwrap();
    }
}
