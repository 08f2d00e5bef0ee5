//! [`BearerVerifier`] and its builder: which issuers and audiences are
//! trusted, where the keys come from, and the verification of one request.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use portcullis_core::Secret;
use portcullis_core::access_token::{
    AccessTokenError, AccessTokenExpectations, BearerHeader, BearerHeaderError, TypPolicy,
    bearer_token_from_headers, bearer_token_from_query, looks_like_jwt, query_has_access_token,
    unverified_issuer, validate_access_token,
};
use portcullis_core::introspection::{
    IntrospectionExpectations, introspection_request, validate_introspection_response,
};
use portcullis_core::jose::Algorithm;
use url::Url;

use super::cache::TokenCache;
use super::error::BearerError;
use super::requirements::BearerRequirements;
use super::token::{BearerToken, TokenSource};
use crate::clock::now_unix;
use crate::engine::Engine;
use crate::http_client::HttpClient;
use crate::provider::Provider;

/// Verified tokens remembered by default.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;
/// The longest a verified token is answered from the cache by default
/// (seconds): a key removed from the JWKS, or a revocation seen by
/// introspection, takes effect within this bound.
pub const DEFAULT_TOKEN_CACHE_TTL_SECS: u64 = 300;

/// Why a [`BearerVerifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerConfigError {
    /// A required setting is missing.
    #[error("{0} is required for bearer-token verification")]
    Missing(&'static str),
    /// A setting has an unusable value.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The setting (environment variable or builder method).
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An issuer could not be discovered (or its keys fetched).
    #[error("cannot discover the issuer {issuer}: {source}")]
    Discovery {
        /// The issuer URL.
        issuer: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Introspection was asked for, but the OP advertises no endpoint.
    #[error("the issuer {0} advertises no introspection_endpoint")]
    NoIntrospectionEndpoint(String),
}

/// Where an issuer's keys (and HTTP client) come from.
enum Keys {
    /// The sign-in engine's provider: one JWKS cache for both.
    Engine(Arc<Engine>),
    /// A provider discovered for this verifier alone.
    Own(Box<Provider>),
}

impl Keys {
    fn provider(&self) -> &Provider {
        match self {
            Keys::Engine(engine) => &engine.provider,
            Keys::Own(provider) => provider,
        }
    }
}

struct Introspection {
    endpoint: Url,
    client_id: String,
    client_secret: Secret,
}

struct TrustedIssuer {
    issuer: String,
    keys: Keys,
    introspection: Option<Introspection>,
}

struct Inner {
    issuers: Vec<TrustedIssuer>,
    audiences: Vec<String>,
    algs: Vec<Algorithm>,
    typ: TypPolicy,
    skew_secs: u64,
    query_tokens: bool,
    requirements: BearerRequirements,
    cache: TokenCache,
}

/// Verifies bearer tokens for an API. Cheap to clone; share one per
/// application (its token cache is shared by every clone).
///
/// ```no_run
/// # async fn run(engine: std::sync::Arc<portcullis::Engine>) -> Result<(), Box<dyn std::error::Error>> {
/// use portcullis::bearer::BearerVerifier;
/// // On the sign-in engine: same discovery, JWKS cache and clock skew.
/// let verifier = BearerVerifier::builder()
///     .engine(engine)
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// // Or standalone, for an API that only accepts tokens.
/// let api_only = BearerVerifier::builder()
///     .issuer("https://tenant-a.example.com")
///     .issuer("https://tenant-b.example.com")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// # let _ = (verifier, api_only); Ok(()) }
/// ```
#[derive(Clone)]
pub struct BearerVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerVerifier")
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|i| &i.issuer)
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

impl BearerVerifier {
    /// Starts a builder.
    pub fn builder() -> BearerVerifierBuilder {
        BearerVerifierBuilder::default()
    }

    /// The requirements every request must meet (`API_SCOPE`, or
    /// [`BearerVerifierBuilder::require`]).
    pub fn requirements(&self) -> &BearerRequirements {
        &self.inner.requirements
    }

