//! Many hosts, one Redis: leases are keys with a TTL and a fencing token,
//! each session's outbox is a Redis stream, requests and their outcomes are
//! hashes, and published statuses share one hash.
//!
//! Session credentials stay in the SQLite store of the host that linked
//! them; a host only tries the leases of sessions whose store it has (the
//! caller filters). Keys, all under the deployment's prefix:
//!
//! ```text
//! lease:{session}          "{owner id}:{token}", PX ttl     the lease
//! lease-token:{session}    counter                          fencing tokens
//! outbox:{session}         stream, group "owners"           queued request ids
//! claimed:{session}        set of request ids               claimed, not finished
//! requests:{session}       sorted set id → updated ms       what `forget` removes
//! req:{id}                 hash (see scripts.rs)            state, outcome, delivery,
//!                                                           sealed payload until done
//! done:{id}                list, short expiry               wakes the request's senders
//! idem:{session}:{key}     request id                       idempotency
//! msg:{message id}         request id                       message lookups
//! sessions                 hash session → status JSON       published statuses
//! ```
//!
//! Finished requests (their hash, idempotency and message keys) expire
//! [`RETENTION`] after they finish. Every call is bounded by [`OP_TIMEOUT`]
//! and any Redis trouble is [`Error::Store`].

mod blocking;
mod lease;
mod scripts;

use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Client, RedisResult};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::model::DeliveryStatus;
use crate::model::MessageRecord;
use crate::model::SessionId;

use super::shared_status::this_process;
use super::{Command, Coordination, Lease, OutboxKey, Outcome, Request, SharedStatus, Submitted};

use blocking::BlockingConnections;
use lease::RedisHolder;

/// How long a lease lives without renewal: how long a dead owner can keep
/// its sessions from the others.
pub(crate) const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// Shorter leases would be renewed more often than a Redis round trip
/// across hosts can be trusted to take.
const MIN_LEASE_TTL: Duration = Duration::from_millis(300);
/// The longest a follower waits between lease attempts.
const MAX_LEASE_POLL: Duration = Duration::from_secs(1);
/// Each connection attempt to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Each command's answer on the shared connection (tests' own connections;
/// the gateway's comes from `RedisStore::connection_config`).
#[cfg(test)]
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts per command after the connection broke: one, so a
/// caller hears about a Redis that is away within about a second.
#[cfg(test)]
const RECONNECT_RETRIES: usize = 1;
/// The bound on every call, whatever the connection's own settings (a
/// manager given by the caller, a reconnection in progress).
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long finished requests stay (idempotency keys and message status
/// answer for that long).
const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a done list stays: only senders already waiting need it, later
/// ones read the request's hash.
const DONE_TTL: Duration = Duration::from_secs(60);
/// Requests claimed per drain.
const CLAIM_BATCH: usize = 32;
/// A sender re-reads its request's hash at least this often, whatever the
/// done list says (a safety net, not the usual path).
const OUTCOME_RECHECK: Duration = Duration::from_secs(5);
/// How long to wait before trying again when a blocking read failed, so a
/// Redis that refuses connections is not hammered.
const BLOCKING_RETRY: Duration = Duration::from_millis(100);
/// Ids per batch when forgetting a session's requests.
const FORGET_BATCH: isize = 500;

use crate::model::time::unix_ms_now as now_ms;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs one Redis call within [`OP_TIMEOUT`]; any failure is a store error
/// saying what was being done.
async fn bounded<T>(what: &str, call: impl Future<Output = RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(OP_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Error::Store(format!("redis: {what}: {e}"))),
        Err(_) => Err(Error::Store(format!(
            "redis: {what}: no answer within {OP_TIMEOUT:?}"
        ))),
    }
}

/// The names of every key, under the deployment's prefix.
struct Keys {
    prefix: String,
}

