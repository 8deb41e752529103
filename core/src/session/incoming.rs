//! Texts users send the linked number. Only the process that owns the
//! session's connection receives them, so each is read once.
//!
//! Every sender becomes a known contact of the number (a chat exists now,
//! so codes to them are no new chat), and a text that carries an inbound
//! verification's token is applied to it. The sender is a phone number:
//! a message from a LID-addressed user names the number beside the LID
//! (`sender_pn`), or whatsapp-rust's LID↔PN mapping knows it; a sender
//! that maps to no number is refused, never guessed.

use std::sync::Arc;

use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore::types::events::InboundMessage;
use whatsapp_rust::{Client, Jid, Server};

use crate::events::Event;
use crate::inbound::record::RedeemOutcome;
use crate::otp::{ConversionEvent, VerifyMethod, VerifyOutcome};

use super::Session;
use super::SessionInner;

impl SessionInner {
    /// Handles incoming messages in the background (the event handler
    /// must not wait).
    pub(super) fn on_incoming(
        self: &Arc<Self>,
        messages: Vec<InboundMessage>,
        client: Option<Arc<Client>>,
    ) {
        let session = Arc::downgrade(self);
        tokio::spawn(async move {
            for message in messages {
                let Some(session) = session.upgrade() else {
                    return;
                };
                session.read_incoming(&message, client.as_deref()).await;
            }
        });
    }

    async fn read_incoming(self: &Arc<Self>, message: &InboundMessage, client: Option<&Client>) {
        let source = &message.info.source;
        // Only a user's own chat with the number: not the number's other
        // devices, not groups, not status updates or broadcast lists.
        if source.is_from_me || source.is_group || source.chat.server == Server::Broadcast {
            return;
        }
        let Some(sender) = sender_phone(&source.sender, source.sender_alt.as_ref(), client).await
        else {
            log::info!(
                "session {}: message {} from a sender with no known phone number ignored",
                self.id,
                message.info.id
            );
            return;
        };
        self.add_known_contact(&sender);
        let Some(text) = message.message.text_content() else {
            return;
        };
        let applied = match self
            .context
            .inbound
            .apply_text(self.id.as_str(), &sender, text)
            .await
        {
            Ok(applied) => applied,
            Err(e) => {
                log::warn!(
                    "session {}: checking an incoming text for a token failed: {e}",
                    self.id
                );
                return;
            }
        };
        for done in applied {
            let verification_id = done.record.verification_id.clone();
            match done.outcome {
                RedeemOutcome::Approved => {
                    log::info!(
                        "session {}: inbound verification {verification_id} approved",
                        self.id
                    );
                    self.context
                        .otp
                        .stats()
                        .record_conversion(self.id.as_str(), ConversionEvent::ApprovedInbound);
                    self.context.emit(Event::OtpVerified {
                        to: sender.clone(),
                        verification_id: Some(verification_id),
                        outcome: VerifyOutcome::Approved,
                        method: VerifyMethod::Inbound,
                    });
                    if let Some(reply) = &done.record.reply {
                        self.send_reply(&sender, reply).await;
                    }
                }
                other => log::info!(
                    "session {}: a token for inbound verification {verification_id} refused: {other:?}",
                    self.id
                ),
            }
        }
    }

    /// The reply to an approved verification, in the chat the user opened.
    async fn send_reply(self: &Arc<Self>, to: &str, text: &str) {
        let session = Session {
            inner: self.clone(),
        };
        if let Err(e) = session.send_text(to, text, None).await {
            log::warn!(
                "session {}: the reply to an inbound verification failed: {e}",
                self.id
            );
        }
    }
}

/// The phone number (E.164 digits) behind a message's sender.
async fn sender_phone(sender: &Jid, alt: Option<&Jid>, client: Option<&Client>) -> Option<String> {
    match sender.server {
        Server::Pn => return Some(sender.user.to_string()),
        Server::Lid => {}
        _ => return None,
    }
    if let Some(alt) = alt.filter(|j| j.server == Server::Pn) {
        return Some(alt.user.to_string());
    }
    let entry = client?.get_lid_pn_entry(sender).await.ok()??;
    Some(entry.phone_number.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn a_sender_is_a_phone_number_or_nothing() {
        let pn = jid("6281234567890@s.whatsapp.net");
        let lid = jid("200000000000123@lid");
        assert_eq!(
            sender_phone(&pn, None, None).await.as_deref(),
            Some("6281234567890")
        );
        assert_eq!(
            sender_phone(&lid, Some(&pn), None).await.as_deref(),
            Some("6281234567890"),
            "a LID with the phone beside it"
        );
        // A LID with no number beside it and no client to ask: refused.
        assert_eq!(sender_phone(&lid, None, None).await, None);
        assert_eq!(sender_phone(&lid, Some(&lid), None).await, None);
        assert_eq!(sender_phone(&jid("1203630@g.us"), None, None).await, None);
    }
}
