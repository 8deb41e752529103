//! A server under test: the simulator, a gateway on it, and the router
//! served on a loopback port, driven over real HTTP. Helpers do what a
//! client and a phone would (create and link a session, read an inbox).
//!
//! Every wait is a deadline on a condition, never a fixed sleep.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use waotp::Gateway;
use waotp::otp::ManualClock;
use waotp_server::Settings;
use waotp_sim::{AssertionTweaks, SimConfig, Simulator};

/// Bound for anything that takes well under a second on an idle machine
/// (the machine may be loaded; each wait ends as soon as its condition holds).
pub const STEP: Duration = Duration::from_secs(30);

/// The phone that links sessions in the tests.
pub const LINKED_PHONE: &str = "6281111111111";

/// An account whose links WhatsApp gates behind a passkey (see
/// [`Server::gated_phone`]).
pub const GATED_PHONE: &str = "6283333333333";

/// How a test wants its server.
#[derive(Default)]
pub struct Options {
    pub sim: SimConfig,
    pub settings: Settings,
    /// OTP expiry and limits read this clock.
    pub clock: Option<Arc<ManualClock>>,
    /// What one client may take of the server.
    pub limits: waotp_server::Limits,
}

/// The server, its gateway and the simulator it talks to.
pub struct Server {
    pub sim: Simulator,
    pub gateway: Gateway,
    pub base: String,
    pub key: Option<String>,
    agent: ureq::Agent,
    _dir: TempDir,
    task: tokio::task::JoinHandle<()>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `data` of a success answer with this status; panics with the body otherwise.
    pub fn data(&self, status: u16) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "unexpected status: {}", self.text);
        assert_eq!(body["success"], true, "{}", self.text);
        body["data"].clone()
    }
}

