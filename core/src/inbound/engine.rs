//! Starts inbound verifications and applies the messages that carry their
//! tokens. One per gateway, beside the OTP engine: it stores tokens under
//! the OTP engine's secret and reads its clock, so a manual test clock
//! moves both.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::model::QrCode;
use crate::otp::{Clock, CodeHasher, CodeMac, OtpEngine, OtpState};

use super::link::{self, DEFAULT_TEMPLATE};
use super::record::{InboundRecord, RedeemOutcome};
use super::request::{DEFAULT_TTL, InboundRequest};
use super::status::{InboundStatus, InboundVerification};
use super::store::InboundStore;
use super::token::{self, InboundToken};

/// Messages with a verification's token from another number before the
/// token is dead: a few mistyped numbers, not a search for the right one.
pub const MAX_ATTEMPTS: u32 = 3;

/// How long a decided or expired verification stays readable.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// The MAC's "recipient" for tokens: codes are MACed with a phone number
/// (digits only), so no token MAC equals a code's.
const TOKEN_DOMAIN: &str = "inbound";

/// What one message did to the verification its token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// What it did.
    pub outcome: RedeemOutcome,
    /// The verification afterwards.
    pub record: InboundRecord,
}

/// Inbound verifications: start, apply a message, status, cancel.
#[derive(Debug, Clone)]
pub struct InboundEngine {
    store: Arc<dyn InboundStore>,
    hasher: CodeHasher,
    clock: Arc<dyn Clock>,
}

impl InboundEngine {
    /// An engine on `store`, with `otp`'s secret and clock.
    pub(crate) fn new(store: Arc<dyn InboundStore>, otp: &OtpEngine) -> Self {
        InboundEngine {
            store,
            hasher: otp.hasher().clone(),
            clock: otp.clock().clone(),
        }
    }

    fn mac(&self, token: &InboundToken) -> CodeMac {
        self.hasher.mac(TOKEN_DOMAIN, token.canonical().as_bytes())
    }

    /// Starts a verification on `session_id`, whose linked number is
    /// `number`; `expected` is the normalised expected number, if any.
    pub(crate) async fn start(
        &self,
        session_id: &str,
        number: &str,
        expected: Option<String>,
        request: &InboundRequest,
    ) -> Result<InboundVerification> {
        request.check()?;
        let token = InboundToken::generate()?;
        let now_ms = self.clock.now_ms();
        let ttl = request.ttl.unwrap_or(DEFAULT_TTL);
        let expires_at_ms = now_ms.saturating_add(ttl.as_millis() as u64);
        let record = InboundRecord {
            verification_id: uuid::Uuid::new_v4().to_string(),
            session_id: session_id.to_owned(),
            expected,
            token_mac: self.mac(&token),
            created_at_ms: now_ms,
            expires_at_ms,
            attempts: 0,
            max_attempts: MAX_ATTEMPTS,
            state: OtpState::Pending,
            sender: None,
            approved_at_ms: None,
            reply: request.reply.clone(),
        };
        self.store.put(&record).await?;
        let text = link::text(
            request.template.as_deref().unwrap_or(DEFAULT_TEMPLATE),
            &token,
        );
        let link = link::wa_me_link(number, &text);
        let expires_at = UNIX_EPOCH + Duration::from_millis(expires_at_ms);
        Ok(InboundVerification {
            verification_id: record.verification_id,
            session_id: session_id.to_owned(),
            number: number.to_owned(),
            text,
            qr: QrCode::new(link.clone(), expires_at),
            link,
            expires_at,
        })
    }

    /// Applies a text that `session_id` received from `sender` (E.164
    /// digits) to every verification whose token it carries. A text without
    /// a token costs a scan and no lookup.
    pub(crate) async fn apply_text(
        &self,
        session_id: &str,
        sender: &str,
        text: &str,
    ) -> Result<Vec<Applied>> {
        let mut applied = Vec::new();
        for token in token::candidates(text) {
            let now_ms = self.clock.now_ms();
            let redeemed = self
                .store
                .redeem(&self.mac(&token), session_id, sender, now_ms)
                .await?;
            if let Some(record) = redeemed.record {
                applied.push(Applied {
                    outcome: redeemed.outcome,
                    record,
                });
            }
        }
        Ok(applied)
    }

    /// Where the verification stands.
    pub(crate) async fn status(&self, verification_id: &str) -> Result<InboundStatus> {
        let record = self
            .store
            .get(verification_id)
            .await?
            .ok_or_else(|| not_found(verification_id))?;
        Ok(InboundStatus::of(&record, self.clock.now_ms()))
    }

