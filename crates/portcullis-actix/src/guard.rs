//! Route guards: [`requires_auth`] and the claim guards [`claim_equals`],
//! [`claim_includes`] and [`claim_check`]. Each is an actix-web middleware
//! for a resource or a scope:
//! `web::resource("/admin").wrap(claim_includes("groups", ["admin"]))`.
//! The rule itself is the framework-neutral [`AccessRule`], applied by
//! [`Engine::enforce`](portcullis::Engine::enforce).
//!
//! Not signed in: a browser is redirected to login and comes back; other
//! clients get 401 JSON. Signed in but the claim check fails: 403 with a body
//! that names the rule (never the claim's value). Wrap
//! [`OidcMiddleware`](crate::OidcMiddleware) around the app too: without it a
//! guard answers 500.

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use bytes::Bytes;
use futures_util::future::{Either, MapOk, Ready, TryFutureExt, ready};
use portcullis::{AccessRule, OidcError};
use serde_json::{Map, Value};

use actix_web::HttpMessage;

use crate::context::{RequestContext, original_target};
use crate::convert::{into_actix, request_headers};

/// A guard as an actix-web middleware. Build one with [`requires_auth`],
/// [`claim_equals`], [`claim_includes`] or [`claim_check`], or from any
/// [`AccessRule`].
#[derive(Clone, Debug)]
pub struct GuardMiddleware {
    rule: AccessRule,
}

impl From<AccessRule> for GuardMiddleware {
    fn from(rule: AccessRule) -> Self {
        Self { rule }
    }
}

/// Requires a signed-in user (useful when `auth_required` is off).
pub fn requires_auth() -> GuardMiddleware {
    AccessRule::authenticated().into()
}

/// Requires the claim `name` to equal `value` exactly (JSON equality).
pub fn claim_equals(name: impl Into<String>, value: impl Into<Value>) -> GuardMiddleware {
    AccessRule::claim_equals(name, value).into()
}

/// Requires the claim `name` to include every one of `values`. The claim may
/// be a JSON array or a space-separated string (like `scope`).
pub fn claim_includes<I, V>(name: impl Into<String>, values: I) -> GuardMiddleware
where
    I: IntoIterator<Item = V>,
    V: Into<String>,
{
    AccessRule::claim_includes(name, values).into()
}

/// Requires a custom check over all claims to pass. `rule` describes it in
/// the 403 body (for example "must be an administrator").
pub fn claim_check<F>(rule: impl Into<String>, check: F) -> GuardMiddleware
where
    F: Fn(&Map<String, Value>) -> bool + Send + Sync + 'static,
{
    AccessRule::claim_check(rule, check).into()
}

impl<S, B> Transform<S, ServiceRequest> for GuardMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, Bytes>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service,
            rule: self.rule.clone(),
        }))
    }
}

/// The service produced by [`GuardMiddleware`].
pub struct GuardService<S> {
    service: S,
    rule: AccessRule,
}

impl<S> std::fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardService")
            .field("rule", &self.rule.describe())
            .finish()
    }
}

type GuardResponse<B> = ServiceResponse<EitherBody<B, Bytes>>;
type Passed<B> = fn(ServiceResponse<B>) -> GuardResponse<B>;

/// The future returned by [`GuardService`]: the refusal, or the inner
/// service's future (not boxed).
pub type GuardFuture<F, B> = Either<Ready<Result<GuardResponse<B>, Error>>, MapOk<F, Passed<B>>>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = GuardResponse<B>;
    type Error = Error;
    type Future = GuardFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let refusal = {
            // Borrowed, not cloned: the hot path touches no reference count.
            let extensions = request.extensions();
            match extensions.get::<RequestContext>() {
                None => {
                    let headers = request_headers(request.headers());
                    Some(OidcError::LayerMissing.to_response(&headers, "/"))
                }
                Some(ctx) => {
                    // A signed-in user the rule allows passes without the
                    // headers being converted; every refusal is the engine's.
                    let allowed = ctx
                        .session
                        .as_deref()
                        .is_some_and(|session| self.rule.allows(session.claims()));
                    if allowed {
                        None
                    } else {
                        let headers = request_headers(request.headers());
                        ctx.engine.enforce(
                            &self.rule,
                            ctx.session.as_deref(),
                            original_target(request.uri()),
                            &headers,
                        )
                    }
                }
            }
        };
        match refusal {
            Some(refusal) => {
                let response = request.into_response(into_actix(refusal));
                Either::Left(ready(Ok(response.map_into_right_body())))
            }
            None => {
                let passed: Passed<B> = ServiceResponse::map_into_left_body;
                Either::Right(self.service.call(request).map_ok(passed))
            }
        }
    }
}
