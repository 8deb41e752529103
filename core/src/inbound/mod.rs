//! Inbound verification: the user sends the code.
//!
//! Sending a code to a new number is what WhatsApp limits on linked
//! accounts (463, 475) and what gets numbers banned. Turned around, the
//! user opens a `wa.me` link whose prefilled text carries a one-time token
//! and taps send; the linked number receives it. That message proves the
//! user holds the WhatsApp account, costs no new-chat quota, and opens a
//! chat, so later codes to the user go to a known contact.
//!
//! This folder holds the token ([`token`]: how it is made, shown and found
//! in a message), the text and link the user is given ([`link`]), a
//! verification as stored and the rule a message applies to it
//! ([`record`]), the stores ([`store`]: memory, SQLite, Redis), what an
//! application asks for and sees ([`InboundRequest`],
//! [`InboundVerification`], [`InboundStatus`]), and the engine that ties
//! them together ([`InboundEngine`]).
//!
//! Imports from the layers below: `error`, `model` (the QR code),
//! `platform`, `otp` (the MAC and secret, the states, the clock).

mod engine;
pub mod link;
pub mod record;
mod request;
mod status;
pub mod store;
pub mod token;

pub use engine::{Applied, InboundEngine, MAX_ATTEMPTS, RETENTION};
pub use request::{DEFAULT_TTL, InboundRequest, MAX_REPLY_LEN, MAX_TTL, MIN_TTL};
pub use status::{InboundStatus, InboundVerification};
