//! How an OTP send ends, the same for one session and for a sender pool: a
//! code that went out is counted, announced and answered; one that did not
//! is counted, withdrawn (the recipient's previous code comes back) and
//! announced with its error.

use std::time::{Instant, SystemTime};

use super::Gateway;
use super::otp_api::SentOtp;
use crate::error::Error;
use crate::events::Event;
use crate::otp::{IssuedOtp, OtpCode, OtpRecord};

impl Gateway {
    /// When the outbox drops a queued send of a code that expires at
    /// `expires_at` on the engine's clock: the engine's clock may be a
    /// test's, the outbox's is the system's, so the time left goes across.
    pub(super) fn outbox_expiry(&self, expires_at: SystemTime) -> SystemTime {
        let left = expires_at
            .duration_since(self.inner.context.otp.clock().now())
            .unwrap_or_default();
        SystemTime::now() + left
    }

    /// The answer to an idempotent replay: nothing was sent again.
    pub(super) fn otp_replayed(issued: IssuedOtp, session: String, to: String) -> SentOtp {
        SentOtp {
            verification_id: issued.verification_id,
            message_id: issued.message_id,
            session_id: session,
            to,
            expires_at: issued.expires_at,
            code: None,
            replayed: true,
        }
    }

    /// A code `session` handed to WhatsApp in `message_id`: counted,
    /// announced (`otp_sent`), answered. `code` only when it is to be
    /// revealed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn otp_went_out(
        &self,
        session: &str,
        started: Instant,
        verification_id: String,
        message_id: String,
        to: String,
        expires_at: SystemTime,
        code: Option<OtpCode>,
    ) -> SentOtp {
        let context = &self.inner.context;
        context
            .otp
            .stats()
            .record_send(session, started.elapsed(), true);
        context.emit(Event::OtpSent {
            session: session.to_owned(),
            verification_id: verification_id.clone(),
            message_id: message_id.clone(),
            to: to.clone(),
        });
        SentOtp {
            verification_id,
            message_id: Some(message_id),
            session_id: session.to_owned(),
            to,
            expires_at,
            code,
            replayed: false,
        }
    }

    /// A code that did not go out (`session`: the last that tried): counted,
    /// withdrawn so the recipient's `previous` code works again, announced
    /// (`otp_failed`). Answers `error`.
    pub(super) async fn otp_did_not_go(
        &self,
        session: &str,
        started: Instant,
        verification_id: String,
        to: String,
        previous: Option<&OtpRecord>,
        error: Error,
    ) -> Error {
        let context = &self.inner.context;
        context
            .otp
            .stats()
            .record_send(session, started.elapsed(), false);
        if let Err(e) = context.otp.withdraw(&to, &verification_id, previous).await {
            log::warn!("withdrawing an undelivered OTP failed: {e}");
        }
        context.emit(Event::OtpFailed {
            session: session.to_owned(),
            verification_id,
            to,
            code: error.code().to_owned(),
            reason: error.to_string(),
        });
        error
    }
}
