//! The OpenID Provider as seen from the adapter: discovered metadata and a
//! JWKS cache that refreshes periodically and refetches on an unknown `kid`
//! (at most once a minute; the rules live in `portcullis-core`).
//!
//! Concurrent callers share one refetch. Every successful fetch bumps a
//! *generation* counter stored with the keys. A caller remembers the
//! generation of the keys it checked a token against; when that check fails
//! with an unknown `kid` it takes the fetch lock, and if the generation has
//! moved meanwhile (another caller fetched while this one waited) it retries
//! with those fresh keys instead of asking the rate limit, which the other
//! fetch has just closed. Only when the generation is unchanged does it fetch
//! itself, if the rate limit allows.

use std::sync::{Arc, RwLock};

use portcullis_core::discovery::{ProviderMetadata, discovery_request};
use portcullis_core::jose::{Jwks, JwksError, JwksRefreshPolicy};
use portcullis_core::{HttpRequest, Method};

use crate::http_client::{HttpClient, OpEndpoint};
use crate::telemetry::{self, JwksTrigger, UnknownKid};

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
    /// Bumped every time fetched keys are stored (not on a failed fetch).
    generation: u64,
}

/// The keys together with the generation they belong to, read at once.
struct Snapshot {
    keys: Arc<Jwks>,
    generation: u64,
}

/// What an unknown `kid` led to.
enum AfterUnknownKid {
    /// Keys newer than the caller's: fetched by this call, or by another
    /// caller since the caller read its keys.
    Newer(Arc<Jwks>),
    /// The keys are the caller's and the rate limit forbids a refetch now.
    RateLimited,
    /// The refetch was attempted and failed; the old keys are kept.
    Failed,
}

