//! The token a user sends back from WhatsApp to prove they hold the account.
//!
//! Eight characters of Crockford's base32 (40 bits from the OS CSPRNG),
//! shown as two groups of four: `K7QF-M2XD`. The alphabet has no `I`, `L`,
//! `O` or `U`, so nothing in it looks like something else; reading a
//! message, `O` counts as `0` and `I`/`L` as `1`, and case is ignored, so a
//! token retyped by hand, or changed by a keyboard's autocorrect to lower
//! case, still matches.
//!
//! Found in a message as one word of eight characters or as two words of
//! four joined by a dash, a space, a dot or an underscore. Only those few
//! candidates are looked up, so a long message costs a scan, not a lookup
//! per position.

use crate::error::{Error, Result};

/// Crockford's base32 alphabet: digits and upper-case letters without
/// `I`, `L`, `O` and `U`.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a token (5 bits each: 40 bits).
pub const TOKEN_CHARS: usize = 8;

/// Characters in each of the two groups a token is shown in.
const GROUP: usize = TOKEN_CHARS / 2;

/// A token in canonical form: [`TOKEN_CHARS`] characters of the alphabet,
/// no separator. It is a secret until it is used: `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InboundToken(String);

impl std::fmt::Debug for InboundToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InboundToken(<redacted>)")
    }
}

impl InboundToken {
    /// A fresh token from the OS random source (never a weaker fallback).
    pub(crate) fn generate() -> Result<InboundToken> {
        let mut bytes = [0u8; TOKEN_CHARS];
        getrandom::fill(&mut bytes).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "OS random source failed: {e}"
            )))
        })?;
        // 32 divides 256: the low five bits of a uniform byte are uniform.
        let token = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        Ok(InboundToken(token))
    }

    /// The token as the user sees it: `K7QF-M2XD`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..GROUP], &self.0[GROUP..])
    }

    /// The canonical characters, what the store's MAC is taken of.
    pub(crate) fn canonical(&self) -> &str {
        &self.0
    }

    /// Parses a token as a user may type it (`k7qf-m2xd`, `K7QF M2XD`,
    /// `K7QFM2XD`). Fails with `INVALID_ARGUMENT` for anything else.
    pub fn parse(text: &str) -> Result<InboundToken> {
        match candidates(text).as_slice() {
            [only] if text.trim().chars().count() <= TOKEN_CHARS + 1 => Ok(only.clone()),
            _ => Err(Error::InvalidArgument(format!(
                "a token is {TOKEN_CHARS} characters of 0-9 and A-Z (two groups of {GROUP})"
            ))),
        }
    }
}

/// The canonical character for `c` read from a message, if it is one.
fn canonical_char(c: u8) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    let mapped = match upper {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET.contains(&mapped).then_some(mapped)
}

/// `word` in canonical form if every character is one of the alphabet's.
fn canonical_word(word: &[u8]) -> Option<String> {
    word.iter()
        .map(|&c| canonical_char(c).map(char::from))
        .collect()
}

/// Whether the bytes between two words join them into one token.
fn joins(between: &[u8]) -> bool {
    matches!(between, [b'-' | b' ' | b'.' | b'_'])
}

/// The tokens a message may carry, in order, without repeats: each word of
/// eight alphabet characters, and each pair of four-character words with a
/// single joining character between them.
pub(crate) fn candidates(text: &str) -> Vec<InboundToken> {
    let bytes = text.as_bytes();
    // Words: maximal runs of ASCII letters and digits, as byte ranges (a
    // multi-byte character is never part of one, so slicing stays on
    // character boundaries).
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in bytes.iter().enumerate() {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, bytes.len()));
    }
    let mut found: Vec<InboundToken> = Vec::new();
    let mut add = |token: String| {
        let token = InboundToken(token);
        if !found.contains(&token) {
            found.push(token);
        }
    };
    for (n, &(s, e)) in words.iter().enumerate() {
        if e - s == TOKEN_CHARS {
            if let Some(token) = canonical_word(&bytes[s..e]) {
                add(token);
            }
        } else if e - s == GROUP
            && let Some(&(s2, e2)) = words.get(n + 1)
            && e2 - s2 == GROUP
            && joins(&bytes[e..s2])
            && let (Some(a), Some(b)) =
                (canonical_word(&bytes[s..e]), canonical_word(&bytes[s2..e2]))
        {
            add(a + &b);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_token_is_eight_characters_of_the_alphabet_shown_in_two_groups() {
        let token = InboundToken::generate().unwrap();
        assert_eq!(token.canonical().len(), TOKEN_CHARS);
        assert!(token.canonical().bytes().all(|c| ALPHABET.contains(&c)));
        let shown = token.display();
        assert_eq!(shown.len(), TOKEN_CHARS + 1);
        assert_eq!(&shown[4..5], "-");
        assert_eq!(format!("{token:?}"), "InboundToken(<redacted>)");
    }

    #[test]
    fn tokens_differ() {
        let a: Vec<_> = (0..64).map(|_| InboundToken::generate().unwrap()).collect();
        for (i, t) in a.iter().enumerate() {
            assert!(
                !a[i + 1..].contains(t),
                "a repeat among 64 tokens of 40 bits"
            );
        }
    }

    #[test]
    fn found_in_a_message_however_it_was_typed() {
        let want = InboundToken("K7QFM2XD".into());
        for text in [
            "Kode masuk: K7QF-M2XD",
            "kode masuk k7qf-m2xd",
            "K7QF M2XD",
            "K7QFM2XD.",
            "(K7QF_M2XD)",
            "K7QF.M2XD 👍",
            "🔐K7QF-M2XD🔐",
        ] {
            assert_eq!(candidates(text), vec![want.clone()], "{text}");
        }
        // Look-alikes read as the alphabet's characters.
        assert_eq!(
            candidates("AB0I-LCDE"),
            vec![InboundToken("AB011CDE".into())]
        );
        assert_eq!(
            InboundToken::parse(" k7qf-m2xd ").unwrap(),
            InboundToken("K7QFM2XD".into())
        );
    }

    #[test]
    fn not_found_where_it_is_not() {
        for text in [
            "",
            "Halo, saya mau masuk",
            "K7QF--M2XD",
            "K7QF-M2X",
            "K7QF-M2XDZ",
            "K7QFM2XDZ",
            "UUUU-UUUU",
            "K7QF\u{a0}M2XD",
        ] {
            assert!(candidates(text).is_empty(), "{text:?}");
        }
        for text in ["", "K7QF", "K7QF-M2XD extra", "K7QF-M2XD K7QF-M2XE"] {
            assert!(InboundToken::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn several_candidates_in_order_without_repeats() {
        let found = candidates("AAAA-BBBB or CCCCDDDD, again AAAABBBB");
        let canon: Vec<&str> = found.iter().map(InboundToken::canonical).collect();
        assert_eq!(canon, ["AAAABBBB", "CCCCDDDD"]);
    }

    proptest! {
        #[test]
        fn a_shown_token_is_found_in_any_text_around_it(
            before in "[^A-Za-z0-9]{0,3}\\PC{0,40}[ \n:]",
            after in "[ \n.!?]\\PC{0,40}",
        ) {
            let token = InboundToken::generate().unwrap();
            let text = format!("{before}{}{after}", token.display());
            prop_assert!(candidates(&text).contains(&token), "{text:?}");
        }

        #[test]
        fn any_text_is_scanned_without_a_panic(text in "\\PC{0,200}") {
            for token in candidates(&text) {
                prop_assert_eq!(token.canonical().len(), TOKEN_CHARS);
            }
        }
    }
}