impl Keys {
    fn lease(&self, s: &SessionId) -> String {
        format!("{}lease:{s}", self.prefix)
    }
    fn lease_token(&self, s: &SessionId) -> String {
        format!("{}lease-token:{s}", self.prefix)
    }
    fn outbox(&self, s: &SessionId) -> String {
        format!("{}outbox:{s}", self.prefix)
    }
    fn claimed(&self, s: &SessionId) -> String {
        format!("{}claimed:{s}", self.prefix)
    }
    fn requests(&self, s: &SessionId) -> String {
        format!("{}{s}", self.requests_prefix())
    }
    fn requests_prefix(&self) -> String {
        format!("{}requests:", self.prefix)
    }
    fn request(&self, id: &str) -> String {
        format!("{}{id}", self.request_prefix())
    }
    fn request_prefix(&self) -> String {
        format!("{}req:", self.prefix)
    }
    fn done(&self, id: &str) -> String {
        format!("{}{id}", self.done_prefix())
    }
    fn done_prefix(&self) -> String {
        format!("{}done:", self.prefix)
    }
    fn idempotency(&self, s: &SessionId, key: &str) -> String {
        format!("{}idem:{s}:{key}", self.prefix)
    }
    fn message(&self, message_id: &str) -> String {
        format!("{}msg:{message_id}", self.prefix)
    }
    fn sessions(&self) -> String {
        format!("{}sessions", self.prefix)
    }
    fn contacts(&self, s: &SessionId) -> String {
        format!("{}contacts:{s}", self.prefix)
    }
    fn new_chats(&self, s: &SessionId, day: u64) -> String {
        format!("{}newchats:{s}:{day}", self.prefix)
    }
}

/// The shared state of every process of a deployment, in one Redis.
pub(crate) struct RedisCoordination {
    /// The shared multiplexed connection: short commands only.
    conn: ConnectionManager,
    /// Connections for blocking reads (see [`blocking`]).
    blocking: BlockingConnections,
    keys: Keys,
    /// Written into the leases this instance holds, for diagnostics.
    owner_id: String,
    lease_ttl: Duration,
    /// Seals and opens payloads.
    key: OutboxKey,
}