/// Why the provider could not be discovered or its keys fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    #[error("{0}")]
    Http(#[from] crate::http_client::HttpError),
    #[error("{0}")]
    Discovery(#[from] portcullis_core::discovery::DiscoveryError),
    #[error("JWKS: jwks_uri answered HTTP {0}")]
    JwksStatus(u16),
    #[error("JWKS: {0}")]
    JwksDocument(#[source] JwksError),
}

impl Provider {
    /// Fetches and validates the discovery document, then the JWKS.
    pub(crate) async fn discover(
        issuer: &str,
        http: HttpClient,
        now: u64,
    ) -> Result<Self, ProviderError> {
        let request = discovery_request(issuer)?;
        let response = http.execute_for(OpEndpoint::Discovery, request).await?;
        let metadata = ProviderMetadata::from_response(issuer, &response)?;
        let keys = fetch_jwks(&http, &metadata).await;
        telemetry::jwks_fetch(JwksTrigger::Startup, keys.as_ref().map(|_| ()));
        let keys = keys?;
        let mut policy = JwksRefreshPolicy::default();
        policy.record_fetch(now);
        Ok(Self {
            metadata,
            http,
            jwks: RwLock::new(JwksState {
                keys: Arc::new(keys),
                policy,
                generation: 0,
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

    /// Runs `check` with the current keys; when it fails with an unknown `kid`,
    /// refetches the JWKS (rate-limited, shared between concurrent callers) and runs it once more.
    ///
    /// The current keys are refreshed first if the periodic refresh is due.
    /// If another caller stored newer keys since this one read its keys, the
    /// retry uses those without fetching again. When neither newer keys nor a
    /// refetch are available (rate limit closed, or the fetch failed), the
    /// first error is returned.
    pub(crate) async fn verify_with_keys<T, E>(
        &self,
        now: u64,
        check: impl Fn(&Jwks) -> Result<T, E>,
        is_unknown_kid: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let seen = self.snapshot_after_periodic(now).await;
        match check(&seen.keys) {
            Err(error) if is_unknown_kid(&error) => {
                match self.after_unknown_kid(seen.generation, now).await {
                    AfterUnknownKid::Newer(keys) => check(&keys),
                    AfterUnknownKid::RateLimited | AfterUnknownKid::Failed => Err(error),
                }
            }
            other => other,
        }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, JwksState> {
        self.jwks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot {
            keys: state.keys.clone(),
            generation: state.generation,
        }
    }

    /// The keys and their generation, after a periodic refresh if one is due.
    async fn snapshot_after_periodic(&self, now: u64) -> Snapshot {
        if Trigger::Periodic.is_due(&self.state().policy, now) {
            let _guard = self.fetch_lock.lock().await;
            // Another caller may have refreshed while this one waited.
            if Trigger::Periodic.is_due(&self.state().policy, now) {
                // A failure is logged by `fetch_and_store`; the old keys stay.
                let _ = self.fetch_and_store(Trigger::Periodic, now).await;
            }
        }
        self.snapshot()
    }

    /// Decides, and fetches if needed, after the keys of generation `seen`
    /// did not hold a token's `kid`.
    async fn after_unknown_kid(&self, seen: u64, now: u64) -> AfterUnknownKid {
        // Without waiting for the lock: newer keys are already there, or a
        // burst of unknown kids is turned away without queueing.
        if let Some(decided) = self.decide_without_fetch(seen, now) {
            return decided.counted();
        }
        let _guard = self.fetch_lock.lock().await;
        // Another caller may have fetched while this one waited for the lock;
        // that fetch closed the rate limit, and its keys are the ones to use.
        if let Some(decided) = self.decide_without_fetch(seen, now) {
            return decided.counted();
        }
        match self.fetch_and_store(Trigger::UnknownKid, now).await {
            Some(keys) => {
                telemetry::unknown_kid(UnknownKid::Refetched);
                AfterUnknownKid::Newer(keys)
            }
            None => AfterUnknownKid::Failed.counted(),
        }
    }

    /// `Newer` if keys newer than generation `seen` are stored, `RateLimited`
    /// if an unknown `kid` may not trigger a fetch now, else `None` (fetch).
    fn decide_without_fetch(&self, seen: u64, now: u64) -> Option<AfterUnknownKid> {
        let state = self.state();
        if state.generation != seen {
            return Some(AfterUnknownKid::Newer(state.keys.clone()));
        }
        if !Trigger::UnknownKid.is_due(&state.policy, now) {
            return Some(AfterUnknownKid::RateLimited);
        }
        None
    }

    /// Fetches the JWKS (the caller holds the fetch lock), records the attempt
    /// for `trigger`'s limit, and stores the keys under a new generation.
    /// Returns them, or `None` (with a warning) when the fetch failed.
    async fn fetch_and_store(&self, trigger: Trigger, now: u64) -> Option<Arc<Jwks>> {
        let result = fetch_jwks(&self.http, &self.metadata).await;
        telemetry::jwks_fetch(trigger.metric(), result.as_ref().map(|_| ()));
        let mut state = self
            .jwks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        trigger.record(&mut state.policy, now);
        match result {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = keys.clone();
                state.generation = state.generation.wrapping_add(1);
                Some(keys)
            }
            Err(error) => {
                tracing::warn!(%error, ?trigger, "JWKS refresh failed; keeping the previous keys");
                None
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

    fn metric(self) -> JwksTrigger {
        match self {
            Trigger::Periodic => JwksTrigger::Periodic,
            Trigger::UnknownKid => JwksTrigger::UnknownKid,
        }
    }
}

impl AfterUnknownKid {
    /// Records what a decision without a fetch of this caller's was.
    fn counted(self) -> Self {
        telemetry::unknown_kid(match &self {
            AfterUnknownKid::Newer(_) => UnknownKid::NewerKeys,
            AfterUnknownKid::RateLimited => UnknownKid::RateLimited,
            AfterUnknownKid::Failed => UnknownKid::RefetchFailed,
        });
        self
    }
}

async fn fetch_jwks(http: &HttpClient, metadata: &ProviderMetadata) -> Result<Jwks, ProviderError> {
    let url = metadata.jwks_uri.clone();
    let response = http
        .execute_for(
            OpEndpoint::Jwks,
            HttpRequest {
                method: Method::Get,
                url,
                headers: vec![("accept", "application/json".into())],
                body: None,
            },
        )
        .await?;
    if !(200..300).contains(&response.status) {
        return Err(ProviderError::JwksStatus(response.status));
    }
    Jwks::from_json(&response.body).map_err(ProviderError::JwksDocument)
}

#[cfg(test)]
mod tests {
    //! The cache against a real local OP (axum on 127.0.0.1:0) whose JWKS can
    //! change, fail, answer slowly, and counts its hits; tokens are real
    //! EdDSA ID tokens checked by `portcullis-core`.

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use portcullis_core::id_token::{IdTokenError, IdTokenExpectations, validate_id_token};
    use portcullis_core::jose::Algorithm;
    use serde_json::{Value, json};
    use tokio::sync::Barrier;

    use super::*;

    const CLIENT_ID: &str = "rp";
    /// The startup time of every test provider (unix seconds).
    const T0: u64 = 1_800_000_000;
    /// Long enough that concurrent callers pile up behind one fetch.
    const SLOW_JWKS: Duration = Duration::from_millis(150);

    struct OpState {
        issuer: String,
        jwks: Mutex<Value>,
        /// `None` serves `jwks`; `Some(status)` answers that status instead.
        jwks_failure: Mutex<Option<StatusCode>>,
        delay: Mutex<Duration>,
        hits: AtomicUsize,
    }

    struct TestOp {
        state: Arc<OpState>,
    }

    impl TestOp {
        async fn start(published: &SigningKey) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let state = Arc::new(OpState {
                issuer: format!("http://127.0.0.1:{port}"),
                jwks: Mutex::new(json!({"keys": [published.jwk.clone()]})),
                jwks_failure: Mutex::new(None),
                delay: Mutex::new(Duration::ZERO),
                hits: AtomicUsize::new(0),
            });
            let app = axum::Router::new()
                .route("/.well-known/openid-configuration", get(discovery))
                .route("/jwks", get(jwks))
                .with_state(state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { state }
        }

        /// Publishes only `key` from now on, served after `delay`.
        fn rotate_to(&self, key: &SigningKey, delay: Duration) {
            *lock(&self.state.jwks) = json!({"keys": [key.jwk.clone()]});
            *lock(&self.state.delay) = delay;
        }

        fn hits(&self) -> usize {
            self.state.hits.load(Ordering::SeqCst)
        }

        async fn provider(&self) -> Arc<Provider> {
            let http = HttpClient::new(Duration::from_secs(5)).expect("http client");
            let provider = Provider::discover(&self.state.issuer, http, T0)
                .await
                .expect("discovery");
            assert_eq!(self.hits(), 1, "one JWKS fetch at startup");
            Arc::new(provider)
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn json_response(status: StatusCode, body: &Value) -> Response {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }

    async fn discovery(State(state): State<Arc<OpState>>) -> Response {
        let issuer = &state.issuer;
        json_response(
            StatusCode::OK,
            &json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
            }),
        )
    }

    async fn jwks(State(state): State<Arc<OpState>>) -> Response {
        state.hits.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&state.delay);
        tokio::time::sleep(delay).await;
        if let Some(status) = *lock(&state.jwks_failure) {
            return json_response(status, &json!({"error": "unavailable"}));
        }
        let document = lock(&state.jwks).clone();
        json_response(StatusCode::OK, &document)
    }

    /// An Ed25519 key of the OP.
    struct SigningKey {
        kid: String,
        encoding: jsonwebtoken::EncodingKey,
        jwk: Value,
    }

    impl SigningKey {
        fn new(kid: &str) -> Self {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate");
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
            Self {
                kid: kid.to_owned(),
                encoding: jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
                jwk: json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                }),
            }
        }

        /// An ID token for `issuer`, signed by this key but naming `kid`.
        fn id_token_naming(&self, issuer: &str, kid: &str) -> String {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            header.kid = Some(kid.to_owned());
            let claims = json!({
                "iss": issuer, "sub": "alice", "aud": CLIENT_ID,
                "iat": T0, "exp": T0 + 3_600,
            });
            jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign")
        }

        fn id_token(&self, issuer: &str) -> String {
            self.id_token_naming(issuer, &self.kid)
        }
    }

    fn random_kid() -> String {
        let mut bytes = [0u8; 12];
        SystemRandom::new().fill(&mut bytes).expect("random");
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Verifies `token` through `verify_with_keys` at `now`.
    async fn verify(
        provider: &Provider,
        issuer: &str,
        token: &str,
        now: u64,
    ) -> Result<String, IdTokenError> {
        let expectations = IdTokenExpectations {
            issuer,
            client_id: CLIENT_ID,
            client_secret: None,
            allowed_algs: &[Algorithm::EdDSA],
            nonce: None,
            max_age: None,
            now,
            skew_secs: 60,
        };
        provider
            .verify_with_keys(
                now,
                |keys| validate_id_token(token, keys, &expectations).map(|c| c.sub),
                IdTokenError::is_unknown_kid,
            )
            .await
    }

    /// Runs one verification per token, all released at the same instant.
    async fn verify_concurrently(
        provider: &Arc<Provider>,
        issuer: &str,
        tokens: Vec<String>,
        now: u64,
    ) -> Vec<Result<String, IdTokenError>> {
        let barrier = Arc::new(Barrier::new(tokens.len()));
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|token| {
                let (provider, barrier, issuer) =
                    (provider.clone(), barrier.clone(), issuer.to_owned());
                tokio::spawn(async move {
                    barrier.wait().await;
                    verify(&provider, &issuer, &token, now).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("verification task"));
        }
        results
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_verifications_after_a_rotation_all_succeed_with_one_shared_refetch() {
        let (old, new) = (SigningKey::new("k1"), SigningKey::new("k2"));
        let op = TestOp::start(&old).await;
        let provider = op.provider().await;
        let issuer = op.state.issuer.clone();
        assert_eq!(
            verify(&provider, &issuer, &old.id_token(&issuer), T0 + 1)
                .await
                .as_deref(),
            Ok("alice")
        );

        op.rotate_to(&new, SLOW_JWKS);
        let tokens = (0..16).map(|_| new.id_token(&issuer)).collect();
        let results = verify_concurrently(&provider, &issuer, tokens, T0 + 5).await;

        let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
        assert!(
            failed.is_empty(),
            "{} of 16 failed: {failed:?}",
            failed.len()
        );
        assert_eq!(op.hits(), 2, "exactly one refetch for the rotation");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_caller_that_read_its_keys_before_another_refetch_uses_the_fresh_keys() {
        let (old, new) = (SigningKey::new("k1"), SigningKey::new("k2"));
        let op = TestOp::start(&old).await;
        let provider = op.provider().await;
        let issuer = op.state.issuer.clone();
        let token = new.id_token(&issuer);
        op.rotate_to(&new, Duration::ZERO);

        // The caller's keys are read before the other caller's fetch...
        let stale = provider.snapshot();
        assert!(validate_id_token(&token, &stale.keys, &expectations_for(&issuer)).is_err());
        // ...which then brings the new key and closes the rate limit.
        assert_eq!(
            verify(&provider, &issuer, &token, T0 + 5).await.as_deref(),
            Ok("alice")
        );
        assert_eq!(op.hits(), 2);
        match provider.after_unknown_kid(stale.generation, T0 + 6).await {
            AfterUnknownKid::Newer(keys) => {
                assert!(validate_id_token(&token, &keys, &expectations_for(&issuer)).is_ok());
            }
            AfterUnknownKid::RateLimited | AfterUnknownKid::Failed => {
                panic!("the keys another caller fetched must be used")
            }
        }
        assert_eq!(op.hits(), 2, "no fetch beyond the first");
    }

    fn expectations_for(issuer: &str) -> IdTokenExpectations<'_> {
        IdTokenExpectations {
            issuer,
            client_id: CLIENT_ID,
            client_secret: None,
            allowed_algs: &[Algorithm::EdDSA],
            nonce: None,
            max_age: None,
            now: T0 + 5,
            skew_secs: 60,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_random_unknown_kids_refetches_at_most_once_a_minute() {
        let key = SigningKey::new("k1");
        let op = TestOp::start(&key).await;
        let provider = op.provider().await;
        let issuer = op.state.issuer.clone();
        *lock(&op.state.delay) = SLOW_JWKS;
        let burst = || {
            (0..32)
                .map(|_| key.id_token_naming(&issuer, &random_kid()))
                .collect::<Vec<_>>()
        };

        for (now, fetches) in [
            (T0 + 1, 2),  // the first unknown kid may refetch once
            (T0 + 30, 2), // within the minute: none
            (T0 + 60, 2), // 59 s after that refetch: still none
            (T0 + 61, 3), // a minute later: one more
            (T0 + 62, 3),
        ] {
            let results = verify_concurrently(&provider, &issuer, burst(), now).await;
            assert!(
                results
                    .iter()
                    .all(|r| matches!(r, Err(e) if e.is_unknown_kid())),
                "every unknown kid is rejected as such at {now}: {results:?}"
            );
            assert_eq!(op.hits(), fetches, "JWKS fetches after the burst at {now}");
        }
        // The real key still works throughout.
        assert_eq!(
            verify(&provider, &issuer, &key.id_token(&issuer), T0 + 63)
                .await
                .as_deref(),
            Ok("alice")
        );
        assert_eq!(op.hits(), 3);
    }

    #[tokio::test]
    async fn a_failed_refetch_keeps_the_old_keys_and_returns_the_first_error() {
        let (old, new) = (SigningKey::new("k1"), SigningKey::new("k2"));
        let op = TestOp::start(&old).await;
        let provider = op.provider().await;
        let issuer = op.state.issuer.clone();
        op.rotate_to(&new, Duration::ZERO);
        *lock(&op.state.jwks_failure) = Some(StatusCode::SERVICE_UNAVAILABLE);

        let result = verify(&provider, &issuer, &new.id_token(&issuer), T0 + 5).await;
        assert!(
            matches!(&result, Err(e) if e.is_unknown_kid()),
            "{result:?}"
        );
        assert_eq!(op.hits(), 2, "one attempt");
        // The failed attempt counts against the limit (a failing OP is not hammered)...
        *lock(&op.state.jwks_failure) = None;
        let again = verify(&provider, &issuer, &new.id_token(&issuer), T0 + 30).await;
        assert!(matches!(&again, Err(e) if e.is_unknown_kid()), "{again:?}");
        assert_eq!(op.hits(), 2);
        // ...and the old keys still verify.
        assert_eq!(
            verify(&provider, &issuer, &old.id_token(&issuer), T0 + 31)
                .await
                .as_deref(),
            Ok("alice")
        );
        // A minute later the rotation is followed.
        assert_eq!(
            verify(&provider, &issuer, &new.id_token(&issuer), T0 + 65)
                .await
                .as_deref(),
            Ok("alice")
        );
        assert_eq!(op.hits(), 3);
    }

    #[tokio::test]
    async fn a_failed_refetch_reports_the_status_as_a_typed_error() {
        let key = SigningKey::new("k1");
        let op = TestOp::start(&key).await;
        let provider = op.provider().await;
        *lock(&op.state.jwks_failure) = Some(StatusCode::BAD_GATEWAY);
        let error = fetch_jwks(&provider.http, &provider.metadata).await.err();
        assert!(
            matches!(error, Some(ProviderError::JwksStatus(502))),
            "{error:?}"
        );
    }
}
