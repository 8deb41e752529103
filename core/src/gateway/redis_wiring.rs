//! Opening the shared Redis of a deployment across hosts: one client, one
//! multiplexed connection shared by the OTP store and the coordination.
//!
//! The OTP secret every host must use is the application's to supply
//! (`GatewayBuilder::otp_secret`): kept apart from Redis, whoever reads
//! Redis (a replica, a backup, another deployment under another prefix)
//! can neither try codes against the stored MACs nor open the outbox's
//! sealed payloads. Only for development may it be generated into Redis
//! ([`shared_secret`]).

use std::sync::Arc;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::coordination::redis::RedisCoordination;
use crate::coordination::{OutboxKey, SharedCoordination};
use crate::error::{Error, Result};
use crate::otp::{OtpSecret, RedisStore};

/// The default prefix of every key waotp writes.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "waotp:";

/// What a gateway gets from Redis.
pub(crate) struct RedisParts {
    client: redis::Client,
    pub(crate) store: Arc<RedisStore>,
    pub(crate) connection: ConnectionManager,
    key_prefix: String,
    lease_ttl: Option<std::time::Duration>,
}

impl RedisParts {
    /// The coordination on this Redis, sealing payloads with `key`.
    pub(crate) fn coordination(&self, key: OutboxKey) -> Result<SharedCoordination> {
        let mut coordination = RedisCoordination::new(
            self.client.clone(),
            self.connection.clone(),
            &self.key_prefix,
            key,
        );
        if let Some(ttl) = self.lease_ttl {
            coordination = coordination.with_lease_ttl(ttl)?;
        }
        Ok(Arc::new(coordination))
    }
}

/// Connects to `url` (failing fast with `STORE_ERROR` when Redis does not
/// answer, `INVALID_ARGUMENT` for a malformed URL).
pub(crate) async fn connect(
    url: &str,
    key_prefix: &str,
    lease_ttl: Option<std::time::Duration>,
) -> Result<RedisParts> {
    check_prefix(key_prefix)?;
    // Errors name the server, never the credentials in the URL.
    let shown = crate::platform::redact::url_without_credentials(url);
    let client = redis::Client::open(url)
        .map_err(|e| Error::InvalidArgument(format!("redis_url `{shown}`: {e}")))?;
    let connection =
        ConnectionManager::new_with_config(client.clone(), RedisStore::connection_config())
            .await
            .map_err(|e| Error::Store(format!("connecting to Redis at {shown}: {e}")))?;
    let store = RedisStore::with_connection(connection.clone(), key_prefix);
    Ok(RedisParts {
        client,
        store: Arc::new(store),
        connection,
        key_prefix: key_prefix.to_owned(),
        lease_ttl,
    })
}

fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.len() <= 64 && prefix.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "redis_key_prefix must be at most 64 printable ASCII characters without spaces".into(),
        ))
    }
}

/// Development only (`GatewayBuilder::otp_secret_in_redis`): the HMAC
/// secret of the deployment generated once by whichever host comes first
/// (`SET NX`), then read by every host, so a code sent through one host
/// verifies on another. It sits beside the MACs it protects and the
/// payloads it seals, so whoever reads Redis reads codes.
pub(crate) async fn shared_secret(
    connection: &mut ConnectionManager,
    key_prefix: &str,
) -> Result<OtpSecret> {
    let key = format!("{key_prefix}otp-secret");
    let fresh = OtpSecret::generate()?;
    let redis_error = |e: redis::RedisError| Error::Store(format!("Redis, the OTP secret: {e}"));
    let _: bool = connection
        .set_nx(&key, fresh.bytes())
        .await
        .map_err(redis_error)?;
    let stored: Vec<u8> = connection.get(&key).await.map_err(redis_error)?;
    OtpSecret::from_bytes(&stored)
}
