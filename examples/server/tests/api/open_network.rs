//! The server on a network where clients misbehave: Host names a rebinding
//! page would send, requests a cross-site form could send, answers a cache
//! could keep, and clients that send their headers a byte at a time.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Options, STEP, Server, assert_error};

/// Sends `request` as it is on a fresh connection; the raw answer.
async fn raw(server: &Server, request: &str) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut answer))
        .await
        .expect("an answer, then the connection closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn get_with_host(host: &str) -> String {
    format!("GET /api/sessions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_server_answers_only_loopback_host_names() {
    let server = Server::start().await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        format!("127.0.0.1.nip.io:{port}"),
        "10.0.0.5".into(),
    ] {
        let answer = raw(&server, &get_with_host(&host)).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{host}: {answer}");
        assert!(
            answer.contains("\"error\":\"FORBIDDEN\""),
            "{host}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("cache-control: no-store"),
            "{answer}"
        );
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = raw(&server, &get_with_host(&host)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
    // With a key, the key guards the server, whatever name reaches it.
    let keyed = Server::start_with(Options {
        settings: waotp_server::Settings {
            api_key: Some("open-network-key-0123".into()),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let answer = raw(
        &keyed,
        "GET /api/sessions HTTP/1.1\r\nHost: api.example\r\nX-API-Key: open-network-key-0123\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_must_be_sent_as_json() {
    let server = Server::start().await;
    let refused = "Content-Type harus application/json";
    // What a cross-site page can send without a preflight: no type, a form's
    // types, text/plain; with a body or without one.
    let no_json: &[&[(&str, &str)]] = &[
        &[],
        &[("Content-Type", "text/plain")],
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &[("Content-Type", "multipart/form-data; boundary=x")],
    ];
    for headers in no_json {
        for body in [None, Some("{\"sessionId\":\"forged\"}".to_owned())] {
            let reply = server
                .request("POST", "/api/sessions/create", headers, body)
                .await;
            assert_error(&reply, 415, "INVALID_ARGUMENT", refused);
        }
        assert_error(
            &server
                .request("PUT", "/api/sessions/any/restart", headers, None)
                .await,
            415,
            "INVALID_ARGUMENT",
            refused,
        );
        assert_error(
            &server
                .request("DELETE", "/api/sessions/any", headers, None)
                .await,
            415,
            "INVALID_ARGUMENT",
            refused,
        );
    }
    assert_eq!(
        server.get("/api/sessions").await.data(200)["total"],
        0,
        "nothing was created"
    );
    // As JSON, the same calls go through.
    server
        .post("/api/sessions/create", json!({ "sessionId": "real" }))
        .await
        .data(201);
    assert_eq!(server.delete("/api/sessions/real").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_may_be_cached() {
    let server = Server::start().await;
    for reply in [
        server.get("/api/health").await,
        server.get("/api/sessions").await,
        server.get("/api/messages/any/generate-otp?length=6").await,
        server.get("/nope").await,
        server
            .request("POST", "/api/otp/verify", &[], Some("{}".into()))
            .await,
    ] {
        assert_eq!(
            reply.header("cache-control"),
            Some("no-store"),
            "{} {}",
            reply.status,
            reply.text
        );
    }
}

/// Slowloris: connections that send their headers a byte at a time are
/// closed once the header-read timeout passes, and meanwhile a normal
/// request is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_send_headers_a_byte_at_a_time_are_cut_off() {
    let header_read_timeout = Duration::from_secs(1);
    let server = Server::start_with(Options {
        limits: waotp_server::Limits {
            header_read_timeout,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    const SLOW: usize = 50;
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let address = address.clone();
        slow.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&address).await.unwrap();
            stream
                .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await
                .unwrap();
            // A byte every 200 ms, never the end of the headers: the server
            // must close the connection (a write fails, or a read ends).
            let started = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                if stream.write_all(b"a").await.is_err() {
                    break;
                }
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => break, // an error answer (408), then the close
                    Err(_) => {}
                }
                assert!(
                    started.elapsed() < STEP,
                    "a connection sending headers a byte at a time was still open after {STEP:?}"
                );
            }
            started.elapsed()
        }));
    }
    // While they drip, a normal client is answered.
    let started = tokio::time::Instant::now();
    let health = server.get("/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let normal = started.elapsed();
    for task in slow {
        let open_for = task.await.unwrap();
        assert!(
            open_for >= header_read_timeout / 2,
            "closed after {open_for:?}, before the timeout"
        );
    }
    println!("a normal request was answered in {normal:?} beside {SLOW} slow clients");
}
