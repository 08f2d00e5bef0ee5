//! [`RedisStores`], [`RedisSessionStore`] and [`RedisLogoutStore`].

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use portcullis_store::{Cached, LogoutStore, SessionRecord, SessionStore, StoreError, StoreFuture};
use redis::{RedisError, RedisResult, Script};
use tokio::sync::oneshot;

use crate::coherence::{Coherence, Space};
use crate::config::{RedisConfigError, RedisOptions, parse_url};
use crate::conn::{self, Conn, Live, is_connection_error};
use crate::subscriber::{self, marker_message_prefix, session_message};

const SESSION_STORE: &str = "redis session";
const LOGOUT_STORE: &str = "redis logout";

/// The longest TTL sent to Redis (100 years).
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3_600 * 1_000;

/// Saves a session and announces it, atomically.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1",
    )
});

/// Deletes a session and announces it when it existed.
static DESTROY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local n = redis.call('DEL', KEYS[1])
if n > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return n",
    )
});

/// Extends a session and announces it when it existed.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local n = redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n",
    )
});

/// Records a marker as the max of the old and new times (and the longer
/// TTL), announces the result, and returns it as `{at, ttl_ms}`.
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local at = ARGV[1]
local ttl = tonumber(ARGV[2])
local old = redis.call('GET', KEYS[1])
if old then
  local o = tonumber(old)
  if o and o > tonumber(at) then at = old end
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
local ttl_s = string.format('%d', ttl)
redis.call('SET', KEYS[1], at, 'PX', ttl_s)
redis.call('PUBLISH', ARGV[3], ARGV[4] .. at .. ':' .. ttl_s .. ':' .. ARGV[5])
return {at, ttl_s}",
    )
});

/// A store call took longer than the command timeout.
#[derive(Debug, thiserror::Error)]
#[error("Redis did not answer within {0:?}")]
struct TimedOut(Duration);

pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MS)
}

/// Whether the server answered `code`, alone or inside a pipeline.
fn has_code(err: &RedisError, code: &str) -> bool {
    err.code() == Some(code)
        || err
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| e.code() == code))
}

/// Server answers meaning the command did not run and may run soon: the
/// server is loading its data, is a replica after a failover, or the
/// cluster is reconfiguring.
fn server_not_ready(err: &RedisError) -> bool {
    matches!(
        err.code(),
        Some("LOADING" | "READONLY" | "CLUSTERDOWN" | "MASTERDOWN" | "TRYAGAIN")
    )
}

fn to_store_error(store: &'static str, err: RedisError) -> StoreError {
    let wrong_type = matches!(
        err.kind(),
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType
    ) || has_code(&err, "WRONGTYPE");
    if wrong_type {
        StoreError::Malformed {
            store,
            reason: "a key holds a value of an unexpected type".into(),
        }
    } else {
        StoreError::unavailable(store, err)
    }
}

/// What the session and logout stores share: connections, the local copy,
/// the subscriber task.
pub(crate) struct Shared {
    conn: Conn,
    coherence: Arc<Coherence>,
    pub(crate) prefix: String,
    channel: String,
    origin: String,
    command_timeout: Duration,
    subscriber: tokio::task::AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl Shared {
    fn session_key(&self, id: &str) -> String {
        format!("{}s:{id}", self.prefix)
    }

    fn marker_key(&self, key: &str) -> String {
        format!("{}m:{key}", self.prefix)
    }

    fn jti_key(&self, key: &str) -> String {
        format!("{}j:{key}", self.prefix)
    }

    /// Runs `op` within the command timeout. A server that is busy coming up
    /// or failing over (`LOADING`, `READONLY`, `CLUSTERDOWN`…: the command
    /// did not run) is retried until the timeout; a broken connection is
    /// retried once on a fresh one (a restarted Redis leaves the old
    /// connection dead), but only when `idempotent` or the connection was
    /// refused outright. Everything else fails at once.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        store: &'static str,
        idempotent: bool,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(Live) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempts = async {
            let mut pause = Duration::from_millis(20);
            let mut reconnected = false;
            loop {
                let result = match self.conn.live().await {
                    Ok(live) => op(live).await,
                    Err(err) => Err(err),
                };
                let err = match result {
                    Ok(value) => return Ok(value),
                    Err(err) => err,
                };
                self.conn.failed(&err);
                if server_not_ready(&err) {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                    continue;
                }
                let connection = is_connection_error(&err);
                if connection && !reconnected && (idempotent || err.is_connection_refusal()) {
                    reconnected = true;
                    continue;
                }
                return Err(err);
            }
        };
        match tokio::time::timeout(self.command_timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(to_store_error(store, err)),
            Err(_) => Err(StoreError::unavailable(
                store,
                TimedOut(self.command_timeout),
            )),
        }
    }

    /// `GET` and `PTTL` of one key.
    async fn read(
        &self,
        store: &'static str,
        key: &str,
    ) -> Result<(Option<Vec<u8>>, i64), StoreError> {
        self.run(store, true, |mut live| async move {
            redis::pipe()
                .cmd("GET")
                .arg(key)
                .cmd("PTTL")
                .arg(key)
                .query_async::<(Option<Vec<u8>>, i64)>(&mut live)
                .await
        })
        .await
    }
}

