//! Session health: what WhatsApp lets a linked number do now.
//!
//! WhatsApp limits linked accounts on new chats (a reachout timelock, a
//! quota per cycle), bans them for a while, or removes the device; a code
//! is a new chat until its recipient has one with the number. `signals`
//! reads what WhatsApp says into signals, `tracker` keeps each session's
//! limits (with their ends) and the recipients its number has a chat with,
//! and answers whether a message to a recipient may go. The session layer
//! feeds it from the client's events and asks it before every send.
//!
//! Imports only from [`crate::model`] and [`crate::platform`].

pub(crate) mod signals;
pub(crate) mod tracker;

pub(crate) use signals::Signal;
pub(crate) use tracker::{HealthTracker, Refusal};
