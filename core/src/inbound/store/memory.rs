//! In-process inbound store: two maps behind one mutex (one process).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Result;
use crate::inbound::record::{InboundRecord, apply_redeem};
use crate::otp::CodeMac;
use crate::platform::sync::lock;

use super::{InboundStore, Redeemed, apply_cancel, is_old};

#[derive(Debug, Default)]
struct Maps {
    by_id: HashMap<String, InboundRecord>,
    /// token MAC → verification id
    by_token: HashMap<CodeMac, String>,
}

/// Inbound verifications in memory; lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryInboundStore {
    maps: Mutex<Maps>,
}

impl MemoryInboundStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl InboundStore for MemoryInboundStore {
    async fn put(&self, record: &InboundRecord) -> Result<()> {
        let mut maps = lock(&self.maps);
        maps.by_token
            .insert(record.token_mac, record.verification_id.clone());
        maps.by_id
            .insert(record.verification_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, verification_id: &str) -> Result<Option<InboundRecord>> {
        Ok(lock(&self.maps).by_id.get(verification_id).cloned())
    }

    async fn redeem(
        &self,
        token_mac: &CodeMac,
        session_id: &str,
        sender: &str,
        now_ms: u64,
    ) -> Result<Redeemed> {
        let mut maps = lock(&self.maps);
        let Some(id) = maps.by_token.get(token_mac).cloned() else {
            return Ok(Redeemed::not_found());
        };
        let Some(record) = maps.by_id.get_mut(&id) else {
            return Ok(Redeemed::not_found());
        };
        let outcome = apply_redeem(record, session_id, sender, now_ms);
        Ok(Redeemed {
            outcome,
            record: Some(record.clone()),
        })
    }

    async fn cancel(&self, verification_id: &str, now_ms: u64) -> Result<Option<InboundRecord>> {
        let mut maps = lock(&self.maps);
        Ok(maps.by_id.get_mut(verification_id).map(|record| {
            apply_cancel(record, now_ms);
            record.clone()
        }))
    }

    async fn remove_older_than(&self, before_ms: u64) -> Result<usize> {
        let mut maps = lock(&self.maps);
        let old: Vec<InboundRecord> = maps
            .by_id
            .values()
            .filter(|r| is_old(r, before_ms))
            .cloned()
            .collect();
        for record in &old {
            maps.by_id.remove(&record.verification_id);
            maps.by_token.remove(&record.token_mac);
        }
        Ok(old.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let store = MemoryInboundStore::new();
        super::super::conformance::run_all(&store).await;
        super::super::conformance::cleanup(&store).await;
    }
}
