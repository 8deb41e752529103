//! Linked WhatsApp sessions.
//!
//! A [`Session`] is one linked device: one whatsapp-rust client on its own
//! SQLite store (`data_dir/sessions/<id>.db`). Handles are cheap to clone and
//! all refer to the same session; the [`crate::Gateway`] owns the sessions.

pub mod id;
mod link;
pub(crate) mod ownership;
pub mod qr;
mod retry_receipts;
pub mod state;
mod transport;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use whatsapp_rust::Jid;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::{Client, MessageBuilderExt, SendError, SendOptions};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::coordination::{Command, Request, SharedStatus};
use crate::delivery::DeliveryStatus;
use crate::delivery_reports;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::gateway::Shared;
use crate::messages::MessageRecord;
use crate::storage;

use ownership::{OwnerTasks, Role, on_owner, perform};

pub use id::SessionId;
pub use qr::QrCode;
pub use state::{LinkedUser, SessionState, SessionStatus};

/// The longest text `send_text` accepts (WhatsApp's own limit is 65,536).
pub const MAX_TEXT_LEN: usize = 65_536;

/// How long a send through another process's connection may wait for it.
const REMOTE_SEND_WAIT: Duration = Duration::from_secs(60);
/// How long other operations through another process's connection may wait.
const REMOTE_CALL_WAIT: Duration = Duration::from_secs(30);
/// How long a closing session waits for the server to acknowledge what its
/// connection sent (an ack takes one round trip).
const ACKS_ON_CLOSE: Duration = Duration::from_secs(5);

/// A message handed to WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// WhatsApp message id; pass it to `Gateway::message_status`.
    pub id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// False when an idempotency key matched an earlier send and nothing new was sent.
    pub newly_sent: bool,
}

/// A handle to one linked WhatsApp session.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .finish()
    }
}

pub(crate) struct SessionInner {
    pub(crate) id: SessionId,
    pub(crate) store_path: PathBuf,
    pub(crate) shared: Arc<Shared>,
    status: watch::Sender<SessionStatus>,
    qr: Mutex<Option<QrCode>>,
    pair_code: Mutex<Option<String>>,
    /// The running client, for sends; swapped on restart.
    client: Mutex<Option<Arc<Client>>>,
    /// Serialises start, stop and restart; holds the running client's watcher.
    lifecycle: tokio::sync::Mutex<Option<link::Running>>,
    generation: AtomicU64,
    /// Held while a client event updates the state and publishes it, so that
    /// events (which whatsapp-rust may dispatch from several tasks at once)
    /// reach subscribers in the order the state changed.
    pub(crate) event_order: Mutex<()>,
    /// Set when WhatsApp logged the device out: its credentials are dead and
    /// are wiped once the client has stopped.
    logged_out: AtomicBool,
    /// Known only from the shared state: its store is on another host, so
    /// this process never owns it.
    pub(crate) is_remote: bool,
    /// Owner or follower (see [`ownership`]).
    pub(crate) role: Mutex<Role>,
    /// The owner's status publisher and outbox drain.
    pub(crate) owner_tasks: Mutex<OwnerTasks>,
    /// The ownership task.
    pub(crate) ownership: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Publishes the status now (the pairing code changed).
    pub(crate) publish_nudge: Arc<Notify>,
    /// Shut down or deleted: the gateway no longer lists it.
    closed: AtomicBool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values stay consistent across a panic (plain replacements).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// Creates the session's store file (if new) and starts its client, or
    /// follows the process that already runs it.
    pub(crate) async fn open(id: SessionId, shared: Arc<Shared>) -> Result<Session> {
        storage::create_private_file(&storage::session_store_path(&shared.config.data_dir, &id))?;
        let session = Self::new(id, shared, false);
        ownership::begin(&session.inner).await?;
        Ok(session)
    }

