//! `/api/sessions`: create, list, status, QR, pairing code, passkey,
//! restart, delete.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use waotp_sim::{AssertionTweaks, SimConfig};

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

    // No body at all, as JSON: a generated id, as the guide's server did.
    let generated = server
        .request(
            "POST",
            "/api/sessions/create",
            &[("Content-Type", "application/json")],
            None,
        )
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

    let restarted = server.put("/api/sessions/kept/restart").await;
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
        server.put("/api/sessions/kept/restart").await,
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

/// Creates `id`, has [`crate::harness::GATED_PHONE`] scan its QR and waits
/// for the passkey step; the account's phone and the status `data`.
async fn gated_link(server: &Server, id: &str) -> (&'static str, Value) {
    let phone = server.gated_phone();
    let created = server
        .post("/api/sessions/create", json!({ "sessionId": id }))
        .await;
    assert!(
        created.status == 201 || created.status == 200,
        "{}",
        created.text
    );
    let qr = server.wait_qr(id).await;
    server
        .sim
        .scan(qr["qrPayload"].as_str().unwrap(), phone, "Kasir")
        .await
        .expect("the gated phone scans the QR");
    (phone, server.wait_passkey_required(id).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_assertion_links_a_gated_session() {
    let server = Server::start().await;
    let (phone, status) = gated_link(&server, "gated").await;
    assert_eq!(status["isConnected"], false);
    let passkey = &status["passkey"];
    let options = passkey["optionsJson"].as_str().expect("optionsJson");
    let options_value: Value = serde_json::from_str(options).expect("options are JSON");
    assert!(options_value["challenge"].is_string(), "{options}");
    assert!(
        passkey["expiresAt"].as_str().unwrap().ends_with('Z'),
        "{passkey}"
    );
    let snippet = passkey["snippet"].as_str().unwrap();
    assert!(snippet.contains("navigator.credentials.get"), "{snippet}");
    assert_eq!(passkey["confirmationCode"], Value::Null);
    let listed = server.get("/api/sessions").await.data(200);
    assert_eq!(listed["sessions"]["gated"]["state"], "passkey_required");
    assert_eq!(
        listed["sessions"]["gated"]["passkey"]["optionsJson"],
        options
    );

    // Malformed answers: 400 with the code, and the challenge still waits.
    let route = "/api/sessions/gated/passkey";
    let needed = "Hasil passkey diperlukan (field \"assertion\": teks yang dicetak snippet)";
    for body in [
        json!({}),
        json!({ "assertion": null }),
        json!({ "assertion": "  " }),
    ] {
        assert_error(
            &server.post(route, body).await,
            400,
            "INVALID_ARGUMENT",
            needed,
        );
    }
    assert_error(
        &server.post(route, json!({ "assertion": [1, 2] })).await,
        400,
        "INVALID_ARGUMENT",
        "Field \"assertion\" harus berupa objek JSON atau string",
    );
    for bad in [
        json!("not json"),
        json!({ "id": "x" }),
        json!("{\"rawId\":\"!!\"}"),
    ] {
        let reply = server.post(route, json!({ "assertion": bad })).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(reply.json()["error"], "INVALID_ARGUMENT", "{}", reply.text);
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.starts_with("Hasil passkey tidak valid: "),
            "{message}"
        );
    }
    assert_error(
        &server
            .post("/api/sessions/nobody/passkey", json!({ "assertion": "{}" }))
            .await,
        404,
        "SESSION_NOT_FOUND",
        "Session tidak ditemukan",
    );
    assert_eq!(
        server.get("/api/sessions/gated/status").await.data(200)["state"],
        "passkey_required"
    );

    // The passkey's answer, as the JSON object the snippet prints.
    let assertion = server.sign_passkey(phone, options, &AssertionTweaks::default());
    let assertion: Value = serde_json::from_str(&assertion).unwrap();
    let reply = server.post(route, json!({ "assertion": assertion })).await;
    assert_eq!(
        reply.json()["message"],
        "Passkey diterima",
        "{}",
        reply.text
    );
    let data = reply.data(200);
    assert_eq!(data["sessionId"], "gated");
    let code = data["confirmationCode"]
        .as_str()
        .expect("a confirmation code");
    assert_eq!(
        Some(code.to_owned()),
        server.sim.passkey_code(phone),
        "the phone shows the same code"
    );
    let connected = server.wait_connected("gated").await;
    assert_eq!(connected["user"]["phone"], phone);
    assert_eq!(connected["passkey"], Value::Null);
    assert_error(
        &server.post(route, json!({ "assertion": assertion })).await,
        400,
        "ALREADY_CONNECTED",
        "Session sudah terhubung, passkey tidak diperlukan",
    );
}

/// A well-formed assertion no passkey made (only its shape is right).
fn made_up_assertion() -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    json!({
        "id": b64(b"made-up"),
        "rawId": b64(b"made-up"),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(br#"{"type":"webauthn.get","challenge":"YWJj","origin":"https://web.whatsapp.com"}"#),
            "authenticatorData": b64(&[0u8; 37]),
            "signature": b64(b"signature"),
            "userHandle": null,
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_outside_the_passkey_step_is_refused() {
    let server = Server::start().await;
    server
        .post("/api/sessions/create", json!({ "sessionId": "plain" }))
        .await
        .data(201);
    server.wait_qr("plain").await;
    assert_error(
        &server
            .post(
                "/api/sessions/plain/passkey",
                json!({ "assertion": made_up_assertion() }),
            )
            .await,
        400,
        "INVALID_ARGUMENT",
        "Session tidak sedang menunggu passkey (state: awaiting_scan)",
    );
    assert_eq!(
        server.get("/api/sessions/plain/status").await.data(200)["passkey"],
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_expired_passkey_is_a_client_error_and_a_fresh_qr_follows() {
    let server = Server::start().await;
    let (phone, status) = gated_link(&server, "refused").await;
    let options = status["passkey"]["optionsJson"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = server.sign_passkey(
        phone,
        &options,
        &AssertionTweaks {
            corrupt_signature: true,
            ..AssertionTweaks::default()
        },
    );
    // As a string, the way the QR page sends what was pasted.
    assert_error(
        &server
            .post(
                "/api/sessions/refused/passkey",
                json!({ "assertion": forged }),
            )
            .await,
        422,
        "PASSKEY_REJECTED",
        "Passkey ditolak oleh WhatsApp; pindai QR Code baru untuk mencoba lagi",
    );
    let fresh = server.wait_qr("refused").await;
    assert!(fresh["qrPayload"].is_string());
    assert_eq!(
        server.get("/api/sessions/refused/status").await.data(200)["passkey"],
        Value::Null
    );

    // The next scan asks again; this time the challenge goes stale first.
    server
        .sim
        .scan(fresh["qrPayload"].as_str().unwrap(), phone, "Kasir")
        .await
        .expect("the gated phone scans the fresh QR");
    let status = server.wait_passkey_required("refused").await;
    let options = status["passkey"]["optionsJson"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        server.sim.expire_passkey_challenge(phone),
        "a challenge was pending"
    );
    let late = server.sign_passkey(phone, &options, &AssertionTweaks::default());
    assert_error(
        &server
            .post(
                "/api/sessions/refused/passkey",
                json!({ "assertion": late }),
            )
            .await,
        410,
        "PASSKEY_EXPIRED",
        "Verifikasi passkey sudah kedaluwarsa; pindai QR Code baru untuk mencoba lagi",
    );
    server.wait_qr("refused").await;
}
