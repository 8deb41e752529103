//! `send_otp` through a sender pool (see [`crate::pool`]): one code, the
//! pool's best session first, and on a refusal the same code through the
//! next one, until one delivers or none can.

use std::time::{Duration, Instant, SystemTime};

use super::Gateway;
use super::otp_api::SentOtp;
use crate::error::{Error, Result};
use crate::model::{DeliveryStatus, SessionState};
use crate::otp::{OtpMessage, OtpRequest};
use crate::pool::{self, Candidate, SenderPool};
use crate::session::{SentMessage, Session};

/// How long a pool send waits for WhatsApp's ack of its message, which
/// tells a refused message (a limit's nack) from a taken one. Acks come in
/// milliseconds; past this the message counts as taken.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// The pool's pick: its sessions, their order, and the recipient's
/// previous code (for the sticky choice and to give back on failure).
struct Picked {
    sessions: Vec<Session>,
    choice: pool::Choice,
    previous: Option<crate::otp::OtpRecord>,
}

/// Errors after which the same code goes through the next session.
fn fails_over(error: &Error) -> bool {
    matches!(
        error,
        Error::AccountLimited { .. }
            | Error::NotConnected { .. }
            | Error::LoggedOut(_)
            | Error::SendFailed(_)
            | Error::WhatsApp(_)
            | Error::Timeout(_)
    )
}

impl Gateway {
    /// Issues a code for `to` and sends it through the best session of
    /// `pool` that can deliver it, failing over to the next on a refusal.
    ///
    /// The order: the session that sent the recipient's previous code
    /// (sticky), then healthy sessions with the most new-chat quota left,
    /// least recently used first; sessions that are not connected, banned,
    /// logged out or limited for new chats are left out. On
    /// `ACCOUNT_LIMITED`, `NOT_CONNECTED`, `LOGGED_OUT` or a nack (WhatsApp
    /// refused the message) the same code goes through the next session,
    /// under a new message id, and the OTP record names the session that
    /// finally sent it ([`SentOtp::session_id`], `OtpStatus::session_id`).
    /// When no session can deliver, `ACCOUNT_LIMITED` with the earliest
    /// time a limit ends (or `NOT_CONNECTED` when none is connected): the
    /// code is withdrawn, never silently dropped.
    pub async fn send_otp_pool(
        &self,
        pool: &SenderPool,
        to: &str,
        request: &OtpRequest,
    ) -> Result<SentOtp> {
        self.check_open()?;
        let started = Instant::now();
        let context = &self.inner.context;
        let to = self.normalize_phone(to)?;
        let Picked {
            sessions,
            choice,
            previous,
        } = self.pick(pool, &to).await?;
        let mut refusals = left_out(&choice);
        let order: Vec<&Session> = choice
            .order
            .iter()
            .filter_map(|id| sessions.iter().find(|s| s.id() == id))
            .collect();
        let Some(first) = order.first() else {
            return Err(no_session_could(refusals));
        };

        if self.inner.check_on_whatsapp {
            let deadline = tokio::time::Instant::now() + self.inner.send_retry.max_elapsed;
            let registered = self
                .with_retry(first, deadline, || first.is_on_whatsapp_cached(&to))
                .await?;
            if !registered {
                return Err(Error::NotOnWhatsapp(to));
            }
        }
        let first_message_id = first.new_message_id()?;
        let issued = context
            .otp
            .issue_for_message(&to, first.id(), request, &first_message_id)
            .await?;
        if issued.replayed {
            let session = issued.session_id.clone();
            return Ok(Self::otp_replayed(issued, session, to));
        }
        let Some(message) = issued.message else {
            return Err(Error::Store("issued OTP carries no message".into()));
        };
        let vid = issued.verification_id.clone();
        let expires_at = self.outbox_expiry(issued.expires_at);

        for (i, session) in order.iter().enumerate() {
            let message_id = if i == 0 {
                Ok(first_message_id.clone())
            } else {
                self.move_code(session, &vid).await
            };
            // A failure here ends the pool send like a refusal: the code is
            // withdrawn below and the recipient's previous one comes back.
            let message_id = match message_id {
                Ok(id) => id,
                Err(e) => {
                    refusals.push(e);
                    break;
                }
            };
            self.inner.pool_last_used.touch(session.id());
            match self
                .deliver_once(session, &to, &vid, &message, &message_id, expires_at)
                .await
            {
                Ok(()) => {
                    return Ok(self.otp_went_out(
                        session.id(),
                        started,
                        vid,
                        message_id,
                        to,
                        issued.expires_at,
                        issued.code.filter(|_| request.reveal_code),
                    ));
                }
                Err(e) if fails_over(&e) => {
                    log::info!(
                        "pool: session {} could not send ({}); trying the next",
                        session.id(),
                        e.code()
                    );
                    refusals.push(e);
                }
                Err(e) => {
                    refusals.push(e);
                    break;
                }
            }
        }

        let last = order.last().map(|s| s.id().to_owned()).unwrap_or_default();
        let error = no_session_could(refusals);
        Err(self
            .otp_did_not_go(&last, started, vid, to, previous.as_ref(), error)
            .await)
    }

