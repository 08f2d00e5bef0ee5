//! The axum side of bearer tokens: [`BearerLayer`] (verifies the token once
//! per request, with per-route requirements), the [`BearerAuth`] extractor,
//! and [`Principal`], for routes that accept a session or a bearer token.
//! Every rule lives in [`crate::bearer`]; this only translates.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either, Ready, ready};
use tower_layer::Layer;
use tower_service::Service;

use super::context::{RequestContext, original_target};
use super::extract::User;
use super::into_axum;
use crate::bearer::{BearerError, BearerRequirements, BearerToken, BearerVerifier};

/// What [`BearerLayer`] left on the request: the verified token, or `None`
/// for a request without one that an optional layer let through.
#[derive(Clone)]
struct BearerState(Option<BearerToken>);

impl IntoResponse for BearerError {
    /// The RFC 6750 answer: status, `WWW-Authenticate` and a JSON body.
    fn into_response(self) -> Response {
        into_axum(self.to_response())
    }
}

/// Verifies the bearer token of every request it wraps, then checks its
/// requirements. Without a token the request is refused (401, plain
/// `Bearer` challenge) unless the layer is [`optional`](Self::optional).
///
/// ```no_run
/// # async fn run(verifier: portcullis::bearer::BearerVerifier) {
/// use axum::{Router, routing::{get, post}};
/// use portcullis::{BearerAuth, BearerLayer};
/// let app: Router = Router::new()
///     .route("/messages", get(|t: BearerAuth| async move { t.sub().to_owned() }))
///     .route(
///         "/messages/new",
///         post(|| async { "created" }).route_layer(BearerLayer::new(verifier.clone()).require_scope("messages:write")),
///     )
///     .layer(BearerLayer::new(verifier));
/// # }
/// ```
#[derive(Clone)]
pub struct BearerLayer {
    verifier: BearerVerifier,
    requirements: Arc<BearerRequirements>,
    optional: bool,
}

impl std::fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerLayer")
            .field("requirements", &self.requirements)
            .field("optional", &self.optional)
            .finish()
    }
}

impl BearerLayer {
    /// A layer that requires a valid token meeting the verifier's requirements.
    pub fn new(verifier: BearerVerifier) -> Self {
        Self {
            verifier,
            requirements: Arc::new(BearerRequirements::new()),
            optional: false,
        }
    }

    /// Adds requirements for the routes this layer wraps.
    pub fn require(mut self, requirements: BearerRequirements) -> Self {
        self.requirements = Arc::new(self.requirements.as_ref().clone().and(&requirements));
        self
    }

    /// Requires `scope` (403 `insufficient_scope` without it).
    pub fn require_scope(self, scope: impl Into<String>) -> Self {
        self.require(BearerRequirements::new().scope(scope))
    }

    /// Lets requests without any bearer token through (a token that is
    /// present is still verified, and refused when bad). For routes that
    /// also accept a session: see [`Principal`].
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`BearerLayer`].
#[derive(Clone)]
pub struct BearerService<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S> std::fmt::Debug for BearerService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerService").finish_non_exhaustive()
    }
}

/// The future of [`BearerService`]: an immediate refusal, the inner
/// service's future (a cached token, not boxed), or a boxed verification.
pub type BearerFuture<F, E> =
    Either<Either<Ready<Result<Response, E>>, F>, BoxFuture<'static, Result<Response, E>>>;

impl<S> Service<Request> for BearerService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BearerFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let refuse = |e: BearerError| Either::Left(Either::Left(ready(Ok(e.into_response()))));
        let verifier = &self.layer.verifier;
        let token = match verifier.token_from_request(request.headers(), request.uri().query()) {
            Err(e) => return refuse(e),
            Ok(None) if self.layer.optional => {
                request.extensions_mut().insert(BearerState(None));
                return Either::Left(Either::Right(self.inner.call(request)));
            }
            Ok(None) => return refuse(BearerError::MissingToken),
            Ok(Some(token)) => token.into_owned(),
        };
        if let Some(verified) = verifier.verify_cached(&token) {
            if let Err(e) = verifier.check(&verified, &self.layer.requirements) {
                return refuse(e);
            }
            request.extensions_mut().insert(BearerState(Some(verified)));
            return Either::Left(Either::Right(self.inner.call(request)));
        }
        let layer = self.layer.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Box::pin(async move {
            let verified = match layer.verifier.verify(&token).await {
                Ok(verified) => verified,
                Err(e) => return Ok(e.into_response()),
            };
            if let Err(e) = layer.verifier.check(&verified, &layer.requirements) {
                return Ok(e.into_response());
            }
            request.extensions_mut().insert(BearerState(Some(verified)));
            inner.call(request).await
        }))
    }
}

