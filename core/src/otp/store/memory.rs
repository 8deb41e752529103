//! In-process store: a map behind one mutex.
//!
//! One lock for everything is deliberate: each operation is a few hash-map
//! lookups (well under a microsecond), so contention costs less than the
//! bookkeeping of sharding would, and a single lock makes every operation,
//! including a guess, trivially atomic.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::error::Result;
use crate::model::DeliveryStatus;
use crate::otp::limiter::{Admission, Limiter, Limits};
use crate::otp::mac::CodeMac;
use crate::otp::state::{OtpState, apply_check, effective_state};
use crate::platform::sync;

use super::{CheckResult, OtpRecord, OtpStore};

#[derive(Debug, Default)]
struct Maps {
    by_recipient: HashMap<String, OtpRecord>,
    /// verification id → recipient
    by_verification: HashMap<String, String>,
    /// message id → recipient
    by_message: HashMap<String, String>,
}

impl Maps {
    fn insert(&mut self, record: &OtpRecord) {
        if let Some(old) = self.by_recipient.remove(&record.recipient) {
            self.unindex(&old);
        }
        // A verification id is unique; if it were reused for another recipient,
        // that recipient's record would be orphaned in the index.
        if let Some(other) = self.by_verification.remove(&record.verification_id)
            && let Some(old) = self.by_recipient.remove(&other)
        {
            self.unindex(&old);
        }
        self.by_verification
            .insert(record.verification_id.clone(), record.recipient.clone());
        if let Some(msg) = &record.message_id {
            self.by_message
                .insert(msg.clone(), record.recipient.clone());
        }
        self.by_recipient
            .insert(record.recipient.clone(), record.clone());
    }

    fn unindex(&mut self, old: &OtpRecord) {
        self.by_verification.remove(&old.verification_id);
        if let Some(m) = &old.message_id {
            self.by_message.remove(m);
        }
    }
}

/// Records in memory; lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    maps: Mutex<Maps>,
    limiter: Limiter,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock cannot leave a half-applied guess
        // (every mutation is a plain field store), so the data stays usable.
        sync::lock(&self.maps)
    }
}

#[async_trait]
impl OtpStore for MemoryStore {
    async fn put(&self, record: &OtpRecord) -> Result<()> {
        self.lock().insert(record);
        Ok(())
    }

    async fn get(&self, recipient: &str) -> Result<Option<OtpRecord>> {
        Ok(self.lock().by_recipient.get(recipient).cloned())
    }

    async fn check(
        &self,
        recipient: &str,
        candidate: &CodeMac,
        now_ms: u64,
    ) -> Result<CheckResult> {
        let mut m = self.lock();
        Ok(match m.by_recipient.get_mut(recipient) {
            None => CheckResult::not_found(),
            Some(rec) => {
                let (outcome, _) = apply_check(rec, candidate, now_ms);
                CheckResult::of(rec, outcome)
            }
        })
    }

    async fn cancel(&self, recipient: &str, now_ms: u64) -> Result<Option<OtpRecord>> {
        let mut m = self.lock();
        Ok(m.by_recipient.get_mut(recipient).map(|rec| {
            if effective_state(rec, now_ms) == OtpState::Pending {
                rec.state = OtpState::Canceled;
            }
            rec.clone()
        }))
    }

    async fn set_sender(
        &self,
        verification_id: &str,
        session_id: &str,
        message_id: &str,
    ) -> Result<bool> {
        {
            let mut m = self.lock();
            let Some(recipient) = m.by_verification.get(verification_id).cloned() else {
                return Ok(false);
            };
            let Some(rec) = m.by_recipient.get_mut(&recipient) else {
                return Ok(false);
            };
            rec.session_id = session_id.to_owned();
        }
        self.set_message_id(verification_id, message_id).await
    }

    async fn set_message_id(&self, verification_id: &str, message_id: &str) -> Result<bool> {
        let mut m = self.lock();
        let Some(recipient) = m.by_verification.get(verification_id).cloned() else {
            return Ok(false);
        };
        let Some(rec) = m.by_recipient.get_mut(&recipient) else {
            return Ok(false);
        };
        let old = rec.message_id.replace(message_id.to_string());
        if rec.delivery.is_none() {
            rec.delivery = Some(DeliveryStatus::Pending);
        }
        if let Some(old) = old {
            m.by_message.remove(&old);
        }
        m.by_message.insert(message_id.to_string(), recipient);
        Ok(true)
    }

    async fn record_delivery(&self, message_id: &str, status: &DeliveryStatus) -> Result<bool> {
        let mut m = self.lock();
        let Some(recipient) = m.by_message.get(message_id).cloned() else {
            return Ok(false);
        };
        let Some(rec) = m.by_recipient.get_mut(&recipient) else {
            return Ok(false);
        };
        let current = rec.delivery.take().unwrap_or(DeliveryStatus::Pending);
        rec.delivery = Some(current.advance(status.clone()));
        Ok(true)
    }

    async fn remove_expired(
        &self,
        expired_before_ms: u64,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<usize> {
        self.limiter.prune(limits, now_ms);
        let mut m = self.lock();
        let gone: Vec<String> = m
            .by_recipient
            .values()
            .filter(|r| r.expires_at_ms <= expired_before_ms)
            .map(|r| r.recipient.clone())
            .collect();
        for recipient in &gone {
            if let Some(old) = m.by_recipient.remove(recipient) {
                m.unindex(&old);
            }
        }
        Ok(gone.len())
    }

    async fn len(&self) -> Result<usize> {
        Ok(self.lock().by_recipient.len())
    }

    async fn withdraw(
        &self,
        recipient: &str,
        verification_id: &str,
        previous: Option<&OtpRecord>,
        now_ms: u64,
    ) -> Result<()> {
        let mut m = self.lock();
        let Some(current) = m.by_recipient.get_mut(recipient) else {
            return Ok(());
        };
        if current.verification_id != verification_id
            || effective_state(current, now_ms) != OtpState::Pending
        {
            return Ok(());
        }
        match previous {
            Some(prev) if effective_state(prev, now_ms) == OtpState::Pending => m.insert(prev),
            _ => current.state = OtpState::Canceled,
        }
        Ok(())
    }

    async fn take_send_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission> {
        Ok(self.limiter.acquire_send(limits, recipient, now_ms))
    }

    async fn take_verify_slot(
        &self,
        recipient: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Admission> {
        Ok(self.limiter.acquire_verify(limits, recipient, now_ms))
    }

    async fn reserve_pace(
        &self,
        session_id: &str,
        limits: &Limits,
        now_ms: u64,
        jitter_ms: u64,
    ) -> Result<Admission> {
        Ok(self.limiter.pace(limits, session_id, now_ms, jitter_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conformance() {
        super::super::conformance::run_all(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn indexes_follow_replacement() {
        let s = MemoryStore::new();
        let mut r = super::super::conformance::record("1", "v1", 100);
        r.message_id = Some("m1".into());
        s.put(&r).await.unwrap();
        s.put(&super::super::conformance::record("1", "v2", 100))
            .await
            .unwrap();
        let m = s.lock();
        assert_eq!(m.by_verification.len(), 1);
        assert!(m.by_message.is_empty());
    }
}
