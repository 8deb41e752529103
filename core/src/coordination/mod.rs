//! Many processes, many hosts: who runs each session's WhatsApp connection,
//! how the others send through it, and what every process can see.
//!
//! ```text
//!            process A (owner of "shop")          process B, C, … (followers)
//!   send ──▶ outbox row ──▶ drain ──▶ WhatsApp      send ──▶ outbox row ─┐
//!                ▲             │                                        │ wake
//!                └── outcome ◀─┘◀───────────────────────────────────────┘
//!   lease("shop") held          status("shop") published ──▶ mirrored by B, C
//! ```
//!
//! * **One owner per session.** A process runs a session's connection only
//!   while it holds the session's [`Lease`]: an OS file lock beside the
//!   session's store on one host (the kernel drops it when the process dies),
//!   or a Redis key with a TTL, renewal and a fencing token across hosts.
//! * **Every process can do everything.** Sends and the other operations that
//!   need the connection become [`Request`]s in the session's outbox; the
//!   owner carries them out and records an [`Outcome`] that the sender
//!   returns as if it had sent locally. The owner's own sends take the same
//!   path without the wait, so idempotency keys hold across processes.
//! * **Failover.** Followers keep trying the lease; the one that gets it
//!   reconnects from the stored credentials and first takes back what the
//!   dead owner had claimed but not finished (same message id, so the
//!   recipient sees one message).
//! * **Shared status.** The owner publishes the session's status, QR and
//!   pairing code; followers mirror it.
//!
//! [`Coordination`] is the shared side; [`local`] keeps it in
//! `data_dir/shared.db` with file locks, [`redis`] in Redis.

#[cfg(test)]
mod conformance;
pub(crate) mod file_lease;
pub(crate) mod local;
pub(crate) mod redis;

mod requests;
mod sealed;
mod shared_status;
mod wake;
mod wire_error;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::Result;
use crate::model::DeliveryStatus;
use crate::model::MessageRecord;
use crate::model::SessionId;

pub(crate) use requests::{Command, Outcome, Request, Submitted};
pub(crate) use sealed::OutboxKey;
pub(crate) use shared_status::SharedStatus;

/// The right to run one session's WhatsApp connection.
///
/// Dropping it gives the session up. `lost` turns true when it can no longer
/// be trusted (a Redis lease that could not be renewed in time); the owner
/// must then stop its connection at once.
pub(crate) struct Lease {
    /// Grows with every new owner of the session (fencing token): work
    /// claimed under an older token belongs to an owner that is gone.
    pub(crate) token: u64,
    pub(crate) lost: watch::Receiver<bool>,
    /// Whatever holds the lease (a locked file, a renewal task); released on drop.
    pub(crate) _holder: Box<dyn Send + Sync>,
}

impl Lease {
    /// Whether the lease is still held.
    pub(crate) fn is_held(&self) -> bool {
        !*self.lost.borrow()
    }
}

/// The state every process of a deployment shares.
#[async_trait]
pub(crate) trait Coordination: Send + Sync + 'static {
    /// Tries to become the owner of `session`; `None` while another process
    /// is. On success, requests claimed by earlier owners are queued again.
    async fn try_lease(&self, session: &SessionId) -> Result<Option<Lease>>;

    /// How often a follower tries the lease again.
    fn lease_poll(&self) -> Duration;

    /// Queues a request; with `claim_for` (the caller owns the session and
    /// carries it out at once) it is queued as already claimed. With an
    /// idempotency key the session already has a request for, nothing is
    /// queued and that request is returned (failed ones are queued again,
    /// unclaimed, under their message id).
    async fn submit(&self, request: &Request, claim_for: Option<&Lease>) -> Result<Submitted>;

    /// Waits for the request's outcome until `timeout`; `None` when it ran
    /// out (the request may still be carried out later).
    async fn wait_outcome(
        &self,
        session: &SessionId,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Option<Outcome>>;

    /// Withdraws a request that no owner has claimed yet; false if one has.
    async fn withdraw(&self, request_id: &str) -> Result<bool>;

    /// Owner side: claims the next queued requests of `session`, waiting up
    /// to `wait` for one to arrive.
    async fn claim(
        &self,
        session: &SessionId,
        lease: &Lease,
        wait: Duration,
    ) -> Result<Vec<Request>>;

    /// Owner side: records a request's outcome and wakes its sender.
    async fn finish(&self, request: &Request, lease: &Lease, outcome: &Outcome) -> Result<()>;

    /// Owner side: publishes the session's status for every process.
    async fn publish(&self, status: &SharedStatus) -> Result<()>;

    /// The published status of one session.
    async fn status(&self, session: &SessionId) -> Result<Option<SharedStatus>>;

    /// Every session any process has published.
    async fn sessions(&self) -> Result<Vec<SessionId>>;

    /// Forgets a deleted session's status and requests.
    async fn forget(&self, session: &SessionId) -> Result<()>;

    /// Moves a message's shared delivery status forward.
    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<()>;

    /// A message sent through any process.
    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>>;

    /// Records that `session`'s number has a chat with `phone` (a message
    /// to it was delivered), for every process and the next owner.
    async fn add_contact(&self, session: &SessionId, phone: &str) -> Result<()>;

    /// Whether any process recorded a chat of `session`'s number with `phone`.
    async fn is_contact(&self, session: &SessionId, phone: &str) -> Result<bool>;

    /// Takes one of `session`'s `per_day` new chats of UTC day `day` (days
    /// since the epoch) for `phone`, atomically across processes: true if
    /// `phone` already took one that day or one was left, false when the
    /// day's budget is spent.
    async fn take_new_chat(
        &self,
        session: &SessionId,
        phone: &str,
        day: u64,
        per_day: u32,
    ) -> Result<bool>;
}

/// The coordination of one gateway.
pub(crate) type SharedCoordination = Arc<dyn Coordination>;
