//! Phone number normalisation.
//!
//! Callers write numbers the way their users do: `08123456789` (local, with the
//! trunk `0`), `+62 812-3456-789`, `6281234567890`, or any other country's
//! E.164 number. WhatsApp addresses a user by the E.164 digits without `+`,
//! so every entry point turns its input into that form here, once.
//!
//! Parsing and validation are libphonenumber's rules (the `phonenumber` crate),
//! not hand-written prefixes: a number that is not a possible number of its
//! country is refused with `INVALID_PHONE` before anything is sent.

use phonenumber::Mode;
use phonenumber::country;
use phonenumber::metadata::DATABASE;

use crate::error::{Error, Result};

/// The longest input we look at; anything longer is garbage, not a phone number.
const MAX_INPUT_LEN: usize = 64;

/// Turns a phone number as a user typed it into E.164 digits without `+`
/// (e.g. `"6281234567890"`).
///
/// `default_country_code` (e.g. `62`) is the country of numbers written in
/// local form with a leading `0`. Numbers without `+` or `0` are read as
/// already carrying their country code.
pub fn normalize(input: &str, default_country_code: u16) -> Result<String> {
    let invalid = |why: &str| Error::InvalidPhone(format!("{why}: {:?}", truncate(input)));
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty"));
    }
    if trimmed.len() > MAX_INPUT_LEN {
        return Err(invalid("too long"));
    }
    // Keep digits and a leading `+`; allow the usual separators, refuse anything else
    // (letters would otherwise be read as vanity numbers by libphonenumber).
    let mut cleaned = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => cleaned.push(c),
            '+' if i == 0 => cleaned.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(invalid("unexpected character")),
        }
    }
    let digits = cleaned.trim_start_matches('+');
    if digits.is_empty() {
        return Err(invalid("no digits"));
    }

    let parsed = if cleaned.starts_with('+') {
        phonenumber::parse(None, &cleaned)
    } else if let Some(international) = digits.strip_prefix("00") {
        phonenumber::parse(None, format!("+{international}"))
    } else if digits.starts_with('0') {
        let region = region_of(default_country_code).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown default country code {default_country_code}"
            ))
        })?;
        phonenumber::parse(Some(region), digits)
    } else {
        phonenumber::parse(None, format!("+{digits}"))
    }
    .map_err(|_| invalid("not a phone number"))?;

    if !parsed.is_valid() {
        return Err(invalid("not a valid number for its country"));
    }
    let e164 = parsed.format().mode(Mode::E164).to_string();
    Ok(e164.trim_start_matches('+').to_owned())
}

/// The main region of a calling code (`62` → `ID`).
fn region_of(calling_code: u16) -> Option<country::Id> {
    let regions = DATABASE.region(&calling_code)?;
    regions.first()?.parse().ok()
}

/// Error messages quote the input, but never an unbounded amount of it.
fn truncate(input: &str) -> String {
    input.chars().take(MAX_INPUT_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        for input in [
            "08123456789",
            "+62 812-3456-789",
            "628123456789",
            "0812 3456 789",
            "(0812) 3456-789",
        ] {
            assert_eq!(normalize(input, 62).unwrap(), "628123456789", "{input}");
        }
        assert_eq!(normalize("6281234567890", 62).unwrap(), "6281234567890");
    }

    #[test]
    fn reads_other_countries() {
        assert_eq!(normalize("+1 650-253-0000", 62).unwrap(), "16502530000");
        assert_eq!(normalize("+44 7911 123456", 62).unwrap(), "447911123456");
        assert_eq!(normalize("0044 7911 123456", 62).unwrap(), "447911123456");
        // The default country decides what a leading 0 means.
        assert_eq!(normalize("07911 123456", 44).unwrap(), "447911123456");
    }

    #[test]
    fn refuses_garbage_with_invalid_phone() {
        for input in [
            "",
            "   ",
            "hello",
            "0812abc",
            "+",
            "12",
            "++628123456789",
            "08",
            &"9".repeat(80),
        ] {
            let err = normalize(input, 62).unwrap_err();
            assert_eq!(err.code(), "INVALID_PHONE", "{input:?} gave {err}");
        }
    }

    #[test]
    fn unknown_default_country_is_an_argument_error() {
        assert_eq!(
            normalize("08123456789", 999).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }
}
