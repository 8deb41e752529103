//! Who runs a session's WhatsApp connection, and how every other process
//! uses it (see [`crate::coordination`]).
//!
//! Each session has one ownership task. As a follower it mirrors the status
//! the owner publishes and tries the lease every `lease_poll`; once it holds
//! the lease it starts the client from the stored credentials, publishes the
//! session's status and drains the outbox, until the lease is lost (Redis)
//! or the session shuts down.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::coordination::{Command, Lease, Outcome, Request, SharedStatus, Submitted};
use crate::error::{Error, Result};
use crate::model::SessionState;

use crate::platform::sync::lock;

use super::SessionInner;

/// How long the drain loop waits for a request before looking again (the
/// wake socket or Redis wakes it sooner; with its wake socket up, the local
/// outbox stretches this to a few seconds, see `coordination::local`).
const DRAIN_WAIT: Duration = Duration::from_millis(500);
/// How long an owner lets a send wait for its connection (after a failover,
/// queued sends wait for the new connection rather than fail).
const READY_WAIT: Duration = Duration::from_secs(30);
/// How long a sender waits for a claimed request after its own deadline:
/// once claimed it may go out, so the caller should hear how it went.
const CLAIMED_GRACE: Duration = Duration::from_secs(30);

/// Whether this process runs the session's connection.
pub(crate) enum Role {
    /// Another process does (or nobody yet); the status is mirrored.
    Follower,
    /// This process holds the lease.
    Owner(Arc<Lease>),
}

/// The tasks an owner runs besides the client.
#[derive(Default)]
pub(crate) struct OwnerTasks {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The drain loop, and how to ask it to stop (see [`Stop`]).
    drain: Option<(watch::Sender<Option<Duration>>, tokio::task::JoinHandle<()>)>,
}

impl OwnerTasks {
    /// Aborts everything without waiting (a new owner term replaces them,
    /// or the session is dropped).
    pub(crate) fn abort(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some((_, drain)) = self.drain.take() {
            drain.abort();
        }
    }
}

impl Drop for OwnerTasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// How long a closing owner lets the requests it is carrying out finish
/// before it stops its client (each is bounded by its own timeouts too).
pub(crate) const FINISH_ON_CLOSE: Duration = Duration::from_secs(10);

/// Stops the owner's tasks and returns once none of them runs any more:
/// the drain loop claims nothing more, lets the requests it runs finish for
/// up to `grace`, then aborts the rest and waits until they are gone.
///
/// Only then may the caller stop the client. A request still running at
/// that point would see the connection go away and record "not connected"
/// as its outcome, an answer the next owner would never get to correct.
/// `grace` is [`FINISH_ON_CLOSE`] on a close (a send cut off here would be
/// sent again by the next owner under the same id; letting it finish spares
/// the recipient the duplicate) and zero when the lease is lost.
pub(crate) async fn stop_owner_tasks(session: &SessionInner, grace: Duration) {
    let (drain, tasks) = {
        let mut owned = lock(&session.owner_tasks);
        (owned.drain.take(), std::mem::take(&mut owned.tasks))
    };
    if let Some((stop, handle)) = drain {
        let _ = stop.send(Some(grace));
        // The loop bounds its own wait by `grace`; it ends by itself.
        let _ = handle.await;
    }
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
}

/// Takes the first step now (so a single process owns its sessions as soon
/// as it opens them), then keeps going in the background.
pub(crate) async fn begin(session: &Arc<SessionInner>) -> Result<()> {
    let first = step(session).await;
    let task = tokio::spawn(run(Arc::downgrade(session)));
    *lock(&session.ownership) = Some(task);
    first
}

/// One follower step: take the lease if it is free, else mirror the owner.
async fn step(session: &Arc<SessionInner>) -> Result<()> {
    if session.is_remote {
        return mirror(session).await;
    }
    match session.context.coordination.try_lease(&session.id).await? {
        Some(lease) => take_over(session, lease).await,
        None => mirror(session).await,
    }
}

