//! The gateway: the one object an application keeps. It owns the linked
//! sessions, routes delivery reports and publishes events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::coordination::SharedCoordination;
use crate::coordination::local::LocalCoordination;
use crate::delivery_reports::{self, DeliveryReports};
use crate::endpoint;
use crate::error::{Error, Result};
use crate::events::{self, Event, EventStream};
use crate::messages::{MessageRecord, MessageTracker};
use crate::on_whatsapp_cache::OnWhatsappCache;
use crate::otp::{Clock, ManualClock, OtpConfig, OtpEngine, OtpSecret, OtpStore};
use crate::phone_cache::PhoneCache;
use crate::redis_wiring;
use crate::retry::SendRetry;
use crate::session::{Session, SessionId, SessionStatus};
use crate::storage;

/// The WhatsApp Web version sandbox builds announce: the simulator cannot
/// serve the version lookup a normal build makes.
const SANDBOX_DEFAULT_VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);

/// Settings fixed when the gateway is opened.
#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) whatsapp_version: Option<(u32, u32, u32)>,
    /// Already checked against what this build allows.
    pub(crate) endpoint: Option<String>,
}

/// What every session of a gateway shares.
pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) messages: MessageTracker,
    /// Delivery reports, applied in order (see [`delivery_reports`]).
    pub(crate) deliveries: DeliveryReports,
    /// Leases, the outbox and published statuses, shared with every other
    /// process on the data dir (or the Redis deployment).
    pub(crate) coordination: SharedCoordination,
    pub(crate) otp: OtpEngine,
    pub(crate) on_whatsapp: OnWhatsappCache,
    /// Normalises phone numbers with the default country (memoised).
    pub(crate) phones: PhoneCache,
    pub(crate) send_retry: SendRetry,
    pub(crate) check_on_whatsapp: bool,
    events: broadcast::Sender<Event>,
    /// Becomes true when the gateway closes: event streams end then.
    closed: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is not an error: events are offered, not queued.
        let _ = self.events.send(event);
    }
}

/// Configures and opens a [`Gateway`].
#[derive(Debug)]
pub struct GatewayBuilder {
    data_dir: PathBuf,
    default_country_code: u16,
    whatsapp_version: Option<(u32, u32, u32)>,
    endpoint: Option<String>,
    otp_config: OtpConfig,
    otp_store: Option<Arc<dyn OtpStore>>,
    otp_secret: Option<OtpSecret>,
    clock: Option<Arc<dyn Clock>>,
    manual_clock: Option<ManualClock>,
    on_whatsapp_cache_ttl: Duration,
    check_on_whatsapp: bool,
    send_retry: SendRetry,
    redis_url: Option<String>,
    redis_key_prefix: String,
    redis_lease_ttl: Option<Duration>,
}

impl Default for GatewayBuilder {
    fn default() -> Self {
        GatewayBuilder {
            data_dir: PathBuf::from("waotp-data"),
            default_country_code: 62,
            whatsapp_version: None,
            endpoint: None,
            otp_config: OtpConfig::default(),
            otp_store: None,
            otp_secret: None,
            clock: None,
            manual_clock: None,
            on_whatsapp_cache_ttl: Duration::from_secs(3600),
            check_on_whatsapp: true,
            send_retry: SendRetry::default(),
            redis_url: None,
            redis_key_prefix: redis_wiring::DEFAULT_KEY_PREFIX.to_owned(),
            redis_lease_ttl: None,
        }
    }
}

