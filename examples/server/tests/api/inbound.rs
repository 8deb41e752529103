//! `/api/otp/inbound`: the user sends the code. A started verification
//! gives a wa.me link and its QR code; a stranger with the token is
//! refused, the expected number approves it, and the status names the
//! sender; bad requests get the guide's envelope with a stable code.

use serde_json::json;

use crate::harness::{STEP, Server, assert_error};

/// `from` writes `text` to `to` through the simulator, as a phone would
/// (waiting, within a step, for the companion's keys a first message needs).
async fn user_sends(server: &Server, from: &str, to: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match server.sim.user_send(from, to, text).await {
            Ok(_) => return,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{from} could not write to {to}: {e:#}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_sends_the_code_and_the_status_names_the_sender() {
    let server = Server::start().await;
    let number = "6281111111801";
    server.link_as("shop", number).await;
    let user = server.recipient("6281234567811");
    let stranger = server.recipient("6281234567812");

    let started = server
        .post(
            "/api/otp/inbound",
            json!({ "sessionId": "shop", "phoneNumber": "081234567811", "reply": "Berhasil masuk" }),
        )
        .await
        .data(200);
    assert_eq!(started["sessionId"], "shop");
    assert_eq!(started["number"], number);
    let link = started["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("https://wa.me/{number}?text=Kode%20masuk%3A%20")),
        "{link}"
    );
    assert!(
        started["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let id = started["verificationId"].as_str().unwrap().to_owned();
    let text = started["text"].as_str().unwrap().to_owned();
    let path = format!("/api/otp/inbound/{id}");
    assert_eq!(server.get(&path).await.data(200)["status"], "pending");

    user_sends(&server, &stranger, number, &text).await;
    server
        .poll_get(&path, "the stranger counted", |r| {
            r.json()["data"]["attempts"] == 1
        })
        .await;
    user_sends(&server, &user, number, &text).await;
    let done = server
        .poll_get(&path, "the approval", |r| {
            r.json()["data"]["status"] == "approved"
        })
        .await
        .data(200);
    assert_eq!(done["sender"], user.as_str(), "{done}");
    assert_eq!(done["phoneNumber"], user.as_str());
    assert_eq!(server.inbox(&user, 1).await[0], "Berhasil masuk");
    let metrics = server.get("/metrics").await;
    let line =
        "waotp_session_conversion{session=\"shop\",window=\"1h\",count=\"approved_inbound\"} 1";
    assert!(
        metrics.text.lines().any(|l| l == line),
        "{line}:\n{}",
        metrics.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inbound_requests_get_stable_codes() {
    let server = Server::start().await;
    server.link_as("shop", "6281111111802").await;
    let unknown = server.get("/api/otp/inbound/nope").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json()["error"], "OTP_NOT_FOUND");
    for (body, code) in [
        (json!({ "template": "tanpa token" }), "INVALID_ARGUMENT"),
        (json!({ "ttl": 5 }), "INVALID_ARGUMENT"),
        (
            json!({ "sessionId": "shop", "sessions": ["shop"] }),
            "INVALID_ARGUMENT",
        ),
        (json!({ "sessions": [] }), "INVALID_ARGUMENT"),
        (json!({ "unknownField": 1 }), "INVALID_ARGUMENT"),
        (json!({ "phoneNumber": "12" }), "INVALID_PHONE"),
    ] {
        let reply = server.post("/api/otp/inbound", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert_eq!(reply.json()["error"], code, "{body}: {}", reply.text);
    }
    let missing = server
        .post("/api/otp/inbound", json!({ "sessionId": "nope" }))
        .await;
    assert_error(
        &missing,
        404,
        "SESSION_NOT_FOUND",
        "Session tidak ditemukan",
    );
    // Every session when none is named; then cancel.
    let started = server.post("/api/otp/inbound", json!({})).await.data(200);
    let id = started["verificationId"].as_str().unwrap();
    let canceled = server
        .post(&format!("/api/otp/inbound/{id}/cancel"), json!({}))
        .await
        .data(200);
    assert_eq!(canceled["status"], "canceled");
}
