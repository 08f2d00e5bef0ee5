//! The authorization request (OpenID Connect Core §3.1.2.1) and the per-flow
//! state the client keeps until the callback.
//!
//! Every request uses `response_type=code`, a fresh random `state` and
//! `nonce`, and PKCE `S256`. The matching [`PendingAuthorization`] is what the
//! adapter stores in the encrypted transaction cookie.

use crate::config::{ClientConfig, ResponseMode};
use crate::discovery::{ProviderMetadata, truncate};
use crate::pkce::{CODE_CHALLENGE_METHOD, PkcePair};
use crate::random::{random_nonce, random_state};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use url::Url;

/// How long a pending authorization stays valid: 10 minutes.
pub const PENDING_AUTHORIZATION_TTL_SECS: u64 = 600;

/// Parameters that only the engine sets; [`AuthorizationParams::extra`] may not
/// contain them. Besides the security-relevant ones, `response_mode` must be
/// set through [`AuthorizationParams::response_mode`] (the callback handling
/// depends on it) and `client_secret` / `code_verifier` never belong in a URL.
pub const PROTECTED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
    "response_mode",
    "client_secret",
    "code_verifier",
];

/// Why an authorization request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// The metadata belongs to a different issuer than the client config.
    #[error(
        "provider metadata issuer {metadata:?} does not match the configured issuer {configured:?}"
    )]
    IssuerMismatch {
        /// The configured issuer.
        configured: String,
        /// The metadata issuer.
        metadata: String,
    },
    /// The client id is empty.
    #[error("the client id is empty")]
    EmptyClientId,
    /// An extra parameter tries to set an engine-controlled parameter.
    #[error("the authorization parameter `{0}` is set by Portcullis and cannot be overridden")]
    ProtectedParameter(String),
    /// A parameter would appear twice in the request.
    #[error("the authorization parameter `{0}` is given more than once")]
    DuplicateParameter(String),
    /// An extra parameter has an empty name.
    #[error("an authorization parameter has an empty name")]
    EmptyParameterName,
    /// The scope contains a character RFC 6749 §3.3 does not allow.
    #[error("the scope contains an invalid character")]
    InvalidScope,
    /// `form_post` was requested but the provider does not list it.
    #[error("the provider does not support response_mode `{0}`")]
    UnsupportedResponseMode(&'static str),
    /// `acr` was made essential but no `acr_values` are set.
    #[error("an essential acr needs acr_values to choose from")]
    EssentialAcrWithoutValues,
}

/// Optional authorization request parameters. All fields are optional; build
/// with [`Default`] and the chainable setters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationParams {
    /// Replaces the configured scope (`openid` is added when missing).
    pub scope: Option<String>,
    /// Replaces the configured response mode.
    pub response_mode: Option<ResponseMode>,
    /// `prompt`, e.g. `login` or `consent`.
    pub prompt: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `max_age` in seconds; the ID token's `auth_time` is then checked.
    pub max_age: Option<u64>,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// Whether one of [`Self::acr_values`] is essential: it is then requested
    /// through the `claims` parameter as an essential `acr` (Core §5.5.1.1),
    /// and an ID token whose `acr` is not one of them is rejected.
    pub acr_essential: bool,
    /// `audience` (used by some providers to select the API).
    pub audience: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// Custom parameters, appended in order. They may not repeat another
    /// parameter nor set one of [`PROTECTED_PARAMS`].
    pub extra: Vec<(String, String)>,
}

impl AuthorizationParams {
    /// Empty parameters: everything from the client configuration.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`Self::scope`].
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
    /// Sets [`Self::response_mode`].
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = Some(mode);
        self
    }
    /// Sets [`Self::prompt`].
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }
    /// Sets [`Self::login_hint`].
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }
    /// Sets [`Self::max_age`].
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }
    /// Sets [`Self::acr_values`].
    pub fn acr_values(mut self, acr: impl Into<String>) -> Self {
        self.acr_values = Some(acr.into());
        self
    }
    /// Makes [`Self::acr_values`] essential (see [`Self::acr_essential`]).
    pub fn require_acr(mut self) -> Self {
        self.acr_essential = true;
        self
    }
    /// Sets [`Self::audience`].
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Sets [`Self::ui_locales`].
    pub fn ui_locales(mut self, locales: impl Into<String>) -> Self {
        self.ui_locales = Some(locales.into());
        self
    }
    /// Appends a custom parameter to [`Self::extra`].
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }
}

