//! Connections of their own for blocking reads.
//!
//! A blocking command (`XREAD BLOCK`, `BLMOVE`) holds its connection until
//! it returns; on the shared multiplexed connection it would hold up every
//! other command of the process behind it. So each wait takes a connection
//! nobody else uses, and gives it back for the next wait when done.
//!
//! Why blocking reads rather than short polls: the wake-up is stored in
//! Redis (a stream entry, a done list), so a wait that starts after it still
//! sees it, the owner and the sender wake the moment it is written, and an
//! idle session costs Redis one command per wait instead of one per poll.
//! The price is one connection per concurrent wait (an owned session's drain
//! loop, a follower's send in flight), kept open for reuse.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, RedisError, Value};

use crate::error::{Error, Result};
use crate::platform::sync;

use super::{CONNECT_TIMEOUT, OP_TIMEOUT};

/// Idle connections kept for the next wait; more are closed.
const MAX_IDLE: usize = 16;

/// A pool of connections reserved for blocking reads.
pub(super) struct BlockingConnections {
    client: Client,
    idle: Mutex<Vec<MultiplexedConnection>>,
}

impl BlockingConnections {
    pub(super) fn new(client: Client) -> Self {
        BlockingConnections {
            client,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `cmd`, which blocks in Redis for at most `wait`, on a connection
    /// of its own. A connection is given back only after a full answer: one
    /// dropped mid-wait (a cancelled caller) still has a command in flight.
    pub(super) async fn wait(&self, cmd: &Cmd, wait: Duration) -> Result<Value> {
        if let Some(mut conn) = self.take_idle() {
            match self.run(&mut conn, cmd, wait).await {
                Ok(value) => {
                    self.give_back(conn);
                    return Ok(value);
                }
                // An idle connection may have died with a Redis restart:
                // one more try on a fresh one.
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {}
                Err(e) => return Err(store(e)),
            }
        }
        let mut conn = self.connect().await?;
        let value = self.run(&mut conn, cmd, wait).await.map_err(store)?;
        self.give_back(conn);
        Ok(value)
    }

    async fn run(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &Cmd,
        wait: Duration,
    ) -> std::result::Result<Value, RedisError> {
        // The connection has no response timeout of its own (it must outlast
        // the block); this bounds a Redis that stopped answering.
        match tokio::time::timeout(wait + OP_TIMEOUT, cmd.query_async(conn)).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", wait + OP_TIMEOUT),
            ))),
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        match tokio::time::timeout(
            OP_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(store(e)),
            Err(_) => Err(Error::Store(format!(
                "redis: no connection for a blocking read within {OP_TIMEOUT:?}"
            ))),
        }
    }

    fn take_idle(&self) -> Option<MultiplexedConnection> {
        sync::lock(&self.idle).pop()
    }

    fn give_back(&self, conn: MultiplexedConnection) {
        let mut idle = sync::lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

fn store(e: RedisError) -> Error {
    Error::Store(format!("redis: blocking read: {e}"))
}
