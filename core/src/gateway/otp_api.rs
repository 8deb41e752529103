//! The gateway's OTP operations: the engine (codes, limits, verification)
//! joined to a WhatsApp session (the on-WhatsApp check, pacing, the send and
//! its retries, delivery tracking, events).

use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::Gateway;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::time::unix_millis;
use crate::otp::{self, OtpCode, OtpEngine, OtpRequest, OtpStatus, StatsSnapshot, VerifyOutcome};
use crate::session::Session;

/// What `send_otp` returns.
#[derive(Clone, Serialize)]
pub struct SentOtp {
    /// Id of this verification.
    pub verification_id: String,
    /// WhatsApp message id of the message that carries the code.
    pub message_id: Option<String>,
    /// The session that sent it (for a pool send: the one that finally did).
    pub session_id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// When the code stops being accepted.
    #[serde(with = "unix_millis")]
    pub expires_at: SystemTime,
    /// The code, only when the request set `reveal_code` (and never for an
    /// idempotent replay: only the code's MAC was kept).
    #[serde(skip)]
    pub code: Option<OtpCode>,
    /// True when an idempotency key matched an earlier send and nothing new was sent.
    pub replayed: bool,
}

impl std::fmt::Debug for SentOtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentOtp")
            .field("verification_id", &self.verification_id)
            .field("message_id", &self.message_id)
            .field("session_id", &self.session_id)
            .field("to", &self.to)
            .field("expires_at", &self.expires_at)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("replayed", &self.replayed)
            .finish()
    }
}

impl Gateway {
    /// The OTP engine (stores, limits, statistics).
    pub fn otp_engine(&self) -> &OtpEngine {
        &self.inner.context.otp
    }

    /// A random code of `length` digits (4–10), uniform, from the OS CSPRNG.
    pub fn generate_otp(&self, length: usize) -> Result<OtpCode> {
        otp::generate_otp(length)
    }

    /// Issues a code for `to` and sends it through session `session_id`.
    ///
    /// Checks the number is on WhatsApp (cached), the limits (`RATE_LIMITED`
    /// with the time to retry), paces the session, then sends, retrying
    /// transient failures with backoff under one message id. A new code
    /// replaces the recipient's pending one.
    pub async fn send_otp(
        &self,
        session_id: &str,
        to: &str,
        request: &OtpRequest,
    ) -> Result<SentOtp> {
        let started = Instant::now();
        let inner = &self.inner;
        let context = &inner.context;
        let to = self.normalize_phone(to)?;
        let session = self.session(session_id)?;
        let deadline = tokio::time::Instant::now() + inner.send_retry.max_elapsed;
        ready(&session, deadline).await?;
        if inner.check_on_whatsapp {
            let registered = self
                .with_retry(&session, deadline, || session.is_on_whatsapp_cached(&to))
                .await?;
            if !registered {
                return Err(Error::NotOnWhatsapp(to));
            }
        }

        // Kept so that a failed resend can give the recipient back the code it replaced.
        let previous = context.otp.store().get(&to).await?;
        // The id is chosen before the record is written, so the record is
        // written once and delivery reports can always find it.
        let message_id = session.new_message_id()?;
        let issued = context
            .otp
            .issue_for_message(&to, session.id(), request, &message_id)
            .await?;
        if issued.replayed {
            return Ok(Self::otp_replayed(issued, session.id().to_owned(), to));
        }
        let Some(message) = issued.message else {
            return Err(Error::Store("issued OTP carries no message".into()));
        };
        let vid = issued.verification_id.clone();

        let outcome: Result<String> = async {
            let wait = context.otp.pace(session.id()).await?;
            // Even a zero sleep goes through the timer wheel (1 ms ticks).
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            ready(&session, deadline).await?;
            // While this send waited its turn, a newer send to the same
            // recipient may have replaced the code (or it was canceled):
            // sending it now would deliver a code that no longer works.
            if !context.otp.is_pending(&to, &vid).await? {
                return Err(Error::OtpNotFound(format!(
                    "{to} (verification {vid} was replaced or canceled before it was sent)"
                )));
            }
            // The outbox keeps the message only as long as its code works:
            // a send still queued when the code expires is never carried out.
            let expires_at = self.outbox_expiry(issued.expires_at);
            self.with_retry(&session, deadline, || {
                session.send_prepared(&to, message.expose(), &message_id, expires_at)
            })
            .await?;
            Ok(message_id)
        }
        .await;

        match outcome {
            Ok(message_id) => Ok(self.otp_went_out(
                session.id(),
                started,
                vid,
                message_id,
                to,
                issued.expires_at,
                issued.code.filter(|_| request.reveal_code),
            )),
            Err(error) => Err(self
                .otp_did_not_go(session.id(), started, vid, to, previous.as_ref(), error)
                .await),
        }
    }

