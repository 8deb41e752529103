//! What a session needs from the gateway that owns it. The gateway builds
//! one [`SessionContext`] and hands it to every session; nothing here knows
//! the gateway.

use std::path::PathBuf;
use std::sync::Arc;

use crate::coordination::SharedCoordination;
use crate::delivery::Deliveries;
use crate::delivery::on_whatsapp::OnWhatsappCache;
use crate::delivery::phones::PhoneCache;
use crate::events::{Event, EventBus};
use crate::inbound::InboundEngine;
use crate::otp::OtpEngine;
use crate::platform::store_key::StoreKey;

/// How sessions connect, fixed when the gateway is opened.
#[derive(Debug, Clone)]
pub(crate) struct ConnectConfig {
    /// Where the session stores live (see [`crate::platform::layout`]).
    pub(crate) data_dir: PathBuf,
    /// The WhatsApp Web version to announce; `None` looks it up.
    pub(crate) whatsapp_version: Option<(u32, u32, u32)>,
    /// Already checked against what this build allows.
    pub(crate) endpoint: Option<String>,
    /// The key of every session store (SQLCipher); `None`: plain SQLite.
    pub(crate) store_key: Option<StoreKey>,
    /// Each session's own budget of new chats per UTC day, across
    /// processes; `None`: no budget (WhatsApp's limits still apply).
    pub(crate) new_chats_per_day: Option<u32>,
}

/// What every session of a gateway shares.
pub(crate) struct SessionContext {
    pub(crate) config: ConnectConfig,
    /// Message tracking and delivery reports.
    pub(crate) deliveries: Arc<Deliveries>,
    /// Leases, the outbox and published statuses, shared with every other
    /// process on the data dir (or the Redis deployment).
    pub(crate) coordination: SharedCoordination,
    /// The OTP engine, whose statistics forget a deleted session.
    pub(crate) otp: OtpEngine,
    /// Inbound verifications: a session applies the texts it receives.
    pub(crate) inbound: InboundEngine,
    /// Which numbers are on WhatsApp (cached).
    pub(crate) on_whatsapp: OnWhatsappCache,
    /// Normalises phone numbers with the default country (memoised).
    pub(crate) phones: PhoneCache,
    pub(crate) events: Arc<EventBus>,
}

impl SessionContext {
    /// Publishes an event to the gateway's subscribers.
    pub(crate) fn emit(&self, event: Event) {
        self.events.emit(event);
    }
}
