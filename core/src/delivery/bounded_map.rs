//! A map bounded by size and by age, for what a long-running gateway
//! remembers about messages and numbers.
//!
//! Entries leave oldest first: a queue in insertion order sits beside the
//! map, and each insert pops from its front what is over the size bound or
//! past the age bound. An insert costs O(1) amortised; nothing scans the
//! whole map. A key inserted again moves to the back (its older queue slot
//! goes stale and is skipped when it reaches the front).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Keys to values, at most `capacity` of them, none older than `max_age`.
#[derive(Debug)]
pub(crate) struct BoundedMap<V> {
    entries: HashMap<String, Entry<V>>,
    /// `(seq, key)` in insertion order; a slot is stale once its key was
    /// removed or inserted again under a newer `seq`.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    capacity: usize,
    max_age: Duration,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    seq: u64,
    inserted: Instant,
}

impl<V> BoundedMap<V> {
    /// An empty map; `capacity` is at least 1.
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        BoundedMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            max_age,
        }
    }

    /// Inserts (or replaces, making it the newest) `key` as of `now`, then
    /// lets the oldest entries go.
    pub(crate) fn insert_at(&mut self, key: &str, value: V, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                seq,
                inserted: now,
            },
        );
        self.order.push_back((seq, key.to_owned()));
        self.evict(now);
        // Keys inserted again leave stale slots behind; keep the queue
        // within twice the live entries (rebuilt at most once per that many
        // inserts, so still O(1) amortised).
        if self.order.len() > 2 * self.entries.len().max(16) {
            self.compact();
        }
    }

    /// [`insert_at`](Self::insert_at) now.
    pub(crate) fn insert(&mut self, key: &str, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    /// The value of `key`, unless it is past the age bound at `now`.
    pub(crate) fn get_at(&self, key: &str, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|e| now.saturating_duration_since(e.inserted) < self.max_age)
            .map(|e| &e.value)
    }

    /// [`get_at`](Self::get_at) now.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.get_at(key, Instant::now())
    }

    /// The value of `key` to change in place, unless it is past the age bound.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let max_age = self.max_age;
        self.entries
            .get_mut(key)
            .filter(|e| e.inserted.elapsed() < max_age)
            .map(|e| &mut e.value)
    }

    /// Keeps only the entries `keep` accepts (a full scan: for rare calls).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, e| keep(&e.value));
        self.compact();
    }

    /// Every value (a full scan: for rare calls).
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|e| &e.value)
    }

    /// How many entries are held (some may be past the age bound until the
    /// next insert lets them go).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Pops the front while it is stale, over the size bound, or too old.
    fn evict(&mut self, now: Instant) {
        while let Some((seq, key)) = self.order.front() {
            let live = self.entries.get(key).filter(|e| e.seq == *seq);
            let Some(entry) = live else {
                self.order.pop_front();
                continue;
            };
            let too_many = self.entries.len() > self.capacity;
            let too_old = now.saturating_duration_since(entry.inserted) >= self.max_age;
            if !(too_many || too_old) {
                break;
            }
            let (_, key) = self.order.pop_front().expect("the front exists");
            self.entries.remove(&key);
        }
    }

    /// Drops the stale slots of the queue.
    fn compact(&mut self) {
        let entries = &self.entries;
        self.order
            .retain(|(seq, key)| entries.get(key).is_some_and(|e| e.seq == *seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_oldest_entries_leave_past_the_size_bound() {
        let mut m = BoundedMap::new(3, HOUR);
        let t = Instant::now();
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            m.insert_at(k, i, t);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get_at("a", t), None);
        assert_eq!(m.get_at("d", t), Some(&3));
        // Inserting "b" again makes it the newest: "c" goes next.
        m.insert_at("b", 10, t);
        m.insert_at("e", 4, t);
        assert_eq!(m.get_at("c", t), None);
        assert_eq!(m.get_at("b", t), Some(&10));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn entries_past_the_age_bound_are_not_answered_and_leave_on_the_next_insert() {
        let mut m = BoundedMap::new(100, Duration::from_secs(60));
        let t = Instant::now();
        m.insert_at("old", 1, t);
        m.insert_at("newer", 2, t + Duration::from_secs(30));
        let later = t + Duration::from_secs(61);
        assert_eq!(m.get_at("old", later), None);
        assert_eq!(m.get_at("newer", later), Some(&2));
        assert_eq!(m.len(), 2, "nothing is swept by a read");
        m.insert_at("new", 3, later);
        assert_eq!(m.len(), 2, "the old one left with the insert");
    }

    #[test]
    fn many_inserts_of_the_same_keys_keep_the_queue_small() {
        let mut m = BoundedMap::new(1_000, HOUR);
        let t = Instant::now();
        for i in 0..100_000u32 {
            m.insert_at(&format!("k{}", i % 10), i, t);
        }
        assert_eq!(m.len(), 10);
        assert!(m.order.len() <= 32, "{} queue slots", m.order.len());
        m.retain(|v| v % 2 == 0);
        assert_eq!(m.len(), 5);
        assert_eq!(m.order.len(), 5);
    }
}
