//! Route guards: [`requires_auth`] and the claim guards [`claim_equals`],
//! [`claim_includes`] and [`claim_check`]. Each is a tower layer for a single
//! route or a router (`.route_layer(claim_equals("role", "admin"))`).
//!
//! Not signed in: a browser is redirected to login and comes back; other
//! clients get 401 JSON. Signed in but the claim check fails: 403 with a body
//! that names the rule (never the claim's value).

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::context::{RequestContext, original_target};
use super::into_axum;
use crate::error::OidcError;

type Predicate = Arc<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

/// A guard as a tower layer. Build one with [`requires_auth`],
/// [`claim_equals`], [`claim_includes`] or [`claim_check`].
#[derive(Clone)]
pub struct GuardLayer {
    predicate: Option<Predicate>,
    rule: Arc<str>,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("rule", &self.rule)
            .finish()
    }
}

/// Requires a signed-in user (useful when `auth_required` is off).
pub fn requires_auth() -> GuardLayer {
    GuardLayer {
        predicate: None,
        rule: "authentication required".into(),
    }
}

/// Requires the claim `name` to equal `value` exactly (JSON equality).
pub fn claim_equals(name: impl Into<String>, value: impl Into<Value>) -> GuardLayer {
    let name = name.into();
    let value = value.into();
    let rule = format!("claim {name:?} must equal {value}");
    GuardLayer {
        predicate: Some(Arc::new(move |claims| claims.get(&name) == Some(&value))),
        rule: rule.into(),
    }
}

/// Requires the claim `name` to include every one of `values`. The claim may
/// be a JSON array or a space-separated string (like `scope`).
pub fn claim_includes<I, V>(name: impl Into<String>, values: I) -> GuardLayer
where
    I: IntoIterator<Item = V>,
    V: Into<String>,
{
    let name = name.into();
    let wanted: Vec<String> = values.into_iter().map(Into::into).collect();
    let rule = format!("claim {name:?} must include {wanted:?}");
    GuardLayer {
        predicate: Some(Arc::new(move |claims| {
            claim_contains_all(claims.get(&name), &wanted)
        })),
        rule: rule.into(),
    }
}

/// Requires a custom check over all claims to pass. `rule` describes it in the
/// 403 body (for example "must be an administrator").
pub fn claim_check<F>(rule: impl Into<String>, check: F) -> GuardLayer
where
    F: Fn(&Map<String, Value>) -> bool + Send + Sync + 'static,
{
    GuardLayer {
        predicate: Some(Arc::new(check)),
        rule: rule.into().into(),
    }
}

fn claim_contains_all(claim: Option<&Value>, wanted: &[String]) -> bool {
    match claim {
        Some(Value::Array(items)) => wanted
            .iter()
            .all(|w| items.iter().any(|i| i.as_str() == Some(w.as_str()))),
        Some(Value::String(s)) => wanted
            .iter()
            .all(|w| s.split(' ').any(|part| part == w.as_str())),
        _ => false,
    }
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
            .field("rule", &self.layer.rule)
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
            Some(ctx) => match &ctx.session {
                None => Err(into_axum(ctx.engine.reject_unauthenticated(
                    original_target(request.uri(), request.extensions()),
                    request.headers(),
                ))),
                Some(session) => match &self.layer.predicate {
                    Some(check) if !check(session.claims()) => {
                        let error = OidcError::Forbidden {
                            rule: self.layer.rule.to_string(),
                        };
                        Err(into_axum(
                            ctx.engine.error_response(&error, request.headers()),
                        ))
                    }
                    _ => Ok(()),
                },
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

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn claim_includes_accepts_arrays_and_space_separated_strings() {
        let c = claims(json!({"groups": ["a", "b"], "scope": "read write"}));
        assert!(claim_contains_all(
            c.get("groups"),
            &["a".into(), "b".into()]
        ));
        assert!(claim_contains_all(c.get("scope"), &["write".into()]));
    }

    #[test]
    fn claim_includes_rejects_missing_values_and_wrong_types() {
        let c = claims(json!({"groups": ["a"], "n": 5, "s": "ab"}));
        assert!(!claim_contains_all(
            c.get("groups"),
            &["a".into(), "b".into()]
        ));
        assert!(!claim_contains_all(c.get("n"), &["5".into()]));
        assert!(!claim_contains_all(c.get("s"), &["a".into()]));
        assert!(!claim_contains_all(c.get("absent"), &["a".into()]));
    }

    #[test]
    fn claim_equals_uses_json_equality() {
        let layer = claim_equals("admin", true);
        let check = layer.predicate.expect("predicate");
        assert!(check(&claims(json!({"admin": true}))));
        assert!(!check(&claims(json!({"admin": "true"}))));
        assert!(!check(&claims(json!({}))));
    }
}
