//! Opening the shared Redis of a deployment across hosts: one client, one
//! multiplexed connection shared by the OTP store and the coordination, and
//! the OTP secret every host must use.

use std::sync::Arc;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::coordination::SharedCoordination;
use crate::coordination::redis::RedisCoordination;
use crate::error::{Error, Result};
use crate::otp::{OtpSecret, RedisStore};

/// The default prefix of every key waotp writes.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "waotp:";

/// What a gateway gets from Redis.
pub(crate) struct RedisParts {
    pub(crate) coordination: SharedCoordination,
    pub(crate) store: Arc<RedisStore>,
    pub(crate) connection: ConnectionManager,
}

/// Connects to `url` (failing fast with `STORE_ERROR` when Redis does not
/// answer, `INVALID_ARGUMENT` for a malformed URL).
pub(crate) async fn connect(
    url: &str,
    key_prefix: &str,
    lease_ttl: Option<std::time::Duration>,
) -> Result<RedisParts> {
    check_prefix(key_prefix)?;
    let client = redis::Client::open(url)
        .map_err(|e| Error::InvalidArgument(format!("redis_url `{url}`: {e}")))?;
    let connection =
        ConnectionManager::new_with_config(client.clone(), RedisStore::connection_config())
            .await
            .map_err(|e| Error::Store(format!("connecting to Redis at {url}: {e}")))?;
    let mut coordination = RedisCoordination::new(client, connection.clone(), key_prefix);
    if let Some(ttl) = lease_ttl {
        coordination = coordination.with_lease_ttl(ttl)?;
    }
    let store = RedisStore::with_connection(connection.clone(), key_prefix);
    Ok(RedisParts {
        coordination: Arc::new(coordination),
        store: Arc::new(store),
        connection,
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

/// The HMAC secret of the deployment: generated once by whichever host comes
/// first (`SET NX`), then read by every host, so a code sent through one
/// host verifies on another. It sits beside the MACs it protects; an
/// application that keeps secrets elsewhere passes its own
/// (`GatewayBuilder::otp_secret`).
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
