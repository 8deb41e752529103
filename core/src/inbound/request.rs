//! What an application asks for when it starts an inbound verification.

use std::time::Duration;

use crate::error::{Error, Result};

use super::link::check_template;

/// Shortest validity accepted.
pub const MIN_TTL: Duration = Duration::from_secs(30);
/// Longest validity accepted.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
/// The default validity: long enough to switch to WhatsApp, or to scan the
/// link's QR code with a phone, and tap send.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Longest reply accepted, in bytes.
pub const MAX_REPLY_LEN: usize = 1000;

/// Options of one inbound verification. All optional: without an expected
/// number any sender approves it and is reported (login with WhatsApp).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundRequest {
    pub(crate) expected_phone: Option<String>,
    pub(crate) template: Option<String>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) reply: Option<String>,
}

impl InboundRequest {
    /// Defaults: any sender, the default text, [`DEFAULT_TTL`], no reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only a message from this number approves it (any phone form).
    pub fn expected_phone(mut self, phone: impl Into<String>) -> Self {
        self.expected_phone = Some(phone.into());
        self
    }

    /// The text the user sends; must contain `{TOKEN}` once (default:
    /// `Kode masuk: {TOKEN}`).
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// How long the token is accepted ([`MIN_TTL`]–[`MAX_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A text sent to the user once approved, in the chat they just opened
    /// (so it costs no new-chat quota). Off by default.
    pub fn reply(mut self, text: impl Into<String>) -> Self {
        self.reply = Some(text.into());
        self
    }

    /// Checks everything but the phone number (the gateway normalises it).
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(template) = &self.template {
            check_template(template)?;
        }
        if let Some(ttl) = self.ttl
            && !(MIN_TTL..=MAX_TTL).contains(&ttl)
        {
            return Err(Error::InvalidArgument(format!(
                "an inbound verification lasts {} to {} seconds, not {:?}",
                MIN_TTL.as_secs(),
                MAX_TTL.as_secs(),
                ttl
            )));
        }
        if let Some(reply) = &self.reply
            && (reply.trim().is_empty() || reply.len() > MAX_REPLY_LEN)
        {
            return Err(Error::InvalidArgument(format!(
                "the reply must be 1 to {MAX_REPLY_LEN} bytes of text"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_refused_with_invalid_argument() {
        assert!(InboundRequest::new().check().is_ok());
        for bad in [
            InboundRequest::new().template("no token"),
            InboundRequest::new().ttl(Duration::from_secs(5)),
            InboundRequest::new().ttl(Duration::from_secs(86_401)),
            InboundRequest::new().reply("  "),
            InboundRequest::new().reply("x".repeat(MAX_REPLY_LEN + 1)),
        ] {
            let e = bad.check().unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad:?}");
        }
    }
}
