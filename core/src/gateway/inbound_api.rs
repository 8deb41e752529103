//! The gateway's inbound verification API: the user sends the code.

use crate::error::{Error, Result};
use crate::inbound::{InboundRequest, InboundStatus, InboundVerification};
use crate::otp::ConversionEvent;
use crate::pool::{self, Candidate, SenderPool};

use super::Gateway;

impl Gateway {
    /// Starts an inbound verification: the user opens the answer's `link`
    /// (or scans its `qr`), WhatsApp opens with the `text` written out, the
    /// user taps send, and the linked number receives the token. That
    /// message proves the user holds the WhatsApp account, costs no
    /// new-chat quota, and makes the user a known contact of the number.
    ///
    /// The number is one of `pool`'s sessions (a single session:
    /// `SenderPool::of([id])`): the one the expected number already has a
    /// chat with (its previous code's sender), else the one used least
    /// recently. A number WhatsApp limits on new chats receives as well as
    /// any; banned, logged-out and disconnected ones are skipped
    /// (`NOT_CONNECTED` when none is left).
    ///
    /// With [`InboundRequest::expected_phone`] only a message from that
    /// number approves it; without, any sender does and is reported in
    /// [`InboundStatus::sender`] (login with WhatsApp).
    pub async fn start_inbound_verification(
        &self,
        pool: &SenderPool,
        request: &InboundRequest,
    ) -> Result<InboundVerification> {
        self.check_open()?;
        let expected = request
            .expected_phone
            .as_deref()
            .map(|p| self.normalize_phone(p))
            .transpose()?;
        let sessions = self.pool_sessions(pool)?;
        let sticky = match &expected {
            Some(phone) => self
                .inner
                .context
                .otp
                .store()
                .get(phone)
                .await?
                .map(|r| r.session_id),
            None => None,
        };
        let statuses: Vec<_> = sessions.iter().map(|s| s.status()).collect();
        let candidates: Vec<Candidate> = statuses
            .iter()
            .map(|status| Candidate {
                id: status.id.clone(),
                state: status.state,
                health: status.health.clone(),
            })
            .collect();
        let order =
            pool::choose_receiver(&candidates, sticky.as_deref(), &self.inner.pool_last_used);
        let chosen = order.first().and_then(|id| {
            let status = statuses.iter().find(|s| &s.id == id)?;
            Some((id, status.user.as_ref()?.phone.clone()))
        });
        let Some((session_id, number)) = chosen else {
            return Err(Error::NotConnected {
                session: sessions
                    .iter()
                    .map(|s| s.id().to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                state: "no session of the pool is connected (or every one is banned or logged out)"
                    .into(),
            });
        };
        self.inner.pool_last_used.touch(session_id);
        let started = self
            .inner
            .context
            .inbound
            .start(session_id, &number, expected, request)
            .await?;
        self.inner
            .context
            .otp
            .stats()
            .record_conversion(session_id, ConversionEvent::Started);
        Ok(started)
    }

    /// Where an inbound verification stands: `pending`, then `approved`
    /// (with the sender's number), `expired`, `canceled` or
    /// `max_attempts_reached`. Visible from every process that shares the
    /// store. `OTP_NOT_FOUND` for an unknown id, or one forgotten an hour
    /// after it expired.
    pub async fn inbound_verification_status(
        &self,
        verification_id: &str,
    ) -> Result<InboundStatus> {
        self.check_open()?;
        self.inner.context.inbound.status(verification_id).await
    }

    /// Cancels a pending inbound verification (its token approves nothing
    /// afterwards); answers where it stands.
    pub async fn cancel_inbound_verification(
        &self,
        verification_id: &str,
    ) -> Result<InboundStatus> {
        self.check_open()?;
        self.inner.context.inbound.cancel(verification_id).await
    }
}
