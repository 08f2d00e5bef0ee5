//! The in-process stores: bounded, with per-entry expiry.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use lru::LruCache;

use moka::Expiry;
use moka::sync::Cache;

use super::arena::{Arena, CHUNK_SIZE, Slot};
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
/// It holds each session's sealed bytes and little else: the bytes are
/// packed, with the id, into 256 KiB chunks per shard (compacted as
/// sessions end), and an index node holds a 64-bit keyed hash of the id,
/// where the bytes lie and the expiry, so a session costs no heap
/// allocation of its own (see the README's benchmarks).
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

/// The sessions: shards of least-recently-used indexes over arenas of
/// record bytes, each shard under its own lock. Expiry is checked on read
/// and swept, from the least recently used end, on write. The capacity is
/// the whole store's: no session is evicted while fewer than `capacity` are
/// held, however unevenly the ids hash.
///
/// `S` keys each shard's index by id (see [`Shard`]); it is a hasher of its
/// own, keyed apart from the one that picks the shard, so that two ids in
/// one shard are no likelier to share an index hash than any two ids.
struct SessionMap<S = RandomState> {
    /// The shards, each under its lock.
    shards: Box<[Mutex<Shard<S>>]>,
    /// Picks an id's shard.
    hasher: RandomState,
    /// Sessions held against the whole store's capacity.
    occupancy: Occupancy,
    /// The instant expiry times count from.
    epoch: Instant,
}

/// One shard: sessions by a 64-bit keyed hash of their id, least recently
/// used first out. The index holds where each record lies in the arena; the
/// arena holds the bytes and the id beside them, so one session costs one
/// index node of 40 bytes and no allocation of its own.
///
/// Two ids of one shard with the same hash share one index entry. Every
/// read, touch, remove and overwrite compares the id stored beside the
/// record, so an id never reads, extends or removes another's session: a
/// lookup finding another id is a miss, and a save finding one replaces it
/// (that other session is lost, as if evicted). The chance that any two of
/// 100 000 ids share a 64-bit hash is about 3 × 10⁻¹⁰ (n²/2⁶⁵); only two in
/// the same shard meet, a sixteenth of that.
struct Shard<S> {
    /// Where each session lies, by the hash of its id, least recently used
    /// first out.
    index: LruCache<u64, Location>,
    /// The records' bytes, each beside its id.
    arena: Arena,
    /// Hashes ids for the index.
    ids: S,
}

/// Where one session's record lies, and when it expires.
#[derive(Clone, Copy)]
struct Location {
    /// The record's entry in the shard's arena.
    slot: Slot,
    /// Milliseconds since [`SessionMap::epoch`].
    expires: u64,
}

/// How many expired sessions a write removes from its shard's least recently
/// used end, at most: enough to keep up with expiry, bounded per request.
const SWEEP_PER_WRITE: usize = 4;

/// Bytes a write moves, at most about, compacting its shard's arena (each
/// sparse chunk moves less than half a chunk, all of it at once).
const COMPACT_PER_WRITE: usize = CHUNK_SIZE;

impl<S: BuildHasher> Shard<S> {
    /// An empty shard whose index hashes ids with `ids`.
    fn new(ids: S) -> Self {
        Self {
            index: LruCache::unbounded(),
            arena: Arena::new(CHUNK_SIZE),
            ids,
        }
    }

    /// The index's hash of `id`.
    fn hash(&self, id: &[u8]) -> u64 {
        self.ids.hash_one(id)
    }

    /// Sessions held, expired ones not yet swept included.
    fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the index has an entry in `id`'s place: its own, or another
    /// id's with the same hash (which a [`Shard::put`] of `id` replaces).
    fn contains(&self, id: &[u8]) -> bool {
        self.index.contains(&self.hash(id))
    }

    /// The index entry under `hash` and whether it is `id`'s (false when its
    /// record is stored under another id).
    fn entry(&self, hash: u64, id: &[u8]) -> Option<(Location, bool)> {
        let location = *self.index.peek(&hash)?;
        let other = self.arena.key(location.slot).is_some_and(|key| key != id);
        Some((location, !other))
    }