    /// Reopens a stored session (or follows the process that runs it). A
    /// store the client cannot open (damaged, unreadable) leaves the session
    /// listed in state `stopped` with the reason, instead of keeping every
    /// other session from starting. `None` when the store is gone (deleted
    /// since it was listed): reopening must not bring a deleted session back.
    pub(crate) async fn restore(id: SessionId, shared: Arc<Shared>) -> Option<Session> {
        let session = Self::new(id, shared, false);
        if !session.inner.store_path.exists() {
            return None;
        }
        if let Err(e) = ownership::begin(&session.inner).await {
            log::error!("session {}: could not be restored: {e}", session.id());
        }
        Some(session)
    }

    /// A session whose store is on another host: followed, never owned.
    pub(crate) async fn remote(id: SessionId, shared: Arc<Shared>) -> Result<Session> {
        let session = Self::new(id, shared, true);
        ownership::begin(&session.inner).await?;
        Ok(session)
    }

    /// The session's state; creates nothing (`open` creates a new store).
    fn new(id: SessionId, shared: Arc<Shared>, is_remote: bool) -> Session {
        let store_path = storage::session_store_path(&shared.config.data_dir, &id);
        let inner = Arc::new(SessionInner {
            status: watch::Sender::new(SessionStatus::new(id.as_str())),
            id,
            store_path,
            shared,
            qr: Mutex::new(None),
            pair_code: Mutex::new(None),
            client: Mutex::new(None),
            lifecycle: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            logged_out: AtomicBool::new(false),
            event_order: Mutex::new(()),
            is_remote,
            role: Mutex::new(Role::Follower),
            owner_tasks: Mutex::new(OwnerTasks::default()),
            ownership: Mutex::new(None),
            publish_nudge: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
        });
        Session { inner }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        self.inner.id.as_str()
    }

    /// A snapshot of the session's state.
    pub fn status(&self) -> SessionStatus {
        self.inner.status.borrow().clone()
    }

    /// The current pairing QR code.
    ///
    /// Errors: `ALREADY_CONNECTED` when linked; `QR_NOT_AVAILABLE` while
    /// starting or connecting. When every QR expired, or the device was logged
    /// out, this starts a fresh pairing and answers `QR_NOT_AVAILABLE` until
    /// its first code arrives (or use [`Session::wait_qr`]).
    pub async fn qr(&self) -> Result<QrCode> {
        if let Some(qr) = self.inner.current_qr()? {
            return Ok(qr);
        }
        if self.inner.needs_fresh_pairing() {
            self.restart().await?;
        }
        Err(Error::QrNotAvailable(self.id().to_owned()))
    }

