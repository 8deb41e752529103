//! Configuring and opening a gateway: the settings, the Redis wiring, and
//! the [`SessionContext`] every session gets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::coordination::local::LocalCoordination;
use crate::coordination::{OutboxKey, SharedCoordination};
use crate::delivery::on_whatsapp::OnWhatsappCache;
use crate::delivery::phones::PhoneCache;
use crate::delivery::{Deliveries, MemoryBounds};
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::inbound::InboundEngine;
use crate::inbound::store::{
    InboundStore, MemoryInboundStore, RedisInboundStore, SqliteInboundStore,
};
use crate::otp::{Clock, ManualClock, MemoryStore, OtpConfig, OtpEngine, OtpSecret, OtpStore};
use crate::platform::store_key::StoreKey;
use crate::platform::{files, layout};
use crate::session::context::{ConnectConfig, SessionContext};

use super::send_retry::SendRetry;
use super::{Gateway, GatewayInner, endpoint, redis_wiring, registry};

/// The WhatsApp Web version sandbox builds announce: the simulator cannot
/// serve the version lookup a normal build makes.
const SANDBOX_DEFAULT_VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);

/// Configures and opens a [`Gateway`].
#[derive(Debug)]
pub struct GatewayBuilder {
    data_dir: PathBuf,
    default_country_code: u16,
    whatsapp_version: Option<(u32, u32, u32)>,
    endpoint: Option<String>,
    otp_config: OtpConfig,
    otp_store: Option<Arc<dyn OtpStore>>,
    inbound_store: Option<Arc<dyn InboundStore>>,
    memory_stores: bool,
    otp_secret: Option<OtpSecret>,
    clock: Option<Arc<dyn Clock>>,
    manual_clock: Option<ManualClock>,
    on_whatsapp_cache_ttl: Duration,
    check_on_whatsapp: bool,
    send_retry: SendRetry,
    redis_url: Option<String>,
    redis_key_prefix: String,
    redis_lease_ttl: Option<Duration>,
    otp_secret_in_redis: bool,
    memory_bounds: MemoryBounds,
    session_store_key: Option<StoreKey>,
    new_chats_per_day: Option<u32>,
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
            inbound_store: None,
            memory_stores: false,
            otp_secret: None,
            clock: None,
            manual_clock: None,
            on_whatsapp_cache_ttl: Duration::from_secs(3600),
            check_on_whatsapp: true,
            send_retry: SendRetry::default(),
            redis_url: None,
            redis_key_prefix: redis_wiring::DEFAULT_KEY_PREFIX.to_owned(),
            redis_lease_ttl: None,
            otp_secret_in_redis: false,
            memory_bounds: MemoryBounds::default(),
            session_store_key: None,
            new_chats_per_day: None,
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

    /// Where inbound verifications live. Default: Redis with
    /// [`redis_url`](Self::redis_url), else SQLite in
    /// `data_dir/inbound.db`.
    pub fn inbound_store(mut self, store: Arc<dyn InboundStore>) -> Self {
        self.inbound_store = Some(store);
        self
    }

    /// Keeps OTP codes and inbound verifications in this process's memory
    /// (one process; pending ones are lost when it exits), unless a store
    /// of either is given explicitly.
    pub fn memory_stores(mut self, on: bool) -> Self {
        self.memory_stores = on;
        self
    }

    /// The deployment's secret: the HMAC key of stored codes, and what the
    /// key that seals the outbox's payloads (message texts) is derived
    /// from. Default: generated once into `data_dir/otp.secret` (mode
    /// 0600). Every process that shares a store must use the same one; with
    /// [`redis_url`](Self::redis_url) it is required (kept apart from Redis,
    /// see the README's "Secrets" section).
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

    /// How much the gateway keeps in memory about messages and numbers
    /// (see [`MemoryBounds`] for each bound and its default). A bound of 0
    /// is refused by [`open`](Self::open) (`INVALID_ARGUMENT`).
    pub fn memory_bounds(mut self, bounds: MemoryBounds) -> Self {
        self.memory_bounds = bounds;
        self
    }

    /// Encrypts every session store at rest with `key` (SQLCipher, AES-256):
    /// the stores hold the linked accounts' Signal identities and Noise
    /// keys, which let whoever copies a file act as the linked device.
    /// Needs waotp's `sqlcipher` feature (refused by [`open`](Self::open)
    /// otherwise, `INVALID_ARGUMENT`). Every process on the data dir must
    /// use the same key; a store made without a key, or with another,
    /// does not open (`STORE_ERROR`). waotp never stores the key.
    pub fn session_store_key(mut self, key: StoreKey) -> Self {
        self.session_store_key = Some(key);
        self
    }

    /// A budget of new chats per session per UTC day (off by default),
    /// enforced across processes and hosts through the shared store: a code
    /// to a recipient the session's number has no chat with, past the
    /// day's budget, is `ACCOUNT_LIMITED` (reason `daily_budget`, retry at
    /// the next UTC midnight); recipients it has a chat with always pass.
    ///
    /// Why set it: WhatsApp limits new chats per account (a quota, a
    /// timelock after a burst) and escalates repeated limits to bans. A
    /// budget below what WhatsApp allows keeps a number well clear of that
    /// line; with a [sender pool](crate::SenderPool) the codes past one
    /// number's budget go through the next. 0 allows known contacts only.
    pub fn new_chats_per_day(mut self, per_day: u32) -> Self {
        self.new_chats_per_day = Some(per_day);
        self
    }

