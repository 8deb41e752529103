//! The `waotp-sim` binary: JSON line on stdout, control API over HTTP, and a
//! real client linked through `POST /scan`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use whatsapp_rust::prelude::*;

struct Sim {
    child: Child,
    ws: String,
    control: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sim() -> Sim {
    spawn_sim_with(&[])
}

fn spawn_sim_with(extra: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waotp-sim"))
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn waotp-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read JSON line");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
    let ws = v["ws"].as_str().expect("ws").to_string();
    let control = v["control"].as_str().expect("control").to_string();
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/ws/chat"),
        "{ws}"
    );
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    Sim { child, ws, control }
}

/// A minimal blocking HTTP/1.1 request; returns (status, JSON body).
fn http(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response {response:?}"));
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

/// Runs blocking HTTP off the async workers.
async fn http_async(
    base: &str,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> (u16, Value) {
    let base = base.to_string();
    tokio::task::spawn_blocking(move || http(&base, method, &path, body))
        .await
        .unwrap()
}

#[test]
fn control_api_basics_and_errors() {
    let sim = spawn_sim();
    let c = &sim.control;
    assert_eq!(http(c, "GET", "/health", None), (200, json!({"ok": true})));
    assert_eq!(
        http(
            c,
            "POST",
            "/numbers",
            Some(json!({"phone": "6281234567890", "registered": true}))
        )
        .0,
        200
    );
    assert_eq!(
        http(c, "GET", "/inbox/6281234567890", None),
        (200, json!({"messages": []}))
    );
    let (status, body) = http(c, "POST", "/faults", Some(json!({"kind": "explode"})));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("explode"),
        "{body}"
    );
    let (status, body) = http(c, "POST", "/faults", Some(json!({"kind": "error_ack"})));
    assert_eq!(status, 400, "error_ack needs a recipient: {body}");
    let (status, body) = http(c, "POST", "/faults", Some(json!({"kind": "undecryptable"})));
    assert_eq!(status, 400, "undecryptable needs a recipient: {body}");
    let undecryptable = json!({"kind": "undecryptable", "phone": "6281234567890"});
    assert_eq!(http(c, "POST", "/faults", Some(undecryptable)).0, 200);
    assert_eq!(
        http(c, "GET", "/devices", None),
        (200, json!({"devices": []})),
        "no device linked yet"
    );
    assert_eq!(
        http(c, "POST", "/faults", Some(json!({"kind": "drop"}))).0,
        200
    );
    let aimed =
        json!({"kind": "slow_iq", "phone": "6281111111111", "xmlns": "usync", "delay_ms": 10});
    assert_eq!(http(c, "POST", "/faults", Some(aimed)).0, 200);
    let (status, body) = http(
        c,
        "POST",
        "/faults",
        Some(json!({"kind": "drop", "xmlns": "usync"})),
    );
    assert_eq!(status, 400, "xmlns aims slow_iq only: {body}");
    // Armed but not yet hit: nothing is listed.
    assert_eq!(http(c, "GET", "/faults", None), (200, json!({"hits": []})));
    let (status, body) = http(
        c,
        "POST",
        "/scan",
        Some(json!({"qr": "nonsense", "phone": "62811"})),
    );
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "{body}");
    let (status, _) = http(c, "POST", "/numbers", Some(json!({"nope": 1})));
    assert!(
        (400..500).contains(&status),
        "malformed body must be a 4xx, got {status}"
    );
}