    /// The trusted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// The bearer token of a request: from the `Authorization` header, or
    /// from the `access_token` query parameter when query tokens are on.
    /// `Ok(None)` when the request carries none (another scheme counts as
    /// none). A token in the query while query tokens are off is refused.
    pub fn token_from_request<'a>(
        &self,
        headers: &'a HeaderMap,
        query: Option<&str>,
    ) -> Result<Option<Cow<'a, str>>, BearerError> {
        let from_header = bearer_token_from_headers(
            headers
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .map(|v| v.as_bytes()),
        )
        .map_err(BearerError::InvalidRequest)?;
        let from_header = match from_header {
            BearerHeader::Bearer(token) => Some(token),
            BearerHeader::Absent | BearerHeader::OtherScheme => None,
        };
        let query = query.filter(|q| query_has_access_token(q));
        match (from_header, query) {
            (token, None) => Ok(token.map(Cow::Borrowed)),
            (_, Some(_)) if !self.inner.query_tokens => Err(BearerError::QueryTokenRefused),
            (Some(_), Some(_)) => Err(BearerError::InvalidRequest(
                BearerHeaderError::SeveralMethods,
            )),
            (None, Some(query)) => bearer_token_from_query(query)
                .map(|t| t.map(Cow::Owned))
                .map_err(BearerError::InvalidRequest),
        }
    }

    /// The verified token for exactly `token` from the cache, if it is there
    /// and still valid: no signature check, no I/O.
    pub fn verify_cached(&self, token: &str) -> Option<BearerToken> {
        self.inner.cache.get(token, now_unix())
    }

    /// Verifies `token` (a JWT locally, an opaque token by introspection),
    /// from the cache when it was verified before. Requirements are not
    /// checked here; see [`BearerVerifier::authenticate`].
    pub async fn verify(&self, token: &str) -> Result<BearerToken, BearerError> {
        let now = now_unix();
        if let Some(cached) = self.inner.cache.get(token, now) {
            return Ok(cached);
        }
        let verified = if looks_like_jwt(token) {
            self.verify_jwt(token, now).await?
        } else {
            self.introspect(token, now).await?
        };
        let refuse_at = verified.expires_at().saturating_add(self.inner.skew_secs);
        self.inner
            .cache
            .insert(token, verified.clone(), now, refuse_at);
        Ok(verified)
    }

    /// The whole check of a request: the token (a missing one is
    /// [`BearerError::MissingToken`]), its verification, the verifier's
    /// requirements, then `route`'s.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        route: &BearerRequirements,
    ) -> Result<BearerToken, BearerError> {
        let token = self
            .token_from_request(headers, query)?
            .ok_or(BearerError::MissingToken)?;
        let verified = self.verify(&token).await?;
        self.check(&verified, route)?;
        Ok(verified)
    }

    /// Checks the verifier's requirements, then `route`'s, on a verified token.
    pub fn check(
        &self,
        token: &BearerToken,
        route: &BearerRequirements,
    ) -> Result<(), BearerError> {
        self.inner.requirements.verify(token)?;
        route.verify(token)
    }

    async fn verify_jwt(&self, token: &str, now: u64) -> Result<BearerToken, BearerError> {
        let iss = unverified_issuer(token).map_err(BearerError::InvalidToken)?;
        let issuer = self
            .inner
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(BearerError::InvalidToken(AccessTokenError::IssuerMismatch))?;
        let expectations = AccessTokenExpectations {
            issuer: &issuer.issuer,
            audiences: &self.inner.audiences,
            allowed_algs: &self.inner.algs,
            typ: self.inner.typ,
            now,
            skew_secs: self.inner.skew_secs,
        };
        let claims = issuer
            .keys
            .provider()
            .verify_with_keys(
                now,
                |jwks| validate_access_token(token, jwks, &expectations),
                AccessTokenError::is_unknown_kid,
            )
            .await
            .map_err(BearerError::InvalidToken)?;
        Ok(BearerToken::new(claims, TokenSource::Jwt))
    }

    async fn introspect(&self, token: &str, now: u64) -> Result<BearerToken, BearerError> {
        let Some((issuer, introspection)) = self
            .inner
            .issuers
            .iter()
            .find_map(|i| i.introspection.as_ref().map(|x| (i, x)))
        else {
            return Err(BearerError::OpaqueToken);
        };
        if token.len() > portcullis_core::jose::MAX_JWS_LEN {
            return Err(BearerError::InvalidRequest(BearerHeaderError::TooLarge));
        }
        let request = introspection_request(
            &introspection.endpoint,
            &introspection.client_id,
            &introspection.client_secret,
            token,
        );
        let response = issuer
            .keys
            .provider()
            .http()
            .execute_for(crate::http_client::OpEndpoint::Introspection, request)
            .await
            .map_err(|e| BearerError::ProviderUnavailable(Box::new(e)))?;
        let claims = validate_introspection_response(
            &response,
            &IntrospectionExpectations {
                issuer: &issuer.issuer,
                audiences: &self.inner.audiences,
                now,
                skew_secs: self.inner.skew_secs,
            },
        )
        .map_err(|e| {
            if e.is_provider_failure() {
                tracing::warn!(error = %e, issuer = %issuer.issuer, "token introspection failed");
                BearerError::ProviderUnavailable(Box::new(e))
            } else {
                BearerError::Introspection(e)
            }
        })?;
        Ok(BearerToken::new(claims, TokenSource::Introspection))
    }
}

