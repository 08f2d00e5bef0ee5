//! Skip-auth rules (`SKIP_AUTH`) and authorization rules (who may reach
//! which path prefix). Both read the [`NormalPath`], never the raw target.

use http::Method;
use regex::Regex;
use serde_json::{Map, Value};

use crate::path::NormalPath;

/// A request that needs no sign-in: `[METHOD=]REGEX`, for example `GET=^/$`
/// or `^/public/`. The regex must be anchored with `^` (write `^.*x` to match
/// anywhere), so that `/private/public/` cannot pass for `^/public/` by
/// accident.
#[derive(Debug, Clone)]
pub struct SkipRule {
    method: Option<Method>,
    pattern: Regex,
}

impl SkipRule {
    /// Parses one rule.
    pub fn parse(rule: &str) -> Result<Self, String> {
        let rule = rule.trim();
        let (method, pattern) = match rule.split_once('=') {
            Some((method, pattern))
                if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                let method = Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("{method:?} is not an HTTP method"))?;
                (Some(method), pattern)
            }
            _ => (None, rule),
        };
        if !pattern.starts_with('^') {
            return Err(format!(
                "the rule {rule:?} must be anchored with ^ (for example ^/public/); write ^.*x to match anywhere"
            ));
        }
        let pattern =
            Regex::new(pattern).map_err(|e| format!("the rule {rule:?} is not a regex: {e}"))?;
        Ok(Self { method, pattern })
    }

    /// Whether the rule lets `method` `path` through without sign-in. An
    /// ambiguous path never matches.
    pub fn matches(&self, method: &Method, path: &NormalPath) -> bool {
        !path.ambiguous
            && self.method.as_ref().is_none_or(|m| m == method)
            && self.pattern.is_match(&path.path)
    }
}

/// Whether any of `rules` lets the request through without sign-in.
pub fn skips_auth(rules: &[SkipRule], method: &Method, path: &NormalPath) -> bool {
    rules.iter().any(|rule| rule.matches(method, path))
}

/// A claim that must have a value: equal to it, or (for an array claim)
/// containing it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRule {
    claim: String,
    value: Value,
}

impl ClaimRule {
    /// A rule on `claim`.
    pub fn new(claim: String, value: Value) -> Self {
        Self { claim, value }
    }

    fn allows(&self, claims: &Map<String, Value>) -> bool {
        match claims.get(&self.claim) {
            Some(Value::Array(items)) => items.contains(&self.value),
            Some(value) => value == &self.value,
            None => false,
        }
    }
}

/// Who may reach a path prefix. The user passes when they satisfy one of the
/// lists that are set (a group, an email, an email domain), and every claim
/// rule. Every rule whose prefix covers the path applies (the prefix is
/// compared without regard to ASCII case, so `/ADMIN` is covered by `/admin`
/// on a case-insensitive upstream).
#[derive(Debug, Clone)]
pub struct AuthzRule {
    prefix: String,
    groups: Vec<String>,
    emails: Vec<String>,
    email_domains: Vec<String>,
    claims: Vec<ClaimRule>,
    allow_unverified_email: bool,
}

/// Why a rule refused a user (shown on the 403 page; no claim values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The prefix of the rule that refused.
    pub prefix: String,
    /// What the rule requires.
    pub requirement: String,
}

