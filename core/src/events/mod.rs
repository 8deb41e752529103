//! Events the gateway reports: pairing, connection changes, delivery.
//!
//! Every subscriber gets every event from the moment it subscribes
//! ([`crate::Gateway::events`]). A subscriber that falls far behind loses the
//! oldest events rather than holding memory without bound; it is told how
//! many through [`Event::Lagged`].

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

mod bus;

use crate::model::time::unix_millis;
use crate::model::{DeliveryStatus, LinkedUser, SessionHealth};
use crate::otp::{VerifyMethod, VerifyOutcome};

pub(crate) use bus::EventBus;

/// How many events a slow subscriber may fall behind before it loses some.
const CAPACITY: usize = 4096;

/// Something that happened in the gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A new pairing QR code is available.
    QrUpdated {
        /// Session id.
        session: String,
        /// Raw QR payload (render it with any QR encoder, or fetch the
        /// renderings through `Session::qr`).
        qr: String,
        /// When the code expires.
        #[serde(with = "unix_millis")]
        expires_at: SystemTime,
        /// How many codes this pairing attempt has issued so far.
        refresh_count: u32,
    },
    /// A pairing code was issued; type it on the phone.
    PairingCode {
        /// Session id.
        session: String,
        /// The 8-character code.
        code: String,
    },
    /// WhatsApp asks for a passkey before it completes the link: run the
    /// snippet in a `https://web.whatsapp.com` tab and hand its output to
    /// `submit_passkey_assertion`.
    PasskeyRequired {
        /// Session id.
        session: String,
        /// The server's WebAuthn request options, verbatim JSON.
        options_json: String,
        /// The console snippet that answers them.
        snippet: String,
        /// When WhatsApp stops accepting an answer.
        #[serde(with = "unix_millis")]
        expires_at: SystemTime,
    },
    /// WhatsApp accepted the passkey and derived a code for this link; the
    /// phone shows the same code. waotp then completes the link.
    PasskeyConfirmation {
        /// Session id.
        session: String,
        /// The code, `XXXX-XXXX`.
        code: String,
    },
    /// The passkey step failed; the session starts linking again.
    PasskeyFailed {
        /// Session id.
        session: String,
        /// `PASSKEY_REJECTED` or `PASSKEY_EXPIRED`.
        code: String,
        /// What WhatsApp said.
        reason: String,
    },
    /// Every QR code expired before the phone scanned one.
    QrExpired {
        /// Session id.
        session: String,
    },
    /// The session is logged in and can send.
    Connected {
        /// Session id.
        session: String,
        /// The linked account.
        user: Option<LinkedUser>,
    },
    /// The connection dropped; the client reconnects by itself.
    Disconnected {
        /// Session id.
        session: String,
        /// Why, as far as the transport knows.
        reason: String,
    },
    /// The device was unlinked; the session must be linked again.
    LoggedOut {
        /// Session id.
        session: String,
        /// WhatsApp's reason.
        reason: String,
    },
    /// The client stopped for good (replaced by another connection, banned,
    /// shut down).
    Stopped {
        /// Session id.
        session: String,
        /// Why.
        reason: String,
    },
    /// What WhatsApp lets a session's number do changed: a limit on new
    /// chats began or ended, a ban, a logout, the new-chat quota.
    HealthChanged {
        /// Session id.
        session: String,
        /// The health now.
        health: SessionHealth,
    },
    /// A session was deleted with its credentials.
    SessionDeleted {
        /// Session id.
        session: String,
    },
    /// A sent message moved on (server ack, delivered, read, or failed).
    MessageStatus {
        /// Session that sent it.
        session: String,
        /// WhatsApp message id.
        message_id: String,
        /// Recipient, E.164 digits.
        to: String,
        /// The new status.
        status: DeliveryStatus,
    },
    /// An OTP message was handed to WhatsApp. (Events never carry the code.)
    OtpSent {
        /// Session that sent it.
        session: String,
        /// Verification id.
        verification_id: String,
        /// WhatsApp message id.
        message_id: String,
        /// Recipient, E.164 digits.
        to: String,
    },
    /// The message carrying an OTP moved on (sent, delivered, read, failed).
    OtpDelivery {
        /// WhatsApp message id.
        message_id: String,
        /// Recipient, E.164 digits.
        to: String,
        /// The new delivery status.
        status: DeliveryStatus,
    },
    /// An OTP could not be sent.
    OtpFailed {
        /// Session that tried.
        session: String,
        /// Verification id.
        verification_id: String,
        /// Recipient, E.164 digits.
        to: String,
        /// Stable error code (`NOT_CONNECTED`, `SEND_FAILED`, …).
        code: String,
        /// What went wrong.
        reason: String,
    },
    /// A code was checked, or a user sent an inbound verification's token.
    OtpVerified {
        /// The recipient of the code; for an inbound verification, the
        /// number that sent the token. E.164 digits.
        to: String,
        /// Verification checked against, when there was one.
        verification_id: Option<String>,
        /// Outcome: approved, invalid (with attempts left), expired, …
        outcome: VerifyOutcome,
        /// How: a typed code, or a token sent from WhatsApp.
        method: VerifyMethod,
    },
    /// This subscriber fell behind and missed events.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// A subscription to the gateway's events. It ends (`next` answers `None`)
