//! `waotp-server`: the REST API of the reference guide's WhatsApp OTP
//! gateway, served on the waotp library.
//!
//! Clients written against the guide (`http://localhost:3000/api/...`) keep
//! working unchanged: same routes, request fields, `{success, message, data}`
//! envelope, status codes and Indonesian messages (the routes, and where
//! they differ from the guide, are listed in this crate's `README.md`). On top
//! of them: verification, OTP status and cancel, message delivery status,
//! pairing codes, Prometheus metrics, and an API key.
//!
//! The binary (`src/main.rs`) parses its flags, opens a [`waotp::Gateway`]
//! and serves [`router`] with [`serve`]; tests serve the same in process.

#![warn(missing_docs)]

pub mod app;
pub mod auth;
pub mod cors;
pub mod envelope;
pub mod guard;
pub mod html_page;
pub mod inbound_page;
pub mod iso_time;
pub mod json_body;
pub mod openapi;
pub mod qr_page;
pub mod routes;
pub mod serve;
pub mod webhooks;

pub use app::{Settings, router};
pub use serve::{Limits, serve};
