//! Configuration: the builder, `from_env()` and the resolved settings.
//!
//! The environment variable names are express-openid-connect's:
//! `ISSUER_BASE_URL`, `CLIENT_ID`, `CLIENT_SECRET`, `BASE_URL`, `SECRET`
//! (comma-separated for rotation, newest first). Optional ones:
//! `AUTH_REQUIRED`, `IDP_LOGOUT`, `SCOPE`, `RESPONSE_MODE` (`query` or
//! `form_post`), `CLIENT_AUTH_METHOD` (`client_secret_basic`,
//! `client_secret_post`, `client_secret_jwt`, `private_key_jwt` or `none`;
//! chosen from the OP's metadata when unset), `CLIENT_ASSERTION_SIGNING_KEY`
//! (PEM or JWK text, or the path of a file holding either),
//! `CLIENT_ASSERTION_SIGNING_ALG`, `CLIENT_ASSERTION_KEY_ID`, `USE_PAR`
//! (see `docs/client-auth.md`), `FETCH_USERINFO`, `REVOKE_ON_LOGOUT`,
//! `SESSION_STORE` (unset or `cookie`, `memory`, or a URL such as
//! `redis://…` opened by a [`StoreOpener`]) and `LOGOUT_STORE` (`memory` by
//! default, or a URL; it defaults to `SESSION_STORE`'s URL when that names a
//! shared store, so that logout reaches every replica).

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::authorize::AuthorizationParams;
use portcullis_core::jose::Algorithm;
use portcullis_core::{ResponseMode, Secret};
use url::Url;

mod client_auth;
pub(crate) use client_auth::ClientAuthSettings;

use crate::hooks::{AfterCallback, IsLoggedOut, LoginState, OnLogin, OnLogoutToken};
use crate::session::SessionDurations;
use crate::store::{BoxError, LogoutStore, SessionStore, StoreOpener};

/// Why a configuration could not be turned into a working layer.
///
/// Every variant displays as one readable paragraph that ends with the
/// likely fix; print it with `Display` (`{error}`), not `Debug`. Building
/// reports every missing or invalid setting at once, as [`ConfigError::Settings`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting is missing (its name and what it is).
    #[error("missing {0}")]
    Missing(&'static str),
    /// A setting has an invalid value.
    #[error("invalid value for {name}: {reason}")]
    Invalid {
        /// The setting's name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Several settings are missing or invalid: every one is named, and the
    /// message ends with what to do.
    #[error("{}", describe_problems(.0))]
    Settings(Vec<ConfigError>),
    /// Discovery or JWKS retrieval failed at startup. `hint` tells an
    /// unreachable OP, a refused connection, a TLS failure and an issuer
    /// mismatch apart, and says what to check.
    #[error("the OpenID Provider at {issuer} could not be used: {source}. {hint}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// The likely fix, as a sentence.
        hint: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The listening socket could not be bound (see [`crate::listen`]).
    #[error("{}", crate::listen::describe_bind_error(*.addr, .source))]
    Listen {
        /// The address that could not be bound.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client for calls to the OP could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(#[source] crate::http_client::HttpError),
    /// A session or logout store could not be opened.
    #[error("{name} could not be opened: {source}")]
    Store {
        /// The setting that named it (`SESSION_STORE` or `LOGOUT_STORE`).
        name: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

/// The paragraph for [`ConfigError::Settings`].
fn describe_problems(problems: &[ConfigError]) -> String {
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let count = match problems.len() {
        1 => "a problem".to_owned(),
        n => format!("{n} problems"),
    };
    let fix = if problems
        .iter()
        .any(|p| matches!(p, ConfigError::Missing(_)))
    {
        " Set the missing ones in the environment (or on the builder) and start again; to \
         try Portcullis without an OpenID Provider of your own, run `portcullis idp` (the \
         README's \"run it against the dev OP\")."
    } else {
        " Fix the values above and start again."
    };
    format!(
        "Portcullis cannot start: its configuration has {count}: {}.{fix}",
        listed.join("; ")
    )
}

/// Where sessions live.
#[derive(Clone, Default)]
pub enum SessionStorage {
    /// In the encrypted session cookie (the default): stateless, nothing to run.
    #[default]
    Cookie,
    /// In a server-side store; the cookie carries only a sealed session id.
    Store(Arc<dyn SessionStore>),
    /// In a store named by URL (`SESSION_STORE=redis://…`), opened at build
    /// time by the configured [`StoreOpener`].
    Url(String),
}

impl std::fmt::Debug for SessionStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionStorage::Cookie => f.write_str("Cookie"),
            SessionStorage::Store(_) => f.write_str("Store(..)"),
            SessionStorage::Url(url) => write!(f, "Url({})", redact_url(url)),
        }
    }
}

/// Where logout markers live.
#[derive(Clone, Default)]
pub enum LogoutStorage {
    /// In this process (the default unless sessions live in a shared store).
    #[default]
    Memory,
    /// In the given store.
    Store(Arc<dyn LogoutStore>),
    /// In a store named by URL (`LOGOUT_STORE=redis://…`).
    Url(String),
}

impl std::fmt::Debug for LogoutStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogoutStorage::Memory => f.write_str("Memory"),
            LogoutStorage::Store(_) => f.write_str("Store(..)"),
            LogoutStorage::Url(url) => write!(f, "Url({})", redact_url(url)),
        }
    }
}