impl GatewayBuilder {
    /// Where session credentials (and later the OTP store) live.
    /// Default: `./waotp-data`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = dir.into();
        self
    }

    /// The country of phone numbers written in local form (`08…`). Default `62`.
    pub fn default_country_code(mut self, code: u16) -> Self {
        self.default_country_code = code;
        self
    }

    /// The WhatsApp Web version to announce, instead of looking up the
    /// current one at connect time.
    pub fn whatsapp_version(mut self, version: (u32, u32, u32)) -> Self {
        self.whatsapp_version = Some(version);
        self
    }

    /// The WebSocket endpoint to connect to. Only sandbox builds (cargo feature
    /// `sandbox`) accept one, and only on a loopback address: `open` refuses
    /// anything else with `ENDPOINT_NOT_ALLOWED`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// OTP defaults: length, validity, attempts, locale, limits.
    pub fn otp_config(mut self, config: OtpConfig) -> Self {
        self.otp_config = config;
        self
    }

    /// Where OTP state lives. Default: SQLite in `data_dir/otp.db`, so
    /// pending codes survive a restart. [`crate::otp::MemoryStore`] keeps
    /// them in the process only.
    pub fn otp_store(mut self, store: Arc<dyn OtpStore>) -> Self {
        self.otp_store = Some(store);
        self
    }

    /// The HMAC secret for stored codes. Default: generated once into
    /// `data_dir/otp.secret` (mode 0600). Supply one to share OTP state
    /// between several processes.
    pub fn otp_secret(mut self, secret: OtpSecret) -> Self {
        self.otp_secret = Some(secret);
        self
    }

    /// The clock OTP expiry and limits read (tests use [`crate::otp::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sandbox builds: OTP expiry and limits read a clock that starts at the
    /// current time and moves only by [`Gateway::advance_clock`], so a test
    /// sees a code expire without waiting. A normal build refuses it at
    /// [`open`](Self::open) with `SANDBOX_ONLY`.
    pub fn manual_clock(mut self) -> Self {
        let clock = ManualClock::starting_now();
        self.clock = Some(Arc::new(clock.clone()));
        self.manual_clock = Some(clock);
        self
    }

    /// How long an `is_on_whatsapp` answer is reused by `send_otp`. Default
    /// one hour; zero turns the cache off.
    pub fn on_whatsapp_cache_ttl(mut self, ttl: Duration) -> Self {
        self.on_whatsapp_cache_ttl = ttl;
        self
    }

    /// Whether `send_otp` first checks that the recipient is on WhatsApp
    /// (default true): a code for a number without WhatsApp is never issued.
    pub fn check_on_whatsapp(mut self, check: bool) -> Self {
        self.check_on_whatsapp = check;
        self
    }

    /// How `send_otp` retries transient failures.
    pub fn send_retry(mut self, retry: SendRetry) -> Self {
        self.send_retry = retry;
        self
    }

    /// Shares state with every other host of the deployment through this
    /// Redis (`redis://host:port/db`): the OTP store, limits and pacing, the
    /// session leases and the outbox. Without it, processes on one host share
    /// state through the data dir. Session credentials stay in the data dir
    /// either way (see the README's deployment section).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Prefix of every Redis key (default `waotp:`), so several deployments
    /// can share one Redis.
    pub fn redis_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_key_prefix = prefix.into();
        self
    }

    /// How long a session's lease lives in Redis without renewal (default
    /// 10 s, at least 300 ms): a host that dies is replaced within it. The
    /// owner renews every third of it and stops its connection when it could
    /// not, before another host can take over.
    pub fn redis_lease_ttl(mut self, ttl: Duration) -> Self {
        self.redis_lease_ttl = Some(ttl);
        self
    }

    /// Opens the gateway and restores every stored session: linked ones
    /// reconnect without a QR code.
    pub async fn open(self) -> Result<Gateway> {
        if self.manual_clock.is_some() && !cfg!(feature = "sandbox") {
            return Err(Error::SandboxOnly("a manual clock".into()));
        }
        let endpoint = endpoint::resolve(self.endpoint.as_deref())?;
        // Reject a country code libphonenumber does not know before any send does.
        if phonenumber::metadata::DATABASE
            .region(&self.default_country_code)
            .is_none()
        {
            return Err(Error::InvalidArgument(format!(
                "unknown default country code {}",
                self.default_country_code
            )));
        }
        let whatsapp_version = self.whatsapp_version.or(if cfg!(feature = "sandbox") {
            Some(SANDBOX_DEFAULT_VERSION)
        } else {
            None
        });
        storage::create_private_dir(&storage::sessions_dir(&self.data_dir))?;
        let redis = match &self.redis_url {
            Some(url) => Some(
                redis_wiring::connect(url, &self.redis_key_prefix, self.redis_lease_ttl).await?,
            ),
            None => None,
        };
        let mut otp_store = self.otp_store;
        let mut otp_secret = self.otp_secret;
        if let Some(redis) = &redis {
            if otp_store.is_none() {
                otp_store = Some(redis.store.clone());
            }
            if otp_secret.is_none() {
                let mut connection = redis.connection.clone();
                otp_secret = Some(
                    redis_wiring::shared_secret(&mut connection, &self.redis_key_prefix).await?,
                );
            }
        }
        let mut otp = OtpEngine::builder()
            .config(self.otp_config)
            .data_dir(&self.data_dir);
        if let Some(store) = otp_store {
            otp = otp.store(store);
        }
        if let Some(secret) = otp_secret {
            otp = otp.secret(secret);
        }
        if let Some(clock) = self.clock {
            otp = otp.clock(clock);
        }
        let otp = otp.build()?;
        let coordination: SharedCoordination = match redis {
            Some(redis) => redis.coordination,
            None => Arc::new(LocalCoordination::open(&self.data_dir)?),
        };
        let (deliveries, reports) = DeliveryReports::new();
        let (events, _) = broadcast::channel(events::CAPACITY);
        let shared = Arc::new(Shared {
            config: GatewayConfig {
                data_dir: self.data_dir,
                whatsapp_version,
                endpoint,
            },
            messages: MessageTracker::default(),
            deliveries,
            coordination,
            otp,
            on_whatsapp: OnWhatsappCache::new(self.on_whatsapp_cache_ttl),
            phones: PhoneCache::new(self.default_country_code),
            send_retry: self.send_retry,
            check_on_whatsapp: self.check_on_whatsapp,
            events,
            closed: tokio::sync::watch::Sender::new(false),
        });
        let gateway = Gateway {
            inner: Arc::new(GatewayInner {
                shared,
                sessions: RwLock::new(BTreeMap::new()),
                creating: tokio::sync::Mutex::new(()),
                closed: AtomicBool::new(false),
                manual_clock: self.manual_clock,
            }),
        };
        delivery_reports::spawn_worker(Arc::downgrade(&gateway.inner.shared), reports);
        spawn_otp_cleanup(Arc::downgrade(&gateway.inner));
        gateway.inner.discover().await?;
        spawn_discovery(Arc::downgrade(&gateway.inner));
        Ok(gateway)
    }
}