    /// The order in which a pool send to `to` would try its sessions now
    /// (the pool's pick: status reads, the recipient's previous code, the
    /// ordering), for benchmarks and diagnostics. Sends nothing.
    #[doc(hidden)]
    pub async fn pool_order(&self, pool: &SenderPool, to: &str) -> Result<Vec<String>> {
        let to = self.normalize_phone(to)?;
        Ok(self.pick(pool, &to).await?.choice.order)
    }

    /// The pool's pick for `to` (normalised).
    async fn pick(&self, pool: &SenderPool, to: &str) -> Result<Picked> {
        let sessions = self.pool_sessions(pool)?;
        let previous = self.inner.context.otp.store().get(to).await?;
        let candidates: Vec<Candidate> = sessions
            .iter()
            .map(|s| {
                let status = s.status();
                Candidate {
                    id: s.id().to_owned(),
                    state: status.state,
                    health: status.health,
                }
            })
            .collect();
        let sticky = previous.as_ref().map(|p| p.session_id.as_str());
        let choice = pool::choose(&candidates, sticky, &self.inner.pool_last_used);
        Ok(Picked {
            sessions,
            choice,
            previous,
        })
    }

    /// The sessions a pool names (every session for [`SenderPool::All`]).
    pub(super) fn pool_sessions(&self, pool: &SenderPool) -> Result<Vec<Session>> {
        match pool {
            SenderPool::All => {
                let all: Vec<Session> = self
                    .inner
                    .read_sessions()
                    .values()
                    .filter(|s| !s.inner.is_closed())
                    .cloned()
                    .collect();
                if all.is_empty() {
                    return Err(Error::InvalidArgument(
                        "the gateway has no session to send through".into(),
                    ));
                }
                Ok(all)
            }
            SenderPool::Sessions(ids) if ids.is_empty() => Err(Error::InvalidArgument(
                "a sender pool needs at least one session".into(),
            )),
            SenderPool::Sessions(ids) => {
                let mut sessions: Vec<Session> = Vec::with_capacity(ids.len());
                for id in ids {
                    let session = self.session(id)?;
                    if !sessions.iter().any(|s| s.id() == session.id()) {
                        sessions.push(session);
                    }
                }
                Ok(sessions)
            }
        }
    }

    /// Hands verification `vid`'s code to `session` under a new message id
    /// (a failover): the OTP record names the new sender.
    async fn move_code(&self, session: &Session, vid: &str) -> Result<String> {
        let id = session.new_message_id()?;
        self.inner
            .context
            .otp
            .attach_sender(vid, session.id(), &id)
            .await?;
        Ok(id)
    }

    /// One attempt through one session: its pacing, the send, and (where
    /// this process runs the connection) WhatsApp's ack, so that a refused
    /// message fails over instead of being reported sent.
    async fn deliver_once(
        &self,
        session: &Session,
        to: &str,
        vid: &str,
        message: &OtpMessage,
        message_id: &str,
        expires_at: SystemTime,
    ) -> Result<()> {
        let context = &self.inner.context;
        let wait = context.otp.pace(session.id()).await?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // A pool does not wait for a session to come back: the next one can
        // send now.
        let state = session.status().state;
        if state != SessionState::Connected {
            return Err(Error::NotConnected {
                session: session.id().to_owned(),
                state: state.to_string(),
            });
        }
        if !context.otp.is_pending(to, vid).await? {
            return Err(Error::OtpNotFound(format!(
                "{to} (verification {vid} was replaced or canceled before it was sent)"
            )));
        }
        session
            .send_prepared(to, message.expose(), message_id, expires_at)
            .await?;
        self.refused_by_ack(session, message_id).await
    }

