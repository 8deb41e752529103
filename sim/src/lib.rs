//! `waotp-sim`: a loopback WhatsApp Web server for testing against the real
//! whatsapp-rust client.
//!
//! It speaks the client's wire protocol (WebSocket + Noise XX/IK + binary
//! nodes), plays the phone during QR and pairing-code linking, answers the
//! IQs the client needs to reach `Connected`, decrypts every message the
//! client sends into a per-number inbox, and injects faults on demand.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use waotp_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! sim.add_number("6281234567890", true);
//! // point the client at sim.ws_url(), wait for its QR code, then:
//! // sim.scan(&qr, "6281111111111", "Test Phone").await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod account_devices;
mod app_state;
mod conn;
pub mod control;
mod devices;
mod faults;
mod handshake;
mod history;
mod idle_load;
mod iq;
mod keyshare;
pub mod limits;
mod limits_control;
mod messages;
mod mex;
mod pair_code;
mod pairing;
mod passkey;
mod passkey_gate;
mod phone_message;
pub mod redis_server;
mod retry;
mod server;
mod signal_store;
mod state;
mod user_message;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wacore_binary::builder::NodeBuilder;

pub use crate::devices::DeviceConnections;
pub use crate::faults::FaultHit;
use crate::faults::SlowIq;
pub use crate::idle_load::IdleLoad;
pub use crate::limits::{
    AutoTimelock, Ban, CappingInfo, CappingStatus, LimitsSnapshot, NewChatQuota, TimelockInfo,
};
pub use crate::passkey::{AssertionTweaks, TestPasskey};
use crate::state::{Recipient, Shared};
pub use crate::user_message::UserMessage;
use crate::wire::{tag, val};

/// Simulator settings. `Default` matches real WhatsApp where that matters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; must be loopback. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// QR refs offered per registration connection (real WhatsApp: 6).
    /// The client fixes each ref's lifetime itself (first 60 s, later 20 s),
    /// so this count is the only knob: `0` makes the client report
    /// `PairingQrCodesExhausted` immediately, `1` after 60 s.
    pub qr_ref_count: usize,
    /// Send the phone's app-state key share after the first prekey upload,
    /// so `Connected` does not wait for the client's 10 s grace period.
    pub send_key_share: bool,
    /// How long `scan`/`enter_pair_code` wait for the client's answers.
    pub pairing_timeout: Duration,
    /// Delay used by a `slow_iq` fault that does not give its own.
    pub default_slow_iq: Duration,
    /// Network latency simulated on every connection: the server waits
    /// this long after the handshake before its first stanza
    /// (`<pair-device>` or `<success>`), as a real round trip to WhatsApp
    /// would take. Small by default so tests stay fast but a client cannot
    /// rely on a zero-latency server.
    pub latency: Duration,
    /// Backlog pushed to every login before the offline marker (see
    /// [`IdleLoad`]); `None` (the default) sends none.
    pub idle_load: Option<IdleLoad>,
    /// How long a passkey challenge is accepted (also the options'
    /// `timeout`); older assertions are refused with `410 passkey-expired`.
    pub passkey_challenge_ttl: Duration,
    /// The simulated phone's pause before each of its passkey-gate steps
    /// (the `crsc_continuation` after an accepted assertion, `pair-success`
    /// after the encrypted pairing request). Load-bearing: whatsapp-rust
    /// stores its handshake session only after the prologue IQ's result,
    /// and commits the rotated ADV secret only after the pairing request's
    /// result; a phone step that overtakes either fails the link.
    pub passkey_phone_delay: Duration,
    /// A new-chat quota every account starts with (`None`, the default:
    /// no account is capped until a test says so).
    pub new_chat_quota: Option<NewChatQuota>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            qr_ref_count: 6,
            send_key_share: true,
            pairing_timeout: Duration::from_secs(20),
            default_slow_iq: Duration::from_secs(3),
            latency: Duration::from_millis(5),
            idle_load: None,
            passkey_challenge_ttl: Duration::from_secs(120),
            passkey_phone_delay: Duration::from_millis(100),
            new_chat_quota: None,
        }
    }
}

/// A message the simulated recipient received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// Message id chosen by the sending client.
    pub id: String,
    /// Sender's phone number digits.
    pub from: String,
    /// Decrypted text.
    pub text: String,
    /// Unix seconds when the simulator received it.
    pub at: i64,
}

