//! `/api/otp`: verification outcomes and their statuses, OTP status, cancel.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use waotp::otp::ManualClock;

use crate::harness::{Options, Server, assert_error, code_in};

const REFUSED: &str = "OTP tidak valid atau sudah kedaluwarsa";

/// Sends an OTP to `to` through `main`; the code the recipient got.
async fn send_code(server: &Server, to: &str, nth: usize) -> String {
    server
        .post("/api/messages/main/otp", json!({ "to": to }))
        .await
        .data(200);
    code_in(&server.inbox(to, nth).await[nth - 1])
}

/// A code of the same length that is not `code`.
fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_each_outcome_with_its_status() {
    let server = Server::start().await;
    server.link("main").await;

    assert_error(
        &server
            .post("/api/otp/verify", json!({ "otp": "123456" }))
            .await,
        400,
        "INVALID_ARGUMENT",
        "Nomor telepon dan OTP diperlukan",
    );
    assert_error(
        &server
            .post("/api/otp/verify", json!({ "phoneNumber": "6281234567895" }))
            .await,
        400,
        "INVALID_ARGUMENT",
        "Nomor telepon dan OTP diperlukan",
    );
    let none = server
        .post(
            "/api/otp/verify",
            json!({ "phoneNumber": "6281234567895", "otp": "123456" }),
        )
        .await;
    assert_error(&none, 404, "OTP_NOT_FOUND", REFUSED);
    assert_eq!(none.json()["data"]["status"], "not_found");

    let a = server.recipient("6281234567895");
    let code = send_code(&server, &a, 1).await;
    let invalid = server
        .post(
            "/api/otp/verify",
            json!({ "phoneNumber": a, "otp": wrong(&code) }),
        )
        .await;
    assert_error(&invalid, 400, "OTP_INVALID", REFUSED);
    assert_eq!(invalid.json()["data"]["status"], "invalid");
    assert_eq!(invalid.json()["data"]["attemptsLeft"], 2);

    // Local form of the same number.
    let approved = server
        .post(
            "/api/otp/verify",
            json!({ "phoneNumber": "081234567895", "otp": code }),
        )
        .await;
    assert_eq!(approved.json()["message"], "OTP berhasil diverifikasi");
    let data = approved.data(200);
    assert_eq!(data["phoneNumber"], "081234567895");
    assert_eq!(data["sessionId"], "main");
    assert_eq!(data["status"], "approved");
    assert!(data["verifiedAt"].as_str().unwrap().ends_with('Z'));

    // Single use.
    let reused = server
        .post("/api/otp/verify", json!({ "phoneNumber": a, "otp": code }))
        .await;
    assert_error(&reused, 404, "OTP_NOT_FOUND", REFUSED);

    // Three wrong codes lock the OTP: even the right one is then refused with 429.
    let b = server.recipient("6281234567896");
    let code = send_code(&server, &b, 1).await;
    for left in [2, 1, 0] {
        let reply = server
            .post(
                "/api/otp/verify",
                json!({ "phoneNumber": b, "otp": wrong(&code) }),
            )
            .await;
        assert_error(&reply, 400, "OTP_INVALID", REFUSED);
        assert_eq!(reply.json()["data"]["attemptsLeft"], left);
    }
    let locked = server
        .post("/api/otp/verify", json!({ "phoneNumber": b, "otp": code }))
        .await;
    assert_error(&locked, 429, "OTP_MAX_ATTEMPTS", REFUSED);
    assert_eq!(locked.json()["data"]["status"], "max_attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_answers_410() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = Server::start_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    server.link("main").await;
    let to = server.recipient("6281234567897");
    let code = send_code(&server, &to, 1).await;
    clock.advance(Duration::from_secs(301));
    let reply = server
        .post("/api/otp/verify", json!({ "phoneNumber": to, "otp": code }))
        .await;
    assert_error(&reply, 410, "OTP_EXPIRED", REFUSED);
    assert_eq!(reply.json()["data"]["status"], "expired");
    let status = server.get(&format!("/api/otp/status/{to}")).await.data(200);
    assert_eq!(status["status"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_cancel() {
    let server = Server::start().await;
    server.link("main").await;
    let to = server.recipient("6281234567898");
    assert_error(
        &server.get(&format!("/api/otp/status/{to}")).await,
        404,
        "OTP_NOT_FOUND",
        "OTP tidak ditemukan",
    );
    assert_error(
        &server.get("/api/otp/status/not-a-phone").await,
        400,
        "INVALID_PHONE",
        "Nomor telepon tidak valid",
    );

    let sent = server
        .post("/api/messages/main/otp", json!({ "to": to }))
        .await
        .data(200);
    let reply = server.get("/api/otp/status/081234567898").await;
    assert_eq!(reply.json()["message"], "Status OTP berhasil diambil");
    let status = reply.data(200);
    assert_eq!(status["status"], "pending");
    assert_eq!(status["sessionId"], "main");
    assert_eq!(status["recipient"], to.as_str());
    assert_eq!(status["verificationId"], sent["verificationId"]);
    assert_eq!(status["messageId"], sent["messageId"]);
    assert_eq!(status["attempts"], 0);
    assert_eq!(status["maxAttempts"], 3);
    assert_eq!(status["attemptsLeft"], 3);
    assert!(status.get("otp").is_none(), "never the code: {status}");

    assert_error(
        &server.post("/api/otp/cancel", json!({})).await,
        400,
        "INVALID_PHONE",
        "Nomor telepon diperlukan (gunakan field \"phoneNumber\")",
    );
    let canceled = server
        .post("/api/otp/cancel", json!({ "phoneNumber": to }))
        .await;
    assert_eq!(canceled.json()["message"], "OTP berhasil dibatalkan");
    assert_eq!(canceled.data(200)["status"], "canceled");
    let code = sent["otp"].as_str().unwrap();
    let reply = server
        .post("/api/otp/verify", json!({ "phoneNumber": to, "otp": code }))
        .await;
    assert_error(&reply, 404, "OTP_NOT_FOUND", REFUSED);
    assert_error(
        &server
            .post("/api/otp/cancel", json!({ "phoneNumber": "6281234567800" }))
            .await,
        404,
        "OTP_NOT_FOUND",
        "OTP tidak ditemukan",
    );
}

/// `POST /api/otp/send`: the pool route sends each code through a number
/// that can still deliver it, names it in `data.sessionId`, shows health in
/// the status and `/metrics`, and says no with 429 `ACCOUNT_LIMITED` and
/// `Retry-After` when no number can; `POST /api/messages/send` does the
/// same for a text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_route_routes_around_spent_quotas_and_says_no_with_429() {
    let server = Server::start().await;
    let phones = ["6281111111701", "6281111111702"];
    server.link_as("a", phones[0]).await;
    server.link_as("b", phones[1]).await;
    for phone in phones {
        server.sim.set_new_chat_quota(
            phone,
            Some(waotp_sim::NewChatQuota {
                total: 1,
                cycle_secs: 600,
            }),
        );
    }
    let mut senders = Vec::new();
    for (i, to) in ["6281234567801", "6281234567802"].iter().enumerate() {
        let to = server.recipient(to);
        let data = server
            .post(
                "/api/otp/send",
                json!({ "to": to, "companyName": "Toko Sehat" }),
            )
            .await
            .data(200);
        senders.push(data["sessionId"].as_str().unwrap_or_default().to_owned());
        let code = code_in(&server.inbox(&to, 1).await[0]);
        assert_eq!(data["otp"], code, "code {i}");
    }
    let first_sender = senders[0].clone();
    senders.sort();
    assert_eq!(senders, vec!["a", "b"], "one code through each number");

    let third = server.recipient("6281234567803");
    let refused = server
        .post(
            "/api/otp/send",
            json!({ "to": third, "companyName": "Toko Sehat" }),
        )
        .await;
    assert_error(
        &refused,
        429,
        "ACCOUNT_LIMITED",
        "Nomor WhatsApp sedang dibatasi untuk chat baru; coba lagi nanti",
    );
    let wait: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=600).contains(&wait), "Retry-After {wait}");

    let status = server.get("/api/sessions/a/status").await.data(200);
    assert_eq!(status["health"]["state"], "new_chats_limited", "{status}");
    assert_eq!(status["health"]["reason"], "capped", "{status}");
    assert_eq!(status["health"]["quota"]["remaining"], 0, "{status}");
    let metrics = server.get("/metrics").await;
    for line in [
        "waotp_session_health{session=\"a\",state=\"new_chats_limited\"} 1",
        "waotp_new_chat_quota_remaining{session=\"b\"} 0",
    ] {
        assert!(
            metrics.text.lines().any(|l| l == line),
            "{line}:\n{}",
            metrics.text
        );
    }

    let unknown = server
        .post(
            "/api/otp/send",
            json!({ "to": third, "sessions": ["nope"] }),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json()["error"], "SESSION_NOT_FOUND");
    let misplaced = server
        .post(
            "/api/messages/a/otp",
            json!({ "to": third, "sessions": ["a"] }),
        )
        .await;
    assert_eq!(misplaced.status, 400, "{}", misplaced.text);

    // A text through the pool: a known contact gets it from the number
    // that sent their code (a known contact once that code was delivered);
    // a new chat is refused up front.
    let known = "6281234567801";
    server
        .poll_get(
            &format!("/api/otp/status/{known}"),
            "the first code delivered",
            |r| {
                matches!(
                    r.json()["data"]["delivery"].as_str(),
                    Some("delivered" | "read")
                )
            },
        )
        .await;
    let text = server
        .post(
            "/api/messages/send",
            json!({ "to": known, "message": "Pesanan Anda sudah dikirim" }),
        )
        .await
        .data(200);
    assert_eq!(text["sessionId"], first_sender.as_str(), "{text}");
    assert_eq!(
        server.inbox(known, 2).await[1],
        "Pesanan Anda sudah dikirim"
    );
    let refused_text = server
        .post(
            "/api/messages/send",
            json!({ "to": third, "message": "Halo", "sessions": ["a", "b"] }),
        )
        .await;
    assert_eq!(refused_text.status, 429, "{}", refused_text.text);
    assert_eq!(refused_text.json()["error"], "ACCOUNT_LIMITED");
    assert!(refused_text.header("retry-after").is_some());
    for (path, body) in [
        (
            "/api/messages/a/text",
            json!({ "to": known, "message": "x", "sessions": ["a"] }),
        ),
        (
            "/api/messages/send",
            json!({ "to": known, "message": "x", "idempotencyKey": "k" }),
        ),
        ("/api/messages/send", json!({ "to": known })),
    ] {
        let misplaced = server.post(path, body).await;
        assert_eq!(misplaced.status, 400, "{path}: {}", misplaced.text);
    }
}