/// The verified bearer token of a request under a [`BearerLayer`].
/// Without a layer the extractor answers 500 (a wiring mistake); under an
/// optional layer, a request without a token gets 401.
#[derive(Clone, Debug)]
pub struct BearerAuth(pub BearerToken);

impl std::ops::Deref for BearerAuth {
    type Target = BearerToken;
    fn deref(&self) -> &BearerToken {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerAuth {
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<BearerState>() {
            Some(BearerState(Some(token))) => Ok(BearerAuth(token.clone())),
            Some(BearerState(None)) => Err(BearerError::MissingToken),
            None => Err(BearerError::LayerMissing),
        }
    }
}

/// Who is calling: a signed-in user (session cookie, from
/// [`OidcLayer`](crate::OidcLayer)) or a verified bearer token (from an
/// optional [`BearerLayer`]). A bearer token, when sent, decides: a bad one
/// is refused even if a session cookie is there too.
///
/// Without either: a browser (`Accept: text/html`) is redirected to login,
/// and other clients get 401 with a plain `Bearer` challenge. When no
/// [`BearerLayer`] wraps the route, bearer tokens are refused (401
/// `invalid_token`): the application does not accept them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Principal {
    /// Signed in through the browser session.
    Session(User),
    /// Authenticated by a bearer token.
    Bearer(BearerToken),
}

impl Principal {
    /// The subject.
    pub fn sub(&self) -> &str {
        match self {
            Principal::Session(user) => user.sub(),
            Principal::Bearer(token) => token.sub(),
        }
    }
    /// The issuer.
    pub fn iss(&self) -> &str {
        match self {
            Principal::Session(user) => user.iss(),
            Principal::Bearer(token) => token.iss(),
        }
    }
    /// `"session"` or `"bearer"`.
    pub fn via(&self) -> &'static str {
        match self {
            Principal::Session(_) => "session",
            Principal::Bearer(_) => "bearer",
        }
    }
    /// The granted scopes, space-separated: the token's, or the session's
    /// access token's (when the OP said).
    pub fn scope(&self) -> Option<String> {
        match self {
            Principal::Session(user) => user.session().scope().map(str::to_owned),
            Principal::Bearer(token) => Some(token.scope()),
        }
    }
}

/// True if the request carries an `Authorization: Bearer` header (valid or not).
fn has_bearer_header(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| {
            v.as_bytes()
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
        })
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bearer = parts.extensions.get::<BearerState>().cloned();
        if let Some(BearerState(Some(token))) = bearer {
            return Ok(Principal::Bearer(token));
        }
        if bearer.is_none() && has_bearer_header(parts) {
            return Err(BearerError::NotAccepted.into_response());
        }
        let ctx = parts.extensions.get::<RequestContext>();
        if let Some(session) = ctx.and_then(|c| c.session.clone()) {
            return Ok(Principal::Session(User::from_session(session)));
        }
        let wants_html = crate::error::wants_html(&parts.headers);
        match ctx {
            Some(ctx) if wants_html || bearer.is_none() => {
                Err(into_axum(ctx.engine.reject_unauthenticated(
                    original_target(&parts.uri, &parts.extensions),
                    &parts.headers,
                )))
            }
            Some(_) => Err(BearerError::MissingToken.into_response()),
            None if bearer.is_some() => Err(BearerError::MissingToken.into_response()),
            None => Err(crate::OidcError::LayerMissing.into_response_for(&parts.headers)),
        }
    }
}
