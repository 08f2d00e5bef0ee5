//! The replica-local copy of sessions and markers, and the rules that keep it
//! coherent with Redis.
//!
//! The copy answers only while it is *serving*: the invalidation subscription
//! is up and resynchronised (`state` has its healthy bit) and the lease is
//! current (a PING on the subscription connection came back recently; the
//! PONG travels behind every message published before it, so a current
//! lease means no message older than the lease is still in flight).
//!
//! Races between a load (or this replica's own write) and an invalidation
//! are settled by striped sequence numbers: a caller takes a [`Ticket`]
//! before sending its command, and stores the answer only when neither the
//! subscription state nor the key's stripe moved in the meantime. Every
//! invalidation, own write and resynchronisation moves them.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use portcullis_store::{Cached, SessionRecord};

/// How long a PONG keeps the local copy serving.
pub(crate) const LEASE: Duration = Duration::from_millis(1_000);

/// How often the subscription connection is pinged.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(250);

/// How long a known absence is kept locally.
const ABSENCE_TTL: Duration = Duration::from_secs(600);

/// The longest any entry is kept locally (defence in depth: the copy is
/// coherent, but an hourly reload costs nothing).
const MAX_LOCAL_TTL: Duration = Duration::from_secs(3_600);

/// Number of independently locked stripes.
const STRIPES: usize = 1_024;

/// The namespace of a key in the stripes.
#[derive(Clone, Copy, Hash)]
pub(crate) enum Space {
    Session,
    Marker,
}

/// Each entry expires after its own TTL.
struct PerEntryTtl;

impl<K, V> Expiry<K, (V, Duration)> for PerEntryTtl {
    fn expire_after_create(&self, _: &K, value: &(V, Duration), _: Instant) -> Option<Duration> {
        Some(value.1)
    }

