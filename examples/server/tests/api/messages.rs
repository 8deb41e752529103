//! `/api/messages`: sends in the guide's check order, OTP sends, code
//! generation, phone formatting and delivery status.

use serde_json::json;
use waotp_server::Settings;
use waotp_sim::Fault;

use crate::harness::{Options, Server, assert_error, code_in};

const PHONE_REQUIRED: &str = "Nomor telepon diperlukan (gunakan field \"to\" atau \"phone\")";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_routes_check_in_the_guides_order() {
    let server = Server::start().await;
    // Session missing comes first, even before a missing `to`.
    for route in ["text", "otp"] {
        assert_error(
            &server
                .post(&format!("/api/messages/ghost/{route}"), json!({}))
                .await,
            404,
            "SESSION_NOT_FOUND",
            "Session tidak ditemukan",
        );
    }
    // Then "not connected", before a missing `to`.
    server
        .post("/api/sessions/create", json!({ "sessionId": "unlinked" }))
        .await
        .data(201);
    for route in ["text", "otp"] {
        assert_error(
            &server
                .post(&format!("/api/messages/unlinked/{route}"), json!({}))
                .await,
            400,
            "NOT_CONNECTED",
            "Session belum terhubung",
        );
    }

    server.link("main").await;
    let to = server.recipient("6281234567890");
    for route in ["text", "otp"] {
        assert_error(
            &server
                .post(&format!("/api/messages/main/{route}"), json!({}))
                .await,
            400,
            "INVALID_PHONE",
            PHONE_REQUIRED,
        );
    }
    assert_error(
        &server
            .post("/api/messages/main/text", json!({ "to": to }))
            .await,
        400,
        "INVALID_ARGUMENT",
        "Pesan teks diperlukan (gunakan field \"message\" atau \"text\")",
    );
    assert_error(
        &server
            .post(
                "/api/messages/main/text",
                json!({ "to": "not a phone", "message": "hi" }),
            )
            .await,
        400,
        "INVALID_PHONE",
        "Nomor telepon tidak valid",
    );
    // Codes come from the server's CSPRNG, never from the caller.
    assert_error(
        &server
            .post(
                "/api/messages/main/otp",
                json!({ "to": to, "otp": "123456" }),
            )
            .await,
        400,
        "INVALID_ARGUMENT",
        "Field \"otp\" tidak didukung: kode OTP dibuat oleh server",
    );
    let length = server
        .post("/api/messages/main/otp", json!({ "to": to, "length": 3 }))
        .await;
    assert_eq!(length.status, 400, "{}", length.text);
    assert_eq!(length.json()["error"], "INVALID_ARGUMENT");

    server.sim.add_number("6289999999999", false);
    assert_error(
        &server
            .post("/api/messages/main/otp", json!({ "to": "089999999999" }))
            .await,
        400,
        "NOT_ON_WHATSAPP",
        "Nomor tidak terdaftar di WhatsApp",
    );
    assert!(server.sim.inbox(&to).is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_is_delivered_and_its_status_tracked() {
    let server = Server::start().await;
    server.link("main").await;
    server.recipient("6281234567891");

    // The guide's aliases: `phone` for `to`, `text` for `message`; local form.
    let reply = server
        .post(
            "/api/messages/main/text",
            json!({ "phone": "081234567891", "text": "Halo dari waotp" }),
        )
        .await;
    assert_eq!(reply.json()["message"], "Pesan teks berhasil dikirim");
    let data = reply.data(200);
    assert_eq!(data["sessionId"], "main");
    assert_eq!(data["to"], "6281234567891@s.whatsapp.net");
    assert_eq!(data["message"], "Halo dari waotp");
    assert!(data["timestamp"].is_string());
    let id = data["messageId"].as_str().unwrap().to_owned();
    assert_eq!(
        server.inbox("6281234567891", 1).await,
        vec!["Halo dari waotp"]
    );

    let status = server
        .poll_get(
            &format!("/api/messages/status/{id}"),
            "the message to be delivered",
            |r| {
                matches!(
                    r.json()["data"]["status"].as_str(),
                    Some("delivered" | "read")
                )
            },
        )
        .await;
    assert_eq!(status.json()["message"], "Status pesan berhasil diambil");
    let data = status.data(200);
    assert_eq!(data["messageId"], id.as_str());
    assert_eq!(data["sessionId"], "main");
    assert_eq!(data["to"], "6281234567891@s.whatsapp.net");
    assert!(data["updatedAt"].is_string());

    assert_error(
        &server.get("/api/messages/status/NO-SUCH-ID").await,
        404,
        "MESSAGE_NOT_FOUND",
        "Pesan tidak ditemukan",
    );

    // The server refuses the next message to this number: the send itself
    // returned, and the status says `failed` with WhatsApp's reason.
    server.sim.fault(Fault::ErrorAck("6281234567891".into()));
    let refused = server
        .post(
            "/api/messages/main/text",
            json!({ "to": "6281234567891", "message": "ditolak" }),
        )
        .await
        .data(200);
    let id = refused["messageId"].as_str().unwrap();
    let failed = server
        .poll_get(
            &format!("/api/messages/status/{id}"),
            "the refused message to be failed",
            |r| r.json()["data"]["status"] == "failed",
        )
        .await
        .data(200);
    assert!(
        failed["reason"].as_str().unwrap().contains("479"),
        "{failed}"
    );

    // A number without WhatsApp: refused before anything is sent.
    server.sim.add_number("6281234567000", false);
    assert_error(
        &server
            .post(
                "/api/messages/main/text",
                json!({ "to": "6281234567000", "message": "halo" }),
            )
            .await,
        400,
        "NOT_ON_WHATSAPP",
        "Nomor tidak terdaftar di WhatsApp",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otp_send_reveals_the_code_the_recipient_got() {
    let server = Server::start().await;
    server.link("main").await;
    let to = server.recipient("6281234567892");

    let reply = server
        .post(
            "/api/messages/main/otp",
            json!({ "to": "081234567892", "companyName": "PT. Contoh" }),
        )
        .await;
    assert_eq!(reply.json()["message"], "OTP berhasil dikirim");
    let data = reply.data(200);
    let otp = data["otp"].as_str().unwrap();
    assert_eq!(otp.len(), 6);
    assert_eq!(data["sessionId"], "main");
    assert_eq!(data["to"], "6281234567892@s.whatsapp.net");
    assert_eq!(data["expiresIn"], "5 menit");
    assert!(data["expiresAt"].is_string());
    assert!(data["verificationId"].is_string());
    assert!(data["messageId"].is_string());

    let inbox = server.inbox(&to, 1).await;
    assert_eq!(
        inbox[0],
        format!(
            "🔐 *Kode OTP Anda*\n\nKode OTP: *{otp}*\n\nKode ini akan kedaluwarsa dalam 5 menit.\n\
             Jangan bagikan kode ini kepada siapapun.\n\nTerima kasih,\nPT. Contoh"
        ),
        "the guide's message"
    );

    // A second code right away hits the resend cooldown: 429 with Retry-After.
    let again = server
        .post("/api/messages/main/otp", json!({ "to": to }))
        .await;
    let seconds: u64 = again
        .header("retry-after")
        .unwrap_or_else(|| panic!("Retry-After on {}", again.text))
        .parse()
        .unwrap();
    assert!((1..=10).contains(&seconds), "{seconds}");
    // The body carries the same wait in milliseconds, as every binding does.
    let ms = again.json()["retryAfterMs"]
        .as_u64()
        .unwrap_or_else(|| panic!("retryAfterMs in {}", again.text));
    assert_eq!(ms.div_ceil(1000).max(1), seconds, "{ms} ms");
    assert_error(
        &again,
        429,
        "RATE_LIMITED",
        &format!("Tunggu {seconds} detik sebelum mengirim OTP lagi"),
    );

    // Length and company default; the message names the guide's default company.
    let other = server.recipient("6281234567893");
    let eight = server
        .post(
            "/api/messages/main/otp",
            json!({ "to": other, "length": "8" }),
        )
        .await
        .data(200);
    let code = eight["otp"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    let text = &server.inbox(&other, 1).await[0];
    assert_eq!(code_in(text), code);
    assert!(text.ends_with("WhatsApp OTP API"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reveal_leaves_the_code_out_and_verify_still_works() {
    let server = Server::start_with(Options {
        settings: Settings {
            reveal_otp: false,
            ..Settings::default()
        },
        ..Options::default()
    })
    .await;
    server.link("main").await;
    let to = server.recipient("6281234567894");
    let data = server
        .post("/api/messages/main/otp", json!({ "to": to }))
        .await
        .data(200);
    assert!(
        data.get("otp").is_none(),
        "the code is not revealed: {data}"
    );
    let code = code_in(&server.inbox(&to, 1).await[0]);
    let verified = server
        .post("/api/otp/verify", json!({ "phoneNumber": to, "otp": code }))
        .await;
    assert_eq!(verified.data(200)["status"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_otp_and_format_phone() {
    let server = Server::start().await;
    let reply = server.get("/api/messages/any/generate-otp").await;
    assert_eq!(reply.json()["message"], "OTP berhasil digenerate");
    let data = reply.data(200);
    assert_eq!(data["otp"].as_str().unwrap().len(), 6);
    assert_eq!(data["length"], 6);
    assert_eq!(data["expiresIn"], "5 menit (rekomendasi)");
    assert!(data["timestamp"].is_string());

    let ten = server
        .get("/api/messages/any/generate-otp?length=10")
        .await
        .data(200);
    let code = ten["otp"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    for bad in ["3", "11", "abc", "-1"] {
        let reply = server
            .get(&format!("/api/messages/any/generate-otp?length={bad}"))
            .await;
        assert_eq!(reply.status, 400, "length={bad}: {}", reply.text);
        assert_eq!(reply.json()["error"], "INVALID_ARGUMENT");
    }

    let formatted = server.get("/api/messages/format-phone/08123456789").await;
    assert_eq!(
        formatted.json()["message"],
        "Nomor telepon berhasil diformat"
    );
    assert_eq!(
        formatted.data(200),
        json!({
            "original": "08123456789",
            "formatted": "628123456789",
            "whatsappFormat": "628123456789@s.whatsapp.net",
        })
    );
    assert_error(
        &server.get("/api/messages/format-phone/hello").await,
        400,
        "INVALID_PHONE",
        "Nomor telepon tidak valid",
    );
}
