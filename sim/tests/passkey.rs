//! The passkey gate on linking (issue 22) against the real whatsapp-rust
//! client: the client's SHORTCAKE_PASSKEY flow (`Event::PairPasskeyRequest`,
//! `send_passkey_response`, `Event::PairPasskeyConfirmation`,
//! `send_passkey_confirmation`) through the simulator's server and phone.

mod common;

use common::*;

use base64::Engine as _;
use base64::prelude::BASE64_URL_SAFE_NO_PAD;
use serde_json::Value;
use waotp_sim::{AssertionTweaks, SimConfig, Simulator};
use whatsapp_rust::passkey::Assertion;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::*;

async fn sim() -> Simulator {
    init_logs();
    Simulator::start(SimConfig::default())
        .await
        .expect("sim start")
}

/// Waits for the client's passkey request; a pairing without it fails.
async fn passkey_request(client: &mut TestClient) -> String {
    client
        .wait_for("PairPasskeyRequest", EVENT_DEADLINE, |e| match e {
            Event::PairPasskeyRequest(r) => Some(r.request_options_json.clone()),
            Event::PairSuccess(_) | Event::Connected(_) => {
                panic!("a gated account paired without the passkey gate")
            }
            _ => None,
        })
        .await
}

/// The assertion the owner's browser makes for `options`, as the client
/// sends it.
fn assertion(sim: &Simulator, phone: &str, options: &str, tweaks: &AssertionTweaks) -> Assertion {
    let json = sim
        .sign_passkey_assertion(phone, options, tweaks)
        .expect("sign assertion");
    Assertion {
        assertion_json: json.into_bytes(),
        credential_id: sim.passkey(phone).expect("gated").credential_id,
    }
}

/// After the scan (or the code): the request, a correct assertion, the
/// code the phone and the companion both show, the confirmation, and
/// `Connected`.
async fn pass_the_gate(sim: &Simulator, client: &mut TestClient, phone: &str) {
    let options = passkey_request(client).await;
    assert_eq!(
        sim.pending_passkey_options(phone).as_deref(),
        Some(options.as_str())
    );
    assert!(
        sim.linked_accounts().iter().all(|a| a.phone != phone),
        "paired before the assertion"
    );
    client
        .client
        .send_passkey_response(assertion(sim, phone, &options, &AssertionTweaks::default()))
        .await
        .expect("the assertion is accepted");
    assert_eq!(sim.pending_passkey_options(phone), None, "challenge spent");

    let code = client
        .wait_for("PairPasskeyConfirmation", EVENT_DEADLINE, |e| match e {
            Event::PairPasskeyConfirmation(c) => Some(c.clone()),
            Event::PairPasskeyError(err) => panic!("passkey error: {err:?}"),
            _ => None,
        })
        .await;
    assert!(!code.skip_handoff_ux, "a first link shows the code");
    assert_eq!(
        sim.passkey_code(phone).as_deref(),
        Some(code.code.as_str()),
        "the phone and the companion show different codes"
    );
    client
        .client
        .send_passkey_confirmation()
        .await
        .expect("confirmation");
    client
        .wait_for("Connected after the gate", EVENT_DEADLINE, |e| match e {
            Event::Connected(_) => Some(()),
            Event::PairPasskeyError(err) => panic!("passkey error: {err:?}"),
            Event::PairError(err) => panic!("pair error: {err:?}"),
            _ => None,
        })
        .await;
    assert!(
        sim.linked_accounts().iter().any(|a| a.phone == phone),
        "{:?}",
        sim.linked_accounts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gated_account_links_by_qr_and_logs_in_again_without_a_passkey() {
    let sim = sim().await;
    let phone = "6281222200001";
    sim.require_passkey(phone);
    let key = sim.passkey(phone).expect("gated");
    assert_eq!(key.credential_id.len(), 16);
    assert_eq!(key.rp_id, "whatsapp.com");
    assert_eq!(sim.pending_passkey_options(phone), None);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wa.db");
    let mut client = TestClient::start(&sim, &db, None).await;
    let qr = client.qr().await;
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");

    let options: Value =
        serde_json::from_str(&sim.pending_passkey_options(phone).expect("pending")).unwrap();
    assert_eq!(options["rpId"], "whatsapp.com");
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["timeout"], 120_000);
    assert_eq!(
        options["allowCredentials"][0]["id"],
        BASE64_URL_SAFE_NO_PAD.encode(&key.credential_id)
    );
    let challenge = BASE64_URL_SAFE_NO_PAD
        .decode(options["challenge"].as_str().expect("challenge"))
        .unwrap();
    assert_eq!(challenge.len(), 32);

    pass_the_gate(&sim, &mut client, phone).await;
    client.shutdown().await;

    // The stored session (with the rotated ADV secret) logs in as usual.
    let mut again = TestClient::start(&sim, &db, None).await;
    again
        .wait_for("Connected after restart", EVENT_DEADLINE, |e| match e {
            Event::PairingQrCode(_) => panic!("restarted client asked for a QR code"),
            Event::PairPasskeyRequest(_) => panic!("a login asked for a passkey"),
            Event::Connected(_) => Some(()),
            _ => None,
        })
        .await;
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gated_account_links_by_pairing_code() {
    let sim = sim().await;
    let phone = "6281222200002";
    sim.require_passkey(phone);
    let dir = tempfile::tempdir().unwrap();
    let options = PairCodeOptions {
        phone_number: phone.to_string(),
        ..Default::default()
    };
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), Some(options)).await;
    let code = client
        .wait_for("PairingCode", EVENT_DEADLINE, |e| match e {
            Event::PairingCode(c) => Some(c.code.clone()),
            _ => None,
        })
        .await;
    sim.enter_pair_code(phone, &code)
        .await
        .expect("enter pairing code");
    pass_the_gate(&sim, &mut client, phone).await;
    client.shutdown().await;
}

