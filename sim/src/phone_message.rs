//! A protocol message the simulated phone (device 0 of an account) sends
//! one of its own companions over Signal: the app-state key share
//! (`keyshare.rs`) and the history sync (`history.rs`).

use wacore::libsignal::protocol::{PreKeyBundle, ProtocolAddress};
use wacore::messages::MessageUtils;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

use crate::state::{Shared, now_secs};
use crate::wire::{self, tag};

/// Encrypts `message` from `phone`'s account to its companion `device` and
/// answers the peer `<message>` stanza with `id`, for the caller to queue.
/// `bundle` starts the Signal session (the companion's freshly uploaded
/// keys); without it the session must already exist.
pub async fn encrypt(
    shared: &Shared,
    phone: &str,
    device: u32,
    bundle: Option<&PreKeyBundle>,
    id: String,
    message: &wa::Message,
) -> anyhow::Result<Node> {
    let store = shared.account_store(phone)?;
    let plaintext = MessageUtils::encode_and_pad(message);
    let remote = ProtocolAddress::new(&format!("companion-{phone}"), device.into());
    let (enc_type, ciphertext) = {
        let mut store = store.lock().await;
        if let Some(bundle) = bundle {
            store.start_session(&remote, bundle).await?;
        }
        store.encrypt(&remote, &plaintext).await?
    };
    Ok(NodeBuilder::new(tag::MESSAGE)
        .attrs([
            ("from", format!("{phone}@{}", wire::PN_SERVER)),
            ("id", id),
            ("type", "text".to_string()),
            ("category", "peer".to_string()),
            ("t", now_secs().to_string()),
        ])
        .children([NodeBuilder::new(tag::ENC)
            .attrs([("v", "2"), ("type", enc_type)])
            .bytes(ciphertext)
            .build()])
        .build())
}