    /// A copy of the session's record, if held and unexpired (and then
    /// the most recently used); an expired one is dropped.
    fn get(&mut self, id: &[u8], now: u64, occupancy: &Occupancy) -> Option<Box<[u8]>> {
        let hash = self.hash(id);
        let location = *self.index.peek(&hash)?;
        // Checks the id: another id's session is a miss, and left as it is.
        let record = Box::from(self.arena.record(location.slot, id)?);
        if location.expires > now {
            self.index.promote(&hash);
            return Some(record);
        }
        self.drop_entry(hash, occupancy);
        None
    }

    /// Drops the session `id`, if held (never another id's).
    fn remove(&mut self, id: &[u8], occupancy: &Occupancy) {
        let hash = self.hash(id);
        if let Some((_, true)) = self.entry(hash, id) {
            self.drop_entry(hash, occupancy);
        }
    }

    /// Drops the index entry under `hash` and its record, then compacts a
    /// little.
    fn drop_entry(&mut self, hash: u64, occupancy: &Occupancy) {
        if let Some(location) = self.index.pop(&hash) {
            self.arena.release(location.slot);
            occupancy.removed(1);
            self.compact();
        }
    }

    /// Makes the session `id` the most recently used and, if it is
    /// unexpired, sets its expiry to `expires` (never another id's).
    fn touch(&mut self, id: &[u8], now: u64, expires: u64) {
        let hash = self.hash(id);
        if let Some((_, true)) = self.entry(hash, id)
            && let Some(location) = self.index.get_mut(&hash)
            && location.expires > now
        {
            location.expires = expires;
        }
    }

    /// Drops the least recently used session, if any.
    fn pop_lru(&mut self, occupancy: &Occupancy) {
        if let Some((_, location)) = self.index.pop_lru() {
            self.arena.release(location.slot);
            occupancy.removed(1);
        }
    }

    /// Drops up to `count` expired sessions from the least recently used end.
    fn sweep(&mut self, now: u64, count: usize, occupancy: &Occupancy) {
        for _ in 0..count {
            match self.index.peek_lru() {
                Some((_, oldest)) if oldest.expires <= now => self.pop_lru(occupancy),
                _ => break,
            }
        }
    }

    /// Stores `bytes` for `id` (the most recently used), replacing what it
    /// held, or what another id with the same hash held (see [`Shard`]),
    /// then compacts a little.
    fn put(&mut self, id: &[u8], bytes: &[u8], expires: u64, occupancy: &Occupancy) {
        let hash = self.hash(id);
        if let Some((old, _)) = self.entry(hash, id) {
            self.arena.release(old.slot);
        }
        match self.arena.push(id, bytes) {
            Some(slot) => {
                let location = Location { slot, expires };
                if self.index.put(hash, location).is_none() {
                    occupancy.added();
                }
            }
            None => {
                // Longer than an arena entry can record (a 64 KiB id or a
                // 4 GiB record): not kept, and no older record either.
                tracing::warn!("a session record too large for the in-memory store was dropped");
                if self.index.pop(&hash).is_some() {
                    occupancy.removed(1);
                }
            }
        }
        self.compact();
    }

    /// Compacts sparse arena chunks, moving about [`COMPACT_PER_WRITE`]
    /// bytes at most, and points the index at the moved records.
    fn compact(&mut self) {
        let Self { index, arena, ids } = self;
        arena.compact(COMPACT_PER_WRITE, |key, from, to| {
            match index.peek_mut(&ids.hash_one(key)) {
                Some(location) if location.slot == from => {
                    location.slot = to;
                    true
                }
                _ => false,
            }
        });
    }
}

impl SessionMap {
    /// An empty map of `capacity` sessions.
    fn new(capacity: u64) -> Self {
        Self::with_hasher(capacity, RandomState::new())
    }
}

impl<S: BuildHasher + Clone> SessionMap<S> {
    /// An empty map of `capacity` sessions whose shards' indexes hash ids
    /// with `ids`.
    fn with_hasher(capacity: u64, ids: S) -> Self {
        Self {
            shards: (0..SESSION_SHARDS)
                .map(|_| Mutex::new(Shard::new(ids.clone())))
                .collect(),
            hasher: RandomState::new(),
            occupancy: Occupancy::new(capacity, SESSION_SHARDS),
            epoch: Instant::now(),
        }
    }
}