    /// Cancels a pending verification; answers where it stands afterwards.
    pub(crate) async fn cancel(&self, verification_id: &str) -> Result<InboundStatus> {
        let now_ms = self.clock.now_ms();
        let record = self
            .store
            .cancel(verification_id, now_ms)
            .await?
            .ok_or_else(|| not_found(verification_id))?;
        Ok(InboundStatus::of(&record, now_ms))
    }

    /// Forgets verifications whose token expired more than [`RETENTION`]
    /// ago.
    pub(crate) async fn remove_old(&self) -> Result<usize> {
        let before = self
            .clock
            .now_ms()
            .saturating_sub(RETENTION.as_millis() as u64);
        self.store.remove_older_than(before).await
    }
}

fn not_found(verification_id: &str) -> Error {
    Error::OtpNotFound(format!(
        "no inbound verification {verification_id:?} (unknown, or forgotten an hour after it expired)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::store::MemoryInboundStore;
    use crate::otp::ManualClock;

    fn engine() -> (InboundEngine, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000)));
        let otp = OtpEngine::builder().clock(clock.clone()).build().unwrap();
        let store = Arc::new(MemoryInboundStore::new());
        (InboundEngine::new(store, &otp), clock)
    }

    /// The token in a started verification's text.
    fn token_of(started: &InboundVerification) -> String {
        started.text.rsplit(' ').next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_message_with_the_token_approves_and_reports_the_sender() {
        let (engine, _clock) = engine();
        let started = engine
            .start("shop", "6281111", None, &InboundRequest::new())
            .await
            .unwrap();
        assert!(started.text.starts_with("Kode masuk: "), "{}", started.text);
        assert!(
            started
                .link
                .starts_with("https://wa.me/6281111?text=Kode%20masuk%3A%20")
        );
        assert_eq!(started.qr.raw(), started.link);
        let token = token_of(&started);
        assert!(
            !format!("{started:?}").contains(&token),
            "the token stays out of Debug"
        );
        let pending = engine.status(&started.verification_id).await.unwrap();
        assert_eq!(pending.state, OtpState::Pending);

        let nothing = engine.apply_text("shop", "6282", "halo").await.unwrap();
        assert!(nothing.is_empty());
        let text = format!("Kode masuk: {}", token_of(&started).to_lowercase());
        let applied = engine.apply_text("shop", "6282", &text).await.unwrap();
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].outcome, RedeemOutcome::Approved);
        let done = engine.status(&started.verification_id).await.unwrap();
        assert!(done.is_approved());
        assert_eq!(done.sender.as_deref(), Some("6282"));
    }

    #[tokio::test]
    async fn the_clock_expires_it_and_old_ones_are_forgotten() {
        let (engine, clock) = engine();
        let request = InboundRequest::new().ttl(Duration::from_secs(60));
        let started = engine
            .start("shop", "6281111", None, &request)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(60));
        let late = engine
            .apply_text("shop", "6282", &started.text)
            .await
            .unwrap();
        assert_eq!(late[0].outcome, RedeemOutcome::Expired);
        let status = engine.status(&started.verification_id).await.unwrap();
        assert_eq!(status.state, OtpState::Expired);
        clock.advance(RETENTION + Duration::from_millis(1));
        assert_eq!(engine.remove_old().await.unwrap(), 1);
        let gone = engine.status(&started.verification_id).await.unwrap_err();
        assert_eq!(gone.code(), "OTP_NOT_FOUND");
    }

    #[tokio::test]
    async fn a_template_carries_the_token_and_bad_options_are_refused() {
        let (engine, _clock) = engine();
        let request = InboundRequest::new().template("Masuk ke Toko Sehat dengan {TOKEN} ya");
        let started = engine.start("shop", "62811", None, &request).await.unwrap();
        assert!(started.text.starts_with("Masuk ke Toko Sehat dengan "));
        assert!(started.text.ends_with(" ya"));
        let applied = engine
            .apply_text("shop", "6282", &started.text)
            .await
            .unwrap();
        assert_eq!(applied[0].outcome, RedeemOutcome::Approved);
        let bad = InboundRequest::new().template("no token here");
        let e = engine.start("shop", "62811", None, &bad).await.unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        let canceled = engine
            .start("shop", "62811", None, &InboundRequest::new())
            .await
            .unwrap();
        let status = engine.cancel(&canceled.verification_id).await.unwrap();
        assert_eq!(status.state, OtpState::Canceled);
    }
}