    /// Runs `op`, retrying transient failures with backoff (waiting for a
    /// reconnect when the session is reconnecting) until the policy or the
    /// deadline says stop.
    pub(super) async fn with_retry<T, F, Fut>(
        &self,
        session: &Session,
        deadline: tokio::time::Instant,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let policy = self.inner.send_retry;
        let mut attempt = 1;
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let next_at = tokio::time::Instant::now() + policy.backoff(attempt);
            if !error.is_transient() || attempt >= policy.max_attempts || next_at >= deadline {
                return Err(error);
            }
            log::info!(
                "session {}: attempt {attempt} failed ({}); retrying",
                session.id(),
                error.code()
            );
            tokio::time::sleep_until(next_at).await;
            ready(session, deadline).await?;
            attempt += 1;
        }
    }

    /// Checks `code` against the recipient's pending OTP (constant time,
    /// attempts counted atomically, single use).
    pub async fn verify_otp(&self, to: &str, code: &str) -> Result<VerifyOutcome> {
        self.check_open()?;
        let to = self.normalize_phone(to)?;
        let verification = self.inner.context.otp.verify_detailed(&to, code).await?;
        self.inner.context.emit(Event::OtpVerified {
            to,
            verification_id: verification.verification_id,
            outcome: verification.outcome,
            method: crate::otp::VerifyMethod::Code,
        });
        Ok(verification.outcome)
    }

    /// Cancels the recipient's pending OTP; returns its status afterwards.
    pub async fn cancel_otp(&self, to: &str) -> Result<OtpStatus> {
        self.check_open()?;
        let to = self.normalize_phone(to)?;
        self.inner.context.otp.cancel(&to).await
    }

    /// The recipient's latest OTP: pending, approved, canceled, expired or
    /// max_attempts_reached, with the delivery status of its message.
    pub async fn otp_status(&self, to: &str) -> Result<OtpStatus> {
        self.check_open()?;
        let to = self.normalize_phone(to)?;
        self.inner.context.otp.status(&to).await
    }

    /// Send and verification statistics, per gateway and per session.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.context.otp.stats().snapshot()
    }

    /// The statistics in Prometheus text exposition format, with each
    /// session's health (`waotp_session_health`, `waotp_new_chat_quota_remaining`,
    /// `waotp_session_nacks_last_hour`).
    pub fn stats_prometheus(&self) -> String {
        let mut text = self.inner.context.otp.stats().to_prometheus();
        text.push_str(&super::health_metrics::health_gauges(&self.list_sessions()));
        text
    }
}

/// Waits (until `deadline`) for a session that is on its way to connected;
/// fails at once when it cannot get there by itself.
async fn ready(session: &Session, deadline: tokio::time::Instant) -> Result<()> {
    tokio::time::timeout_at(deadline, session.inner.until_ready())
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout(format!(
                "session `{}` to connect",
                session.id()
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bindings drive `send_otp` from multi-threaded runtimes.
    #[allow(dead_code)]
    fn send_otp_future_is_send(g: &Gateway) {
        fn is_send<T: Send>(_: T) {}
        is_send(g.send_otp("a", "b", &OtpRequest::default()));
    }
}
