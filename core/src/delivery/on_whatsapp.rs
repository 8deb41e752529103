//! Remembers which numbers are on WhatsApp, so repeated OTP sends to one
//! number cost one lookup.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::platform::sync;

/// Above this many entries, expired ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

/// `is_on_whatsapp` answers by phone number, each kept for a fixed time.
#[derive(Debug)]
pub(crate) struct OnWhatsappCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl OnWhatsappCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        OnWhatsappCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        sync::lock(&self.entries)
    }

    /// The cached answer for `phone`, if still fresh.
    pub(crate) fn get(&self, phone: &str) -> Option<bool> {
        let entries = self.lock();
        let (registered, at) = entries.get(phone)?;
        (at.elapsed() < self.ttl).then_some(*registered)
    }

    /// Stores an answer (a zero TTL turns the cache off).
    pub(crate) fn put(&self, phone: &str, registered: bool) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() > SWEEP_ABOVE {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        entries.insert(phone.to_owned(), (registered, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_until_the_ttl_passes() {
        let cache = OnWhatsappCache::new(Duration::from_secs(60));
        assert_eq!(cache.get("62811"), None);
        cache.put("62811", true);
        cache.put("62812", false);
        assert_eq!(cache.get("62811"), Some(true));
        assert_eq!(cache.get("62812"), Some(false));
        let off = OnWhatsappCache::new(Duration::ZERO);
        off.put("62811", true);
        assert_eq!(off.get("62811"), None);
    }
}