/// once the gateway has closed and the events before that are read.
#[derive(Debug)]
pub struct EventStream {
    receiver: broadcast::Receiver<Event>,
    closed: watch::Receiver<bool>,
}

impl EventStream {
    pub(crate) fn new(receiver: broadcast::Receiver<Event>, closed: watch::Receiver<bool>) -> Self {
        EventStream { receiver, closed }
    }

    /// Waits for the next event. `None` once the gateway is closed (or gone)
    /// and every event before that was read.
    pub async fn next(&mut self) -> Option<Event> {
        tokio::select! {
            biased;
            received = self.receiver.recv() => {
                return match received {
                    Ok(event) => Some(event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        Some(Event::Lagged { missed })
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                };
            }
            // A dropped sender means the gateway is gone: closed as well.
            _ = self.closed.wait_for(|closed| *closed) => {}
        }
        // Closed: what was sent before the close, then the end.
        self.try_next()
    }

    /// The next event, waiting up to `wait` (`None`: as long as it takes;
    /// zero: only one already waiting). `None` when the time ran out or the
    /// stream ended. What a binding's `next(timeout)` answers.
    pub async fn next_within(&mut self, wait: Option<Duration>) -> Option<Event> {
        match wait {
            None => self.next().await,
            Some(wait) if wait.is_zero() => self.try_next(),
            Some(wait) => tokio::time::timeout(wait, self.next())
                .await
                .unwrap_or(None),
        }
    }

    /// The next event if one is already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Event> {
        match self.receiver.try_recv() {
            Ok(event) => Some(event),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => Some(Event::Lagged { missed }),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> (broadcast::Sender<Event>, watch::Sender<bool>, EventStream) {
        let (events, receiver) = broadcast::channel(8);
        let (closed, closed_rx) = watch::channel(false);
        (events, closed, EventStream::new(receiver, closed_rx))
    }

    fn lagged(missed: u64) -> Event {
        Event::Lagged { missed }
    }

    #[tokio::test(start_paused = true)]
    async fn next_within_waits_as_told() {
        let (events, closed, mut s) = stream();
        assert!(
            s.next_within(Some(Duration::ZERO)).await.is_none(),
            "nothing waiting"
        );
        assert!(
            s.next_within(Some(Duration::from_secs(5))).await.is_none(),
            "the time ran out"
        );
        events.send(lagged(1)).unwrap();
        assert!(matches!(
            s.next_within(Some(Duration::ZERO)).await,
            Some(Event::Lagged { missed: 1 })
        ));
        events.send(lagged(2)).unwrap();
        assert!(matches!(
            s.next_within(None).await,
            Some(Event::Lagged { missed: 2 })
        ));
        closed.send(true).unwrap();
        assert!(
            s.next_within(None).await.is_none(),
            "ended with the gateway"
        );
    }
}