impl AuthzRule {
    /// A rule for `prefix`. Emails and domains are compared without regard
    /// to ASCII case.
    pub fn new(
        prefix: &str,
        groups: Vec<String>,
        emails: Vec<String>,
        email_domains: Vec<String>,
        claims: Vec<ClaimRule>,
        allow_unverified_email: bool,
    ) -> Result<Self, String> {
        for domain in &email_domains {
            if domain.is_empty() || domain.contains('@') || domain.starts_with('.') {
                return Err(format!(
                    "{domain:?} is not an email domain: write example.com (exact match; list subdomains separately)"
                ));
            }
        }
        for email in &emails {
            if split_email(email).is_none() {
                return Err(format!("{email:?} is not a single-@ email address"));
            }
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            groups,
            emails: emails.iter().map(|e| e.to_ascii_lowercase()).collect(),
            email_domains: email_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            claims,
            allow_unverified_email,
        })
    }

    /// The path prefix the rule covers.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the rule covers `path` (ambiguous paths: every rule).
    pub fn covers(&self, path: &NormalPath) -> bool {
        path.ambiguous
            || path
                .path
                .get(..self.prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(&self.prefix))
    }

    /// Whether the user with `claims` passes (`groups_claim` names their groups).
    pub fn allows(&self, claims: &Map<String, Value>, groups_claim: &str) -> bool {
        let lists_set =
            !(self.groups.is_empty() && self.emails.is_empty() && self.email_domains.is_empty());
        let listed =
            !lists_set || self.in_groups(claims, groups_claim) || self.email_listed(claims);
        listed && self.claims.iter().all(|rule| rule.allows(claims))
    }

    fn in_groups(&self, claims: &Map<String, Value>, groups_claim: &str) -> bool {
        !self.groups.is_empty()
            && user_groups(claims, groups_claim).any(|group| self.groups.iter().any(|g| g == group))
    }

    fn email_listed(&self, claims: &Map<String, Value>) -> bool {
        if self.emails.is_empty() && self.email_domains.is_empty() {
            return false;
        }
        let Some(Value::String(email)) = claims.get("email") else {
            return false;
        };
        if !self.allow_unverified_email && claims.get("email_verified") != Some(&Value::Bool(true))
        {
            return false;
        }
        let Some((_, domain)) = split_email(email) else {
            return false;
        };
        let email = email.to_ascii_lowercase();
        let domain = domain.to_ascii_lowercase();
        self.emails.contains(&email) || self.email_domains.contains(&domain)
    }

    /// What the rule requires, for the 403 page.
    pub fn refusal(&self) -> Refusal {
        let mut parts = Vec::new();
        if !self.groups.is_empty() {
            parts.push(format!("a group in [{}]", self.groups.join(", ")));
        }
        if !self.emails.is_empty() {
            parts.push("a listed email address".to_owned());
        }
        if !self.email_domains.is_empty() {
            parts.push(format!(
                "a verified email address at {}",
                self.email_domains.join(" or ")
            ));
        }
        let mut requirement = parts.join(", or ");
        if !self.claims.is_empty() {
            let claims: Vec<String> = self
                .claims
                .iter()
                .map(|c| format!("{} = {}", c.claim, c.value))
                .collect();
            if !requirement.is_empty() {
                requirement.push_str("; and ");
            }
            requirement.push_str(&format!("claims {}", claims.join(", ")));
        }
        Refusal {
            prefix: self.prefix.clone(),
            requirement,
        }
    }
}

/// The first rule covering `path` that refuses the user, if any.
pub fn first_refusal(
    rules: &[AuthzRule],
    path: &NormalPath,
    claims: &Map<String, Value>,
    groups_claim: &str,
) -> Option<Refusal> {
    rules
        .iter()
        .filter(|rule| rule.covers(path))
        .find(|rule| !rule.allows(claims, groups_claim))
        .map(AuthzRule::refusal)
}

/// The user's groups: an array of strings, or one string.
pub fn user_groups<'a>(
    claims: &'a Map<String, Value>,
    groups_claim: &str,
) -> impl Iterator<Item = &'a str> {
    let values: &'a [Value] = match claims.get(groups_claim) {
        Some(Value::Array(items)) => items,
        Some(single @ Value::String(_)) => std::slice::from_ref(single),
        _ => &[],
    };
    values.iter().filter_map(Value::as_str)
}

