//! No code and no secret at rest: after OTPs were sent (by the owner and
//! through another process's outbox), verified, left pending, and after a
//! failover, every row of every SQLite file in the data dir and every key
//! and value in Redis is read, and none holds a code or the OTP secret.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::worker::{REDIS_LEASE_TTL, TEST_OTP_SECRET, test_otp_secret};
use common::{STEP, link};
use waotp::otp::{Limits, OtpConfig};
use waotp::{DeliveryStatus, Gateway, OtpRequest, VerifyOutcome};
use waotp_sim::Simulator;
use waotp_sim::redis_server::RedisServer;

const PHONE: &str = "6281100000001";
const SESSION: &str = "shop";
/// Every message carries its code after this marker, so a code in a
/// message's text is found whatever bytes surround it in a blob.
const MARKER: &str = "at-rest-check:";

fn recipient(i: usize) -> String {
    format!("62812300{i:05}")
}

async fn open(sim: &Simulator, dir: &Path, redis: Option<&str>) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(dir)
        .endpoint(sim.ws_url())
        .otp_config(config);
    if let Some(url) = redis {
        builder = builder
            .redis_url(url)
            .otp_secret(test_otp_secret())
            .redis_lease_ttl(REDIS_LEASE_TTL);
    }
    builder.open().await.expect("gateway opens")
}

/// Sends a code to recipient `i` through `via`; returns it once the
/// recipient's phone has it and the message is delivered.
async fn send(sim: &Simulator, via: &Gateway, i: usize) -> String {
    let to = recipient(i);
    sim.add_number(&to, true);
    let request = OtpRequest::new("Toko").template(format!("{MARKER}{{OTP}}"));
    let sent = via
        .send_otp(SESSION, &to, &request)
        .await
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
    let inbox = sim.wait_for_inbox(&to, 1, STEP).await.unwrap();
    let code = inbox[0]
        .text
        .strip_prefix(MARKER)
        .expect("the message is the template")
        .to_owned();
    via.wait_message_status(sent.message_id.as_deref().unwrap(), STEP, |s| {
        matches!(s, DeliveryStatus::Delivered | DeliveryStatus::Read)
    })
    .await
    .unwrap_or_else(|e| panic!("send {i} not delivered: {e}"));
    code
}

async fn verify(via: &Gateway, i: usize, code: &str) {
    assert_eq!(
        via.verify_otp(&recipient(i), code).await.unwrap(),
        VerifyOutcome::Approved
    );
}

/// The scenario both stores go through; returns every code sent.
/// `a` owns the session, `b` is a second process on the same state.
async fn send_verify_and_fail_over(
    sim: &Simulator,
    dir: &Path,
    a: Gateway,
    b: Gateway,
) -> Vec<String> {
    let mut codes = Vec::new();
    // By the owner, verified by the other process.
    codes.push(send(sim, &a, 0).await);
    verify(&b, 0, &codes[0]).await;
    // The running owner erases the delivered message's text from its
    // session store (in a batch, shortly after the receipt), not only
    // when it stops.
    let first = Forbidden::new(vec![codes[0].clone()], &[]);
    until_clean("the running owner's session store", || {
        std::future::ready(scan_sqlite(dir, &[], &first))
    })
    .await;
    // Through the outbox from the other process, verified by the owner.
    assert!(!b.session(SESSION).unwrap().is_owner());
    codes.push(send(sim, &b, 1).await);
    verify(&a, 1, &codes[1]).await;
    // Left pending.
    codes.push(send(sim, &b, 2).await);
    // The owner goes; the other process takes the session over and sends.
    a.close().await;
    let taken = b.session(SESSION).unwrap();
    common::poll_until("the second process owns the session", || taken.is_owner()).await;
    taken.wait_connected(STEP).await.unwrap();
    codes.push(send(sim, &b, 3).await);
    verify(&b, 3, &codes[3]).await;
    b.close().await;
    codes
}