/// Checks an error answer: status, `success: false`, the message and the code.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str, message: &str) {
    let body = reply.json();
    assert_eq!(reply.status, status, "status of {}", reply.text);
    assert_eq!(body["success"], false, "{}", reply.text);
    assert_eq!(body["error"], code, "error code of {}", reply.text);
    assert_eq!(body["message"], message, "message of {}", reply.text);
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Server {
        let sim = Simulator::start(options.sim)
            .await
            .expect("the simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let mut builder = Gateway::builder()
            .data_dir(dir.path())
            .endpoint(sim.ws_url());
        if let Some(clock) = options.clock {
            builder = builder.clock(clock);
        }
        let gateway = builder.open().await.expect("the gateway opens");
        let key = options.settings.api_key.clone();
        let app = waotp_server::router(gateway.clone(), options.settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let limits = options.limits;
        let task = tokio::spawn(async move {
            waotp_server::serve(listener, app, limits, std::future::pending()).await;
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Server {
            sim,
            gateway,
            base,
            key,
            agent,
            _dir: dir,
            task,
        }
    }

    /// Sends a request (the key, if the server has one, unless `headers`
    /// already carry credentials) and reads the whole answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        let has_credentials = headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("x-api-key") || n.eq_ignore_ascii_case("authorization")
        });
        if let (Some(key), false) = (&self.key, has_credentials) {
            builder = builder.header("X-API-Key", key.as_str());
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let agent = self.agent.clone();
        let what = format!("{method} {path}");
        tokio::task::spawn_blocking(move || {
            let response = match body {
                Some(body) => agent.run(builder.body(body).unwrap()),
                None => agent.run(builder.body(()).unwrap()),
            };
            let mut response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            Reply {
                status: response.status().as_u16(),
                headers,
                text: response.body_mut().read_to_string().unwrap_or_default(),
            }
        })
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None).await
    }

    /// DELETEs `path`, as JSON (every request that changes something must be).
    pub async fn delete(&self, path: &str) -> Reply {
        self.request(
            "DELETE",
            path,
            &[("Content-Type", "application/json")],
            None,
        )
        .await
    }

    /// PUTs to `path` without a body, as JSON.
    pub async fn put(&self, path: &str) -> Reply {
        self.request("PUT", path, &[("Content-Type", "application/json")], None)
            .await
    }

    /// POSTs `body` as JSON.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(body.to_string()),
        )
        .await
    }

    /// Polls `GET path` until `done` accepts the answer; fails with `what`
    /// and the last answer after [`STEP`].
    pub async fn poll_get(&self, path: &str, what: &str, done: impl Fn(&Reply) -> bool) -> Reply {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let reply = self.get(path).await;
            if done(&reply) {
                return reply;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {STEP:?} waiting for {what}; last answer: {} {}",
                reply.status,
                reply.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the session's QR route until it answers with a code; its `data`.
    pub async fn wait_qr(&self, id: &str) -> Value {
        self.poll_get(&format!("/api/sessions/{id}/qr"), "a QR code", |r| {
            r.status == 200
        })
        .await
        .data(200)
    }

    /// Polls the session's status until it is connected; its `data`.
    pub async fn wait_connected(&self, id: &str) -> Value {
        self.poll_get(
            &format!("/api/sessions/{id}/status"),
            "the session to connect",
            |r| r.status == 200 && r.json()["data"]["isConnected"] == true,
        )
        .await
        .data(200)
    }

    /// Polls the session's status until WhatsApp asks for a passkey; its `data`.
    pub async fn wait_passkey_required(&self, id: &str) -> Value {
        self.poll_get(
            &format!("/api/sessions/{id}/status"),
            "state passkey_required",
            |r| r.status == 200 && r.json()["data"]["state"] == "passkey_required",
        )
        .await
        .data(200)
    }

    /// [`GATED_PHONE`], registered and gated behind a passkey in the simulator.
    pub fn gated_phone(&self) -> &'static str {
        self.sim.add_number(GATED_PHONE, true);
        self.sim.require_passkey(GATED_PHONE);
        GATED_PHONE
    }

    /// The assertion the account's passkey makes for the session's pending
    /// challenge (`options_json`, from its status), as the snippet prints it.
    pub fn sign_passkey(
        &self,
        phone: &str,
        options_json: &str,
        tweaks: &AssertionTweaks,
    ) -> String {
        self.sim
            .sign_passkey_assertion(phone, options_json, tweaks)
            .unwrap_or_else(|e| panic!("the passkey of {phone} could not sign: {e:#}"))
    }

    /// Creates `id` through the API, scans its QR as [`LINKED_PHONE`] and
    /// waits until connected; the status `data`.
    pub async fn link(&self, id: &str) -> Value {
        self.link_as(id, LINKED_PHONE).await
    }

    /// [`Server::link`] as the simulated phone `phone` (a pool needs one
    /// number per session).
    pub async fn link_as(&self, id: &str, phone: &str) -> Value {
        let created = self
            .post("/api/sessions/create", json!({ "sessionId": id }))
            .await;
        assert_eq!(created.status, 201, "create {id}: {}", created.text);
        let qr = self.wait_qr(id).await;
        let payload = qr["qrPayload"].as_str().expect("qrPayload");
        self.sim
            .scan(payload, phone, "Test Phone")
            .await
            .unwrap_or_else(|e| panic!("{id}: the phone could not scan the QR: {e:#}"));
        self.wait_connected(id).await
    }

    /// A number on WhatsApp that can receive messages.
    pub fn recipient(&self, phone: &str) -> String {
        self.sim.add_number(phone, true);
        phone.to_owned()
    }

    /// Texts that reached `phone`, waiting until there are `count`.
    pub async fn inbox(&self, phone: &str, count: usize) -> Vec<String> {
        self.sim
            .wait_for_inbox(phone, count, STEP)
            .await
            .unwrap_or_else(|e| panic!("{count} message(s) for {phone} within {STEP:?}: {e:#}"))
            .into_iter()
            .map(|m| m.text)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The code in an OTP message (the digits between the first `*…*`).
pub fn code_in(text: &str) -> String {
    text.split('*')
        .find(|part| part.len() >= 4 && part.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}