/// A store URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => url.split('@').next_back().unwrap_or("").to_owned(),
    }
}

/// Default of [`OidcLayerBuilder::session_cache_capacity`]: 1024 decoded
/// sessions (about 6 KB each with typical tokens, so about 6 MB).
pub const DEFAULT_SESSION_CACHE_CAPACITY: usize = 1024;

/// The paths of the routes the layer mounts. `None` turns a route off (your own
/// handler can then call [`crate::Oidc::login`] and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// Starts a login. Default `/login`.
    pub login: Option<String>,
    /// Receives the authorization response (GET and POST). Default `/callback`.
    pub callback: Option<String>,
    /// Signs out (POST; a same-site GET too). Default `/logout`.
    pub logout: Option<String>,
    /// Receives back-channel logout tokens from the OP (POST). Default
    /// `/backchannel-logout`.
    pub backchannel_logout: Option<String>,
    /// Front-channel logout, framed by the OP (GET). Default `/frontchannel-logout`.
    pub frontchannel_logout: Option<String>,
    /// Where to go after logout when no `returnTo` is given: an app-relative
    /// path, put under `BASE_URL`'s path. Default `/`.
    pub post_logout_redirect: String,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            login: Some("/login".into()),
            callback: Some("/callback".into()),
            logout: Some("/logout".into()),
            backchannel_logout: Some("/backchannel-logout".into()),
            frontchannel_logout: Some("/frontchannel-logout".into()),
            post_logout_redirect: "/".into(),
        }
    }
}

/// The resolved, validated settings the layer runs with.
#[derive(Clone)]
pub(crate) struct Settings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuthSettings,
    pub base_url: Url,
    pub routes: Routes,
    pub auth_required: bool,
    pub idp_logout: bool,
    pub revoke_on_logout: bool,
    pub fetch_userinfo: bool,
    pub scope: String,
    pub response_mode: ResponseMode,
    pub authorization_params: AuthorizationParams,
    pub id_token_algs: Vec<Algorithm>,
    pub clock_skew_secs: u64,
    pub http_timeout: Duration,
    pub durations: SessionDurations,
    pub session_cookie: String,
    pub transaction_cookie: String,
    pub secure_cookies: bool,
    pub allowed_return_origins: Vec<Url>,
    pub after_callback: Option<AfterCallback>,
    pub login_state: Option<LoginState>,
    pub on_login: Option<OnLogin>,
    pub on_logout_token: Option<OnLogoutToken>,
    pub is_logged_out: Option<IsLoggedOut>,
    pub secret: Secret,
    pub session_cache_capacity: usize,
    pub session_storage: SessionStorage,
    pub logout_storage: Option<LogoutStorage>,
    pub store_opener: Option<Arc<dyn StoreOpener>>,
    pub refresh: crate::engine::RefreshSettings,
    pub refresh_coordinator: Option<Arc<dyn crate::store::RefreshCoordinator>>,
    pub userinfo_cache_ttl: Option<Duration>,
    pub attempt_silent_login: bool,
    pub error_renderer: Option<Arc<dyn crate::error::ErrorRenderer>>,
}

