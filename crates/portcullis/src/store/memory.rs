//! The in-process stores: bounded, with per-entry expiry.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use lru::LruCache;

use moka::Expiry;
use moka::sync::Cache;

use super::{Cached, LogoutStore, SessionRecord, SessionStore, StoreFuture};

/// Default capacity of [`MemorySessionStore`]: 100 000 sessions.
pub const DEFAULT_SESSION_CAPACITY: u64 = 100_000;

/// Default capacity of [`MemoryLogoutStore`]: 1 000 000 markers and logout-token ids.
pub const DEFAULT_MARKER_CAPACITY: u64 = 1_000_000;

/// Each entry expires after the TTL it was stored with.
struct PerEntryTtl;

impl<K, V> Expiry<K, (V, Duration)> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &(V, Duration),
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }

    fn expire_after_update(
        &self,
        _key: &K,
        value: &(V, Duration),
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

fn ttl_cache<V: Clone + Send + Sync + 'static>(capacity: u64) -> Cache<Box<str>, (V, Duration)> {
    Cache::builder()
        .max_capacity(capacity)
        // Least recently used first: moka's default admission policy may
        // refuse a new entry when full, which would drop a new login or a
        // logout marker; a store must always take the newest.
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .expire_after(PerEntryTtl)
        .build()
}

/// Sessions in this process's memory: bounded (the least recently used go
/// first when full), each expiring after its TTL. Lost on restart and not
/// shared between replicas: for those, use a shared store such as Redis.
///
/// It holds each session's sealed bytes and little else (a key, an expiry
/// and two list links): one instance holds 100 000 sessions in a few hundred
/// bytes each beyond the tokens themselves (see the README's benchmarks).
/// The engine keeps its own bounded cache of decoded sessions, so the store
/// need not hold a decoded copy of each.
#[derive(Clone)]
pub struct MemorySessionStore {
    sessions: Arc<SessionMap>,
}

/// How full a sharded map is. The capacity is the whole map's, not a
/// fraction per shard: keys never hash evenly, and per-shard limits would
/// evict from the fuller shards long before the map is full.
struct Occupancy {
    capacity: usize,
    /// A shard's even share of the capacity (rounded up): while the map is
    /// full, at least one shard holds this many.
    share: usize,
    /// Entries held, expired ones not yet swept included.
    held: AtomicUsize,
}

impl Occupancy {
    fn new(capacity: u64, shards: usize) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        Self {
            capacity,
            share: capacity.div_ceil(shards),
            held: AtomicUsize::new(0),
        }
    }

    fn is_full(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.capacity
    }

    fn added(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    fn removed(&self, count: usize) {
        self.held.fetch_sub(count, Ordering::Relaxed);
    }
}

/// Number of independently locked session shards.
const SESSION_SHARDS: usize = 16;

/// The sessions: shards of least-recently-used maps, each under its own
/// lock. Expiry is checked on read and swept, from the least recently used
/// end, on write. The capacity is the whole store's: no session is evicted
/// while fewer than `capacity` are held, however unevenly the ids hash.
struct SessionMap {
    shards: Box<[SessionShard]>,
    hasher: RandomState,
    occupancy: Occupancy,
}

/// One shard: sessions by id, least recently used first out.
type SessionShard = Mutex<LruCache<Box<str>, StoredSession>>;

/// One session as the store keeps it.
struct StoredSession {
    bytes: Box<[u8]>,
    expires: Instant,
}

/// How many expired sessions a write removes from its shard's least recently
/// used end, at most: enough to keep up with expiry, bounded per request.
const SWEEP_PER_WRITE: usize = 4;

impl SessionMap {
    fn new(capacity: u64) -> Self {
        Self {
            shards: (0..SESSION_SHARDS)
                .map(|_| Mutex::new(LruCache::unbounded()))
                .collect(),
            hasher: RandomState::new(),
            occupancy: Occupancy::new(capacity, SESSION_SHARDS),
        }
    }

    fn index(&self, id: &str) -> usize {
        self.hasher.hash_one(id) as usize % self.shards.len()
    }

    fn lock(&self, index: usize) -> std::sync::MutexGuard<'_, LruCache<Box<str>, StoredSession>> {
        // A poisoned shard only means a panic elsewhere while it was held;
        // its map is still consistent (every update is a single call).
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, LruCache<Box<str>, StoredSession>> {
        self.lock(self.index(id))
    }