/// A Redis-backed session store and logout store sharing one set of
/// connections, one replica-local cache and one invalidation subscription.
///
/// Build it once with [`RedisStores::connect`] and hand
/// [`session_store`](RedisStores::session_store) and
/// [`logout_store`](RedisStores::logout_store) to the layer builder. Cheap to
/// clone; the background subscription ends when the last clone (and the
/// last store taken from it) is dropped.
#[derive(Clone)]
pub struct RedisStores {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStores")
            .field("prefix", &self.shared.prefix)
            .field("coherent", &self.shared.coherence.serving())
            .finish_non_exhaustive()
    }
}

impl RedisStores {
    /// Connects to Redis at `url` (see the [crate documentation](crate) for
    /// the forms: `redis://`, `rediss://`, `redis+cluster://`,
    /// `redis+sentinel://`), checks that it answers within the connect
    /// timeout, and starts the invalidation subscription (waiting for it up
    /// to the connect timeout; the stores work without it, only without the
    /// local cache). Must be called inside a Tokio runtime.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisConfigError> {
        options.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RedisConfigError::NoRuntime)?;
        let target = parse_url(url)?;
        let (conn, source) = conn::open(&target, &options).await?;
        let coherence = Arc::new(Coherence::new(
            options.local_session_capacity,
            options.local_marker_capacity,
        ));
        let origin = format!("{:016x}", new_origin());
        // Channels are not per database: name the database in it, or two
        // applications on different databases would apply each other's
        // markers.
        let channel = match target.db() {
            0 => format!("{}invalidate", options.key_prefix),
            db => format!("{}invalidate@{db}", options.key_prefix),
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = runtime.spawn(subscriber::run(
            source,
            channel.clone(),
            origin.clone(),
            coherence.clone(),
            options.connect_timeout,
            Some(ready_tx),
        ));
        let shared = Arc::new(Shared {
            conn,
            coherence,
            prefix: options.key_prefix,
            channel,
            origin,
            command_timeout: options.command_timeout,
            subscriber: task.abort_handle(),
        });
        if tokio::time::timeout(options.connect_timeout, ready_rx)
            .await
            .is_err()
        {
            tracing::warn!(
                "portcullis-redis: the invalidation subscription is not up yet; every request goes to Redis until it is"
            );
        }
        Ok(Self { shared })
    }

    /// The session store.
    pub fn session_store(&self) -> RedisSessionStore {
        RedisSessionStore {
            shared: self.shared.clone(),
        }
    }

    /// The logout store.
    pub fn logout_store(&self) -> RedisLogoutStore {
        RedisLogoutStore {
            shared: self.shared.clone(),
        }
    }

    /// The refresh coordinator: one refresh per refresh token across every
    /// replica on this Redis.
    pub fn refresh_coordinator(&self) -> crate::refresh::RedisRefreshCoordinator {
        crate::refresh::RedisRefreshCoordinator::new(self.shared.clone())
    }

    /// True while the local cache answers: the invalidation subscription is
    /// up, resynchronised, and answered its last heartbeat. When false,
    /// every `cached*` call answers [`Cached::Unknown`]. Useful for a
    /// readiness probe or a metric; correctness never depends on it.
    pub fn is_coherent(&self) -> bool {
        self.shared.coherence.serving()
    }

    /// Waits up to `timeout` for [`is_coherent`](Self::is_coherent); returns
    /// whether it became true.
    pub async fn wait_coherent(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_coherent() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A random 64-bit id for this set of stores (std's `RandomState` is
/// seeded from the OS; the time and pid only add to it).
fn new_origin() -> u64 {
    let seed = (
        std::process::id(),
        Instant::now(),
        std::time::SystemTime::now(),
    );
    RandomState::new().hash_one(format!("{seed:?}"))
}

/// Sessions in Redis under `{prefix}s:{id}`, with a replica-local copy.
/// Get one from [`RedisStores::session_store`].
#[derive(Clone)]
pub struct RedisSessionStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// True while the local copy answers (see [`RedisStores::is_coherent`]).
    pub fn is_coherent(&self) -> bool {
        self.shared.coherence.serving()
    }
}

impl SessionStore for RedisSessionStore {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(async move {
            let s = &*self.shared;
            let ticket = s.coherence.ticket(Space::Session, id);
            let (bytes, pttl) = s.read(SESSION_STORE, &s.session_key(id)).await?;
            let record = bytes.map(SessionRecord::from_bytes);
            s.coherence
                .loaded_session(&ticket, id, record.as_ref(), pttl);
            Ok(record)
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if ttl < Duration::from_millis(1) {
                // Nothing can live for less than a millisecond in Redis.
                return self.destroy(id).await;
            }
            let s = &*self.shared;
            let key = s.session_key(id);
            let message = session_message(&s.origin, id);
            let ms = ttl_ms(ttl);
            let ticket = s.coherence.ticket(Space::Session, id);
            let (key, message, bytes) = (&key, &message, record.as_bytes());
            let result = s
                .run(SESSION_STORE, true, |mut live| async move {
                    SAVE.key(key)
                        .arg(bytes)
                        .arg(ms)
                        .arg(&s.channel)
                        .arg(message)
                        .invoke_async::<i64>(&mut live)
                        .await
                })
                .await;
            match result {
                Ok(_) => {
                    s.coherence.saved_session(&ticket, id, &record, ttl);
                    Ok(())
                }
                Err(err) => {
                    s.coherence.forget_session(&ticket, id);
                    Err(err)
                }
            }
        })
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let s = &*self.shared;
            let key = s.session_key(id);
            let message = session_message(&s.origin, id);
            let ticket = s.coherence.ticket(Space::Session, id);
            let (key, message) = (&key, &message);
            let result = s
                .run(SESSION_STORE, true, |mut live| async move {
                    DESTROY
                        .key(key)
                        .arg(&s.channel)
                        .arg(message)
                        .invoke_async::<i64>(&mut live)
                        .await
                })
                .await;
            match result {
                Ok(_) => {
                    s.coherence.destroyed_session(&ticket, id);
                    Ok(())
                }
                Err(err) => {
                    s.coherence.forget_session(&ticket, id);
                    Err(err)
                }
            }
        })
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let s = &*self.shared;
            let key = s.session_key(id);
            let message = session_message(&s.origin, id);
            let ms = ttl_ms(ttl);
            let ticket = s.coherence.ticket(Space::Session, id);
            let (key, message) = (&key, &message);
            let result = s
                .run(SESSION_STORE, true, |mut live| async move {
                    TOUCH
                        .key(key)
                        .arg(ms)
                        .arg(&s.channel)
                        .arg(message)
                        .invoke_async::<i64>(&mut live)
                        .await
                })
                .await;
            match result {
                Ok(existed) => {
                    s.coherence.touched_session(&ticket, id, existed == 1, ttl);
                    Ok(())
                }
                Err(err) => {
                    s.coherence.forget_session(&ticket, id);
                    Err(err)
                }
            }
        })
    }

    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        self.shared.coherence.cached_session(id)
    }
}