/// The account-limit routes: what they set shows in `GET …/limits`, and
/// bad bodies get 400 with a reason. The default quota flag applies to
/// every account.
#[test]
fn account_limit_routes_and_their_errors() {
    let sim = spawn_sim_with(&["--new-chat-quota", "3", "--quota-cycle-secs", "60"]);
    let c = &sim.control;
    let a = "/accounts/6281111111450";
    let (status, limits) = http(c, "GET", &format!("{a}/limits"), None);
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["capping"]["total"], 3, "the flag's quota: {limits}");
    assert_eq!(limits["capping"]["status"], "NONE", "{limits}");
    assert_eq!(
        limits["capping"]["cycle_end"].as_i64().unwrap()
            - limits["capping"]["cycle_start"].as_i64().unwrap(),
        60
    );
    assert_eq!(limits["timelock"]["is_active"], false, "{limits}");
    assert_eq!(limits["ban"], Value::Null, "{limits}");

    let body = json!({"new_chat_quota": 5, "cycle_secs": 3600});
    let (status, limits) = http(c, "POST", &format!("{a}/limits"), Some(body));
    assert_eq!(
        (status, &limits["capping"]["total"]),
        (200, &json!(5)),
        "{limits}"
    );
    let (status, limits) = http(
        c,
        "POST",
        &format!("{a}/limits"),
        Some(json!({"new_chat_quota": null})),
    );
    assert_eq!(
        (status, &limits["capping"]),
        (200, &Value::Null),
        "{limits}"
    );

    let (status, limits) = http(
        c,
        "POST",
        &format!("{a}/timelock"),
        Some(json!({"seconds": 300})),
    );
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["timelock"]["is_active"], true, "{limits}");
    assert_eq!(
        limits["timelock"]["enforcement"], "RESTRICT_ALL_COMPANIONS",
        "{limits}"
    );
    let (_, limits) = http(
        c,
        "POST",
        &format!("{a}/timelock"),
        Some(json!({"seconds": 0})),
    );
    assert_eq!(
        limits["timelock"]["is_active"], false,
        "0 lifts it: {limits}"
    );

    let (status, limits) = http(c, "POST", &format!("{a}/ban"), Some(json!({"seconds": 60})));
    assert_eq!(
        (status, &limits["ban"]["code"]),
        (200, &json!(101)),
        "{limits}"
    );
    let (status, limits) = http(
        c,
        "POST",
        &format!("{a}/chats"),
        Some(json!({"with": "6281234567890"})),
    );
    assert_eq!(
        (status, &limits["chats"]),
        (200, &json!(["6281234567890"])),
        "{limits}"
    );
    assert_eq!(http(c, "POST", &format!("{a}/remove-devices"), None).0, 200);

    for (path, body, says) in [
        ("/accounts/12/limits", json!({}), "not a phone number"),
        (
            &*format!("{a}/limits"),
            json!({"new_chat_quota": 5, "cycle_secs": 0}),
            "cycle_secs",
        ),
        (
            &*format!("{a}/limits"),
            json!({"cycle_secs": 10}),
            "goes with new_chat_quota",
        ),
        (
            &*format!("{a}/limits"),
            json!({"quota": 5}),
            "unknown field",
        ),
        (
            &*format!("{a}/limits"),
            json!({"auto_timelock": {"after_new_chats": 0, "window_secs": 1, "seconds": 1}}),
            "after_new_chats",
        ),
        (&*format!("{a}/timelock"), json!({"seconds": -1}), "seconds"),
        (
            &*format!("{a}/chats"),
            json!({"with": "12"}),
            "not a phone number",
        ),
    ] {
        let (status, answer) = http(c, "POST", path, Some(body.clone()));
        assert_eq!(status, 400, "{path} {body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(says),
            "{path} {body}: {error:?} should say {says:?}"
        );
    }
}