    fn get(&self, id: &str) -> Option<Box<[u8]>> {
        let now = Instant::now();
        let mut shard = self.shard(id);
        match shard.get(id) {
            Some(stored) if stored.expires > now => Some(stored.bytes.clone()),
            Some(_) => {
                shard.pop(id);
                self.occupancy.removed(1);
                None
            }
            None => None,
        }
    }

    fn insert(&self, id: &str, bytes: Box<[u8]>, ttl: Duration) {
        let now = Instant::now();
        let index = self.index(id);
        let stored = StoredSession {
            bytes,
            expires: now + ttl,
        };
        let stored = {
            let mut shard = self.lock(index);
            for _ in 0..SWEEP_PER_WRITE {
                match shard.peek_lru() {
                    Some((_, oldest)) if oldest.expires <= now => {
                        shard.pop_lru();
                        self.occupancy.removed(1);
                    }
                    _ => break,
                }
            }
            let full = !shard.contains(id) && self.occupancy.is_full();
            if !full || shard.len() >= self.occupancy.share {
                // When full, this shard's least recently used session makes
                // room: a new login is never refused.
                if full && shard.pop_lru().is_some() {
                    self.occupancy.removed(1);
                }
                if shard.put(id.into(), stored).is_none() {
                    self.occupancy.added();
                }
                return;
            }
            stored
        };
        // Full, and this shard holds less than its share: the least recently
        // used session of a shard that holds more makes room (one lock at a
        // time; at least one such shard exists while the store is full).
        for offset in 1..self.shards.len() {
            let mut other = self.lock((index + offset) % self.shards.len());
            if other.len() >= self.occupancy.share {
                if other.pop_lru().is_some() {
                    self.occupancy.removed(1);
                }
                break;
            }
        }
        if self.lock(index).put(id.into(), stored).is_none() {
            self.occupancy.added();
        }
    }

    fn touch(&self, id: &str, ttl: Duration) {
        let now = Instant::now();
        if let Some(stored) = self.shard(id).get_mut(id)
            && stored.expires > now
        {
            stored.expires = now + ttl;
        }
    }

    fn remove(&self, id: &str) {
        if self.shard(id).pop(id).is_some() {
            self.occupancy.removed(1);
        }
    }

    fn len(&self) -> u64 {
        let now = Instant::now();
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                shard.iter().filter(|(_, s)| s.expires > now).count() as u64
            })
            .sum()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_CAPACITY)
    }
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl MemorySessionStore {
    /// A store holding at most `capacity` sessions (spread over 16 shards).
    /// None is evicted before `capacity` are held; then each new session
    /// evicts the least recently used one of its shard (or of a fuller
    /// shard).
    pub fn new(capacity: u64) -> Self {
        Self {
            sessions: Arc::new(SessionMap::new(capacity)),
        }
    }

    /// How many unexpired sessions it holds.
    pub fn len(&self) -> u64 {
        self.sessions.len()
    }

    /// True when it holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: &str) -> Option<SessionRecord> {
        self.sessions.get(id).map(SessionRecord::from_bytes)
    }
}

impl SessionStore for MemorySessionStore {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        let found = self.get(id);
        Box::pin(async move { Ok(found) })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.sessions.insert(id, record.as_bytes().into(), ttl);
        Box::pin(async { Ok(()) })
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.sessions.remove(id);
        Box::pin(async { Ok(()) })
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.sessions.touch(id, ttl);
        Box::pin(async { Ok(()) })
    }

    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        match self.get(id) {
            Some(record) => Cached::Hit(record),
            None => Cached::Absent,
        }
    }
}

/// Logout markers and used logout-token ids in this process's memory
/// (bounded, each kept for its TTL). The default logout store: it makes
/// back-channel logout and copied-cookie refusal work on one instance. With
/// several replicas, share markers through Redis (`LOGOUT_STORE=redis://…`).
#[derive(Clone)]
pub struct MemoryLogoutStore {
    markers: Arc<MarkerMap>,
    jtis: Cache<Box<str>, ((), Duration)>,
}

/// Number of independently locked marker shards.
const MARKER_SHARDS: usize = 16;

/// The markers: read on every request (up to three lookups), so a plain
/// sharded hash map under read locks, expiry checked on read and swept on
/// write (a general-purpose cache's bookkeeping costs several times more per
/// read).
struct MarkerMap {
    shards: Box<[MarkerShard]>,
    occupancy: Occupancy,
    hasher: RandomState,
}

type MarkerShard = RwLock<HashMap<Box<str>, Marker>>;