async fn run(weak: Weak<SessionInner>) {
    loop {
        let (poll, lost) = {
            let Some(session) = weak.upgrade() else {
                return;
            };
            if session.is_closed() {
                return;
            }
            let poll = session.context.coordination.lease_poll();
            match &*lock(&session.role) {
                Role::Owner(lease) => (poll, Some(lease.lost.clone())),
                Role::Follower => (poll, None),
            }
        };
        match lost {
            Some(lost) => {
                wait_lost(lost).await;
                let Some(session) = weak.upgrade() else {
                    return;
                };
                log::warn!(
                    "session {}: lease lost; stopping its connection",
                    session.id
                );
                session.give_up().await;
            }
            None => {
                tokio::time::sleep(poll).await;
                let Some(session) = weak.upgrade() else {
                    return;
                };
                if session.is_closed() {
                    return;
                }
                if let Err(e) = step(&session).await {
                    log::warn!("session {}: {e}", session.id);
                }
            }
        }
    }
}

async fn wait_lost(mut lost: watch::Receiver<bool>) {
    while !*lost.borrow_and_update() {
        if lost.changed().await.is_err() {
            // The holder is gone without a word: the lease went with it.
            return;
        }
    }
}

/// Becomes the owner: starts the client, the status publisher and the drain loop.
async fn take_over(session: &Arc<SessionInner>, lease: Lease) -> Result<()> {
    if !session.store_path.exists() {
        // Deleted by its owner meanwhile: nothing to run.
        session.mark_closed();
        return Ok(());
    }
    log::info!(
        "session {}: this process now owns it (lease {})",
        session.id,
        lease.token
    );
    // From here the status is this process's own: no longer what the last
    // owner published (often `connected`, with no connection here yet).
    session.update_status(|s| s.enter(SessionState::Starting, None));
    let lease = Arc::new(lease);
    *lock(&session.role) = Role::Owner(lease.clone());
    {
        let mut tasks = lock(&session.owner_tasks);
        tasks.abort();
        tasks
            .tasks
            .push(tokio::spawn(publish_loop(Arc::downgrade(session))));
    }
    // The drain loop starts once the client has been started.
    let started = session.start().await;
    let (stop, stopping) = watch::channel(None);
    let drain = tokio::spawn(drain_loop(Arc::downgrade(session), lease, stopping));
    lock(&session.owner_tasks).drain = Some((stop, drain));
    started
}

/// Publishes the status whenever it changes (or the pairing code does).
async fn publish_loop(weak: Weak<SessionInner>) {
    let (mut changes, nudge) = match weak.upgrade() {
        Some(s) => (s.status.subscribe(), s.publish_nudge.clone()),
        None => return,
    };
    loop {
        {
            let Some(session) = weak.upgrade() else {
                return;
            };
            let status = changes.borrow_and_update().clone();
            let shared = SharedStatus::new(
                &status,
                lock(&session.qr).as_ref(),
                lock(&session.pair_code).as_deref(),
            );
            if let Err(e) = session.context.coordination.publish(&shared).await {
                log::warn!("session {}: publishing its status failed: {e}", session.id);
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = nudge.notified() => {}
        }
    }
}

/// Claims queued requests and carries each out on a task of its own.
///
/// Those tasks live in a `JoinSet` owned by this loop, so that stopping the
/// loop (see [`stop_owner_tasks`]) can wait until none of them runs. A
/// request cut off that way stays claimed, and the next owner carries it out
/// again under its message id. Left running, a task would keep the lease
/// (and so the session) from every other process until its send gave up on
/// a connection that was stopped.
///
/// `Delete` is the exception: it stops the session itself (which waits for
/// this loop), so it runs on a task of its own and finishes its work.
async fn drain_loop(
    weak: Weak<SessionInner>,
    lease: Arc<Lease>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let (coordination, id) = match weak.upgrade() {
        Some(s) => (s.context.coordination.clone(), s.id.clone()),
        None => return,
    };
    let mut running = JoinSet::new();
    let grace = loop {
        while running.try_join_next().is_some() {}
        if let Some(grace) = *stop.borrow_and_update() {
            break grace;
        }
        let claimed = tokio::select! {
            claimed = coordination.claim(&id, &lease, DRAIN_WAIT) => claimed,
            changed = stop.changed() => match changed {
                Ok(()) => continue,
                // The owner's tasks were dropped without a word: stop now.
                Err(_) => break Duration::ZERO,
            },
        };
        let requests = match claimed {
            Ok(requests) => requests,
            Err(e) => {
                log::warn!("session {id}: reading the outbox failed: {e}");
                tokio::time::sleep(DRAIN_WAIT).await;
                continue;
            }
        };
        for request in requests {
            let Some(session) = weak.upgrade() else {
                return;
            };
            let stops_the_session = matches!(request.command, Command::Delete);
            let task = carry_out(session, request, lease.clone());
            if stops_the_session {
                tokio::spawn(task);
            } else {
                running.spawn(task);
            }
        }
    };
    let finished = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, finished).await.is_err() {
        log::warn!(
            "session {id}: {} request(s) still running after {grace:?}; the next owner carries them out",
            running.len()
        );
    }
    // Aborts what is left and waits until each task is gone.
    running.shutdown().await;
}

