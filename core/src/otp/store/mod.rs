//! Where OTP records and rate-limit state live: one trait, and a memory, a
//! SQLite and a Redis implementation.
//!
//! [`MemoryStore`] serves one process; [`SqliteStore`] the processes of one
//! host that share a data dir; [`RedisStore`] processes on any number of
//! hosts that share a Redis server and key prefix.
//!
//! A store holds at most one record per recipient (a new code replaces the
//! old one) and only ever the code's MAC. Every method is one atomic step
//! (one lock, one IMMEDIATE transaction, one Lua script), which is what makes
//! concurrent guesses count and keeps limits exact across processes.
//!
//! The trait is async because the Redis store is a network round trip: it
//! must await its answer instead of blocking a tokio worker. The memory and
//! SQLite stores answer inline (a lock, or a transaction on a local file that
//! takes microseconds) rather than paying a thread hop per call.

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::DeliveryStatus;

use super::limiter::{Admission, Limits};
use super::mac::CodeMac;
use super::state::{OtpState, VerifyOutcome};

pub mod memory;
pub mod redis;
pub mod sqlite;

pub use self::redis::RedisStore;
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

/// Storage of OTP records and rate-limit state. Implementations must be safe
/// to share between threads; every method is one atomic step.
#[async_trait]
pub trait OtpStore: Send + Sync + fmt::Debug {
    /// Stores `record` as the only record of its recipient, replacing any other.
    async fn put(&self, record: &OtpRecord) -> Result<()>;

    /// The record of `recipient`, in whatever state.
    async fn get(&self, recipient: &str) -> Result<Option<OtpRecord>>;

    /// One guess, atomically: runs [`super::apply_check`] on the recipient's
    /// record with `candidate` and writes the result back before any other
    /// guess for the same recipient can read it.
    async fn check(&self, recipient: &str, candidate: &CodeMac, now_ms: u64)
    -> Result<CheckResult>;

    /// Marks the recipient's record canceled if it is pending at `now_ms`, and
    /// returns the record as it is afterwards (`None` if there is none).
    async fn cancel(&self, recipient: &str, now_ms: u64) -> Result<Option<OtpRecord>>;

    /// Puts `previous` back as the recipient's record if the record is still
    /// `verification_id` and pending at `now_ms`, else cancels nothing and
    /// keeps what is there; with no `previous`, cancels `verification_id` if
    /// it is still the pending one. One atomic step: it undoes a send that
    /// never went out without overwriting a newer send from another process.
    async fn withdraw(
        &self,
        recipient: &str,
        verification_id: &str,
        previous: Option<&OtpRecord>,
        now_ms: u64,
    ) -> Result<()>;

    /// Records the message that carried a verification's code (delivery status
    /// becomes pending unless already known). False if the verification is gone.
    async fn set_message_id(&self, verification_id: &str, message_id: &str) -> Result<bool>;

    /// Records that another session carries a verification's code now (a
    /// sender pool failing over), under a new message. False if the
    /// verification is gone. A store that does not implement it keeps the
    /// first session and records only the message.
    async fn set_sender(
        &self,
        verification_id: &str,
        session_id: &str,
        message_id: &str,
    ) -> Result<bool> {
        let _ = session_id;
        self.set_message_id(verification_id, message_id).await
    }

    /// Moves the delivery status of the OTP carried by `message_id` forward
    /// (see [`DeliveryStatus::advance`]). False if no OTP has that message.
    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<bool>;

