//! Where OTP records live: one trait, a memory and a SQLite implementation.
//!
//! A store holds at most one record per recipient (a new code replaces the
//! old one) and only ever the code's MAC. Methods are synchronous: both
//! stores answer in microseconds, and a synchronous trait keeps the atomic
//! verification step ([`OtpStore::check`]) a single call under one lock or one
//! IMMEDIATE transaction, which is what makes concurrent guesses count.

use std::fmt;

use crate::delivery::DeliveryStatus;
use crate::error::Result;

use super::mac::CodeMac;
use super::state::{OtpState, VerifyOutcome};

pub mod memory;
pub mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// One issued OTP as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpRecord {
    /// Unique id of this issuance (UUID v4).
    pub verification_id: String,
    /// Normalised recipient (E.164 digits); the key of the store.
    pub recipient: String,
    /// Session that sends the code.
    pub session_id: String,
    /// `HMAC-SHA256(secret, recipient ‖ 0 ‖ code)`.
    pub mac: CodeMac,
    /// When it was issued, Unix ms.
    pub created_at_ms: u64,
    /// When it stops being accepted, Unix ms.
    pub expires_at_ms: u64,
    /// Codes checked so far.
    pub attempts: u32,
    /// Codes that may be checked in total.
    pub max_attempts: u32,
    /// Stored state (see [`super::effective_state`] for the state at a given time).
    pub state: OtpState,
    /// WhatsApp message id of the message that carried the code, once sent.
    pub message_id: Option<String>,
    /// Delivery status of that message.
    pub delivery: Option<DeliveryStatus>,
    /// The idempotency key the issuance was requested with.
    pub idempotency_key: Option<String>,
}

impl fmt::Debug for OtpRecord {
    // The MAC is left out: it is not the code, but nobody needs to see it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpRecord")
            .field("verification_id", &self.verification_id)
            .field("recipient", &self.recipient)
            .field("session_id", &self.session_id)
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("state", &self.state)
            .field("message_id", &self.message_id)
            .field("delivery", &self.delivery)
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

/// The answer of [`OtpStore::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What the guess found.
    pub outcome: VerifyOutcome,
    /// The verification it was checked against (none when nothing was found).
    pub verification_id: Option<String>,
    /// The session that sent that verification.
    pub session_id: Option<String>,
}

impl CheckResult {
    /// Nothing to check against.
    pub fn not_found() -> Self {
        CheckResult {
            outcome: VerifyOutcome::NotFound,
            verification_id: None,
            session_id: None,
        }
    }

    pub(crate) fn of(record: &OtpRecord, outcome: VerifyOutcome) -> Self {
        CheckResult {
            outcome,
            verification_id: Some(record.verification_id.clone()),
            session_id: Some(record.session_id.clone()),
        }
    }
}

/// Storage of OTP records. Implementations must be safe to share between
/// threads; every method is one atomic step.
pub trait OtpStore: Send + Sync + fmt::Debug {
    /// Stores `record` as the only record of its recipient, replacing any other.
    fn put(&self, record: &OtpRecord) -> Result<()>;

    /// The record of `recipient`, in whatever state.
    fn get(&self, recipient: &str) -> Result<Option<OtpRecord>>;

    /// One guess, atomically: runs [`super::apply_check`] on the recipient's
    /// record with `candidate` and writes the result back before any other
    /// guess for the same recipient can read it.
    fn check(&self, recipient: &str, candidate: &CodeMac, now_ms: u64) -> Result<CheckResult>;

    /// Marks the recipient's record canceled if it is pending at `now_ms`, and
    /// returns the record as it is afterwards (`None` if there is none).
    fn cancel(&self, recipient: &str, now_ms: u64) -> Result<Option<OtpRecord>>;

    /// Records the message that carried a verification's code (delivery status
    /// becomes pending unless already known). False if the verification is gone.
    fn set_message_id(&self, verification_id: &str, message_id: &str) -> Result<bool>;

    /// Moves the delivery status of the OTP carried by `message_id` forward
    /// (see [`DeliveryStatus::advance`]). False if no OTP has that message.
    fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<bool>;

    /// Deletes every record whose expiry is at or before `expired_before_ms`;
    /// returns how many went.
    fn remove_expired(&self, expired_before_ms: u64) -> Result<usize>;

    /// Number of records held (any state).
    fn len(&self) -> Result<usize>;

    /// Whether the store holds no record.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The same behaviour checks, run against every store.

    use super::*;
    use crate::otp::state::apply_check;

    pub(crate) fn record(recipient: &str, vid: &str, expires_at_ms: u64) -> OtpRecord {
        OtpRecord {
            verification_id: vid.into(),
            recipient: recipient.into(),
            session_id: "s1".into(),
            mac: [7; 32],
            created_at_ms: 100,
            expires_at_ms,
            attempts: 0,
            max_attempts: 3,
            state: OtpState::Pending,
            message_id: None,
            delivery: None,
            idempotency_key: Some("k".into()),
        }
    }

