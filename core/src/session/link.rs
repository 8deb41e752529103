//! The wiring between one session and whatsapp-rust: building the `Bot` on the
//! session's store, and turning the client's events into session state,
//! delivery status and gateway events.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use whatsapp_rust::CacheConfig;
use whatsapp_rust::prelude::{Bot, Client, Event as WaEvent, EventHandler};
use whatsapp_rust::store::{SqliteStore, SqliteStoreConfig};
use whatsapp_rust::types::presence::ReceiptType;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::health::{Signal, signals};
use crate::model::{DeliveryStatus, LinkedUser, QrCode, SessionState};
use crate::platform::sync::lock;

use super::SessionInner;
use super::transport::NoDelayTransportFactory;

/// SQLite page cache of a session's store, in KiB (whatsapp-rust's default
/// is 512). A process holds one store per session, and with 512 KiB the
/// cache was over half of a settled session's heap (heaptrack, see
/// BENCHMARKS.md); the store is small, whatsapp-rust keeps its hot Signal
/// state in memory anyway, and pages not cached are read from the OS's
/// page cache.
const STORE_CACHE_KIB: u32 = 128;

/// A running whatsapp-rust client and the task that watches its run loop.
pub(crate) struct Running {
    pub(crate) client: Arc<Client>,
    pub(crate) watcher: tokio::task::JoinHandle<()>,
}

/// Builds a `Bot` on the session's store and starts it.
///
/// `generation` tags every event handler so that events from a client that
/// has since been replaced (restart, fresh QR) are not mistaken for the
/// current one's.
pub(crate) async fn spawn(session: &Arc<SessionInner>, generation: u64) -> Result<Running> {
    let config = &session.context.config;
    let path = session.store_path.to_str().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "data dir is not valid UTF-8: {:?}",
            session.store_path
        ))
    })?;
    crate::platform::sqlite::check_sqlite(&session.store_path, config.store_key.as_ref())?;
    let store_key = config.store_key.clone();
    let store = SqliteStore::with_config(
        path,
        SqliteStoreConfig {
            cache_size_kib: STORE_CACHE_KIB,
            ..SqliteStoreConfig::default()
        }
        .with_connection_init(move |conn| {
            use diesel::connection::SimpleConnection;
            // SQLCipher: the key is the first statement of a connection.
            if let Some(key) = &store_key {
                conn.batch_execute(&key.pragma())?;
            }
            // Deleted rows (sent messages past their retry window, used
            // keys) are overwritten, not left readable in free pages.
            conn.batch_execute("PRAGMA secure_delete = ON;")?;
            Ok(())
        }),
    )
    .await
    .map_err(|e| Error::Store(format!("opening {}: {e}", session.store_path.display())))?;

    let transport = NoDelayTransportFactory::new(config.endpoint.as_deref());
    let client_slot: Arc<OnceLock<Weak<Client>>> = Arc::new(OnceLock::new());
    let handler = SessionEvents {
        session: Arc::downgrade(session),
        client: client_slot.clone(),
        generation,
    };
    let mut builder = Bot::builder()
        .with_backend(store)
        .with_transport_factory(transport)
        .with_event_handler(handler)
        // An OTP sender never reads chat history; skipping it saves memory and bandwidth.
        .skip_history_sync()
        .with_cache_config(CacheConfig {
            sent_message_ttl_secs: super::sent_erasure::SENT_MESSAGE_TTL.as_secs(),
            ..CacheConfig::default()
        });
    if let Some(version) = config.whatsapp_version {
        builder = builder.with_version(version);
    }
    let bot = builder
        .build()
        .await
        .map_err(|e| Error::WhatsApp(format!("building the client: {e}")))?;
    let client = bot.client();
    let _ = client_slot.set(Arc::downgrade(&client));
    super::retry_receipts::watch(&client, Arc::downgrade(session));

    let handle = bot.spawn();
    let weak = Arc::downgrade(session);
    let watcher = tokio::spawn(async move {
        // Dropping the handle aborts the client, so this task owns it for the
        // client's whole life; aborting this task is the hard stop.
        handle.await;
        if let Some(session) = weak.upgrade() {
            session.on_run_loop_end(generation).await;
        }
    });
    Ok(Running { client, watcher })
}

