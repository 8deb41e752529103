//! Inbound verification's results as Python classes (conversion only).

use std::time::SystemTime;

use pyo3::prelude::*;

use crate::types::QrCode;

/// A started inbound verification: show the user `link` or `qr`.
#[pyclass(frozen, get_all, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct InboundVerification {
    /// Its id, for `inbound_verification_status`.
    verification_id: String,
    /// The session whose number the user writes to.
    session_id: String,
    /// That number, E.164 digits.
    number: String,
    /// The text to send, token included.
    text: String,
    /// `https://wa.me/<number>?text=…`: opens WhatsApp with the text written out.
    link: String,
    /// The link as a QR code.
    qr: QrCode,
    /// When the token stops being accepted.
    expires_at: SystemTime,
}

#[pymethods]
impl InboundVerification {
    fn __repr__(&self) -> String {
        // The text and link carry the token: left out.
        format!(
            "InboundVerification(verification_id='{}', session_id='{}', number='{}')",
            self.verification_id, self.session_id, self.number
        )
    }
}

impl From<waotp::InboundVerification> for InboundVerification {
    fn from(v: waotp::InboundVerification) -> Self {
        InboundVerification {
            verification_id: v.verification_id,
            session_id: v.session_id,
            number: v.number,
            text: v.text,
            link: v.link,
            qr: QrCode::from(v.qr),
            expires_at: v.expires_at,
        }
    }
}

/// Where an inbound verification stands.
#[pyclass(frozen, get_all, eq, module = "waotp._native")]
#[derive(Clone, PartialEq)]
pub(crate) struct InboundStatus {
    /// Its id.
    verification_id: String,
    /// The session whose number the user writes to.
    session_id: String,
    /// `pending`, `approved`, `canceled`, `expired` or `max_attempts_reached`.
    status: String,
    /// The number the message must come from, when one was given.
    expected_phone: Option<String>,
    /// Who sent the token (E.164 digits), once approved.
    sender: Option<String>,
    /// Messages with the token from other numbers, refused.
    attempts: u32,
    /// Refused messages allowed.
    max_attempts: u32,
    /// When it was started.
    created_at: SystemTime,
    /// When the token stops (or stopped) being accepted.
    expires_at: SystemTime,
    /// When it was approved.
    approved_at: Option<SystemTime>,
}
crate::types::repr_of!(InboundStatus, "verification_id", "status", "sender");

impl From<waotp::InboundStatus> for InboundStatus {
    fn from(s: waotp::InboundStatus) -> Self {
        InboundStatus {
            verification_id: s.verification_id,
            session_id: s.session_id,
            status: s.state.as_str().to_owned(),
            expected_phone: s.expected_phone,
            sender: s.sender,
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            created_at: s.created_at,
            expires_at: s.expires_at,
            approved_at: s.approved_at,
        }
    }
}
