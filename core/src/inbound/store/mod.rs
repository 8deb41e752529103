//! Where inbound verifications live: one trait, and a memory, a SQLite and
//! a Redis implementation, chosen as the OTP store is (one process, the
//! processes of one host, or any number of hosts).
//!
//! A verification is found by its id (status, cancel) and by its token's
//! MAC (a message carrying the token). Every method is one atomic step, so
//! two processes never both approve one token.

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::otp::CodeMac;

use super::record::{InboundRecord, RedeemOutcome};

pub mod memory;
pub mod redis;
pub mod sqlite;

pub use self::redis::RedisInboundStore;
pub use memory::MemoryInboundStore;
pub use sqlite::SqliteInboundStore;

/// What [`InboundStore::redeem`] did, and the verification afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// What the message did.
    pub outcome: RedeemOutcome,
    /// The verification the token names, as stored after the message
    /// (none when no verification has the token).
    pub record: Option<InboundRecord>,
}

impl Redeemed {
    /// No verification has the token.
    pub fn not_found() -> Self {
        Redeemed {
            outcome: RedeemOutcome::NotFound,
            record: None,
        }
    }
}

/// Storage of inbound verifications. Safe to share between threads; every
/// method is one atomic step.
#[async_trait]
pub trait InboundStore: Send + Sync + fmt::Debug {
    /// Stores a new verification. Its id and token MAC are fresh.
    async fn put(&self, record: &InboundRecord) -> Result<()>;

    /// The verification with this id.
    async fn get(&self, verification_id: &str) -> Result<Option<InboundRecord>>;

    /// A message from `sender`, received by `session_id` at `now_ms`,
    /// carried the token whose MAC is `token_mac`: applies
    /// [`super::record::apply_redeem`] to its verification.
    async fn redeem(
        &self,
        token_mac: &CodeMac,
        session_id: &str,
        sender: &str,
        now_ms: u64,
    ) -> Result<Redeemed>;

    /// Cancels a pending verification; answers it as stored afterwards
    /// (unchanged when it was no longer pending), or none if unknown.
    async fn cancel(&self, verification_id: &str, now_ms: u64) -> Result<Option<InboundRecord>>;

    /// Forgets verifications whose token expired before `before_ms`,
    /// whatever became of them; answers how many.
    async fn remove_older_than(&self, before_ms: u64) -> Result<usize>;
}

/// Cancels `record` if it is pending at `now_ms` (the rule every store runs).
pub(crate) fn apply_cancel(record: &mut InboundRecord, now_ms: u64) {
    if record.state_at(now_ms) == crate::otp::OtpState::Pending {
        record.state = crate::otp::OtpState::Canceled;
    }
}

/// Whether `record` may be forgotten at `before_ms`: its token expired
/// before then (an approval stays readable until the caller's grace after
/// the expiry has passed).
pub(crate) fn is_old(record: &InboundRecord, before_ms: u64) -> bool {
    record.expires_at_ms < before_ms
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The behaviour every store must have, run against each.

    use super::*;
    use crate::inbound::record::tests::record;
    use crate::otp::OtpState;

    /// Everything but the cleanup (Redis leaves that to key TTLs).
    pub(crate) async fn run_all(store: &dyn InboundStore) {
        put_get_and_redeem(store).await;
        wrong_sender_then_right(store).await;
        expiry_and_cancel(store).await;
    }

    /// After [`run_all`]: old records go, and their tokens with them.
    pub(crate) async fn cleanup(store: &dyn InboundStore) {
        // Every record of `run_all` expires at 601 000.
        assert_eq!(store.remove_older_than(601_000).await.unwrap(), 0);
        assert_eq!(store.remove_older_than(601_001).await.unwrap(), 4);
        assert_eq!(store.get("in-1").await.unwrap(), None);
        assert_eq!(
            store
                .redeem(&[11; 32], "shop", "6281", 601_002)
                .await
                .unwrap(),
            Redeemed::not_found()
        );
    }

    async fn put_get_and_redeem(store: &dyn InboundStore) {
        let r = record("in-1", Some("6281"), 11);
        store.put(&r).await.unwrap();
        assert_eq!(store.get("in-1").await.unwrap(), Some(r.clone()));
        assert_eq!(store.get("nope").await.unwrap(), None);
        assert_eq!(
            store
                .redeem(&[99; 32], "shop", "6281", 2_000)
                .await
                .unwrap(),
            Redeemed::not_found()
        );
        let done = store
            .redeem(&[11; 32], "shop", "6281", 2_000)
            .await
            .unwrap();
        assert_eq!(done.outcome, RedeemOutcome::Approved);
        let after = done.record.unwrap();
        assert_eq!(after.state, OtpState::Approved);
        assert_eq!(after.sender.as_deref(), Some("6281"));
        assert_eq!(store.get("in-1").await.unwrap(), Some(after));
        let again = store
            .redeem(&[11; 32], "shop", "6281", 2_500)
            .await
            .unwrap();
        assert_eq!(again.outcome, RedeemOutcome::Spent, "single use");
    }

    async fn wrong_sender_then_right(store: &dyn InboundStore) {
        store.put(&record("in-2", Some("6282"), 12)).await.unwrap();
        let wrong = store
            .redeem(&[12; 32], "shop", "6299", 2_000)
            .await
            .unwrap();
        assert_eq!(
            wrong.outcome,
            RedeemOutcome::WrongSender { attempts_left: 2 }
        );
        assert_eq!(wrong.record.unwrap().attempts, 1);
        let right = store
            .redeem(&[12; 32], "shop", "6282", 2_000)
            .await
            .unwrap();
        assert_eq!(right.outcome, RedeemOutcome::Approved);
    }

    async fn expiry_and_cancel(store: &dyn InboundStore) {
        store.put(&record("in-3", None, 13)).await.unwrap();
        let late = store
            .redeem(&[13; 32], "shop", "6283", 601_000)
            .await
            .unwrap();
        assert_eq!(late.outcome, RedeemOutcome::Expired);
        store.put(&record("in-4", None, 14)).await.unwrap();
        let canceled = store.cancel("in-4", 2_000).await.unwrap().unwrap();
        assert_eq!(canceled.state, OtpState::Canceled);
        assert_eq!(store.cancel("nope", 2_000).await.unwrap(), None);
        let spent = store
            .redeem(&[14; 32], "shop", "6284", 2_000)
            .await
            .unwrap();
        assert_eq!(spent.outcome, RedeemOutcome::Spent);
    }
}