/// Whether `code` is in `text` as a number of its own (not inside a longer
/// run of digits such as a timestamp).
fn has_code(text: &[u8], code: &str) -> bool {
    let code = code.as_bytes();
    text.windows(code.len()).enumerate().any(|(i, w)| {
        w == code
            && (i == 0 || !text[i - 1].is_ascii_digit())
            && text.get(i + code.len()).is_none_or(|b| !b.is_ascii_digit())
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// What must never be at rest: each code (in a message's text, or on its
/// own in a text value) and the secret (raw, hex, base64).
struct Forbidden {
    codes: Vec<String>,
    secret_forms: Vec<Vec<u8>>,
}

impl Forbidden {
    fn new(codes: Vec<String>, secret: &[u8]) -> Self {
        use base64::Engine as _;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let secret_forms = vec![
            secret.to_vec(),
            hex.clone().into_bytes(),
            hex.to_uppercase().into_bytes(),
            base64::engine::general_purpose::STANDARD
                .encode(secret)
                .into_bytes(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(secret)
                .into_bytes(),
        ];
        Forbidden {
            codes,
            secret_forms,
        }
    }

    /// What `value` gives away. A blob is checked for codes only after the
    /// marker (six random bytes can look like a code); text for any code.
    fn findings(&self, value: &[u8], is_text: bool) -> Vec<String> {
        let mut found = Vec::new();
        for code in &self.codes {
            let in_message = contains(value, format!("{MARKER}{code}").as_bytes());
            if in_message || (is_text && has_code(value, code)) {
                found.push(format!("code {code}"));
            }
        }
        if self.secret_forms.iter().any(|f| contains(value, f)) {
            found.push("the OTP secret".into());
        }
        found
    }
}

/// Every SQLite database under `dir` (by its header, so the session stores
/// are found whatever their names).
fn sqlite_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .map(|b| b.starts_with(b"SQLite format 3\0"))
                .unwrap_or(false)
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Reads every row of every table of every SQLite file under `dir`, which
/// must include the session's store and the files named in `expected`.
fn scan_sqlite(dir: &Path, expected: &[&str], forbidden: &Forbidden) -> (Vec<String>, usize) {
    let mut findings = Vec::new();
    let mut values = 0;
    let files = sqlite_files(dir);
    for name in expected {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "{name} is among the files scanned: {files:?}"
        );
    }
    assert!(
        files.len() > expected.len(),
        "the session's own store is scanned too: {files:?}"
    );
    for file in files {
        let conn = rusqlite::Connection::open_with_flags(
            &file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for table in tables {
            let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = statement.column_count();
            let mut rows = statement.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for c in 0..columns {
                    use rusqlite::types::ValueRef;
                    let (bytes, is_text) = match row.get_ref(c).unwrap() {
                        ValueRef::Text(t) => (t.to_vec(), true),
                        ValueRef::Blob(b) => (b.to_vec(), false),
                        ValueRef::Integer(i) => (i.to_string().into_bytes(), true),
                        ValueRef::Real(_) | ValueRef::Null => continue,
                    };
                    values += 1;
                    for what in forbidden.findings(&bytes, is_text) {
                        findings.push(format!("{what} in {}:{table}", file.display()));
                    }
                }
            }
        }
    }
    (findings, values)
}

/// Reads every key and every value under every key of the Redis at `url`.
async fn scan_redis(url: &str, forbidden: &Forbidden) -> (Vec<String>, usize) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the scenario left state in Redis");
    let mut findings = Vec::new();
    let mut values = 0;
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut items: Vec<Vec<u8>> = vec![key.clone()];
        let command = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).clone(),
            "hash" => redis::cmd("HGETALL").arg(&key).clone(),
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
            "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .clone(),
            "stream" => redis::cmd("XRANGE").arg(&key).arg("-").arg("+").clone(),
            other => panic!("a key of a type this scan does not read: {other}"),
        };
        let value: redis::Value = command.query_async(&mut conn).await.unwrap();
        flatten(value, &mut items);
        for item in items {
            values += 1;
            // Redis values are text or 32-byte MACs: any code counts.
            for what in forbidden.findings(&item, true) {
                findings.push(format!(
                    "{what} under the key {}",
                    String::from_utf8_lossy(&key)
                ));
            }
        }
    }
    (findings, values)
}

fn flatten(value: redis::Value, out: &mut Vec<Vec<u8>>) {
    match value {
        redis::Value::BulkString(b) => out.push(b),
        redis::Value::SimpleString(s) => out.push(s.into_bytes()),
        redis::Value::Int(i) => out.push(i.to_string().into_bytes()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        redis::Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out);
                flatten(v, out);
            }
        }
        redis::Value::Nil | redis::Value::Okay => {}
        other => out.push(format!("{other:?}").into_bytes()),
    }
}

