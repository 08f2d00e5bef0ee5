//! Access rules for protected routes, framework-neutral: "signed in", and the
//! claim rules (`claim_equals`, `claim_includes`, `claim_check`). Every
//! adapter's guards (axum, actix-web) are thin wrappers over [`AccessRule`]
//! and [`Engine::enforce`].

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use super::{Engine, EngineResponse};
use crate::active::ActiveSession;
use crate::error::OidcError;

type Predicate = Arc<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

/// What a protected route requires: a signed-in user, and optionally a
/// check over the user's claims. Cheap to clone.
#[derive(Clone)]
pub struct AccessRule {
    predicate: Option<Predicate>,
    rule: Arc<str>,
}

impl std::fmt::Debug for AccessRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessRule")
            .field("rule", &self.rule)
            .finish()
    }
}

impl AccessRule {
    /// Requires a signed-in user, nothing more.
    pub fn authenticated() -> Self {
        Self {
            predicate: None,
            rule: "authentication required".into(),
        }
    }

    /// Requires the claim `name` to equal `value` exactly (JSON equality).
    pub fn claim_equals(name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        let rule = format!("claim {name:?} must equal {value}");
        Self {
            predicate: Some(Arc::new(move |claims| claims.get(&name) == Some(&value))),
            rule: rule.into(),
        }
    }

    /// Requires the claim `name` to include every one of `values`. The claim
    /// may be a JSON array or a space-separated string (like `scope`).
    pub fn claim_includes<I, V>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let name = name.into();
        let wanted: Vec<String> = values.into_iter().map(Into::into).collect();
        let rule = format!("claim {name:?} must include {wanted:?}");
        Self {
            predicate: Some(Arc::new(move |claims| {
                claim_contains_all(claims.get(&name), &wanted)
            })),
            rule: rule.into(),
        }
    }

    /// Requires a custom check over all claims to pass. `rule` describes it
    /// in the 403 body (for example "must be an administrator").
    pub fn claim_check<F>(rule: impl Into<String>, check: F) -> Self
    where
        F: Fn(&Map<String, Value>) -> bool + Send + Sync + 'static,
    {
        Self {
            predicate: Some(Arc::new(check)),
            rule: rule.into().into(),
        }
    }

    /// The rule in words, as the 403 body names it (never a claim's value).
    pub fn describe(&self) -> &str {
        &self.rule
    }

    /// Whether a signed-in user with these claims passes the rule.
    pub fn allows(&self, claims: &Map<String, Value>) -> bool {
        self.predicate.as_ref().is_none_or(|check| check(claims))
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

impl Engine {
    /// Applies `rule` to a request: `None` lets it through; otherwise the
    /// answer to send instead. Not signed in: a browser is redirected to
    /// login and comes back to `original_target`, other clients get 401
    /// JSON. Signed in but the rule fails: 403 naming the rule.
    pub fn enforce(
        &self,
        rule: &AccessRule,
        session: Option<&ActiveSession>,
        original_target: &str,
        headers: &HeaderMap,
    ) -> Option<EngineResponse> {
        match session {
            None => Some(self.reject_unauthenticated(original_target, headers)),
            Some(session) if !rule.allows(session.claims()) => {
                let error = OidcError::Forbidden {
                    rule: rule.describe().to_owned(),
                };
                Some(self.error_response(&error, headers))
            }
            Some(_) => None,
        }
    }

    /// The answer to a handler's failed engine call (a refresh, userinfo,
    /// ...) for a request with `headers`. A session that can no longer be
    /// used (`unauthenticated`, `reauthentication_required`) sends browsers
    /// to login (coming back to `original_target`), gives API clients a 401,
    /// and clears the session cookie; every other error is the usual page or
    /// JSON body (a 503 for an outage, which signs nobody out).
    pub fn reject(
        &self,
        error: &OidcError,
        original_target: &str,
        headers: &HeaderMap,
    ) -> EngineResponse {
        if !matches!(
            error,
            OidcError::ReauthenticationRequired | OidcError::Unauthenticated
        ) {
            return self.error_response(error, headers);
        }
        let mut response = self.reject_unauthenticated(original_target, headers);
        match self.clear_session_cookies(headers) {
            Ok(cookies) => super::response::append_cookies(response.headers_mut(), cookies),
            Err(error) => {
                tracing::warn!(error = %error.describe(), "could not build the cookies that clear the session")
            }
        }
        response
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
        assert!(AccessRule::claim_includes("groups", ["b"]).allows(&c));
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
        assert!(!AccessRule::claim_includes("groups", ["a", "b"]).allows(&c));
    }

    #[test]
    fn claim_equals_uses_json_equality() {
        let rule = AccessRule::claim_equals("admin", true);
        assert!(rule.allows(&claims(json!({"admin": true}))));
        assert!(!rule.allows(&claims(json!({"admin": "true"}))));
        assert!(!rule.allows(&claims(json!({}))));
    }

    #[test]
    fn authenticated_allows_any_claims_and_custom_checks_decide() {
        assert!(AccessRule::authenticated().allows(&claims(json!({}))));
        let rule = AccessRule::claim_check("must be over 18", |c| {
            c.get("age").and_then(Value::as_u64).is_some_and(|a| a > 18)
        });
        assert_eq!(rule.describe(), "must be over 18");
        assert!(rule.allows(&claims(json!({"age": 30}))));
        assert!(!rule.allows(&claims(json!({"age": "30"}))));
    }
}
