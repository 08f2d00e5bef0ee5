//! Route guards: [`requires_auth`] and the claim guards [`claim_equals`],
//! [`claim_includes`] and [`claim_check`]. Each is a tower layer for a single
//! route or a router (`.route_layer(claim_equals("role", "admin"))`).
//!
//! Not signed in: a browser is redirected to login and comes back; other
//! clients get 401 JSON. Signed in but the claim check fails: 403 with a body
//! that names the rule (never the claim's value).

use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::context::{RequestContext, original_target};
use super::into_axum;
use crate::engine::AccessRule;
use crate::error::OidcError;

/// A guard as a tower layer. Build one with [`requires_auth`],
/// [`claim_equals`], [`claim_includes`] or [`claim_check`]; the rule itself
/// is the framework-neutral [`AccessRule`].
#[derive(Clone)]
pub struct GuardLayer {
    rule: AccessRule,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("rule", &self.rule.describe())
            .finish()
    }
}

impl From<AccessRule> for GuardLayer {
    fn from(rule: AccessRule) -> Self {
        Self { rule }
    }
}

/// Requires a signed-in user (useful when `auth_required` is off).
pub fn requires_auth() -> GuardLayer {
    AccessRule::authenticated().into()
}

/// Requires the claim `name` to equal `value` exactly (JSON equality).
pub fn claim_equals(name: impl Into<String>, value: impl Into<Value>) -> GuardLayer {
    AccessRule::claim_equals(name, value).into()
}

/// Requires the claim `name` to include every one of `values`. The claim may
/// be a JSON array or a space-separated string (like `scope`).
pub fn claim_includes<I, V>(name: impl Into<String>, values: I) -> GuardLayer
where
    I: IntoIterator<Item = V>,
    V: Into<String>,
{
    AccessRule::claim_includes(name, values).into()
}

/// Requires a custom check over all claims to pass. `rule` describes it in the
/// 403 body (for example "must be an administrator").
pub fn claim_check<F>(rule: impl Into<String>, check: F) -> GuardLayer
where
    F: Fn(&Map<String, Value>) -> bool + Send + Sync + 'static,
{
    AccessRule::claim_check(rule, check).into()
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`GuardLayer`].
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("rule", &self.layer.rule.describe())
            .finish()
    }
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let verdict = match request.extensions().get::<RequestContext>() {
            None => Err(OidcError::LayerMissing.into_response_for(request.headers())),
            Some(ctx) => match ctx.engine.enforce(
                &self.layer.rule,
                ctx.session.as_deref(),
                original_target(request.uri(), request.extensions()),
                request.headers(),
            ) {
                Some(rejection) => Err(into_axum(rejection)),
                None => Ok(()),
            },
        };
        match verdict {
            Ok(()) => {
                // Called synchronously on the service `poll_ready` readied.
                Either::Right(self.inner.call(request))
            }
            Err(response) => Either::Left(ready(Ok(response))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guard_constructors_carry_their_rule() {
        let claims = json!({"groups": ["admin"], "admin": true});
        let claims = claims.as_object().cloned().unwrap_or_default();
        assert!(claim_includes("groups", ["admin"]).rule.allows(&claims));
        assert!(!claim_includes("groups", ["root"]).rule.allows(&claims));
        assert!(claim_equals("admin", true).rule.allows(&claims));
        assert!(requires_auth().rule.allows(&claims));
        assert_eq!(
            claim_check("must be root", |_| false).rule.describe(),
            "must be root"
        );
    }
}
