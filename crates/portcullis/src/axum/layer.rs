//! [`OidcLayer`] and its service: mounts the sign-in routes, authenticates
//! each request once (without I/O when the stores can answer from memory),
//! enforces `auth_required`, and keeps rolling sessions alive.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use tower_layer::Layer;
use tower_service::Service;

use super::context::{RequestContext, original_target};
use super::into_axum;
use crate::clock::now_unix;
use crate::config::{ConfigError, OidcLayerBuilder};
use crate::engine::{Authentication, Engine, MAX_ROUTE_BODY, PostLogoutReturn};

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
    /// Starts a builder with the safe defaults (see the crate docs for each one).
    pub fn builder() -> OidcLayerBuilder {
        OidcLayerBuilder::default()
    }

    /// Builds the layer from the environment (`ISSUER_BASE_URL`, `CLIENT_ID`,
    /// `CLIENT_SECRET`, `BASE_URL`, `SECRET`, ...), discovering the OP.
    pub async fn from_env() -> Result<Self, ConfigError> {
        OidcLayerBuilder::from_env()?.build().await
    }

    /// A layer over an engine built with [`OidcLayerBuilder::build_engine`]
    /// (to share one engine between several adapters).
    pub fn from_engine(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// The engine behind the layer.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl OidcLayerBuilder {
    /// Validates the settings, opens the stores, discovers the OP (exact
    /// issuer match) and fetches its keys. Fails with a clear error instead
    /// of starting broken.
    pub async fn build(self) -> Result<OidcLayer, ConfigError> {
        Ok(OidcLayer::from_engine(Arc::new(self.build_engine().await?)))
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

/// The future returned by [`OidcService`]: an immediate answer, the inner
/// service's own future (the common case, not boxed), or a boxed future for
/// the sign-in routes, lookups that need a store, and responses that set cookies.
pub type OidcFuture<F, E> =
    Either<Either<Ready<Result<Response, E>>, F>, BoxFuture<'static, Result<Response, E>>>;

impl<S> Service<Request> for OidcService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = OidcFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let engine = self.engine.clone();
        if let Some(route) = engine.route_for(request.uri().path()) {
            return Either::Right(Box::pin(async move {
                let (parts, body) = request.into_parts();
                let body = if route.reads_body(&parts.method) {
                    match axum::body::to_bytes(body, MAX_ROUTE_BODY).await {
                        Ok(bytes) => bytes,
                        Err(_) => return Ok(payload_too_large()),
                    }
                } else {
                    bytes::Bytes::new()
                };
                let request = http::Request::from_parts(parts, body);
                Ok(into_axum(engine.handle_route(route, request).await))
            }));
        }
        let mut extra_cookies = Vec::new();
        match engine.post_logout_return(request.uri(), request.headers()) {
            Some(PostLogoutReturn::Done(response)) => {
                return Either::Left(Either::Left(ready(Ok(into_axum(response)))));
            }
            Some(PostLogoutReturn::Mismatch(clear)) => extra_cookies.push(clear),
            None => {}
        }
        let now = now_unix();
        match engine.authenticate_cached(request.headers(), now) {
            Some(auth) => {
                // `poll_ready` was called on `self.inner`, and the call happens
                // right here, so no clone of the inner service is needed.
                serve(engine, auth, extra_cookies, request, |request| {
                    self.inner.call(request)
                })
            }
            None => {
                // The stores must be asked: take the readied service along.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Either::Right(Box::pin(async move {
                    let auth = engine.authenticate(request.headers(), now).await;
                    match serve(engine, auth, extra_cookies, request, |request| {
                        inner.call(request)
                    }) {
                        Either::Left(Either::Left(ready)) => ready.await,
                        Either::Left(Either::Right(future)) => future.await,
                        Either::Right(boxed) => boxed.await,
                    }
                }))
            }
        }
    }
}

/// Serves a request once it is authenticated.
fn serve<F, E>(
    engine: Arc<Engine>,
    auth: Authentication,
    mut set_cookies: Vec<http::HeaderValue>,
    mut request: Request,
    call: impl FnOnce(Request) -> F,
) -> OidcFuture<F, E>
where
    F: std::future::Future<Output = Result<Response, E>> + Send + 'static,
{
    let session = match auth {
        Authentication::Active {
            session,
            set_cookies: renewal,
        } => {
            set_cookies.extend(renewal);
            Some(session)
        }
        Authentication::Anonymous { set_cookies: clear } => {
            set_cookies.extend(clear);
            None
        }
        Authentication::Unavailable(error) => {
            let response = engine.error_response(&error, request.headers());
            return Either::Left(Either::Left(ready(Ok(into_axum(response)))));
        }
    };
    if session.is_none()
        && !engine.auth_required()
        && engine.silent_login_due(request.method(), request.headers())
    {
        return Either::Right(Box::pin(async move {
            let target = original_target(request.uri(), request.extensions()).to_owned();
            let (parts, _body) = request.into_parts();
            let mut response = engine.silent_login(&parts, &target).await;
            crate::engine::append_set_cookies(response.headers_mut(), set_cookies);
            Ok(into_axum(response))
        }));
    }
    if session.is_none() && engine.auth_required() {
        let target = original_target(request.uri(), request.extensions());
        let mut response = engine.reject_unauthenticated(target, request.headers());
        crate::engine::append_set_cookies(response.headers_mut(), set_cookies);
        return Either::Left(Either::Left(ready(Ok(into_axum(response)))));
    }
    request.extensions_mut().insert(RequestContext {
        engine: engine.clone(),
        session,
    });
    let future = call(request);
    if set_cookies.is_empty() {
        // The hot path: no allocation for the future.
        return Either::Left(Either::Right(future));
    }
    Either::Right(Box::pin(async move {
        let mut response = future.await?;
        // A handler that wrote the session itself (`oidc.refresh()`,
        // `oidc.logout()`) wins over a renewal of the old session.
        engine.apply_renewal(set_cookies, response.headers_mut());
        Ok(response)
    }))
}

fn payload_too_large() -> Response {
    let mut response = Response::new(axum::body::Body::from("request body too large"));
    *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    response
}