/// Builder for [`BearerVerifier`]. Defaults: the asymmetric algorithms of
/// [`Algorithm::ASYMMETRIC`], `typ` `at+jwt` required, 60 s clock skew (or
/// the engine's), no query tokens, a cache of
/// [`DEFAULT_TOKEN_CACHE_CAPACITY`] tokens for at most
/// [`DEFAULT_TOKEN_CACHE_TTL_SECS`] seconds, no introspection.
#[derive(Default)]
#[must_use]
pub struct BearerVerifierBuilder {
    engine: Option<Arc<Engine>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    algs: Option<Vec<Algorithm>>,
    typ: TypPolicy,
    skew_secs: Option<u64>,
    query_tokens: bool,
    requirements: BearerRequirements,
    cache_capacity: Option<usize>,
    cache_ttl_secs: Option<u64>,
    introspection: Option<IntrospectionCredentials>,
    http_timeout: Option<Duration>,
}

/// `API_AUDIENCE` (split) and `API_SCOPE`.
type ApiEnv = (Vec<String>, Option<String>);

enum IntrospectionCredentials {
    /// The engine's client id and secret.
    Engine,
    /// A resource server's own credentials at the OP.
    Client(String, Secret),
}

impl std::fmt::Debug for BearerVerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerVerifierBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl BearerVerifierBuilder {
    /// A standalone verifier from the environment: `ISSUER_BASE_URL` (the
    /// issuer), `API_AUDIENCE` (required; several audiences comma-separated)
    /// and `API_SCOPE` (optional; scopes every request needs,
    /// space-separated).
    pub fn from_env() -> Result<Self, BearerConfigError> {
        let mut builder = Self::default();
        if let Some(issuer) = env_var("ISSUER_BASE_URL") {
            builder = builder.issuer(issuer);
        }
        Self::audience_from_env()?
            .ok_or(BearerConfigError::Missing("API_AUDIENCE"))
            .map(|with_env| builder.and_env(with_env))
    }

    /// `API_AUDIENCE` and `API_SCOPE` applied to a builder (for use with
    /// [`BearerVerifierBuilder::engine`]), or `None` when `API_AUDIENCE` is
    /// unset: bearer tokens are then not accepted at all.
    pub fn api_from_env() -> Result<Option<Self>, BearerConfigError> {
        Ok(Self::audience_from_env()?.map(|env| Self::default().and_env(env)))
    }