impl RedisCoordination {
    /// Connects to the Redis at `url` (`redis://host:port/db`); every key
    /// starts with `key_prefix` (e.g. `waotp:`), so deployments can share a
    /// Redis. Leases live [`DEFAULT_LEASE_TTL`]. (The gateway shares one
    /// connection with its OTP store and uses [`new`](Self::new).)
    #[cfg(test)]
    pub(crate) async fn connect(
        url: &str,
        key_prefix: &str,
        key: OutboxKey,
    ) -> Result<RedisCoordination> {
        let client = Client::open(url)
            .map_err(|e| Error::Store(format!("redis: the url `{url}` is not usable: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let manager = bounded(
            "connecting",
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await?;
        Ok(Self::new(client, manager, key_prefix, key))
    }

    /// Uses an existing connection for short commands; `client` (to the same
    /// Redis) opens the connections for blocking reads, which must not run
    /// on a shared connection. Payloads are sealed with `key`.
    pub(crate) fn new(
        client: Client,
        manager: ConnectionManager,
        key_prefix: &str,
        key: OutboxKey,
    ) -> Self {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        RedisCoordination {
            conn: manager,
            blocking: BlockingConnections::new(client),
            keys: Keys {
                prefix: key_prefix.to_owned(),
            },
            owner_id: format!("{}/{}", this_process(), &instance[..8]),
            lease_ttl: DEFAULT_LEASE_TTL,
            key,
        }
    }

    /// Leases live `ttl` without renewal (at least 300 ms): a shorter TTL
    /// fails over sooner and renews more often.
    pub(crate) fn with_lease_ttl(mut self, ttl: Duration) -> Result<Self> {
        if ttl < MIN_LEASE_TTL {
            return Err(Error::InvalidArgument(format!(
                "a lease TTL of {ttl:?} is below the minimum of {MIN_LEASE_TTL:?}"
            )));
        }
        self.lease_ttl = ttl;
        Ok(self)
    }

    /// A request's state and outcome; `None` when it is gone.
    async fn read_outcome(&self, request_id: &str) -> Result<Option<(String, Option<String>)>> {
        let mut conn = self.conn.clone();
        let (state, outcome): (Option<String>, Option<String>) = bounded(
            "reading a request",
            redis::cmd("HMGET")
                .arg(self.keys.request(request_id))
                .arg("state")
                .arg("outcome")
                .query_async(&mut conn),
        )
        .await?;
        Ok(state.map(|s| (s, outcome)))
    }

    /// Claims what is queued now; also the stream id to wait after.
    async fn claim_now(
        &self,
        session: &SessionId,
        lease: &Lease,
    ) -> Result<(String, Vec<Request>)> {
        let mut conn = self.conn.clone();
        let (last, triples): (String, Vec<String>) = bounded(
            "claiming requests",
            scripts::CLAIM
                .key(self.keys.outbox(session))
                .key(self.keys.claimed(session))
                .key(self.keys.lease(session))
                .arg(lease.token)
                .arg(CLAIM_BATCH)
                .arg(now_ms())
                .arg(self.keys.request_prefix())
                .invoke_async(&mut conn),
        )
        .await?;
        let mut claimed = Vec::with_capacity(triples.len() / 3);
        for triple in triples.chunks(3) {
            let [id, text, payload] = triple else {
                continue;
            };
            match Request::from_stored(text, Some(payload), &self.key) {
                Ok(request) => claimed.push(request),
                Err(e) => {
                    // A request no waotp could have written (or sealed
                    // under another OTP secret): answered instead of
                    // retried forever.
                    self.write_outcome(session, id, lease, &Outcome::of::<()>(&Err(e)), false)
                        .await?;
                }
            }
        }
        Ok((last, claimed))
    }

    /// The fenced write of an outcome; false when the request is no longer
    /// claimed under this lease.
    async fn write_outcome(
        &self,
        session: &SessionId,
        request_id: &str,
        lease: &Lease,
        outcome: &Outcome,
        sent: bool,
    ) -> Result<bool> {
        let now = now_ms();
        let mut conn = self.conn.clone();
        let written: i64 = bounded(
            "recording an outcome",
            scripts::FINISH
                .key(self.keys.request(request_id))
                .key(self.keys.claimed(session))
                .key(self.keys.done(request_id))
                .key(self.keys.requests(session))
                .arg(request_id)
                .arg(lease.token)
                .arg(outcome.to_json()?)
                .arg(if outcome.is_failed() { "1" } else { "0" })
                .arg(now)
                .arg(if sent { "1" } else { "0" })
                .arg(millis(RETENTION))
                .arg(millis(DONE_TTL))
                .arg(now.saturating_sub(millis(RETENTION)))
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(written == 1)
    }
}

#[async_trait]
impl Coordination for RedisCoordination {
    async fn try_lease(&self, session: &SessionId) -> Result<Option<Lease>> {
        // Before the command is sent: the key lives at least `ttl` from here.
        let acquired_at = tokio::time::Instant::now();
        let mut conn = self.conn.clone();
        let token: Option<u64> = bounded(
            "taking a lease",
            scripts::ACQUIRE
                .key(self.keys.lease(session))
                .key(self.keys.lease_token(session))
                .key(self.keys.claimed(session))
                .key(self.keys.outbox(session))
                .arg(&self.owner_id)
                .arg(millis(self.lease_ttl))
                .arg(self.keys.request_prefix())
                .arg(self.keys.done_prefix())
                .arg(Outcome::abandoned().to_json()?)
                .arg(now_ms())
                .arg(millis(RETENTION))
                .arg(millis(DONE_TTL))
                .invoke_async(&mut conn),
        )
        .await?;
        let Some(token) = token else {
            return Ok(None);
        };
        let (lost_tx, lost) = watch::channel(false);
        let holder = RedisHolder::start(
            self.conn.clone(),
            self.keys.lease(session),
            format!("{}:{token}", self.owner_id),
            self.lease_ttl,
            acquired_at,
            lost_tx,
        );
        Ok(Some(Lease {
            token,
            lost,
            _holder: Box::new(holder),
        }))
    }

    /// A tenth of the TTL (at most a second), so a follower takes over soon
    /// after a lease is released or expires.
    fn lease_poll(&self) -> Duration {
        (self.lease_ttl / 10).min(MAX_LEASE_POLL)
    }

    async fn submit(&self, request: &Request, claim_for: Option<&Lease>) -> Result<Submitted> {
        let session = &request.session;
        let idempotency = request
            .idempotency_key
            .as_deref()
            .map(|key| self.keys.idempotency(session, key))
            .unwrap_or_default();
        let message = request
            .message_id()
            .map(|id| self.keys.message(id))
            .unwrap_or_default();
        let claimed_by = claim_for.map(|l| l.token.to_string()).unwrap_or_default();
        let mut conn = self.conn.clone();
        let answer: Vec<String> = bounded(
            "queuing a request",
            scripts::SUBMIT
                .key(self.keys.request(&request.id))
                .key(self.keys.outbox(session))
                .key(self.keys.requests(session))
                .key(self.keys.claimed(session))
                .key(idempotency)
                .key(message)
                .arg(&request.id)
                .arg(request.to_json()?)
                .arg(session.as_str())
                .arg(claimed_by)
                .arg(if request.command.resumable() {
                    "1"
                } else {
                    "0"
                })
                .arg(request.message_id().unwrap_or_default())
                .arg(request.recipient().unwrap_or_default())
                .arg(now_ms())
                .arg(self.keys.request_prefix())
                .arg(self.keys.done_prefix())
                .arg(request.sealed_payload(&self.key)?.unwrap_or_default())
                .invoke_async(&mut conn),
        )
        .await?;
        match answer.as_slice() {
            [queued] if queued == "queued" => Ok(Submitted::Queued),
            [pending, text] if pending == "pending" => {
                Ok(Submitted::Pending(Request::from_json(text)?))
            }
            [done, text] if done == "done" => Ok(Submitted::AlreadyDone(Request::from_json(text)?)),
            other => Err(Error::Store(format!(
                "redis: queuing a request: an answer of the wrong shape ({} parts)",
                other.len()
            ))),
        }
    }

    async fn wait_outcome(
        &self,
        _session: &SessionId,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Option<Outcome>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let done = self.keys.done(request_id);
        loop {
            match self.read_outcome(request_id).await? {
                None => {
                    return Err(Error::Store(format!(
                        "request {request_id} left the outbox before it was answered"
                    )));
                }
                Some((state, Some(outcome))) if state == "done" => {
                    return Ok(Some(Outcome::from_json(&outcome)?));
                }
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let wait = left.min(OUTCOME_RECHECK);
            // Rotating the list onto itself leaves its element in place, so
            // every sender waiting for this request wakes, not just the first.
            // A timeout of 0 would block forever: at least a millisecond.
            let mut blmove = redis::cmd("BLMOVE");
            blmove
                .arg(&done)
                .arg(&done)
                .arg("RIGHT")
                .arg("LEFT")
                .arg(format!("{:.3}", wait.as_secs_f64().max(0.001)));
            if let Err(e) = self.blocking.wait(&blmove, wait).await {
                log::debug!("waiting for request {request_id}: {e}");
                tokio::time::sleep(BLOCKING_RETRY.min(left)).await;
            }
        }
    }

    async fn withdraw(&self, request_id: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let deleted: i64 = bounded(
            "withdrawing a request",
            scripts::WITHDRAW
                .key(self.keys.request(request_id))
                .arg(request_id)
                .arg(self.keys.requests_prefix())
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn claim(
        &self,
        session: &SessionId,
        lease: &Lease,
        wait: Duration,
    ) -> Result<Vec<Request>> {
        let (last, claimed) = self.claim_now(session, lease).await?;
        if !claimed.is_empty() || wait.is_zero() {
            return Ok(claimed);
        }
        // Returns as soon as an entry newer than the ones just claimed is
        // added (or was, in between). BLOCK 0 would wait forever.
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(millis(wait).max(1))
            .arg("STREAMS")
            .arg(self.keys.outbox(session))
            .arg(last);
        if let Err(e) = self.blocking.wait(&xread, wait).await {
            log::debug!("session {session}: waiting for requests: {e}");
            tokio::time::sleep(wait).await;
        }
        Ok(self.claim_now(session, lease).await?.1)
    }

    async fn finish(&self, request: &Request, lease: &Lease, outcome: &Outcome) -> Result<()> {
        let sent = matches!(
            (&request.command, outcome),
            (Command::SendText { .. }, Outcome::Done { .. })
        );
        // Fenced: nothing is written once another owner has the request.
        let written = self
            .write_outcome(&request.session, &request.id, lease, outcome, sent)
            .await?;
        if !written {
            log::info!(
                "session {}: request {} is no longer claimed under lease {}; its outcome is dropped",
                request.session,
                request.id,
                lease.token
            );
        }
        Ok(())
    }

    async fn publish(&self, status: &SharedStatus) -> Result<()> {
        let mut conn = self.conn.clone();
        bounded::<()>(
            "publishing a status",
            redis::cmd("HSET")
                .arg(self.keys.sessions())
                .arg(status.id())
                .arg(status.to_json()?)
                .query_async(&mut conn),
        )
        .await
    }

    async fn status(&self, session: &SessionId) -> Result<Option<SharedStatus>> {
        let mut conn = self.conn.clone();
        let text: Option<String> = bounded(
            "reading a status",
            redis::cmd("HGET")
                .arg(self.keys.sessions())
                .arg(session.as_str())
                .query_async(&mut conn),
        )
        .await?;
        text.map(|t| SharedStatus::from_json(&t)).transpose()
    }

    async fn sessions(&self) -> Result<Vec<SessionId>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = bounded(
            "listing sessions",
            redis::cmd("HKEYS")
                .arg(self.keys.sessions())
                .query_async(&mut conn),
        )
        .await?;
        ids.sort();
        Ok(ids
            .iter()
            .filter_map(|id| SessionId::parse(id).ok())
            .collect())
    }

    async fn forget(&self, session: &SessionId) -> Result<()> {
        let mut conn = self.conn.clone();
        let index = self.keys.requests(session);
        // In batches, so a busy session does not hold Redis up in one script.
        loop {
            let ids: Vec<String> = bounded(
                "listing a session's requests",
                redis::cmd("ZRANGE")
                    .arg(&index)
                    .arg(0)
                    .arg(FORGET_BATCH - 1)
                    .query_async(&mut conn),
            )
            .await?;
            if ids.is_empty() {
                break;
            }
            bounded::<i64>(
                "forgetting a session's requests",
                scripts::FORGET_REQUESTS
                    .key(&index)
                    .arg(self.keys.request_prefix())
                    .arg(self.keys.done_prefix())
                    .arg(&ids)
                    .invoke_async(&mut conn),
            )
            .await?;
        }
        // The lease token counter stays: tokens must keep growing should the
        // session id be used again.
        bounded::<()>(
            "forgetting a session",
            redis::pipe()
                .atomic()
                .cmd("HDEL")
                .arg(self.keys.sessions())
                .arg(session.as_str())
                .ignore()
                .cmd("DEL")
                .arg(self.keys.outbox(session))
                .arg(self.keys.claimed(session))
                .arg(self.keys.contacts(session))
                .arg(&index)
                .ignore()
                .query_async(&mut conn),
        )
        .await
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<()> {
        let reason = match status {
            DeliveryStatus::Failed { reason } => Some(reason.as_str()),
            _ => None,
        };
        let mut conn = self.conn.clone();
        bounded::<i64>(
            "recording a delivery",
            scripts::RECORD_DELIVERY
                .key(self.keys.message(message_id))
                .arg(status.as_str())
                .arg(if reason.is_some() { "1" } else { "0" })
                .arg(reason.unwrap_or_default())
                .arg(now_ms())
                .arg(self.keys.request_prefix())
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        let mut conn = self.conn.clone();
        let id: Option<String> = bounded(
            "looking a message up",
            redis::cmd("GET")
                .arg(self.keys.message(message_id))
                .query_async(&mut conn),
        )
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
        );
        let (session, to, delivery, reason, updated): Fields = bounded(
            "reading a message",
            redis::cmd("HMGET")
                .arg(self.keys.request(&id))
                .arg("session")
                .arg("recipient")
                .arg("delivery")
                .arg("delivery_reason")
                .arg("updated_at")
                .query_async(&mut conn),
        )
        .await?;
        // The index can outlive its request by a moment (expiry, withdraw).
        let Some(session) = session else {
            return Ok(None);
        };
        Ok(Some(MessageRecord {
            id: message_id.to_owned(),
            session,
            to: to.unwrap_or_default(),
            status: DeliveryStatus::parse(delivery.as_deref().unwrap_or("pending"), reason),
            updated_at: UNIX_EPOCH + Duration::from_millis(updated.unwrap_or(0)),
        }))
    }

    async fn add_contact(&self, session: &SessionId, phone: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        bounded::<i64>(
            "recording a known contact",
            redis::cmd("SADD")
                .arg(self.keys.contacts(session))
                .arg(phone)
                .query_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn is_contact(&self, session: &SessionId, phone: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        bounded(
            "looking a known contact up",
            redis::cmd("SISMEMBER")
                .arg(self.keys.contacts(session))
                .arg(phone)
                .query_async(&mut conn),
        )
        .await
    }

    async fn take_new_chat(
        &self,
        session: &SessionId,
        phone: &str,
        day: u64,
        per_day: u32,
    ) -> Result<bool> {
        /// A day's set only limits its own day; two days covers clocks apart.
        const LIFETIME_MS: u64 = 2 * 86_400_000;
        let mut conn = self.conn.clone();
        let taken: i64 = bounded(
            "taking a new chat of the day's budget",
            scripts::TAKE_NEW_CHAT
                .key(self.keys.new_chats(session, day))
                .arg(phone)
                .arg(per_day)
                .arg(LIFETIME_MS)
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(taken == 1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use redis::aio::MultiplexedConnection;
    use tokio::time::Instant;
    use waotp_sim::redis_server::RedisServer;

    use super::*;
    use crate::coordination::conformance::{self, SOON, lease_within, send};

    const PREFIX: &str = "test:";

    fn redis_server() -> RedisServer {
        RedisServer::start().expect("a throwaway redis-server (see sim/src/redis_server.rs)")
    }

    async fn host(server: &RedisServer) -> RedisCoordination {
        RedisCoordination::connect(&server.url(), PREFIX, conformance::test_key())
            .await
            .expect("connecting to the test redis-server")
    }

    async fn host_with_ttl(server: &RedisServer, ttl: Duration) -> RedisCoordination {
        host(server).await.with_lease_ttl(ttl).unwrap()
    }

    /// A plain connection, for what the tests do behind the coordination's back.
    async fn raw(server: &RedisServer) -> MultiplexedConnection {
        Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    fn shop() -> SessionId {
        SessionId::parse("shop").unwrap()
    }

    /// Whether the lease turns lost within `within`.
    async fn lost_within(lease: &Lease, within: Duration) -> bool {
        let mut lost = lease.lost.clone();
        tokio::time::timeout(within, lost.wait_for(|lost| *lost))
            .await
            .is_ok()
    }

    /// Waits until `n` clients are blocked in Redis (a waiting owner or sender).
    async fn blocked_clients(conn: &mut MultiplexedConnection, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("clients")
                .query_async(conn)
                .await
                .unwrap();
            let blocked = info
                .lines()
                .find_map(|l| l.strip_prefix("blocked_clients:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if blocked >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} blocked client(s) expected, {blocked} after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn redis_coordination_conformance() {
        let server = redis_server();
        let a = Arc::new(host(&server).await);
        let b = Arc::new(host(&server).await);
        conformance::run_all(&a, &b).await;
    }

    #[tokio::test]
    async fn payloads_are_sealed_in_redis_and_erased_when_done() {
        let server = redis_server();
        let c = host(&server).await;
        let s = shop();
        let lease = c.try_lease(&s).await.unwrap().unwrap();
        let request = send(&s, None, "3EB30");
        c.submit(&request, None).await.unwrap();
        let key = format!("{PREFIX}req:{}", request.id);
        let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        assert!(!fields["request"].contains("\"hi\""), "{fields:?}");
        assert!(fields["payload"].starts_with("v1."), "{fields:?}");
        let claimed = c.claim(&s, &lease, Duration::ZERO).await.unwrap();
        assert_eq!(claimed, vec![request.clone()], "opened for the owner");
        c.finish(&claimed[0], &lease, &Outcome::of(&Ok(())))
            .await
            .unwrap();
        let payload: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("payload")
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        assert_eq!(payload, None, "erased when done");
    }

    #[tokio::test]
    async fn a_request_queued_by_an_earlier_waotp_loses_its_text_when_done() {
        let server = redis_server();
        let c = host(&server).await;
        let s = shop();
        let lease = c.try_lease(&s).await.unwrap().unwrap();
        let request = send(&s, None, "3EB31");
        c.submit(&request, None).await.unwrap();
        // As an earlier waotp wrote it: the text in the JSON, no payload.
        let key = format!("{PREFIX}req:{}", request.id);
        let legacy = request
            .to_json()
            .unwrap()
            .replace("\"to\"", "\"text\":\"Your code is 123456\",\"to\"");
        let mut conn = raw(&server).await;
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("request")
            .arg(&legacy)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("HDEL")
            .arg(&key)
            .arg("payload")
            .query_async(&mut conn)
            .await
            .unwrap();
        let claimed = c.claim(&s, &lease, Duration::ZERO).await.unwrap();
        assert_eq!(claimed[0].command.payload(), Some("Your code is 123456"));
        c.finish(&claimed[0], &lease, &Outcome::of(&Ok(())))
            .await
            .unwrap();
        let json: String = redis::cmd("HGET")
            .arg(&key)
            .arg("request")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!json.contains("123456"), "{json}");
        assert_eq!(
            Request::from_json(&json).unwrap().message_id(),
            Some("3EB31"),
            "the rest of the request reads as before"
        );
    }

    #[tokio::test]
    async fn a_failed_outcome_does_not_wake_the_next_wait() {
        let server = redis_server();
        let c = host(&server).await;
        let s = shop();
        let lease = c.try_lease(&s).await.unwrap().unwrap();
        let request = send(&s, Some("k"), "3EB15");
        c.submit(&request, None).await.unwrap();
        c.claim(&s, &lease, Duration::ZERO).await.unwrap();
        let failed = Outcome::of::<()>(&Err(Error::SendFailed("no route".into())));
        c.finish(&request, &lease, &failed).await.unwrap();
        c.submit(&send(&s, Some("k"), "3EB16"), None).await.unwrap();
        let done_list: bool = redis::cmd("EXISTS")
            .arg(format!("{PREFIX}done:{}", request.id))
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        assert!(
            !done_list,
            "queued again: a wait that starts now must block, not read the failure's wake-up"
        );
    }

    #[tokio::test]
    async fn two_hosts_cannot_both_hold_a_lease() {
        let server = redis_server();
        let ttl = Duration::from_millis(600);
        let a = host_with_ttl(&server, ttl).await;
        let b = host_with_ttl(&server, ttl).await;
        let s = shop();
        let held = a.try_lease(&s).await.unwrap().expect("free lease");
        // Across several TTLs: the holder's renewals keep the key.
        let until = Instant::now() + ttl * 4;
        while Instant::now() < until {
            assert!(
                b.try_lease(&s).await.unwrap().is_none(),
                "a second host took a held lease"
            );
            tokio::time::sleep(b.lease_poll()).await;
        }
        assert!(held.is_held(), "renewed all along");
    }

    #[tokio::test]
    async fn a_lease_ttl_below_the_minimum_is_refused() {
        let server = redis_server();
        let refused = host(&server)
            .await
            .with_lease_ttl(MIN_LEASE_TTL / 2)
            .err()
            .map(|e| e.code());
        assert_eq!(refused, Some("INVALID_ARGUMENT"));
    }

    #[tokio::test]
    async fn a_lease_that_cannot_be_renewed_is_lost_within_its_ttl() {
        let mut server = redis_server();
        let ttl = Duration::from_secs(2);
        let a = host_with_ttl(&server, ttl).await;
        let b = host_with_ttl(&server, ttl).await;
        let s = shop();
        let lease = a.try_lease(&s).await.unwrap().unwrap();
        server.stop();
        // The key can expire `ttl` after the last renewal (at the latest,
        // now): the holder must have given up before, with time to spare
        // for stopping its connection.
        let spare = ttl / 6;
        assert!(
            lost_within(&lease, ttl - spare).await,
            "the holder must give the lease up at least {spare:?} before its key can expire"
        );
        assert!(!lease.is_held());
        server.start_again().unwrap();
        lease_within(&b, &s, Duration::from_secs(10), "after Redis came back").await;
        assert!(!lease.is_held(), "a lost lease stays lost");
    }

    #[tokio::test]
    async fn a_finish_under_an_old_token_does_not_overwrite_the_new_owners_outcome() {
        let server = redis_server();
        let ttl = Duration::from_millis(1500);
        let a = host_with_ttl(&server, ttl).await;
        let b = host_with_ttl(&server, ttl).await;
        let s = shop();
        let old = a.try_lease(&s).await.unwrap().unwrap();
        let request = send(&s, None, "3EB0F");
        a.submit(&request, None).await.unwrap();
        assert_eq!(
            a.claim(&s, &old, Duration::ZERO).await.unwrap(),
            vec![request.clone()]
        );
        // A is cut off long enough for its key to expire.
        let _: () = redis::cmd("DEL")
            .arg(format!("{PREFIX}lease:shop"))
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        assert!(
            lost_within(&old, ttl).await,
            "a lease that is no longer ours turns lost at the next renewal"
        );
        let new = b.try_lease(&s).await.unwrap().expect("the key is gone");
        assert!(new.token > old.token);
        assert_eq!(
            a.claim(&s, &old, Duration::ZERO).await.unwrap_err().code(),
            "STORE_ERROR",
            "an old owner claims nothing"
        );
        assert_eq!(
            b.claim(&s, &new, Duration::ZERO).await.unwrap(),
            vec![request.clone()]
        );
        let stale = Outcome::of::<()>(&Err(Error::SendFailed("old owner".into())));
        a.finish(&request, &old, &stale).await.unwrap();
        b.finish(&request, &new, &Outcome::of(&Ok(())))
            .await
            .unwrap();
        a.finish(&request, &old, &stale).await.unwrap();
        let outcome = a
            .wait_outcome(&s, &request.id, Duration::ZERO)
            .await
            .unwrap()
            .expect("the new owner's outcome");
        outcome.into_result::<()>().unwrap();
    }

    #[tokio::test]
    async fn redis_going_away_fails_submit_promptly_and_it_works_again_after() {
        let mut server = redis_server();
        let a = host(&server).await;
        let s = shop();
        a.submit(&send(&s, None, "3EB10"), None).await.unwrap();
        server.stop();
        let started = Instant::now();
        let e = a.submit(&send(&s, None, "3EB11"), None).await.unwrap_err();
        assert_eq!(e.code(), "STORE_ERROR", "{e}");
        assert!(
            started.elapsed() <= OP_TIMEOUT + Duration::from_secs(1),
            "failed only after {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let e = RedisCoordination::connect(&server.url(), PREFIX, conformance::test_key())
            .await
            .err()
            .expect("no Redis to connect to");
        assert_eq!(e.code(), "STORE_ERROR", "{e}");
        assert!(started.elapsed() <= OP_TIMEOUT + Duration::from_secs(1));
        server.start_again().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(e) = a.submit(&send(&s, None, "3EB12"), None).await {
            assert!(
                Instant::now() < deadline,
                "still failing 10 s after Redis came back: {e}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn an_owner_waiting_for_requests_wakes_when_one_is_queued() {
        let server = redis_server();
        let owner = Arc::new(host(&server).await);
        let follower = host(&server).await;
        let s = shop();
        let lease = owner.try_lease(&s).await.unwrap().unwrap();
        let claim = {
            let owner = owner.clone();
            let s = s.clone();
            tokio::spawn(async move {
                owner
                    .claim(&s, &lease, Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        };
        blocked_clients(&mut raw(&server).await, 1).await;
        let request = send(&s, None, "3EB13");
        follower.submit(&request, None).await.unwrap();
        let claimed = tokio::time::timeout(SOON, claim)
            .await
            .expect("woken by the new entry, not by the end of its wait")
            .unwrap();
        assert_eq!(claimed, vec![request]);
    }

    #[tokio::test]
    async fn every_waiter_of_a_request_is_woken() {
        let server = redis_server();
        let owner = host(&server).await;
        let follower = Arc::new(host(&server).await);
        let s = shop();
        let lease = owner.try_lease(&s).await.unwrap().unwrap();
        let request = send(&s, Some("k"), "3EB14");
        follower.submit(&request, None).await.unwrap();
        let waiter = |follower: Arc<RedisCoordination>, id: String| {
            let s = s.clone();
            tokio::spawn(async move {
                follower
                    .wait_outcome(&s, &id, Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        };
        let first = waiter(follower.clone(), request.id.clone());
        let second = waiter(follower.clone(), request.id.clone());
        blocked_clients(&mut raw(&server).await, 2).await;
        let claimed = owner.claim(&s, &lease, Duration::ZERO).await.unwrap();
        owner
            .finish(&claimed[0], &lease, &Outcome::of(&Ok(())))
            .await
            .unwrap();
        // Both well before their periodic re-read (OUTCOME_RECHECK).
        assert!(SOON < OUTCOME_RECHECK);
        for waiter in [first, second] {
            let outcome = tokio::time::timeout(SOON, waiter)
                .await
                .expect("every waiter is woken by the finish")
                .unwrap();
            assert!(outcome.is_some());
        }
    }
}
