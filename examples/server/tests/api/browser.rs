//! The QR page in headless Chromium (Debian's `chromium`), driven through
//! its DevTools protocol: the page shows a QR image that decodes to the
//! session's current QR payload, follows a new code without a reload, shows
//! "connected" once the simulated phone scans it, and "expired" with a
//! button when every code expired.
//!
//! For an account gated behind a passkey, the page walks the operator
//! through the passkey step: the snippet, the pasted result, a refusal that
//! leads back to a fresh QR, and an accepted passkey that links. And the
//! snippet itself works: run in a `https://web.whatsapp.com/` tab against a
//! DevTools virtual authenticator holding the account's passkey, what it
//! prints links the session.
//!
//! The inbound verification page shows the wa.me link as a button and as a
//! QR image that decodes to it, and turns to "verified" with the sender by
//! itself once the simulated user sends the text.
//!
//! One screenshot per state is saved under
//! `CARGO_TARGET_TMPDIR/qr-page-screenshots/` (1-qr, 2-new-qr, 3-connected,
//! 4-expired, 5-passkey, 6-passkey-refused, 7-passkey-connected,
//! 8-inbound-pending, 9-inbound-verified) for a person to look at.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};
use waotp_sim::{AssertionTweaks, SimConfig};

use crate::harness::{LINKED_PHONE, Options, STEP, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_page_follows_the_session_in_a_real_browser() {
    let shots = screenshot_dir();
    let server = Server::start().await;
    server
        .post("/api/sessions/create", json!({ "sessionId": "browser" }))
        .await
        .data(201);
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    page.navigate(&format!("{}/api/sessions/browser/qr-page", server.base))
        .await;

    // The first code: the image decodes to the session's current payload.
    let first = page.wait_for_payload(None).await;
    let current = server
        .gateway
        .session("browser")
        .unwrap()
        .qr()
        .await
        .unwrap();
    assert_eq!(first, current.raw(), "the page shows the session's QR");
    assert_eq!(page.decode_qr_image().await, first, "the image is that QR");
    page.screenshot(&shots.join("1-qr.png")).await;

    // A new code (a fresh pairing after a restart) replaces it in place.
    let restarted = server.put("/api/sessions/browser/restart").await;
    assert_eq!(restarted.status, 200, "{}", restarted.text);
    let second = page.wait_for_payload(Some(&first)).await;
    let current = server
        .gateway
        .session("browser")
        .unwrap()
        .qr()
        .await
        .unwrap();
    assert_eq!(second, current.raw());
    assert_eq!(page.decode_qr_image().await, second);
    assert_eq!(
        page.eval("performance.getEntriesByType('navigation').length")
            .await,
        1,
        "no reload"
    );
    page.screenshot(&shots.join("2-new-qr.png")).await;

    // The phone scans what the page shows.
    server
        .sim
        .scan(&second, LINKED_PHONE, "Toko Contoh")
        .await
        .expect("the phone scans the QR");
    page.wait_for_state("connected").await;
    let text = page
        .eval("document.getElementById('status').textContent")
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("Session browser sudah terhubung"), "{text}");
    assert_eq!(
        page.eval("document.getElementById('qr').hidden").await,
        true
    );
    let placeholder = page
        .eval("document.getElementById('qr-placeholder').textContent")
        .await;
    assert!(
        placeholder.as_str().unwrap().contains("Terhubung"),
        "{placeholder}"
    );
    page.screenshot(&shots.join("3-connected.png")).await;

    // Every code expired: the page says so and offers a fresh one.
    let expiring = Server::start_with(Options {
        sim: SimConfig {
            qr_ref_count: 0,
            ..SimConfig::default()
        },
        ..Options::default()
    })
    .await;
    expiring
        .post("/api/sessions/create", json!({ "sessionId": "late" }))
        .await
        .data(201);
    page.navigate(&format!("{}/api/sessions/late/qr-page", expiring.base))
        .await;
    page.wait_for_state("expired").await;
    let text = page
        .eval("document.getElementById('status').textContent")
        .await;
    assert!(
        text.as_str().unwrap().contains("QR Code sudah kedaluwarsa"),
        "{text}"
    );
    assert_eq!(
        page.eval("document.getElementById('fresh').hidden").await,
        false,
        "the fresh-QR button shows"
    );
    page.screenshot(&shots.join("4-expired.png")).await;
    browser.close(page).await;
    println!("screenshots in {}", shots.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_page_turns_to_verified_in_a_real_browser() {
    let shots = screenshot_dir();
    let server = Server::start().await;
    let number = "6281111111803";
    server.link_as("shop", number).await;
    let user = server.recipient("6281234567813");
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    page.navigate(&format!(
        "{}/api/otp/inbound-page?sessionId=shop&phoneNumber={user}",
        server.base
    ))
    .await;
    page.wait_for_state("pending").await;
    let link = page.eval("document.getElementById('open').href").await;
    let link = link.as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("https://wa.me/{number}?text=Kode%20masuk%3A%20")),
        "{link}"
    );
    assert_eq!(
        page.decode_qr_image().await,
        link,
        "the QR image is the link"
    );
    page.screenshot(&shots.join("8-inbound-pending.png")).await;

    let text = page
        .eval("document.getElementById('text').textContent")
        .await;
    server
        .sim
        .user_send(&user, number, text.as_str().unwrap())
        .await
        .expect("the user sends the text");
    page.wait_for_state("approved").await;
    assert_eq!(
        page.eval("document.body.dataset.sender").await,
        user.as_str()
    );
    page.wait_for_text("status", "Terverifikasi").await;
    page.screenshot(&shots.join("9-inbound-verified.png")).await;
    browser.close(page).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_page_walks_through_the_passkey_step() {
    let shots = screenshot_dir();
    let server = Server::start().await;
    let phone = server.gated_phone();
    server
        .post("/api/sessions/create", json!({ "sessionId": "gated" }))
        .await
        .data(201);
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    page.navigate(&format!("{}/api/sessions/gated/qr-page", server.base))
        .await;

    // The phone scans; WhatsApp asks for the passkey; the page shows the step.
    let first = page.wait_for_payload(None).await;
    server
        .sim
        .scan(&first, phone, "Kasir")
        .await
        .expect("the gated phone scans the QR");
    page.wait_for_state("passkey").await;
    let challenge = server.gateway.session("gated").unwrap().passkey_challenge();
    let challenge = challenge.expect("the session holds the passkey challenge");
    assert_eq!(
        page.eval("document.getElementById('passkey-snippet').value")
            .await,
        challenge.snippet.as_str(),
        "the page shows the snippet verbatim"
    );
    let steps = page
        .eval("document.getElementById('passkey').innerText")
        .await;
    let steps = steps.as_str().unwrap();
    for words in [
        "https://web.whatsapp.com",
        "F12",
        "Console",
        "snippet",
        "Kirim",
    ] {
        assert!(steps.contains(words), "the steps mention {words}: {steps}");
    }
    assert_eq!(
        page.eval("document.getElementById('qr-box').hidden").await,
        true
    );
    assert_eq!(
        page.eval("document.getElementById('passkey-snippet').readOnly")
            .await,
        true
    );
    page.screenshot(&shots.join("5-passkey.png")).await;

    // A forged answer: the page says WhatsApp refused it, then shows the
    // fresh QR the session starts.
    let forged = server.sign_passkey(
        phone,
        &challenge.options_json,
        &AssertionTweaks {
            corrupt_signature: true,
            ..AssertionTweaks::default()
        },
    );
    page.paste_passkey_result(&forged).await;
    page.wait_for_text("notice", "Passkey ditolak").await;
    let second = page.wait_for_payload(Some(&first)).await;
    assert_eq!(page.decode_qr_image().await, second);
    let notice = page
        .eval("document.getElementById('notice').textContent")
        .await;
    assert!(
        notice.as_str().unwrap().contains("Passkey ditolak"),
        "the refusal stays in view with the new QR: {notice}"
    );
    page.screenshot(&shots.join("6-passkey-refused.png")).await;

    // Scanned again; this time the passkey's own answer, typed in.
    server
        .sim
        .scan(&second, phone, "Kasir")
        .await
        .expect("the gated phone scans the fresh QR");
    page.wait_for_state("passkey").await;
    let challenge = server
        .gateway
        .session("gated")
        .unwrap()
        .passkey_challenge()
        .expect("a new challenge");
    assert_eq!(
        page.eval("document.getElementById('passkey-result').value")
            .await,
        "",
        "a new challenge starts from an empty box"
    );
    assert_eq!(
        page.eval("document.getElementById('notice').hidden").await,
        true
    );
    let assertion =
        server.sign_passkey(phone, &challenge.options_json, &AssertionTweaks::default());
    page.paste_passkey_result(&assertion).await;
    page.wait_for_state("connected").await;
    let placeholder = page
        .eval("document.getElementById('qr-placeholder').textContent")
        .await;
    assert!(
        placeholder.as_str().unwrap().contains("Terhubung"),
        "{placeholder}"
    );
    let text = page
        .eval("document.getElementById('status').textContent")
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .contains("Session gated sudah terhubung"),
        "{text}"
    );
    let code = server
        .sim
        .passkey_code(phone)
        .expect("the phone shows a code");
    page.wait_for_text("confirmation", &code).await;
    assert_eq!(
        page.eval("document.getElementById('passkey').hidden").await,
        true
    );
    page.screenshot(&shots.join("7-passkey-connected.png"))
        .await;
    browser.close(page).await;
}

