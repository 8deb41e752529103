//! The session's side of its health (see [`crate::health`]): what the
//! client's events say goes into the tracker, the status and an event; the
//! timelock is asked for on connect and after a 463; and a send to a new
//! chat is refused up front while new chats are limited.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use whatsapp_rust::prelude::Client;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::health::{Refusal, Signal, signals};
use crate::model::{HealthState, LimitReason, SessionHealth};

use super::SessionInner;

/// How long after a limit's end the session looks again (the end is in
/// milliseconds; the timer wheel's ticks are not).
const LAPSE_MARGIN: Duration = Duration::from_millis(20);
/// A UTC day: the daily budget's period.
const DAY: Duration = Duration::from_secs(86_400);

impl SessionInner {
    /// Takes in what WhatsApp said about the number: the status shows it,
    /// and a change of state or quota is announced.
    pub(crate) fn on_health_signal(self: &Arc<Self>, signal: Signal) {
        let (health, changed) = self.health.apply(signal, SystemTime::now());
        self.show_health(health, changed);
    }

    fn show_health(self: &Arc<Self>, health: SessionHealth, changed: bool) {
        let ends = health.state.until();
        self.update_status(|s| s.health = health.clone());
        if changed {
            log::info!("session {}: health {}", self.id, health.state.as_str());
            self.context.emit(Event::HealthChanged {
                session: self.id.to_string(),
                health,
            });
        }
        // A limit ends by itself when its time is up, whether or not
        // WhatsApp says so: look again then, so that the end is announced.
        if let Some(ends) = ends {
            let wait = ends.duration_since(SystemTime::now()).unwrap_or_default();
            let session = Arc::downgrade(self);
            tokio::spawn(async move {
                tokio::time::sleep(wait + LAPSE_MARGIN).await;
                if let Some(session) = session.upgrade() {
                    let (health, changed) = session.health.recheck(SystemTime::now());
                    if changed {
                        session.show_health(health, changed);
                    }
                }
            });
        }
    }

    /// Asks WhatsApp whether the number is timelocked (in the background):
    /// on connect, and after a 463 (which a missing privacy token also
    /// gets, so only the answer tells a timelock apart).
    pub(crate) fn query_timelock(self: &Arc<Self>, client: Arc<Client>) {
        let session = Arc::downgrade(self);
        tokio::spawn(async move {
            match client.mex().fetch_reachout_timelock().await {
                Ok(answer) => {
                    if let Some(session) = session.upgrade() {
                        session.on_health_signal(signals::timelock(
                            answer.is_active,
                            answer.time_enforcement_ends.as_deref(),
                        ));
                    }
                }
                // Not every server answers it; the nacks still tell.
                Err(e) => log::debug!("timelock query failed: {e}"),
            }
        });
    }

    /// Records that the number has a chat with `phone`: here at once, and in
    /// the shared store for every process and the next owner.
    pub(crate) fn add_known_contact(&self, phone: &str) {
        if self.health.add_known_contact(phone) {
            let coordination = self.context.coordination.clone();
            let (id, phone) = (self.id.clone(), phone.to_owned());
            tokio::spawn(async move {
                if let Err(e) = coordination.add_contact(&id, &phone).await {
                    log::warn!("session {id}: recording a known contact failed: {e}");
                }
            });
        }
    }

    /// Refuses a message to `to` when it would open a new chat while new
    /// chats are limited, or past the session's daily budget of new chats
    /// (`ACCOUNT_LIMITED`, with the time to retry when known). Before
    /// anything is sent or recorded. Recipients the number has a chat with
    /// (known here, or to any process through the shared store) always pass.
    pub(crate) async fn check_new_chat(&self, to: &str) -> Result<()> {
        if self.health.is_known_contact(to) {
            return Ok(());
        }
        let now = SystemTime::now();
        if let Err(refusal) = self.health.admit(to, now) {
            if self.known_elsewhere(to).await {
                return Ok(());
            }
            return Err(self.limited(&refusal, now));
        }
        if let Some(per_day) = self.context.config.new_chats_per_day {
            if self.known_elsewhere(to).await {
                return Ok(());
            }
            let since_epoch = now
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let day = since_epoch.as_secs() / DAY.as_secs();
            let taken = self
                .context
                .coordination
                .take_new_chat(&self.id, to, day, per_day)
                .await?;
            if !taken {
                let midnight = Duration::from_secs((day + 1) * DAY.as_secs());
                return Err(Error::AccountLimited {
                    session: self.id.to_string(),
                    reason: LimitReason::DailyBudget.as_str().to_owned(),
                    retry_after: midnight.checked_sub(since_epoch),
                });
            }
        }
        Ok(())
    }

    /// Whether the shared store knows a chat with `to` that this process
    /// does not (recorded by another process, or before a restart); learns
    /// it if so. A store that cannot answer counts as not knowing.
    async fn known_elsewhere(&self, to: &str) -> bool {
        match self.context.coordination.is_contact(&self.id, to).await {
            Ok(true) => {
                self.health.add_known_contact(to);
                true
            }
            Ok(false) => false,
            Err(e) => {
                log::warn!(
                    "session {}: looking a known contact up failed: {e}",
                    self.id
                );
                false
            }
        }
    }

    fn limited(&self, refusal: &Refusal, now: SystemTime) -> Error {
        Error::AccountLimited {
            session: self.id.to_string(),
            reason: refusal.reason.as_str().to_owned(),
            retry_after: refusal.until.and_then(|t| t.duration_since(now).ok()),
        }
    }

    /// The health to show now: this process's tracker where it owns the
    /// connection; otherwise what the owner published, with a limit whose
    /// time is up shown as over.
    pub(crate) fn current_health(&self, published: &SessionHealth) -> SessionHealth {
        let now = SystemTime::now();
        if self.is_owner() {
            return self.health.snapshot(now);
        }
        let mut health = published.clone();
        if health.state.until().is_some_and(|until| until <= now)
            && matches!(
                health.state,
                HealthState::NewChatsLimited { .. } | HealthState::Banned { .. }
            )
        {
            health.state = HealthState::Ok;
        }
        health
    }
}