/// Carries out one claimed request and records its outcome.
async fn carry_out(session: Arc<SessionInner>, request: Request, lease: Arc<Lease>) {
    let outcome = execute_request(&session, &request).await;
    if let Err(e) = session
        .context
        .coordination
        .finish(&request, &lease, &outcome)
        .await
    {
        log::warn!("session {}: recording an outcome failed: {e}", session.id);
    }
}

/// Mirrors the owner's published status, QR code and pairing code.
async fn mirror(session: &Arc<SessionInner>) -> Result<()> {
    let Some(shared) = session.context.coordination.status(&session.id).await? else {
        if session.is_remote || !session.store_path.exists() {
            // Its owner deleted it: nothing is left to follow.
            session.mark_closed();
        }
        return Ok(());
    };
    let (status, qr, pair_code) = shared.view();
    *lock(&session.qr) = qr;
    *lock(&session.pair_code) = pair_code;
    session.status.send_if_modified(|current| {
        let changed = *current != status;
        *current = status;
        changed
    });
    Ok(())
}

/// Carries out a request on this process's client, unless it expired
/// while it waited (a send whose code no longer works is never sent).
async fn execute_request(session: &Arc<SessionInner>, request: &Request) -> Outcome {
    if let Err(e) = not_expired(request.expires_at_ms, request.recipient()) {
        return Outcome::of::<()>(&Err(e));
    }
    execute(session, &request.command, request.expires_at_ms).await
}

/// `OTP_EXPIRED` once `expires_at_ms` (unix ms) has passed.
fn not_expired(expires_at_ms: Option<u64>, recipient: Option<&str>) -> Result<()> {
    let now = crate::model::time::unix_ms_now();
    match expires_at_ms {
        Some(at) if at <= now => {
            // Reads "the OTP for 628…, before its message left the outbox
            // (nothing was sent), has expired".
            Err(Error::OtpExpired(format!(
                "{}, before its message left the outbox (nothing was sent),",
                recipient.unwrap_or("this request")
            )))
        }
        _ => Ok(()),
    }
}

/// Carries out a command on this process's client (the owner's side); a
/// send not after `expires_at_ms`.
pub(crate) async fn execute(
    session: &Arc<SessionInner>,
    command: &Command,
    expires_at_ms: Option<u64>,
) -> Outcome {
    match command {
        Command::SendText {
            to,
            text,
            message_id,
        } => Outcome::of(&send(session, to, text, message_id, expires_at_ms).await),
        Command::IsOnWhatsapp { phone } => Outcome::of(
            &async {
                session.ready_within(READY_WAIT).await?;
                session.registered_here(phone).await
            }
            .await,
        ),
        Command::PairCode { phone } => Outcome::of(&session.pair_code_here(phone).await),
        Command::SubmitPasskey { assertion } => {
            Outcome::of(&session.submit_passkey_here(assertion).await)
        }
        Command::Restart => Outcome::of(&session.start().await),
        Command::Logout => Outcome::of(&session.logout_here().await),
        Command::Delete => Outcome::of(&session.delete_here().await),
    }
}

async fn send(
    session: &Arc<SessionInner>,
    to: &str,
    text: &str,
    message_id: &str,
    expires_at_ms: Option<u64>,
) -> Result<()> {
    session.ready_within(READY_WAIT).await?;
    // The wait for a connection can outlast the code.
    not_expired(expires_at_ms, Some(to))?;
    let client = session.connected_client()?;
    session
        .send_with_id(&client, to, text, message_id.to_owned())
        .await
        .map(|_| ())
}

