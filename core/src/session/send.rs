//! Sending text, and the lookups a send makes: is the number on WhatsApp,
//! which message id to use, what a failure means.

use std::time::{Duration, SystemTime};

use whatsapp_rust::Jid;
use whatsapp_rust::prelude::{Client, MessageBuilderExt, SendError, SendOptions};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::coordination::{Command, Request};
use crate::error::{Error, Result};
use crate::model::{DeliveryStatus, MessageRecord, check_idempotency_key};

use super::ownership::{on_owner, perform};
use super::{REMOTE_CALL_WAIT, Session, SessionInner};

/// The longest text `send_text` accepts (WhatsApp's own limit is 65,536).
pub const MAX_TEXT_LEN: usize = 65_536;

/// How long a send through another process's connection may wait for it.
const REMOTE_SEND_WAIT: Duration = Duration::from_secs(60);

/// A message handed to WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// WhatsApp message id; pass it to `Gateway::message_status`.
    pub id: String,
    /// Recipient, E.164 digits.
    pub to: String,
    /// False when an idempotency key matched an earlier send and nothing new was sent.
    pub newly_sent: bool,
    /// The session that sent it (for a pool send: the one that finally did).
    pub session_id: String,
}

impl Session {
    /// Sends a text message.
    ///
    /// With an `idempotency_key`, a retry of the same call returns the first
    /// message's id and sends nothing (unless the first send failed, in which
    /// case it is sent again under the same message id, so the recipient still
    /// gets one message).
    pub async fn send_text(
        &self,
        to: &str,
        text: &str,
        idempotency_key: Option<&str>,
    ) -> Result<SentMessage> {
        let to = self.inner.context.phones.normalize(to)?;
        if text.trim().is_empty() {
            return Err(Error::InvalidArgument("message text is empty".into()));
        }
        if text.chars().count() > MAX_TEXT_LEN {
            return Err(Error::InvalidArgument(format!(
                "message text is longer than {MAX_TEXT_LEN} characters"
            )));
        }
        if let Some(key) = idempotency_key {
            check_idempotency_key(key)?;
        }
        let message_id = self.new_message_id()?;
        let request = Request::new(
            &self.inner.id,
            Command::SendText {
                to: to.clone(),
                text: text.to_owned(),
                message_id,
            },
            idempotency_key,
        );
        let done = perform(&self.inner, request, REMOTE_SEND_WAIT).await?;
        let id = done.request.message_id().unwrap_or_default().to_owned();
        done.outcome.into_result::<()>()?;
        Ok(SentMessage {
            id,
            to,
            newly_sent: !done.replayed,
            session_id: self.id().to_owned(),
        })
    }

    /// A fresh WhatsApp message id, fixed before the send is queued so that
    /// retries and a resend after a failover are one message to the
    /// recipient. Ids derive from the linked number, the time and randomness
    /// (as WhatsApp Web makes them), so any process can choose one for a
    /// linked session, even while it reconnects.
    pub(crate) fn new_message_id(&self) -> Result<String> {
        if let Some(client) = self.inner.client() {
            return Ok(client.generate_message_id());
        }
        // No client here (a follower, or an owner still starting one): the
        // same scheme. The account's number only salts the hash next to 16
        // random bytes, so an id made before it is known is as unique.
        let own = self.status().user.map(|user| Jid::pn(&user.phone));
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(whatsapp_rust::wacore::request::RequestUtils::message_id_at(
            own.as_ref(),
            secs,
        ))
    }

    /// Sends `text` to `to` (already normalised) under a chosen message id,
    /// through whichever process owns the session; not after `expires_at`
    /// (`OTP_EXPIRED`).
    pub(crate) async fn send_prepared(
        &self,
        to: &str,
        text: &str,
        message_id: &str,
        expires_at: SystemTime,
    ) -> Result<()> {
        let command = Command::SendText {
            to: to.to_owned(),
            text: text.to_owned(),
            message_id: message_id.to_owned(),
        };
        let request = Request::new(&self.inner.id, command, None).expiring_at(expires_at);
        perform(&self.inner, request, REMOTE_SEND_WAIT)
            .await?
            .outcome
            .into_result()
    }

    /// Whether `phone` (already normalised) is on WhatsApp, answered from the
    /// gateway's cache when fresh.
    pub(crate) async fn is_on_whatsapp_cached(&self, digits: &str) -> Result<bool> {
        if let Some(known) = self.inner.context.on_whatsapp.get(digits) {
            return Ok(known);
        }
        let phone = digits.to_owned();
        let registered: bool = on_owner(
            &self.inner,
            Command::IsOnWhatsapp { phone },
            REMOTE_CALL_WAIT,
        )
        .await?;
        self.inner.context.on_whatsapp.put(digits, registered);
        Ok(registered)
    }