/// Splits a well-formed address with exactly one `@`, a non-empty local
/// part and a domain of dot-separated labels (no whitespace, no quotes, no
/// control characters). Anything else is `None`: `a@evil.com@example.com`
/// or `"a@b"@example.com` never reaches a domain comparison.
pub fn split_email(email: &str) -> Option<(&str, &str)> {
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.contains('@') || domain.is_empty() {
        return None;
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || "\"\\(),:;<>[]".contains(c);
    if local.chars().any(bad) {
        return None;
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !domain.split('.').all(label_ok) {
        return None;
    }
    Some((local, domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalise;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn skip_rules_take_an_optional_method_and_must_be_anchored() {
        let rule = SkipRule::parse("GET=^/$").expect("rule");
        assert!(rule.matches(&Method::GET, &normalise("/")));
        assert!(!rule.matches(&Method::POST, &normalise("/")));
        let any = SkipRule::parse("^/public/").expect("rule");
        assert!(any.matches(&Method::DELETE, &normalise("/public/x")));
        assert!(!any.matches(&Method::GET, &normalise("/private/public/")));
        assert!(SkipRule::parse("/public/").is_err());
        assert!(SkipRule::parse("GET=/x").is_err());
        assert!(SkipRule::parse("^/(").is_err());
        // A regex with `=` after a path character is not a method prefix.
        assert!(
            SkipRule::parse("^/a=b")
                .expect("rule")
                .matches(&Method::GET, &normalise("/a=b"))
        );
    }

    #[test]
    fn an_ambiguous_path_never_skips_auth() {
        let rule = SkipRule::parse("^/public/").expect("rule");
        assert!(!rule.matches(&Method::GET, &normalise("/public/%252e%252e/private")));
        assert!(!rule.matches(&Method::GET, &normalise("/public/..;/private")));
        assert!(!rule.matches(&Method::GET, &normalise("/public/../private")));
        assert!(rule.matches(&Method::GET, &normalise("/public/ok?x=1")));
    }

    #[test]
    fn email_domains_match_exactly_on_a_single_at_address() {
        let rule = AuthzRule::new(
            "/",
            vec![],
            vec![],
            vec!["example.com".into()],
            vec![],
            false,
        )
        .expect("rule");
        let ok = claims(json!({"email": "a@Example.com", "email_verified": true}));
        assert!(rule.allows(&ok, "groups"));
        for email in [
            "a@evil.com@example.com",
            "a@example.com@evil.com",
            "\"a@example.com\"@evil.com",
            "a@sub.example.com",
            "a@example.com.evil.com",
            "a@evilexample.com",
            "a @example.com",
            "@example.com",
            "a@example.com ",
            "a@example.com\n",
            "a@",
        ] {
            let c = claims(json!({"email": email, "email_verified": true}));
            assert!(!rule.allows(&c, "groups"), "{email:?} must be refused");
        }
        let unverified = claims(json!({"email": "a@example.com", "email_verified": false}));
        assert!(!rule.allows(&unverified, "groups"));
        let not_a_string = claims(json!({"email": ["a@example.com"], "email_verified": true}));
        assert!(!rule.allows(&not_a_string, "groups"));
    }

    #[test]
    fn groups_emails_and_claims_combine_as_documented() {
        let rule = AuthzRule::new(
            "/admin",
            vec!["admin".into()],
            vec!["boss@example.org".into()],
            vec![],
            vec![ClaimRule::new("locale".into(), json!("en-GB"))],
            false,
        )
        .expect("rule");
        let admin = claims(json!({"groups": ["admin"], "locale": "en-GB"}));
        assert!(rule.allows(&admin, "groups"));
        let wrong_locale = claims(json!({"groups": ["admin"], "locale": "fr"}));
        assert!(!rule.allows(&wrong_locale, "groups"));
        let boss =
            claims(json!({"email": "BOSS@example.org", "email_verified": true, "locale": "en-GB"}));
        assert!(rule.allows(&boss, "groups"));
        let nobody = claims(json!({"groups": "users", "locale": "en-GB"}));
        assert!(!rule.allows(&nobody, "groups"));
        let refusal =
            first_refusal(&[rule], &normalise("/ADMIN/x"), &nobody, "groups").expect("refused");
        assert_eq!(refusal.prefix, "/admin");
        assert!(refusal.requirement.contains("admin"), "{refusal:?}");
    }

    #[test]
    fn rules_cover_their_prefix_in_any_case_and_every_ambiguous_path() {
        let rule = AuthzRule::new("/admin", vec!["a".into()], vec![], vec![], vec![], false)
            .expect("rule");
        assert!(rule.covers(&normalise("/admin")));
        assert!(rule.covers(&normalise("/AdMiN/x")));
        assert!(rule.covers(&normalise("/x/../admin")));
        assert!(rule.covers(&normalise("/public%2F..%2Fadmin")));
        assert!(!rule.covers(&normalise("/public/x")));
        assert!(rule.covers(&NormalPath::unknown()));
    }
}
