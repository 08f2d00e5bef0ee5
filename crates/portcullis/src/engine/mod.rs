//! The relying-party engine: framework-neutral sign-in, sessions and logout.
//!
//! The engine speaks `http` types only: requests as `http::Request<Bytes>`
//! (or their parts), responses as [`EngineResponse`] (`http::Response<Bytes>`).
//! It loads and saves sessions through the async stores of [`crate::store`].
//! The axum layer, the extractors and the guards are thin adapters over it,
//! and so are the other adapters (the `portcullis proxy` gate, actix-web).
//!
//! - [`Engine::route_for`] / [`Engine::handle_route`]: the built-in routes
//!   (login, callback, logout, back- and front-channel logout).
//! - [`Engine::authenticate_cached`] / [`Engine::authenticate`]: the session
//!   of a request, without I/O when the stores can answer from memory.
//! - [`Engine::login`], [`Engine::logout`], [`Engine::logout_local`],
//!   [`Engine::refresh`], [`Engine::fetch_userinfo`],
//!   [`Engine::exchange_token`]: for handlers.
//! - [`Engine::enforce`] with an [`AccessRule`]: the guards of protected routes.

mod authenticate;
mod callback;
mod channel_logout;
mod login;
mod logout;
mod markers;
mod par;
pub(crate) mod persist;
mod refresh;
mod response;
mod rule;
mod silent;
mod token_exchange;
mod tokens;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use portcullis_core::ClientConfig;

pub use authenticate::Authentication;
pub use logout::PostLogoutReturn;
pub(crate) use refresh::{RefreshFlights, RefreshSettings};
pub use response::EngineResponse;
#[cfg(feature = "axum")]
pub(crate) use response::append_cookies as append_set_cookies;
pub use rule::AccessRule;

use crate::config::{ConfigError, LogoutStorage, SessionStorage, Settings, join_base};
use crate::error::OidcError;
use crate::http_client::{HttpClient, OpEndpoint};
use crate::provider::Provider;
use crate::session::{CookieOptions, SessionKeys};
use crate::session_cache::{SealedCache, SessionCache};
use crate::store::{
    LogoutStore, MemoryLogoutStore, OpenedStores, RefreshCoordinator, SessionStore,
};
use crate::telemetry::{self, Store};

/// The largest request body a built-in route reads (callback form_post,
/// logout, back-channel logout), in bytes. Adapters read at most this much.
pub const MAX_ROUTE_BODY: usize = 64 * 1024;

/// A built-in route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Starts a login (GET).
    Login,
    /// Receives the authorization response (GET query, POST form_post).
    Callback,
    /// Signs out (POST; GET when not cross-site).
    Logout,
    /// Receives back-channel logout tokens (POST).
    BackchannelLogout,
    /// Front-channel logout, framed by the OP (GET).
    FrontchannelLogout,
}

impl Route {
    /// The methods the route accepts, as an `Allow` value.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Login | Route::FrontchannelLogout => "GET",
            Route::BackchannelLogout => "POST",
            Route::Callback | Route::Logout => "GET, POST",
        }
    }

    /// Whether the route accepts `method`.
    pub fn accepts(self, method: &Method) -> bool {
        match self {
            Route::Login | Route::FrontchannelLogout => method == Method::GET,
            Route::BackchannelLogout => method == Method::POST,
            Route::Callback | Route::Logout => method == Method::GET || method == Method::POST,
        }
    }

    /// Whether an adapter must read the request body (up to
    /// [`MAX_ROUTE_BODY`]) before calling [`Engine::handle_route`].
    pub fn reads_body(self, method: &Method) -> bool {
        method == Method::POST
            && matches!(
                self,
                Route::Callback | Route::Logout | Route::BackchannelLogout
            )
    }
}

/// Where this engine keeps sessions.
pub(crate) enum Storage {
    /// Sealed into the session cookie.
    Cookie,
    /// In a server-side store; the cookie holds a sealed id.
    Server(Arc<dyn SessionStore>),
}

