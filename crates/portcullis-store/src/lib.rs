//! Where sessions and logout markers live.
//!
//! - [`SessionStore`]: server-side sessions. With a store, the session cookie
//!   carries only a sealed, random session id; the session itself (sealed
//!   again, bound to its id, the issuer and the client) lives in the store.
//!   Implement it for your own database; `portcullis::store::MemorySessionStore`
//!   is the single-process one, and the `portcullis-redis` crate has Redis.
//! - [`LogoutStore`]: logout markers ("this session, every session of this
//!   OP session `sid`, or every session of this user that started before
//!   `at`, is signed out") and the `jti`s of logout tokens already used.
//!   Markers make logout real for cookie sessions too: a copy of a signed-out
//!   cookie is refused. `portcullis::store::MemoryLogoutStore` is the
//!   default; share one through Redis to reach every replica.
//!
//! This crate holds only the traits and their types, so that store crates
//! (such as `portcullis-redis`) and the `portcullis` engine can depend on it
//! without depending on each other. `portcullis` re-exports everything here
//! as `portcullis::store`.
//!
//! Both traits are async and object-safe (`Arc<dyn SessionStore>`). Their
//! futures are boxed ([`StoreFuture`]); a store that keeps a coherent local
//! copy answers the synchronous `cached*` methods instead, so a request that
//! needs no I/O pays none.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The decoded form of a record, as the engine keeps it.
type Decoded = Arc<dyn Any + Send + Sync>;

/// The future a store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A boxed error from a store's backend (kept as the cause of [`StoreError`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store could not answer. The engine turns every variant into a
/// `503 Service Unavailable` (never a redirect to login, never a logout).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached, or timed out.
    #[error("the {store} store is unavailable")]
    Unavailable {
        /// Which store (for example `redis session store`).
        store: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The backend answered something this store cannot read.
    #[error("the {store} store answered malformed data: {reason}")]
    Malformed {
        /// Which store.
        store: &'static str,
        /// What was wrong (never the data itself).
        reason: String,
    },
}

impl StoreError {
    /// A [`StoreError::Unavailable`] for `store` caused by `source`.
    pub fn unavailable(store: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable {
            store,
            source: source.into(),
        }
    }
}

/// What a store knows without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached<T> {
    /// The store's coherent local copy has this value.
    Hit(T),
    /// The store's coherent local copy knows there is no value.
    Absent,
    /// The store cannot answer without I/O (no local copy, or the channel that
    /// keeps it coherent is down): call the async method.
    Unknown,
}

/// A session as a store holds it: opaque sealed bytes (encrypted and
/// authenticated by the engine, bound to the session id, issuer and client).
///
/// Cheap to clone. The engine decodes a record at most once however many
/// requests use it, so a store that keeps records in memory should hand out
/// clones of the same record.
#[derive(Clone)]
pub struct SessionRecord {
    inner: Arc<RecordInner>,
}

struct RecordInner {
    bytes: Box<[u8]>,
    decoded: OnceLock<Option<Decoded>>,
}

impl SessionRecord {
    /// A record from the bytes a store read back.
    pub fn from_bytes(bytes: impl Into<Box<[u8]>>) -> Self {
        Self {
            inner: Arc::new(RecordInner {
                bytes: bytes.into(),
                decoded: OnceLock::new(),
            }),
        }
    }

    /// The bytes to persist.
    pub fn as_bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// The decoded form, decoding it with `decode` on first use (for the
    /// engine: a store never needs this).
    pub fn decoded_with<T: Any + Send + Sync>(
        &self,
        decode: impl FnOnce(&[u8]) -> Option<Arc<T>>,
    ) -> Option<Arc<T>> {
        self.inner
            .decoded
            .get_or_init(|| decode(&self.inner.bytes).map(|d| d as Decoded))
            .clone()
            .and_then(|d| d.downcast::<T>().ok())
    }

    /// The decoded form, when it is already known (for the engine).
    pub fn decoded<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner
            .decoded
            .get()
            .cloned()
            .flatten()
            .and_then(|d| d.downcast::<T>().ok())
    }

    /// A record that already carries its decoded form (written by this
    /// replica, for the engine).
    pub fn with_decoded<T: Any + Send + Sync>(bytes: Vec<u8>, decoded: Arc<T>) -> Self {
        Self {
            inner: Arc::new(RecordInner {
                bytes: bytes.into(),
                decoded: OnceLock::from(Some(decoded as Decoded)),
            }),
        }
    }
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("bytes", &self.inner.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A server-side session store.
///
/// Ids are random, URL-safe strings of at least 128 bits chosen by the engine.
/// Every method must be finished (durably, as far as the backend goes) when
/// its future resolves: the engine sends the response that depends on a write
/// only afterwards (above all, logout destroys the session before it
/// redirects).
pub trait SessionStore: Send + Sync + 'static {
    /// The record stored under `id`, if it exists and has not expired.
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>>;

    /// Stores `record` under `id` for `ttl`, replacing any previous one.
    fn save<'a>(&'a self, id: &'a str, record: SessionRecord, ttl: Duration)
    -> StoreFuture<'a, ()>;

    /// Removes the session `id` (no error when it does not exist).
    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Extends the life of session `id` to `ttl` from now (rolling expiry),
    /// without rewriting it. No error when it does not exist.
    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()>;

    /// The record from a coherent local copy, without I/O. The default knows
    /// nothing ([`Cached::Unknown`]). Answer [`Cached::Hit`] or
    /// [`Cached::Absent`] only when the copy cannot be stale (for example
    /// while the invalidation channel is connected).
    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        let _ = id;
        Cached::Unknown
    }
}

