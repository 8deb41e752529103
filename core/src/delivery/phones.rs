//! Remembers recent phone number normalisations.
//!
//! libphonenumber parsing is the largest part of what `send_otp` adds to a
//! bare send: about 4 µs in a tight loop, but ~30 µs between real sends, when
//! its regexes and metadata have left the CPU caches. One recipient's number
//! is normalised several times within minutes (send, verify, status, a
//! resend), so answers are kept.
//!
//! Two generations bound the memory without a crate or per-entry bookkeeping:
//! new answers go to the young map; when it is full it becomes the old map
//! and the previous old map is dropped. A hit in the old map moves back to the
//! young one, so numbers in use stay. At most `2 × GENERATION` entries.
//!
//! Only successful normalisations are kept. The answer depends only on the
//! input and the gateway's default country code, which never changes for a
//! gateway, so an entry never goes stale.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::Result;
use crate::model::phone;
use crate::platform::sync;

/// Entries per generation.
const GENERATION: usize = 1024;

/// Inputs longer than this are normalised without being kept (real numbers
/// written with separators are far shorter).
const MAX_KEY_LEN: usize = 32;

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<String, String>,
    old: HashMap<String, String>,
}

/// Phone normalisation with the gateway's default country, memoised.
#[derive(Debug)]
pub(crate) struct PhoneCache {
    default_country_code: u16,
    generations: Mutex<Generations>,
}

impl PhoneCache {
    pub(crate) fn new(default_country_code: u16) -> Self {
        PhoneCache {
            default_country_code,
            generations: Mutex::new(Generations::default()),
        }
    }

    /// Same answer as [`phone::normalize`] with the gateway's country code.
    pub(crate) fn normalize(&self, input: &str) -> Result<String> {
        if let Some(digits) = self.lookup(input) {
            return Ok(digits);
        }
        let digits = phone::normalize(input, self.default_country_code)?;
        if input.len() <= MAX_KEY_LEN {
            self.insert(input.to_owned(), digits.clone());
        }
        Ok(digits)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps hold no invariant a panic could break halfway.
        sync::lock(&self.generations)
    }

    fn lookup(&self, input: &str) -> Option<String> {
        let mut g = self.lock();
        if let Some(digits) = g.young.get(input) {
            return Some(digits.clone());
        }
        let (key, digits) = g.old.remove_entry(input)?;
        let answer = digits.clone();
        insert_young(&mut g, key, digits);
        Some(answer)
    }

    fn insert(&self, input: String, digits: String) {
        insert_young(&mut self.lock(), input, digits);
    }
}

fn insert_young(g: &mut Generations, input: String, digits: String) {
    if g.young.len() >= GENERATION {
        g.old = std::mem::take(&mut g.young);
    }
    g.young.insert(input, digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_the_parser_and_refuses_like_it() {
        let cache = PhoneCache::new(62);
        for input in [
            "08123456789",
            "+62 812-3456-789",
            "6281234567890",
            "+1 650 253 0000",
        ] {
            let want = phone::normalize(input, 62).unwrap();
            assert_eq!(cache.normalize(input).unwrap(), want, "first: {input}");
            assert_eq!(cache.normalize(input).unwrap(), want, "cached: {input}");
        }
        for garbage in ["", "abc", "12", "+62 812 CALL ME"] {
            assert_eq!(
                cache.normalize(garbage).unwrap_err().code(),
                "INVALID_PHONE"
            );
            assert_eq!(
                cache.normalize(garbage).unwrap_err().code(),
                "INVALID_PHONE"
            );
        }
        assert!(
            cache
                .lock()
                .young
                .keys()
                .all(|k| !k.is_empty() && k != "abc")
        );
    }

    #[test]
    fn memory_stays_bounded_and_numbers_in_use_stay() {
        let cache = PhoneCache::new(62);
        let hot = "081200000000";
        cache.normalize(hot).unwrap();
        for i in 0..5 * GENERATION {
            cache.normalize(&format!("0812{:08}", i + 1)).unwrap();
            if i % (GENERATION / 2) == 0 {
                cache.normalize(hot).unwrap();
            }
            let g = cache.lock();
            assert!(g.young.len() <= GENERATION && g.old.len() <= GENERATION);
        }
        let g = cache.lock();
        assert!(
            g.young.contains_key(hot) || g.old.contains_key(hot),
            "a number in use was evicted"
        );
        assert!(!g.young.contains_key("081200000001") && !g.old.contains_key("081200000001"));
    }

    #[test]
    fn long_inputs_are_answered_but_not_kept() {
        let cache = PhoneCache::new(62);
        let long = "+62   812 - 3456 - 789            ";
        assert!(long.len() > MAX_KEY_LEN);
        assert_eq!(cache.normalize(long).unwrap(), "628123456789");
        assert!(cache.lock().young.is_empty());
    }
}
