//! OAuth 2.0 Token Exchange (RFC 8693): trade a token the client holds
//! (usually the session's access token) for one with another audience,
//! resource or scope.
//!
//! [`token_exchange_request`] builds the grant with client authentication
//! ([`crate::client_auth`]); [`ExchangedToken::from_response`] validates
//! the answer (§2.2.1: `access_token`, `issued_token_type` and
//! `token_type` required; `token_type` is `Bearer` or `N_A`) or surfaces the
//! OP's `error` and `error_description` (§2.2.2) as
//! [`TokenError::Provider`].

use std::fmt;

use serde_json::{Map, Value};
use url::form_urlencoded::Serializer;

use crate::callback::sanitize;
use crate::client_auth::authenticated_form_post;
use crate::config::ClientConfig;
use crate::discovery::ProviderMetadata;
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::Secret;
use crate::token::{TokenError, oauth_error, optional_str, required_str};

/// The token exchange `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Token type identifier of an OAuth access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Token type identifier of a refresh token.
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// Token type identifier of an ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Token type identifier of a JWT.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Parameters the exchange builds itself, and the client-authentication
/// ones: an extra parameter may not set them.
const PROTECTED_PARAMS: &[&str] = &[
    "grant_type",
    "subject_token",
    "subject_token_type",
    "audience",
    "resource",
    "scope",
    "requested_token_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// What to ask for in a token exchange. Every field is optional; extra
/// parameters (`actor_token`, vendor ones) pass through as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TokenExchangeParams {
    /// `audience` values: logical names of the target services.
    pub audience: Vec<String>,
    /// `resource` values: absolute URIs of the target services (RFC 8707).
    pub resource: Vec<String>,
    /// The requested `scope` (space-separated).
    pub scope: Option<String>,
    /// The `requested_token_type` (default: the OP's choice, usually an access token).
    pub requested_token_type: Option<String>,
    /// Extra parameters, sent as they are.
    pub extra: Vec<(String, String)>,
}

impl TokenExchangeParams {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an `audience` value.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }
    /// Adds a `resource` value.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource.push(resource.into());
        self
    }
    /// Sets the requested `scope`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
    /// Sets the `requested_token_type`.
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
        self
    }
    /// Adds an extra parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }
}

/// The grant that exchanges `subject_token` (of type `subject_token_type`,
/// for example [`ACCESS_TOKEN_TYPE`]) at the token endpoint, authenticated
/// as `client` at `now`.
pub fn token_exchange_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    subject_token: &str,
    subject_token_type: &str,
    params: &TokenExchangeParams,
    now: u64,
) -> Result<HttpRequest, TokenError> {
    if subject_token.is_empty() {
        return Err(TokenError::InvalidParameter(
            "subject_token is empty".into(),
        ));
    }
    let mut body = Serializer::new(String::new());
    body.append_pair("grant_type", GRANT_TYPE)
        .append_pair("subject_token", subject_token)
        .append_pair("subject_token_type", subject_token_type);
    for audience in &params.audience {
        body.append_pair("audience", audience);
    }
    for resource in &params.resource {
        if url::Url::parse(resource).is_err() {
            return Err(TokenError::InvalidParameter(format!(
                "resource {:?} is not an absolute URI (RFC 8707)",
                sanitize(resource, 64)
            )));
        }
        body.append_pair("resource", resource);
    }
    if let Some(scope) = &params.scope {
        body.append_pair("scope", scope);
    }
    if let Some(token_type) = &params.requested_token_type {
        body.append_pair("requested_token_type", token_type);
    }
    for (name, value) in &params.extra {
        if name.is_empty() || PROTECTED_PARAMS.contains(&name.as_str()) {
            return Err(TokenError::InvalidParameter(format!(
                "the extra parameter {:?} is set by the exchange itself; use its own field",
                sanitize(name, 64)
            )));
        }
        body.append_pair(name, value);
    }
    Ok(authenticated_form_post(
        &metadata.token_endpoint,
        client,
        now,
        body,
    )?)
}