impl<S: BuildHasher> SessionMap<S> {
    /// Milliseconds since the epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When a session stored now for `ttl` expires (rounded up to the
    /// millisecond).
    fn expiry(&self, now: u64, ttl: Duration) -> u64 {
        let ttl = u64::try_from(ttl.as_micros().div_ceil(1_000)).unwrap_or(u64::MAX);
        now.saturating_add(ttl)
    }

    /// The shard `id` belongs to.
    fn index(&self, id: &str) -> usize {
        self.hasher.hash_one(id) as usize % self.shards.len()
    }

    /// Shard `index`, locked.
    fn lock(&self, index: usize) -> std::sync::MutexGuard<'_, Shard<S>> {
        // A poisoned shard only means a panic elsewhere while it was held
        // (this code does not panic); the worst a half-done update leaves is
        // dead arena bytes or an index entry whose record reads as absent,
        // since every read checks the id stored beside the record.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shard of `id`, locked.
    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, Shard<S>> {
        self.lock(self.index(id))
    }

    /// A copy of the record of `id`, if held and unexpired.
    fn get(&self, id: &str) -> Option<Box<[u8]>> {
        let now = self.now();
        self.shard(id).get(id.as_bytes(), now, &self.occupancy)
    }

    /// Stores `bytes` for `id` for `ttl`, making room when full.
    fn insert(&self, id: &str, bytes: &[u8], ttl: Duration) {
        let now = self.now();
        let expires = self.expiry(now, ttl);
        let index = self.index(id);
        let key = id.as_bytes();
        {
            let mut shard = self.lock(index);
            shard.sweep(now, SWEEP_PER_WRITE, &self.occupancy);
            let full = !shard.contains(key) && self.occupancy.is_full();
            if !full || shard.len() >= self.occupancy.share {
                // When full, this shard's least recently used session makes
                // room: a new login is never refused.
                if full {
                    shard.pop_lru(&self.occupancy);
                }
                shard.put(key, bytes, expires, &self.occupancy);
                return;
            }
        }
        // Full, and this shard holds less than its share: the least recently
        // used session of a shard that holds more makes room (one lock at a
        // time; at least one such shard exists while the store is full).
        for offset in 1..self.shards.len() {
            let mut other = self.lock((index + offset) % self.shards.len());
            if other.len() >= self.occupancy.share {
                other.pop_lru(&self.occupancy);
                other.compact();
                break;
            }
        }
        self.lock(index).put(key, bytes, expires, &self.occupancy);
    }

    /// Extends the life of `id` to `ttl` from now, if it is unexpired.
    fn touch(&self, id: &str, ttl: Duration) {
        let now = self.now();
        let expires = self.expiry(now, ttl);
        self.shard(id).touch(id.as_bytes(), now, expires);
    }

    /// Drops the session `id`.
    fn remove(&self, id: &str) {
        self.shard(id).remove(id.as_bytes(), &self.occupancy);
    }

