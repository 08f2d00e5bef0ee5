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
        let due = self
            .jwks
            .read()
            .map(|s| s.policy.is_due_for_periodic_refresh(now))
            .unwrap_or(true);
        if due {
            self.refetch(now, |p, now| p.is_due_for_periodic_refresh(now), false)
                .await;
        }
        self.current()
    }

    /// Refetches the key set after an unknown `kid`, if the rate limit allows.
    /// Returns the new keys when a fetch happened.
    pub(crate) async fn keys_after_unknown_kid(&self, now: u64) -> Option<Arc<Jwks>> {
        let allowed = self
            .jwks
            .read()
            .map(|s| s.policy.should_refetch_on_unknown_kid(now))
            .unwrap_or(false);
        if !allowed {
            return None;
        }
        if self
            .refetch(now, |p, now| p.should_refetch_on_unknown_kid(now), true)
            .await
        {
            Some(self.current())
        } else {
            None
        }
    }

    fn current(&self) -> Arc<Jwks> {
        match self.jwks.read() {
            Ok(state) => state.keys.clone(),
            Err(poisoned) => poisoned.into_inner().keys.clone(),
        }
    }

    /// Fetches under the lock if `still_needed` holds once the lock is taken.
    /// `for_unknown_kid` records the fetch against the unknown-`kid` rate limit.
    async fn refetch(
        &self,
        now: u64,
        still_needed: fn(&JwksRefreshPolicy, u64) -> bool,
        for_unknown_kid: bool,
    ) -> bool {
        let _guard = self.fetch_lock.lock().await;
        let needed = self
            .jwks
            .read()
            .map(|s| still_needed(&s.policy, now))
            .unwrap_or(true);
        if !needed {
            return false;
        }
        let result = fetch_jwks(&self.http, &self.metadata).await;
        let Ok(mut state) = self.jwks.write() else {
            return false;
        };
        if for_unknown_kid {
            state.policy.record_unknown_kid_fetch(now);
        } else {
            state.policy.record_fetch(now);
        }
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