/// The event handler registered on each client.
struct SessionEvents {
    session: Weak<SessionInner>,
    client: Arc<OnceLock<Weak<Client>>>,
    generation: u64,
}

impl EventHandler for SessionEvents {
    fn handle_event(&self, event: Arc<WaEvent>) {
        let Some(session) = self.session.upgrade() else {
            return;
        };
        // Delivery reports are about messages, not about this client: they
        // count whichever client instance carries them.
        match &*event {
            WaEvent::ServerAck(ack) => {
                let status = match &ack.error {
                    Some(error) if signals::is_limit_nack(error) => DeliveryStatus::Failed {
                        reason: format!(
                            "account limited: WhatsApp refused a new chat (error {error})"
                        ),
                    },
                    Some(error) => DeliveryStatus::Failed {
                        reason: format!("server refused the message (error {error})"),
                    },
                    None => DeliveryStatus::Sent,
                };
                // The limit first: whoever sees the message failed (a pool
                // deciding where to send next) sees why.
                if let Some(error) = &ack.error {
                    session.on_health_signal(Signal::Nack(error.to_string()));
                    if error == signals::NACK_TIMELOCKED
                        && let Some(client) = self.client.get().and_then(Weak::upgrade)
                    {
                        session.query_timelock(client);
                    }
                }
                session.report_delivery(&ack.id, status);
                return;
            }
            WaEvent::Messages(batch) => {
                let client = self.client.get().and_then(Weak::upgrade);
                session.on_incoming(batch.messages.to_vec(), client);
                return;
            }
            WaEvent::MexNotification(notification) => {
                if let Some(signal) =
                    signals::from_mex(&notification.op_name, &notification.payload)
                {
                    session.on_health_signal(signal);
                }
                return;
            }
            WaEvent::Receipt(receipt) => {
                let status = match receipt.r#type {
                    ReceiptType::Delivered => DeliveryStatus::Delivered,
                    ReceiptType::Read | ReceiptType::Played => DeliveryStatus::Read,
                    _ => return,
                };
                for id in &receipt.message_ids {
                    // A delivered message means the number has a chat with
                    // its recipient: later codes to it are never limited.
                    // (Before the report, so that whoever sees the report
                    // also sees the chat.)
                    if let Ok(record) = session.context.deliveries.messages.get(id) {
                        session.add_known_contact(&record.to);
                    }
                    session.report_delivery(id, status.clone());
                }
                // Read ones too: a phone that never sent its delivery
                // receipt has still decrypted the message. (Batched, so a
                // read of a message already erased costs a statement.)
                super::sent_erasure::erase_delivered(&session, &receipt.message_ids);
                return;
            }
            _ => {}
        }
        let client = self.client.get().and_then(Weak::upgrade);
        let _order = lock(&session.event_order);
        // Checked under the lock: a start or stop moves the generation under
        // the same lock, so an event of the previous client can never land
        // after a restart has reset the status.
        if session.generation() != self.generation {
            return;
        }
        apply_lifecycle_event(&session, &event, client.as_ref());
    }
}