/// Where logout markers and used logout-token ids live.
///
/// A marker is a key chosen by the engine (an opaque ASCII string naming a
/// session, an OP session `sid`, or a user) with the time of the logout in
/// unix milliseconds. Sessions that the key names and that started at or
/// before that time are signed out. Markers must be kept for their `ttl`
/// (the longest a session they name could live); a later marker for the same
/// key keeps the latest time.
pub trait LogoutStore: Send + Sync + 'static {
    /// Records a logout marker.
    fn mark<'a>(&'a self, key: &'a str, at_ms: u64, ttl: Duration) -> StoreFuture<'a, ()>;

    /// The marker times for `keys`, in the same order (`None`: no marker).
    fn markers<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<u64>>>;

    /// A marker from a coherent local copy, without I/O (see
    /// [`SessionStore::cached`]). The default knows nothing.
    fn cached_marker(&self, key: &str) -> Cached<u64> {
        let _ = key;
        Cached::Unknown
    }

    /// Records the id of a logout token (`key`) for `ttl`. Returns `true`
    /// when it was not seen before, `false` for a replay. Must be atomic
    /// across replicas (set-if-absent).
    fn remember_jti<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;
}

/// Coordinates token refreshes across replicas, so that one refresh token is
/// spent once however many replicas need new tokens at the same moment.
///
/// A refresh is named by a `key` the engine derives from the refresh token
/// (a hash: the token itself never reaches the store). The replica that wins
/// [`try_lock`](Self::try_lock) refreshes, renews its lease while the OP is
/// slow, [`publish`](Self::publish)es the outcome (bytes sealed by the engine)
/// and unlocks; the others poll [`outcome`](Self::outcome) and use it instead
/// of spending the (possibly rotated) refresh token again. A lock whose owner
/// died expires with its lease, and the next replica takes over.
///
/// Without a coordinator the engine still refreshes once per process.
pub trait RefreshCoordinator: Send + Sync + 'static {
    /// Takes the lock `key` for `lease` when nobody holds it, recording
    /// `owner` (a random token) as its holder. Returns whether it was taken.
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Extends the lease of `key` to `lease` from now when `owner` still
    /// holds it. Returns whether it does.
    fn renew<'a>(&'a self, key: &'a str, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool>;

    /// Releases `key` when `owner` holds it (no error otherwise).
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()>;

    /// Keeps `outcome` under `key` for `ttl`, for the replicas that wait.
    fn publish<'a>(&'a self, key: &'a str, outcome: &'a [u8], ttl: Duration)
    -> StoreFuture<'a, ()>;

    /// The outcome published under `key`, if any (and not expired).
    fn outcome<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
}

/// A session store and a logout store opened from one URL.
#[derive(Clone)]
pub struct OpenedStores {
    /// The session store.
    pub sessions: Arc<dyn SessionStore>,
    /// The logout store.
    pub logouts: Arc<dyn LogoutStore>,
    /// The refresh coordinator, for a store shared by replicas (`None`: the
    /// engine refreshes once per process).
    pub refresh: Option<Arc<dyn RefreshCoordinator>>,
}

impl std::fmt::Debug for OpenedStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedStores").finish_non_exhaustive()
    }
}

/// Opens the stores that `SESSION_STORE` and `LOGOUT_STORE` name by URL
/// (`redis://…`). The `portcullis-redis` crate provides one; pass it to
/// `OidcLayerBuilder::store_opener`.
pub trait StoreOpener: Send + Sync + 'static {
    /// Whether this opener handles `url` (by its scheme).
    fn handles(&self, url: &str) -> bool;

    /// Connects to the stores at `url`.
    fn open<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<OpenedStores, BoxError>> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_decoded_once_and_keeps_its_type() {
        let record = SessionRecord::from_bytes(b"abc".to_vec());
        let mut calls = 0;
        let first = record.decoded_with(|bytes| {
            calls += 1;
            Some(Arc::new(bytes.len()))
        });
        assert_eq!(first.as_deref(), Some(&3usize));
        let again = record
            .clone()
            .decoded_with::<usize>(|_| unreachable!("decoded once"));
        assert_eq!(again.as_deref(), Some(&3usize));
        assert_eq!(calls, 1);
        // Asking for another type finds nothing rather than a wrong value.
        assert!(record.decoded_with::<String>(|_| None).is_none());
    }

    #[test]
    fn the_decoded_form_is_only_peeked_never_initialised_by_decoded() {
        let fresh = SessionRecord::from_bytes(vec![1, 2, 3]);
        assert!(fresh.decoded::<u8>().is_none());
        assert_eq!(
            fresh.decoded_with(|b| Some(Arc::new(b.len()))).as_deref(),
            Some(&3usize)
        );
        let written = SessionRecord::with_decoded(vec![1, 2, 3], Arc::new(7u8));
        assert_eq!(written.decoded::<u8>().as_deref(), Some(&7));
    }
}
