//! The webhook queue, `data_dir/webhooks.db`: one row per event and
//! endpoint, written before anything is sent and removed once the endpoint
//! answered 2xx, so a restart loses nothing (at least once; the event's id
//! lets the receiver drop a repeat).
//!
//! A failed attempt waits 1 s, doubling up to an hour, with ±20 % jitter
//! so that many retries do not arrive together; an event still undelivered
//! a day after it happened is given up (and logged).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, params};

/// How long an event is retried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(86_400);
/// The first retry's wait.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(3_600);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    url         TEXT NOT NULL,
    body        BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook(next_at_ms);
CREATE INDEX IF NOT EXISTS webhook_url_due ON webhook(url, next_at_ms);
";

/// One event for one endpoint, waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The row, for [`WebhookQueue::delivered`] and [`WebhookQueue::failed`].
    pub seq: i64,
    /// The event's id (`webhook-id`), the same on every attempt.
    pub event_id: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
    /// When the event happened, Unix ms.
    pub created_ms: u64,
    /// Attempts that failed so far.
    pub attempts: u32,
}

/// An event to queue: its id, its JSON body and when it happened (Unix ms).
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The id every attempt carries (`webhook-id`).
    pub id: String,
    /// The JSON body, exactly as it will be signed.
    pub body: Vec<u8>,
    /// When it happened, Unix ms; due at once.
    pub at_ms: u64,
}

/// How one attempt went, for [`WebhookQueue::settle`].
#[derive(Debug, Clone)]
pub struct Attempt {
    /// What was tried.
    pub pending: Pending,
    /// The endpoint answered 2xx.
    pub delivered: bool,
    /// The retry's jitter factor (0.8–1.2), drawn by the caller.
    pub jitter: f64,
}

/// The queue on one SQLite file (a single writer: the server's process).
#[derive(Debug)]
pub struct WebhookQueue {
    conn: Mutex<Connection>,
}

fn sql(e: rusqlite::Error) -> String {
    format!("webhook queue: {e}")
}