    /// Whether `phone` has a WhatsApp account.
    pub async fn is_on_whatsapp(&self, phone: &str) -> Result<bool> {
        let digits = self.inner.context.phones.normalize(phone)?;
        let command = Command::IsOnWhatsapp {
            phone: digits.clone(),
        };
        let registered: bool = on_owner(&self.inner, command, REMOTE_CALL_WAIT).await?;
        // Fresh answers feed the cache `send_otp` reads.
        self.inner.context.on_whatsapp.put(&digits, registered);
        Ok(registered)
    }

    /// The delivery record of a message sent through this session by any process.
    pub async fn message_status(&self, message_id: &str) -> Result<MessageRecord> {
        self.inner
            .context
            .deliveries
            .message_status(message_id)
            .await
    }
}

pub(super) async fn is_registered(client: &Client, digits: &str) -> Result<bool> {
    let results = client
        .contacts()
        .is_on_whatsapp(&[Jid::pn(digits)])
        .await
        .map_err(|e| Error::WhatsApp(format!("is_on_whatsapp: {e}")))?;
    Ok(results.iter().any(|r| r.is_registered))
}

impl SessionInner {
    /// Queues a delivery report from a client event (see [`crate::delivery`]).
    pub(crate) fn report_delivery(&self, message_id: &str, status: DeliveryStatus) {
        self.context.deliveries.queue(message_id, status);
    }

    pub(crate) async fn send_with_id(
        &self,
        client: &Client,
        to: &str,
        text: &str,
        id: String,
    ) -> Result<SentMessage> {
        // A new chat while new chats are limited is refused before anything
        // is sent or recorded: sending it would only meet a nack.
        self.check_new_chat(to).await?;
        self.context
            .deliveries
            .messages
            .begin(&id, self.id.as_str(), to);
        // WhatsApp lists the sender's own phone among the devices of every
        // message (the copy to its own devices), so a send to a number
        // without WhatsApp does not fail by itself: ask first (cached). A
        // failed lookup does not block the send.
        let registered = match self.context.on_whatsapp.get(to) {
            Some(known) => Some(known),
            None => is_registered(client, to).await.ok().inspect(|r| {
                self.context.on_whatsapp.put(to, *r);
            }),
        };
        if registered == Some(false) {
            let error = Error::NotOnWhatsapp(to.to_owned());
            let failed = DeliveryStatus::Failed {
                reason: error.to_string(),
            };
            self.context.deliveries.apply(&id, failed).await;
            return Err(error);
        }
        let message = wa::Message::text(text);
        let options = SendOptions::default().with_message_id(id.clone());
        match client
            .send_message_with_options(Jid::pn(to), message, options)
            .await
        {
            Ok(_) => Ok(SentMessage {
                id,
                to: to.to_owned(),
                newly_sent: true,
                session_id: self.id.to_string(),
            }),
            Err(e) => {
                let error = self.send_error(client, to, e).await;
                let failed = DeliveryStatus::Failed {
                    reason: error.to_string(),
                };
                self.context.deliveries.apply(&id, failed).await;
                Err(error)
            }
        }
    }

    /// Turns a whatsapp-rust send failure into the error a caller can act on.
    pub(super) async fn send_error(&self, client: &Client, to: &str, error: SendError) -> Error {
        match error {
            SendError::NotLoggedIn => Error::NotConnected {
                session: self.id.to_string(),
                state: "not logged in".into(),
            },
            other => {
                // A send to a number without WhatsApp fails as "no device to
                // encrypt for"; ask the server once to tell that apart from
                // other failures.
                let text = other.to_string();
                if (text.contains("encryption failed") || text.contains("no devices"))
                    && let Ok(false) = is_registered(client, to).await
                {
                    return Error::NotOnWhatsapp(to.to_owned());
                }
                if !client.is_connected() {
                    return Error::NotConnected {
                        session: self.id.to_string(),
                        state: "disconnected".into(),
                    };
                }
                Error::SendFailed(text)
            }
        }
    }

    /// Whether `digits` has a WhatsApp account, asked on this process's client.
    pub(crate) async fn registered_here(&self, digits: &str) -> Result<bool> {
        let client = self.connected_client()?;
        is_registered(&client, digits).await
    }
}