/// A linked account as the simulator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedAccount {
    /// Phone number digits.
    pub phone: String,
    /// LID user part.
    pub lid: String,
    /// Display name the phone reported at pairing.
    pub name: String,
    /// Linked companion device ids.
    pub devices: Vec<u32>,
    /// Whether a companion of this account is currently logged in.
    pub online: bool,
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close the socket of the linked account `phone` (all if `None`);
    /// the client reconnects.
    Drop(Option<String>),
    /// Log the account's devices out (`<stream:error code="401"/>`) and
    /// forget them; the client emits `LoggedOut` and stops.
    Logout(Option<String>),
    /// Replace the stream (`<stream:error><conflict type="replaced"/>`).
    Conflict(Option<String>),
    /// The next message to this recipient number gets `<ack error="479"/>`
    /// and is not delivered. Messages to other numbers, and every other
    /// stanza, leave it armed.
    ErrorAck(String),
    /// This recipient number never sends delivered/read receipts.
    WithholdReceipts(String),
    /// The phone of this recipient number cannot decrypt the next message
    /// sent to it (arming it N times: the next N message stanzas, resends
    /// included). The server acks the stanza; the phone answers with a
    /// retry receipt (`<receipt type="retry">`) instead of delivered/read.
    /// Messages to other numbers leave it armed.
    Undecryptable(String),
    /// Delay the answer to the next IQ that matches: on a connection of the
    /// linked account `phone` (any connection if `None`), with the given
    /// `xmlns` (e.g. `"usync"`; any IQ if `None`) and query `context` (e.g.
    /// `"interactive"`; any if `None`), by `delay` (the config's
    /// `default_slow_iq` if `None`).
    ///
    /// Aim it: after login the client sends IQs of its own in the
    /// background (usync among them), and an untargeted fault may be spent
    /// on one of those. `is_on_whatsapp` is the usync IQ with context
    /// `interactive`, which the client never sends by itself.
    SlowIq {
        /// Linked account whose connection is slowed (`None`: any).
        phone: Option<String>,
        /// The IQ namespace to slow (`None`: the next IQ of any kind).
        xmlns: Option<String>,
        /// The `context` of the IQ's query (usync: `interactive`,
        /// `message`, `background`); `None`: any.
        context: Option<String>,
        /// How long to hold the answer (`None`: `SimConfig::default_slow_iq`).
        delay: Option<Duration>,
    },
}

/// Handle to a running simulator. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
}

/// Refuses anything but loopback addresses: the simulator is for tests only.
pub fn ensure_loopback(addr: &SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("refusing to bind non-loopback address {addr}");
    }
    Ok(())
}