/// Builder for [`crate::OidcLayer`]. Start with [`crate::OidcLayer::builder`]
/// or [`OidcLayerBuilder::from_env`], then call [`OidcLayerBuilder::build`].
#[derive(Clone, Default)]
#[must_use]
pub struct OidcLayerBuilder {
    issuer_base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    base_url: Option<String>,
    secret: Option<Secret>,
    client_auth: client_auth::ClientAuthOptions,
    routes: Routes,
    auth_required: Option<bool>,
    idp_logout: bool,
    revoke_on_logout: bool,
    fetch_userinfo: Option<bool>,
    scope: Option<String>,
    response_mode: Option<ResponseMode>,
    authorization_params: AuthorizationParams,
    id_token_algs: Option<Vec<Algorithm>>,
    clock_skew_secs: Option<u64>,
    http_timeout: Option<Duration>,
    rolling_duration_secs: Option<Option<u64>>,
    absolute_duration_secs: Option<u64>,
    session_cookie: Option<String>,
    allowed_return_origins: Vec<String>,
    after_callback: Option<AfterCallback>,
    login_state: Option<LoginState>,
    on_login: Option<OnLogin>,
    on_logout_token: Option<OnLogoutToken>,
    is_logged_out: Option<IsLoggedOut>,
    session_cache_capacity: Option<usize>,
    session_storage: SessionStorage,
    logout_storage: Option<LogoutStorage>,
    store_opener: Option<Arc<dyn StoreOpener>>,
    refresh: crate::engine::RefreshSettings,
    refresh_coordinator: Option<Arc<dyn crate::store::RefreshCoordinator>>,
    userinfo_cache_ttl: Option<Duration>,
    attempt_silent_login: bool,
    error_renderer: Option<Arc<dyn crate::error::ErrorRenderer>>,
    /// Invalid environment values found by `from_env`, reported by `build`
    /// together with every other problem.
    env_problems: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for OidcLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLayerBuilder")
            .field("issuer_base_url", &self.issuer_base_url)
            .field("client_id", &self.client_id)
            .field("base_url", &self.base_url)
            .field("routes", &self.routes)
            .field("session_storage", &self.session_storage)
            .field("logout_storage", &self.logout_storage)
            .finish_non_exhaustive()
    }
}

/// A non-blank setting from `lookup`.
fn setting(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

fn setting_bool(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match setting(lookup, name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {v:?}"),
            }),
        },
    }
}

impl OidcLayerBuilder {
    /// Keeps an invalid environment value for `build` to report with the others.
    fn defer<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ConfigError::Invalid { name, reason }) => {
                self.env_problems.push((name, reason));
                None
            }
            Err(other) => {
                self.env_problems.push(("environment", other.to_string()));
                None
            }
        }
    }
}