/// The state of one authorization flow, kept by the client (in an encrypted
/// cookie) between the redirect to the provider and the callback.
///
/// Field names are shortened in the serialized form to keep the cookie small.
/// `Debug` redacts `state`, `nonce` and the code verifier.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The `state` sent; the callback must return it.
    #[serde(rename = "s")]
    pub state: String,
    /// The `nonce` sent; the ID token must contain it.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE verifier for the token request.
    #[serde(rename = "v", with = "secret_serde")]
    pub code_verifier: Secret,
    /// The `redirect_uri` sent; the token request repeats it.
    #[serde(rename = "r", with = "crate::discovery::url_serde")]
    pub redirect_uri: Url,
    /// The response mode requested.
    #[serde(rename = "m", with = "response_mode_serde")]
    pub response_mode: ResponseMode,
    /// The `max_age` sent, if any.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// The `acr` values requested as essential: the ID token's `acr` must be
    /// one of them. Empty when none was.
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub required_acr: Vec<String>,
    /// Whether `prompt=none` was sent: an OP answer that the user must
    /// interact (`login_required`, …) is then an expected outcome.
    #[serde(rename = "p", default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    /// When the flow started (unix seconds).
    #[serde(rename = "t")]
    pub created_at: u64,
    /// Where to send the user after login. Set by the adapter (already
    /// sanitized with [`crate::return_to::sanitize_return_to`]); defaults to `/`.
    #[serde(rename = "u")]
    pub return_to: String,
    /// Application data carried through the flow; set by the adapter.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub app_state: Option<serde_json::Value>,
}

impl PendingAuthorization {
    /// Whether the flow is older than [`PENDING_AUTHORIZATION_TTL_SECS`] at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now.saturating_sub(self.created_at) > PENDING_AUTHORIZATION_TTL_SECS
    }
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("state", &"<redacted>")
            .field("nonce", &"<redacted>")
            .field("code_verifier", &self.code_verifier)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("response_mode", &self.response_mode)
            .field("max_age", &self.max_age)
            .field("required_acr", &self.required_acr)
            .field("silent", &self.silent)
            .field("created_at", &self.created_at)
            .field("return_to", &self.return_to)
            .field("app_state", &self.app_state.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Builds the URL to redirect the browser to, and the flow state to keep.
///
/// `response_mode` is sent only for `form_post`: `query` is the default for
/// `response_type=code`, and leaving it out keeps the URL short and avoids
/// providers that reject an explicit default. Any query already present in
/// the authorization endpoint is kept (RFC 6749 §3.1); a parameter that
/// would then appear twice is an error.
pub fn build_authorization_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    params: &AuthorizationParams,
    now: u64,
) -> Result<(Url, PendingAuthorization), AuthorizeError> {
    if metadata.issuer != client.issuer {
        return Err(AuthorizeError::IssuerMismatch {
            configured: truncate(&client.issuer),
            metadata: truncate(&metadata.issuer),
        });
    }
    if client.client_id.is_empty() {
        return Err(AuthorizeError::EmptyClientId);
    }
    let response_mode = params.response_mode.unwrap_or(client.response_mode);
    if response_mode != ResponseMode::Query && !metadata.supports_response_mode(response_mode) {
        return Err(AuthorizeError::UnsupportedResponseMode(
            response_mode.as_str(),
        ));
    }
    let scope = normalize_scope(params.scope.as_deref().unwrap_or(&client.scope))?;
    let state = random_state();
    let nonce = random_nonce();
    let pkce = PkcePair::generate();

    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client.client_id),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", &scope),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", CODE_CHALLENGE_METHOD),
    ];
    if response_mode != ResponseMode::Query {
        pairs.push(("response_mode", response_mode.as_str()));
    }
    let max_age = params.max_age.map(|m| m.to_string());
    let required_acr: Vec<String> = if params.acr_essential {
        let values: Vec<String> = params
            .acr_values
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if values.is_empty() {
            return Err(AuthorizeError::EssentialAcrWithoutValues);
        }
        values
    } else {
        Vec::new()
    };
    let claims_request = (!required_acr.is_empty()).then(|| {
        serde_json::json!({"id_token": {"acr": {"essential": true, "values": required_acr}}})
            .to_string()
    });
    let optional = [
        ("prompt", params.prompt.as_deref()),
        ("login_hint", params.login_hint.as_deref()),
        ("max_age", max_age.as_deref()),
        ("acr_values", params.acr_values.as_deref()),
        ("audience", params.audience.as_deref()),
        ("ui_locales", params.ui_locales.as_deref()),
        ("claims", claims_request.as_deref()),
    ];
    pairs.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v))),
    );

    let mut seen: HashSet<String> = metadata
        .authorization_endpoint
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    for (name, _) in &pairs {
        if !seen.insert((*name).to_owned()) {
            return Err(AuthorizeError::DuplicateParameter((*name).to_owned()));
        }
    }
    for (name, value) in &params.extra {
        if name.is_empty() {
            return Err(AuthorizeError::EmptyParameterName);
        }
        if PROTECTED_PARAMS.contains(&name.as_str()) {
            return Err(AuthorizeError::ProtectedParameter(truncate(name)));
        }
        if !seen.insert(name.clone()) {
            return Err(AuthorizeError::DuplicateParameter(truncate(name)));
        }
        pairs.push((name, value));
    }

    let mut url = metadata.authorization_endpoint.clone();
    url.query_pairs_mut().extend_pairs(pairs);

    let pending = PendingAuthorization {
        state,
        nonce,
        code_verifier: pkce.verifier,
        redirect_uri: client.redirect_uri.clone(),
        response_mode,
        max_age: params.max_age,
        required_acr,
        silent: params.prompt.as_deref() == Some("none"),
        created_at: now,
        return_to: "/".to_owned(),
        app_state: None,
    };
    Ok((url, pending))
}

