//! The OpenID Provider as seen from the adapter: discovered metadata and a
//! JWKS cache that refreshes periodically and refetches on an unknown `kid`
//! (at most once a minute; the rules live in `portcullis-core`).

use std::sync::{Arc, RwLock};

use portcullis_core::discovery::{ProviderMetadata, discovery_request};
use portcullis_core::jose::{Jwks, JwksRefreshPolicy};
use portcullis_core::{HttpRequest, Method};

use crate::http_client::HttpClient;

/// Discovered provider metadata plus its key cache.
pub(crate) struct Provider {
    metadata: ProviderMetadata,
    http: HttpClient,
    jwks: RwLock<JwksState>,
    /// Serializes JWKS fetches so concurrent callbacks do not stampede the OP.
    fetch_lock: tokio::sync::Mutex<()>,
}

struct JwksState {
    keys: Arc<Jwks>,
    policy: JwksRefreshPolicy,
}

/// Why the provider could not be discovered or its keys fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    #[error("{0}")]
    Http(#[from] crate::http_client::HttpError),
    #[error("{0}")]
    Discovery(#[from] portcullis_core::discovery::DiscoveryError),
    #[error("JWKS: {0}")]
    Jwks(String),
}

impl Provider {
    /// Fetches and validates the discovery document, then the JWKS.
    pub(crate) async fn discover(
        issuer: &str,
        http: HttpClient,
        now: u64,
    ) -> Result<Self, ProviderError> {
        let request = discovery_request(issuer)?;
        let response = http.execute(request).await?;
        let metadata = ProviderMetadata::from_response(issuer, &response)?;
        let keys = fetch_jwks(&http, &metadata).await?;
        let mut policy = JwksRefreshPolicy::default();
        policy.record_fetch(now);
        Ok(Self {
            metadata,
            http,
            jwks: RwLock::new(JwksState {
                keys: Arc::new(keys),
                policy,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The validated discovery document.
    pub(crate) fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    /// The HTTP client used for every call to the OP.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The current key set, refreshed first if the periodic refresh is due.
    /// A failed periodic refresh keeps the old keys (and logs a warning).
    pub(crate) async fn keys(&self, now: u64) -> Arc<Jwks> {
        if self.due(Trigger::Periodic, now) {
            self.refetch(Trigger::Periodic, now).await;
        }
        self.current()
    }

    /// Refetches the key set after an unknown `kid`, if the rate limit allows.
    /// Returns the new keys when a fetch happened.
    pub(crate) async fn keys_after_unknown_kid(&self, now: u64) -> Option<Arc<Jwks>> {
        if self.due(Trigger::UnknownKid, now) && self.refetch(Trigger::UnknownKid, now).await {
            Some(self.current())
        } else {
            None
        }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, JwksState> {
        self.jwks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self) -> Arc<Jwks> {
        self.state().keys.clone()
    }

    fn due(&self, trigger: Trigger, now: u64) -> bool {
        trigger.is_due(&self.state().policy, now)
    }

    /// Fetches under the fetch lock if the trigger still holds once the lock
    /// is taken (another request may have fetched meanwhile). Returns whether
    /// new keys were stored.
    async fn refetch(&self, trigger: Trigger, now: u64) -> bool {
        let _guard = self.fetch_lock.lock().await;
        if !self.due(trigger, now) {
            return false;
        }
        let result = fetch_jwks(&self.http, &self.metadata).await;
        let mut state = self
            .jwks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        trigger.record(&mut state.policy, now);
        match result {
            Ok(keys) => {
                state.keys = Arc::new(keys);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS refresh failed; keeping the previous keys");
                false
            }
        }
    }
}

/// Why the key set is fetched again; each has its own limit in the policy.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// The periodic refresh interval has passed.
    Periodic,
    /// A token named a `kid` the key set does not have.
    UnknownKid,
}

impl Trigger {
    fn is_due(self, policy: &JwksRefreshPolicy, now: u64) -> bool {
        match self {
            Trigger::Periodic => policy.is_due_for_periodic_refresh(now),
            Trigger::UnknownKid => policy.should_refetch_on_unknown_kid(now),
        }
    }

    fn record(self, policy: &mut JwksRefreshPolicy, now: u64) {
        match self {
            Trigger::Periodic => policy.record_fetch(now),
            Trigger::UnknownKid => policy.record_unknown_kid_fetch(now),
        }
    }
}

async fn fetch_jwks(http: &HttpClient, metadata: &ProviderMetadata) -> Result<Jwks, ProviderError> {
    let url = metadata.jwks_uri.clone();
    let response = http
        .execute(HttpRequest {
            method: Method::Get,
            url,
            headers: vec![("accept", "application/json".into())],
            body: None,
        })
        .await?;
    if !(200..300).contains(&response.status) {
        return Err(ProviderError::Jwks(format!(
            "jwks_uri answered HTTP {}",
            response.status
        )));
    }
    Jwks::from_json(&response.body).map_err(|e| ProviderError::Jwks(e.to_string()))
}
