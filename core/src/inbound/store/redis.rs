//! Redis inbound store: verifications shared by every process on one Redis
//! server and key prefix (the OTP store's connection).
//!
//! | key | type | holds | lives |
//! |-----|------|-------|-------|
//! | `P inbound:{verification_id}` | string | the record, as JSON (the token's MAC in hex) | validity + retention |
//! | `P inbound-token:{mac hex}` | string | the verification id | as its record |
//!
//! A change is a compare-and-set: the record is read, the rule
//! ([`apply_redeem`], `apply_cancel`) runs here, and one script writes the
//! result only if the record is still what was read (`KEEPTTL`), otherwise
//! the step starts again. The rule stays in one place, in Rust, and two
//! processes still never both approve one token. Redis drops a record by
//! its TTL, so [`InboundStore::remove_older_than`] has nothing to do.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inbound::record::{InboundRecord, apply_redeem};
use crate::otp::OtpState;
use crate::otp::{CodeMac, MAC_LEN};

use super::{InboundStore, Redeemed, apply_cancel};

/// How long a record stays readable after its token expired.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// Compare-and-set attempts before a step gives up (each lost race means
/// another process changed the record in between; a handful is plenty).
const CAS_ATTEMPTS: usize = 16;

/// `SET KEYS[1] ARGV[2] KEEPTTL` if `KEYS[1]` still holds `ARGV[1]`.
const COMPARE_AND_SET: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
";

/// Inbound verifications in Redis.
#[derive(Clone)]
pub struct RedisInboundStore {
    conn: ConnectionManager,
    prefix: String,
    cas: redis::Script,
}

impl fmt::Debug for RedisInboundStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInboundStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The record as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    verification_id: String,
    session_id: String,
    expected: Option<String>,
    token_mac: String,
    created_at_ms: u64,
    expires_at_ms: u64,
    attempts: u32,
    max_attempts: u32,
    state: String,
    sender: Option<String>,
    approved_at_ms: Option<u64>,
    reply: Option<String>,
}

fn hex(mac: &CodeMac) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> CodeMac {
    let mut mac = [0u8; MAC_LEN];
    // A damaged MAC stays all zeros: no token's MAC matches it.
    if text.len() == 2 * MAC_LEN {
        for (i, byte) in mac.iter_mut().enumerate() {
            match u8::from_str_radix(&text[2 * i..2 * i + 2], 16) {
                Ok(b) => *byte = b,
                Err(_) => return [0u8; MAC_LEN],
            }
        }
    }
    mac
}

fn encode(r: &InboundRecord) -> Result<String> {
    serde_json::to_string(&Stored {
        verification_id: r.verification_id.clone(),
        session_id: r.session_id.clone(),
        expected: r.expected.clone(),
        token_mac: hex(&r.token_mac),
        created_at_ms: r.created_at_ms,
        expires_at_ms: r.expires_at_ms,
        attempts: r.attempts,
        max_attempts: r.max_attempts,
        state: r.state.as_str().to_owned(),
        sender: r.sender.clone(),
        approved_at_ms: r.approved_at_ms,
        reply: r.reply.clone(),
    })
    .map_err(|e| Error::Store(format!("encoding an inbound verification: {e}")))
}

fn decode(text: &str) -> Result<InboundRecord> {
    let s: Stored = serde_json::from_str(text)
        .map_err(|e| Error::Store(format!("a stored inbound verification is damaged: {e}")))?;
    Ok(InboundRecord {
        verification_id: s.verification_id,
        session_id: s.session_id,
        expected: s.expected,
        token_mac: unhex(&s.token_mac),
        created_at_ms: s.created_at_ms,
        expires_at_ms: s.expires_at_ms,
        attempts: s.attempts,
        max_attempts: s.max_attempts,
        // An unknown state (a newer waotp's) approves nothing.
        state: OtpState::parse(&s.state).unwrap_or(OtpState::Canceled),
        sender: s.sender,
        approved_at_ms: s.approved_at_ms,
        reply: s.reply,
    })
}

fn failed(what: &'static str) -> impl FnOnce(redis::RedisError) -> Error {
    move |e| Error::Store(format!("Redis {what} failed: {e}"))
}

impl RedisInboundStore {
    /// A store on `conn` (the OTP store's connection) with every key under
    /// `prefix`.
    pub fn with_connection(conn: ConnectionManager, prefix: &str) -> Self {
        RedisInboundStore {
            conn,
            prefix: prefix.to_owned(),
            cas: redis::Script::new(COMPARE_AND_SET),
        }
    }

    fn record_key(&self, verification_id: &str) -> String {
        format!("{}inbound:{verification_id}", self.prefix)
    }

    fn token_key(&self, mac: &CodeMac) -> String {
        format!("{}inbound-token:{}", self.prefix, hex(mac))
    }