    /// Unexpired sessions held.
    fn len(&self) -> u64 {
        let now = self.now();
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                shard
                    .index
                    .iter()
                    .filter(|(_, location)| location.expires > now)
                    .count() as u64
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
        self.sessions.insert(id, record.as_bytes(), ttl);
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
/// read). Keys are hashed with foldhash (seeded per map): up to three
/// lookups per request each hash twice (the shard, then the shard's map),
/// and SipHash cost several times more; the keys are session ids the engine
/// made and the OP's `sub`/`sid`, not attacker-chosen input.
struct MarkerMap {
    shards: Box<[MarkerShard]>,
    occupancy: Occupancy,
    hasher: MarkerHasher,
}

/// The markers' hasher: fast, seeded at random per map.
type MarkerHasher = foldhash::fast::RandomState;

/// The markers of one shard.
type MarkerTable = HashMap<Box<str>, Marker, MarkerHasher>;

type MarkerShard = RwLock<MarkerTable>;

#[derive(Clone, Copy)]
struct Marker {
    at_ms: u64,
    expires: Instant,
}

impl MarkerMap {
    fn new(capacity: u64) -> Self {
        Self {
            shards: (0..MARKER_SHARDS)
                .map(|_| RwLock::new(MarkerTable::default()))
                .collect(),
            occupancy: Occupancy::new(capacity, MARKER_SHARDS),
            hasher: MarkerHasher::default(),
        }
    }

    fn index(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn shard(&self, key: &str) -> &MarkerShard {
        &self.shards[self.index(key)]
    }

    fn write(&self, index: usize) -> std::sync::RwLockWriteGuard<'_, MarkerTable> {
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
    fn sweep(&self, shard: &mut MarkerTable, now: Instant) {
        let before = shard.len();
        shard.retain(|_, m| m.expires > now);
        self.occupancy.removed(before - shard.len());
    }

    /// Drops the shard's marker that would expire first.
    fn drop_first_to_expire(&self, shard: &mut MarkerTable) {
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
    fn merge(&self, shard: &mut MarkerTable, key: &str, marker: Marker, now: Instant) {
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
                .insert(&format!("id-{i}"), &[1], Duration::from_secs(60));
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
            store.sessions.insert(&format!("id-{i}"), &[1], ttl);
        }
        for i in 0..1_600 {
            assert!(
                store.get(&format!("id-{i}")).is_some(),
                "id-{i} was evicted"
            );
        }
        store.sessions.insert("one-more", &[2], ttl);
        assert_eq!(store.len(), 1_600, "one session made room for the new one");
        assert!(store.get("one-more").is_some());
        // Rewriting a held session evicts nothing.
        store.sessions.insert("one-more", &[3], ttl);
        assert_eq!(store.len(), 1_600);
        store.sessions.remove("one-more");
        assert_eq!(store.len(), 1_599);
        store.sessions.insert("after-remove", &[4], ttl);
        assert_eq!(store.len(), 1_600);
        assert!(store.get("after-remove").is_some());
    }

    #[test]
    fn a_read_keeps_a_session_from_being_the_next_evicted() {
        // Four sessions per shard.
        let store = MemorySessionStore::new(64);
        let ttl = Duration::from_secs(60);
        store.sessions.insert("kept", &[1], ttl);
        for i in 0..200 {
            assert!(store.get("kept").is_some(), "evicted after {i} inserts");
            store.sessions.insert(&format!("other-{i}"), &[2], ttl);
        }
    }

    #[test]
    fn writes_sweep_expired_sessions() {
        let store = MemorySessionStore::new(1_000);
        for i in 0..200 {
            store
                .sessions
                .insert(&format!("old-{i}"), &[1], Duration::ZERO);
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
                .insert(&format!("new-{i}"), &[2], Duration::from_secs(60));
        }
        assert_eq!(held(&store), 200, "every expired session was swept");
        assert_eq!(store.len(), 200);
    }
}

#[cfg(test)]
mod arena_tests {
    use super::super::arena::HEADER;
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    /// Each shard's arena: bytes allocated and bytes live.
    fn arenas(store: &MemorySessionStore) -> Vec<(usize, usize)> {
        store
            .sessions
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().expect("shard");
                (shard.arena.allocated(), shard.arena.live())
            })
            .collect()
    }

    /// Ids that hash to shard `index`.
    fn ids_in_shard(store: &MemorySessionStore, index: usize, count: usize) -> Vec<String> {
        (0..)
            .map(|n| format!("id-{n}"))
            .filter(|id| store.sessions.index(id) == index)
            .take(count)
            .collect()
    }

    /// A record of `len` bytes that says which id and version it is.
    fn record(id: &str, version: u32, len: usize) -> Vec<u8> {
        let seed = id
            .bytes()
            .fold(version, |h, b| h.wrapping_mul(31) ^ u32::from(b));
        (0..len)
            .map(|i| (seed.wrapping_add(i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    }

    /// A deterministic pseudo-random sequence (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn index_entries_stay_small() {
        // One session costs one index node: the id's 64-bit hash, its slot
        // and its expiry, then the list's two links (40 bytes, a 48-byte
        // malloc chunk).
        assert_eq!(std::mem::size_of::<Location>(), 16);
        assert_eq!(
            std::mem::size_of::<(u64, Location, [usize; 2])>(),
            40,
            "key, value and links"
        );
    }

    #[test]
    fn churn_compacts_and_every_surviving_session_reads_back_exactly() {
        let store = MemorySessionStore::new(1_000_000);
        let mut model: HashMap<String, Vec<u8>> = HashMap::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut written = 0;
        for step in 0..30_000u32 {
            let n = rng.below(4_000);
            let id = format!("session-{n}");
            if rng.below(10) < 6 {
                let len = 1 + rng.below(4_000) as usize;
                let bytes = record(&id, step, len);
                written += len;
                store.sessions.insert(&id, &bytes, TTL);
                model.insert(id, bytes);
            } else {
                store.sessions.remove(&id);
                model.remove(&id);
            }
            if step % 500 == 0 {
                for (allocated, live) in arenas(&store) {
                    assert!(
                        allocated <= 2 * live + CHUNK_SIZE,
                        "step {step}: {allocated} bytes allocated for {live} live"
                    );
                }
            }
        }
        let compacted: usize = store
            .sessions
            .shards
            .iter()
            .map(|shard| shard.lock().expect("shard").arena.compacted())
            .sum();
        assert!(compacted >= 16, "compaction ran ({compacted} chunks)");
        assert_eq!(store.len(), model.len() as u64);
        for (id, bytes) in &model {
            assert_eq!(store.sessions.get(id).as_deref(), Some(&bytes[..]), "{id}");
        }
        let live: usize = arenas(&store).iter().map(|(_, live)| live).sum();
        let expected: usize = model
            .iter()
            .map(|(id, b)| HEADER + id.len() + b.len())
            .sum();
        assert_eq!(live, expected, "the arenas hold exactly the live records");
        let allocated: usize = arenas(&store).iter().map(|(allocated, _)| allocated).sum();
        assert!(allocated <= 2 * live + SESSION_SHARDS * CHUNK_SIZE);
        assert!(written > 4 * allocated, "far more was written than is held");
    }

    #[test]
    fn a_record_larger_than_a_chunk_is_stored_and_freed_whole() {
        let store = MemorySessionStore::new(100);
        let index = store.sessions.index("big");
        let before = arenas(&store)[index].0;
        let big = record("big", 1, 2 * CHUNK_SIZE + 7);
        store.sessions.insert("big", &big, TTL);
        assert_eq!(store.sessions.get("big").as_deref(), Some(&big[..]));
        let (allocated, live) = arenas(&store)[index];
        assert!(allocated >= before + big.len(), "it has a chunk of its own");
        assert_eq!(live, HEADER + 3 + big.len());
        let small = record("big", 2, 10);
        store.sessions.insert("big", &small, TTL);
        assert_eq!(store.sessions.get("big").as_deref(), Some(&small[..]));
        let (allocated, live) = arenas(&store)[index];
        assert!(allocated <= CHUNK_SIZE, "its chunk was freed: {allocated}");
        assert_eq!(live, HEADER + 3 + small.len());
        store.sessions.remove("big");
        assert_eq!(arenas(&store)[index].1, 0);
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn an_overwrite_with_a_longer_then_a_shorter_record_reads_back_each_time() {
        let store = MemorySessionStore::new(100);
        let index = store.sessions.index("a");
        for (version, len) in [(1, 100), (2, 5_000), (3, 10)] {
            let bytes = record("a", version, len);
            store.sessions.insert("a", &bytes, TTL);
            assert_eq!(store.sessions.get("a").as_deref(), Some(&bytes[..]));
            assert_eq!(store.len(), 1);
            assert_eq!(
                arenas(&store)[index].1,
                HEADER + 1 + len,
                "only the latest is live"
            );
        }
    }

    #[test]
    fn an_expired_record_s_bytes_are_reclaimed() {
        let store = MemorySessionStore::new(1_000);
        // Found expired on read.
        let index = store.sessions.index("gone");
        store
            .sessions
            .insert("gone", &record("gone", 1, 3 * CHUNK_SIZE), Duration::ZERO);
        assert!(arenas(&store)[index].0 >= 3 * CHUNK_SIZE);
        assert_eq!(store.sessions.get("gone"), None);
        assert_eq!(arenas(&store)[index], (0, 0), "its chunk was freed");
        // Swept by a later write to its shard.
        let ids = ids_in_shard(&store, 3, 2);
        store
            .sessions
            .insert(&ids[0], &record(&ids[0], 1, 500), Duration::ZERO);
        assert_eq!(arenas(&store)[3].1, HEADER + ids[0].len() + 500);
        let kept = record(&ids[1], 1, 300);
        store.sessions.insert(&ids[1], &kept, TTL);
        assert_eq!(
            arenas(&store)[3].1,
            HEADER + ids[1].len() + 300,
            "the expired one was swept"
        );
        assert_eq!(store.sessions.get(&ids[1]).as_deref(), Some(&kept[..]));
        assert_eq!(store.sessions.shards[3].lock().expect("shard").len(), 1);
    }

    #[test]
    fn a_full_store_evicts_the_least_recently_used_session() {
        // 64 sessions, all in one shard (a share is 4).
        let store = MemorySessionStore::new(64);
        let ids = ids_in_shard(&store, 5, 66);
        for id in &ids[..64] {
            store.sessions.insert(id, &record(id, 1, 200), TTL);
        }
        assert_eq!(store.len(), 64);
        // A read makes the oldest the most recently used: the second goes.
        assert!(store.sessions.get(&ids[0]).is_some());
        store
            .sessions
            .insert(&ids[64], &record(&ids[64], 1, 200), TTL);
        assert_eq!(store.len(), 64);
        assert_eq!(
            store.sessions.get(&ids[1]),
            None,
            "the least recently used went"
        );
        store
            .sessions
            .insert(&ids[65], &record(&ids[65], 1, 200), TTL);
        assert_eq!(store.sessions.get(&ids[2]), None, "then the next");
        for id in std::iter::once(&ids[0]).chain(&ids[3..]) {
            assert_eq!(
                store.sessions.get(id).as_deref(),
                Some(&record(id, 1, 200)[..]),
                "{id}"
            );
        }
        let live: usize = ids[3..]
            .iter()
            .chain(&ids[..1])
            .map(|id| HEADER + id.len() + 200)
            .sum();
        assert_eq!(
            arenas(&store)[5].1,
            live,
            "the evicted sessions' bytes are released"
        );
    }
}

#[cfg(test)]
mod collision_tests {
    use super::super::arena::HEADER;
    use super::*;
    use std::hash::{BuildHasherDefault, Hasher};

    /// A TTL no test outlives.
    const TTL: Duration = Duration::from_secs(60);

    /// Hashes as the std hasher does, except that every id containing
    /// "twin" hashes to 0: all twins of one shard share an index entry.
    #[derive(Default)]
    struct TwinHasher {
        inner: std::hash::DefaultHasher,
        twin: bool,
    }

    impl Hasher for TwinHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.twin |= bytes.windows(4).any(|window| window == b"twin");
            self.inner.write(bytes);
        }

        fn finish(&self) -> u64 {
            if self.twin { 0 } else { self.inner.finish() }
        }
    }

    /// A map whose twins collide.
    type Map = SessionMap<BuildHasherDefault<TwinHasher>>;

    /// An empty map of `capacity` sessions whose twins collide.
    fn map(capacity: u64) -> Map {
        SessionMap::with_hasher(capacity, BuildHasherDefault::default())
    }

    /// `count` ids starting with `prefix` that go to shard `index`.
    fn ids(map: &Map, prefix: &str, index: usize, count: usize) -> Vec<String> {
        (0..)
            .map(|n| format!("{prefix}-{n}"))
            .filter(|id| map.index(id) == index)
            .take(count)
            .collect()
    }

    /// A record of `len` bytes naming `id` and `version`.
    fn record(id: &str, version: u32, len: usize) -> Vec<u8> {
        let tag = format!("{id}/{version}/");
        tag.bytes().cycle().take(len.max(1)).collect()
    }

    /// Sessions held against the capacity.
    fn held(map: &Map) -> usize {
        map.occupancy.held.load(Ordering::Relaxed)
    }

    /// Shard `index`'s arena: bytes allocated and bytes live.
    fn arena(map: &Map, index: usize) -> (usize, usize) {
        let shard = map.lock(index);
        (shard.arena.allocated(), shard.arena.live())
    }

    /// The expiry the index holds in `id`'s place, without touching it.
    fn expiry(map: &Map, id: &str) -> Option<u64> {
        let shard = map.shard(id);
        shard
            .index
            .peek(&shard.hash(id.as_bytes()))
            .map(|l| l.expires)
    }

    #[test]
    fn the_twin_hasher_collides_twins_only() {
        let map = map(10);
        let shard = map.lock(0);
        assert_eq!(shard.hash(b"twin-1"), shard.hash(b"twin-2"));
        assert_ne!(shard.hash(b"id-1"), shard.hash(b"id-2"));
        assert_ne!(shard.hash(b"id-1"), shard.hash(b"twin-1"));
    }

    #[test]
    fn a_lookup_never_returns_a_colliding_session_nor_drops_or_promotes_it() {
        // Capacity 2: a share of one, so a new session in a full store
        // evicts its own shard's least recently used one.
        let map = map(2);
        let twins = ids(&map, "twin", 3, 2);
        let (a, b) = (&twins[0], &twins[1]);
        let others = ids(&map, "id", 3, 2);
        let b_record = record(b, 1, 300);
        map.insert(b, &b_record, TTL);
        map.insert(&others[0], &record(&others[0], 1, 10), TTL);
        assert_eq!(map.get(a), None, "{a} finds {b}'s entry: a miss");
        assert_eq!(map.get(b).as_deref(), Some(&b_record[..]));
        map.insert(&others[0], &record(&others[0], 2, 10), TTL);
        // Now b is the least recently used; a's lookup must not change that.
        assert_eq!(map.get(a), None);
        map.insert(&others[1], &record(&others[1], 1, 10), TTL);
        assert_eq!(map.get(b), None, "{b} was the least recently used");
        assert!(map.get(&others[0]).is_some());
        assert_eq!(held(&map), 2);

        // An expired session is dropped by its own lookup only.
        let map = self::map(100);
        let twins = ids(&map, "twin", 5, 2);
        let (a, b) = (&twins[0], &twins[1]);
        map.insert(b, &record(b, 1, 200), Duration::ZERO);
        assert_eq!(map.get(a), None);
        assert_eq!(held(&map), 1, "{a}'s lookup left {b} alone");
        assert_eq!(arena(&map, 5).1, HEADER + b.len() + 200);
        assert_eq!(map.get(b), None, "expired");
        assert_eq!(held(&map), 0);
        assert_eq!(arena(&map, 5).1, 0);
    }

    #[test]
    fn a_save_over_a_colliding_slot_leaves_exactly_the_new_session() {
        let map = map(100);
        let twins = ids(&map, "twin", 7, 2);
        let (a, b) = (&twins[0], &twins[1]);
        let other = &ids(&map, "id", 7, 1)[0];
        map.insert(other, &record(other, 1, 50), TTL);
        map.insert(a, &record(a, 1, 3_000), TTL);
        let b_record = record(b, 1, 500);
        map.insert(b, &b_record, TTL);
        assert_eq!(map.get(a), None, "{a} was displaced");
        assert_eq!(map.get(b).as_deref(), Some(&b_record[..]));
        assert_eq!(map.len(), 2);
        assert_eq!(held(&map), 2);
        assert_eq!(
            arena(&map, 7).1,
            HEADER + b.len() + 500 + HEADER + other.len() + 50,
            "{a}'s bytes are dead"
        );
        let a_record = record(a, 2, 20);
        map.insert(a, &a_record, TTL);
        assert_eq!(map.get(b), None);
        assert_eq!(map.get(a).as_deref(), Some(&a_record[..]));
        assert_eq!(held(&map), 2);

        // In a full store the displacing save evicts nothing else.
        let map = self::map(2);
        let twins = ids(&map, "twin", 2, 2);
        let elsewhere = &ids(&map, "id", 9, 1)[0];
        map.insert(elsewhere, &[1], TTL);
        map.insert(&twins[0], &[2], TTL);
        map.insert(&twins[1], &[3], TTL);
        assert_eq!(map.get(elsewhere).as_deref(), Some(&[1][..]));
        assert_eq!(map.get(&twins[1]).as_deref(), Some(&[3][..]));
        assert_eq!(map.get(&twins[0]), None);
        assert_eq!(held(&map), 2);
    }

    #[test]
    fn remove_and_touch_of_a_colliding_id_leave_the_other_alone() {
        let map = map(2);
        let twins = ids(&map, "twin", 11, 2);
        let (a, b) = (&twins[0], &twins[1]);
        let others = ids(&map, "id", 11, 2);
        let b_record = record(b, 1, 400);
        map.insert(b, &b_record, Duration::from_secs(1));
        map.insert(&others[0], &[1], TTL);
        let before = expiry(&map, b);
        map.touch(a, Duration::from_secs(3_600));
        assert_eq!(expiry(&map, b), before, "{b}'s expiry is unchanged");
        map.remove(a);
        assert_eq!(held(&map), 2, "{b} is still held");
        assert_eq!(
            arena(&map, 11).1,
            HEADER + b.len() + 400 + HEADER + others[0].len() + 1
        );
        // Neither made b the most recently used: it is evicted first.
        map.insert(&others[1], &[2], TTL);
        assert_eq!(expiry(&map, b), None, "{b} was the least recently used");
        assert!(map.get(&others[0]).is_some());

        // And b itself is still removed and touched by its own id.
        let map = self::map(100);
        map.insert(b, &b_record, Duration::from_secs(1));
        map.touch(b, Duration::from_secs(3_600));
        assert!(expiry(&map, b) > Some(60_000), "{b} touched");
        map.remove(a);
        assert_eq!(map.get(b).as_deref(), Some(&b_record[..]));
        map.remove(b);
        assert_eq!(map.get(b), None);
        assert_eq!(held(&map), 0);
    }

    #[test]
    fn churn_under_forced_collisions_keeps_every_count_and_the_byte_bound() {
        // Every id is a twin: each shard holds at most one session, the
        // one last saved (unless removed since).
        let map = map(1_000_000);
        let mut model: HashMap<usize, (String, Vec<u8>)> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut below = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let live = |model: &HashMap<usize, (String, Vec<u8>)>, index: usize| {
            model
                .get(&index)
                .map_or(0, |(id, bytes)| HEADER + id.len() + bytes.len())
        };
        for step in 0..20_000u32 {
            let id = format!("twin-{}", below(2_000));
            let index = map.index(&id);
            match below(10) {
                0..6 => {
                    let bytes = record(&id, step, 1 + below(6_000) as usize);
                    map.insert(&id, &bytes, TTL);
                    model.insert(index, (id, bytes));
                }
                6..9 => {
                    map.remove(&id);
                    if model.get(&index).is_some_and(|(held, _)| *held == id) {
                        model.remove(&index);
                    }
                }
                _ => map.touch(&id, TTL),
            }
            let (allocated, arena_live) = arena(&map, index);
            assert_eq!(arena_live, live(&model, index), "step {step}: live bytes");
            assert!(
                allocated <= 2 * live(&model, index) + CHUNK_SIZE,
                "step {step}: {allocated} bytes allocated"
            );
            assert_eq!(held(&map), model.len(), "step {step}: occupancy");
        }
        assert_eq!(map.len(), model.len() as u64);
        for n in 0..2_000 {
            let id = format!("twin-{n}");
            let expected = model
                .get(&map.index(&id))
                .filter(|(held, _)| *held == id)
                .map(|(_, bytes)| &bytes[..]);
            assert_eq!(map.get(&id).as_deref(), expected, "{id}");
        }
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