/// What [`perform`] found.
pub(crate) struct Performed {
    /// The request that was carried out: the given one, or the earlier one
    /// its idempotency key named.
    pub(crate) request: Request,
    /// The owner's answer.
    pub(crate) outcome: Outcome,
    /// True when the idempotency key named a request that had already succeeded.
    pub(crate) replayed: bool,
}

/// Runs a request through the session's outbox: carried out here when this
/// process owns the session, else by the owner while this waits up to `timeout`.
pub(crate) async fn perform(
    session: &Arc<SessionInner>,
    request: Request,
    timeout: Duration,
) -> Result<Performed> {
    let coordination = &session.context.coordination;
    let owner = session.lease();
    let (request, replayed) = match coordination.submit(&request, owner.as_deref()).await? {
        Submitted::Queued => {
            if let Some(lease) = owner {
                // Claimed for us at submit: carry it out without a round trip.
                let outcome = execute_request(session, &request).await;
                coordination.finish(&request, &lease, &outcome).await?;
                return Ok(Performed {
                    request,
                    outcome,
                    replayed: false,
                });
            }
            (request, false)
        }
        Submitted::Pending(earlier) => (earlier, false),
        Submitted::AlreadyDone(earlier) => (earlier, true),
    };
    if replayed {
        return Ok(Performed {
            request,
            outcome: Outcome::Done {
                value: serde_json::Value::Null,
            },
            replayed,
        });
    }
    let outcome = match coordination
        .wait_outcome(&session.id, &request.id, timeout)
        .await?
    {
        Some(outcome) => outcome,
        None if coordination.withdraw(&request.id).await? => {
            return Err(Error::Timeout(format!(
                "the owner of session `{}` to carry out the request (withdrawn, nothing was sent)",
                session.id
            )));
        }
        None => coordination
            .wait_outcome(&session.id, &request.id, CLAIMED_GRACE)
            .await?
            .ok_or_else(|| {
                Error::Timeout(format!(
                    "the owner of session `{}` to finish the request (it may still be carried out)",
                    session.id
                ))
            })?,
    };
    Ok(Performed {
        request,
        outcome,
        replayed: false,
    })
}

/// Runs `command` where the connection is: directly when this process owns
/// the session, else through the outbox; answers as the owner did.
pub(crate) async fn on_owner<T: Serialize + DeserializeOwned>(
    session: &Arc<SessionInner>,
    command: Command,
    timeout: Duration,
) -> Result<T> {
    let outcome = if session.lease().is_some() {
        execute(session, &command, None).await
    } else {
        perform(session, Request::new(&session.id, command, None), timeout)
            .await?
            .outcome
    };
    outcome.into_result()
}

impl SessionInner {
    /// The lease, while this process owns the session.
    pub(crate) fn lease(&self) -> Option<Arc<Lease>> {
        match &*lock(&self.role) {
            Role::Owner(lease) if lease.is_held() => Some(lease.clone()),
            _ => None,
        }
    }

    /// Whether this process runs the session's connection.
    pub(crate) fn is_owner(&self) -> bool {
        self.lease().is_some()
    }

    /// Stops the connection and goes back to following (a lost lease).
    pub(crate) async fn give_up(&self) {
        stop_owner_tasks(self, Duration::ZERO).await;
        self.stop_client().await;
        *lock(&self.role) = Role::Follower;
    }

    /// Waits up to `wait` for a connection on its way; fails at once when
    /// the session cannot get there by itself (see [`SessionInner::until_ready`]).
    pub(crate) async fn ready_within(&self, wait: Duration) -> Result<()> {
        match tokio::time::timeout(wait, self.until_ready()).await {
            Ok(result) => result,
            Err(_) => Err(Error::NotConnected {
                session: self.id.to_string(),
                state: self.status.borrow().state.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_past_its_expiry_is_refused_with_otp_expired() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(not_expired(None, Some("628111")).is_ok());
        assert!(not_expired(Some(now + 60_000), Some("628111")).is_ok());
        let e = not_expired(Some(now - 1), Some("628111")).unwrap_err();
        assert_eq!(e.code(), "OTP_EXPIRED");
        assert_eq!(
            e.to_string(),
            "the OTP for 628111, before its message left the outbox (nothing was sent), has expired"
        );
    }
}
