//! Serving the router on a network where clients misbehave.
//!
//! `axum::serve` has no deadline for a request's headers, no request
//! timeout and no bound on connections: one client per file descriptor,
//! sending a header byte now and then (slowloris), could hold the server.
//! Here every connection is served by hyper's HTTP/1 builder with a
//! header-read timeout, every request runs under tower's timeout and
//! concurrency limit, and at most `max_connections` are open at once (the
//! next waits in the kernel's accept queue).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

use crate::envelope::ApiError;

/// What one client may take of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take to send a request's headers
    /// (default 10 s); then it is closed.
    pub header_read_timeout: Duration,
    /// How long a request may run (default 120 s: a send waits for its
    /// session's owner up to a minute, and retries); then it is answered
    /// 503 `TIMEOUT`.
    pub request_timeout: Duration,
    /// Requests carried out at once (default 256); the next wait for a turn,
    /// within their timeout.
    pub max_concurrent_requests: usize,
    /// Connections open at once (default 1024, under the usual limit of
    /// open files); the next wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_concurrent_requests: 256,
            max_connections: 1024,
        }
    }
}

/// How long open connections may finish their requests once `shutdown`
/// resolved.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long to wait before accepting again after `accept` failed (out of
/// file descriptors, say), instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves;
/// then lets open requests finish for a while.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let service = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(timed_out))
        .timeout(limits.request_timeout)
        .concurrency_limit(limits.max_concurrent_requests.max(1))
        .service(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = open.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    log::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(service.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or sent garbage: nothing to report.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        log::warn!("some connections were still open {SHUTDOWN_GRACE:?} after shutdown");
    }
}

/// The answer to a request that ran out of time.
async fn timed_out(_: tower::BoxError) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "TIMEOUT",
        "Waktu tunggu permintaan habis",
    )
    .into_response()
}
