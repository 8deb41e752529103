//! The guide's own client flows, run unchanged in shape as a Node script
//! (`tests/guide_flows.mjs`) against the server. This test plays the phone
//! (scans the QR the script's session shows) and checks what reached each
//! recipient against what the script was told.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{LINKED_PHONE, STEP, Server, code_in};

/// The whole script: linking, seven sends (one paced second each), retries.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_node_client_flows_work() {
    let server = Server::start().await;
    for n in 80..=85 {
        server.recipient(&format!("62812345678{n}"));
    }
    let phone = {
        let gateway = server.gateway.clone();
        let sim = server.sim.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + STEP;
            let session = loop {
                if let Ok(session) = gateway.session("my-session") {
                    break session;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the script created no session within {STEP:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let qr = session.wait_qr(STEP).await.expect("a QR code to scan");
            sim.scan(qr.raw(), LINKED_PHONE, "Test Phone")
                .await
                .expect("the phone scans the QR");
        })
    };

    let base = server.base.clone();
    let out = tokio::task::spawn_blocking(move || run_script(&base))
        .await
        .unwrap();
    phone.await.unwrap();

    assert_eq!(out["sessionId"], "my-session");
    assert_eq!(out["user"]["phone"], LINKED_PHONE);
    assert_eq!(out["sessions"], json!({ "my-session": true }));

    // sendOTP: the code in data.otp is the one the recipient got.
    let otp = out["otp"].as_str().unwrap();
    assert_eq!(code_in(&server.inbox("6281234567880", 1).await[0]), otp);

    // generate-otp + text with the guide's template.
    let custom = &out["custom"];
    let text = &server.inbox("6281234567881", 1).await[0];
    assert_eq!(
        text,
        &format!(
            "🔐 Kode Verifikasi Anda\n\nKode OTP: *{}*\n\nJangan bagikan kode ini kepada siapapun.\nBerlaku 5 menit.",
            custom["otp"].as_str().unwrap()
        )
    );
    assert!(custom["messageId"].is_string());

    // Batch: every number got its own code.
    let batch = out["batch"].as_array().unwrap();
    assert_eq!(batch.len(), 3);
    for (entry, n) in batch.iter().zip(82..=84) {
        assert_eq!(entry["success"], true, "{entry}");
        let got = code_in(&server.inbox(&format!("62812345678{n}"), 1).await[0]);
        assert_eq!(entry["otp"].as_str().unwrap(), got);
    }

    // Retry with backoff: a fresh number succeeds at once; the number that
    // just got a code is refused by the cooldown three times, then given up.
    assert_eq!(out["retryOk"]["attempts"], 0);
    assert_eq!(
        code_in(&server.inbox("6281234567885", 1).await[0]),
        out["retryOk"]["otp"].as_str().unwrap()
    );
    assert_eq!(out["retryCooldown"]["gaveUp"], true, "{out}");
    assert_eq!(
        out["retryCooldown"]["attempts"],
        json!(vec!["HTTP 429: Too Many Requests"; 3])
    );
    assert_eq!(server.sim.inbox("6281234567880").len(), 1, "no second code");

    assert_eq!(out["verify"]["status"], 200, "{out}");
    assert_eq!(out["verify"]["body"]["success"], true);
}

/// Runs the script against `base`; its JSON output. Fails with its stderr
/// when it fails or outlives [`SCRIPT_DEADLINE`].
fn run_script(base: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guide_flows.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg(base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node (18+) is needed to run {script}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the guide flows did not finish within {SCRIPT_DEADLINE:?}; stderr: {}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(status.success(), "node exited with {status}: {stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}; stderr: {stderr}"))
}