/// Logout markers under `{prefix}m:{key}` and used logout-token ids under
/// `{prefix}j:{key}`, with a replica-local copy of the markers. Get one
/// from [`RedisStores::logout_store`].
#[derive(Clone)]
pub struct RedisLogoutStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisLogoutStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLogoutStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLogoutStore {
    /// True while the local copy answers (see [`RedisStores::is_coherent`]).
    pub fn is_coherent(&self) -> bool {
        self.shared.coherence.serving()
    }

    async fn marker(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let s = &*self.shared;
        let ticket = s.coherence.ticket(Space::Marker, key);
        let (bytes, pttl) = s.read(LOGOUT_STORE, &s.marker_key(key)).await?;
        let at = match bytes {
            None => None,
            Some(bytes) => Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| StoreError::Malformed {
                        store: LOGOUT_STORE,
                        reason: "a logout marker is not a number".into(),
                    })?,
            ),
        };
        s.coherence.loaded_marker(&ticket, key, at, pttl);
        Ok(at)
    }
}

impl LogoutStore for RedisLogoutStore {
    fn mark<'a>(&'a self, key: &'a str, at_ms: u64, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let s = &*self.shared;
            let redis_key = s.marker_key(key);
            let prefix = marker_message_prefix(&s.origin);
            let ms = ttl_ms(ttl);
            let ticket = s.coherence.ticket(Space::Marker, key);
            let (redis_key, prefix) = (&redis_key, &prefix);
            let result = s
                .run(LOGOUT_STORE, true, |mut live| async move {
                    MARK.key(redis_key)
                        .arg(at_ms)
                        .arg(ms)
                        .arg(&s.channel)
                        .arg(prefix)
                        .arg(key)
                        .invoke_async::<(u64, u64)>(&mut live)
                        .await
                })
                .await;
            match result {
                Ok((at, ttl_ms)) => {
                    s.coherence
                        .marked(&ticket, key, at, Duration::from_millis(ttl_ms));
                    Ok(())
                }
                Err(err) => {
                    s.coherence.forget_marker(&ticket, key);
                    Err(err)
                }
            }
        })
    }

    fn markers<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<u64>>> {
        // One GET+PTTL per key, sent together: the connection pipelines
        // them, and in a cluster each goes to its own slot's node.
        Box::pin(async move {
            futures_util::future::try_join_all(keys.iter().map(|key| self.marker(key))).await
        })
    }

    fn cached_marker(&self, key: &str) -> Cached<u64> {
        self.shared.coherence.cached_marker(key)
    }

    fn remember_jti<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let s = &*self.shared;
            let redis_key = s.jti_key(key);
            let ms = ttl_ms(ttl);
            let redis_key = &redis_key;
            // Not idempotent: retried only when Redis surely did not run it.
            let set = s
                .run(LOGOUT_STORE, false, |mut live| async move {
                    redis::cmd("SET")
                        .arg(redis_key)
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(ms)
                        .query_async::<Option<String>>(&mut live)
                        .await
                })
                .await?;
            Ok(set.is_some())
        })
    }
}
