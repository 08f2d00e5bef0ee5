//! [`BearerRequirements`]: what one route asks of a verified token.

use std::sync::Arc;

use serde_json::Value;

use super::error::BearerError;
use super::token::BearerToken;

type Check = Arc<dyn Fn(&BearerToken) -> bool + Send + Sync>;

/// Scopes and claim rules a route requires. Missing scopes are answered
/// `403 insufficient_scope` with the `scope` needed (RFC 6750 §3.1); a
/// failed claim rule is answered 403 too, naming the rule (never the
/// claim's value).
///
/// ```
/// use portcullis::bearer::BearerRequirements;
/// let admin = BearerRequirements::new()
///     .scope("messages:write")
///     .claim_includes("groups", ["admins"]);
/// # let _ = admin;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct BearerRequirements {
    scopes: Vec<String>,
    checks: Vec<(Arc<str>, Check)>,
}

impl std::fmt::Debug for BearerRequirements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerRequirements")
            .field("scopes", &self.scopes)
            .field(
                "rules",
                &self.checks.iter().map(|(r, _)| r).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl BearerRequirements {
    /// No requirement beyond a valid token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `scope`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Requires every scope in `scopes` (a space-separated string is split).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for s in scopes {
            self.scopes.extend(
                s.as_ref()
                    .split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned),
            );
        }
        self
    }

    /// Requires the claim `name` to equal `value` exactly (JSON equality).
    pub fn claim_equals(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        let rule = format!("claim {name:?} must equal {value}");
        self.check(rule, move |token| token.claim(&name) == Some(&value))
    }

    /// Requires the claim `name` to include every one of `values` (a JSON
    /// array, or a space-separated string).
    pub fn claim_includes<I, V>(self, name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let name = name.into();
        let wanted: Vec<String> = values.into_iter().map(Into::into).collect();
        let rule = format!("claim {name:?} must include {wanted:?}");
        self.check(rule, move |token| {
            let have: Vec<&str> = match token.claim(&name) {
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                Some(Value::String(s)) => s.split(' ').collect(),
                _ => return false,
            };
            wanted.iter().all(|w| have.contains(&w.as_str()))
        })
    }

    /// Requires a custom check to pass; `rule` describes it in the 403 body.
    pub fn check<F>(mut self, rule: impl Into<String>, check: F) -> Self
    where
        F: Fn(&BearerToken) -> bool + Send + Sync + 'static,
    {
        self.checks.push((rule.into().into(), Arc::new(check)));
        self
    }

    /// Adds every requirement of `other`.
    pub fn and(mut self, other: &BearerRequirements) -> Self {
        self.scopes.extend(other.scopes.iter().cloned());
        self.checks.extend(other.checks.iter().cloned());
        self
    }

    /// The scopes required.
    pub fn required_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// True when nothing beyond a valid token is required.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty() && self.checks.is_empty()
    }

    /// Checks `token`: scopes first (403 `insufficient_scope` naming every
    /// required scope), then the claim rules in order.
    pub fn verify(&self, token: &BearerToken) -> Result<(), BearerError> {
        if self.scopes.iter().any(|s| !token.has_scope(s)) {
            return Err(BearerError::InsufficientScope {
                scope: self.scopes.join(" "),
            });
        }
        match self.checks.iter().find(|(_, check)| !check(token)) {
            Some((rule, _)) => Err(BearerError::ClaimRequirement {
                rule: rule.to_string(),
            }),
            None => Ok(()),
        }
    }
}