    fn expire_after_update(
        &self,
        _: &K,
        value: &(V, Duration),
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

type SessionCache = Cache<Box<str>, (Option<SessionRecord>, Duration)>;
type MarkerCache = Cache<Box<str>, (Option<u64>, Duration)>;

fn cache<V: Clone + Send + Sync + 'static>(
    capacity: u64,
) -> Option<Cache<Box<str>, (V, Duration)>> {
    (capacity > 0).then(|| {
        Cache::builder()
            .max_capacity(capacity)
            .expire_after(PerEntryTtl)
            .build()
    })
}

/// A snapshot taken before a command is sent.
pub(crate) struct Ticket {
    state: u64,
    stripe: usize,
    seq: u64,
    sent: Instant,
}

impl Ticket {
    /// `ttl` minus the time since the command was sent: a local expiry
    /// never later than the one Redis computed when it ran the command.
    fn remaining(&self, ttl: Duration) -> Option<Duration> {
        let left = ttl.checked_sub(self.sent.elapsed())?;
        (!left.is_zero()).then_some(left.min(MAX_LOCAL_TTL))
    }
}

/// The local copy and its coherence state, shared by the stores and the
/// subscriber task.
pub(crate) struct Coherence {
    /// `epoch << 1 | healthy`.
    state: AtomicU64,
    /// Milliseconds since `base` until which the lease holds.
    lease_until: AtomicU64,
    base: Instant,
    /// Held shared by every local write, exclusively by a state change, so a
    /// resynchronisation's clear cannot interleave with an insert.
    gate: RwLock<()>,
    stripes: Box<[Mutex<u64>]>,
    hasher: RandomState,
    sessions: Option<SessionCache>,
    markers: Option<MarkerCache>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Coherence {
    pub(crate) fn new(session_capacity: u64, marker_capacity: u64) -> Self {
        Self {
            state: AtomicU64::new(0),
            lease_until: AtomicU64::new(0),
            base: Instant::now(),
            gate: RwLock::new(()),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            hasher: RandomState::new(),
            sessions: cache(session_capacity),
            markers: cache(marker_capacity),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// True while the local copy may answer.
    pub(crate) fn serving(&self) -> bool {
        self.state.load(Ordering::Acquire) & 1 == 1
            && self.now_ms() < self.lease_until.load(Ordering::Acquire)
    }

    fn stripe(&self, space: Space, key: &str) -> usize {
        (self.hasher.hash_one((space, key)) as usize) % self.stripes.len()
    }

    pub(crate) fn ticket(&self, space: Space, key: &str) -> Ticket {
        let stripe = self.stripe(space, key);
        // The state is read before the stripe: a resync that moves the state
        // after this point is caught by the state comparison.
        let state = self.state.load(Ordering::Acquire);
        let seq = *lock(&self.stripes[stripe]);
        Ticket {
            state,
            stripe,
            seq,
            sent: Instant::now(),
        }
    }

    /// Runs `f` with the stripe of `ticket` locked, telling it whether the
    /// ticket is still valid; bumps the stripe when `bump`.
    fn settle(&self, ticket: &Ticket, bump: bool, f: impl FnOnce(bool)) {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut seq = lock(&self.stripes[ticket.stripe]);
        let state = self.state.load(Ordering::Acquire);
        let valid = state == ticket.state && state & 1 == 1 && *seq == ticket.seq;
        f(valid);
        if bump {
            *seq = seq.wrapping_add(1);
        }
    }

    /// Applies an invalidation from another replica.
    fn remote(&self, space: Space, key: &str, f: impl FnOnce()) {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut seq = lock(&self.stripes[self.stripe(space, key)]);
        *seq = seq.wrapping_add(1);
        f();
    }

    // ---- sessions -------------------------------------------------------

    pub(crate) fn cached_session(&self, id: &str) -> Cached<SessionRecord> {
        let Some(cache) = &self.sessions else {
            return Cached::Unknown;
        };
        if !self.serving() {
            return Cached::Unknown;
        }
        match cache.get(id) {
            Some((Some(record), _)) => Cached::Hit(record),
            Some((None, _)) => Cached::Absent,
            None => Cached::Unknown,
        }
    }

    /// A load answered `record` (with `pttl` from Redis: -1 none, -2 gone).
    pub(crate) fn loaded_session(
        &self,
        ticket: &Ticket,
        id: &str,
        record: Option<&SessionRecord>,
        pttl: i64,
    ) {
        let Some(cache) = &self.sessions else { return };
        let ttl = match (record, pttl) {
            (None, _) => Some(ABSENCE_TTL),
            (Some(_), -1) => Some(MAX_LOCAL_TTL),
            (Some(_), ms) if ms > 0 => ticket.remaining(Duration::from_millis(ms as u64)),
            _ => None,
        };
        let Some(ttl) = ttl else { return };
        self.settle(ticket, false, |valid| {
            if valid {
                cache.insert(id.into(), (record.cloned(), ttl));
            }
        });
    }

    /// This replica saved `record` for `ttl`.
    pub(crate) fn saved_session(
        &self,
        ticket: &Ticket,
        id: &str,
        record: &SessionRecord,
        ttl: Duration,
    ) {
        let Some(cache) = &self.sessions else { return };
        let ttl = ticket.remaining(ttl);
        self.settle(ticket, true, |valid| match (valid, ttl) {
            (true, Some(ttl)) => cache.insert(id.into(), (Some(record.clone()), ttl)),
            _ => cache.invalidate(id),
        });
    }

    /// This replica destroyed the session (or found it gone).
    pub(crate) fn destroyed_session(&self, ticket: &Ticket, id: &str) {
        let Some(cache) = &self.sessions else { return };
        self.settle(ticket, true, |valid| {
            if valid {
                cache.insert(id.into(), (None, ABSENCE_TTL));
            } else {
                cache.invalidate(id);
            }
        });
    }

    /// This replica extended the session to `ttl` (`existed`: Redis had it).
    pub(crate) fn touched_session(&self, ticket: &Ticket, id: &str, existed: bool, ttl: Duration) {
        let Some(cache) = &self.sessions else { return };
        let ttl = ticket.remaining(ttl);
        self.settle(ticket, true, |valid| {
            match (valid, existed, ttl, cache.get(id)) {
                (true, true, Some(ttl), Some((Some(record), _))) => {
                    cache.insert(id.into(), (Some(record), ttl));
                }
                (true, false, _, _) => cache.insert(id.into(), (None, ABSENCE_TTL)),
                _ => cache.invalidate(id),
            }
        });
    }

    /// A write of this replica failed or timed out: it may or may not have
    /// happened, so forget the key.
    pub(crate) fn forget_session(&self, ticket: &Ticket, id: &str) {
        let Some(cache) = &self.sessions else { return };
        self.settle(ticket, true, |_| cache.invalidate(id));
    }

    /// Another replica changed the session.
    pub(crate) fn remote_session(&self, id: &str) {
        let Some(cache) = &self.sessions else { return };
        self.remote(Space::Session, id, || cache.invalidate(id));
    }

    // ---- markers --------------------------------------------------------

    pub(crate) fn cached_marker(&self, key: &str) -> Cached<u64> {
        let Some(cache) = &self.markers else {
            return Cached::Unknown;
        };
        if !self.serving() {
            return Cached::Unknown;
        }
        match cache.get(key) {
            Some((Some(at), _)) => Cached::Hit(at),
            Some((None, _)) => Cached::Absent,
            None => Cached::Unknown,
        }
    }

    /// A lookup answered `at` (with its `pttl`).
    pub(crate) fn loaded_marker(&self, ticket: &Ticket, key: &str, at: Option<u64>, pttl: i64) {
        let Some(cache) = &self.markers else { return };
        let ttl = match (at, pttl) {
            (None, _) => Some(ABSENCE_TTL),
            (Some(_), -1) => Some(MAX_LOCAL_TTL),
            (Some(_), ms) if ms > 0 => ticket.remaining(Duration::from_millis(ms as u64)),
            _ => None,
        };
        let Some(ttl) = ttl else { return };
        self.settle(ticket, false, |valid| {
            if valid {
                cache.insert(key.into(), (at, ttl));
            }
        });
    }

    /// This replica marked `key`; Redis now holds `at` for `ttl`.
    pub(crate) fn marked(&self, ticket: &Ticket, key: &str, at: u64, ttl: Duration) {
        let Some(cache) = &self.markers else { return };
        let ttl = ticket.remaining(ttl);
        self.settle(ticket, true, |valid| match (valid, ttl) {
            (true, Some(ttl)) => cache.insert(key.into(), (Some(at), ttl)),
            _ => cache.invalidate(key),
        });
    }

    /// A mark of this replica failed or timed out.
    pub(crate) fn forget_marker(&self, ticket: &Ticket, key: &str) {
        let Some(cache) = &self.markers else { return };
        self.settle(ticket, true, |_| cache.invalidate(key));
    }

    /// Another replica marked `key`: Redis held `at` for `ttl` when it
    /// published. Markers only grow, so the largest time wins. A local
    /// marker may outlive the Redis key by the message's delay: harmless,
    /// a marker past its TTL names only sessions that have ended.
    pub(crate) fn remote_marker(&self, key: &str, at: u64, ttl: Duration) {
        let Some(cache) = &self.markers else { return };
        self.remote(Space::Marker, key, || {
            let at = match cache.get(key) {
                Some((Some(old), _)) => old.max(at),
                _ => at,
            };
            if !ttl.is_zero() {
                cache.insert(key.into(), (Some(at), ttl.min(MAX_LOCAL_TTL)));
            }
        });
    }

    // ---- subscription state ----------------------------------------------

    /// The subscription is gone: answer nothing locally from now on.
    pub(crate) fn lost(&self) {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let state = self.state.load(Ordering::Acquire);
        if state & 1 == 1 {
            self.state
                .store(((state >> 1).wrapping_add(1)) << 1, Ordering::Release);
        }
    }

    /// The subscription is confirmed: drop everything (messages may have been
    /// missed) and serve again. `pinged` is when the confirming command was
    /// sent (the start of the first lease).
    pub(crate) fn resynchronised(&self, pinged: Instant) {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = &self.sessions {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.markers {
            cache.invalidate_all();
        }
        let state = self.state.load(Ordering::Acquire);
        self.extend_lease(pinged);
        self.state
            .store((((state >> 1).wrapping_add(1)) << 1) | 1, Ordering::Release);
    }

    /// A message this version cannot read: it may have invalidated
    /// anything, so drop everything (the subscription stays up).
    pub(crate) fn flush(&self) {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = &self.sessions {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.markers {
            cache.invalidate_all();
        }
        let state = self.state.load(Ordering::Acquire);
        self.state.store(
            (((state >> 1).wrapping_add(1)) << 1) | (state & 1),
            Ordering::Release,
        );
    }

    /// A PING sent at `sent` came back on every subscription connection.
    pub(crate) fn extend_lease(&self, sent: Instant) {
        let until = sent
            .saturating_duration_since(self.base)
            .saturating_add(LEASE)
            .as_millis();
        let until = u64::try_from(until).unwrap_or(u64::MAX);
        self.lease_until.fetch_max(until, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(b: &[u8]) -> SessionRecord {
        SessionRecord::from_bytes(b.to_vec())
    }

    fn bytes(c: Cached<SessionRecord>) -> Option<Vec<u8>> {
        match c {
            Cached::Hit(r) => Some(r.as_bytes().to_vec()),
            _ => None,
        }
    }

    fn serving() -> Coherence {
        let c = Coherence::new(100, 100);
        c.resynchronised(Instant::now());
        c
    }

    #[test]
    fn nothing_is_answered_before_the_first_resynchronisation() {
        let c = Coherence::new(100, 100);
        let t = c.ticket(Space::Session, "a");
        c.loaded_session(&t, "a", Some(&record(b"x")), 60_000);
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
        c.resynchronised(Instant::now());
        // The load was started before: it was not kept.
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
    }

    #[test]
    fn a_load_is_answered_locally_until_another_replica_invalidates_it() {
        let c = serving();
        let t = c.ticket(Space::Session, "a");
        c.loaded_session(&t, "a", Some(&record(b"x")), 60_000);
        assert_eq!(bytes(c.cached_session("a")), Some(b"x".to_vec()));
        c.remote_session("a");
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept() {
        let c = serving();
        let t = c.ticket(Space::Session, "a");
        c.remote_session("a"); // arrives while the GET is in flight
        c.loaded_session(&t, "a", Some(&record(b"old")), 60_000);
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
    }

    #[test]
    fn a_load_that_raced_an_own_write_is_not_kept() {
        let c = serving();
        let load = c.ticket(Space::Session, "a");
        let save = c.ticket(Space::Session, "a");
        c.saved_session(&save, "a", &record(b"new"), Duration::from_secs(60));
        c.loaded_session(&load, "a", Some(&record(b"old")), 60_000);
        assert_eq!(bytes(c.cached_session("a")), Some(b"new".to_vec()));
    }

    #[test]
    fn of_two_racing_own_writes_neither_is_trusted() {
        let c = serving();
        let first = c.ticket(Space::Session, "a");
        let second = c.ticket(Space::Session, "a");
        c.saved_session(&second, "a", &record(b"2"), Duration::from_secs(60));
        c.saved_session(&first, "a", &record(b"1"), Duration::from_secs(60));
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
    }

    #[test]
    fn a_lost_subscription_answers_unknown_and_the_copy_is_cleared_on_resync() {
        let c = serving();
        let t = c.ticket(Space::Marker, "k");
        c.marked(&t, "k", 5, Duration::from_secs(60));
        assert_eq!(c.cached_marker("k"), Cached::Hit(5));
        c.lost();
        assert_eq!(c.cached_marker("k"), Cached::Unknown);
        // A write finished while down is not kept either.
        let t = c.ticket(Space::Marker, "j");
        c.marked(&t, "j", 6, Duration::from_secs(60));
        c.resynchronised(Instant::now());
        assert_eq!(c.cached_marker("k"), Cached::Unknown);
        assert_eq!(c.cached_marker("j"), Cached::Unknown);
    }

    #[test]
    fn an_expired_lease_answers_unknown() {
        let c = serving();
        // As if the last PONG came back more than a lease ago.
        c.lease_until.store(0, Ordering::Release);
        let t = c.ticket(Space::Marker, "k");
        c.loaded_marker(&t, "k", None, -2);
        assert_eq!(c.cached_marker("k"), Cached::Unknown);
        c.extend_lease(Instant::now());
        assert_eq!(c.cached_marker("k"), Cached::Absent);
    }

    #[test]
    fn remote_markers_keep_the_latest_time() {
        let c = serving();
        c.remote_marker("k", 10, Duration::from_secs(60));
        c.remote_marker("k", 5, Duration::from_secs(60));
        assert_eq!(c.cached_marker("k"), Cached::Hit(10));
        let t = c.ticket(Space::Marker, "n");
        c.loaded_marker(&t, "n", None, -2);
        assert_eq!(c.cached_marker("n"), Cached::Absent);
        c.remote_marker("n", 7, Duration::from_secs(60));
        assert_eq!(c.cached_marker("n"), Cached::Hit(7));
    }

    #[test]
    fn local_entries_expire_no_later_than_redis() {
        let c = serving();
        let t = c.ticket(Space::Session, "a");
        std::thread::sleep(Duration::from_millis(30));
        // Redis said 40 ms when asked 30 ms ago: about 10 ms are left.
        c.loaded_session(&t, "a", Some(&record(b"x")), 40);
        std::thread::sleep(Duration::from_millis(25));
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
    }

    #[test]
    fn a_zero_capacity_turns_the_copy_off() {
        let c = Coherence::new(0, 0);
        c.resynchronised(Instant::now());
        let t = c.ticket(Space::Session, "a");
        c.saved_session(&t, "a", &record(b"x"), Duration::from_secs(60));
        assert!(matches!(c.cached_session("a"), Cached::Unknown));
        assert_eq!(c.cached_marker("k"), Cached::Unknown);
    }
}