impl Simulator {
    /// Binds `config.listen` (loopback only) and starts serving.
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        ensure_loopback(&config.listen)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(server::serve(shared.clone(), listener, stop_rx));
        log::info!("simulator listening on {addr}");
        Ok(Simulator {
            shared,
            addr,
            stop: Arc::new(stop),
        })
    }

    /// The WebSocket URL for `TokioWebSocketTransportFactory::with_url`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.addr, wire::WS_PATH)
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registered number `from` writes `text` to account `to`: it goes,
    /// Signal-encrypted, to every companion of the account that uploaded
    /// its keys (a `pkmsg` first, then `msg`), now or, for a companion not
    /// connected, at its next login; `from` becomes one of the account's
    /// chats. Fails when `from` is not registered, `to` is no account, or
    /// no companion has keys yet.
    pub async fn user_send(&self, from: &str, to: &str, text: &str) -> anyhow::Result<UserMessage> {
        user_message::send(&self.shared, &digits(from), &digits(to), text).await
    }

    /// Addresses the registered number `phone` by LID from now on: its
    /// messages to accounts come from `<lid>@lid` with `sender_pn` and
    /// `addressing_mode="lid"`, as WhatsApp sends them for users who moved
    /// to LID addressing; messages to the LID reach the number. Answers the
    /// LID (the same one every time).
    pub fn address_by_lid(&self, phone: &str) -> String {
        let phone = digits(phone);
        let mut st = self.shared.lock();
        let fresh = format!("{}", 200_000_000_000_000u64 + self.shared.next_id() * 7919);
        st.user_lids.entry(phone).or_insert(fresh).clone()
    }

    /// Declares a recipient number. Registered numbers get a Signal identity
    /// and prekeys; unregistered ones report no devices (not on WhatsApp).
    /// Re-adding a number only changes its registration.
    pub fn add_number(&self, phone: &str, registered: bool) {
        let phone = digits(phone);
        let mut st = self.shared.lock();
        let existing = st.numbers.get(&phone).cloned();
        let store = match existing {
            Some(r) if r.registered == registered => return,
            _ => signal_store::SignalStore::generate().expect("key generation cannot fail"),
        };
        st.numbers.insert(
            phone,
            Arc::new(Recipient {
                registered,
                store: tokio::sync::Mutex::new(store),
            }),
        );
    }

    /// Gates the linking of account `phone` behind a passkey (WhatsApp's
    /// SHORTCAKE_PASSKEY flow): from now on its scans and pairing codes
    /// send the companion a `passkey_prologue_request` instead of
    /// `pair-success`, and the companion must answer with a WebAuthn
    /// assertion by the account's passkey (see [`Simulator::passkey`],
    /// [`Simulator::sign_passkey_assertion`]). The passkey (P-256, 16-byte
    /// random credential id, random user handle, rpId `whatsapp.com`) is
    /// made on the first call and kept on later ones. Companions already
    /// linked log in as before.
    pub fn require_passkey(&self, phone: &str) {
        passkey_gate::require(&self.shared, &digits(phone));
    }

    /// The passkey of a gated account (`None` if `phone` is not gated), with
    /// its private key as PKCS#8 DER, for a test that plays the owner's
    /// authenticator itself.
    pub fn passkey(&self, phone: &str) -> Option<TestPasskey> {
        let credential = passkey_gate::credential(&self.shared, &digits(phone))?;
        credential
            .export()
            .inspect_err(|e| log::warn!("exporting the passkey of {phone}: {e:#}"))
            .ok()
    }

    /// The WebAuthn request options (JSON) of `phone`'s newest linking
    /// attempt that still waits for an assertion, as sent in its
    /// `passkey_prologue_request`; `None` if there is none.
    pub fn pending_passkey_options(&self, phone: &str) -> Option<String> {
        passkey_gate::pending_options(&self.shared, &digits(phone))
    }

    /// The verification code the phone of `phone` showed last, grouped
    /// `XXXX-XXXX` as the companion shows it in
    /// `Event::PairPasskeyConfirmation`; `None` before the companion
    /// revealed its nonce. A new attempt clears it.
    pub fn passkey_code(&self, phone: &str) -> Option<String> {
        passkey_gate::code(&self.shared, &digits(phone))
    }

    /// Plays the owner's browser: the assertion `navigator.credentials.get`
    /// would return for `options_json` with `phone`'s passkey, as the JSON
    /// WhatsApp Web sends (`{id, rawId, type, response: {clientDataJSON,
    /// authenticatorData, signature, userHandle}}`, base64url), signed for
    /// origin `https://web.whatsapp.com`. `tweaks` makes it wrong in one
    /// chosen way. Fails if `phone` is not gated, or where a browser would:
    /// options that are not JSON, have no challenge, or do not allow the
    /// passkey's credential.
    pub fn sign_passkey_assertion(
        &self,
        phone: &str,
        options_json: &str,
        tweaks: &AssertionTweaks,
    ) -> anyhow::Result<String> {
        passkey_gate::credential(&self.shared, &digits(phone))
            .ok_or_else(|| anyhow!("{phone} has no passkey (see require_passkey)"))?
            .assert(options_json, tweaks)
    }

    /// Makes the challenge(s) `phone`'s companions are asked to sign stale
    /// at once, as if `passkey_challenge_ttl` had passed: an assertion for
    /// one is refused with `410 passkey-expired`. Returns whether a
    /// challenge was outstanding.
    pub fn expire_passkey_challenge(&self, phone: &str) -> bool {
        passkey_gate::expire(&self.shared, &digits(phone))
    }

    /// The phone scans `qr` (a client's `PairingQrCode` string) as account
    /// `phone` named `name`. Returns once the companion signed the pairing
    /// and the simulator sent the 515 restart; for a passkey-gated account
    /// (see [`Simulator::require_passkey`]) once the
    /// `passkey_prologue_request` was sent instead (pairing then follows
    /// the companion's answers).
    pub async fn scan(&self, qr: &str, phone: &str, name: &str) -> anyhow::Result<()> {
        let qr_data = pairing::parse_qr(qr)?;
        let conn = {
            let st = self.shared.lock();
            st.qr_refs
                .get(&qr_data.pairing_ref)
                .and_then(|id| st.conns.get(id))
                .cloned()
                .ok_or_else(|| anyhow!("no open connection shows QR ref {}", qr_data.pairing_ref))?
        };
        let phone = digits(phone);
        if passkey_gate::start(&self.shared, &conn, &phone, name, qr_data.identity_pub) {
            return Ok(());
        }
        pairing::complete_pairing(
            &self.shared,
            &conn,
            &phone,
            name,
            qr_data.identity_pub,
            qr_data.adv_secret,
        )
        .await
        .map(|_| ())
    }

    /// The phone `phone` enters the 8-character pairing `code` the client
    /// showed. Returns once pairing completed (515 sent), or, for a
    /// passkey-gated account, once the `passkey_prologue_request` was sent.
    pub async fn enter_pair_code(&self, phone: &str, code: &str) -> anyhow::Result<()> {
        pair_code::enter_code(&self.shared, &digits(phone), code, "Sim Phone").await
    }

    /// Messages delivered to `phone` so far.
    pub fn inbox(&self, phone: &str) -> Vec<InboxMessage> {
        self.shared
            .lock()
            .inboxes
            .get(&digits(phone))
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `phone`'s inbox holds at least `count` messages.
    pub async fn wait_for_inbox(
        &self,
        phone: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<InboxMessage>> {
        let mut version = self.shared.inbox_version.subscribe();
        let wait = async {
            loop {
                let inbox = self.inbox(phone);
                if inbox.len() >= count {
                    return inbox;
                }
                if version.changed().await.is_err() {
                    return inbox;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(inbox) if inbox.len() >= count => Ok(inbox),
            _ => bail!(
                "inbox of {phone} has {} message(s), wanted {count} within {timeout:?}",
                self.inbox(phone).len()
            ),
        }
    }

    /// Injects a fault (see [`Fault`]).
    pub fn fault(&self, fault: Fault) {
        let shared = &self.shared;
        match fault {
            Fault::Drop(phone) => {
                for c in shared.conns_for(phone.map(|p| digits(&p)).as_deref()) {
                    c.kill();
                }
            }
            Fault::Logout(phone) => {
                let phone = phone.map(|p| digits(&p));
                for c in shared.conns_for(phone.as_deref()) {
                    if let Some((p, d)) = c.login.lock().ok().and_then(|l| l.clone())
                        && let Some(a) = shared.lock().accounts.get_mut(&p)
                    {
                        a.devices.remove(&d);
                    }
                    c.send(
                        NodeBuilder::new(tag::STREAM_ERROR)
                            .attr("code", val::CODE_LOGGED_OUT)
                            .build(),
                    );
                    c.close();
                }
                shared.accounts_version.send_modify(|v| *v += 1);
            }
            Fault::Conflict(phone) => {
                for c in shared.conns_for(phone.map(|p| digits(&p)).as_deref()) {
                    c.send(devices::stream_replaced());
                    c.close();
                }
            }
            Fault::ErrorAck(recipient) => {
                shared.lock().faults.error_ack.insert(digits(&recipient));
            }
            Fault::Undecryptable(recipient) => {
                *shared
                    .lock()
                    .faults
                    .undecryptable
                    .entry(digits(&recipient))
                    .or_default() += 1;
            }
            Fault::WithholdReceipts(recipient) => {
                shared
                    .lock()
                    .faults
                    .withhold_receipts
                    .insert(digits(&recipient));
            }
            Fault::SlowIq {
                phone,
                xmlns,
                context,
                delay,
            } => {
                let fault = SlowIq {
                    phone: phone.map(|p| digits(&p)),
                    xmlns,
                    context,
                    delay: delay.unwrap_or(shared.config.default_slow_iq),
                };
                shared.lock().faults.slow_iq.push(fault);
            }
        }
    }

    /// Every one-shot fault (`slow_iq`, `error_ack`, `undecryptable`) that
    /// took effect so far, oldest first: which stanza it hit. A fault still
    /// armed is not listed.
    pub fn fault_hits(&self) -> Vec<FaultHit> {
        self.shared.lock().faults.hits.clone()
    }

    /// Delays delivered/read receipts from `recipient` by `delay` each
    /// (`Duration::ZERO` restores immediate receipts).
    pub fn set_receipt_delay(&self, recipient: &str, delay: Duration) {
        let mut st = self.shared.lock();
        if delay.is_zero() {
            st.faults.receipt_delay.remove(&digits(recipient));
        } else {
            st.faults.receipt_delay.insert(digits(recipient), delay);
        }
    }

    /// Turns receipt withholding for `recipient` on or off.
    pub fn set_withhold_receipts(&self, recipient: &str, withhold: bool) {
        let mut st = self.shared.lock();
        if withhold {
            st.faults.withhold_receipts.insert(digits(recipient));
        } else {
            st.faults.withhold_receipts.remove(&digits(recipient));
        }
    }

    /// Accounts with at least one linked device.
    pub fn linked_accounts(&self) -> Vec<LinkedAccount> {
        let online: std::collections::HashSet<String> = self
            .shared
            .conns_for(None)
            .iter()
            .filter_map(|c| c.phone())
            .collect();
        let st = self.shared.lock();
        let mut out: Vec<LinkedAccount> = st
            .accounts
            .values()
            .filter(|a| !a.devices.is_empty())
            .map(|a| {
                let mut devices: Vec<u32> = a.devices.keys().copied().collect();
                devices.sort_unstable();
                LinkedAccount {
                    phone: a.phone.clone(),
                    lid: a.lid.clone(),
                    name: a.name.clone(),
                    devices,
                    online: online.contains(&a.phone),
                }
            })
            .collect();
        out.sort_by(|a, b| a.phone.cmp(&b.phone));
        out
    }

    /// Connection and message counters of every linked device (and of every
    /// device that ever logged in), sorted by phone and device id. See
    /// [`DeviceConnections`].
    pub fn devices(&self) -> Vec<DeviceConnections> {
        devices::report(&self.shared.lock())
    }

    /// The encrypted history-sync blob at `direct_path` (see
    /// [`IdleLoad::history`]), counting the download for its device; `None`
    /// if there is none.
    pub fn media(&self, direct_path: &str) -> Option<bytes::Bytes> {
        let mut st = self.shared.lock();
        let ((phone, device), blob) = st.media.get(direct_path).cloned()?;
        devices::record_history_download(&mut st, &phone, device);
        Some(blob)
    }

    /// How many message stanzas with `id` the linked device `phone:device`
    /// sent (0 if none): 1 normally, more for resends and duplicates.
    pub fn message_stanzas(&self, phone: &str, device: u32, id: &str) -> u32 {
        self.shared
            .lock()
            .devices
            .get(&(digits(phone), device))
            .and_then(|d| d.messages.get(id))
            .map_or(0, |m| m.stanzas)
    }

    /// The phone of `recipient` sends the linked device `phone:device` a
    /// retry receipt with `count` for message `id`, as if it could not
    /// decrypt it, whether or not the message was delivered. Counted like
    /// the automatic ones (`retry_receipts_sent`; the resend it allows is
    /// not a duplicate). For tests of the client's answer to one given
    /// count; undecryptable messages get counts 1, 2, … by themselves.
    /// Fails if `recipient` is not registered or the device is offline.
    pub async fn send_retry_receipt(
        &self,
        phone: &str,
        device: u32,
        recipient: &str,
        id: &str,
        count: u32,
    ) -> anyhow::Result<()> {
        retry::send_retry_receipt(
            &self.shared,
            &digits(phone),
            device,
            &digits(recipient),
            id,
            count,
        )
        .await
    }

    /// Waits until `phone` has a logged-in companion connection.
    pub async fn wait_online(&self, phone: &str, timeout: Duration) -> anyhow::Result<()> {
        let phone = digits(phone);
        let mut version = self.shared.accounts_version.subscribe();
        let wait = async {
            loop {
                if !self.shared.conns_for(Some(&phone)).is_empty() {
                    return;
                }
                if version.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| anyhow!("{phone} did not log in within {timeout:?}"))
    }

    /// Stops accepting connections and closes all live ones.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        for c in self.shared.conns_for(None) {
            c.kill();
        }
    }
}

/// Keeps only the digits of a phone number (`+62 812-…` → `62812…`).
fn digits(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit()).collect()
}