    /// Development only: with [`redis_url`](Self::redis_url) and no
    /// [`otp_secret`](Self::otp_secret), generate the secret into Redis
    /// (`{prefix}otp-secret`) instead of refusing to open. Whoever can read
    /// that Redis can then read every pending code; never in production.
    pub fn otp_secret_in_redis(mut self, allow: bool) -> Self {
        self.otp_secret_in_redis = allow;
        self
    }

    /// Opens the gateway and restores every stored session: linked ones
    /// reconnect without a QR code.
    pub async fn open(self) -> Result<Gateway> {
        self.open_with_events().await.map(|(gateway, _)| gateway)
    }

    /// [`open`](Self::open), with an event stream subscribed before any
    /// stored session starts: a subscriber that must see every event (a
    /// webhook queue, an audit log) also gets the restored sessions'
    /// `session_connected`, which [`Gateway::events`] after `open` could
    /// miss.
    pub async fn open_with_events(self) -> Result<(Gateway, crate::EventStream)> {
        if self.manual_clock.is_some() && !cfg!(feature = "sandbox") {
            return Err(Error::SandboxOnly("a manual clock".into()));
        }
        let endpoint = endpoint::resolve(self.endpoint.as_deref())?;
        self.memory_bounds.validate()?;
        crate::platform::fork_safety::install();
        if self.session_store_key.is_some() {
            StoreKey::check_supported()?;
        }
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
        if self.redis_url.is_some() && self.otp_secret.is_none() && !self.otp_secret_in_redis {
            return Err(Error::InvalidArgument(
                "with redis_url, the application must supply otp_secret (at least 16 \
                 bytes, the same on every host, kept apart from Redis); \
                 otp_secret_in_redis allows a generated one for development only"
                    .into(),
            ));
        }
        files::create_private_dir(&layout::sessions_dir(&self.data_dir))?;
        let redis = match &self.redis_url {
            Some(url) => Some(
                redis_wiring::connect(url, &self.redis_key_prefix, self.redis_lease_ttl).await?,
            ),
            None => None,
        };
        let mut otp_store = self.otp_store;
        if self.memory_stores && otp_store.is_none() {
            otp_store = Some(Arc::new(MemoryStore::new()));
        }
        if let Some(redis) = &redis
            && otp_store.is_none()
        {
            otp_store = Some(redis.store.clone());
        }
        let inbound_store: Arc<dyn InboundStore> = match (self.inbound_store, &redis) {
            (Some(store), _) => store,
            (None, _) if self.memory_stores => Arc::new(MemoryInboundStore::new()),
            (None, Some(redis)) => Arc::new(RedisInboundStore::with_connection(
                redis.connection.clone(),
                &self.redis_key_prefix,
            )),
            (None, None) => Arc::new(SqliteInboundStore::open_in(&self.data_dir)?),
        };
        let otp_secret = match (self.otp_secret, &redis) {
            (Some(secret), _) => secret,
            // Only with otp_secret_in_redis: refused above otherwise.
            (None, Some(redis)) => {
                log::warn!(
                    "the OTP secret is kept in Redis beside the codes' MACs \
                     (otp_secret_in_redis): for development only"
                );
                let mut connection = redis.connection.clone();
                redis_wiring::shared_secret(&mut connection, &self.redis_key_prefix).await?
            }
            (None, None) => OtpSecret::load_or_create(&layout::otp_secret(&self.data_dir))?,
        };
        let outbox_key = OutboxKey::derive(otp_secret.as_bytes());
        let mut otp = OtpEngine::builder()
            .config(self.otp_config)
            .data_dir(&self.data_dir)
            .secret(otp_secret);
        if let Some(store) = otp_store {
            otp = otp.store(store);
        }
        if let Some(clock) = self.clock {
            otp = otp.clock(clock);
        }
        let otp = otp.build()?;
        let inbound = InboundEngine::new(inbound_store, &otp);
        let coordination: SharedCoordination = match redis {
            Some(redis) => redis.coordination(outbox_key)?,
            None => Arc::new(LocalCoordination::open(&self.data_dir, outbox_key)?),
        };
        let events = Arc::new(EventBus::new());
        let deliveries = Deliveries::start(
            otp.clone(),
            coordination.clone(),
            events.clone(),
            &self.memory_bounds,
        );
        let context = Arc::new(SessionContext {
            config: ConnectConfig {
                data_dir: self.data_dir,
                whatsapp_version,
                endpoint,
                store_key: self.session_store_key,
                new_chats_per_day: self.new_chats_per_day,
            },
            deliveries,
            coordination,
            otp,
            inbound,
            on_whatsapp: OnWhatsappCache::new(
                self.on_whatsapp_cache_ttl,
                self.memory_bounds.on_whatsapp_entries,
            ),
            phones: PhoneCache::new(self.default_country_code),
            events,
        });
        let gateway = Gateway {
            inner: Arc::new(GatewayInner {
                context,
                send_retry: self.send_retry,
                check_on_whatsapp: self.check_on_whatsapp,
                sessions: RwLock::new(BTreeMap::new()),
                creating: Default::default(),
                closed: AtomicBool::new(false),
                manual_clock: self.manual_clock,
                pool_last_used: crate::pool::LastUsed::default(),
            }),
        };
        let events = gateway.events();
        registry::spawn_otp_cleanup(Arc::downgrade(&gateway.inner));
        gateway.inner.discover().await?;
        registry::spawn_discovery(Arc::downgrade(&gateway.inner));
        Ok((gateway, events))
    }
}
