//! The route handlers, one file per group of the guide's API.

pub mod health;
pub mod inbound;
pub mod messages;
pub mod otp;
pub mod sessions;

/// A phone number (E.164 digits) as the WhatsApp JID the guide's server
/// answered with in `to` (`628123456789@s.whatsapp.net`).
pub fn jid(digits: &str) -> String {
    format!("{digits}@s.whatsapp.net")
}

/// The first of two optional fields that holds something besides blanks
/// (`to` or its alias `phone`, `message` or its alias `text`).
pub fn first_present(a: Option<String>, b: Option<String>) -> Option<String> {
    a.into_iter().chain(b).find(|v| !v.trim().is_empty())
}
