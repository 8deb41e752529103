//! The `waotp-server` binary: its start-up checks, and a restart that
//! serves the sessions it had, linked, without a QR code.
//!
//! The simulator runs in this process; the server is the real binary
//! (`CARGO_BIN_EXE_waotp-server`, built by cargo for these tests).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use waotp_sim::{SimConfig, Simulator};

mod common;

use common::server_process::{BIN, STEP, ServerProcess};

const LINKED_PHONE: &str = "6281111111111";

/// `(status, body)` of a request, off the async runtime's threads.
async fn call(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Content-Type", "application/json");
        let response = match body {
            Some(body) => agent.run(request.body(body.to_string()).unwrap()),
            None => agent.run(request.body(()).unwrap()),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = response.body_mut().read_to_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (response.status().as_u16(), json)
    })
    .await
    .unwrap()
}

/// Polls `GET url` until `done` holds; fails with `what` after [`STEP`].
async fn poll(url: &str, what: &str, done: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let (status, body) = call("GET", url.to_owned(), None).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_its_sessions_without_a_qr() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    // The test build has SQLCipher (the `sqlcipher` feature).
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("store.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();

    let first = ServerProcess::start(
        dir.path(),
        &sim.ws_url(),
        &[],
        &[("WAOTP_SESSION_STORE_KEY_FILE", key_file.to_str().unwrap())],
    );
    let (status, _) = call(
        "POST",
        format!("{}/api/sessions/create", first.base),
        Some(json!({ "sessionId": "main" })),
    )
    .await;
    assert_eq!(status, 201);
    let qr = poll(
        &format!("{}/api/sessions/main/qr", first.base),
        "a QR code",
        |s, _| s == 200,
    )
    .await;
    sim.scan(
        qr["data"]["qrPayload"].as_str().unwrap(),
        LINKED_PHONE,
        "Test Phone",
    )
    .await
    .unwrap();
    poll(
        &format!("{}/api/sessions/main/status", first.base),
        "the session to connect",
        |_, b| b["data"]["isConnected"] == true,
    )
    .await;
    let (status, body) = call(
        "POST",
        format!("{}/api/messages/main/text", first.base),
        Some(json!({ "to": "081234567890", "message": "sebelum restart" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    sim.wait_for_inbox("6281234567890", 1, STEP).await.unwrap();
    first.stop();
    // Its pages are in the store or still in its WAL; neither is plain.
    let store = std::fs::read(dir.path().join("sessions/main.db")).unwrap();
    let wal = std::fs::read(dir.path().join("sessions/main.db-wal")).unwrap_or_default();
    assert!(
        store.len() + wal.len() > 4096,
        "the session store was written"
    );
    assert!(
        !store.starts_with(b"SQLite format 3\0"),
        "the session store is encrypted"
    );
    assert!(
        !store
            .windows(LINKED_PHONE.len())
            .any(|w| w == LINKED_PHONE.as_bytes())
            && !wal
                .windows(LINKED_PHONE.len())
                .any(|w| w == LINKED_PHONE.as_bytes()),
        "the linked number is not in the store in clear"
    );

    let second = ServerProcess::start(
        dir.path(),
        &sim.ws_url(),
        &[],
        &[("WAOTP_SESSION_STORE_KEY_FILE", key_file.to_str().unwrap())],
    );
    let list = poll(
        &format!("{}/api/sessions", second.base),
        "the restored session to connect",
        |_, b| b["data"]["sessions"]["main"]["isConnected"] == true,
    )
    .await;
    assert_eq!(list["data"]["total"], 1);
    let main = &list["data"]["sessions"]["main"];
    assert_eq!(main["qrRefreshCount"], 0, "no QR was shown: {main}");
    assert_eq!(main["user"]["phone"], LINKED_PHONE);
    let (status, body) = call(
        "POST",
        format!("{}/api/messages/main/text", second.base),
        Some(json!({ "to": "081234567890", "message": "sesudah restart" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let inbox = sim.wait_for_inbox("6281234567890", 2, STEP).await.unwrap();
    assert_eq!(inbox[1].text, "sesudah restart");
    second.stop();
}

/// Runs the binary with `args` and expects it to refuse to start.
fn refused(args: &[&str], envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("WAOTP_API_KEY")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success(), "started with {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn start_up_refuses_unsafe_settings() {
    let ws = "ws://127.0.0.1:9/ws/chat";
    let stderr = refused(&["--listen", "0.0.0.0:0", "--endpoint", ws], &[]);
    assert!(stderr.contains("needs an API key"), "{stderr}");
    let stderr = refused(
        &[
            "--listen",
            "0.0.0.0:0",
            "--endpoint",
            ws,
            "--api-key",
            "short",
        ],
        &[],
    );
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
    // An empty WAOTP_API_KEY is no key.
    let stderr = refused(
        &["--listen", "0.0.0.0:0", "--endpoint", ws],
        &[("WAOTP_API_KEY", "")],
    );
    assert!(stderr.contains("needs an API key"), "{stderr}");
    // A sandbox build talks only to a loopback simulator.
    let stderr = refused(&["--listen", "127.0.0.1:0"], &[]);
    assert!(stderr.contains("ENDPOINT_NOT_ALLOWED"), "{stderr}");
    let stderr = refused(
        &[
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            "ws://example.com/ws/chat",
        ],
        &[],
    );
    assert!(stderr.contains("ENDPOINT_NOT_ALLOWED"), "{stderr}");
    // A session store key file that is not a key.
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("store.key");
    std::fs::write(&key_file, "abcd").unwrap();
    let stderr = refused(
        &["--listen", "127.0.0.1:0", "--endpoint", ws],
        &[("WAOTP_SESSION_STORE_KEY_FILE", key_file.to_str().unwrap())],
    );
    assert!(
        stderr.contains("cannot read the session store key file") && stderr.contains("32"),
        "{stderr}"
    );
}