#[derive(Clone, Copy)]
struct Marker {
    at_ms: u64,
    expires: Instant,
}

impl MarkerMap {
    fn new(capacity: u64) -> Self {
        Self {
            shards: (0..MARKER_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            occupancy: Occupancy::new(capacity, MARKER_SHARDS),
            hasher: RandomState::new(),
        }
    }

    fn index(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn shard(&self, key: &str) -> &MarkerShard {
        &self.shards[self.index(key)]
    }

    fn write(&self, index: usize) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, Marker>> {
        self.shards[index]
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Option<u64> {
        let shard = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
        let marker = *shard.get(key)?;
        (marker.expires > Instant::now()).then_some(marker.at_ms)
    }

    /// Removes the shard's expired markers.
    fn sweep(&self, shard: &mut HashMap<Box<str>, Marker>, now: Instant) {
        let before = shard.len();
        shard.retain(|_, m| m.expires > now);
        self.occupancy.removed(before - shard.len());
    }

    /// Drops the shard's marker that would expire first.
    fn drop_first_to_expire(&self, shard: &mut HashMap<Box<str>, Marker>) {
        if let Some(first) = shard
            .iter()
            .min_by_key(|(_, m)| m.expires)
            .map(|(k, _)| k.clone())
        {
            tracing::warn!("the in-memory logout store is full; a marker was dropped early");
            shard.remove(&first);
            self.occupancy.removed(1);
        }
    }

    /// Records `at_ms` for `key`, keeping the latest time and the longest
    /// life. The capacity is the whole map's: no marker is dropped while
    /// fewer than `capacity` are held, however unevenly the keys hash, and
    /// none is dropped while an expired one can go instead.
    fn mark(&self, key: &str, at_ms: u64, ttl: Duration) {
        let now = Instant::now();
        let index = self.index(key);
        let marker = Marker {
            at_ms,
            expires: now + ttl,
        };
        {
            let mut shard = self.write(index);
            if shard.contains_key(key) || !self.occupancy.is_full() {
                self.merge(&mut shard, key, marker, now);
                return;
            }
            self.sweep(&mut shard, now);
            if !self.occupancy.is_full() {
                self.merge(&mut shard, key, marker, now);
                return;
            }
        }
        // Full: the other shards' expired markers go first, then, if none
        // was expired, the live marker that expires first in this shard, or
        // in a fuller one when this shard holds less than its share (while
        // the map is full, at least one shard holds its share). One lock at
        // a time.
        let others = (1..self.shards.len()).map(|offset| (index + offset) % self.shards.len());
        for other in others.clone() {
            if !self.occupancy.is_full() {
                break;
            }
            self.sweep(&mut self.write(other), now);
        }
        if self.occupancy.is_full() {
            for victim in std::iter::once(index).chain(others) {
                let mut victim = self.write(victim);
                if victim.len() >= self.occupancy.share {
                    self.drop_first_to_expire(&mut victim);
                    break;
                }
            }
        }
        self.merge(&mut self.write(index), key, marker, now);
    }

    /// Stores `marker` under `key`, merged into a live marker already there.
    fn merge(
        &self,
        shard: &mut HashMap<Box<str>, Marker>,
        key: &str,
        marker: Marker,
        now: Instant,
    ) {
        match shard.get_mut(key) {
            Some(existing) if existing.expires > now => {
                existing.at_ms = existing.at_ms.max(marker.at_ms);
                existing.expires = existing.expires.max(marker.expires);
            }
            Some(existing) => *existing = marker,
            None => {
                shard.insert(key.into(), marker);
                self.occupancy.added();
            }
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

impl Default for MemoryLogoutStore {
    fn default() -> Self {
        Self::new(DEFAULT_MARKER_CAPACITY)
    }
}

impl std::fmt::Debug for MemoryLogoutStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLogoutStore")
            .field("markers", &self.markers.len())
            .finish()
    }
}

impl MemoryLogoutStore {
    /// A store holding at most `capacity` markers (and as many token ids).
    pub fn new(capacity: u64) -> Self {
        Self {
            markers: Arc::new(MarkerMap::new(capacity)),
            jtis: ttl_cache(capacity),
        }
    }

    fn marker(&self, key: &str) -> Option<u64> {
        self.markers.get(key)
    }
}

impl LogoutStore for MemoryLogoutStore {
    fn mark<'a>(&'a self, key: &'a str, at_ms: u64, ttl: Duration) -> StoreFuture<'a, ()> {
        self.markers.mark(key, at_ms, ttl);
        Box::pin(async { Ok(()) })
    }

    fn markers<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<u64>>> {
        let found = keys.iter().map(|key| self.marker(key)).collect();
        Box::pin(async move { Ok(found) })
    }

    fn cached_marker(&self, key: &str) -> Cached<u64> {
        match self.marker(key) {
            Some(at) => Cached::Hit(at),
            None => Cached::Absent,
        }
    }

    fn remember_jti<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let entry = self.jtis.entry(key.into()).or_insert_with(|| ((), ttl));
        let fresh = entry.is_fresh();
        Box::pin(async move { Ok(fresh) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jti_is_accepted_once_then_reported_as_replay() {
        let store = MemoryLogoutStore::default();
        let ttl = Duration::from_secs(60);
        assert!(store.remember_jti("jti:a", ttl).await.expect("store"));
        assert!(!store.remember_jti("jti:a", ttl).await.expect("store"));
        assert!(store.remember_jti("jti:b", ttl).await.expect("store"));
    }

    #[tokio::test]
    async fn a_later_marker_keeps_the_latest_time() {
        let store = MemoryLogoutStore::default();
        let ttl = Duration::from_secs(60);
        store.mark("k", 2_000, ttl).await.expect("mark");
        store.mark("k", 1_000, ttl).await.expect("mark");
        assert_eq!(store.cached_marker("k"), Cached::Hit(2_000));
        assert_eq!(store.cached_marker("other"), Cached::Absent);
        let found = store
            .markers(&["k".to_owned(), "other".to_owned()])
            .await
            .expect("markers");
        assert_eq!(found, vec![Some(2_000), None]);
    }

    #[tokio::test]
    async fn markers_expire_after_their_ttl() {
        let store = MemoryLogoutStore::default();
        store
            .mark("k", 1, Duration::from_millis(50))
            .await
            .expect("mark");
        assert_eq!(store.cached_marker("k"), Cached::Hit(1));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.cached_marker("k"), Cached::Absent);
    }

    #[tokio::test]
    async fn sessions_are_saved_destroyed_and_expire() {
        let store = MemorySessionStore::new(10);
        let ttl = Duration::from_secs(60);
        store
            .save("a", SessionRecord::from_bytes(b"x".to_vec()), ttl)
            .await
            .expect("save");
        assert!(matches!(store.cached("a"), Cached::Hit(_)));
        assert!(store.load("a").await.expect("load").is_some());
        store.destroy("a").await.expect("destroy");
        assert!(matches!(store.cached("a"), Cached::Absent));
        store
            .save(
                "b",
                SessionRecord::from_bytes(b"y".to_vec()),
                Duration::from_millis(50),
            )
            .await
            .expect("save");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(store.load("b").await.expect("load").is_none());
    }

    #[tokio::test]
    async fn touch_extends_the_ttl_of_an_existing_session_only() {
        let store = MemorySessionStore::new(10);
        store
            .save(
                "a",
                SessionRecord::from_bytes(b"x".to_vec()),
                Duration::from_millis(80),
            )
            .await
            .expect("save");
        store
            .touch("a", Duration::from_secs(60))
            .await
            .expect("touch");
        store
            .touch("missing", Duration::from_secs(60))
            .await
            .expect("touch");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(store.load("a").await.expect("load").is_some());
        assert!(store.load("missing").await.expect("load").is_none());
    }

    #[test]
    fn the_session_store_stays_within_its_capacity_and_keeps_the_newest() {
        let store = MemorySessionStore::new(100);
        for i in 0..1_000 {
            store
                .sessions
                .insert(&format!("id-{i}"), Box::new([1]), Duration::from_secs(60));
        }
        assert_eq!(store.len(), 100);
        assert!(store.get("id-999").is_some(), "the newest session is kept");
        assert!(store.get("id-0").is_none(), "the oldest went first");
    }

    #[test]
    fn no_session_is_evicted_before_the_capacity_is_reached() {
        // 16 shards of 100 on average: ids never hash evenly, and per-shard
        // limits would evict from the fuller shards long before 1 600.
        let store = MemorySessionStore::new(1_600);
        let ttl = Duration::from_secs(60);
        for i in 0..1_600 {
            store
                .sessions
                .insert(&format!("id-{i}"), Box::new([1]), ttl);
        }
        for i in 0..1_600 {
            assert!(
                store.get(&format!("id-{i}")).is_some(),
                "id-{i} was evicted"
            );
        }
        store.sessions.insert("one-more", Box::new([2]), ttl);
        assert_eq!(store.len(), 1_600, "one session made room for the new one");
        assert!(store.get("one-more").is_some());
        // Rewriting a held session evicts nothing.
        store.sessions.insert("one-more", Box::new([3]), ttl);
        assert_eq!(store.len(), 1_600);
        store.sessions.remove("one-more");
        assert_eq!(store.len(), 1_599);
        store.sessions.insert("after-remove", Box::new([4]), ttl);
        assert_eq!(store.len(), 1_600);
        assert!(store.get("after-remove").is_some());
    }

    #[test]
    fn a_read_keeps_a_session_from_being_the_next_evicted() {
        // Four sessions per shard.
        let store = MemorySessionStore::new(64);
        let ttl = Duration::from_secs(60);
        store.sessions.insert("kept", Box::new([1]), ttl);
        for i in 0..200 {
            assert!(store.get("kept").is_some(), "evicted after {i} inserts");
            store
                .sessions
                .insert(&format!("other-{i}"), Box::new([2]), ttl);
        }
    }

    #[test]
    fn writes_sweep_expired_sessions() {
        let store = MemorySessionStore::new(1_000);
        for i in 0..200 {
            store
                .sessions
                .insert(&format!("old-{i}"), Box::new([1]), Duration::ZERO);
        }
        let held = |store: &MemorySessionStore| -> usize {
            store
                .sessions
                .shards
                .iter()
                .map(|s| s.lock().unwrap().len())
                .sum()
        };
        assert_eq!(store.len(), 0, "expired sessions are never counted");
        assert!(held(&store) > 0, "some expired sessions are still held");
        for i in 0..200 {
            store
                .sessions
                .insert(&format!("new-{i}"), Box::new([2]), Duration::from_secs(60));
        }
        assert_eq!(held(&store), 200, "every expired session was swept");
        assert_eq!(store.len(), 200);
    }
}

#[cfg(test)]
mod marker_map_tests {
    use super::*;

    #[test]
    fn a_full_marker_map_drops_the_marker_that_expires_first_and_keeps_the_new_one() {
        let map = MarkerMap::new(16); // one per shard
        for i in 0..200 {
            map.mark(&format!("k{i}"), i, Duration::from_secs(60 + i));
        }
        assert_eq!(map.len(), 16);
        assert_eq!(
            map.get("k199"),
            Some(199),
            "the newest marker is always kept"
        );
    }

    #[test]
    fn no_marker_is_dropped_before_the_capacity_is_reached() {
        // 16 shards of 100 on average: keys never hash evenly, and
        // per-shard limits would drop markers long before 1 600 (a dropped
        // logout marker lets a signed-out cookie session back in).
        let map = MarkerMap::new(1_600);
        let ttl = Duration::from_secs(60);
        for i in 0..1_600 {
            map.mark(&format!("k{i}"), i, ttl);
        }
        for i in 0..1_600 {
            assert_eq!(map.get(&format!("k{i}")), Some(i), "k{i} was dropped");
        }
        map.mark("one-more", 7, ttl);
        assert_eq!(map.len(), 1_600, "one marker made room for the new one");
        assert_eq!(map.get("one-more"), Some(7));
        // A later mark of a held key drops nothing.
        map.mark("one-more", 9, ttl);
        assert_eq!(map.len(), 1_600);
        assert_eq!(map.get("one-more"), Some(9));
    }

    #[test]
    fn a_full_map_sweeps_expired_markers_before_dropping_a_live_one() {
        let map = MarkerMap::new(32);
        for i in 0..32 {
            map.mark(&format!("old{i}"), i, Duration::ZERO);
        }
        for i in 0..32 {
            map.mark(&format!("live{i}"), i, Duration::from_secs(60));
        }
        for i in 0..32 {
            assert_eq!(map.get(&format!("live{i}")), Some(i), "live{i} was dropped");
        }
        assert_eq!(map.len(), 32, "only the expired markers made room");
    }

    #[test]
    fn expired_markers_are_neither_returned_nor_merged_into() {
        let map = MarkerMap::new(1_000);
        map.mark("k", 5, Duration::ZERO);
        assert_eq!(map.get("k"), None);
        map.mark("k", 3, Duration::from_secs(60));
        assert_eq!(
            map.get("k"),
            Some(3),
            "an expired marker does not lend its later time"
        );
    }
}
