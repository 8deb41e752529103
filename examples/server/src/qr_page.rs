//! `GET /api/sessions/:id/qr-page`: an HTML page to scan a session's QR code.
//!
//! The page (`qr_page.html`) polls the session's status, shows each new QR
//! code as it rotates (no reload), switches to "connected" with the linked
//! account's name, and says when the codes expired, with a button for a fresh
//! one. It loads nothing from elsewhere (no external scripts, styles or
//! fonts), so it works offline; the Content-Security-Policy enforces that.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::envelope::ApiError;
use crate::html_page::{self, escape_html};

const TEMPLATE: &str = include_str!("qr_page.html");

/// The page for session `id`; a small HTML error page when there is none.
#[utoipa::path(get, path = "/api/sessions/{id}/qr-page", operation_id = "qrPage", tag = "sessions",
    params(
        ("id" = String, Path, description = "The session's id"),
        ("key" = Option<String>, Query, description = "The API key, when the server has one"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 404, description = "No such session (an HTML page)", content_type = "text/html"),
    ))]
pub async fn page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let html = match app.gateway.session(&id) {
        Ok(session) => Ok(TEMPLATE.replace("{{SESSION_ID}}", &escape_html(session.id()))),
        Err(e) => Err(ApiError::from(e)),
    };
    let response = match html {
        Ok(html) => Html(html).into_response(),
        Err(error) => (error.status, Html(error_page(&error.message))).into_response(),
    };
    html_page::secured(response)
}

fn error_page(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"id\"><head><meta charset=\"utf-8\">\
         <title>QR Code WhatsApp</title></head><body><h1>❌ {}</h1></body></html>",
        escape_html(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        // The one address on the page is a link the operator opens in
        // another tab (the passkey step), not something the page loads.
        let page = TEMPLATE.replace(
            "<a href=\"https://web.whatsapp.com\" target=\"_blank\" rel=\"noopener noreferrer\">\
             https://web.whatsapp.com</a>",
            "",
        );
        for needle in ["http://", "https://", "<link", "src=\"/", "@import", "url("] {
            assert!(!page.contains(needle), "page contains {needle}");
        }
    }

    #[test]
    fn the_page_writes_no_markup_from_data() {
        // The passkey snippet holds quotes and angle brackets: like every
        // value from the API it is set as text, never parsed as HTML.
        for needle in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!TEMPLATE.contains(needle), "page uses {needle}");
        }
    }
}
