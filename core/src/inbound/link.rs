//! What the user is asked to send, and the `wa.me` link that opens WhatsApp
//! with it written out.
//!
//! `https://wa.me/<number>?text=<text>` opens a chat with the linked number
//! and the text prefilled, on a phone directly and on a desktop through the
//! link's QR code; the user only taps send. The text is percent-encoded
//! whole (every byte but ASCII letters and digits), so a template with `&`,
//! `#`, `+` or emoji survives the trip.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, Result};

use super::token::InboundToken;

/// The placeholder a template must contain.
pub const TOKEN_PLACEHOLDER: &str = "{TOKEN}";

/// Longest template accepted, in bytes (the text is typed into a link).
pub const MAX_TEMPLATE_LEN: usize = 500;

/// The default text: `Kode masuk: K7QF-M2XD`.
pub const DEFAULT_TEMPLATE: &str = "Kode masuk: {TOKEN}";

/// Checks an application's template: it must contain `{TOKEN}` exactly
/// once and be at most [`MAX_TEMPLATE_LEN`] bytes.
pub fn check_template(template: &str) -> Result<()> {
    if template.len() > MAX_TEMPLATE_LEN {
        return Err(Error::InvalidArgument(format!(
            "the inbound template is {} bytes; at most {MAX_TEMPLATE_LEN}",
            template.len()
        )));
    }
    if template.matches(TOKEN_PLACEHOLDER).count() != 1 {
        return Err(Error::InvalidArgument(format!(
            "the inbound template must contain {TOKEN_PLACEHOLDER} exactly once"
        )));
    }
    Ok(())
}

/// The text the user sends: the template with the token shown in it.
pub fn text(template: &str, token: &InboundToken) -> String {
    template.replacen(TOKEN_PLACEHOLDER, &token.display(), 1)
}

/// `https://wa.me/<digits>?text=<percent-encoded text>`; `number` is the
/// linked number's E.164 digits.
pub(crate) fn wa_me_link(number: &str, text: &str) -> String {
    format!(
        "https://wa.me/{number}?text={}",
        utf8_percent_encode(text, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use percent_encoding::percent_decode_str;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_link_opens_a_chat_with_the_text_written_out() {
        assert_eq!(
            wa_me_link("6281234567890", "Kode masuk: K7QF-M2XD"),
            "https://wa.me/6281234567890?text=Kode%20masuk%3A%20K7QF%2DM2XD"
        );
        assert_eq!(
            wa_me_link("62812", "a&b=c #1 +2 🔐"),
            "https://wa.me/62812?text=a%26b%3Dc%20%231%20%2B2%20%F0%9F%94%90"
        );
    }

    #[test]
    fn a_template_needs_the_token_once() {
        assert!(check_template(DEFAULT_TEMPLATE).is_ok());
        assert!(check_template("Login ke Toko Sehat: {TOKEN}").is_ok());
        for bad in ["Kode masuk", "{TOKEN} {TOKEN}", "{token}"] {
            assert!(check_template(bad).is_err(), "{bad}");
        }
        let long = format!("{}{TOKEN_PLACEHOLDER}", "x".repeat(MAX_TEMPLATE_LEN));
        assert!(check_template(&long).is_err());
    }

    proptest! {
        #[test]
        fn the_link_decodes_to_the_text(text in "\\PC{0,120}") {
            let link = wa_me_link("62812", &text);
            let query = link.strip_prefix("https://wa.me/62812?text=").unwrap();
            prop_assert!(query.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%'));
            prop_assert_eq!(percent_decode_str(query).decode_utf8().unwrap(), text);
        }
    }
}