/// Splits, de-duplicates and validates the scope, and puts `openid` first.
fn normalize_scope(scope: &str) -> Result<String, AuthorizeError> {
    let mut tokens: Vec<&str> = vec!["openid"];
    for token in scope.split_ascii_whitespace() {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(AuthorizeError::InvalidScope);
        }
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Ok(tokens.join(" "))
}

/// Serializes a [`Secret`] as a plain string (only inside the encrypted cookie).
mod secret_serde {
    use crate::secret::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Serializes a [`ResponseMode`] as one letter: `q` or `f`.
mod response_mode_serde {
    use crate::config::ResponseMode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(mode: &ResponseMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match mode {
            ResponseMode::Query => "q",
            ResponseMode::FormPost => "f",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ResponseMode, D::Error> {
        match String::deserialize(d)?.as_str() {
            "q" => Ok(ResponseMode::Query),
            "f" => Ok(ResponseMode::FormPost),
            other => Err(serde::de::Error::unknown_variant(other, &["q", "f"])),
        }
    }
}

/// Test fixtures shared by this crate's modules.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::config::TokenEndpointAuthMethod;
    use crate::discovery::test_support::ISSUER;

    /// A confidential client for the fixture provider.
    pub(crate) fn client() -> ClientConfig {
        ClientConfig {
            issuer: ISSUER.to_owned(),
            client_id: "my-client".to_owned(),
            client_secret: Some(Secret::new("s3cr3t")),
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            assertion_key: None,
            redirect_uri: Url::parse("https://app.example.com/callback").unwrap(),
            scope: ClientConfig::DEFAULT_SCOPE.to_owned(),
            response_mode: ResponseMode::Query,
            id_token_algs: Vec::new(),
            clock_skew_secs: ClientConfig::DEFAULT_CLOCK_SKEW_SECS,
        }
    }

    /// A pending flow with fixed values, created at `created_at`.
    pub(crate) fn pending(created_at: u64) -> PendingAuthorization {
        PendingAuthorization {
            state: "state-123".to_owned(),
            nonce: "nonce-456".to_owned(),
            code_verifier: Secret::new("verifier-789"),
            redirect_uri: Url::parse("https://app.example.com/callback").unwrap(),
            response_mode: ResponseMode::Query,
            max_age: None,
            required_acr: Vec::new(),
            silent: false,
            created_at,
            return_to: "/".to_owned(),
            app_state: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::discovery::test_support::{metadata, metadata_with};
    use crate::pkce::s256_challenge;
    use std::collections::HashMap;

    const NOW: u64 = 1_700_000_000;

    fn query(url: &Url) -> HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    fn build(params: &AuthorizationParams) -> Result<(Url, PendingAuthorization), AuthorizeError> {
        build_authorization_request(&metadata(), &client(), params, NOW)
    }

    #[test]
    fn builds_code_flow_request_with_state_nonce_and_pkce() {
        let (url, pending) = build(&AuthorizationParams::new()).unwrap();
        assert!(
            url.as_str()
                .starts_with("https://op.example.com/authorize?")
        );
        let q = query(&url);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "my-client");
        assert_eq!(q["redirect_uri"], "https://app.example.com/callback");
        assert_eq!(q["scope"], "openid profile email");
        assert_eq!(q["state"], pending.state);
        assert_eq!(q["nonce"], pending.nonce);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            s256_challenge(pending.code_verifier.expose())
        );
        assert!(pending.state.len() >= 43);
        assert_ne!(pending.state, pending.nonce);
        assert!(!q.contains_key("response_mode"));
        assert_eq!(pending.created_at, NOW);
        assert_eq!(pending.response_mode, ResponseMode::Query);
        assert_eq!(pending.return_to, "/");
    }

    #[test]
    fn each_request_gets_fresh_state_nonce_and_verifier() {
        let (_, a) = build(&AuthorizationParams::new()).unwrap();
        let (_, b) = build(&AuthorizationParams::new()).unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.code_verifier, b.code_verifier);
    }