    fn audience_from_env() -> Result<Option<ApiEnv>, BearerConfigError> {
        let Some(audience) = env_var("API_AUDIENCE") else {
            return Ok(None);
        };
        let audiences: Vec<String> = audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(BearerConfigError::Invalid {
                name: "API_AUDIENCE",
                reason: "it names no audience".into(),
            });
        }
        Ok(Some((audiences, env_var("API_SCOPE"))))
    }

    fn and_env(mut self, (audiences, scope): ApiEnv) -> Self {
        self.audiences.extend(audiences);
        if let Some(scope) = scope {
            self.requirements = self.requirements.scopes([scope]);
        }
        self
    }

    /// Trusts the sign-in engine's issuer, with its discovery, JWKS cache,
    /// HTTP client and clock skew.
    pub fn engine(mut self, engine: Arc<Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Trusts another issuer (discovered at build time, without client
    /// credentials). Call once per issuer for a multi-tenant API; each
    /// issuer has its own JWKS, and a token is checked against the issuer
    /// its `iss` names (exact match).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains `audience` (the API's identifier).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The accepted signature algorithms (asymmetric only: `HS*` entries can
    /// never verify, since there is no shared secret).
    pub fn allowed_algs(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algs = Some(algs.into_iter().collect());
        self
    }

    /// Also accepts JWT access tokens typed `JWT` or not typed at all, for
    /// OPs that do not send RFC 9068's `at+jwt`. Such a token must then carry
    /// `client_id` or a scope, and never `nonce`, so ID tokens stay out.
    pub fn accept_untyped_jwt(mut self, accept: bool) -> Self {
        self.typ = if accept {
            TypPolicy::AllowJwt
        } else {
            TypPolicy::Strict
        };
        self
    }

    /// The clock skew allowed on `exp`, `nbf` and `iat` (default 60 s, or the engine's).
    pub fn clock_skew_secs(mut self, secs: u64) -> Self {
        self.skew_secs = Some(secs);
        self
    }

    /// Accepts the token in an `access_token` query parameter (RFC 6750
    /// §2.3). Off by default: query strings end up in logs and `Referer`.
    /// Form-body tokens (§2.2) are never read.
    pub fn allow_query_token(mut self, allow: bool) -> Self {
        self.query_tokens = allow;
        self
    }

    /// Requirements every request must meet, on top of each route's.
    pub fn require(mut self, requirements: BearerRequirements) -> Self {
        self.requirements = self.requirements.and(&requirements);
        self
    }

    /// How many verified tokens the cache keeps (0 turns it off).
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// The longest a verified token is answered from the cache, in seconds
    /// (never past the token's own expiry).
    pub fn token_cache_ttl_secs(mut self, secs: u64) -> Self {
        self.cache_ttl_secs = Some(secs);
        self
    }

    /// Verifies opaque (non-JWT) tokens by RFC 7662 introspection at the
    /// engine's issuer, authenticated as the engine's client.
    pub fn introspect_with_engine_client(mut self) -> Self {
        self.introspection = Some(IntrospectionCredentials::Engine);
        self
    }

    /// Verifies opaque (non-JWT) tokens by RFC 7662 introspection at the
    /// first issuer, authenticated (`client_secret_basic`) with these
    /// credentials.
    pub fn introspection_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.introspection = Some(IntrospectionCredentials::Client(
            client_id.into(),
            Secret::new(client_secret.into()),
        ));
        self
    }

    /// The timeout of discovery, JWKS and introspection requests of
    /// standalone issuers (default 5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// Discovers the standalone issuers, fetches their keys, and checks the
    /// settings. Fails with a clear error instead of starting broken.
    pub async fn build(self) -> Result<BearerVerifier, BearerConfigError> {
        if self.audiences.is_empty() {
            return Err(BearerConfigError::Missing("API_AUDIENCE (an audience)"));
        }
        let algs = self.algs.unwrap_or_else(|| Algorithm::ASYMMETRIC.to_vec());
        if algs.is_empty() || algs.iter().all(|a| a.is_symmetric()) {
            return Err(BearerConfigError::Invalid {
                name: "allowed_algs",
                reason: "no asymmetric algorithm is allowed".into(),
            });
        }
        let mut issuers = Vec::new();
        let mut skew_secs = self.skew_secs;
        if let Some(engine) = &self.engine {
            skew_secs = skew_secs.or(Some(engine.settings.clock_skew_secs));
            issuers.push(TrustedIssuer {
                issuer: engine.issuer().to_owned(),
                keys: Keys::Engine(engine.clone()),
                introspection: None,
            });
        }
        let timeout = self.http_timeout.unwrap_or(Duration::from_secs(5));
        let now = now_unix();
        for issuer in self.issuers {
            if issuers.iter().any(|i: &TrustedIssuer| i.issuer == issuer) {
                continue;
            }
            let http = HttpClient::new(timeout).map_err(|e| BearerConfigError::Discovery {
                issuer: issuer.clone(),
                source: Box::new(e),
            })?;
            let provider = Provider::discover(&issuer, http, now).await.map_err(|e| {
                BearerConfigError::Discovery {
                    issuer: issuer.clone(),
                    source: Box::new(e),
                }
            })?;
            issuers.push(TrustedIssuer {
                issuer,
                keys: Keys::Own(Box::new(provider)),
                introspection: None,
            });
        }
        let Some(first) = issuers.first_mut() else {
            return Err(BearerConfigError::Missing("ISSUER_BASE_URL (an issuer)"));
        };
        if let Some(credentials) = self.introspection {
            let (client_id, client_secret) =
                match (credentials, &self.engine) {
                    (IntrospectionCredentials::Client(id, secret), _) => (id, secret),
                    (IntrospectionCredentials::Engine, Some(engine)) => {
                        (
                            engine.settings.client_id.clone(),
                            engine.settings.client_secret.clone().ok_or(
                                BearerConfigError::Missing("CLIENT_SECRET (for introspection)"),
                            )?,
                        )
                    }
                    (IntrospectionCredentials::Engine, None) => {
                        return Err(BearerConfigError::Missing("an engine (for introspection)"));
                    }
                };
            let endpoint = first
                .keys
                .provider()
                .metadata()
                .introspection_endpoint
                .clone()
                .ok_or_else(|| BearerConfigError::NoIntrospectionEndpoint(first.issuer.clone()))?;
            first.introspection = Some(Introspection {
                endpoint,
                client_id,
                client_secret,
            });
        }
        Ok(BearerVerifier {
            inner: Arc::new(Inner {
                issuers,
                audiences: self.audiences,
                algs,
                typ: self.typ,
                skew_secs: skew_secs.unwrap_or(60),
                query_tokens: self.query_tokens,
                requirements: self.requirements,
                cache: TokenCache::new(
                    self.cache_capacity.unwrap_or(DEFAULT_TOKEN_CACHE_CAPACITY),
                    self.cache_ttl_secs.unwrap_or(DEFAULT_TOKEN_CACHE_TTL_SECS),
                ),
            }),
        })
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
