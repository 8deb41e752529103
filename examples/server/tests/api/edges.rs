//! What surrounds the routes: malformed and oversized bodies, unknown
//! routes, health and metrics, the API key, CORS and the QR page's HTML.

use serde_json::json;
use waotp_server::Settings;
use waotp_server::json_body::MAX_BODY_BYTES;

use crate::harness::{Options, Server, assert_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_wrongly_typed_and_oversized_bodies() {
    let server = Server::start().await;
    let json_type = [("Content-Type", "application/json")];
    for body in ["{", "[1,2", "{\"sessionId\": 42}", "null x"] {
        let reply = server
            .request(
                "POST",
                "/api/sessions/create",
                &json_type,
                Some(body.into()),
            )
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        let json = reply.json();
        assert_eq!(json["success"], false);
        assert_eq!(json["error"], "INVALID_ARGUMENT");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .starts_with("Format JSON tidak valid"),
            "{json}"
        );
    }
    assert_error(
        &server
            .request(
                "POST",
                "/api/otp/verify",
                &[("Content-Type", "text/plain")],
                Some("{\"phoneNumber\":\"1\",\"otp\":\"1\"}".into()),
            )
            .await,
        415,
        "INVALID_ARGUMENT",
        "Content-Type harus application/json",
    );
    let huge = json!({ "to": "6281234567890", "message": "x".repeat(MAX_BODY_BYTES) });
    assert_error(
        &server.post("/api/messages/any/text", huge).await,
        413,
        "INVALID_ARGUMENT",
        &format!("Body permintaan terlalu besar (maksimal {MAX_BODY_BYTES} byte)"),
    );
    assert_eq!(server.get("/api/sessions").await.data(200)["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_health_and_metrics() {
    let server = Server::start().await;
    let unknown = server.get("/api/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "Not Found");
    assert_eq!(unknown.json()["message"], "Endpoint tidak ditemukan");
    let wrong_method = server.delete("/api/health").await;
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.text);
    assert_eq!(wrong_method.json()["success"], false);

    let health = server.get("/api/health").await;
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "OK");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(body["uptime"].as_f64().unwrap() >= 0.0);
    assert!(body.get("success").is_none(), "the guide's shape: {body}");

    // A verification shows up in the metrics.
    server
        .post(
            "/api/otp/verify",
            json!({ "phoneNumber": "6281234567890", "otp": "123456" }),
        )
        .await;
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        metrics.headers
    );
    assert!(metrics.text.contains("# TYPE"), "{}", metrics.text);
    assert!(metrics.text.contains("not_found"), "{}", metrics.text);
    // Without a key, other origins' pages may not read answers.
    assert_eq!(health.header("access-control-allow-origin"), None);
}

const KEY: &str = "test-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_required_when_the_server_has_one() {
    let server = Server::start_with(Options {
        settings: Settings {
            api_key: Some(KEY.into()),
            ..Settings::default()
        },
        ..Options::default()
    })
    .await;
    let refused =
        "API key tidak valid atau tidak ada (gunakan header X-API-Key atau Authorization: Bearer)";
    for headers in [
        vec![("X-API-Key", "")],
        vec![("X-API-Key", "wrong-key-0123456789")],
        vec![("Authorization", "Bearer wrong-key-0123456789")],
        vec![("Authorization", "Basic dGVzdA==")],
    ] {
        let reply = server.request("GET", "/api/sessions", &headers, None).await;
        assert_error(&reply, 401, "UNAUTHORIZED", refused);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    let bearer = format!("Bearer {KEY}");
    for headers in [
        vec![("X-API-Key", KEY)],
        vec![("Authorization", bearer.as_str())],
    ] {
        let reply = server.request("GET", "/api/sessions", &headers, None).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    // Health stays open for load balancers; metrics do not.
    let no_key = [("Authorization", "none")];
    assert_eq!(
        server
            .request("GET", "/api/health", &no_key, None)
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .request("GET", "/metrics", &no_key, None)
            .await
            .status,
        401
    );
    // The QR page is opened by a browser: it may carry the key in its address.
    server
        .post("/api/sessions/create", json!({ "sessionId": "web" }))
        .await
        .data(201);
    let page = server
        .request("GET", "/api/sessions/web/qr-page", &no_key, None)
        .await;
    assert_eq!(page.status, 401);
    let page = server
        .request(
            "GET",
            &format!("/api/sessions/web/qr-page?key={KEY}"),
            &no_key,
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    // A key in the query opens nothing else.
    let other = server
        .request("GET", &format!("/api/sessions?key={KEY}"), &no_key, None)
        .await;
    assert_eq!(other.status, 401);

    // A browser's preflight carries no key.
    let preflight = server
        .request(
            "OPTIONS",
            "/api/messages/web/otp",
            &[
                ("Authorization", "none"),
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type, x-api-key"),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, 204, "{}", preflight.text);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-api-key"), "{allowed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_page_is_self_contained_and_escaped() {
    let server = Server::start().await;
    server
        .post("/api/sessions/create", json!({ "sessionId": "shop-1" }))
        .await
        .data(201);
    let page = server.get("/api/sessions/shop-1/qr-page").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(page.text.contains("data-session=\"shop-1\""));
    assert!(page.text.contains("Perangkat Tertaut"));
    assert!(page.text.contains("Tautkan Perangkat"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    // The one address is the passkey step's link to open in another tab
    // (the operator's navigation, not something the page loads).
    let link = "<a href=\"https://web.whatsapp.com\" target=\"_blank\" \
                rel=\"noopener noreferrer\">https://web.whatsapp.com</a>";
    assert_eq!(
        page.text.matches(link).count(),
        1,
        "the passkey step's link"
    );
    let without_link = page.text.replace(link, "");
    for external in ["http://", "https://", "<link"] {
        assert!(!without_link.contains(external), "loads {external}");
    }

    let missing = server.get("/api/sessions/ghost/qr-page").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.text.contains("Session tidak ditemukan"),
        "{}",
        missing.text
    );
    let markup = server
        .get("/api/sessions/%3Cscript%3Ealert(1)%3C%2Fscript%3E/qr-page")
        .await;
    assert_eq!(markup.status, 400, "{}", markup.text);
    assert!(!markup.text.contains("<script>alert"), "{}", markup.text);
}