    #[test]
    fn adds_openid_scope_when_missing() {
        let (url, _) = build(&AuthorizationParams::new().scope("profile  email profile")).unwrap();
        assert_eq!(query(&url)["scope"], "openid profile email");
    }

    #[test]
    fn rejects_scope_with_invalid_characters() {
        assert_eq!(
            build(&AuthorizationParams::new().scope("openid \"quoted\"")).unwrap_err(),
            AuthorizeError::InvalidScope
        );
    }

    #[test]
    fn sends_optional_parameters() {
        let params = AuthorizationParams::new()
            .prompt("login")
            .login_hint("alice@example.com")
            .max_age(300)
            .acr_values("urn:mace:incommon:iap:silver")
            .audience("https://api.example.com")
            .ui_locales("fr-CA en")
            .param("organization", "acme");
        let (url, pending) = build(&params).unwrap();
        let q = query(&url);
        assert_eq!(q["prompt"], "login");
        assert_eq!(q["login_hint"], "alice@example.com");
        assert_eq!(q["max_age"], "300");
        assert_eq!(q["acr_values"], "urn:mace:incommon:iap:silver");
        assert_eq!(q["audience"], "https://api.example.com");
        assert_eq!(q["ui_locales"], "fr-CA en");
        assert_eq!(q["organization"], "acme");
        assert_eq!(pending.max_age, Some(300));
    }

    #[test]
    fn rejects_extra_parameter_overriding_protected_ones() {
        for name in PROTECTED_PARAMS {
            let err = build(&AuthorizationParams::new().param(*name, "evil")).unwrap_err();
            assert_eq!(err, AuthorizeError::ProtectedParameter((*name).to_owned()));
        }
    }

    #[test]
    fn rejects_extra_parameter_duplicating_a_named_one() {
        let err = build(
            &AuthorizationParams::new()
                .prompt("login")
                .param("prompt", "none"),
        )
        .unwrap_err();
        assert_eq!(err, AuthorizeError::DuplicateParameter("prompt".into()));
        let err = build(&AuthorizationParams::new().param("scope", "admin")).unwrap_err();
        assert_eq!(err, AuthorizeError::DuplicateParameter("scope".into()));
    }

    #[test]
    fn rejects_repeated_extra_parameter() {
        let err = build(&AuthorizationParams::new().param("x", "1").param("x", "2")).unwrap_err();
        assert_eq!(err, AuthorizeError::DuplicateParameter("x".into()));
    }