/// A validated token exchange response. `Debug` redacts the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangedToken {
    /// The issued token (the response's `access_token` member, whatever
    /// its type).
    pub token: Secret,
    /// What the token is (`issued_token_type`), e.g. [`ACCESS_TOKEN_TYPE`].
    pub issued_token_type: String,
    /// `Bearer`, or `N_A` when the token is not an access token.
    pub token_type: String,
    /// `now + expires_in`, when sent.
    pub expires_at: Option<u64>,
    /// The granted scope, when the OP says it.
    pub scope: Option<String>,
    /// A refresh token, when the OP issues one.
    pub refresh_token: Option<Secret>,
}

impl fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("token", &self.token)
            .field("issued_token_type", &self.issued_token_type)
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

impl ExchangedToken {
    /// Validates a token exchange response received at `now` (unix seconds).
    pub fn from_response(resp: &HttpResponse, now: u64) -> Result<Self, TokenError> {
        let parsed: Option<Map<String, Value>> = serde_json::from_slice(&resp.body).ok();
        if !(200..300).contains(&resp.status) {
            return Err(oauth_error(parsed.as_ref()).unwrap_or(TokenError::Status(resp.status)));
        }
        let obj = parsed.ok_or(TokenError::NotJson)?;
        if !obj.contains_key("access_token")
            && let Some(err) = oauth_error(Some(&obj))
        {
            return Err(err);
        }
        let token = required_str(&obj, "access_token")?;
        let issued_token_type = required_str(&obj, "issued_token_type")?;
        let token_type = required_str(&obj, "token_type")?;
        if !token_type.eq_ignore_ascii_case("bearer") && token_type != "N_A" {
            return Err(TokenError::UnsupportedTokenType(sanitize(token_type, 32)));
        }
        let expires_at = match obj.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .map(|secs| now.saturating_add(secs))
                    .ok_or(TokenError::InvalidField("expires_in"))?,
            ),
        };
        Ok(ExchangedToken {
            token: Secret::new(token),
            issued_token_type: sanitize(issued_token_type, 256),
            token_type: token_type.to_owned(),
            expires_at,
            scope: optional_str(&obj, "scope")?.map(str::to_owned),
            refresh_token: optional_str(&obj, "refresh_token")?.map(Secret::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::test_support::client;
    use crate::config::TokenEndpointAuthMethod;
    use crate::discovery::test_support::{json_response, metadata};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn pairs(req: &HttpRequest) -> Vec<(String, String)> {
        url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect()
    }

    fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn builds_the_rfc8693_grant_with_audiences_resources_scope_and_extras() {
        let params = TokenExchangeParams::new()
            .audience("orders")
            .audience("billing")
            .resource("https://api.example.com/orders")
            .scope("orders:read")
            .requested_token_type(ACCESS_TOKEN_TYPE)
            .param("actor_token_type", JWT_TOKEN_TYPE)
            .param("tenant", "t1");
        let mut c = client();
        c.auth_method = TokenEndpointAuthMethod::ClientSecretPost;
        let req = token_exchange_request(&metadata(), &c, "at-1", ACCESS_TOKEN_TYPE, &params, NOW)
            .unwrap();
        assert_eq!(req.url.as_str(), "https://op.example.com/token");
        let p = pairs(&req);
        assert_eq!(values(&p, "grant_type"), [GRANT_TYPE]);
        assert_eq!(values(&p, "subject_token"), ["at-1"]);
        assert_eq!(values(&p, "subject_token_type"), [ACCESS_TOKEN_TYPE]);
        assert_eq!(values(&p, "audience"), ["orders", "billing"]);
        assert_eq!(values(&p, "resource"), ["https://api.example.com/orders"]);
        assert_eq!(values(&p, "scope"), ["orders:read"]);
        assert_eq!(values(&p, "requested_token_type"), [ACCESS_TOKEN_TYPE]);
        assert_eq!(values(&p, "tenant"), ["t1"]);
        assert_eq!(values(&p, "client_id"), ["my-client"]);
        assert_eq!(values(&p, "client_secret"), ["s3cr3t"]);
    }

    #[test]
    fn extra_parameters_cannot_override_the_grant_or_client_auth() {
        for name in [
            "grant_type",
            "subject_token",
            "client_id",
            "client_assertion",
            "scope",
            "",
        ] {
            let params = TokenExchangeParams::new().param(name, "x");
            assert!(
                matches!(
                    token_exchange_request(
                        &metadata(),
                        &client(),
                        "at",
                        ACCESS_TOKEN_TYPE,
                        &params,
                        NOW
                    ),
                    Err(TokenError::InvalidParameter(_))
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn rejects_relative_resource_and_empty_subject_token() {
        let params = TokenExchangeParams::new().resource("/orders");
        assert!(matches!(
            token_exchange_request(
                &metadata(),
                &client(),
                "at",
                ACCESS_TOKEN_TYPE,
                &params,
                NOW
            ),
            Err(TokenError::InvalidParameter(_))
        ));
        assert!(matches!(
            token_exchange_request(
                &metadata(),
                &client(),
                "",
                ACCESS_TOKEN_TYPE,
                &TokenExchangeParams::new(),
                NOW
            ),
            Err(TokenError::InvalidParameter(_))
        ));
    }

    #[test]
    fn parses_an_exchanged_access_token() {
        let resp = json_response(
            200,
            &json!({"access_token": "new-at", "issued_token_type": ACCESS_TOKEN_TYPE,
                    "token_type": "Bearer", "expires_in": 120, "scope": "orders:read"}),
        );
        let t = ExchangedToken::from_response(&resp, NOW).unwrap();
        assert_eq!(t.token.expose(), "new-at");
        assert_eq!(t.issued_token_type, ACCESS_TOKEN_TYPE);
        assert_eq!(t.expires_at, Some(NOW + 120));
        assert_eq!(t.scope.as_deref(), Some("orders:read"));
        assert!(t.refresh_token.is_none());
        assert!(!format!("{t:?}").contains("new-at"));
    }

    #[test]
    fn accepts_n_a_token_type_for_non_access_tokens() {
        let resp = json_response(
            200,
            &json!({"access_token": "a.b.c", "issued_token_type": JWT_TOKEN_TYPE, "token_type": "N_A"}),
        );
        assert_eq!(
            ExchangedToken::from_response(&resp, NOW)
                .unwrap()
                .token_type,
            "N_A"
        );
    }

    #[test]
    fn surfaces_op_error_and_description() {
        let resp = json_response(
            400,
            &json!({"error": "invalid_target", "error_description": "unknown audience"}),
        );
        assert_eq!(
            ExchangedToken::from_response(&resp, NOW).unwrap_err(),
            TokenError::Provider {
                error: "invalid_target".into(),
                description: Some("unknown audience".into())
            }
        );
    }

    #[test]
    fn rejects_responses_missing_required_members() {
        for (body, field) in [
            (
                json!({"issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer"}),
                "access_token",
            ),
            (
                json!({"access_token": "x", "token_type": "Bearer"}),
                "issued_token_type",
            ),
            (
                json!({"access_token": "x", "issued_token_type": ACCESS_TOKEN_TYPE}),
                "token_type",
            ),
        ] {
            assert_eq!(
                ExchangedToken::from_response(&json_response(200, &body), NOW).unwrap_err(),
                TokenError::MissingField(field)
            );
        }
        let dpop = json!({"access_token": "x", "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "DPoP"});
        assert!(matches!(
            ExchangedToken::from_response(&json_response(200, &dpop), NOW),
            Err(TokenError::UnsupportedTokenType(_))
        ));
        let bad_exp = json!({"access_token": "x", "issued_token_type": ACCESS_TOKEN_TYPE,
                             "token_type": "Bearer", "expires_in": "60"});
        assert_eq!(
            ExchangedToken::from_response(&json_response(200, &bad_exp), NOW).unwrap_err(),
            TokenError::InvalidField("expires_in")
        );
    }
}