/// The snippet the page shows, run as an operator would: in a
/// `https://web.whatsapp.com/` tab of the same Chromium (its address served
/// by the test through DevTools request interception), against a DevTools
/// virtual authenticator that holds the account's passkey. What it prints,
/// pasted into the page, links the session: the snippet itself works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_snippet_makes_the_assertion_in_a_real_browser() {
    let server = Server::start().await;
    let phone = server.gated_phone();
    server
        .post("/api/sessions/create", json!({ "sessionId": "webauthn" }))
        .await
        .data(201);
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    page.navigate(&format!("{}/api/sessions/webauthn/qr-page", server.base))
        .await;
    let qr = page.wait_for_payload(None).await;
    server
        .sim
        .scan(&qr, phone, "Kasir")
        .await
        .expect("the gated phone scans the QR");
    page.wait_for_state("passkey").await;
    let snippet = page
        .eval("document.getElementById('passkey-snippet').value")
        .await;
    let snippet = snippet.as_str().expect("the snippet").to_owned();

    // The operator's browser: the account's passkey in a virtual
    // authenticator (user verification on, as a platform authenticator).
    let mut web = browser.new_page().await;
    web.call("WebAuthn.enable", json!({ "enableUI": false }))
        .await;
    let authenticator = web
        .call(
            "WebAuthn.addVirtualAuthenticator",
            json!({ "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            } }),
        )
        .await;
    let key = server
        .sim
        .passkey(phone)
        .expect("the gated account has a passkey");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    web.call(
        "WebAuthn.addCredential",
        json!({
            "authenticatorId": authenticator["authenticatorId"],
            "credential": {
                "credentialId": b64(&key.credential_id),
                "isResidentCredential": true,
                "rpId": key.rp_id,
                "privateKey": b64(&key.private_key_pkcs8),
                "userHandle": b64(&key.user_handle),
                "signCount": 0,
            },
        }),
    )
    .await;
    web.open_served(
        "https://web.whatsapp.com/",
        "<!DOCTYPE html><html><head><title>WhatsApp</title></head><body></body></html>",
    )
    .await;
    assert_eq!(
        web.eval("location.origin + ' ' + window.isSecureContext")
            .await,
        "https://web.whatsapp.com true"
    );
    // WebAuthn answers only a focused document.
    web.call("Page.bringToFront", json!({})).await;
    web.call(
        "Emulation.setFocusEmulationEnabled",
        json!({ "enabled": true }),
    )
    .await;
    let ran = web
        .call(
            "Runtime.evaluate",
            json!({
                "expression": snippet,
                "awaitPromise": true,
                "returnByValue": true,
                "userGesture": true,
            }),
        )
        .await;
    assert!(
        ran.get("exceptionDetails").is_none(),
        "the snippet failed in the browser: {ran}"
    );
    // The snippet prints the assertion and returns the same text.
    let printed = ran["result"]["value"]
        .as_str()
        .expect("the snippet's output");
    let printed_json: Value = serde_json::from_str(printed).expect("it prints JSON");
    assert_eq!(
        printed_json["rawId"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.credential_id)
    );

    page.call("Page.bringToFront", json!({})).await;
    page.paste_passkey_result(printed).await;
    page.wait_for_state("connected").await;
    let code = server
        .sim
        .passkey_code(phone)
        .expect("the phone shows a code");
    page.wait_for_text("confirmation", &code).await;
    drop(web);
    browser.close(page).await;
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qr-page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Headless Chromium with a DevTools WebSocket; killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

/// One tab, attached through the browser's socket (flat sessions).
struct Page {
    socket: Socket,
    session: String,
    next_id: u64,
}

impl Browser {
    async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new("chromium")
            .args([
                "--headless=new",
                // Root in a container: Chromium's own sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("Debian's chromium is needed (apt-get install chromium): {e}")
            });
        // Chromium writes its port and browser path here once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + STEP;
        let ws_url = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromium did not open its DevTools port within {STEP:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Browser {
            child,
            _profile: profile,
            ws_url,
        }
    }

    async fn new_page(&self) -> Page {
        let uri: http::Uri = self.ws_url.parse().unwrap();
        let (socket, _) = ClientBuilder::from_uri(uri)
            .connect()
            .await
            .expect("connect to chromium's DevTools socket");
        let mut page = Page {
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = page
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        page.session = attached["sessionId"].as_str().unwrap().to_owned();
        // Twice the pixels: QR modules of several pixels each read back reliably.
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 560, "height": 900, "deviceScaleFactor": 2, "mobile": false }),
        )
        .await;
        page
    }

    async fn close(mut self, mut page: Page) {
        page.session.clear();
        let _ = page.call("Browser.close", json!({})).await;
        let deadline = std::time::Instant::now() + STEP;
        while self.child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page {
    /// Sends a command and returns its `result`; panics on a protocol error.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let answer = tokio::time::timeout(STEP, async {
            loop {
                let frame = self
                    .socket
                    .next()
                    .await
                    .expect("chromium closed its socket")
                    .unwrap();
                let Some(text) = frame.as_text() else {
                    continue;
                };
                let value: Value = serde_json::from_str(text).unwrap();
                // Events (no id) and other answers are not this call's.
                if value["id"] == id {
                    return value;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{method}: no answer within {STEP:?}"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Opens `url` with `html` as its document, served from here: the
    /// request is intercepted (`Fetch.requestPaused`) and answered with
    /// `Fetch.fulfillRequest`, so the tab has that origin without a network.
    async fn open_served(&mut self, url: &str, html: &str) {
        self.call(
            "Fetch.enable",
            json!({ "patterns": [{ "urlPattern": url, "resourceType": "Document" }] }),
        )
        .await;
        self.next_id += 1;
        let navigate_id = self.next_id;
        self.send(navigate_id, "Page.navigate", json!({ "url": url }))
            .await;
        let mut fulfill_id = None;
        let mut navigated = false;
        let mut fulfilled = false;
        let body = base64::engine::general_purpose::STANDARD.encode(html);
        tokio::time::timeout(STEP, async {
            while !(navigated && fulfilled) {
                let frame = self
                    .socket
                    .next()
                    .await
                    .expect("chromium closed its socket")
                    .unwrap();
                let Some(text) = frame.as_text() else {
                    continue;
                };
                let value: Value = serde_json::from_str(text).unwrap();
                if value["method"] == "Fetch.requestPaused" {
                    self.next_id += 1;
                    fulfill_id = Some(self.next_id);
                    let params = json!({
                        "requestId": value["params"]["requestId"],
                        "responseCode": 200,
                        "responseHeaders": [
                            { "name": "Content-Type", "value": "text/html; charset=utf-8" },
                        ],
                        "body": body,
                    });
                    self.send(self.next_id, "Fetch.fulfillRequest", params)
                        .await;
                } else if value["id"] == navigate_id {
                    assert!(value.get("error").is_none(), "Page.navigate: {value}");
                    let failed = &value["result"]["errorText"];
                    assert!(failed.is_null(), "{url} did not open: {failed}");
                    navigated = true;
                } else if fulfill_id.is_some_and(|id| value["id"] == id) {
                    assert!(
                        value.get("error").is_none(),
                        "Fetch.fulfillRequest: {value}"
                    );
                    fulfilled = true;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{url} was not served within {STEP:?}"));
        self.call("Fetch.disable", json!({})).await;
        let deadline = tokio::time::Instant::now() + STEP;
        while self.eval("document.readyState").await != "complete" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url} did not finish loading within {STEP:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a command without waiting for its answer.
    async fn send(&mut self, id: u64, method: &str, params: Value) {
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// The value of a JavaScript expression.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Polls until the page's state (`data-state` on its body) is `state`.
    async fn wait_for_state(&mut self, state: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let now = self
                .eval("document.body && document.body.dataset.state")
                .await;
            if now == state {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page did not reach state {state:?} within {STEP:?} (it is {now})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the passkey result box, as a paste would, and
    /// clicks the submit button.
    async fn paste_passkey_result(&mut self, text: &str) {
        self.eval("document.getElementById('passkey-result').focus()")
            .await;
        self.call("Input.insertText", json!({ "text": text })).await;
        assert_eq!(
            self.eval("document.getElementById('passkey-result').value")
                .await,
            text,
            "the box holds what was typed"
        );
        self.eval("document.getElementById('passkey-submit').click()")
            .await;
    }

    /// Polls until the element `id` is shown and its text contains `words`.
    async fn wait_for_text(&mut self, id: &str, words: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        let expression = format!(
            "(() => {{ const e = document.getElementById({}); \
             return e && !e.hidden ? e.textContent : null; }})()",
            json!(id)
        );
        loop {
            let now = self.eval(&expression).await;
            if now.as_str().is_some_and(|t| t.contains(words)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "#{id} did not show {words:?} within {STEP:?} (it shows {now})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the page shows a QR whose payload is not `other`; that payload.
    async fn wait_for_payload(&mut self, other: Option<&str>) -> String {
        self.wait_for_payload_within(other, STEP).await
    }

    /// [`Page::wait_for_payload`], waiting up to `within`.
    async fn wait_for_payload_within(&mut self, other: Option<&str>, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let shown = self
                .eval(
                    "document.body && document.body.dataset.state === 'qr' \
                     ? document.getElementById('qr').dataset.payload : null",
                )
                .await;
            if let Some(payload) = shown.as_str()
                && Some(payload) != other
            {
                return payload.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page showed no new QR code within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Screenshot of the QR image as rendered, read back as a QR code.
    async fn decode_qr_image(&mut self) -> String {
        let rect = self
            .eval(
                "(() => { const r = document.getElementById('qr').getBoundingClientRect(); \
                 return { x: r.x, y: r.y, width: r.width, height: r.height }; })()",
            )
            .await;
        let png = self
            .capture(json!({
                "format": "png",
                "clip": {
                    "x": rect["x"], "y": rect["y"],
                    "width": rect["width"], "height": rect["height"],
                    "scale": 1,
                },
            }))
            .await;
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        let channels = frame.color_type.samples();
        let (width, height) = (frame.width as usize, frame.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
            let at = (y * width + x) * channels;
            // Colour screenshots: the green channel stands for the grey level.
            pixels[at + if channels >= 3 { 1 } else { 0 }]
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the image");
        grids[0].decode().expect("the QR image decodes").1
    }

    async fn capture(&mut self, params: Value) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", params).await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    async fn screenshot(&mut self, path: &std::path::Path) {
        let png = self.capture(json!({ "format": "png" })).await;
        std::fs::write(path, png).unwrap();
    }
}

/// WhatsApp's own rotation: the client shows the first code for 60 s, then
/// the next; the open page follows it without a reload. (About a minute.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_page_follows_the_clients_own_rotation() {
    let server = Server::start().await;
    server
        .post("/api/sessions/create", json!({ "sessionId": "rotating" }))
        .await
        .data(201);
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    page.navigate(&format!("{}/api/sessions/rotating/qr-page", server.base))
        .await;
    let first = page.wait_for_payload(None).await;
    let session = server.gateway.session("rotating").unwrap();
    assert_eq!(session.status().qr_refresh_count, 1);
    let second = page
        .wait_for_payload_within(Some(&first), ROTATION_WAIT)
        .await;
    assert!(
        session.status().qr_refresh_count >= 2,
        "the client rotated its code"
    );
    assert_eq!(second, session.qr().await.unwrap().raw());
    assert_eq!(page.decode_qr_image().await, second);
    assert_eq!(
        page.eval("performance.getEntriesByType('navigation').length")
            .await,
        1,
        "no reload"
    );
    browser.close(page).await;
}

/// The first code lives 60 s (whatsapp-rust's fixed ref lifetime), plus slack.
const ROTATION_WAIT: Duration = Duration::from_secs(90);

/// A page on another origin (another local server, say) tries to create a
/// session on a keyless server on this machine: as a form would (no
/// preflight: no body, or text/plain), and as JSON (which needs a preflight
/// the server never grants). Nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_cannot_create_a_session() {
    let server = Server::start().await;
    let browser = Browser::launch().await;
    let mut page = browser.new_page().await;
    let attacker = r#"<!doctype html><html><body><script>
      var base = BASE;
      function attempt(init) {
        return fetch(base + "/api/sessions/create", init).then(
          function (r) { return init.mode === "no-cors" ? "sent" : String(r.status); },
          function (e) { return "blocked"; });
      }
      Promise.all([
        attempt({ method: "POST", mode: "no-cors" }),
        attempt({ method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
                  body: JSON.stringify({ sessionId: "forged-text" }) }),
        attempt({ method: "POST", headers: { "Content-Type": "application/json" },
                  body: JSON.stringify({ sessionId: "forged-json" }) }),
      ]).then(function (outcomes) { window.outcomes = outcomes.join(","); });
    </script></body></html>"#
        .replace("BASE", &format!("{:?}", server.base));
    // Another origin than the server's, as another local web server would
    // serve it (a page Chromium sees from the public internet could not
    // reach loopback at all: its Local Network Access checks block it).
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_url = format!("http://{}/", other.local_addr().unwrap());
    let other_app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(attacker) }),
    );
    let other_server = tokio::spawn(async move { axum::serve(other, other_app).await });
    page.navigate(&other_url).await;
    let deadline = tokio::time::Instant::now() + STEP;
    let outcomes = loop {
        let value = page.eval("window.outcomes || null").await;
        if let Some(text) = value.as_str() {
            break text.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page's requests did not settle within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The two simple requests reached the server; the JSON one never left
    // the browser (its preflight was refused).
    assert_eq!(outcomes, "sent,sent,blocked");
    let sessions = server.get("/api/sessions").await.data(200);
    assert_eq!(
        sessions["total"], 0,
        "created from another origin: {sessions}"
    );
    browser.close(page).await;
    other_server.abort();
}
