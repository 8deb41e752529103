//! `/api/sessions`: create, list, status, QR, pairing code, restart, delete.

use serde_json::json;
use waotp_sim::SimConfig;

use crate::harness::{LINKED_PHONE, Options, Server, assert_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_is_201_then_idempotent_and_checks_the_id() {
    let server = Server::start().await;

    let created = server
        .post("/api/sessions/create", json!({ "sessionId": "shop" }))
        .await;
    let data = created.data(201);
    assert_eq!(created.json()["message"], "Session berhasil dibuat");
    assert_eq!(data["sessionId"], "shop");
    assert_eq!(data["isConnected"], false);
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'));

    // The guide's server answered 400 here; waotp answers the existing session.
    let again = server
        .post("/api/sessions/create", json!({ "sessionId": "shop" }))
        .await;
    assert_eq!(again.data(200)["sessionId"], "shop");
    assert_eq!(again.json()["message"], "Session shop sudah ada");

    // No body at all: a generated id, as the guide's server did.
    let generated = server
        .request("POST", "/api/sessions/create", &[], None)
        .await;
    let id = generated.data(201)["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("session_"), "{id}");

    for bad in ["../etc", "a b", "x".repeat(65).as_str()] {
        let reply = server
            .post("/api/sessions/create", json!({ "sessionId": bad }))
            .await;
        assert_error(
            &reply,
            400,
            "INVALID_SESSION_ID",
            "Session ID tidak valid (gunakan 1-64 karakter: huruf, angka, _ atau -)",
        );
    }
    let list = server.get("/api/sessions").await.data(200);
    assert_eq!(
        list["total"], 2,
        "no session was made of a refused id: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_list_and_qr_follow_a_session_to_connected() {
    let server = Server::start().await;
    assert_error(
        &server.get("/api/sessions/nobody/status").await,
        404,
        "SESSION_NOT_FOUND",
        "Session tidak ditemukan",
    );
    assert_error(
        &server.get("/api/sessions/nobody/qr").await,
        404,
        "SESSION_NOT_FOUND",
        "Session tidak ditemukan",
    );
    let empty = server.get("/api/sessions").await;
    assert_eq!(empty.json()["message"], "Daftar sessions berhasil diambil");
    assert_eq!(empty.data(200), json!({ "sessions": {}, "total": 0 }));

    server
        .post("/api/sessions/create", json!({ "sessionId": "desk" }))
        .await
        .data(201);
    let status = server.get("/api/sessions/desk/status").await;
    assert_eq!(status.json()["message"], "Status session berhasil diambil");
    let data = status.data(200);
    assert_eq!(data["sessionId"], "desk");
    assert_eq!(data["isConnected"], false);
    assert_eq!(data["user"], serde_json::Value::Null);

    let qr_reply = server
        .poll_get("/api/sessions/desk/qr", "a QR code", |r| r.status == 200)
        .await;
    assert_eq!(qr_reply.json()["message"], "QR Code berhasil diambil");
    let qr = qr_reply.data(200);
    assert_eq!(qr["sessionId"], "desk");
    assert!(
        qr["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert_eq!(
        qr["instructions"],
        "Scan QR Code ini dengan aplikasi WhatsApp Anda"
    );
    let payload = qr["qrPayload"].as_str().unwrap();
    let current = server.gateway.session("desk").unwrap().qr().await.unwrap();
    assert_eq!(
        payload,
        current.raw(),
        "the QR the API shows is the session's"
    );

    server
        .sim
        .scan(payload, LINKED_PHONE, "Toko Contoh")
        .await
        .expect("the phone scans the QR");
    let connected = server.wait_connected("desk").await;
    let user = &connected["user"];
    assert!(
        user["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{LINKED_PHONE}:")),
        "{user}"
    );
    assert!(user["id"].as_str().unwrap().ends_with("@s.whatsapp.net"));
    assert_eq!(user["phone"], LINKED_PHONE);
    assert!(connected["lastSeen"].as_str().unwrap().ends_with('Z'));

    let list = server.get("/api/sessions").await.data(200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"]["desk"]["isConnected"], true);
    assert_eq!(list["sessions"]["desk"]["sessionId"], "desk");

    assert_error(
        &server.get("/api/sessions/desk/qr").await,
        400,
        "ALREADY_CONNECTED",
        "Session sudah terhubung, QR Code tidak diperlukan",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_is_not_available_once_every_code_expired() {
    // No refs: the client reports its QR codes exhausted at once.
    let server = Server::start_with(Options {
        sim: SimConfig {
            qr_ref_count: 0,
            ..SimConfig::default()
        },
        ..Options::default()
    })
    .await;
    server
        .post("/api/sessions/create", json!({ "sessionId": "late" }))
        .await
        .data(201);
    server
        .poll_get("/api/sessions/late/status", "state qr_expired", |r| {
            r.json()["data"]["state"] == "qr_expired"
        })
        .await;
    assert_error(
        &server.get("/api/sessions/late/qr").await,
        404,
        "QR_NOT_AVAILABLE",
        "QR Code belum tersedia atau sudah kedaluwarsa",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_link_and_delete_removes_it() {
    let server = Server::start().await;
    server.link("kept").await;
    let logins_before = logins(&server);

    let restarted = server
        .request("PUT", "/api/sessions/kept/restart", &[], None)
        .await;
    assert_eq!(restarted.json()["message"], "Session berhasil direstart");
    let data = restarted.data(200);
    assert_eq!(data["sessionId"], "kept");
    assert!(data["isConnected"].is_boolean());
    assert!(data["timestamp"].is_string());
    // Reconnects on its stored credentials: no QR, no scan.
    let status = server.wait_connected("kept").await;
    assert_eq!(status["qrRefreshCount"], 0, "{status}");
    server
        .poll_get("/api/sessions/kept/status", "a new login", |_| {
            logins(&server) > logins_before
        })
        .await;

    let deleted = server.delete("/api/sessions/kept").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        deleted.json(),
        json!({ "success": true, "message": "Session berhasil dihapus" })
    );
    for reply in [
        server.get("/api/sessions/kept/status").await,
        server.delete("/api/sessions/kept").await,
        server
            .request("PUT", "/api/sessions/kept/restart", &[], None)
            .await,
    ] {
        assert_error(&reply, 404, "SESSION_NOT_FOUND", "Session tidak ditemukan");
    }
    assert_eq!(server.get("/api/sessions").await.data(200)["total"], 0);
}

/// Logins of the linked phone's devices the simulator has seen.
fn logins(server: &Server) -> u64 {
    server
        .sim
        .devices()
        .iter()
        .filter(|d| d.phone == LINKED_PHONE)
        .map(|d| d.logins)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_code_links_a_session() {
    let server = Server::start().await;
    assert_error(
        &server
            .post(
                "/api/sessions/ghost/pair-code",
                json!({ "phone": "6282222222222" }),
            )
            .await,
        404,
        "SESSION_NOT_FOUND",
        "Session tidak ditemukan",
    );
    server
        .post("/api/sessions/create", json!({ "sessionId": "by-code" }))
        .await
        .data(201);
    server.wait_qr("by-code").await;
    assert_error(
        &server
            .post("/api/sessions/by-code/pair-code", json!({}))
            .await,
        400,
        "INVALID_PHONE",
        "Nomor telepon diperlukan (gunakan field \"phone\")",
    );
    let reply = server
        .post(
            "/api/sessions/by-code/pair-code",
            json!({ "phone": "082222222222" }),
        )
        .await;
    assert_eq!(reply.json()["message"], "Kode pairing berhasil dibuat");
    let data = reply.data(200);
    let code = data["pairingCode"].as_str().unwrap();
    assert_eq!(code.len(), 8, "{code}");
    assert_eq!(data["sessionId"], "by-code");
    server
        .sim
        .enter_pair_code("6282222222222", code)
        .await
        .expect("the phone accepts the code");
    let status = server.wait_connected("by-code").await;
    assert_eq!(status["user"]["phone"], "6282222222222");
    assert_error(
        &server
            .post(
                "/api/sessions/by-code/pair-code",
                json!({ "phone": "082222222222" }),
            )
            .await,
        400,
        "ALREADY_CONNECTED",
        "Session sudah terhubung, kode pairing tidak diperlukan",
    );
}