    /// Deletes every record whose expiry is at or before `expired_before_ms`,
    /// and limit state that no longer limits anything at `now_ms`; returns
    /// how many records went.
    async fn remove_expired(
        &self,
        expired_before_ms: u64,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<usize>;

    /// Number of records held (any state).
    async fn len(&self) -> Result<usize>;

    /// Whether the store holds no record.
    async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Takes a send slot for `recipient` under `limits` (cooldown, then the
    /// window; see [`super::send_decision`]) and records it, or refuses.
    async fn take_send_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission>;

    /// Takes a verification slot for `recipient` (see
    /// [`super::window_decision`]) and records it, or refuses.
    async fn take_verify_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission>;

    /// Reserves the next send slot of `session_id` (see
    /// [`super::pace_decision`]); granted answers carry the wait.
    async fn reserve_pace(
        &self,
        session_id: &str,
        limits: &Limits,
        now_ms: u64,
        jitter_ms: u64,
    ) -> Result<Admission>;
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

    pub(crate) async fn run_all(store: &dyn OtpStore) {
        put_get_replace(store).await;
        check_counts_and_approves(store).await;
        cancel_and_delivery(store).await;
        cleanup(store).await;
        withdraw(store).await;
        limits(store).await;
        a_code_moves_to_another_sender(store).await;
    }

    /// A pool failing over: the same code, another session and message; the
    /// old message no longer reaches the record.
    async fn a_code_moves_to_another_sender(store: &dyn OtpStore) {
        store.put(&record("555", "v55", 10_000)).await.unwrap();
        assert!(store.set_message_id("v55", "msg-a").await.unwrap());
        assert!(store.set_sender("v55", "s2", "msg-b").await.unwrap());
        let r = store.get("555").await.unwrap().unwrap();
        assert_eq!(r.session_id, "s2");
        assert_eq!(r.message_id.as_deref(), Some("msg-b"));
        assert_eq!(r.mac, [7; 32], "the same code");
        assert!(
            !store
                .record_delivery("msg-a", &DeliveryStatus::Delivered)
                .await
                .unwrap(),
            "the first message is no longer the code's"
        );
        assert!(
            store
                .record_delivery("msg-b", &DeliveryStatus::Delivered)
                .await
                .unwrap()
        );
        assert!(!store.set_sender("v-gone", "s2", "msg-c").await.unwrap());
    }

    async fn put_get_replace(store: &dyn OtpStore) {
        let a = record("111", "va", 10_000);
        store.put(&a).await.unwrap();
        assert_eq!(store.get("111").await.unwrap().unwrap(), a);
        let b = record("111", "vb", 20_000);
        store.put(&b).await.unwrap();
        assert_eq!(
            store.get("111").await.unwrap().unwrap(),
            b,
            "a new code replaces the old one"
        );
        assert!(
            !store.set_message_id("va", "m-old").await.unwrap(),
            "replaced id is gone"
        );
        assert!(store.get("999").await.unwrap().is_none());
    }

    async fn check_counts_and_approves(store: &dyn OtpStore) {
        store.put(&record("222", "v2", 10_000)).await.unwrap();
        let wrong = store.check("222", &[0; 32], 200).await.unwrap();
        assert_eq!(wrong.outcome, VerifyOutcome::Invalid { attempts_left: 2 });
        assert_eq!(wrong.verification_id.as_deref(), Some("v2"));
        assert_eq!(wrong.session_id.as_deref(), Some("s1"));
        assert_eq!(store.get("222").await.unwrap().unwrap().attempts, 1);
        assert_eq!(
            store.check("222", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::Approved
        );
        assert_eq!(
            store.check("222", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::NotFound
        );
        assert_eq!(
            store.get("222").await.unwrap().unwrap().state,
            OtpState::Approved
        );
        assert_eq!(
            store.check("nobody", &[7; 32], 200).await.unwrap(),
            CheckResult::not_found()
        );
        // Expired at exactly expires_at.
        store.put(&record("223", "v3", 300)).await.unwrap();
        assert_eq!(
            store.check("223", &[7; 32], 300).await.unwrap().outcome,
            VerifyOutcome::Expired
        );
        assert_eq!(
            store.get("223").await.unwrap().unwrap().state,
            OtpState::Expired
        );
        // The store agrees with the shared rule.
        let mut r = record("224", "v4", 10_000);
        store.put(&r).await.unwrap();
        for _ in 0..5 {
            let expect = apply_check(&mut r, &[1; 32], 200).0;
            assert_eq!(
                store.check("224", &[1; 32], 200).await.unwrap().outcome,
                expect
            );
        }
        assert_eq!(store.get("224").await.unwrap().unwrap(), r);
    }

    async fn cancel_and_delivery(store: &dyn OtpStore) {
        store.put(&record("333", "v33", 10_000)).await.unwrap();
        assert!(store.set_message_id("v33", "msg-33").await.unwrap());
        let r = store.get("333").await.unwrap().unwrap();
        assert_eq!(r.message_id.as_deref(), Some("msg-33"));
        assert_eq!(r.delivery, Some(DeliveryStatus::Pending));
        assert!(
            store
                .record_delivery("msg-33", &DeliveryStatus::Delivered)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_delivery("msg-33", &DeliveryStatus::Sent)
                .await
                .unwrap()
        );
        assert_eq!(
            store.get("333").await.unwrap().unwrap().delivery,
            Some(DeliveryStatus::Delivered)
        );
        assert!(
            !store
                .record_delivery("msg-unknown", &DeliveryStatus::Read)
                .await
                .unwrap()
        );
        let failed = DeliveryStatus::Failed {
            reason: "479".into(),
        };
        store.put(&record("334", "v34", 10_000)).await.unwrap();
        store.set_message_id("v34", "msg-34").await.unwrap();
        store.record_delivery("msg-34", &failed).await.unwrap();
        assert_eq!(
            store.get("334").await.unwrap().unwrap().delivery,
            Some(failed)
        );

        let c = store.cancel("333", 200).await.unwrap().unwrap();
        assert_eq!(c.state, OtpState::Canceled);
        assert_eq!(
            store.check("333", &[7; 32], 200).await.unwrap().outcome,
            VerifyOutcome::NotFound
        );
        assert!(store.cancel("nobody", 200).await.unwrap().is_none());
        // Canceling an expired record leaves it expired.
        store.put(&record("335", "v35", 300)).await.unwrap();
        assert_eq!(
            store.cancel("335", 400).await.unwrap().unwrap().state,
            OtpState::Pending
        );
    }

    async fn cleanup(store: &dyn OtpStore) {
        let before = store.len().await.unwrap();
        store.put(&record("444", "v44", 50)).await.unwrap();
        store.put(&record("445", "v45", 1_000_000)).await.unwrap();
        store.set_message_id("v44", "msg-44").await.unwrap();
        assert_eq!(store.len().await.unwrap(), before + 2);
        let removed = store.remove_expired(60, &Limits::none(), 0).await.unwrap();
        assert_eq!(removed, 1);
        assert!(store.get("444").await.unwrap().is_none());
        assert!(
            !store
                .record_delivery("msg-44", &DeliveryStatus::Read)
                .await
                .unwrap()
        );
        assert!(store.get("445").await.unwrap().is_some());
        store
            .remove_expired(u64::MAX / 4, &Limits::none(), 0)
            .await
            .unwrap();
        assert!(store.is_empty().await.unwrap());
    }

    async fn withdraw(store: &dyn OtpStore) {
        // No previous code: the withdrawn one is canceled.
        store.put(&record("555", "v55", 10_000)).await.unwrap();
        store.withdraw("555", "v55", None, 200).await.unwrap();
        assert_eq!(
            store.get("555").await.unwrap().unwrap().state,
            OtpState::Canceled
        );
        // A previous code comes back.
        let previous = record("556", "v56-old", 10_000);
        store.put(&record("556", "v56", 10_000)).await.unwrap();
        store
            .withdraw("556", "v56", Some(&previous), 200)
            .await
            .unwrap();
        assert_eq!(store.get("556").await.unwrap().unwrap(), previous);
        // A newer send is left alone.
        store
            .put(&record("557", "v57-newer", 10_000))
            .await
            .unwrap();
        store.withdraw("557", "v57", None, 200).await.unwrap();
        let kept = store.get("557").await.unwrap().unwrap();
        assert_eq!(
            (kept.verification_id.as_str(), kept.state),
            ("v57-newer", OtpState::Pending)
        );
    }

    async fn limits(store: &dyn OtpStore) {
        use crate::otp::limiter::{LimitRule, RateWindow};
        use std::time::Duration;
        let limits = Limits {
            sends_per_recipient: Some(RateWindow::new(3, Duration::from_secs(60))),
            resend_cooldown: Duration::from_secs(10),
            verifies_per_recipient: Some(RateWindow::new(2, Duration::from_secs(600))),
            session_pacing: Some(crate::otp::Pacing {
                min_gap: Duration::from_secs(1),
                jitter: Duration::from_millis(500),
                max_wait: Duration::from_secs(2),
            }),
        };
        let t0 = 1_000_000;
        assert_eq!(
            store.take_send_slot("666", &limits, t0).await.unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 4_000)
                .await
                .unwrap(),
            Admission::Refused {
                rule: LimitRule::ResendCooldown,
                retry_after_ms: 6_000
            }
        );
        assert_eq!(
            store.take_send_slot("667", &limits, t0).await.unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 10_000)
                .await
                .unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 20_000)
                .await
                .unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 30_000)
                .await
                .unwrap(),
            Admission::Refused {
                rule: LimitRule::SendsPerRecipient,
                retry_after_ms: 30_000
            }
        );
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 60_000)
                .await
                .unwrap(),
            Admission::GO
        );

        assert_eq!(
            store.take_verify_slot("666", &limits, t0).await.unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_verify_slot("666", &limits, t0 + 1)
                .await
                .unwrap(),
            Admission::GO
        );
        assert_eq!(
            store
                .take_verify_slot("666", &limits, t0 + 100_000)
                .await
                .unwrap(),
            Admission::Refused {
                rule: LimitRule::VerifiesPerRecipient,
                retry_after_ms: 500_000
            }
        );

        let pace = |jitter| store.reserve_pace("s-limits", &limits, t0, jitter);
        assert_eq!(pace(0).await.unwrap(), Admission::Granted { wait_ms: 0 });
        assert_eq!(
            pace(9_999).await.unwrap(),
            Admission::Granted { wait_ms: 1_000 }
        );
        // Jitter is capped at 500 ms: the next slot is 2.5 s away, past max_wait.
        assert_eq!(
            pace(0).await.unwrap(),
            Admission::Refused {
                rule: LimitRule::SessionPacing,
                retry_after_ms: 500
            }
        );
        assert_eq!(
            store.reserve_pace("s-other", &limits, t0, 0).await.unwrap(),
            Admission::Granted { wait_ms: 0 }
        );
        // Idle limit state goes with the cleanup, records stay.
        store
            .remove_expired(0, &limits, t0 + 10_000_000)
            .await
            .unwrap();
        assert_eq!(
            store
                .take_send_slot("666", &limits, t0 + 10_000_000)
                .await
                .unwrap(),
            Admission::GO
        );
    }
}