/// How often a wait on a message another process sent reads its status.
const SHARED_STATUS_POLL: Duration = Duration::from_millis(50);

/// How often expired OTP records are swept, besides the sweep `issue` does.
const OTP_CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Sweeps expired OTP records while the gateway lives, so a quiet gateway
/// does not keep stale rows.
fn spawn_otp_cleanup(gateway: std::sync::Weak<GatewayInner>) {
    spawn_while_open(gateway, OTP_CLEANUP_EVERY, |inner| async move {
        if let Err(e) = inner.shared.otp.cleanup_expired().await {
            log::warn!("OTP cleanup failed: {e}");
        }
    });
}

/// How often a gateway looks for sessions other processes created or deleted.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);

/// Keeps the session list in step with the other processes while the gateway lives.
fn spawn_discovery(gateway: std::sync::Weak<GatewayInner>) {
    spawn_while_open(gateway, DISCOVER_EVERY, |inner| async move {
        if let Err(e) = inner.discover().await {
            log::warn!("looking for sessions of other processes failed: {e}");
        }
    });
}

/// Runs `job` every `every` (first after one period) until the gateway is
/// closed or dropped. Holds only a weak reference between runs, so the task
/// never keeps a gateway alive.
fn spawn_while_open<F, Fut>(gateway: std::sync::Weak<GatewayInner>, every: Duration, job: F)
where
    F: Fn(Arc<GatewayInner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = gateway.upgrade() else {
                return;
            };
            if inner.closed.load(Ordering::SeqCst) {
                return;
            }
            job(inner).await;
        }
    });
}

/// The delivery record of a message: from this process's connections, else
/// from the shared outbox (a message another process's connection sent).
pub(crate) async fn message_status(shared: &Shared, message_id: &str) -> Result<MessageRecord> {
    match shared.messages.get(message_id) {
        Ok(record) => Ok(record),
        Err(not_here) => match shared.coordination.message(message_id).await? {
            Some(record) => Ok(record),
            None => Err(not_here),
        },
    }
}

/// The facade over everything waotp does. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<GatewayInner>,
}

pub(crate) struct GatewayInner {
    pub(crate) shared: Arc<Shared>,
    sessions: RwLock<BTreeMap<SessionId, Session>>,
    /// Serialises create and delete, so two creates of one id make one session.
    creating: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// The clock [`GatewayBuilder::manual_clock`] made, for `advance_clock`.
    manual_clock: Option<ManualClock>,
}