    pub(crate) fn run_all(store: &dyn OtpStore) {
        put_get_replace(store);
        check_counts_and_approves(store);
        cancel_and_delivery(store);
        cleanup(store);
    }

    fn put_get_replace(store: &dyn OtpStore) {
        let a = record("111", "va", 10_000);
        store.put(&a).unwrap();
        assert_eq!(store.get("111").unwrap().unwrap(), a);
        let b = record("111", "vb", 20_000);
        store.put(&b).unwrap();
        assert_eq!(
            store.get("111").unwrap().unwrap(),
            b,
            "a new code replaces the old one"
        );
        assert!(
            !store.set_message_id("va", "m-old").unwrap(),
            "replaced id is gone"
        );
        assert!(store.get("999").unwrap().is_none());
    }

    fn check_counts_and_approves(store: &dyn OtpStore) {
        store.put(&record("222", "v2", 10_000)).unwrap();
        let wrong = store.check("222", &[0; 32], 200).unwrap();
        assert_eq!(wrong.outcome, VerifyOutcome::Invalid { attempts_left: 2 });
        assert_eq!(wrong.verification_id.as_deref(), Some("v2"));
        assert_eq!(wrong.session_id.as_deref(), Some("s1"));
        assert_eq!(store.get("222").unwrap().unwrap().attempts, 1);
        assert_eq!(
            store.check("222", &[7; 32], 200).unwrap().outcome,
            VerifyOutcome::Approved
        );
        assert_eq!(
            store.check("222", &[7; 32], 200).unwrap().outcome,
            VerifyOutcome::NotFound
        );
        assert_eq!(store.get("222").unwrap().unwrap().state, OtpState::Approved);
        assert_eq!(
            store.check("nobody", &[7; 32], 200).unwrap(),
            CheckResult::not_found()
        );
        // Expired at exactly expires_at.
        store.put(&record("223", "v3", 300)).unwrap();
        assert_eq!(
            store.check("223", &[7; 32], 300).unwrap().outcome,
            VerifyOutcome::Expired
        );
        assert_eq!(store.get("223").unwrap().unwrap().state, OtpState::Expired);
        // The store agrees with the shared rule.
        let mut r = record("224", "v4", 10_000);
        store.put(&r).unwrap();
        for _ in 0..5 {
            let expect = apply_check(&mut r, &[1; 32], 200).0;
            assert_eq!(store.check("224", &[1; 32], 200).unwrap().outcome, expect);
        }
        assert_eq!(store.get("224").unwrap().unwrap(), r);
    }

    fn cancel_and_delivery(store: &dyn OtpStore) {
        store.put(&record("333", "v33", 10_000)).unwrap();
        assert!(store.set_message_id("v33", "msg-33").unwrap());
        let r = store.get("333").unwrap().unwrap();
        assert_eq!(r.message_id.as_deref(), Some("msg-33"));
        assert_eq!(r.delivery, Some(DeliveryStatus::Pending));
        assert!(
            store
                .record_delivery("msg-33", &DeliveryStatus::Delivered)
                .unwrap()
        );
        assert!(
            store
                .record_delivery("msg-33", &DeliveryStatus::Sent)
                .unwrap()
        );
        assert_eq!(
            store.get("333").unwrap().unwrap().delivery,
            Some(DeliveryStatus::Delivered)
        );
        assert!(
            !store
                .record_delivery("msg-unknown", &DeliveryStatus::Read)
                .unwrap()
        );
        let failed = DeliveryStatus::Failed {
            reason: "479".into(),
        };
        store.put(&record("334", "v34", 10_000)).unwrap();
        store.set_message_id("v34", "msg-34").unwrap();
        store.record_delivery("msg-34", &failed).unwrap();
        assert_eq!(store.get("334").unwrap().unwrap().delivery, Some(failed));

        let c = store.cancel("333", 200).unwrap().unwrap();
        assert_eq!(c.state, OtpState::Canceled);
        assert_eq!(
            store.check("333", &[7; 32], 200).unwrap().outcome,
            VerifyOutcome::NotFound
        );
        assert!(store.cancel("nobody", 200).unwrap().is_none());
        // Canceling an expired record leaves it expired.
        store.put(&record("335", "v35", 300)).unwrap();
        assert_eq!(
            store.cancel("335", 400).unwrap().unwrap().state,
            OtpState::Pending
        );
    }

    fn cleanup(store: &dyn OtpStore) {
        let before = store.len().unwrap();
        store.put(&record("444", "v44", 50)).unwrap();
        store.put(&record("445", "v45", 1_000_000)).unwrap();
        store.set_message_id("v44", "msg-44").unwrap();
        assert_eq!(store.len().unwrap(), before + 2);
        let removed = store.remove_expired(60).unwrap();
        assert_eq!(removed, 1);
        assert!(store.get("444").unwrap().is_none());
        assert!(
            !store
                .record_delivery("msg-44", &DeliveryStatus::Read)
                .unwrap()
        );
        assert!(store.get("445").unwrap().is_some());
        store.remove_expired(u64::MAX / 4).unwrap();
        assert!(store.is_empty().unwrap());
    }
}