#[test]
fn refuses_non_loopback_addresses() {
    let status = Command::new(env!("CARGO_BIN_EXE_waotp-sim"))
        .args(["--listen", "0.0.0.0:0", "--control", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run waotp-sim");
    assert!(!status.success(), "binding 0.0.0.0 must be refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_client_links_and_sends_through_the_binary() {
    init_logs();
    let sim = spawn_sim();
    let (status, _) = http_async(
        &sim.control,
        "POST",
        "/numbers".into(),
        Some(json!({"phone": "6281234567890", "registered": true})),
    )
    .await;
    assert_eq!(status, 200);

    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start_url(&sim.ws, &dir.path().join("wa.db"), None).await;
    let qr = client.qr().await;
    let (status, body) = http_async(
        &sim.control,
        "POST",
        "/scan".into(),
        Some(json!({"qr": qr, "phone": "6281111111111", "name": "Test Phone"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    client.connected(EVENT_DEADLINE).await;

    client
        .client
        .send_text(Jid::pn("6281234567890"), "halo dari biner")
        .await
        .expect("send");
    // Wait on the client's own read receipt rather than polling the inbox:
    // the simulator stores the message before it sends any receipt.
    client
        .wait_for("read receipt", EVENT_DEADLINE, |e| match e {
            Event::Receipt(r) if r.r#type == whatsapp_rust::types::presence::ReceiptType::Read => {
                Some(())
            }
            _ => None,
        })
        .await;
    let (status, body) = http_async(&sim.control, "GET", "/inbox/6281234567890".into(), None).await;
    assert_eq!(status, 200);
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["text"], "halo dari biner");
    assert_eq!(messages[0]["from"], "6281111111111");
    assert!(
        messages[0]["id"].is_string() && messages[0]["at"].is_i64(),
        "{body}"
    );

    let (status, body) = http_async(&sim.control, "GET", "/devices".into(), None).await;
    assert_eq!(status, 200);
    let devices = body["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{body}");
    let device = &devices[0];
    let id = device["device"].as_u64().expect("device id");
    assert_eq!(device["jid"], format!("6281111111111:{id}@s.whatsapp.net"));
    assert_eq!(device["phone"], "6281111111111");
    assert_eq!(device["live_connections"], 1, "{body}");
    // The client may reconnect on its own around pairing; a new login that
    // reaches the simulator before the old socket's close counts as a
    // replacement, so only the presence of these three is checked here.
    for counter in ["logins", "max_live_connections"] {
        assert!(
            device[counter].as_u64().is_some_and(|n| n >= 1),
            "{counter}: {body}"
        );
    }
    assert!(device["replaced"].is_u64(), "{body}");
    for zero in ["duplicate_messages", "retry_receipts_sent", "retry_resends"] {
        assert_eq!(device[zero], 0, "{zero}: {body}");
    }

    // A slow_iq fault aimed through the control API hits the usync query.
    let (status, body) = http_async(
        &sim.control,
        "POST",
        "/faults".into(),
        Some(json!({
            "kind": "slow_iq", "phone": "6281111111111",
            "xmlns": "usync", "context": "interactive", "delay_ms": 200
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(client.is_on_whatsapp("6281234567890").await);
    let (status, body) = http_async(&sim.control, "GET", "/faults".into(), None).await;
    assert_eq!(status, 200);
    let hits = body["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 1, "{body}");
    assert_eq!(hits[0]["kind"], "slow_iq");
    assert_eq!(hits[0]["target"], "usync");
    assert_eq!(hits[0]["context"], "interactive");
    assert_eq!(hits[0]["phone"], "6281111111111");

    let (status, _) = http_async(
        &sim.control,
        "POST",
        "/faults".into(),
        Some(json!({"kind": "logout", "phone": "6281111111111"})),
    )
    .await;
    assert_eq!(status, 200);
    client
        .wait_for("LoggedOut", EVENT_DEADLINE, |e| {
            matches!(e, Event::LoggedOut(_)).then_some(())
        })
        .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkey_gate_through_the_control_api() {
    use base64::Engine as _;
    use base64::prelude::{BASE64_STANDARD, BASE64_URL_SAFE_NO_PAD};
    use p256::pkcs8::DecodePrivateKey as _;

    init_logs();
    let phone = "6281333300001";
    let sim = spawn_sim_with(&["--passkey-number", phone]);
    let c = &sim.control;

    let (status, key) = http_async(c, "GET", format!("/passkey/{phone}"), None).await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["rpId"], "whatsapp.com");
    assert_eq!(key["options"], Value::Null, "{key}");
    assert_eq!(key["code"], Value::Null, "{key}");
    let credential_id = BASE64_URL_SAFE_NO_PAD
        .decode(key["credentialId"].as_str().expect("credentialId"))
        .unwrap();
    assert_eq!(credential_id.len(), 16);
    let pkcs8 = BASE64_STANDARD
        .decode(key["privateKeyPkcs8"].as_str().expect("privateKeyPkcs8"))
        .unwrap();
    p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8).expect("PKCS#8 P-256 key");

    let (status, _) = http_async(c, "GET", "/passkey/6289999999999".into(), None).await;
    assert_eq!(status, 404, "an ungated account has no passkey");
    let nothing_pending = json!({"phone": phone});
    let (status, body) = http_async(
        c,
        "POST",
        "/passkey/expire".into(),
        Some(nothing_pending.clone()),
    )
    .await;
    assert_eq!(status, 404, "nothing to expire: {body}");
    let (status, body) =
        http_async(c, "POST", "/passkey/assert".into(), Some(nothing_pending)).await;
    assert_eq!(status, 404, "no pending options to sign: {body}");
    let gate = json!({"phone": "6281333300002", "registered": true, "passkey": true});
    assert_eq!(
        http_async(c, "POST", "/numbers".into(), Some(gate)).await.0,
        200
    );
    assert_eq!(
        http_async(c, "GET", "/passkey/6281333300002".into(), None)
            .await
            .0,
        200,
        "POST /numbers with passkey:true gates the account"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start_url(&sim.ws, &dir.path().join("wa.db"), None).await;
    let qr = client.qr().await;
    let scan = json!({"qr": qr, "phone": phone, "name": "Test Phone"});
    let (status, body) = http_async(c, "POST", "/scan".into(), Some(scan)).await;
    assert_eq!(status, 200, "{body}");
    let options = client
        .wait_for("PairPasskeyRequest", EVENT_DEADLINE, |e| match e {
            Event::PairPasskeyRequest(r) => Some(r.request_options_json.clone()),
            Event::Connected(_) => panic!("paired without the passkey gate"),
            _ => None,
        })
        .await;
    let options: Value = serde_json::from_str(&options).unwrap();
    let (status, key) = http_async(c, "GET", format!("/passkey/{phone}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(key["options"], options, "GET shows the pending options");

    let bad = json!({"phone": phone, "options": 5});
    assert_eq!(
        http_async(c, "POST", "/passkey/assert".into(), Some(bad))
            .await
            .0,
        400
    );
    // Options as a JSON string are accepted too; this one is then unused.
    let as_string = json!({"phone": phone, "options": options.to_string()});
    assert_eq!(
        http_async(c, "POST", "/passkey/assert".into(), Some(as_string))
            .await
            .0,
        200
    );
    let (status, assertion) = http_async(
        c,
        "POST",
        "/passkey/assert".into(),
        Some(json!({"phone": phone})),
    )
    .await;
    assert_eq!(status, 200, "{assertion}");
    assert_eq!(assertion["type"], "public-key");
    assert_eq!(assertion["id"], key["credentialId"]);
    assert_eq!(assertion["rawId"], key["credentialId"]);
    assert_eq!(assertion["response"]["userHandle"], key["userHandle"]);
    for field in ["clientDataJSON", "authenticatorData", "signature"] {
        assert!(assertion["response"][field].is_string(), "{assertion}");
    }
    client
        .client
        .send_passkey_response(whatsapp_rust::passkey::Assertion {
            assertion_json: assertion.to_string().into_bytes(),
            credential_id,
        })
        .await
        .expect("assertion accepted");
    let code = client
        .wait_for("PairPasskeyConfirmation", EVENT_DEADLINE, |e| match e {
            Event::PairPasskeyConfirmation(c) => Some(c.code.clone()),
            _ => None,
        })
        .await;
    let (_, key) = http_async(c, "GET", format!("/passkey/{phone}"), None).await;
    assert_eq!(key["code"], code.as_str(), "{key}");
    assert_eq!(key["options"], Value::Null, "the challenge is spent: {key}");
    client
        .client
        .send_passkey_confirmation()
        .await
        .expect("confirmation");
    client.connected(EVENT_DEADLINE).await;
    client.shutdown().await;
}

#[test]
fn a_throwaway_redis_server_answers_goes_away_and_comes_back() {
    use std::io::{BufRead, BufReader, Write};
    let mut redis = waotp_sim::redis_server::RedisServer::start().expect("redis-server starts");
    let ping = |port: u16| -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        s.write_all(b"PING\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line.starts_with("+PONG")
    };
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    assert!(ping(redis.port()));
    redis.stop();
    assert!(!ping(redis.port()), "a stopped server no longer answers");
    redis.start_again().unwrap();
    assert!(ping(redis.port()), "it comes back on the same port");
}
