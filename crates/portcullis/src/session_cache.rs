//! A bounded in-memory cache of decrypted sessions, keyed by the exact sealed
//! cookie value.
//!
//! A browser sends the same session cookie on every request until the cookie
//! is rewritten, so the decrypt-and-parse work can be done once per cookie
//! value instead of once per request. Only values that decrypted and parsed
//! successfully are cached; a lookup compares the whole sealed value, so a
//! forged cookie can only miss. Expiry is still checked on every request by
//! the caller. The cache holds nothing that is not also in the user's cookie.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use crate::active::ActiveSession;

/// The cache of decoded sessions.
pub(crate) type SessionCache = SealedCache<Arc<ActiveSession>>;

/// Number of independently locked shards.
const SHARDS: usize = 16;

/// How many trailing bytes of the sealed value are hashed. The sealed value
/// ends with the base64url AES-GCM tag, which is unique per seal.
const HASHED_TAIL: usize = 24;

struct Entry<V> {
    sealed: Box<[u8]>,
    session: V,
}

/// A shard: entries by the keyed hash of their sealed value's tail. That
/// hash is already keyed (SipHash, seeded per cache), so the map itself
/// hashes it with foldhash rather than a second SipHash.
type Shard<V> = Mutex<HashMap<u64, Entry<V>, foldhash::fast::RandomState>>;

/// The cache. `capacity == 0` turns it off.
/// A bounded cache keyed by exact sealed values (`capacity == 0` turns it off).
pub(crate) struct SealedCache<V> {
    shards: Box<[Shard<V>]>,
    per_shard: usize,
    hasher: RandomState,
}

impl<V: Clone> SealedCache<V> {
    /// A cache holding at most about `capacity` sessions.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..if per_shard == 0 { 0 } else { SHARDS })
            .map(|_| Mutex::new(HashMap::default()))
            .collect();
        Self {
            shards,
            per_shard,
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, sealed: &[u8]) -> Option<(u64, &Shard<V>)> {
        if self.shards.is_empty() {
            return None;
        }
        let tail = &sealed[sealed.len().saturating_sub(HASHED_TAIL)..];
        let key = self.hasher.hash_one(tail);
        let shard = &self.shards[(key as usize) % self.shards.len()];
        Some((key, shard))
    }

    /// The cached session for exactly this sealed value.
    pub(crate) fn get(&self, sealed: &[u8]) -> Option<V> {
        let (key, shard) = self.slot(sealed)?;
        let map = shard.lock().ok()?;
        map.get(&key)
            .filter(|entry| *entry.sealed == *sealed)
            .map(|entry| entry.session.clone())
    }

    /// Remembers a session that was just decrypted from `sealed`.
    pub(crate) fn insert(&self, sealed: &[u8], session: V) {
        let Some((key, shard)) = self.slot(sealed) else {
            return;
        };
        let Ok(mut map) = shard.lock() else {
            return;
        };
        if map.len() >= self.per_shard
            && !map.contains_key(&key)
            && let Some(victim) = map.keys().next().copied()
        {
            // Arbitrary eviction: the map's iteration order is randomized.
            map.remove(&victim);
        }
        map.insert(
            key,
            Entry {
                sealed: sealed.into(),
                session,
            },
        );
    }

    /// Forgets the session sealed as `sealed` (expired, or signed out).
    pub(crate) fn remove(&self, sealed: &[u8]) {
        if let Some((key, shard)) = self.slot(sealed)
            && let Ok(mut map) = shard.lock()
            && map.get(&key).is_some_and(|entry| *entry.sealed == *sealed)
        {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sub: &str) -> Arc<ActiveSession> {
        let mut data = crate::session::test_session_data();
        data.sub = sub.into();
        data.id_token = crate::engine::persist::tests::unsigned_id_token();
        Arc::new(ActiveSession::decode(data, Box::new([])).expect("decode"))
    }

    #[test]
    fn returns_only_an_exact_match_of_the_sealed_value() {
        let cache = SessionCache::new(100);
        cache.insert(b"AAAA-sealed-value-ending-in-tag-1", session("alice"));
        assert!(cache.get(b"AAAA-sealed-value-ending-in-tag-1").is_some());
        // Same hashed tail, different value: a forged cookie only misses.
        assert!(cache.get(b"BBBB-sealed-value-ending-in-tag-1").is_none());
        assert!(cache.get(b"other").is_none());
    }

    #[test]
    fn stays_within_its_capacity() {
        let cache = SessionCache::new(32);
        for i in 0..1000 {
            cache.insert(format!("sealed-{i:08}").as_bytes(), session("alice"));
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(held <= 32, "held {held}");
        assert!(held > 0);
    }

    #[test]
    fn zero_capacity_disables_caching() {
        let cache = SessionCache::new(0);
        cache.insert(b"sealed", session("alice"));
        assert!(cache.get(b"sealed").is_none());
    }

    #[test]
    fn removed_sessions_are_gone() {
        let cache = SessionCache::new(10);
        cache.insert(b"sealed-a", session("alice"));
        cache.remove(b"sealed-a");
        assert!(cache.get(b"sealed-a").is_none());
    }
}
