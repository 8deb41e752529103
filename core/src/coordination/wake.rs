//! Waking the owner of a session on one host: a Unix socket beside the
//! session's store (`sessions/<id>.sock`, in the 0700 data dir).
//!
//! A sender writes its request id; the owner's drain loop wakes at once
//! instead of at its next poll, and the connection is answered when that
//! request is finished, so the sender reads the outcome without polling.
//! The socket only ever carries request ids and "done": the request and its
//! outcome stay in the outbox table, and a sender that cannot reach an owner
//! (none yet, a failover) falls back to polling that table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, broadcast};

/// Longest request id read from a socket (UUIDs are 36 bytes).
const MAX_ID: usize = 128;
/// How long a connection may wait for its request before the sender polls instead.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// What the owner side of a session shares between its socket and its drain loop.
#[derive(Debug)]
pub(crate) struct Wakeups {
    /// A request arrived (or may have).
    pub(crate) arrived: Notify,
    /// Ids of finished requests.
    finished: broadcast::Sender<String>,
}

impl Wakeups {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Wakeups {
            arrived: Notify::new(),
            // Slots are allocated up front, for every owned session: a
            // waiter that falls more than 64 finishes behind sees `Lagged`
            // and reads the outbox itself, so a small channel only costs a
            // burst an extra read.
            finished: broadcast::channel(64).0,
        })
    }

    /// Tells whoever waits for `request_id` that it is finished.
    pub(crate) fn finished(&self, request_id: &str) {
        let _ = self.finished.send(request_id.to_owned());
    }
}

/// The owner's listening socket; dropping it stops listening and removes the file.
#[derive(Debug)]
pub(crate) struct WakeServer {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
}

impl Drop for WakeServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl WakeServer {
    /// Listens at `path`. Only the lease holder calls this, so a file left
    /// there belongs to a dead owner and is replaced.
    #[cfg(unix)]
    pub(crate) fn bind(path: &Path, hub: Arc<Wakeups>) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(answer(stream, hub.clone()));
            }
        });
        Ok(WakeServer {
            task,
            path: path.to_path_buf(),
        })
    }

    #[cfg(not(unix))]
    pub(crate) fn bind(_path: &Path, _hub: Arc<Wakeups>) -> std::io::Result<Self> {
        Err(std::io::Error::other("no Unix sockets here; senders poll"))
    }
}

#[cfg(unix)]
async fn answer(stream: tokio::net::UnixStream, hub: Arc<Wakeups>) {
    // Subscribed before the drain loop is woken, so the finish is not missed.
    let mut finished = hub.finished.subscribe();
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_ID as u64);
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let id = line.trim().to_owned();
    hub.arrived.notify_one();
    let wait = async {
        loop {
            match finished.recv().await {
                Ok(done) if done == id => return true,
                Ok(_) => {}
                // Missed some: the sender reads the table and sees for itself.
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    };
    if let Ok(true) = tokio::time::timeout(ANSWER_WITHIN, wait).await {
        let _ = write.write_all(b"done\n").await;
    }
}

/// Sender side: wakes the owner for `request_id` and waits up to `timeout`
/// for its answer. False when no owner listens or none answered in time.
#[cfg(unix)]
pub(crate) async fn poke(path: &Path, request_id: &str, timeout: Duration) -> bool {
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(path).await.ok()?;
        stream
            .write_all(format!("{request_id}\n").as_bytes())
            .await
            .ok()?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await.ok()?;
        (answer.trim() == "done").then_some(())
    };
    matches!(tokio::time::timeout(timeout, exchange).await, Ok(Some(())))
}

#[cfg(not(unix))]
pub(crate) async fn poke(_path: &Path, _request_id: &str, _timeout: Duration) -> bool {
    false
}

use tokio::io::AsyncReadExt as _;

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poke_wakes_the_owner_and_is_answered_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let hub = Wakeups::new();
        let server = WakeServer::bind(&path, hub.clone()).unwrap();
        let poker = tokio::spawn({
            let path = path.clone();
            async move { poke(&path, "req-1", Duration::from_secs(10)).await }
        });
        tokio::time::timeout(Duration::from_secs(10), hub.arrived.notified())
            .await
            .expect("the poke wakes the drain loop");
        hub.finished("req-0");
        hub.finished("req-1");
        assert!(
            poker.await.unwrap(),
            "the sender is answered once its request is finished"
        );
        drop(server);
        assert!(!path.exists(), "the socket file goes with the server");
        assert!(
            !poke(&path, "req-2", Duration::from_secs(1)).await,
            "no owner, no answer"
        );
    }
}