impl GatewayInner {
    fn read_sessions(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<SessionId, Session>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_sessions(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<SessionId, Session>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the sessions stored in the data dir or published by other
    /// processes that this gateway does not know yet, and drops deleted ones.
    async fn discover(&self) -> Result<()> {
        let shared = &self.shared;
        let mut found = storage::stored_session_ids(&shared.config.data_dir)?;
        let local = found.len();
        for id in shared.coordination.sessions().await? {
            if !found.contains(&id) {
                found.push(id);
            }
        }
        let _guard = self.creating.lock().await;
        self.write_sessions().retain(|_, s| !s.inner.is_closed());
        for (i, id) in found.into_iter().enumerate() {
            if self.read_sessions().contains_key(&id) || self.closed.load(Ordering::SeqCst) {
                continue;
            }
            let session = if i < local {
                match Session::restore(id.clone(), shared.clone()).await {
                    Some(session) => session,
                    None => continue,
                }
            } else {
                Session::remote(id.clone(), shared.clone()).await?
            };
            self.write_sessions().insert(id, session);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("data_dir", &self.inner.shared.config.data_dir)
            .field("sessions", &self.inner.read_sessions().len())
            .finish()
    }
}

impl Gateway {
    /// Starts configuring a gateway.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// `CLOSED` once [`Gateway::close`] ran: every operation refuses then.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Creates a session and starts pairing it, or returns the existing
    /// session with that id. Without an id, one is generated
    /// (`session_<uuid>`).
    pub async fn create_session(&self, id: Option<&str>) -> Result<Session> {
        self.check_open()?;
        let id = match id {
            Some(raw) => SessionId::parse(raw)?,
            None => SessionId::generate(),
        };
        let _guard = self.inner.creating.lock().await;
        if let Some(existing) = self.inner.read_sessions().get(&id) {
            return Ok(existing.clone());
        }
        let session = Session::open(id.clone(), self.inner.shared.clone()).await?;
        self.inner.write_sessions().insert(id, session.clone());
        Ok(session)
    }

    /// The session with this id. Sessions created by other processes appear
    /// within about a second.
    pub fn session(&self, id: &str) -> Result<Session> {
        self.check_open()?;
        let id = SessionId::parse(id)?;
        self.inner
            .read_sessions()
            .get(&id)
            .filter(|s| !s.inner.is_closed())
            .cloned()
            .ok_or_else(|| Error::SessionNotFound(id.to_string()))
    }

    /// Every session with its status, sorted by id, whichever process runs it.
    pub fn list_sessions(&self) -> Vec<SessionStatus> {
        self.inner
            .read_sessions()
            .values()
            .filter(|s| !s.inner.is_closed())
            .map(Session::status)
            .collect()
    }

    /// Logs the session out and removes its credentials from disk (done by
    /// the process that runs the session).
    pub async fn delete_session(&self, id: &str) -> Result<()> {
        let session = self.session(id)?;
        let _guard = self.inner.creating.lock().await;
        session.delete().await?;
        session.inner.mark_closed();
        self.inner.write_sessions().remove(&session.inner.id);
        Ok(())
    }

    /// The delivery record of a message sent through any session, by any process.
    pub async fn message_status(&self, message_id: &str) -> Result<MessageRecord> {
        self.check_open()?;
        message_status(&self.inner.shared, message_id).await
    }

    /// Waits until a message's status satisfies `done` (e.g. delivered), or
    /// the timeout. A message another process's connection sent is followed
    /// through the shared outbox.
    pub async fn wait_message_status(
        &self,
        message_id: &str,
        timeout: Duration,
        mut done: impl FnMut(&crate::DeliveryStatus) -> bool,
    ) -> Result<MessageRecord> {
        let shared = &self.inner.shared;
        if shared.messages.get(message_id).is_ok() {
            return shared.messages.wait_for(message_id, timeout, done).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let record = message_status(shared, message_id).await?;
            if done(&record.status) {
                return Ok(record);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "message {message_id} to move past `{}`",
                    record.status.as_str()
                )));
            }
            tokio::time::sleep(SHARED_STATUS_POLL).await;
        }
    }

    /// Moves the manual clock on by `by` (a gateway opened with
    /// [`GatewayBuilder::manual_clock`]); `SANDBOX_ONLY` in a normal
    /// build, `INVALID_ARGUMENT` for a gateway opened without one.
    pub fn advance_clock(&self, by: Duration) -> Result<()> {
        if !cfg!(feature = "sandbox") {
            return Err(Error::SandboxOnly("the test clock".into()));
        }
        match &self.inner.manual_clock {
            Some(clock) => {
                clock.advance(by);
                Ok(())
            }
            None => Err(Error::InvalidArgument(
                "the gateway was opened without a manual clock".into(),
            )),
        }
    }

    /// Subscribes to the gateway's events from now on.
    pub fn events(&self) -> EventStream {
        let shared = &self.inner.shared;
        EventStream::new(shared.events.subscribe(), shared.closed.subscribe())
    }

    /// Normalises a phone number with this gateway's default country
    /// (`08123456789` → `628123456789`).
    pub fn normalize_phone(&self, input: &str) -> Result<String> {
        self.inner.shared.phones.normalize(input)
    }

    /// Stops every session gracefully; stored credentials stay for the next
    /// open. Later calls fail with `CLOSED`.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let sessions: Vec<Session> = self.inner.read_sessions().values().cloned().collect();
        let stops = sessions.iter().map(|s| s.inner.shutdown("gateway closed"));
        whatsapp_rust::futures::future::join_all(stops).await;
        // After the sessions' last events, so that streams deliver those first.
        self.inner.shared.closed.send_replace(true);
    }
}