impl WebhookQueue {
    /// Opens (or creates) the queue at `path`.
    pub fn open(path: &Path) -> Result<WebhookQueue, String> {
        create_private(path).map_err(|e| format!("webhook queue {}: {e}", path.display()))?;
        let conn = Connection::open(path).map_err(sql)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        // A delivered event's body is overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(WebhookQueue {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `body` (event `event_id`) for each of `urls`, due now.
    pub fn push(
        &self,
        event_id: &str,
        urls: &[String],
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), String> {
        let event = NewEvent {
            id: event_id.to_owned(),
            body: body.to_vec(),
            at_ms: now_ms,
        };
        self.push_all(std::slice::from_ref(&event), urls)
    }

    /// Queues every event for each of `urls` in one transaction: a burst of
    /// events costs one commit (one fsync), not one each.
    pub fn push_all(&self, events: &[NewEvent], urls: &[String]) -> Result<(), String> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(sql)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO webhook (event_id, url, body, created_ms, next_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .map_err(sql)?;
            for event in events {
                for url in urls {
                    insert
                        .execute(params![event.id, url, event.body, event.at_ms as i64])
                        .map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)
    }

    /// Up to `limit` deliveries due at `now_ms`, oldest first.
    pub fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<Pending>, String> {
        self.select(
            "SELECT seq, event_id, url, body, created_ms, attempts FROM webhook \
             WHERE next_at_ms <= ?1 ORDER BY seq LIMIT ?2",
            params![now_ms as i64, limit as i64],
        )
    }

    /// Up to `limit` deliveries to `url` due at `now_ms`, oldest first
    /// (each endpoint is served on its own, so a slow one delays no other).
    pub fn due_for(&self, url: &str, now_ms: u64, limit: usize) -> Result<Vec<Pending>, String> {
        self.select(
            "SELECT seq, event_id, url, body, created_ms, attempts FROM webhook \
             WHERE url = ?3 AND next_at_ms <= ?1 ORDER BY seq LIMIT ?2",
            params![now_ms as i64, limit as i64, url],
        )
    }

    fn select(&self, query: &str, values: impl rusqlite::Params) -> Result<Vec<Pending>, String> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(query).map_err(sql)?;
        let rows = statement
            .query_map(values, |r| {
                Ok(Pending {
                    seq: r.get(0)?,
                    event_id: r.get(1)?,
                    url: r.get(2)?,
                    body: r.get(3)?,
                    created_ms: r.get::<_, i64>(4)?.max(0) as u64,
                    attempts: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    /// The endpoint took it: forget it.
    pub fn delivered(&self, seq: i64) -> Result<(), String> {
        self.lock()
            .execute("DELETE FROM webhook WHERE seq = ?1", [seq])
            .map(|_| ())
            .map_err(sql)
    }

    /// The attempt failed at `now_ms`: try again after the backoff, or give
    /// up a day after the event. Answers whether it will be tried again.
    pub fn failed(&self, pending: &Pending, now_ms: u64, jitter: f64) -> Result<bool, String> {
        let attempt = Attempt {
            pending: pending.clone(),
            delivered: false,
            jitter,
        };
        self.settle(std::slice::from_ref(&attempt), now_ms)
            .map(|given_up| given_up == 0)
    }

    /// Records a batch of attempts made by `now_ms` in one transaction:
    /// delivered ones are forgotten, failed ones wait their backoff or,
    /// a day after their event, are given up. Answers how many were given up.
    pub fn settle(&self, attempts: &[Attempt], now_ms: u64) -> Result<usize, String> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(sql)?;
        let mut given_up = 0;
        {
            let mut forget = tx
                .prepare_cached("DELETE FROM webhook WHERE seq = ?1")
                .map_err(sql)?;
            let mut later = tx
                .prepare_cached(
                    "UPDATE webhook SET attempts = attempts + 1, next_at_ms = ?2 WHERE seq = ?1",
                )
                .map_err(sql)?;
            for attempt in attempts {
                let pending = &attempt.pending;
                let expired = now_ms >= pending.created_ms + GIVE_UP_AFTER.as_millis() as u64;
                if attempt.delivered || expired {
                    forget.execute([pending.seq]).map_err(sql)?;
                    given_up += usize::from(!attempt.delivered);
                } else {
                    let next =
                        now_ms + backoff(pending.attempts, attempt.jitter).as_millis() as u64;
                    later
                        .execute(params![pending.seq, next as i64])
                        .map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)?;
        Ok(given_up)
    }

    /// Deliveries waiting (due or not).
    pub fn len(&self) -> Result<usize, String> {
        self.lock()
            .query_row("SELECT COUNT(*) FROM webhook", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as usize)
            .map_err(sql)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> Result<bool, String> {
        Ok(self.len()? == 0)
    }
}

/// Creates the file with mode 0600 if it is new (SQLite gives its `-wal`
/// and `-shm` files the same mode): events name phone numbers.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(|_| ())
}

/// The wait after `attempts` failed attempts: 1 s doubling to an hour,
/// times `jitter` (0.8–1.2, drawn by the caller).
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let doubled = FIRST_WAIT.saturating_mul(1u32 << attempts.min(20));
    doubled.min(LONGEST_WAIT).mul_f64(jitter.clamp(0.8, 1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_events_wait_until_delivered_even_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhooks.db");
        let urls = vec!["http://a/".to_owned(), "http://b/".to_owned()];
        {
            let q = WebhookQueue::open(&path).unwrap();
            q.push("evt-1", &urls, b"{\"n\":1}", 1_000).unwrap();
            q.push("evt-2", &urls[..1], b"{\"n\":2}", 1_001).unwrap();
            assert_eq!(q.len().unwrap(), 3);
        }
        let q = WebhookQueue::open(&path).unwrap();
        let due = q.due(1_001, 10).unwrap();
        assert_eq!(
            due.iter()
                .map(|p| (p.event_id.as_str(), p.url.as_str()))
                .collect::<Vec<_>>(),
            [
                ("evt-1", "http://a/"),
                ("evt-1", "http://b/"),
                ("evt-2", "http://a/")
            ]
        );
        q.delivered(due[0].seq).unwrap();
        assert!(q.failed(&due[1], 2_000, 1.0).unwrap());
        assert_eq!(
            q.due(2_999, 10).unwrap().len(),
            1,
            "the failed one waits 1 s"
        );
        let again = q.due(3_000, 10).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].body, b"{\"n\":1}");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhooks.db");
        WebhookQueue::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn each_endpoint_has_its_own_due_list_and_a_batch_settles_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let q = WebhookQueue::open(&dir.path().join("webhooks.db")).unwrap();
        let urls = vec!["http://a/".to_owned(), "http://b/".to_owned()];
        let events: Vec<NewEvent> = (0..3)
            .map(|i| NewEvent {
                id: format!("evt-{i}"),
                body: format!("{{\"n\":{i}}}").into_bytes(),
                at_ms: 1_000,
            })
            .collect();
        q.push_all(&events, &urls).unwrap();
        let a = q.due_for("http://a/", 1_000, 10).unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|p| p.url == "http://a/"));
        let attempts: Vec<Attempt> = a
            .into_iter()
            .enumerate()
            .map(|(i, pending)| Attempt {
                pending,
                delivered: i != 1,
                jitter: 1.0,
            })
            .collect();
        assert_eq!(q.settle(&attempts, 1_000).unwrap(), 0);
        // b's three wait untouched; a's failed one waits its second.
        assert_eq!(q.due_for("http://b/", 1_000, 10).unwrap().len(), 3);
        assert!(q.due_for("http://a/", 1_999, 10).unwrap().is_empty());
        let retried = q.due_for("http://a/", 2_000, 10).unwrap();
        assert_eq!(retried.len(), 1);
        assert_eq!(
            (retried[0].event_id.as_str(), retried[0].attempts),
            ("evt-1", 1)
        );
        assert_eq!(q.len().unwrap(), 4);
    }

    #[test]
    fn a_day_old_event_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let q = WebhookQueue::open(&dir.path().join("webhooks.db")).unwrap();
        q.push("evt", &["http://a/".to_owned()], b"{}", 0).unwrap();
        let p = q.due(0, 1).unwrap().remove(0);
        assert!(!q.failed(&p, GIVE_UP_AFTER.as_millis() as u64, 1.0).unwrap());
        assert!(q.is_empty().unwrap());
    }

    #[test]
    fn the_backoff_doubles_to_an_hour_with_jitter() {
        assert_eq!(backoff(0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), LONGEST_WAIT);
        assert_eq!(backoff(1, 1.2), Duration::from_millis(2_400));
        assert_eq!(
            backoff(1, 5.0),
            Duration::from_millis(2_400),
            "jitter is bounded"
        );
    }
}
