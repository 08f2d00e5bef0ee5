//! The token endpoint: code exchange, refresh and revocation requests, and
//! token response validation (RFC 6749 §4.1.3-4.1.4, §5, §6; RFC 7009).
//!
//! Every request is authenticated by [`crate::client_auth`], as
//! [`ClientConfig::auth_method`] says; `now` (unix seconds) dates the client
//! assertion of the JWT methods.

use crate::authorize::PendingAuthorization;
use crate::callback::{AuthorizationCode, sanitize, sanitize_error};
use crate::client_auth::{ClientAuthError, authenticated_form_post};
use crate::config::ClientConfig;
use crate::discovery::ProviderMetadata;
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::fmt;
use url::form_urlencoded::Serializer;

pub use crate::client_auth::basic_auth_header;

/// Why a token request could not be built or its response was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The client could not authenticate the request (a missing secret or
    /// key, or a signing failure).
    #[error(transparent)]
    ClientAuth(#[from] ClientAuthError),
    /// The provider has no revocation endpoint.
    #[error("the provider has no revocation endpoint")]
    NoRevocationEndpoint,
    /// The provider returned an OAuth error response.
    #[error("the token endpoint returned an error: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        /// The `error` code (sanitized).
        error: String,
        /// The `error_description` (sanitized).
        description: Option<String>,
    },
    /// A non-2xx status without an OAuth error body.
    #[error("the token endpoint answered with HTTP status {0}")]
    Status(u16),
    /// The body is not a JSON object.
    #[error("the token response is not a JSON object")]
    NotJson,
    /// A required field is missing.
    #[error("the token response has no `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type or an invalid value.
    #[error("the token response field `{0}` is invalid")]
    InvalidField(&'static str),
    /// A request parameter is not acceptable (named in the message).
    #[error("invalid token request parameter: {0}")]
    InvalidParameter(String),
    /// The token type is not `Bearer` (DPoP and MAC are not supported).
    #[error("unsupported token type {0:?}: only Bearer is supported")]
    UnsupportedTokenType(String),
}

/// A validated token endpoint response. `Debug` redacts the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// The token type as sent (equal to `Bearer`, case-insensitively).
    pub token_type: String,
    /// `now + expires_in`, when `expires_in` was sent.
    pub expires_at: Option<u64>,
    /// The ID token (compact JWS), unvalidated. Required for the code grant:
    /// the caller checks it is present and validates it.
    pub id_token: Option<Secret>,
    /// The refresh token, when issued.
    pub refresh_token: Option<Secret>,
    /// The granted scope, when the provider says it.
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("id_token", &self.id_token)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The authorization code exchange (`grant_type=authorization_code`) with
/// the PKCE verifier and the `redirect_uri` of the pending flow.
pub fn token_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    code: &AuthorizationCode,
    pending: &PendingAuthorization,
    now: u64,
) -> Result<HttpRequest, TokenError> {
    let mut body = Serializer::new(String::new());
    body.append_pair("grant_type", "authorization_code")
        .append_pair("code", code.expose())
        .append_pair("redirect_uri", pending.redirect_uri.as_str())
        .append_pair("code_verifier", pending.code_verifier.expose());
    Ok(authenticated_form_post(
        &metadata.token_endpoint,
        client,
        now,
        body,
    )?)
}

/// A refresh token grant (RFC 6749 §6), optionally narrowing the scope.
pub fn refresh_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    refresh_token: &str,
    scope: Option<&str>,
    now: u64,
) -> Result<HttpRequest, TokenError> {
    let mut body = Serializer::new(String::new());
    body.append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token);
    if let Some(scope) = scope {
        body.append_pair("scope", scope);
    }
    Ok(authenticated_form_post(
        &metadata.token_endpoint,
        client,
        now,
        body,
    )?)
}

/// A token revocation request (RFC 7009) with the same client
/// authentication. `token_type_hint` is `access_token` or `refresh_token`.
/// The provider answers 200 even for unknown tokens; the response carries
/// nothing to validate beyond the status.
pub fn revocation_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    token: &str,
    token_type_hint: Option<&str>,
    now: u64,
) -> Result<HttpRequest, TokenError> {
    let endpoint = metadata
        .revocation_endpoint
        .as_ref()
        .ok_or(TokenError::NoRevocationEndpoint)?;
    let mut body = Serializer::new(String::new());
    body.append_pair("token", token);
    if let Some(hint) = token_type_hint {
        body.append_pair("token_type_hint", hint);
    }
    Ok(authenticated_form_post(endpoint, client, now, body)?)
}