    #[test]
    fn rejects_extra_parameter_with_empty_name() {
        let err = build(&AuthorizationParams::new().param("", "1")).unwrap_err();
        assert_eq!(err, AuthorizeError::EmptyParameterName);
    }

    #[test]
    fn extra_parameter_values_are_encoded() {
        let (url, _) = build(&AuthorizationParams::new().param("x", "a&state=evil")).unwrap();
        let states: Vec<_> = url.query_pairs().filter(|(k, _)| k == "state").collect();
        assert_eq!(states.len(), 1);
        assert_eq!(query(&url)["x"], "a&state=evil");
    }

    #[test]
    fn sends_form_post_response_mode_when_requested() {
        let (url, pending) =
            build(&AuthorizationParams::new().response_mode(ResponseMode::FormPost)).unwrap();
        assert_eq!(query(&url)["response_mode"], "form_post");
        assert_eq!(pending.response_mode, ResponseMode::FormPost);
    }

    #[test]
    fn rejects_form_post_when_provider_does_not_list_it() {
        let m = metadata_with(|d| {
            d["response_modes_supported"] = serde_json::json!(["query", "fragment"])
        });
        let params = AuthorizationParams::new().response_mode(ResponseMode::FormPost);
        assert_eq!(
            build_authorization_request(&m, &client(), &params, NOW).unwrap_err(),
            AuthorizeError::UnsupportedResponseMode("form_post")
        );
    }

    #[test]
    fn preserves_existing_authorization_endpoint_query() {
        let m = metadata_with(|d| {
            d["authorization_endpoint"] = "https://op.example.com/authorize?tenant=acme".into()
        });
        let (url, _) =
            build_authorization_request(&m, &client(), &AuthorizationParams::new(), NOW).unwrap();
        assert!(
            url.as_str()
                .starts_with("https://op.example.com/authorize?tenant=acme&")
        );
        assert_eq!(query(&url)["response_type"], "code");
    }

    #[test]
    fn rejects_endpoint_query_that_collides_with_a_parameter() {
        let m = metadata_with(|d| {
            d["authorization_endpoint"] = "https://op.example.com/authorize?client_id=other".into()
        });
        assert_eq!(
            build_authorization_request(&m, &client(), &AuthorizationParams::new(), NOW)
                .unwrap_err(),
            AuthorizeError::DuplicateParameter("client_id".into())
        );
    }

    #[test]
    fn rejects_metadata_of_another_issuer() {
        let m = metadata_with(|d| d["issuer"] = "https://other.example.com".into());
        assert!(matches!(
            build_authorization_request(&m, &client(), &AuthorizationParams::new(), NOW),
            Err(AuthorizeError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn rejects_empty_client_id() {
        let mut c = client();
        c.client_id.clear();
        assert_eq!(
            build_authorization_request(&metadata(), &c, &AuthorizationParams::new(), NOW)
                .unwrap_err(),
            AuthorizeError::EmptyClientId
        );
    }

    #[test]
    fn pending_authorization_round_trips_with_short_field_names() {
        let mut p = pending(NOW);
        p.max_age = Some(60);
        p.response_mode = ResponseMode::FormPost;
        p.return_to = "/account?tab=1".into();
        p.app_state = Some(serde_json::json!({"k": "v"}));
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("code_verifier"));
        assert!(json.contains(r#""m":"f""#));
        let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn pending_authorization_rejects_unknown_response_mode() {
        let mut json = serde_json::to_value(pending(NOW)).unwrap();
        json["m"] = "x".into();
        assert!(serde_json::from_value::<PendingAuthorization>(json).is_err());
    }

    #[test]
    fn debug_of_pending_authorization_redacts_secrets() {
        let dbg = format!("{:?}", pending(NOW));
        assert!(!dbg.contains("state-123"));
        assert!(!dbg.contains("nonce-456"));
        assert!(!dbg.contains("verifier-789"));
        assert!(dbg.contains("https://app.example.com/callback"));
    }

    #[test]
    fn pending_authorization_expires_after_ttl() {
        let p = pending(NOW);
        assert!(!p.is_expired(NOW + PENDING_AUTHORIZATION_TTL_SECS));
        assert!(p.is_expired(NOW + PENDING_AUTHORIZATION_TTL_SECS + 1));
        assert!(!p.is_expired(NOW - 5));
    }
}
