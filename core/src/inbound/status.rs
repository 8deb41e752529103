//! What the application sees of an inbound verification: what to show the
//! user when it starts, and where it stands afterwards.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::QrCode;
use crate::otp::OtpState;

use super::record::InboundRecord;

/// A started inbound verification: show the user `link` (a button on a
/// phone) or `qr` (on a desktop, scanned with the phone), or ask them to
/// send `text` to the number. `Debug` leaves out the text and the link:
/// they carry the token.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundVerification {
    /// Its id, for [`crate::Gateway::inbound_verification_status`].
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// That number, E.164 digits.
    pub number: String,
    /// The text to send, token included (`Kode masuk: K7QF-M2XD`).
    pub text: String,
    /// `https://wa.me/<number>?text=<text>`: opens WhatsApp with the text
    /// written out.
    pub link: String,
    /// The link as a QR code (PNG, data URL, SVG, terminal renderings).
    pub qr: QrCode,
    /// When the token stops being accepted.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for InboundVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundVerification")
            .field("verification_id", &self.verification_id)
            .field("session_id", &self.session_id)
            .field("number", &self.number)
            .field("text", &"<redacted>")
            .field("link", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where an inbound verification stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundStatus {
    /// Its id.
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// `pending`, `approved`, `canceled`, `expired` or
    /// `max_attempts_reached` (too many messages from other numbers).
    pub state: OtpState,
    /// The number the message must come from, when one was given.
    pub expected_phone: Option<String>,
    /// Who sent the token (E.164 digits), once approved: with no expected
    /// number, this is the user's number (login with WhatsApp).
    pub sender: Option<String>,
    /// Messages with the token that were refused (another sender).
    pub attempts: u32,
    /// Refused messages allowed.
    pub max_attempts: u32,
    /// When it was started.
    pub created_at: SystemTime,
    /// When the token stops (or stopped) being accepted.
    pub expires_at: SystemTime,
    /// When it was approved.
    pub approved_at: Option<SystemTime>,
}

impl InboundStatus {
    /// Whether the user proved they hold the number.
    pub fn is_approved(&self) -> bool {
        self.state == OtpState::Approved
    }

    pub(crate) fn of(record: &InboundRecord, now_ms: u64) -> Self {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        InboundStatus {
            verification_id: record.verification_id.clone(),
            session_id: record.session_id.clone(),
            state: record.state_at(now_ms),
            expected_phone: record.expected.clone(),
            sender: record.sender.clone(),
            attempts: record.attempts,
            max_attempts: record.max_attempts,
            created_at: at(record.created_at_ms),
            expires_at: at(record.expires_at_ms),
            approved_at: record.approved_at_ms.map(at),
        }
    }
}
