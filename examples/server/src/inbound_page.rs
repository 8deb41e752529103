//! `GET /api/otp/inbound-page?sessionId=&phoneNumber=`: an HTML page for
//! inbound verification ("Masuk dengan WhatsApp").
//!
//! The page (`inbound_page.html`) starts a verification itself (the token
//! exists only in that answer: the server stores its MAC), shows the
//! `wa.me` link as a button and its QR code, polls the status, and turns to
//! "verified" with the sender's number by itself. Both query fields are
//! optional (no session: every session; no phone: any sender, login with
//! WhatsApp). It loads nothing from elsewhere, under the same
//! Content-Security-Policy as the QR page; an API key is passed as
//! `?key=`, as for the QR page.

use axum::extract::RawQuery;
use axum::response::{Html, IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::html_page::{self, escape_html};

const TEMPLATE: &str = include_str!("inbound_page.html");

/// The percent-decoded value of `name` in a query string (`+` stays a
/// plus: it starts phone numbers).
fn query_value(query: Option<&str>, name: &str) -> String {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| percent_decode_str(v).decode_utf8_lossy().into_owned())
        .unwrap_or_default()
}

/// The page; what it starts is checked when it starts it (an unknown
/// session or a bad number shows as an error on the page).
#[utoipa::path(get, path = "/api/otp/inbound-page", operation_id = "inboundPage", tag = "inbound",
    params(
        ("sessionId" = Option<String>, Query, description = "The session the user writes to (default: the pool of every session)"),
        ("phoneNumber" = Option<String>, Query, description = "The number expected to write (default: any; the page shows who did)"),
        ("key" = Option<String>, Query, description = "The API key, when the server has one"),
    ),
    responses((status = 200, description = "The page", content_type = "text/html")))]
pub async fn page(RawQuery(query): RawQuery) -> Response {
    let html = TEMPLATE
        .replace(
            "{{SESSION_ID}}",
            &escape_html(&query_value(query.as_deref(), "sessionId")),
        )
        .replace(
            "{{PHONE}}",
            &escape_html(&query_value(query.as_deref(), "phoneNumber")),
        );
    html_page::secured(Html(html).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Some("sessionId=a%22%3E%3Cb&phoneNumber=+6281&key=k");
        assert_eq!(query_value(q, "sessionId"), "a\"><b");
        assert_eq!(query_value(q, "phoneNumber"), "+6281");
        assert_eq!(query_value(q, "nope"), "");
        assert_eq!(query_value(None, "sessionId"), "");
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for needle in ["http://", "https://", "<link", "src=\"", "@import", "url("] {
            assert!(!TEMPLATE.contains(needle), "page contains {needle}");
        }
    }
}