/// Scans until nothing is found (a delivered message's text leaves the
/// session store just after its delivery receipt) or fails with what is
/// still there after `STEP`.
async fn until_clean<F, Fut>(what: &str, mut scan: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (Vec<String>, usize)>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let (findings, values) = scan().await;
        if findings.is_empty() {
            println!("{what}: {values} values read, no code and no secret");
            return values;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} holds, {STEP:?} after the last send:\n  {}",
            findings.join("\n  ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_holds_no_code_and_no_secret() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let a = open(&sim, dir.path(), None).await;
    link(&a, &sim, SESSION, PHONE).await;
    let b = open(&sim, dir.path(), None).await;
    let codes = send_verify_and_fail_over(&sim, dir.path(), a, b).await;
    let hex = std::fs::read_to_string(dir.path().join("otp.secret")).unwrap();
    let hex = hex.trim();
    let secret: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    // Every OTP send in the outbox expires with its code (5 minutes by
    // default): none could be carried out later.
    let expiries: Vec<(Option<i64>, i64)> =
        rusqlite::Connection::open(dir.path().join("shared.db"))
            .unwrap()
            .prepare(
                "SELECT json_extract(request, '$.expires_at_ms'), created_at_ms FROM outbox \
             WHERE json_extract(request, '$.command.op') = 'send_text'",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(expiries.len(), codes.len(), "one outbox row per send");
    for (expires, created) in expiries {
        let ttl = expires.expect("an OTP send carries its expiry") - created;
        assert!(
            (290_000..=300_000).contains(&ttl),
            "expires {ttl} ms after it was queued"
        );
    }
    let forbidden = Forbidden::new(codes, &secret);
    let values = until_clean("the data dir's SQLite files", || {
        std::future::ready(scan_sqlite(
            dir.path(),
            &["shared.db", "otp.db"],
            &forbidden,
        ))
    })
    .await;
    assert!(values > 100, "the scan read the stores ({values} values)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_no_code_and_no_secret() {
    let server = RedisServer::start().expect("a throwaway redis-server");
    let url = server.url();
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let a = open(&sim, dir.path(), Some(&url)).await;
    link(&a, &sim, SESSION, PHONE).await;
    let b = open(&sim, dir.path(), Some(&url)).await;
    let codes = send_verify_and_fail_over(&sim, dir.path(), a, b).await;
    let forbidden = Forbidden::new(codes, TEST_OTP_SECRET);
    let values = until_clean("Redis", || scan_redis(&url, &forbidden)).await;
    assert!(values > 20, "the scan read Redis ({values} values)");
    until_clean("the data dir's SQLite files", || {
        std::future::ready(scan_sqlite(dir.path(), &[], &forbidden))
    })
    .await;
}

/// With Redis, opening without the application's secret is refused; the
/// development flag keeps a generated one in Redis, and the scan above
/// finds it there (so a secret left in Redis would fail those tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_needs_the_applications_secret() {
    let server = RedisServer::start().expect("a throwaway redis-server");
    let url = server.url();
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let refused = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(sim.ws_url())
        .redis_url(&url)
        .open()
        .await
        .expect_err("no otp_secret with Redis");
    assert_eq!(refused.code(), "INVALID_ARGUMENT", "{refused}");
    assert!(refused.to_string().contains("otp_secret"), "{refused}");

    // This Redis wants no password: the one in the URL is refused, and the
    // error names the server without it.
    let with_password = format!("redis://:hunter2@{}", &url["redis://".len()..]);
    let refused = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(sim.ws_url())
        .redis_url(&with_password)
        .otp_secret(test_otp_secret())
        .open()
        .await
        .expect_err("a password this Redis does not take");
    let message = refused.to_string();
    assert!(
        !message.contains("hunter2") && message.contains("redis://***@"),
        "{message}"
    );

    let dev = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(sim.ws_url())
        .redis_url(&url)
        .otp_secret_in_redis(true)
        .open()
        .await
        .expect("the development flag opens");
    dev.close().await;
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let secret: Vec<u8> = redis::cmd("GET")
        .arg("waotp:otp-secret")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(secret.len() >= 16, "generated into Redis");
    let (findings, _) = scan_redis(&url, &Forbidden::new(Vec::new(), &secret)).await;
    assert!(
        findings.iter().any(|f| f.contains("the OTP secret")),
        "the scan finds a secret kept in Redis: {findings:?}"
    );
}