    /// Where this process runs `session`'s connection: waits for WhatsApp's
    /// ack of `message_id` and turns a refusal (a limit's nack, any nack)
    /// into the error a pool fails over on. Elsewhere the ack is the
    /// owner's to see: the message counts as taken.
    async fn refused_by_ack(&self, session: &Session, message_id: &str) -> Result<()> {
        if !session.is_owner() {
            return Ok(());
        }
        let acked = self
            .inner
            .context
            .deliveries
            .messages
            .wait_for(message_id, ACK_WAIT, |s| *s != DeliveryStatus::Pending)
            .await;
        match acked.map(|record| record.status) {
            Ok(DeliveryStatus::Failed { reason }) => Err(match session.status().health.state {
                crate::model::HealthState::NewChatsLimited {
                    until,
                    reason: limit,
                } => Error::AccountLimited {
                    session: session.id().to_owned(),
                    reason: limit.as_str().to_owned(),
                    retry_after: until.and_then(|t| t.duration_since(SystemTime::now()).ok()),
                },
                _ => Error::SendFailed(reason),
            }),
            // Sent, delivered or read; or no ack in time (taken as sent).
            _ => Ok(()),
        }
    }

    /// Sends `text` to `to` through the best session of `pool` (the order
    /// of [`send_otp_pool`](Self::send_otp_pool)), failing over to the next
    /// on a refusal; `SentMessage::session_id` names the session that sent
    /// it. No idempotency key: the same text through another number would
    /// be another message. No session can deliver: `ACCOUNT_LIMITED` with
    /// the earliest end of a limit.
    pub async fn send_text_pool(
        &self,
        pool: &SenderPool,
        to: &str,
        text: &str,
    ) -> Result<SentMessage> {
        self.check_open()?;
        let to = self.normalize_phone(to)?;
        let Picked {
            sessions, choice, ..
        } = self.pick(pool, &to).await?;
        let mut refusals = left_out(&choice);
        for id in &choice.order {
            let Some(session) = sessions.iter().find(|s| s.id() == id) else {
                continue;
            };
            self.inner.pool_last_used.touch(session.id());
            let attempt = async {
                let sent = session.send_text(&to, text, None).await?;
                self.refused_by_ack(session, &sent.id).await?;
                Ok(sent)
            }
            .await;
            match attempt {
                Ok(sent) => return Ok(sent),
                Err(e) if fails_over(&e) => refusals.push(e),
                Err(e) => {
                    refusals.push(e);
                    break;
                }
            }
        }
        Err(no_session_could(refusals))
    }
}

/// The sessions a pool left out, as the errors they stand for.
fn left_out(choice: &pool::Choice) -> Vec<Error> {
    choice
        .left_out
        .iter()
        .map(|out| match out.why {
            "not_connected" => Error::NotConnected {
                session: out.id.clone(),
                state: "not connected".into(),
            },
            why => Error::AccountLimited {
                session: out.id.clone(),
                reason: why.to_owned(),
                retry_after: out
                    .until
                    .and_then(|t| t.duration_since(SystemTime::now()).ok()),
            },
        })
        .collect()
}

/// The error of a pool send that no session could carry: `ACCOUNT_LIMITED`
/// with the earliest end of a limit when a limit stood in the way, else the
/// last refusal (`NOT_CONNECTED` when nothing was connected).
fn no_session_could(refusals: Vec<Error>) -> Error {
    let limited: Vec<&Error> = refusals
        .iter()
        .filter(|e| matches!(e, Error::AccountLimited { .. }))
        .collect();
    if !limited.is_empty() {
        let earliest = limited
            .iter()
            .filter_map(|e| match e {
                Error::AccountLimited {
                    session,
                    retry_after: Some(wait),
                    ..
                } => Some((session.clone(), *wait)),
                _ => None,
            })
            .min_by_key(|(_, wait)| *wait);
        let session = match (&earliest, limited.first()) {
            (Some((session, _)), _) => session.clone(),
            (None, Some(Error::AccountLimited { session, .. })) => session.clone(),
            _ => String::new(),
        };
        return Error::AccountLimited {
            session,
            reason: format!(
                "no session of the pool can deliver to a new chat now ({} of {} limited)",
                limited.len(),
                refusals.len()
            ),
            retry_after: earliest.map(|(_, wait)| wait),
        };
    }
    refusals
        .into_iter()
        .last()
        .unwrap_or(Error::InvalidArgument(
            "a sender pool needs at least one session".into(),
        ))
}