    /// Waits up to `timeout` for a QR code (starting a fresh pairing if the
    /// old one expired or the device was logged out).
    pub async fn wait_qr(&self, timeout: Duration) -> Result<QrCode> {
        if self.inner.needs_fresh_pairing() {
            self.restart().await?;
        }
        let mut rx = self.inner.status.subscribe();
        let wait = async {
            loop {
                if let Some(qr) = self.inner.current_qr()? {
                    return Ok(qr);
                }
                let state = rx.borrow_and_update().state;
                if state.is_terminal() {
                    return Err(self.inner.terminal_error(state));
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout(format!("a QR code for session `{}`", self.id())))?
    }

    /// Waits up to `timeout` until the session is connected.
    ///
    /// Fails early with `LOGGED_OUT` if the device is unlinked, or `TIMEOUT`
    /// if the QR codes expire before a scan.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<SessionStatus> {
        let mut rx = self.inner.status.subscribe();
        let wait = async {
            loop {
                let status = rx.borrow_and_update().clone();
                match status.state {
                    SessionState::Connected => return Ok(status),
                    s if s.is_terminal() => return Err(self.inner.terminal_error(s)),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout(format!("session `{}` to connect", self.id())))?
    }

    /// Asks WhatsApp for an 8-character pairing code to type on the phone
    /// (WhatsApp → Linked devices → Link with phone number). The QR code stays
    /// valid as a fallback.
    pub async fn pair_code(&self, phone: &str) -> Result<String> {
        let phone = self.inner.shared.phones.normalize(phone)?;
        on_owner(&self.inner, Command::PairCode { phone }, REMOTE_CALL_WAIT).await
    }

    /// The last pairing code issued, while the session is not yet linked.
    pub fn current_pair_code(&self) -> Option<String> {
        lock(&self.inner.pair_code).clone()
    }

    /// Stops the client and starts a new one on the same store (linked
    /// sessions reconnect without a QR).
    pub async fn restart(&self) -> Result<()> {
        on_owner(&self.inner, Command::Restart, REMOTE_CALL_WAIT).await
    }

    /// Unlinks the device from the WhatsApp account and removes its
    /// credentials. The session stays, in state `logged_out`; ask for a QR to
    /// link it again.
    pub async fn logout(&self) -> Result<()> {
        on_owner(&self.inner, Command::Logout, REMOTE_CALL_WAIT).await
    }

    /// Logs out, stops and removes the session, wherever it runs.
    pub(crate) async fn delete(&self) -> Result<()> {
        match on_owner(&self.inner, Command::Delete, REMOTE_CALL_WAIT).await {
            // The owner's delete forgets everything shared about the session,
            // the request it was answering included: a follower then finds
            // the request gone. Gone with the session's shared status means
            // it was deleted.
            Err(e @ Error::Store(_)) => {
                match self.inner.shared.coordination.status(&self.inner.id).await {
                    Ok(None) => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// Sends a text message.
    ///
    /// With an `idempotency_key`, a retry of the same call returns the first
    /// message's id and sends nothing (unless the first send failed, in which
    /// case it is sent again under the same message id, so the recipient still
    /// gets one message).
    pub async fn send_text(
        &self,
        to: &str,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<SentMessage> {
        let to = self.inner.shared.phones.normalize(to)?;
        if text.trim().is_empty() {
            return Err(Error::InvalidArgument("message text is empty".into()));
        }
        if text.chars().count() > MAX_TEXT_LEN {
            return Err(Error::InvalidArgument(format!(
                "message text is longer than {MAX_TEXT_LEN} characters"
            )));
        }
        if let Some(key) = idempotency_key
            && (key.is_empty() || key.len() > 256)
        {
            return Err(Error::InvalidArgument(
                "idempotency key must be 1 to 256 bytes".into(),
            ));
        }
        let message_id = self.new_message_id()?;
        let request = Request::new(
            &self.inner.id,
            Command::SendText {
                to: to.clone(),
                text: text.to_owned(),
                message_id,
            },
            idempotency_key,
        );
        let done = perform(&self.inner, request, REMOTE_SEND_WAIT).await?;
        let id = done.request.message_id().unwrap_or_default().to_owned();
        done.outcome.into_result::<()>()?;
        Ok(SentMessage {
            id,
            to,
            newly_sent: !done.replayed,
        })
    }

    /// A fresh WhatsApp message id, fixed before the send is queued so that
    /// retries and a resend after a failover are one message to the
    /// recipient. Ids derive from the linked number, the time and randomness
    /// (as WhatsApp Web makes them), so any process can choose one for a
    /// linked session, even while it reconnects.
    pub(crate) fn new_message_id(&self) -> Result<String> {
        if let Some(client) = self.inner.client() {
            return Ok(client.generate_message_id());
        }
        // No client here (a follower, or an owner still starting one): the
        // same scheme. The account's number only salts the hash next to 16
        // random bytes, so an id made before it is known is as unique.
        let own = self.status().user.map(|user| Jid::pn(&user.phone));
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(whatsapp_rust::wacore::request::RequestUtils::message_id_at(
            own.as_ref(),
            secs,
        ))
    }

    /// Sends `text` to `to` (already normalised) under a chosen message id,
    /// through whichever process owns the session.
    pub(crate) async fn send_prepared(&self, to: &str, text: &str, message_id: &str) -> Result<()> {
        let command = Command::SendText {
            to: to.to_owned(),
            text: text.to_owned(),
            message_id: message_id.to_owned(),
        };
        let request = Request::new(&self.inner.id, command, None);
        perform(&self.inner, request, REMOTE_SEND_WAIT)
            .await?
            .outcome
            .into_result()
    }

    /// Whether `phone` (already normalised) is on WhatsApp, answered from the
    /// gateway's cache when fresh.
    pub(crate) async fn is_on_whatsapp_cached(&self, digits: &str) -> Result<bool> {
        if let Some(known) = self.inner.shared.on_whatsapp.get(digits) {
            return Ok(known);
        }
        let phone = digits.to_owned();
        let registered: bool = on_owner(
            &self.inner,
            Command::IsOnWhatsapp { phone },
            REMOTE_CALL_WAIT,
        )
        .await?;
        self.inner.shared.on_whatsapp.put(digits, registered);
        Ok(registered)
    }

    /// Whether `phone` has a WhatsApp account.
    pub async fn is_on_whatsapp(&self, phone: &str) -> Result<bool> {
        let digits = self.inner.shared.phones.normalize(phone)?;
        let command = Command::IsOnWhatsapp {
            phone: digits.clone(),
        };
        let registered: bool = on_owner(&self.inner, command, REMOTE_CALL_WAIT).await?;
        // Fresh answers feed the cache `send_otp` reads.
        self.inner.shared.on_whatsapp.put(&digits, registered);
        Ok(registered)
    }

    /// The delivery record of a message sent through this session by any process.
    pub async fn message_status(&self, message_id: &str) -> Result<MessageRecord> {
        crate::gateway::message_status(&self.inner.shared, message_id).await
    }

    /// The running whatsapp-rust client, for what waotp does not wrap.
    ///
    /// Anything sent through it bypasses waotp: no delivery tracking, no
    /// idempotency, no pacing, no statistics. A restart replaces the client,
    /// so take it for one operation rather than keeping it. Fails with
    /// `NOT_CONNECTED` unless the session is connected in this process (the
    /// owner; see [`Session::is_owner`]).
    pub fn whatsapp_client(&self) -> Result<Arc<Client>> {
        self.inner.connected_client()
    }

    /// Whether this process runs the session's WhatsApp connection. Every
    /// process can use every session; exactly one runs each connection.
    pub fn is_owner(&self) -> bool {
        self.inner.is_owner()
    }
}

async fn is_registered(client: &Client, digits: &str) -> Result<bool> {
    let results = client
        .contacts()
        .is_on_whatsapp(&[Jid::pn(digits)])
        .await
        .map_err(|e| Error::WhatsApp(format!("is_on_whatsapp: {e}")))?;
    Ok(results.iter().any(|r| r.is_registered))
}

impl SessionInner {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn client(&self) -> Option<Arc<Client>> {
        lock(&self.client).clone()
    }

    pub(crate) fn connected_client(&self) -> Result<Arc<Client>> {
        let state = self.status.borrow().state;
        match (state, self.client()) {
            (SessionState::Connected, Some(client)) => Ok(client),
            (SessionState::LoggedOut, _) => Err(Error::LoggedOut(self.id.to_string())),
            (state, _) => Err(Error::NotConnected {
                session: self.id.to_string(),
                state: state.to_string(),
            }),
        }
    }

    pub(crate) fn update_status(&self, f: impl FnOnce(&mut SessionStatus)) {
        self.status.send_modify(f);
    }

    fn current_qr(&self) -> Result<Option<QrCode>> {
        match self.status.borrow().state {
            SessionState::Connected => return Err(Error::AlreadyConnected(self.id.to_string())),
            SessionState::AwaitingScan => {}
            _ => return Ok(None),
        }
        Ok(lock(&self.qr).clone())
    }

    fn needs_fresh_pairing(&self) -> bool {
        // A stopped session (replaced, banned, shut down) is restarted only on
        // an explicit `restart`: pairing again would not be what the caller meant.
        matches!(
            self.status.borrow().state,
            SessionState::QrExpired | SessionState::LoggedOut
        )
    }

    fn terminal_error(&self, state: SessionState) -> Error {
        let id = self.id.to_string();
        match state {
            SessionState::LoggedOut => Error::LoggedOut(id),
            SessionState::QrExpired => {
                Error::Timeout(format!("a scan of session `{id}`: every QR code expired"))
            }
            _ => Error::NotConnected {
                session: id,
                state: state.to_string(),
            },
        }
    }

    /// Stores a new QR code; returns how many this pairing attempt has issued.
    pub(crate) fn show_qr(&self, qr: QrCode) -> u32 {
        *lock(&self.qr) = Some(qr);
        let mut count = 0;
        self.update_status(|s| {
            s.qr_refresh_count += 1;
            count = s.qr_refresh_count;
            s.enter(SessionState::AwaitingScan, None);
        });
        count
    }

    pub(crate) fn set_pair_code(&self, code: Option<String>) {
        *lock(&self.pair_code) = code;
        self.publish_nudge.notify_one();
    }

    pub(crate) fn clear_pairing(&self) {
        *lock(&self.qr) = None;
        self.set_pair_code(None);
    }

    pub(crate) fn mark_logged_out(&self) {
        self.logged_out.store(true, Ordering::SeqCst);
    }

    /// Queues a delivery report from a client event (see [`delivery_reports`]).
    pub(crate) fn report_delivery(&self, message_id: &str, status: DeliveryStatus) {
        self.shared.deliveries.queue(message_id, status);
    }

    pub(crate) async fn send_with_id(
        &self,
        client: &Client,
        to: &str,
        text: &str,
        id: String,
    ) -> Result<SentMessage> {
        self.shared.messages.begin(&id, self.id.as_str(), to);
        // WhatsApp lists the sender's own phone among the devices of every
        // message (the copy to its own devices), so a send to a number
        // without WhatsApp does not fail by itself: ask first (cached). A
        // failed lookup does not block the send.
        let registered = match self.shared.on_whatsapp.get(to) {
            Some(known) => Some(known),
            None => is_registered(client, to).await.ok().inspect(|r| {
                self.shared.on_whatsapp.put(to, *r);
            }),
        };
        if registered == Some(false) {
            let error = Error::NotOnWhatsapp(to.to_owned());
            let failed = DeliveryStatus::Failed {
                reason: error.to_string(),
            };
            delivery_reports::apply(&self.shared, &id, failed).await;
            return Err(error);
        }
        let message = wa::Message::text(text);
        let options = SendOptions::default().with_message_id(id.clone());
        match client
            .send_message_with_options(Jid::pn(to), message, options)
            .await
        {
            Ok(_) => Ok(SentMessage {
                id,
                to: to.to_owned(),
                newly_sent: true,
            }),
            Err(e) => {
                let error = self.send_error(client, to, e).await;
                let failed = DeliveryStatus::Failed {
                    reason: error.to_string(),
                };
                delivery_reports::apply(&self.shared, &id, failed).await;
                Err(error)
            }
        }
    }

    /// Turns a whatsapp-rust send failure into the error a caller can act on.
    async fn send_error(&self, client: &Client, to: &str, error: SendError) -> Error {
        match error {
            SendError::NotLoggedIn => Error::NotConnected {
                session: self.id.to_string(),
                state: "not logged in".into(),
            },
            other => {
                // A send to a number without WhatsApp fails as "no device to
                // encrypt for"; ask the server once to tell that apart from
                // other failures.
                let text = other.to_string();
                if (text.contains("encryption failed") || text.contains("no devices"))
                    && let Ok(false) = is_registered(client, to).await
                {
                    return Error::NotOnWhatsapp(to.to_owned());
                }
                if !client.is_connected() {
                    return Error::NotConnected {
                        session: self.id.to_string(),
                        state: "disconnected".into(),
                    };
                }
                Error::SendFailed(text)
            }
        }
    }

    /// Starts a fresh client (stopping any running one).
    pub(crate) async fn start(self: &Arc<Self>) -> Result<()> {
        let mut slot = self.lifecycle.lock().await;
        self.stop_locked(&mut slot).await;
        self.start_locked(&mut slot).await
    }

    async fn start_locked(self: &Arc<Self>, slot: &mut Option<link::Running>) -> Result<()> {
        let generation = {
            // Under the event lock, so that no event of an older client is
            // applied after this reset (see `SessionEvents::handle_event`).
            let _order = lock(&self.event_order);
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            self.logged_out.store(false, Ordering::SeqCst);
            self.clear_pairing();
            self.update_status(|s| {
                s.qr_refresh_count = 0;
                s.enter(SessionState::Starting, None);
            });
            generation
        };
        storage::create_private_file(&self.store_path)?;
        let running = match link::spawn(self, generation).await {
            Ok(running) => running,
            Err(e) => {
                self.update_status(|s| s.enter(SessionState::Stopped, Some(e.to_string())));
                return Err(e);
            }
        };
        *lock(&self.client) = Some(running.client.clone());
        *slot = Some(running);
        Ok(())
    }

    /// Stops the running client, gracefully if it lets us within the grace time.
    async fn stop_locked(&self, slot: &mut Option<link::Running>) {
        let Some(running) = slot.take() else { return };
        // Later events from this client no longer speak for the session.
        {
            let _order = lock(&self.event_order);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        *lock(&self.client) = None;
        let link::Running {
            client,
            mut watcher,
        } = running;
        let graceful = async {
            client.disconnect().await;
            let _ = (&mut watcher).await;
        };
        if tokio::time::timeout(link::STOP_GRACE, graceful)
            .await
            .is_err()
        {
            log::warn!(
                "session {}: client did not stop within {:?}; aborting it",
                self.id,
                link::STOP_GRACE
            );
            watcher.abort();
        }
    }

    /// Stops the running client, if any.
    pub(crate) async fn stop_client(&self) {
        let mut slot = self.lifecycle.lock().await;
        self.stop_locked(&mut slot).await;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn is_deleted(&self) -> bool {
        !self.store_path.exists()
    }

    /// Stops the client for good (gateway close, delete) and gives the
    /// session up, so another process can take it over.
    pub(crate) async fn shutdown(&self, reason: &str) {
        self.mark_closed();
        if let Some(task) = lock(&self.ownership).take() {
            task.abort();
        }
        let was_owner = self.is_owner();
        ownership::stop_owner_tasks(self, ownership::FINISH_ON_CLOSE).await;
        // A send returns once its stanza is handed to the client, not once
        // the server has it: stopping the client at once could drop a stanza
        // still on its way out, and a caller told "sent" would wait forever.
        let unacked = if self.status.borrow().state == SessionState::Connected {
            self.shared
                .messages
                .wait_acked(self.id.as_str(), ACKS_ON_CLOSE)
                .await
        } else {
            0
        };
        if unacked > 0 {
            log::warn!(
                "session {}: stopping with {unacked} message(s) the server has not acknowledged",
                self.id
            );
        }
        self.stop_client().await;
        self.update_status(|s| {
            if !s.state.is_terminal() {
                s.enter(SessionState::Stopped, Some(reason.to_owned()));
            }
        });
        if was_owner && !self.is_deleted() {
            // What the other processes see until the next owner speaks: any
            // of them still running takes the lease over and reconnects, so
            // to them the session is on its way back, not stopped.
            let mut handing_over = self.status.borrow().clone();
            let next = if handing_over.user.is_some() {
                SessionState::Reconnecting
            } else {
                SessionState::Starting
            };
            handing_over.enter(
                next,
                Some(format!(
                    "the process that ran it stopped ({reason}); another takes over"
                )),
            );
            let status = SharedStatus::new(&handing_over, None, None);
            if let Err(e) = self.shared.coordination.publish(&status).await {
                log::warn!("session {}: publishing its status failed: {e}", self.id);
            }
        }
        *lock(&self.role) = Role::Follower;
    }

    /// Asks for a pairing code on this process's client (the owner's side of
    /// [`Session::pair_code`]).
    pub(crate) async fn pair_code_here(self: &Arc<Self>, digits: &str) -> Result<String> {
        let state = self.status.borrow().state;
        match state {
            SessionState::Connected => return Err(Error::AlreadyConnected(self.id.to_string())),
            SessionState::Starting | SessionState::AwaitingScan => {}
            SessionState::LoggedOut | SessionState::QrExpired => self.start().await?,
            other => {
                return Err(Error::NotConnected {
                    session: self.id.to_string(),
                    state: other.to_string(),
                });
            }
        }
        let client = self
            .client()
            .ok_or_else(|| Error::QrNotAvailable(self.id.to_string()))?;
        client
            .wait_for_socket(Duration::from_secs(30))
            .await
            .map_err(|e| Error::WhatsApp(format!("waiting for the socket: {e}")))?;
        let options = PairCodeOptions {
            phone_number: digits.to_owned(),
            ..Default::default()
        };
        let code = client
            .pair_with_code(options)
            .await
            .map_err(|e| Error::WhatsApp(format!("pairing code request failed: {e}")))?;
        self.set_pair_code(Some(code.clone()));
        Ok(code)
    }

    /// Whether `digits` has a WhatsApp account, asked on this process's client.
    pub(crate) async fn registered_here(&self, digits: &str) -> Result<bool> {
        let client = self.connected_client()?;
        is_registered(&client, digits).await
    }

    /// Logs out, stops and removes the session (the owner's side of
    /// `Gateway::delete_session`).
    pub(crate) async fn delete_here(&self) -> Result<()> {
        self.logout_here().await?;
        self.shutdown("deleted").await;
        storage::remove_store(&self.store_path)?;
        self.shared.coordination.forget(&self.id).await?;
        self.shared.messages.forget_session(self.id.as_str());
        self.shared.otp.stats().forget_session(self.id.as_str());
        self.shared.emit(Event::SessionDeleted {
            session: self.id.to_string(),
        });
        Ok(())
    }

    pub(crate) async fn logout_here(&self) -> Result<()> {
        let mut slot = self.lifecycle.lock().await;
        if let Some(client) = self.client()
            && client.is_logged_in()
        {
            // Deregisters the companion on the server, emits LoggedOut and
            // ends the run loop; the watcher then wipes the store.
            client.logout().await;
        }
        self.mark_logged_out();
        self.stop_locked(&mut slot).await;
        storage::wipe_store(&self.store_path)?;
        self.clear_pairing();
        self.update_status(|s| {
            s.user = None;
            s.enter(
                SessionState::LoggedOut,
                Some("logged out by request".into()),
            )
        });
        Ok(())
    }

    /// Called by the watcher when a client's run loop has ended.
    pub(crate) async fn on_run_loop_end(&self, generation: u64) {
        if self.generation() != generation {
            return;
        }
        if self.logged_out.load(Ordering::SeqCst) {
            if let Err(e) = storage::wipe_store(&self.store_path) {
                log::error!(
                    "session {}: could not remove dead credentials: {e}",
                    self.id
                );
            }
            self.update_status(|s| s.user = None);
        }
        self.update_status(|s| {
            if !s.state.is_terminal() {
                s.enter(
                    SessionState::Stopped,
                    Some("the WhatsApp client stopped".into()),
                );
            }
        });
    }
}