    /// The record's stored text, if any.
    async fn read(&self, key: &str) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        conn.get(key)
            .await
            .map_err(failed("read of an inbound verification"))
    }

    /// Runs `rule` on the record at `key` until its result is written over
    /// the text it was computed from. `None` when there is no record.
    async fn change<T>(
        &self,
        key: &str,
        mut rule: impl FnMut(&mut InboundRecord) -> T,
    ) -> Result<Option<(T, InboundRecord)>> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(old) = self.read(key).await? else {
                return Ok(None);
            };
            let mut record = decode(&old)?;
            let answer = rule(&mut record);
            let new = encode(&record)?;
            if new == old {
                return Ok(Some((answer, record)));
            }
            let mut conn = self.conn.clone();
            let written: i64 = self
                .cas
                .key(key)
                .arg(&old)
                .arg(&new)
                .invoke_async(&mut conn)
                .await
                .map_err(failed("update of an inbound verification"))?;
            if written == 1 {
                return Ok(Some((answer, record)));
            }
        }
        Err(Error::Store(
            "an inbound verification kept changing under this update".into(),
        ))
    }
}

#[async_trait]
impl InboundStore for RedisInboundStore {
    async fn put(&self, record: &InboundRecord) -> Result<()> {
        let now_ms = record.created_at_ms;
        let ttl_ms = record.expires_at_ms.saturating_sub(now_ms) + RETENTION.as_millis() as u64;
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .pset_ex(
                self.record_key(&record.verification_id),
                encode(record)?,
                ttl_ms,
            )
            .ignore()
            .pset_ex(
                self.token_key(&record.token_mac),
                &record.verification_id,
                ttl_ms,
            )
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(failed("write of an inbound verification"))
    }

    async fn get(&self, verification_id: &str) -> Result<Option<InboundRecord>> {
        self.read(&self.record_key(verification_id))
            .await?
            .map(|text| decode(&text))
            .transpose()
    }

    async fn redeem(
        &self,
        token_mac: &CodeMac,
        session_id: &str,
        sender: &str,
        now_ms: u64,
    ) -> Result<Redeemed> {
        let Some(id) = self.read(&self.token_key(token_mac)).await? else {
            return Ok(Redeemed::not_found());
        };
        let key = self.record_key(&id);
        Ok(
            match self
                .change(&key, |r| apply_redeem(r, session_id, sender, now_ms))
                .await?
            {
                Some((outcome, record)) => Redeemed {
                    outcome,
                    record: Some(record),
                },
                None => Redeemed::not_found(),
            },
        )
    }

    async fn cancel(&self, verification_id: &str, now_ms: u64) -> Result<Option<InboundRecord>> {
        let key = self.record_key(verification_id);
        Ok(self
            .change(&key, |r| apply_cancel(r, now_ms))
            .await?
            .map(|((), record)| record))
    }

    async fn remove_older_than(&self, _before_ms: u64) -> Result<usize> {
        // Redis drops each record and its token key by their TTL.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use waotp_sim::redis_server::RedisServer;

    use super::*;
    use crate::inbound::record::RedeemOutcome;
    use crate::inbound::record::tests::record;

    async fn start(prefix: &str) -> (RedisServer, RedisInboundStore) {
        let server = RedisServer::start().expect("redis-server starts");
        let client = redis::Client::open(server.url()).unwrap();
        let conn = ConnectionManager::new(client).await.unwrap();
        (server, RedisInboundStore::with_connection(conn, prefix))
    }

    #[tokio::test]
    async fn redis_inbound_store_conformance() {
        let (_server, store) = start("t:").await;
        super::super::conformance::run_all(&store).await;
        let mut conn = store.conn.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(keys.len(), 8, "a record and a token key each: {keys:?}");
        for key in keys {
            assert!(
                key.starts_with("t:inbound"),
                "`{key}` is outside the prefix"
            );
            let ttl: i64 = conn.pttl(&key).await.unwrap();
            assert!(ttl > 0, "`{key}` has no TTL ({ttl})");
        }
    }

    #[tokio::test]
    async fn racing_processes_approve_a_token_once() {
        let (_server, store) = start("race:").await;
        store.put(&record("v", None, 5)).await.unwrap();
        let mut racers = Vec::new();
        for n in 0..8 {
            let store = store.clone();
            racers.push(tokio::spawn(async move {
                store
                    .redeem(&[5; 32], "shop", &format!("628{n}"), 2_000)
                    .await
                    .unwrap()
                    .outcome
            }));
        }
        let mut approved = 0;
        for racer in racers {
            match racer.await.unwrap() {
                RedeemOutcome::Approved => approved += 1,
                RedeemOutcome::Spent => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(approved, 1, "one approval among 8 racing messages");
    }
}
