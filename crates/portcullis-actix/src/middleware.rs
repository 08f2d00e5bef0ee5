//! [`OidcMiddleware`] and its service: mounts the sign-in routes,
//! authenticates each request once (without I/O when the stores can answer
//! from memory), enforces `auth_required`, and keeps rolling sessions alive.

use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use bytes::Bytes;
use futures_util::future::{Either, LocalBoxFuture, MapOk, Ready, TryFutureExt, ready};
use portcullis::engine::{MAX_ROUTE_BODY, PostLogoutReturn};
use portcullis::{Authentication, ConfigError, Engine, OidcLayerBuilder};

use crate::body::{content_length, read_limited};
use crate::context::{RequestContext, original_target};
use crate::convert::{
    append_set_cookies, apply_renewal, cookie_headers, engine_request, into_actix, now_unix,
    request_headers, request_uri,
};

/// The OpenID Connect sign-in middleware for actix-web. Cheap to clone:
/// build it once, outside `HttpServer::new`, and clone it into each worker's
/// `App`.
///
/// ```no_run
/// use actix_web::{App, HttpServer, web};
/// use portcullis_actix::{OidcMiddleware, User};
///
/// async fn hello(user: User) -> String {
///     format!("hello {}", user.sub())
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET, BASE_URL and SECRET from the environment.
/// let oidc = OidcMiddleware::from_env().await?;
/// HttpServer::new(move || App::new().wrap(oidc.clone()).route("/", web::get().to(hello)))
///     .bind(("127.0.0.1", 3000))?
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OidcMiddleware {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for OidcMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcMiddleware").finish_non_exhaustive()
    }
}

impl OidcMiddleware {
    /// Starts a builder with every default (the same builder as the axum
    /// layer's); finish it with [`OidcMiddleware::from_builder`].
    pub fn builder() -> OidcLayerBuilder {
        OidcLayerBuilder::default()
    }

    /// Builds the middleware from the environment (`ISSUER_BASE_URL`,
    /// `CLIENT_ID`, `CLIENT_SECRET`, `BASE_URL`, `SECRET`, ...), discovering
    /// the OP.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_builder(OidcLayerBuilder::from_env()?).await
    }

    /// Validates the builder's settings, opens the stores, discovers the OP
    /// (exact issuer match) and fetches its keys. Fails with a clear error
    /// instead of starting broken.
    pub async fn from_builder(builder: OidcLayerBuilder) -> Result<Self, ConfigError> {
        Ok(Self::from_engine(Arc::new(builder.build_engine().await?)))
    }

    /// A middleware over an engine built with
    /// [`OidcLayerBuilder::build_engine`] (to share one engine between
    /// several adapters).
    pub fn from_engine(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// The engine behind the middleware.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl<S, B> Transform<S, ServiceRequest> for OidcMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, Bytes>>;
    type Error = Error;
    type Transform = OidcService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(OidcService {
            service: Rc::new(service),
            engine: self.engine.clone(),
        }))
    }
}

/// The service produced by [`OidcMiddleware`].
pub struct OidcService<S> {
    service: Rc<S>,
    engine: Arc<Engine>,
}

impl<S> std::fmt::Debug for OidcService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcService").finish_non_exhaustive()
    }
}

/// What [`OidcService`] answers with.
pub type OidcResponse<B> = ServiceResponse<EitherBody<B, Bytes>>;

type Passed<B> = fn(ServiceResponse<B>) -> OidcResponse<B>;

/// The future returned by [`OidcService`]: an immediate answer, the inner
/// service's own future (the common case, not boxed), or a boxed future for
/// the sign-in routes, lookups that need a store, and responses that set
/// cookies.
pub type OidcFuture<F, B> = Either<
    Either<Ready<Result<OidcResponse<B>, Error>>, MapOk<F, Passed<B>>>,
    LocalBoxFuture<'static, Result<OidcResponse<B>, Error>>,
>;