/// Moves the session's state machine for a connection or pairing event.
fn apply_lifecycle_event(
    session: &Arc<SessionInner>,
    event: &WaEvent,
    client: Option<&Arc<Client>>,
) {
    let id = session.id.as_str().to_owned();
    let passkey_pending = session.status.borrow().state == SessionState::PasskeyRequired;
    match event {
        // whatsapp-rust keeps rotating QR codes until the link completes; the
        // scan that led to the passkey step is spent, so none is shown.
        WaEvent::PairingQrCode(_) if passkey_pending => {}
        WaEvent::PairingQrCode(qr) => {
            let code = QrCode::new(qr.code.clone(), SystemTime::now() + qr.timeout);
            let count = session.show_qr(code.clone());
            session.context.emit(Event::QrUpdated {
                session: id,
                qr: qr.code.clone(),
                expires_at: code.expires_at(),
                refresh_count: count,
            });
        }
        WaEvent::PairingCode(pc) => {
            session.set_pair_code(Some(pc.code.clone()));
            session.context.emit(Event::PairingCode {
                session: id,
                code: pc.code.clone(),
            });
        }
        WaEvent::PairSuccess(ok) => {
            session.clear_pairing();
            session.update_status(|s| {
                s.user = Some(LinkedUser {
                    jid: ok.id.to_string(),
                    phone: ok.id.user.to_string(),
                    name: None,
                });
                s.enter(SessionState::Connecting, None);
            });
        }
        WaEvent::PairError(err) => {
            session.update_status(|s| s.reason = Some(format!("pairing failed: {}", err.error)));
        }
        WaEvent::PairPasskeyRequest(request) => {
            session.on_passkey_request(&request.request_options_json);
        }
        WaEvent::PairPasskeyConfirmation(confirmation) => {
            session.on_passkey_confirmation(&confirmation.code);
        }
        WaEvent::PairPasskeyError(error) => session.on_passkey_error(&error.error),
        // The refs ran out while the operator was producing the assertion:
        // the client gives up on this link.
        WaEvent::PairingQrCodesExhausted(_) if passkey_pending => {
            session.passkey_failed(&Error::PasskeyExpired(
                "the link attempt ran out of time while waiting for the passkey".into(),
            ));
        }
        WaEvent::PairingQrCodesExhausted(_) => {
            session.clear_pairing();
            session.update_status(|s| {
                s.enter(
                    SessionState::QrExpired,
                    Some("every QR code expired before a scan".into()),
                )
            });
            session.context.emit(Event::QrExpired { session: id });
        }
        WaEvent::Connected(_) => {
            session.on_health_signal(Signal::Connected);
            if let Some(client) = client {
                session.query_timelock(client.clone());
            }
            session.clear_pairing();
            let user = client.and_then(|c| linked_user(c));
            session.update_status(|s| {
                if user.is_some() {
                    s.user = user.clone();
                }
                s.enter(SessionState::Connected, None);
            });
            session.context.emit(Event::Connected { session: id, user });
        }
        WaEvent::Disconnected(d) => {
            let reason = d.reason.to_string();
            session.update_status(|s| {
                if !s.state.is_terminal() {
                    s.enter(SessionState::Reconnecting, Some(reason.clone()));
                }
            });
            session.context.emit(Event::Disconnected {
                session: id,
                reason,
            });
        }
        WaEvent::LoggedOut(out) => {
            session.on_health_signal(Signal::LoggedOut);
            let reason = format!("{:?}", out.reason);
            session.mark_logged_out();
            session.update_status(|s| s.enter(SessionState::LoggedOut, Some(reason.clone())));
            session.context.emit(Event::LoggedOut {
                session: id,
                reason,
            });
        }
        WaEvent::StreamReplaced(_) => {
            let reason = "replaced by another connection of the same device".to_owned();
            session.update_status(|s| s.enter(SessionState::Stopped, Some(reason.clone())));
            session.context.emit(Event::Stopped {
                session: id,
                reason,
            });
        }
        WaEvent::TemporaryBan(ban) => {
            let expire = ban.expire.to_std().unwrap_or_default();
            session.on_health_signal(Signal::Banned {
                until: SystemTime::now() + expire,
            });
            let reason = format!("temporarily banned ({:?}) for {:?}", ban.code, ban.expire);
            session.update_status(|s| s.enter(SessionState::Stopped, Some(reason.clone())));
            session.context.emit(Event::Stopped {
                session: id,
                reason,
            });
        }
        WaEvent::ClientOutdated(_) => {
            let reason = "WhatsApp says this client version is outdated".to_owned();
            session.update_status(|s| s.enter(SessionState::Stopped, Some(reason.clone())));
            session.context.emit(Event::Stopped {
                session: id,
                reason,
            });
        }
        WaEvent::ConnectFailure(f) => {
            session.update_status(|s| {
                s.reason = Some(format!("connect failure: {:?}", f.reason));
            });
        }
        _ => {}
    }
}

fn linked_user(client: &Client) -> Option<LinkedUser> {
    let pn = client.pn()?;
    let name = client.push_name();
    Some(LinkedUser {
        jid: pn.to_string(),
        phone: pn.user.to_string(),
        name: (!name.is_empty()).then_some(name),
    })
}

/// How long a graceful disconnect may take before the client is aborted.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
