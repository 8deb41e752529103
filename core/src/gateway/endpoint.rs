//! Which WhatsApp endpoint a build may talk to.
//!
//! A normal build talks only to WhatsApp's own endpoint and verifies its
//! certificate chain. A `sandbox` build (tests, the simulator, demos) skips
//! that verification, so it must never reach a real network: it accepts only
//! a `ws://` URL on a loopback address, and refuses everything else.

use crate::error::{Error, Result};

/// Checks an endpoint override against what this build allows, and returns the
/// URL to connect to (`None`: whatsapp-rust's default, WhatsApp itself).
pub(crate) fn resolve(endpoint: Option<&str>) -> Result<Option<String>> {
    resolve_for(endpoint, cfg!(feature = "sandbox"))
}

fn resolve_for(endpoint: Option<&str>, sandbox: bool) -> Result<Option<String>> {
    match (endpoint, sandbox) {
        (None, false) => Ok(None),
        (Some(_), false) => Err(Error::EndpointNotAllowed(
            "endpoint overrides exist only in sandbox builds (cargo feature `sandbox`)".into(),
        )),
        (None, true) => Err(Error::EndpointNotAllowed(
            "this is a sandbox build: it cannot talk to WhatsApp; set a loopback simulator endpoint"
                .into(),
        )),
        (Some(url), true) => {
            if is_loopback_ws(url) {
                Ok(Some(url.to_owned()))
            } else {
                Err(Error::EndpointNotAllowed(format!(
                    "sandbox builds accept only ws:// endpoints on a loopback address, not {url:?}"
                )))
            }
        }
    }
}

/// `ws://127.x.y.z[:port]/…`, `ws://[::1][:port]/…` or `ws://localhost[:port]/…`.
fn is_loopback_ws(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("ws://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the URL, a normal build refuses it, and a sandbox build
        /// takes it only as a `ws://` URL on a loopback address.
        #[test]
        fn only_loopback_ws_urls_pass(url in proptest::prelude::any::<String>(), tail in "[a-z0-9:/._-]{0,30}") {
            proptest::prop_assert!(resolve_for(Some(&url), false).is_err());
            if let Ok(Some(taken)) = resolve_for(Some(&url), true) {
                proptest::prop_assert_eq!(&taken, &url);
                proptest::prop_assert!(url.starts_with("ws://"));
            }
            for host in ["example.com", "10.0.0.1", "127.0.0.1.example.com", "localhost.example"] {
                let url = format!("ws://{host}/{tail}");
                proptest::prop_assert!(resolve_for(Some(&url), true).is_err(), "{}", url);
            }
        }
    }

    #[test]
    fn normal_builds_take_no_override() {
        assert_eq!(resolve_for(None, false).unwrap(), None);
        let err = resolve_for(Some("ws://127.0.0.1:1/ws/chat"), false).unwrap_err();
        assert_eq!(err.code(), "ENDPOINT_NOT_ALLOWED");
    }

    #[test]
    fn sandbox_builds_take_loopback_only() {
        for ok in [
            "ws://127.0.0.1:4000/ws/chat",
            "ws://localhost:1/ws/chat",
            "ws://[::1]:9/ws/chat",
            "ws://127.8.9.1/x",
        ] {
            assert_eq!(resolve_for(Some(ok), true).unwrap().as_deref(), Some(ok));
        }
        for bad in [
            "wss://web.whatsapp.com/ws/chat",
            "ws://10.0.0.1:80/ws/chat",
            "ws://127.0.0.1.evil.com/ws",
            "ws://user@127.0.0.1/ws",
            "ws://[::2]/ws",
            "http://127.0.0.1/ws",
            "",
        ] {
            assert_eq!(
                resolve_for(Some(bad), true).unwrap_err().code(),
                "ENDPOINT_NOT_ALLOWED",
                "{bad}"
            );
        }
        assert_eq!(
            resolve_for(None, true).unwrap_err().code(),
            "ENDPOINT_NOT_ALLOWED"
        );
    }
}
