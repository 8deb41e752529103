//! OTP message templates: validation, default texts, rendering.
//!
//! A template is plain text with placeholders: `{OTP}` (required), `{COMPANY}`
//! and `{MINUTES}`. Rendering is a single left-to-right pass, so a company name
//! that itself contains `{OTP}` is copied literally and never expanded.
//! Unknown upper-case placeholders such as `{CODE}` are refused, because a typo
//! would otherwise reach the recipient verbatim.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Longest template accepted, in bytes (WhatsApp allows far more; an OTP
/// message that long is a mistake).
pub const MAX_TEMPLATE_LEN: usize = 4096;
/// Longest company name accepted, in characters.
pub const MAX_COMPANY_LEN: usize = 100;

/// Language of the default message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Locale {
    /// Bahasa Indonesia (the default, as in the reference guide).
    #[default]
    Id,
    /// English.
    En,
}

impl Locale {
    /// The BCP 47 language tag: `id` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Id => "id",
            Locale::En => "en",
        }
    }

    /// The default template of this locale for a validity of `minutes`.
    ///
    /// Both name the company, the validity and ask not to share the code; the
    /// code comes first so it shows in the notification preview.
    pub fn default_template(self, minutes: u64) -> &'static str {
        match self {
            Locale::Id => {
                "*{OTP}* adalah kode verifikasi {COMPANY} Anda. Kode ini berlaku selama \
                 {MINUTES} menit. Demi keamanan akun Anda, jangan berikan kode ini kepada \
                 siapa pun."
            }
            Locale::En if minutes == 1 => {
                "*{OTP}* is your {COMPANY} verification code. It is valid for {MINUTES} \
                 minute. For your security, do not share this code with anyone."
            }
            Locale::En => {
                "*{OTP}* is your {COMPANY} verification code. It is valid for {MINUTES} \
                 minutes. For your security, do not share this code with anyone."
            }
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Locale {
    type Err = Error;

    /// Reads `id`/`en`, case-insensitive, with or without a region (`en-US`, `id_ID`).
    fn from_str(s: &str) -> Result<Self> {
        let lang = s
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match lang.as_str() {
            "id" | "in" => Ok(Locale::Id),
            "en" => Ok(Locale::En),
            _ => Err(Error::InvalidArgument(format!(
                "unsupported locale `{s}`; use `id` or `en`"
            ))),
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Otp,
    Company,
    Minutes,
}

/// A checked template, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses and checks `text`: it must contain `{OTP}`, use no unknown
    /// placeholder, and be at most [`MAX_TEMPLATE_LEN`] bytes.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_TEMPLATE_LEN {
            return Err(Error::InvalidArgument(format!(
                "template is {} bytes; the limit is {MAX_TEMPLATE_LEN}",
                text.len()
            )));
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}');
            let name = close.map(|c| &after[..c]);
            let placeholder = match name {
                Some("OTP") => Some(Piece::Otp),
                Some("COMPANY") => Some(Piece::Company),
                Some("MINUTES") => Some(Piece::Minutes),
                Some(n) if looks_like_placeholder(n) => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown placeholder `{{{n}}}` in template; use {{OTP}}, {{COMPANY}} or {{MINUTES}}"
                    )));
                }
                _ => None,
            };
            match (placeholder, close) {
                (Some(p), Some(c)) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(p);
                    rest = &after[c + 1..];
                }
                _ => {
                    // A lone brace is ordinary text.
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if !pieces.contains(&Piece::Otp) {
            return Err(Error::InvalidArgument(
                "template must contain the {OTP} placeholder".into(),
            ));
        }
        Ok(Template { pieces })
    }

    /// The default template of `locale` for a validity of `minutes`.
    pub fn default_for(locale: Locale, minutes: u64) -> Self {
        // The built-in texts are known to be valid.
        Template::parse(locale.default_template(minutes)).unwrap_or_else(|_| Template {
            pieces: vec![Piece::Otp],
        })
    }

    /// Whether the template names the company (then a company name is required).
    pub fn uses_company(&self) -> bool {
        self.pieces.contains(&Piece::Company)
    }

    /// Renders the message for `code`, `company` and a validity of `ttl`.
    pub(crate) fn render(&self, code: &str, company: &str, ttl: Duration) -> String {
        let minutes = minutes_of(ttl).to_string();
        let mut out = String::with_capacity(160);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Otp => out.push_str(code),
                Piece::Company => out.push_str(company),
                Piece::Minutes => out.push_str(&minutes),
            }
        }
        out
    }
}

