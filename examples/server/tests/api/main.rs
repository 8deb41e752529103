//! The REST API against the real whatsapp-rust client and the loopback
//! simulator: every route's success shape and error answers, over HTTP.

mod harness;

mod browser;
mod edges;
mod guide_flows;
mod inbound;
mod messages;
mod open_network;
mod openapi;
mod otp;
mod parsing;
mod sessions;
