//! Armed one-shot faults and the record of what each one hit.
//!
//! The client sends requests of its own in the background after login
//! (prekey counts, app-state syncs, props, privacy). A fault meant for one
//! request must not be spent on whichever stanza happens to come first, so
//! each fault says what it is aimed at: an IQ fault names its `xmlns` (and
//! optionally the linked account), a message fault names the recipient. The
//! simulator logs every hit, so a test can check the fault met its target.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A delay armed for the next IQ that matches it.
#[derive(Debug, Clone)]
pub struct SlowIq {
    /// Linked account whose connection is slowed (`None`: any connection).
    pub phone: Option<String>,
    /// The IQ's `xmlns` (e.g. `usync`; `None`: any IQ).
    pub xmlns: Option<String>,
    /// The `context` of the IQ's query (`None`: any).
    pub context: Option<String>,
    /// How long the answer is held back.
    pub delay: Duration,
}

impl SlowIq {
    /// Whether an IQ on a connection of `phone`, with `xmlns` and query
    /// `context`, is this fault's target.
    pub fn matches(&self, phone: Option<&str>, xmlns: &str, context: Option<&str>) -> bool {
        let phone_ok = self.phone.is_none() || self.phone.as_deref() == phone;
        let xmlns_ok = self.xmlns.as_deref().is_none_or(|x| x == xmlns);
        let context_ok = self.context.is_none() || self.context.as_deref() == context;
        phone_ok && xmlns_ok && context_ok
    }
}

/// The `context` attribute of an IQ's query child, where it has one: usync
/// queries say `interactive` (asked for by the user, e.g. `is_on_whatsapp`),
/// `message` (device lookups before a send) or `background` (the client's
/// own syncs).
pub fn query_context(iq: &wacore_binary::Node) -> Option<String> {
    iq.children()?
        .iter()
        .find_map(|child| child.attrs.get("context").map(|v| v.to_string()))
}

/// One fault that took effect, as `Simulator::fault_hits` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultHit {
    /// `slow_iq` or `error_ack`.
    pub kind: String,
    /// The linked account whose stanza was hit.
    pub phone: Option<String>,
    /// What the stanza was: the IQ's `xmlns`, or the message's recipient.
    pub target: String,
    /// The IQ query's `context` (usync), if it had one.
    pub context: Option<String>,
    /// The stanza id (IQ id or message id).
    pub stanza_id: String,
}
