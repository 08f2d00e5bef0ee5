//! A small bounded in-memory map whose entries expire, so a long-running demo does not
//! grow without limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A map from opaque handles to values with a per-entry deadline and a size cap.
/// When full, expired entries are purged first, then the entry closest to expiry is evicted.
pub(crate) struct ExpiringMap<V> {
    entries: HashMap<String, (Instant, V)>,
    capacity: usize,
}

impl<V> ExpiringMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        ExpiringMap {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn insert(&mut self, key: String, value: V, ttl: Duration, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (deadline, _)| *deadline > now);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (deadline, _))| *deadline)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (now + ttl, value));
    }

    pub(crate) fn get(&self, key: &str, now: Instant) -> Option<&V> {
        match self.entries.get(key) {
            Some((deadline, value)) if *deadline > now => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: &str, now: Instant) -> Option<&mut V> {
        match self.entries.get_mut(key) {
            Some((deadline, value)) if *deadline > now => Some(value),
            _ => None,
        }
    }

    /// Removes every entry whose value matches `pred` and returns the live ones
    /// (expired matches are dropped).
    pub(crate) fn take_where(&mut self, now: Instant, pred: impl Fn(&V) -> bool) -> Vec<V> {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, (_, v))| pred(v))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.take(k, now)).collect()
    }

    /// Removes and returns a live entry (expired entries are removed and yield `None`).
    pub(crate) fn take(&mut self, key: &str, now: Instant) -> Option<V> {
        match self.entries.remove(key) {
            Some((deadline, value)) if deadline > now => Some(value),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        self.entries.remove(key).map(|(_, value)| value)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_not_returned() {
        let mut map = ExpiringMap::new(10);
        let now = Instant::now();
        map.insert("a".into(), 1, Duration::from_secs(60), now);
        assert_eq!(map.get("a", now), Some(&1));
        let later = now + Duration::from_secs(61);
        assert_eq!(map.get("a", later), None);
        assert_eq!(map.take("a", later), None);
    }

    #[test]
    fn take_is_single_use() {
        let mut map = ExpiringMap::new(10);
        let now = Instant::now();
        map.insert("a".into(), 1, Duration::from_secs(60), now);
        assert_eq!(map.take("a", now), Some(1));
        assert_eq!(map.take("a", now), None);
    }

    #[test]
    fn take_where_removes_matches_and_returns_only_live_ones() {
        let mut map = ExpiringMap::new(10);
        let now = Instant::now();
        map.insert("a".into(), 1, Duration::from_secs(60), now);
        map.insert("b".into(), 2, Duration::from_secs(60), now);
        map.insert("c".into(), 1, Duration::from_secs(1), now);
        let later = now + Duration::from_secs(2);
        assert_eq!(map.take_where(later, |v| *v == 1), vec![1]);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("b", later), Some(&2));
    }

    #[test]
    fn size_is_capped_by_evicting_the_entry_closest_to_expiry() {
        let mut map = ExpiringMap::new(3);
        let now = Instant::now();
        map.insert("short".into(), 0, Duration::from_secs(1), now);
        map.insert("b".into(), 1, Duration::from_secs(60), now);
        map.insert("c".into(), 2, Duration::from_secs(60), now);
        map.insert("d".into(), 3, Duration::from_secs(60), now);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("short", now), None);
        assert_eq!(map.get("d", now), Some(&3));
    }
}