/// The relying-party engine. Build it with
/// [`OidcLayerBuilder::build_engine`](crate::OidcLayerBuilder::build_engine)
/// (or through an adapter such as [`crate::OidcLayer`]); share it in an `Arc`.
pub struct Engine {
    pub(crate) settings: Settings,
    pub(crate) client: ClientConfig,
    pub(crate) provider: Provider,
    pub(crate) keys: SessionKeys,
    pub(crate) session_cookie: CookieOptions,
    pub(crate) transaction_cookie: CookieOptions,
    pub(crate) cache: SessionCache,
    /// Session ids already opened from their sealed cookie (server-side sessions).
    pub(crate) id_cache: SealedCache<String>,
    pub(crate) storage: Storage,
    pub(crate) logouts: Arc<dyn LogoutStore>,
    /// Where the error pages' "home" link goes: `BASE_URL`'s path.
    pub(crate) home: String,
    /// Token refreshes in flight in this process.
    pub(crate) flights: RefreshFlights,
    /// One refresh per refresh token across replicas (shared stores only).
    pub(crate) refresh_coordinator: Option<Arc<dyn RefreshCoordinator>>,
    /// Userinfo answers by access token, when caching is on.
    pub(crate) userinfo_cache:
        Option<moka::sync::Cache<tokens::UserinfoCacheKey, Arc<tokens::CachedUserinfo>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the stores, discovers the OP, and prepares keys and cookie settings.
    pub(crate) async fn start(mut settings: Settings, now: u64) -> Result<Self, ConfigError> {
        // Every sealed value is bound to this application: two deployments
        // that share a SECRET cannot open each other's cookies.
        let binding = format!("{}\0{}", settings.issuer, settings.client_id);
        let keys =
            SessionKeys::bound_from_secret_list(settings.secret.expose(), binding.as_bytes())
                .map_err(|e| ConfigError::Invalid {
                    name: "SECRET",
                    reason: e.to_string(),
                })?;
        let (storage, logouts, refresh_coordinator) = open_stores(&mut settings).await?;
        let http = HttpClient::new(settings.http_timeout).map_err(ConfigError::HttpClient)?;
        let provider = Provider::discover(&settings.issuer, http, now)
            .await
            .map_err(|e| ConfigError::Discovery {
                issuer: settings.issuer.clone(),
                hint: crate::diagnose::discovery_hint(
                    &settings.issuer,
                    &e,
                    settings.http_timeout.as_secs(),
                ),
                source: Box::new(e),
            })?;
        let (auth_method, assertion_key) = settings
            .client_auth
            .for_provider(provider.metadata(), settings.client_secret.as_ref())?;
        let client = ClientConfig {
            issuer: settings.issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            auth_method,
            assertion_key,
            redirect_uri: settings.redirect_uri()?,
            scope: settings.scope.clone(),
            response_mode: settings.response_mode,
            id_token_algs: settings.id_token_algs.clone(),
            clock_skew_secs: settings.clock_skew_secs,
        };
        par::check_par(provider.metadata(), settings.client_auth.use_par)?;
        portcullis_core::client_auth::check_client_auth(&client).map_err(|e| {
            ConfigError::Invalid {
                name: "CLIENT_AUTH_METHOD",
                reason: e.to_string(),
            }
        })?;
        // Cookies are scoped to the application's path, so two apps under
        // different prefixes of one host do not clobber each other's session.
        let cookie_path = match settings.base_url.path().trim_end_matches('/') {
            "" => "/".to_owned(),
            prefix => prefix.to_owned(),
        };
        let home = format!("{}/", settings.base_url.path().trim_end_matches('/'));
        let mut session_cookie = CookieOptions::for_session(settings.secure_cookies);
        session_cookie.path = cookie_path.clone();
        let mut transaction_cookie = CookieOptions::for_transaction(settings.secure_cookies);
        transaction_cookie.path = cookie_path;
        let settings_userinfo_ttl = settings.userinfo_cache_ttl;
        Ok(Self {
            cache: SessionCache::new(settings.session_cache_capacity),
            id_cache: SealedCache::new(settings.session_cache_capacity),
            settings,
            client,
            provider,
            keys,
            session_cookie,
            transaction_cookie,
            storage,
            logouts,
            home,
            flights: RefreshFlights::default(),
            refresh_coordinator,
            userinfo_cache: settings_userinfo_ttl.map(tokens::userinfo_cache),
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The configured client id.
    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    /// Whether every route requires a signed-in user.
    pub fn auth_required(&self) -> bool {
        self.settings.auth_required
    }

    /// Whether sessions live in a server-side store (else in the cookie).
    pub fn uses_session_store(&self) -> bool {
        matches!(self.storage, Storage::Server(_))
    }

    /// The session cookie's name. Every cookie the engine sets is this name,
    /// or this name followed by `.` (chunks, the transaction and the
    /// pending-logout cookies): an adapter that forwards requests can keep
    /// them from the application.
    pub fn session_cookie_name(&self) -> &str {
        &self.settings.session_cookie
    }

    /// Asks the session store (when sessions are server-side) and the logout
    /// store for a key that does not exist: `Ok` when both answer. For
    /// readiness probes (`portcullis proxy`'s `/readyz`).
    pub async fn check_stores(&self) -> Result<(), OidcError> {
        const PROBE: &str = "portcullis-readiness-probe";
        if let Storage::Server(store) = &self.storage {
            telemetry::store_op(Store::Session, "load", store.load(PROBE)).await?;
        }
        let keys = [PROBE.to_owned()];
        telemetry::store_op(Store::Logout, "markers", self.logouts.markers(&keys)).await?;
        Ok(())
    }

    /// The built-in route for a request path, if any.
    pub fn route_for(&self, path: &str) -> Option<Route> {
        let routes = &self.settings.routes;
        let is = |route: &Option<String>| route.as_deref() == Some(path);
        if is(&routes.callback) {
            Some(Route::Callback)
        } else if is(&routes.login) {
            Some(Route::Login)
        } else if is(&routes.logout) {
            Some(Route::Logout)
        } else if is(&routes.backchannel_logout) {
            Some(Route::BackchannelLogout)
        } else if is(&routes.frontchannel_logout) {
            Some(Route::FrontchannelLogout)
        } else {
            None
        }
    }

    /// Serves a built-in route. The body must hold the request body when
    /// [`Route::reads_body`] says so (at most [`MAX_ROUTE_BODY`] bytes).
    pub async fn handle_route(
        &self,
        route: Route,
        request: http::Request<Bytes>,
    ) -> EngineResponse {
        if !route.accepts(request.method()) {
            return response::method_not_allowed(route.allow());
        }
        let span = tracing::info_span!("portcullis.route", route = ?route);
        let started = std::time::Instant::now();
        let response =
            tracing::Instrument::instrument(self.serve_route(route, request), span.clone()).await;
        span.in_scope(|| {
            tracing::debug!(
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "route answered"
            );
        });
        response
    }

    async fn serve_route(&self, route: Route, request: http::Request<Bytes>) -> EngineResponse {
        match route {
            Route::Login => {
                let (parts, _body) = request.into_parts();
                let options = crate::LoginOptions {
                    return_to: response::query_param(parts.uri.query(), "returnTo"),
                    ..Default::default()
                };
                self.login(&parts, options).await
            }
            Route::Callback => self.callback(request).await,
            Route::Logout => self.logout_route(request).await,
            Route::BackchannelLogout => self.backchannel_logout(request).await,
            Route::FrontchannelLogout => self.frontchannel_logout(request).await,
        }
    }

    /// Renders `error` for a request with `headers`: HTML for browsers (with a
    /// "home" link to `BASE_URL`'s path), JSON otherwise.
    pub fn error_response(&self, error: &OidcError, headers: &HeaderMap) -> EngineResponse {
        if matches!(
            error,
            OidcError::StoreUnavailable(_) | OidcError::Session(_)
        ) {
            // The page shows only the message; the cause is for the operator.
            tracing::warn!(error = %error.describe(), status = error.status().as_u16(), "request failed");
        }
        if !crate::error::wants_html(headers) {
            return error.to_json();
        }
        let login = self
            .settings
            .routes
            .login
            .as_deref()
            .map(|path| self.app_target(path));
        let page = error.page(&crate::error::PageLinks::new(self.home.clone(), login));
        let custom = self
            .settings
            .error_renderer
            .as_ref()
            .and_then(|renderer| renderer.render(&page, error));
        page.to_response(custom)
    }

    /// Where to send the browser for a checked target: an app-relative path is
    /// put under `BASE_URL`'s path (the prefix a proxy strips before the app
    /// sees the request); an absolute URL is used as it is.
    pub(crate) fn app_target(&self, target: &str) -> String {
        if target.starts_with('/') {
            let prefix = self.settings.base_url.path().trim_end_matches('/');
            format!("{prefix}{target}")
        } else {
            target.to_owned()
        }
    }

    /// An absolute URL for a checked target.
    pub(crate) fn absolute_target(&self, target: &str) -> Option<url::Url> {
        if target.starts_with('/') {
            join_base(&self.settings.base_url, target).ok()
        } else {
            url::Url::parse(target).ok()
        }
    }

    pub(crate) fn safe_return_to(&self, target: &str) -> Result<String, OidcError> {
        portcullis_core::return_to::sanitize_return_to(
            target,
            &self.settings.base_url,
            &self.settings.allowed_return_origins,
        )
        .map_err(OidcError::InvalidReturnTo)
    }

    pub(crate) async fn send(
        &self,
        endpoint: OpEndpoint,
        request: portcullis_core::HttpRequest,
    ) -> Result<portcullis_core::HttpResponse, OidcError> {
        self.provider
            .http()
            .execute_for(endpoint, request)
            .await
            .map_err(OidcError::ProviderUnavailable)
    }

    /// Runs a token check with the current keys, and once more after a JWKS
    /// refetch (rate-limited, shared by concurrent callers) when it failed on
    /// an unknown `kid`.
    pub(crate) async fn with_keys<T, E>(
        &self,
        now: u64,
        check: impl Fn(&portcullis_core::jose::Jwks) -> Result<T, E>,
        is_unknown_kid: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        self.provider
            .verify_with_keys(now, check, is_unknown_kid)
            .await
    }
}

/// Resolves the configured session and logout storage into stores.
async fn open_stores(
    settings: &mut Settings,
) -> Result<
    (
        Storage,
        Arc<dyn LogoutStore>,
        Option<Arc<dyn RefreshCoordinator>>,
    ),
    ConfigError,
> {
    let mut opened: Vec<(String, OpenedStores)> = Vec::new();
    let opener = settings.store_opener.clone();
    let mut open = async |name: &'static str, url: &str| -> Result<OpenedStores, ConfigError> {
        if let Some((_, stores)) = opened.iter().find(|(u, _)| u == url) {
            return Ok(stores.clone());
        }
        let opener = opener.as_ref().filter(|o| o.handles(url)).ok_or_else(|| {
            ConfigError::Invalid {
                name,
                reason: format!(
                    "no store opener handles {}: add the portcullis-redis crate and pass \
                     `.store_opener(Arc::new(portcullis_redis::RedisOpener::default()))` to the builder",
                    crate::config::redact_url(url)
                ),
            }
        })?;
        let stores = opener
            .open(url)
            .await
            .map_err(|source| ConfigError::Store { name, source })?;
        opened.push((url.to_owned(), stores.clone()));
        Ok(stores)
    };
    let mut shared_logouts = None;
    let mut coordinator = settings.refresh_coordinator.clone();
    let storage = match settings.session_storage.clone() {
        SessionStorage::Cookie => Storage::Cookie,
        SessionStorage::Store(store) => Storage::Server(store),
        SessionStorage::Url(url) => {
            let stores = open("SESSION_STORE", &url).await?;
            shared_logouts = Some(stores.logouts.clone());
            coordinator = coordinator.or(stores.refresh.clone());
            Storage::Server(stores.sessions)
        }
    };
    let logouts: Arc<dyn LogoutStore> = match settings.logout_storage.clone() {
        Some(LogoutStorage::Memory) => Arc::new(MemoryLogoutStore::default()),
        Some(LogoutStorage::Store(store)) => store,
        Some(LogoutStorage::Url(url)) => {
            let stores = open("LOGOUT_STORE", &url).await?;
            coordinator = coordinator.or(stores.refresh.clone());
            stores.logouts
        }
        // Sessions in a shared store: their logout markers go there too, so
        // a logout reaches every replica.
        None => shared_logouts.unwrap_or_else(|| Arc::new(MemoryLogoutStore::default())),
    };
    Ok((storage, logouts, coordinator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_accepts_only_its_methods_and_says_so_in_allow() {
        for (route, allowed, allow) in [
            (Route::Login, &[Method::GET][..], "GET"),
            (
                Route::Callback,
                &[Method::GET, Method::POST][..],
                "GET, POST",
            ),
            (Route::Logout, &[Method::GET, Method::POST][..], "GET, POST"),
            (Route::BackchannelLogout, &[Method::POST][..], "POST"),
            (Route::FrontchannelLogout, &[Method::GET][..], "GET"),
        ] {
            assert_eq!(route.allow(), allow, "{route:?}");
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::HEAD,
            ] {
                assert_eq!(
                    route.accepts(&method),
                    allowed.contains(&method),
                    "{route:?} {method}"
                );
            }
        }
    }

    #[test]
    fn only_post_routes_that_carry_a_body_read_it() {
        assert!(Route::Callback.reads_body(&Method::POST));
        assert!(Route::Logout.reads_body(&Method::POST));
        assert!(Route::BackchannelLogout.reads_body(&Method::POST));
        assert!(!Route::Callback.reads_body(&Method::GET));
        assert!(!Route::Login.reads_body(&Method::POST));
        assert!(!Route::FrontchannelLogout.reads_body(&Method::POST));
    }
}
