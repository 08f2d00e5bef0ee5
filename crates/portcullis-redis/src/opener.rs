//! [`RedisOpener`]: opens the stores that `SESSION_STORE` and `LOGOUT_STORE`
//! name by URL, for `OidcLayerBuilder::store_opener`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use portcullis_store::{BoxError, OpenedStores, StoreOpener};

use crate::{RedisOptions, RedisStores};

/// Opens `redis://`, `rediss://`, `redis+cluster://` and `redis+sentinel://`
/// URLs with [`RedisStores::connect`].
///
/// ```ignore
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// // SESSION_STORE=redis://127.0.0.1:6379 (and optionally LOGOUT_STORE)
/// let layer = portcullis::OidcLayerBuilder::from_env()?
///     .store_opener(Arc::new(portcullis_redis::RedisOpener::default()))
///     .build()
///     .await?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct RedisOpener {
    options: RedisOptions,
}

impl std::fmt::Debug for RedisOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOpener").finish_non_exhaustive()
    }
}

impl RedisOpener {
    /// An opener that connects with `options`.
    pub fn new(options: RedisOptions) -> Self {
        Self { options }
    }
}

impl StoreOpener for RedisOpener {
    fn handles(&self, url: &str) -> bool {
        url.split_once("://").is_some_and(|(scheme, _)| {
            let scheme = scheme.to_ascii_lowercase();
            scheme.starts_with("redis") || scheme.starts_with("valkey") || scheme == "unix"
        })
    }

    fn open<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<OpenedStores, BoxError>> + Send + 'a>> {
        Box::pin(async move {
            let stores = RedisStores::connect(url, self.options.clone()).await?;
            Ok(OpenedStores {
                sessions: Arc::new(stores.session_store()),
                logouts: Arc::new(stores.logout_store()),
                refresh: Some(Arc::new(stores.refresh_coordinator())),
            })
        })
    }
}