impl TokenResponse {
    /// Validates a token endpoint response received at `now` (unix seconds).
    pub fn from_response(resp: &HttpResponse, now: u64) -> Result<TokenResponse, TokenError> {
        let parsed: Option<Map<String, Value>> = serde_json::from_slice(&resp.body).ok();
        if !(200..300).contains(&resp.status) {
            return Err(oauth_error(parsed.as_ref()).unwrap_or(TokenError::Status(resp.status)));
        }
        let obj = parsed.ok_or(TokenError::NotJson)?;
        // Some providers answer 200 with an OAuth error body.
        if !obj.contains_key("access_token")
            && let Some(err) = oauth_error(Some(&obj))
        {
            return Err(err);
        }

        let access_token = required_str(&obj, "access_token")?;
        let token_type = required_str(&obj, "token_type")?;
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::UnsupportedTokenType(sanitize(token_type, 32)));
        }
        let expires_at = match obj.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                let secs = n
                    .as_u64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.is_finite() && *f >= 0.0)
                            // Truncation is intended: a fractional lifetime rounds down.
                            .map(|f| f as u64)
                    })
                    .ok_or(TokenError::InvalidField("expires_in"))?;
                Some(now.saturating_add(secs))
            }
            Some(_) => return Err(TokenError::InvalidField("expires_in")),
        };
        Ok(TokenResponse {
            access_token: Secret::new(access_token),
            token_type: token_type.to_owned(),
            expires_at,
            id_token: optional_str(&obj, "id_token")?.map(Secret::new),
            refresh_token: optional_str(&obj, "refresh_token")?.map(Secret::new),
            scope: optional_str(&obj, "scope")?.map(str::to_owned),
        })
    }
}

/// An RFC 6749 §5.2 error body, if `obj` is one.
pub(crate) fn oauth_error(obj: Option<&Map<String, Value>>) -> Option<TokenError> {
    let obj = obj?;
    let error = obj.get("error")?.as_str()?;
    let description = obj.get("error_description").and_then(Value::as_str);
    let (error, description) = sanitize_error(error, description);
    Some(TokenError::Provider { error, description })
}

pub(crate) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, TokenError> {
    optional_str(obj, field)?.ok_or(TokenError::MissingField(field))
}

