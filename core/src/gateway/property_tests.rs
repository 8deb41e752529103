//! Property tests of what parses outside input: phone numbers, templates,
//! the coordination layer's JSON and sealed payloads, secret files, URLs.
//! Each runs a few hundred generated cases under `cargo test` (stable
//! toolchain); a failure prints the smallest input that breaks it.

use std::time::Duration;

use proptest::prelude::*;

use crate::coordination::{Command, OutboxKey, Outcome, Request, SharedStatus};
use crate::model::SessionId;
use crate::model::phone::normalize;
use crate::otp::{OtpSecret, Template};
use crate::platform::redact::url_without_credentials;

/// Phone numbers as people type them: an optional `+` or `0`, digits, and
/// the usual separators.
fn typed_phone() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("+"), Just("0"), Just("00")],
        proptest::collection::vec(
            (
                0u8..10,
                prop_oneof![Just(""), Just(" "), Just("-"), Just(".")],
            ),
            1..18,
        ),
    )
        .prop_map(|(prefix, parts)| {
            let mut s = prefix.to_owned();
            for (digit, separator) in parts {
                s.push(char::from(b'0' + digit));
                s.push_str(separator);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalize_never_panics_and_gives_5_to_15_digits(input in any::<String>(), cc in 1u16..1000) {
        if let Ok(digits) = normalize(&input, cc) {
            prop_assert!((5..=15).contains(&digits.len()), "{digits}");
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
        }
    }

    #[test]
    fn normalize_is_idempotent(input in typed_phone()) {
        if let Ok(once) = normalize(&input, 62) {
            prop_assert_eq!(normalize(&once, 62).unwrap(), once.clone());
            prop_assert_eq!(normalize(&format!("+{once}"), 62).unwrap(), once);
        }
    }

    #[test]
    fn template_parse_never_panics_and_renders_the_code(text in any::<String>(), code in "[0-9]{4,10}") {
        if let Ok(template) = Template::parse(&text) {
            let message = template.render(&code, "Toko", Duration::from_secs(300));
            prop_assert!(message.contains(&code), "{message:?}");
        }
    }

    #[test]
    fn a_template_renders_its_text_around_the_code(
        before in "[^{}]{0,40}",
        after in "[^{}]{0,40}",
        code in "[0-9]{6}",
    ) {
        let template = Template::parse(&format!("{before}{{OTP}}{after}")).unwrap();
        prop_assert_eq!(
            template.render(&code, "", Duration::from_secs(60)),
            format!("{before}{code}{after}")
        );
    }

    #[test]
    fn the_coordination_json_never_panics(text in any::<String>()) {
        let _ = Request::from_json(&text);
        let _ = Outcome::from_json(&text);
        let _ = SharedStatus::from_json(&text);
    }

    #[test]
    fn a_request_survives_its_trip_through_a_store(
        to in "[0-9]{5,15}",
        text in any::<String>(),
        message_id in "[0-9A-F]{8,32}",
        key in proptest::option::of("[a-zA-Z0-9_-]{1,64}"),
        expires in proptest::option::of(any::<u64>()),
    ) {
        let outbox = OutboxKey::derive(&[5; 32]);
        let session = SessionId::parse("shop").unwrap();
        let mut request = Request::new(
            &session,
            Command::SendText { to, text: text.clone(), message_id },
            key.as_deref(),
        );
        request.expires_at_ms = expires;
        let json = request.to_json().unwrap();
        let sealed = request.sealed_payload(&outbox).unwrap().unwrap();
        if text.len() >= 4 {
            prop_assert!(!json.contains(&text) && !sealed.contains(&text));
        }
        prop_assert_eq!(Request::from_stored(&json, Some(&sealed), &outbox).unwrap(), request);
    }

    #[test]
    fn opening_a_damaged_payload_never_panics(sealed in any::<String>(), tail in any::<Vec<u8>>()) {
        let outbox = OutboxKey::derive(&[6; 32]);
        let session = SessionId::parse("shop").unwrap();
        prop_assert!(outbox.open(&session, &sealed).is_err());
        use base64::Engine as _;
        let encoded = format!("v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tail));
        prop_assert!(outbox.open(&session, &encoded).is_err());
    }

    #[test]
    fn a_secret_file_loads_only_as_hex_of_16_bytes_or_more(content in any::<Vec<u8>>(), key in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otp.secret");
        std::fs::write(&path, &content).unwrap();
        let _ = OtpSecret::load(&path);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, format!("  {hex}\n")).unwrap();
        let loaded = OtpSecret::load(&path);
        prop_assert_eq!(loaded.is_ok(), key.len() >= 16);
        if let Ok(secret) = loaded {
            prop_assert_eq!(secret.as_bytes(), &key[..]);
        }
    }

    #[test]
    fn a_url_never_shows_its_password(
        scheme in "(redis|rediss|unix)",
        user in "[a-z]{0,8}",
        password in "[a-zA-Z0-9@:!#]{6,20}",
        host in "[a-z0-9.]{1,20}(:[0-9]{1,5})?(/[0-9])?",
    ) {
        let shown = url_without_credentials(&format!("{scheme}://{user}:{password}@{host}"));
        prop_assert!(!shown.contains(&password), "{shown}");
        prop_assert!(shown.ends_with(&format!("@{host}")), "{shown}");
    }
}
