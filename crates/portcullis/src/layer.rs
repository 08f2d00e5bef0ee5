//! [`OidcLayer`] and its service: mounts the sign-in routes, decrypts the
//! session once per request, enforces `auth_required`, and keeps rolling
//! sessions alive.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::now_unix;
use crate::config::{ConfigError, OidcLayerBuilder};
use crate::context::RequestContext;
use crate::engine::{Engine, SessionLookup};

/// The OpenID Connect sign-in layer. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// let oidc = portcullis::OidcLayer::from_env().await?;
/// let app: Router = Router::new()
///     .route("/", get(|user: portcullis::User| async move { format!("hello {}", user.sub()) }))
///     .layer(oidc);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OidcLayer {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for OidcLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLayer").finish_non_exhaustive()
    }
}

impl OidcLayer {
    /// Starts a builder with every default from the design brief.
    pub fn builder() -> OidcLayerBuilder {
        OidcLayerBuilder::default()
    }

    /// Builds the layer from the environment (`ISSUER_BASE_URL`, `CLIENT_ID`,
    /// `CLIENT_SECRET`, `BASE_URL`, `SECRET`, ...), discovering the OP.
    pub async fn from_env() -> Result<Self, ConfigError> {
        OidcLayerBuilder::from_env()?.build().await
    }

    pub(crate) fn from_engine(engine: Engine) -> Self {
        Self {
            engine: Arc::new(engine),
        }
    }
}

impl OidcLayerBuilder {
    /// Validates the settings, discovers the OP (exact issuer match) and
    /// fetches its keys. Fails with a clear error instead of starting broken.
    pub async fn build(self) -> Result<OidcLayer, ConfigError> {
        let settings = self.into_settings()?;
        Engine::start(settings, now_unix())
            .await
            .map(OidcLayer::from_engine)
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService {
            inner,
            engine: self.engine.clone(),
        }
    }
}

/// The service produced by [`OidcLayer`].
#[derive(Clone)]
pub struct OidcService<S> {
    inner: S,
    engine: Arc<Engine>,
}

impl<S> std::fmt::Debug for OidcService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcService").finish_non_exhaustive()
    }
}

impl<S> Service<Request> for OidcService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = OidcFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let engine = self.engine.clone();
        if let Some(route) = engine.route_for(request.uri().path()) {
            return Either::Right(Box::pin(async move {
                Ok(engine.handle_route(route, request).await)
            }));
        }
        let now = now_unix();
        let (session, mut set_cookies) = match engine.lookup_session(request.headers(), now) {
            SessionLookup::Active(session) => (Some(session), Vec::new()),
            SessionLookup::Absent => (None, Vec::new()),
            SessionLookup::Invalid(clear) => (None, clear),
        };
        if session.is_none() && engine.auth_required() {
            let mut response = engine.reject_unauthenticated(
                request.uri(),
                request.headers(),
                request.extensions(),
            );
            append_cookies(&mut response, set_cookies);
            return Either::Left(Either::Left(ready(Ok(response))));
        }
        if let Some(active) = &session
            && let Some(cookies) = engine.touch_cookies(active, request.headers(), now)
        {
            set_cookies.extend(cookies);
        }
        request
            .extensions_mut()
            .insert(RequestContext { engine, session });
        // `poll_ready` was called on `self.inner`, and the call happens right
        // here, so no clone of the inner service is needed.
        let future = self.inner.call(request);
        if set_cookies.is_empty() {
            // The hot path: no allocation for the future.
            return Either::Left(Either::Right(future));
        }
        let engine = self.engine.clone();
        Either::Right(Box::pin(async move {
            let mut response = future.await?;
            // A handler that wrote the session itself (`oidc.refresh()`,
            // `oidc.logout()`) wins: appending the renewal of the old session
            // after it would undo a refresh or resurrect a signed-out session.
            if !engine.sets_session_cookie(&response) {
                append_cookies(&mut response, set_cookies);
            }
            Ok(response)
        }))
    }
}

/// The future returned by [`OidcService`]: an immediate answer, the inner
/// service's own future (the common case, not boxed), or a boxed future for
/// the sign-in routes and responses that set cookies.
pub type OidcFuture<F, E> =
    Either<Either<Ready<Result<Response, E>>, F>, BoxFuture<'static, Result<Response, E>>>;

fn append_cookies(response: &mut Response, cookies: Vec<HeaderValue>) {
    let headers = response.headers_mut();
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
}
