//! Property tests of what the server parses from a request, through the
//! router itself (`Router::oneshot`, no socket): whatever the JSON body or
//! query string, an answer is a 4xx in the envelope, never a 500 and never a
//! panic.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt;
use waotp_server::Settings;

/// A gateway with no sessions, pointed at a loopback port nothing listens
/// on (no route below reaches WhatsApp).
fn router() -> (axum::Router, tempfile::TempDir, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway = runtime
        .block_on(
            waotp::Gateway::builder()
                .data_dir(dir.path())
                .endpoint("ws://127.0.0.1:9/ws/chat")
                .open(),
        )
        .unwrap();
    (
        waotp_server::router(gateway, Settings::default()),
        dir,
        runtime,
    )
}

/// Sends one request; its status and body as JSON.
fn call(
    runtime: &tokio::runtime::Runtime,
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("Host", "localhost")
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap();
    runtime.block_on(async {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {uri}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, json)
    })
}

/// JSON values of the shapes the routes read, and anything else.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,40}".prop_map(serde_json::Value::from),
        "[0-9+ -]{0,20}".prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("to"),
        Just("phone"),
        Just("phoneNumber"),
        Just("otp"),
        Just("message"),
        Just("length"),
        Just("ttl"),
        Just("template"),
        Just("companyName"),
        Just("assertion"),
        Just("idempotencyKey"),
        Just("locale"),
        Just("x"),
    ];
    prop_oneof![
        proptest::collection::btree_map(keys, scalar, 0..6)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
        any::<Vec<u8>>(),
    ]
}

const POSTS: &[&str] = &[
    "/api/otp/verify",
    "/api/otp/cancel",
    "/api/messages/none/text",
    "/api/messages/none/otp",
    "/api/sessions/none/pair-code",
    "/api/sessions/none/passkey",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_body_makes_a_route_fail_with_a_500(route in 0..POSTS.len(), body in json_body()) {
        let (app, _dir, runtime) = router();
        let (status, json) = call(&runtime, &app, "POST", POSTS[route], body);
        prop_assert!(status.is_client_error(), "{} {}: {}", POSTS[route], status, json);
        prop_assert_eq!(&json["success"], false);
        prop_assert!(json["error"].is_string(), "{}", json);
    }

    #[test]
    fn no_query_or_path_makes_a_route_fail_with_a_500(query in "[a-zA-Z0-9=&%._-]{0,40}", phone in "[0-9a-z+-]{1,20}") {
        let (app, _dir, runtime) = router();
        for uri in [
            format!("/api/messages/none/generate-otp?{query}"),
            format!("/api/messages/format-phone/{phone}"),
            format!("/api/otp/status/{phone}"),
            format!("/api/messages/status/{phone}"),
        ] {
            let (status, json) = call(&runtime, &app, "GET", &uri, Vec::new());
            prop_assert!(!status.is_server_error(), "{}: {} {}", uri, status, json);
            prop_assert_eq!(json["success"].is_boolean(), true, "{}: {}", uri, json);
        }
    }
}