/// A string field; `null` counts as absent, an empty string or another type is invalid.
pub(crate) fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, TokenError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(TokenError::InvalidField(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::test_support::{client, pending};
    use crate::config::TokenEndpointAuthMethod;
    use crate::discovery::test_support::{json_response, metadata, metadata_with};
    use crate::http::Method;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use std::collections::HashMap;

    const NOW: u64 = 1_700_000_000;

    fn form(req: &HttpRequest) -> HashMap<String, String> {
        url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect()
    }

    fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn code_request(c: &ClientConfig) -> Result<HttpRequest, TokenError> {
        token_request(
            &metadata(),
            c,
            &AuthorizationCode::new("the code"),
            &pending(NOW),
            NOW,
        )
    }

    fn parse(status: u16, body: Value) -> Result<TokenResponse, TokenError> {
        TokenResponse::from_response(&json_response(status, &body), NOW)
    }

    fn ok_body() -> Value {
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
               "id_token": "a.b.c", "refresh_token": "rt", "scope": "openid email"})
    }

    #[test]
    fn code_exchange_posts_code_redirect_uri_and_verifier() {
        let req = code_request(&client()).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url.as_str(), "https://op.example.com/token");
        let f = form(&req);
        assert_eq!(f["grant_type"], "authorization_code");
        assert_eq!(f["code"], "the code");
        assert_eq!(f["redirect_uri"], "https://app.example.com/callback");
        assert_eq!(f["code_verifier"], "verifier-789");
        assert!(!f.contains_key("client_secret"));
        assert_eq!(header(&req, "accept"), Some("application/json"));
        assert_eq!(
            header(&req, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn client_secret_basic_form_urlencodes_id_and_secret() {
        let mut c = client();
        c.client_id = "my client:1".into();
        c.client_secret = Some(Secret::new("p:a+s%s w"));
        let req = code_request(&c).unwrap();
        let expected = format!("Basic {}", STANDARD.encode("my+client%3A1:p%3Aa%2Bs%25s+w"));
        assert_eq!(header(&req, "authorization"), Some(expected.as_str()));
        assert!(!form(&req).contains_key("client_id"));
    }

    #[test]
    fn client_secret_post_sends_credentials_in_body() {
        let mut c = client();
        c.auth_method = TokenEndpointAuthMethod::ClientSecretPost;
        c.client_secret = Some(Secret::new("p:a+s%s"));
        let req = code_request(&c).unwrap();
        let f = form(&req);
        assert_eq!(f["client_id"], "my-client");
        assert_eq!(f["client_secret"], "p:a+s%s");
        assert_eq!(header(&req, "authorization"), None);
    }

    #[test]
    fn auth_method_none_sends_only_client_id() {
        let mut c = client();
        c.auth_method = TokenEndpointAuthMethod::None;
        c.client_secret = None;
        let req = code_request(&c).unwrap();
        let f = form(&req);
        assert_eq!(f["client_id"], "my-client");
        assert!(!f.contains_key("client_secret"));
        assert_eq!(header(&req, "authorization"), None);
    }

    #[test]
    fn rejects_secret_auth_method_without_secret() {
        for method in [
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
        ] {
            let mut c = client();
            c.auth_method = method;
            c.client_secret = None;
            let missing =
                TokenError::ClientAuth(ClientAuthError::MissingClientSecret(method.as_str()));
            assert_eq!(code_request(&c).unwrap_err(), missing);
            c.client_secret = Some(Secret::new(""));
            assert_eq!(code_request(&c).unwrap_err(), missing);
        }
    }

    #[test]
    fn debug_of_token_request_hides_code_and_credentials() {
        let dbg = format!("{:?}", code_request(&client()).unwrap());
        assert!(!dbg.contains("the code"));
        assert!(!dbg.contains("verifier-789"));
        assert!(!dbg.contains("Basic"));
    }

    #[test]
    fn refresh_request_sends_refresh_token_and_scope() {
        let req =
            refresh_request(&metadata(), &client(), "rt-1", Some("openid email"), NOW).unwrap();
        let f = form(&req);
        assert_eq!(f["grant_type"], "refresh_token");
        assert_eq!(f["refresh_token"], "rt-1");
        assert_eq!(f["scope"], "openid email");
        assert!(header(&req, "authorization").is_some());
        let req = refresh_request(&metadata(), &client(), "rt-1", None, NOW).unwrap();
        assert!(!form(&req).contains_key("scope"));
    }

    #[test]
    fn revocation_request_targets_revocation_endpoint() {
        let req =
            revocation_request(&metadata(), &client(), "rt-1", Some("refresh_token"), NOW).unwrap();
        assert_eq!(req.url.as_str(), "https://op.example.com/revoke");
        let f = form(&req);
        assert_eq!(f["token"], "rt-1");
        assert_eq!(f["token_type_hint"], "refresh_token");
    }

    #[test]
    fn rejects_revocation_without_endpoint() {
        let m = metadata_with(|d| {
            d.as_object_mut().unwrap().remove("revocation_endpoint");
        });
        assert_eq!(
            revocation_request(&m, &client(), "rt", None, NOW).unwrap_err(),
            TokenError::NoRevocationEndpoint
        );
    }

    #[test]
    fn parses_successful_token_response() {
        let t = parse(200, ok_body()).unwrap();
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_at, Some(NOW + 3600));
        assert_eq!(t.id_token.unwrap().expose(), "a.b.c");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt");
        assert_eq!(t.scope.as_deref(), Some("openid email"));
    }

    #[test]
    fn accepts_bearer_case_insensitively_and_optional_fields_absent() {
        let t = parse(
            200,
            json!({"access_token": "at", "token_type": "bearer", "refresh_token": null}),
        )
        .unwrap();
        assert_eq!(t.expires_at, None);
        assert!(t.id_token.is_none());
        assert!(t.refresh_token.is_none());
    }

    #[test]
    fn surfaces_oauth_error_response() {
        let err = parse(
            400,
            json!({"error": "invalid_grant", "error_description": "code\r\nexpired"}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TokenError::Provider {
                error: "invalid_grant".into(),
                description: Some("codeexpired".into())
            }
        );
    }

    #[test]
    fn surfaces_oauth_error_sent_with_status_200() {
        assert_eq!(
            parse(200, json!({"error": "bad_verification_code"})).unwrap_err(),
            TokenError::Provider {
                error: "bad_verification_code".into(),
                description: None
            }
        );
    }

    #[test]
    fn rejects_non_2xx_without_oauth_error_with_status() {
        let resp = HttpResponse {
            status: 502,
            content_type: Some("text/html".into()),
            body: b"<h1>Bad gateway</h1>".to_vec(),
        };
        assert_eq!(
            TokenResponse::from_response(&resp, NOW).unwrap_err(),
            TokenError::Status(502)
        );
        assert_eq!(
            parse(500, json!({"message": "x"})).unwrap_err(),
            TokenError::Status(500)
        );
    }

    #[test]
    fn rejects_non_json_success_body() {
        let resp = HttpResponse {
            status: 200,
            content_type: Some("application/x-www-form-urlencoded".into()),
            body: b"access_token=at&token_type=bearer".to_vec(),
        };
        assert_eq!(
            TokenResponse::from_response(&resp, NOW).unwrap_err(),
            TokenError::NotJson
        );
        assert_eq!(parse(200, json!(["at"])).unwrap_err(), TokenError::NotJson);
    }

    #[test]
    fn rejects_missing_access_token() {
        assert_eq!(
            parse(200, json!({"token_type": "Bearer"})).unwrap_err(),
            TokenError::MissingField("access_token")
        );
    }

    #[test]
    fn rejects_access_token_of_wrong_type() {
        assert_eq!(
            parse(200, json!({"access_token": 12, "token_type": "Bearer"})).unwrap_err(),
            TokenError::InvalidField("access_token")
        );
    }

    #[test]
    fn rejects_missing_token_type() {
        assert_eq!(
            parse(200, json!({"access_token": "at"})).unwrap_err(),
            TokenError::MissingField("token_type")
        );
    }

    #[test]
    fn rejects_mac_token_type() {
        assert_eq!(
            parse(200, json!({"access_token": "at", "token_type": "mac"})).unwrap_err(),
            TokenError::UnsupportedTokenType("mac".into())
        );
    }

    #[test]
    fn rejects_dpop_token_type() {
        assert!(matches!(
            parse(200, json!({"access_token": "at", "token_type": "DPoP"})),
            Err(TokenError::UnsupportedTokenType(_))
        ));
    }

    #[test]
    fn rejects_expires_in_as_string() {
        let mut body = ok_body();
        body["expires_in"] = "3600".into();
        assert_eq!(
            parse(200, body).unwrap_err(),
            TokenError::InvalidField("expires_in")
        );
    }

    #[test]
    fn rejects_negative_expires_in() {
        let mut body = ok_body();
        body["expires_in"] = json!(-1);
        assert_eq!(
            parse(200, body).unwrap_err(),
            TokenError::InvalidField("expires_in")
        );
    }

    #[test]
    fn huge_expires_in_saturates_instead_of_overflowing() {
        let mut body = ok_body();
        body["expires_in"] = json!(u64::MAX);
        assert_eq!(parse(200, body).unwrap().expires_at, Some(u64::MAX));
    }

    #[test]
    fn rejects_id_token_of_wrong_type() {
        let mut body = ok_body();
        body["id_token"] = json!({"a": 1});
        assert_eq!(
            parse(200, body).unwrap_err(),
            TokenError::InvalidField("id_token")
        );
    }

    #[test]
    fn debug_of_token_response_redacts_tokens() {
        let dbg = format!("{:?}", parse(200, ok_body()).unwrap());
        assert!(!dbg.contains("\"at\""));
        assert!(!dbg.contains("a.b.c"));
        assert!(!dbg.contains("\"rt\""));
        assert!(dbg.contains("Bearer"));
    }
}
