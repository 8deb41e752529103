//! Inbound verification's options and results as JavaScript objects
//! (conversion only).

use chrono::{DateTime, Utc};
use napi_derive::napi;

use crate::options::secs;
use crate::types::date;

/// Options of `startInboundVerification`; all optional.
#[napi(object)]
#[derive(Default)]
pub struct InboundOptions {
    /// Only a message from this number approves it (any phone form);
    /// without, any sender does and is reported (login with WhatsApp).
    pub expected_phone: Option<String>,
    /// The text the user sends; must contain `{TOKEN}` once.
    pub template: Option<String>,
    /// How long the token is accepted, 30–86400 seconds (default 600).
    pub ttl_secs: Option<f64>,
    /// A text sent to the user once approved (in the chat they opened).
    pub reply: Option<String>,
}

impl InboundOptions {
    /// The core request these options describe.
    pub(crate) fn to_request(&self) -> waotp::Result<waotp::InboundRequest> {
        let mut r = waotp::InboundRequest::new();
        if let Some(phone) = &self.expected_phone {
            r = r.expected_phone(phone.clone());
        }
        if let Some(template) = &self.template {
            r = r.template(template.clone());
        }
        if let Some(ttl) = self.ttl_secs {
            r = r.ttl(secs(ttl, "ttlSecs")?);
        }
        if let Some(reply) = &self.reply {
            r = r.reply(reply.clone());
        }
        Ok(r)
    }
}

/// A started inbound verification: show the user `link` or `qrCode`.
#[napi(object)]
pub struct InboundVerification {
    /// Its id, for `inboundVerificationStatus`.
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// That number, E.164 digits.
    pub number: String,
    /// The text to send, token included.
    pub text: String,
    /// `https://wa.me/<number>?text=…`: opens WhatsApp with the text written out.
    pub link: String,
    /// The link as a QR code: a PNG data URL.
    pub qr_code: String,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl InboundVerification {
    pub(crate) fn from_core(v: waotp::InboundVerification) -> waotp::Result<Self> {
        Ok(InboundVerification {
            qr_code: v.qr.png_data_url()?,
            verification_id: v.verification_id,
            session_id: v.session_id,
            number: v.number,
            text: v.text,
            link: v.link,
            expires_at: date(v.expires_at),
        })
    }
}

/// Where an inbound verification stands.
#[napi(object)]
pub struct InboundStatus {
    /// Its id.
    pub verification_id: String,
    /// The session whose number the user writes to.
    pub session_id: String,
    /// Where it stands.
    #[napi(ts_type = "'pending' | 'approved' | 'canceled' | 'expired' | 'max_attempts_reached'")]
    pub status: String,
    /// The number the message must come from, when one was given.
    pub expected_phone: Option<String>,
    /// Who sent the token (E.164 digits), once approved.
    pub sender: Option<String>,
    /// Messages with the token from other numbers, refused.
    pub attempts: u32,
    /// Refused messages allowed.
    pub max_attempts: u32,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When the token stops (or stopped) being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
}

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
            created_at: date(s.created_at),
            expires_at: date(s.expires_at),
            approved_at: s.approved_at.map(date),
        }
    }
}