impl<S, B> Service<ServiceRequest> for OidcService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = OidcResponse<B>;
    type Error = Error;
    type Future = OidcFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let engine = self.engine.clone();
        if let Some(route) = engine.route_for(request.path()) {
            return Either::Right(Box::pin(async move {
                let method = crate::convert::request_method(request.method());
                let body = if route.reads_body(&method) {
                    let length = content_length(request.headers());
                    let mut payload = request.take_payload();
                    match read_limited(length, &mut payload, MAX_ROUTE_BODY).await {
                        Ok(body) => body,
                        Err(error) => {
                            return Ok(request
                                .into_response(error.response())
                                .map_into_right_body());
                        }
                    }
                } else {
                    Bytes::new()
                };
                let answer = engine
                    .handle_route(route, engine_request(request.request(), body))
                    .await;
                Ok(request
                    .into_response(into_actix(answer))
                    .map_into_right_body())
            }));
        }
        let mut extra_cookies = Vec::new();
        // Only a request with a query can be the browser coming back from
        // the OP's end-session endpoint; the engine decides whether it is.
        if !request.query_string().is_empty() {
            let headers = request_headers(request.headers());
            match engine.post_logout_return(&request_uri(request.uri()), &headers) {
                Some(PostLogoutReturn::Done(response)) => {
                    let response = request.into_response(into_actix(response));
                    return Either::Left(Either::Left(ready(Ok(response.map_into_right_body()))));
                }
                Some(PostLogoutReturn::Mismatch(clear)) => extra_cookies.push(clear),
                Some(_) | None => {}
            }
        }
        let now = now_unix();
        // Authentication reads only the cookies, and the hot path takes
        // actix-web's own header bytes (no copy, no re-validation of a 2 KB
        // cookie); the other headers are translated only for the answers
        // that read them.
        let cached = engine.authenticate_cookies_cached(
            request
                .headers()
                .get_all(actix_web::http::header::COOKIE)
                .map(|value| value.as_bytes()),
            now,
        );
        match cached {
            Some(auth) => serve(&self.service, engine, auth, extra_cookies, request),
            None => {
                let service = self.service.clone();
                let cookies = cookie_headers(request.headers());
                Either::Right(Box::pin(async move {
                    let auth = engine.authenticate(&cookies, now).await;
                    match serve(&service, engine, auth, extra_cookies, request) {
                        Either::Left(Either::Left(answer)) => answer.await,
                        Either::Left(Either::Right(passed)) => passed.await,
                        Either::Right(boxed) => boxed.await,
                    }
                }))
            }
        }
    }
}

/// Serves a request once it is authenticated.
fn serve<S, B>(
    service: &Rc<S>,
    engine: Arc<Engine>,
    auth: Authentication,
    mut set_cookies: Vec<http::HeaderValue>,
    request: ServiceRequest,
) -> OidcFuture<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
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
            let headers = request_headers(request.headers());
            let response = into_actix(engine.error_response(&error, &headers));
            return Either::Left(Either::Left(ready(Ok(request
                .into_response(response)
                .map_into_right_body()))));
        }
        // An outcome this adapter does not know: nobody is signed in.
        _ => None,
    };
    if session.is_none() && engine.auth_required() {
        let headers = request_headers(request.headers());
        let rejection = engine.reject_unauthenticated(original_target(request.uri()), &headers);
        let mut response = into_actix(rejection);
        append_set_cookies(response.headers_mut(), set_cookies);
        return Either::Left(Either::Left(ready(Ok(request
            .into_response(response)
            .map_into_right_body()))));
    }
    request.extensions_mut().insert(RequestContext {
        engine: engine.clone(),
        session,
    });
    let future = service.call(request);
    if set_cookies.is_empty() {
        // The hot path: no allocation for the future.
        let passed: Passed<B> = ServiceResponse::map_into_left_body;
        return Either::Left(Either::Right(future.map_ok(passed)));
    }
    Either::Right(Box::pin(async move {
        let mut response = future.await?;
        // A handler that wrote the session itself (`oidc.refresh()`,
        // `oidc.logout()`) wins over a renewal of the old session.
        apply_renewal(&engine, set_cookies, response.headers_mut());
        Ok(response.map_into_left_body())
    }))
}
