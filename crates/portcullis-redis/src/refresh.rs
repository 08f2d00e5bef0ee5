//! [`RedisRefreshCoordinator`]: one token refresh across replicas.
//!
//! The lock is `{prefix}r:{key}:lock` (`SET NX PX`, value = the owner's
//! random token), renewed and released only by its owner (compare-and-set
//! scripts). The outcome is `{prefix}r:{key}:done`, written before the lock
//! is released, so a waiter that sees the lock gone finds the outcome. Both
//! keys hold single values, so every command touches one key (cluster-safe).

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use portcullis_store::{RefreshCoordinator, StoreFuture};
use redis::Script;

use crate::stores::{Shared, ttl_ms};

const REFRESH_STORE: &str = "redis refresh coordinator";

/// Extends the lease when the caller still owns the lock.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Deletes the lock when the caller still owns it.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Refresh locks and outcomes in Redis. Get one from
/// [`RedisStores::refresh_coordinator`](crate::RedisStores::refresh_coordinator)
/// (the [`RedisOpener`](crate::RedisOpener) hands it to the engine).
#[derive(Clone)]
pub struct RedisRefreshCoordinator {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisRefreshCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshCoordinator")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRefreshCoordinator {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}r:{key}:lock", self.shared.prefix)
    }

    fn outcome_key(&self, key: &str) -> String {
        format!("{}r:{key}:done", self.shared.prefix)
    }
}

impl RefreshCoordinator for RedisRefreshCoordinator {
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let lock = &self.lock_key(key);
            let ms = ttl_ms(lease);
            // Not idempotent: a retry after a lost answer could see its own
            // lock and report it as someone else's (the caller then waits for
            // its own lease to expire, which is slow but safe).
            let set = self
                .shared
                .run(REFRESH_STORE, false, |mut live| async move {
                    redis::cmd("SET")
                        .arg(lock)
                        .arg(owner)
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

    fn renew<'a>(&'a self, key: &'a str, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let lock = &self.lock_key(key);
            let ms = ttl_ms(lease);
            let renewed = self
                .shared
                .run(REFRESH_STORE, true, |mut live| async move {
                    RENEW
                        .key(lock)
                        .arg(owner)
                        .arg(ms)
                        .invoke_async::<i64>(&mut live)
                        .await
                })
                .await?;
            Ok(renewed == 1)
        })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let lock = &self.lock_key(key);
            self.shared
                .run(REFRESH_STORE, true, |mut live| async move {
                    UNLOCK
                        .key(lock)
                        .arg(owner)
                        .invoke_async::<i64>(&mut live)
                        .await
                })
                .await?;
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        key: &'a str,
        outcome: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = &self.outcome_key(key);
            let ms = ttl_ms(ttl);
            self.shared
                .run(REFRESH_STORE, true, |mut live| async move {
                    redis::cmd("SET")
                        .arg(done)
                        .arg(outcome)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut live)
                        .await
                })
                .await
        })
    }

    fn outcome<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let done = &self.outcome_key(key);
            self.shared
                .run(REFRESH_STORE, true, |mut live| async move {
                    redis::cmd("GET")
                        .arg(done)
                        .query_async::<Option<Vec<u8>>>(&mut live)
                        .await
                })
                .await
        })
    }
}