impl OidcLayerBuilder {
    /// A builder pre-filled from the environment variables listed in the
    /// module docs. Settings not in the environment keep their defaults and can
    /// still be set on the builder. An invalid value is not an error yet:
    /// [`build`](Self::build) reports it together with every other missing or
    /// invalid setting, so one run names them all.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), with the settings read through
    /// `lookup` (called with each environment variable name, such as
    /// `ISSUER_BASE_URL`). The `portcullis proxy` gate uses it to layer a
    /// TOML file under the environment. Blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup: &dyn Fn(&str) -> Option<String> = &lookup;
        let env_var = |name: &str| setting(lookup, name);
        let env_bool = |name: &'static str| setting_bool(lookup, name);
        let mut b = Self {
            issuer_base_url: env_var("ISSUER_BASE_URL"),
            client_id: env_var("CLIENT_ID"),
            client_secret: env_var("CLIENT_SECRET").map(Secret::from),
            base_url: env_var("BASE_URL"),
            secret: env_var("SECRET").map(Secret::from),
            scope: env_var("SCOPE"),
            ..Self::default()
        };
        b.refresh.auto = b.defer(env_bool("AUTO_REFRESH")).flatten().unwrap_or(false);
        b.attempt_silent_login = b
            .defer(env_bool("ATTEMPT_SILENT_LOGIN"))
            .flatten()
            .unwrap_or(false);
        b.auth_required = b.defer(env_bool("AUTH_REQUIRED")).flatten();
        b.idp_logout = b.defer(env_bool("IDP_LOGOUT")).flatten().unwrap_or(false);
        b.revoke_on_logout = b
            .defer(env_bool("REVOKE_ON_LOGOUT"))
            .flatten()
            .unwrap_or(false);
        b.fetch_userinfo = b.defer(env_bool("FETCH_USERINFO")).flatten();
        if let Some(mode) = env_var("RESPONSE_MODE") {
            b.response_mode = b.defer(parse_response_mode(&mode));
        }
        if let Some(options) = b.defer(client_auth::ClientAuthOptions::from_lookup(lookup)) {
            b.client_auth = options;
        }
        if let Some(store) = env_var("SESSION_STORE")
            && let Some(storage) = b.defer(parse_session_storage(&store))
        {
            b.session_storage = storage;
        }
        if let Some(store) = env_var("LOGOUT_STORE") {
            b.logout_storage = b.defer(parse_logout_storage(&store));
        }
        Ok(b)
    }

    /// The issuer URL (`ISSUER_BASE_URL`); it must equal the discovered issuer exactly.
    pub fn issuer_base_url(mut self, url: impl Into<String>) -> Self {
        self.issuer_base_url = Some(url.into());
        self
    }
    /// The OAuth client id (`CLIENT_ID`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }
    /// The client secret (`CLIENT_SECRET`).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(Secret::new(secret));
        self
    }
    /// The application's public base URL (`BASE_URL`); the redirect URI is
    /// `BASE_URL` + the callback path. Cookies are `Secure` when it is https.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Cookie key material (`SECRET`): comma-separated secrets, newest first.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(Secret::new(secret));
        self
    }
    /// Route paths; set a path to `None` to turn that route off.
    pub fn routes(mut self, routes: Routes) -> Self {
        self.routes = routes;
        self
    }
    /// Whether every route requires a signed-in user. Default `true`.
    pub fn auth_required(mut self, required: bool) -> Self {
        self.auth_required = Some(required);
        self
    }
    /// Whether logout also ends the session at the OP (RP-initiated logout). Default `false`.
    pub fn idp_logout(mut self, enabled: bool) -> Self {
        self.idp_logout = enabled;
        self
    }
    /// Whether logout also revokes the refresh and access tokens at the OP's
    /// revocation endpoint (RFC 7009), when it has one. Default `false`.
    pub fn revoke_on_logout(mut self, enabled: bool) -> Self {
        self.revoke_on_logout = enabled;
        self
    }
    /// Where sessions live: [`SessionStorage::Cookie`] (default),
    /// a [`SessionStore`], or a URL (`SESSION_STORE`).
    pub fn session_storage(mut self, storage: SessionStorage) -> Self {
        self.session_storage = storage;
        self
    }
    /// Keeps sessions in `store` (server-side sessions).
    pub fn session_store(self, store: Arc<dyn SessionStore>) -> Self {
        self.session_storage(SessionStorage::Store(store))
    }
    /// Keeps logout markers in `store` (share one between replicas).
    pub fn logout_store(mut self, store: Arc<dyn LogoutStore>) -> Self {
        self.logout_storage = Some(LogoutStorage::Store(store));
        self
    }
    /// Where logout markers live (`LOGOUT_STORE`).
    pub fn logout_storage(mut self, storage: LogoutStorage) -> Self {
        self.logout_storage = Some(storage);
        self
    }
    /// Opens the stores that `SESSION_STORE` / `LOGOUT_STORE` name by URL
    /// (for example `portcullis_redis::RedisOpener` for `redis://…`).
    pub fn store_opener(mut self, opener: Arc<dyn StoreOpener>) -> Self {
        self.store_opener = Some(opener);
        self
    }
    /// Whether to call the userinfo endpoint at login and merge its claims. Default `true`.
    pub fn fetch_userinfo(mut self, enabled: bool) -> Self {
        self.fetch_userinfo = Some(enabled);
        self
    }
    /// Requested scopes. Default `openid profile email`; `openid` is always added.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
    /// The response mode: `query` (default) or `form_post`.
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = Some(mode);
        self
    }
    /// Default extra authorization parameters sent at every login
    /// (`prompt`, `login_hint`, `max_age`, `acr_values`, `audience`, custom).
    pub fn authorization_params(mut self, params: AuthorizationParams) -> Self {
        self.authorization_params = params;
        self
    }
    /// ID token signature algorithms to accept. Default: every asymmetric
    /// algorithm (RS/PS 256-512, ES256/384, EdDSA). Add `HS*` only if the OP
    /// signs ID tokens with the client secret.
    pub fn id_token_signing_algs(mut self, algs: Vec<Algorithm>) -> Self {
        self.id_token_algs = Some(algs);
        self
    }
    /// Allowed clock skew in seconds. Default 60.
    pub fn clock_skew_secs(mut self, secs: u64) -> Self {
        self.clock_skew_secs = Some(secs);
        self
    }
    /// Timeout for every request to the OP. Default 5 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }
    /// Rolling session duration in seconds (`None` turns rolling off). Default 1 day.
    pub fn rolling_duration_secs(mut self, secs: Option<u64>) -> Self {
        self.rolling_duration_secs = Some(secs);
        self
    }
    /// Absolute session duration in seconds. Default 7 days.
    pub fn absolute_duration_secs(mut self, secs: u64) -> Self {
        self.absolute_duration_secs = Some(secs);
        self
    }
    /// The session cookie name. Default `portcullis.session`.
    pub fn session_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.session_cookie = Some(name.into());
        self
    }
    /// Extra origins (besides `BASE_URL`'s) that `returnTo` may point to.
    pub fn allow_return_to_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_return_origins.push(origin.into());
        self
    }
    /// How many decrypted sessions to keep in memory, keyed by the exact
    /// cookie value (or store record), so repeat requests skip the decrypt.
    /// Default [`DEFAULT_SESSION_CACHE_CAPACITY`] (1024, about 6 KB each);
    /// 0 turns the cache off.
    pub fn session_cache_capacity(mut self, sessions: usize) -> Self {
        self.session_cache_capacity = Some(sessions);
        self
    }
    /// Renders the browser error pages (401, 403, 503, a cancelled or
    /// expired sign-in...) with the application's own look; see
    /// [`ErrorRenderer`](crate::error::ErrorRenderer). JSON answers to API
    /// clients stay as they are.
    ///
    /// ```
    /// use portcullis::OidcLayerBuilder;
    /// use portcullis::error::{ErrorPage, OidcError, escape_html};
    ///
    /// let builder = OidcLayerBuilder::default().error_renderer(|page: &ErrorPage, _: &OidcError| {
    ///     Some(format!(
    ///         "<h1>{}</h1><p>{}</p><a href=\"{}\">{}</a>",
    ///         escape_html(page.title),
    ///         escape_html(&page.message),
    ///         escape_html(&page.action.href),
    ///         escape_html(page.action.label),
    ///     ))
    /// });
    /// ```
    pub fn error_renderer(mut self, renderer: impl crate::error::ErrorRenderer) -> Self {
        self.error_renderer = Some(Arc::new(renderer));
        self
    }

    /// Installs the after-callback hook (see [`crate::hooks`]).
    pub fn after_callback<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(crate::hooks::AfterCallbackContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<
                Output = Result<crate::hooks::AfterCallbackContext, crate::hooks::LoginRefused>,
            > + Send
            + 'static,
    {
        self.after_callback = Some(std::sync::Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }
    /// Installs the login-state hook (see [`crate::hooks`]).
    pub fn login_state<F>(mut self, hook: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<serde_json::Value> + Send + Sync + 'static,
    {
        self.login_state = Some(std::sync::Arc::new(hook));
        self
    }

    /// Installs a hook that runs after a new session is created (see [`crate::hooks`]).
    pub fn on_login<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<crate::ActiveSession>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_login = Some(Arc::new(move |session| Box::pin(hook(session))));
        self
    }
    /// Installs a hook that sees every valid back-channel logout token, after
    /// the sessions it names are marked as signed out (see [`crate::hooks`]).
    pub fn on_logout_token<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(crate::hooks::LogoutTokenInfo) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_logout_token = Some(Arc::new(move |info| Box::pin(hook(info))));
        self
    }
    /// Installs an extra, synchronous check run on every session after the
    /// logout markers: return `true` to treat the session as signed out.
    pub fn is_logged_out<F>(mut self, hook: F) -> Self
    where
        F: Fn(&crate::ActiveSession) -> bool + Send + Sync + 'static,
    {
        self.is_logged_out = Some(Arc::new(hook));
        self
    }

    /// Refreshes the tokens automatically (`AUTO_REFRESH`), before the
    /// request reaches the application, when the access token expires within
    /// [`refresh_before`](Self::refresh_before). Concurrent requests refresh
    /// once. Default `false`.
    pub fn auto_refresh(mut self, enabled: bool) -> Self {
        self.refresh.auto = enabled;
        self
    }
    /// How long before the access token's expiry an automatic refresh starts.
    /// Default 60 s.
    pub fn refresh_before(mut self, before: Duration) -> Self {
        self.refresh.before = before;
        self
    }
    /// The lease of the cross-replica refresh lock; its holder renews it every
    /// third of it while the OP answers. Default 5 s.
    pub fn refresh_lock_lease(mut self, lease: Duration) -> Self {
        self.refresh.lease = lease.max(Duration::from_millis(30));
        self
    }
    /// How long a request waits for a refresh that another replica runs
    /// before it answers 503. Default 30 s.
    pub fn refresh_wait(mut self, wait: Duration) -> Self {
        self.refresh.wait = wait;
        self
    }
    /// Coordinates refreshes across replicas with `coordinator` (a store
    /// opened from `SESSION_STORE` / `LOGOUT_STORE` brings its own).
    pub fn refresh_coordinator(
        mut self,
        coordinator: Arc<dyn crate::store::RefreshCoordinator>,
    ) -> Self {
        self.refresh_coordinator = Some(coordinator);
        self
    }

    /// Tries a silent login (`prompt=none`) once per browser session for an
    /// anonymous page view (`ATTEMPT_SILENT_LOGIN`), like
    /// express-openid-connect's `attemptSilentLogin`. Default `false`.
    pub fn attempt_silent_login(mut self, enabled: bool) -> Self {
        self.attempt_silent_login = enabled;
        self
    }

    /// Caches [`fetch_userinfo`](crate::Engine::fetch_userinfo) answers per
    /// access token for `ttl` (never past the token's expiry). Default off.
    pub fn userinfo_cache(mut self, ttl: Duration) -> Self {
        self.userinfo_cache_ttl = Some(ttl);
        self
    }

    /// Validates the settings (without network access). Every missing or
    /// invalid setting is collected, so the error names all of them.
    pub(crate) fn into_settings(self) -> Result<Settings, ConfigError> {
        let mut problems: Vec<ConfigError> = self
            .env_problems
            .iter()
            .map(|(name, reason)| ConfigError::Invalid {
                name,
                reason: reason.clone(),
            })
            .collect();
        let issuer = match &self.issuer_base_url {
            None => {
                problems.push(ConfigError::Missing(
                    "ISSUER_BASE_URL (the OpenID Provider's issuer URL, for example \
                     https://login.example.com/realms/main)",
                ));
                String::new()
            }
            Some(issuer) => {
                match Url::parse(issuer) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                    Ok(_) => problems.push(ConfigError::Invalid {
                        name: "ISSUER_BASE_URL",
                        reason: format!("{issuer:?} is not an http or https URL"),
                    }),
                    Err(e) => problems.push(ConfigError::Invalid {
                        name: "ISSUER_BASE_URL",
                        reason: format!("{issuer:?} is not a URL ({e})"),
                    }),
                }
                issuer.clone()
            }
        };
        let client_id = self.client_id.clone().unwrap_or_else(|| {
            problems.push(ConfigError::Missing(
                "CLIENT_ID (the client id registered at the OpenID Provider)",
            ));
            String::new()
        });
        let base_url = match &self.base_url {
            None => {
                problems.push(ConfigError::Missing(
                    "BASE_URL (this application's public URL, for example http://localhost:3000)",
                ));
                None
            }
            Some(raw) => match Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                Ok(_) => {
                    problems.push(ConfigError::Invalid {
                        name: "BASE_URL",
                        reason: format!("{raw:?} must be an http or https URL"),
                    });
                    None
                }
                Err(e) => {
                    problems.push(ConfigError::Invalid {
                        name: "BASE_URL",
                        reason: format!("{raw:?} is not a URL ({e})"),
                    });
                    None
                }
            },
        };
        match &self.secret {
            None => problems.push(ConfigError::Missing(
                "SECRET (cookie key material: 32 or more random characters, for example \
                 the output of `openssl rand -hex 32`)",
            )),
            Some(secret) => {
                if let Err(e) = crate::session::SessionKeys::from_secret_list(secret.expose()) {
                    problems.push(ConfigError::Invalid {
                        name: "SECRET",
                        reason: e.to_string(),
                    });
                }
            }
        }
        let client_auth = match self.client_auth.resolve(self.client_secret.as_ref()) {
            Ok(client_auth) => Some(client_auth),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        for (name, path) in [
            ("routes.login", &self.routes.login),
            ("routes.callback", &self.routes.callback),
            ("routes.logout", &self.routes.logout),
            ("routes.backchannel_logout", &self.routes.backchannel_logout),
            (
                "routes.frontchannel_logout",
                &self.routes.frontchannel_logout,
            ),
        ] {
            if let Some(p) = path
                && !p.starts_with('/')
            {
                problems.push(ConfigError::Invalid {
                    name,
                    reason: format!("route paths must start with '/', got {p:?}"),
                });
            }
        }
        let mut allowed_return_origins = Vec::new();
        for origin in &self.allowed_return_origins {
            match Url::parse(origin) {
                Ok(url) => allowed_return_origins.push(url),
                Err(e) => problems.push(ConfigError::Invalid {
                    name: "allow_return_to_origin",
                    reason: format!("{origin:?} is not a URL ({e})"),
                }),
            }
        }
        let id_token_algs = self
            .id_token_algs
            .clone()
            .unwrap_or_else(|| Algorithm::ASYMMETRIC.to_vec());
        if id_token_algs.is_empty() {
            problems.push(ConfigError::Invalid {
                name: "id_token_signing_algs",
                reason: "at least one algorithm is required".into(),
            });
        }
        let (Some(base_url), Some(secret), Some(client_auth), true) = (
            base_url,
            self.secret.clone(),
            client_auth,
            problems.is_empty(),
        ) else {
            return Err(ConfigError::Settings(problems));
        };
        let secure_cookies = base_url.scheme() == "https";
        let cookie_path_is_root = base_url.path().trim_end_matches('/').is_empty();
        let session_cookie = self
            .session_cookie
            .unwrap_or_else(|| "portcullis.session".into());
        // `__Host-` cookies are only sent over https, only for Path=/, never
        // with a Domain: a sibling subdomain cannot toss one in.
        let session_cookie = if secure_cookies
            && cookie_path_is_root
            && !session_cookie.starts_with("__Host-")
            && !session_cookie.starts_with("__Secure-")
        {
            format!("__Host-{session_cookie}")
        } else {
            session_cookie
        };
        Ok(Settings {
            issuer,
            client_id,
            client_secret: self.client_secret,
            client_auth,
            routes: self.routes,
            auth_required: self.auth_required.unwrap_or(true),
            idp_logout: self.idp_logout,
            revoke_on_logout: self.revoke_on_logout,
            fetch_userinfo: self.fetch_userinfo.unwrap_or(true),
            scope: self
                .scope
                .unwrap_or_else(|| portcullis_core::ClientConfig::DEFAULT_SCOPE.into()),
            response_mode: self.response_mode.unwrap_or_default(),
            authorization_params: self.authorization_params,
            id_token_algs,
            clock_skew_secs: self
                .clock_skew_secs
                .unwrap_or(portcullis_core::ClientConfig::DEFAULT_CLOCK_SKEW_SECS),
            http_timeout: self.http_timeout.unwrap_or(Duration::from_secs(5)),
            durations: SessionDurations {
                rolling: self.rolling_duration_secs.unwrap_or(Some(24 * 3600)),
                absolute: self.absolute_duration_secs.unwrap_or(7 * 24 * 3600),
            },
            transaction_cookie: format!("{session_cookie}.txn"),
            session_cookie,
            secure_cookies,
            allowed_return_origins,
            after_callback: self.after_callback,
            login_state: self.login_state,
            on_login: self.on_login,
            on_logout_token: self.on_logout_token,
            is_logged_out: self.is_logged_out,
            session_cache_capacity: self
                .session_cache_capacity
                .unwrap_or(DEFAULT_SESSION_CACHE_CAPACITY),
            session_storage: self.session_storage,
            logout_storage: self.logout_storage,
            store_opener: self.store_opener,
            refresh: self.refresh,
            refresh_coordinator: self.refresh_coordinator,
            userinfo_cache_ttl: self.userinfo_cache_ttl.filter(|ttl| !ttl.is_zero()),
            attempt_silent_login: self.attempt_silent_login,
            error_renderer: self.error_renderer,
            base_url,
            secret,
        })
    }
}