/// `{MINUTES}` for a validity: rounded to the nearest minute, at least 1, so a
/// 90-second code does not claim 1 minute less than it has by much, and a
/// 30-second code does not read "0 minutes".
pub fn minutes_of(ttl: Duration) -> u64 {
    ((ttl.as_secs() + 30) / 60).max(1)
}

/// An upper-case identifier between braces is meant as a placeholder.
fn looks_like_placeholder(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        && name.as_bytes()[0].is_ascii_uppercase()
}

/// Trims and checks a company name: not blank (when `required`), at most
/// [`MAX_COMPANY_LEN`] characters, no control characters (a newline in a
/// company name could forge extra lines in the message).
pub fn check_company(name: &str, required: bool) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        if required {
            return Err(Error::InvalidArgument(
                "company_name is required and must not be empty".into(),
            ));
        }
        return Ok(String::new());
    }
    if name.chars().count() > MAX_COMPANY_LEN {
        return Err(Error::InvalidArgument(format!(
            "company_name is longer than {MAX_COMPANY_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(
            "company_name must not contain control characters or line breaks".into(),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn template_without_otp_is_invalid_argument() {
        for t in [
            "Your code",
            "",
            "{otp}",
            "{OTP",
            "OTP}",
            "{COMPANY} {MINUTES}",
        ] {
            let e = Template::parse(t).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT");
            assert!(e.to_string().contains("{OTP}"), "{e}");
        }
    }

    #[test]
    fn unknown_placeholder_is_refused_but_lone_braces_are_text() {
        let e = Template::parse("{CODE} {OTP}").unwrap_err();
        assert!(e.to_string().contains("{CODE}"), "{e}");
        let t = Template::parse("a { b } {x} {OTP} {").unwrap();
        assert_eq!(t.render("123456", "", FIVE_MIN), "a { b } {x} 123456 {");
    }

    #[test]
    fn renders_all_placeholders_in_one_pass() {
        let t = Template::parse("{COMPANY}: {OTP} ({MINUTES} min) {OTP}").unwrap();
        assert_eq!(
            t.render("0042", "PT. {OTP}", FIVE_MIN),
            "PT. {OTP}: 0042 (5 min) 0042"
        );
        assert!(t.uses_company());
        assert!(!Template::parse("{OTP}").unwrap().uses_company());
    }

    #[test]
    fn default_messages_name_company_validity_and_warning() {
        let id = Template::default_for(Locale::Id, 5).render("123456", "PT. Contoh", FIVE_MIN);
        assert!(id.contains("123456") && id.contains("PT. Contoh") && id.contains("5 menit"));
        assert!(id.contains("jangan berikan kode ini"));
        let en = Template::default_for(Locale::En, 5).render("123456", "Acme", FIVE_MIN);
        assert!(
            en.contains("Acme")
                && en.contains("5 minutes")
                && en.contains("do not share this code")
        );
        let one =
            Template::default_for(Locale::En, 1).render("1234", "Acme", Duration::from_secs(60));
        assert!(one.contains("1 minute."), "{one}");
    }

    #[test]
    fn locale_parsing() {
        assert_eq!("EN-us".parse::<Locale>().unwrap(), Locale::En);
        assert_eq!("id_ID".parse::<Locale>().unwrap(), Locale::Id);
        assert_eq!(Locale::default(), Locale::Id);
        assert_eq!(
            "fr".parse::<Locale>().unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn company_checks() {
        assert_eq!(
            check_company("  ", true).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert!(
            check_company("", true)
                .unwrap_err()
                .to_string()
                .contains("company_name")
        );
        assert_eq!(check_company("", false).unwrap(), "");
        assert_eq!(check_company(" PT. Contoh ", true).unwrap(), "PT. Contoh");
        assert!(check_company("a\nb", true).is_err());
        assert!(check_company(&"x".repeat(101), true).is_err());
    }

    #[test]
    fn minutes_rounding() {
        assert_eq!(minutes_of(Duration::from_secs(300)), 5);
        assert_eq!(minutes_of(Duration::from_secs(30)), 1);
        assert_eq!(minutes_of(Duration::from_secs(89)), 1);
        assert_eq!(minutes_of(Duration::from_secs(90)), 2);
    }

    #[test]
    fn oversized_template_is_refused() {
        let t = format!("{{OTP}}{}", "x".repeat(MAX_TEMPLATE_LEN));
        assert_eq!(Template::parse(&t).unwrap_err().code(), "INVALID_ARGUMENT");
    }
}