/// Scans a fresh client for gated `phone`, sends the assertion `tweak`
/// makes from the request options, and returns the client's error.
async fn refused(
    phone: &str,
    tweak: impl FnOnce(&Simulator, &str) -> AssertionTweaks,
) -> (Simulator, TestClient, String) {
    let sim = sim().await;
    sim.require_passkey(phone);
    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), None).await;
    let qr = client.qr().await;
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");
    let options = passkey_request(&mut client).await;
    let tweaks = tweak(&sim, phone);
    let error = client
        .client
        .send_passkey_response(assertion(&sim, phone, &options, &tweaks))
        .await
        .expect_err("the assertion must be refused")
        .to_string();
    // A refusal ends the attempt: nothing is pending, nothing paired.
    assert_eq!(sim.pending_passkey_options(phone), None, "{error}");
    assert!(sim.linked_accounts().is_empty(), "{error}");
    assert_eq!(sim.passkey_code(phone), None, "{error}");
    (sim, client, error)
}

fn assert_iq_error(error: &str, code: u16, text: &str) {
    assert!(
        error.contains(&format!("code={code}, text='{text}'")),
        "wanted IQ error {code} {text}, got: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_signature_is_refused() {
    let (_sim, client, error) = refused("6281222200003", |_, _| AssertionTweaks {
        corrupt_signature: true,
        ..Default::default()
    })
    .await;
    assert_iq_error(&error, 401, "passkey-signature");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_rp_id_is_refused() {
    let (_sim, client, error) = refused("6281222200004", |_, _| AssertionTweaks {
        rp_id: Some("evil.example".into()),
        ..Default::default()
    })
    .await;
    assert_iq_error(&error, 401, "passkey-rp-id");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_challenge_is_refused() {
    let (_sim, client, error) = refused("6281222200005", |_, _| AssertionTweaks {
        challenge: Some(BASE64_URL_SAFE_NO_PAD.encode([7u8; 32])),
        ..Default::default()
    })
    .await;
    assert_iq_error(&error, 401, "passkey-challenge");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_challenge_is_refused() {
    let (_sim, client, error) = refused("6281222200006", |sim, phone| {
        assert!(sim.expire_passkey_challenge(phone), "no pending challenge");
        AssertionTweaks::default()
    })
    .await;
    assert_iq_error(&error, 410, "passkey-expired");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_assertion_is_a_400_and_a_new_attempt_links() {
    let sim = sim().await;
    let phone = "6281222200007";
    sim.require_passkey(phone);
    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start(&sim, &dir.path().join("first.db"), None).await;
    let qr = client.qr().await;
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");
    passkey_request(&mut client).await;
    for junk in [&b"{not json"[..], b"", br#"{"type":"public-key","response":{}}"#] {
        let error = client
            .client
            .send_passkey_response(Assertion {
                assertion_json: junk.to_vec(),
                credential_id: sim.passkey(phone).expect("gated").credential_id,
            })
            .await
            .expect_err("junk must be refused")
            .to_string();
        // The first refusal ends the attempt; later prologues on the same
        // connection find none.
        if junk == b"{not json" {
            assert_iq_error(&error, 400, "passkey-malformed");
        } else {
            assert_iq_error(&error, 404, "passkey-no-attempt");
        }
    }
    client.shutdown().await;

    // The simulator still serves, and a new connection starts over.
    let mut second = TestClient::start(&sim, &dir.path().join("second.db"), None).await;
    let qr = second.qr().await;
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");
    pass_the_gate(&sim, &mut second, phone).await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ungated_account_links_without_a_passkey_request() {
    let sim = sim().await;
    // Another account is gated; this one is not.
    sim.require_passkey("6281222200008");
    let phone = "6281222200009";
    let dir = tempfile::tempdir().unwrap();
    let mut client = TestClient::start(&sim, &dir.path().join("wa.db"), None).await;
    let qr = client.qr().await;
    sim.scan(&qr, phone, "Test Phone").await.expect("scan");
    // scan() returned after the 515: pairing happened without the gate.
    assert!(
        sim.linked_accounts().iter().any(|a| a.phone == phone),
        "{:?}",
        sim.linked_accounts()
    );
    client
        .wait_for("Connected", EVENT_DEADLINE, |e| match e {
            Event::PairPasskeyRequest(_) => panic!("an ungated account got a passkey request"),
            Event::Connected(_) => Some(()),
            _ => None,
        })
        .await;
    assert_eq!(sim.passkey(phone), None);
    assert_eq!(sim.pending_passkey_options("6281222200008"), None);
    client.shutdown().await;
}