impl OidcLayerBuilder {
    /// Validates the settings, opens the stores, discovers the OP and fetches
    /// its keys: the framework-neutral [`Engine`](crate::Engine) that every
    /// adapter (the axum layer, the proxy) runs on.
    pub async fn build_engine(self) -> Result<crate::Engine, ConfigError> {
        let settings = self.into_settings()?;
        crate::Engine::start(settings, crate::clock::now_unix()).await
    }
}

impl Settings {
    /// The redirect URI: `BASE_URL` joined with the callback path.
    pub(crate) fn redirect_uri(&self) -> Result<Url, ConfigError> {
        let path = self.routes.callback.as_deref().unwrap_or("/callback");
        join_base(&self.base_url, path).map_err(|reason| ConfigError::Invalid {
            name: "BASE_URL",
            reason,
        })
    }
}

/// Joins a base URL (which may have a path prefix) and an absolute app path.
pub(crate) fn join_base(base: &Url, path: &str) -> Result<Url, String> {
    let mut joined = base.clone();
    let prefix = base.path().trim_end_matches('/');
    let (path_part, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    joined.set_path(&format!("{prefix}{path_part}"));
    joined.set_query(query);
    joined.set_fragment(None);
    if joined.origin() != base.origin() {
        return Err("joined URL changed origin".into());
    }
    Ok(joined)
}

fn parse_session_storage(value: &str) -> Result<SessionStorage, ConfigError> {
    match value.trim() {
        "cookie" => Ok(SessionStorage::Cookie),
        "memory" => Ok(SessionStorage::Store(Arc::new(
            crate::store::MemorySessionStore::default(),
        ))),
        url if url.contains("://") => Ok(SessionStorage::Url(url.to_owned())),
        other => Err(ConfigError::Invalid {
            name: "SESSION_STORE",
            reason: format!(
                "expected cookie, memory or a store URL such as redis://host:6379, got {:?}",
                redact_url(other)
            ),
        }),
    }
}

fn parse_logout_storage(value: &str) -> Result<LogoutStorage, ConfigError> {
    match value.trim() {
        "memory" => Ok(LogoutStorage::Memory),
        url if url.contains("://") => Ok(LogoutStorage::Url(url.to_owned())),
        other => Err(ConfigError::Invalid {
            name: "LOGOUT_STORE",
            reason: format!(
                "expected memory or a store URL such as redis://host:6379, got {:?}",
                redact_url(other)
            ),
        }),
    }
}

fn parse_response_mode(value: &str) -> Result<ResponseMode, ConfigError> {
    match value.trim() {
        "query" => Ok(ResponseMode::Query),
        "form_post" => Ok(ResponseMode::FormPost),
        other => Err(ConfigError::Invalid {
            name: "RESPONSE_MODE",
            reason: format!("expected query or form_post, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> OidcLayerBuilder {
        OidcLayerBuilder::default()
            .issuer_base_url("https://op.example")
            .client_id("app")
            .client_secret("s3cret")
            .base_url("https://app.example/prefix/")
            .secret("0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn defaults_follow_the_design_brief() {
        let s = minimal().into_settings().expect("valid");
        assert_eq!(s.routes, Routes::default());
        assert!(s.auth_required);
        assert_eq!(s.scope, "openid profile email");
        assert_eq!(s.clock_skew_secs, 60);
        assert_eq!(s.http_timeout, Duration::from_secs(5));
        assert_eq!(s.durations.rolling, Some(86_400));
        assert_eq!(s.durations.absolute, 604_800);
        assert!(s.secure_cookies);
        assert_eq!(s.client_auth.method, None, "chosen from the OP's metadata");
        assert!(!s.client_auth.use_par);
        assert_eq!(
            s.redirect_uri().expect("uri").as_str(),
            "https://app.example/prefix/callback"
        );
    }

    #[test]
    fn missing_required_settings_are_named() {
        let err = OidcLayerBuilder::default()
            .into_settings()
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("ISSUER_BASE_URL"), "{err}");
        let err = minimal()
            .token_endpoint_auth_method(portcullis_core::TokenEndpointAuthMethod::ClientSecretPost);
        let mut err = err;
        err.client_secret = None;
        let msg = err.into_settings().err().expect("must fail").to_string();
        assert!(msg.contains("CLIENT_SECRET"), "{msg}");
    }

    #[test]
    fn every_missing_setting_is_named_at_once_with_the_fix() {
        let msg = OidcLayerBuilder::default()
            .into_settings()
            .err()
            .expect("must fail")
            .to_string();
        for name in ["ISSUER_BASE_URL", "CLIENT_ID", "BASE_URL", "SECRET"] {
            assert!(msg.contains(&format!("missing {name}")), "{name}: {msg}");
        }
        assert!(msg.contains("4 problems"), "{msg}");
        assert!(msg.contains("portcullis idp"), "{msg}");
        assert!(!msg.contains("Missing("), "no Debug form: {msg}");
        assert!(!msg.contains('\n'), "one paragraph: {msg}");
        assert!(!msg.contains("  "), "no runs of spaces: {msg}");
    }

    #[test]
    fn invalid_values_and_invalid_env_values_are_reported_together() {
        let mut builder = minimal()
            .base_url("ftp://app.example")
            .secret("short")
            .issuer_base_url("not a url");
        builder.env_problems.push((
            "AUTH_REQUIRED",
            "expected true or false, got \"maybe\"".into(),
        ));
        let msg = builder
            .into_settings()
            .err()
            .expect("must fail")
            .to_string();
        for needle in [
            "AUTH_REQUIRED",
            "maybe",
            "BASE_URL",
            "ftp://app.example",
            "SECRET",
            "at least 16",
            "ISSUER_BASE_URL",
        ] {
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
        assert!(msg.contains("4 problems"), "{msg}");
        // The secret's value never appears in the message.
        assert!(!msg.contains("short"), "{msg}");
    }

    #[test]
    fn an_invalid_env_value_is_kept_for_build_not_lost() {
        let mut builder = OidcLayerBuilder::default();
        let value: Option<bool> = builder
            .defer(Err(ConfigError::Invalid {
                name: "IDP_LOGOUT",
                reason: "expected true or false, got \"sure\"".into(),
            }))
            .flatten();
        assert_eq!(value, None);
        let msg = builder.into_settings().err().expect("fails").to_string();
        assert!(msg.contains("IDP_LOGOUT") && msg.contains("sure"), "{msg}");
    }

    #[test]
    fn rejects_route_paths_without_leading_slash() {
        let routes = Routes {
            login: Some("login".into()),
            ..Routes::default()
        };
        assert!(minimal().routes(routes).into_settings().is_err());
    }

    #[test]
    fn plain_http_base_url_means_no_secure_cookies() {
        let s = minimal()
            .base_url("http://localhost:3000")
            .into_settings()
            .expect("valid");
        assert!(!s.secure_cookies);
    }

    #[test]
    fn rejects_non_http_base_url() {
        assert!(minimal().base_url("ftp://x").into_settings().is_err());
    }
}
