//! Remembers which numbers are on WhatsApp, so repeated OTP sends to one
//! number cost one lookup.

use std::sync::Mutex;
use std::time::Duration;

use crate::platform::sync;

use super::bounded_map::BoundedMap;

/// `is_on_whatsapp` answers by phone number, each kept for a fixed time, at
/// most `capacity` of them (oldest out first).
#[derive(Debug)]
pub(crate) struct OnWhatsappCache {
    ttl: Duration,
    entries: Mutex<BoundedMap<bool>>,
}

impl OnWhatsappCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        OnWhatsappCache {
            ttl,
            entries: Mutex::new(BoundedMap::new(capacity, ttl)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoundedMap<bool>> {
        sync::lock(&self.entries)
    }

    /// The cached answer for `phone`, if still fresh.
    pub(crate) fn get(&self, phone: &str) -> Option<bool> {
        self.lock().get(phone).copied()
    }

    /// Stores an answer (a zero TTL turns the cache off).
    pub(crate) fn put(&self, phone: &str, registered: bool) {
        if self.ttl.is_zero() {
            return;
        }
        self.lock().insert(phone, registered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_until_the_ttl_passes() {
        let cache = OnWhatsappCache::new(Duration::from_secs(60), 100);
        assert_eq!(cache.get("62811"), None);
        cache.put("62811", true);
        cache.put("62812", false);
        assert_eq!(cache.get("62811"), Some(true));
        assert_eq!(cache.get("62812"), Some(false));
        let off = OnWhatsappCache::new(Duration::ZERO, 100);
        off.put("62811", true);
        assert_eq!(off.get("62811"), None);
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let cache = OnWhatsappCache::new(Duration::from_secs(60), 10);
        for i in 0..1_000 {
            cache.put(&format!("62811{i:04}"), true);
        }
        assert_eq!(cache.lock().len(), 10);
        assert_eq!(cache.get("628110000"), None);
        assert_eq!(cache.get("628110999"), Some(true));
    }
}
