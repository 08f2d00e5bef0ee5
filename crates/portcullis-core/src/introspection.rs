//! OAuth 2.0 Token Introspection (RFC 7662) for opaque access tokens: the
//! request a resource server sends, and the rules its answer must pass.
//!
//! The request is a `POST` of `token` and `token_type_hint=access_token`
//! to the OP's `introspection_endpoint`, authenticated with
//! `client_secret_basic` (RFC 7662 §2.1 requires the caller to authenticate).
//!
//! An answer is accepted only when, in order:
//!
//! 1. it is HTTP 200 with a JSON object body;
//! 2. `active` is `true` (a JSON boolean; anything else is refused);
//! 3. `token_type` is `Bearer` (any case; `access_token` is accepted too),
//!    and `token_use`, if present, is `access_token`. A missing `token_type`
//!    is refused: oidc-provider, for one, answers `active: true` without a
//!    `token_type` for a *refresh* token, and a refresh token must never
//!    authenticate a request. Sender-constrained types (`DPoP`, `N_A`, …)
//!    are refused too: their proof is not checked here;
//! 4. `iss`, if present, is exactly the issuer;
//! 5. `aud`, if present, contains one of the API's audiences (an absent
//!    `aud` is accepted: the OP vouched for the token to this client);
//! 6. `exp` is **required** (the answer is cached until then, and a cache
//!    must know when the token ends) and `now < exp + skew`; `nbf`, if
//!    present, is `<= now + skew`;
//! 7. `sub` is a non-empty string (Portcullis keys principals by `iss` and
//!    `sub`; tokens without a subject are refused rather than guessed).
//!
//! Claims of the wrong JSON type are refused, never skipped.

use serde_json::{Map, Value};
use url::Url;
use url::form_urlencoded::Serializer;

use crate::access_token::{AccessTokenClaims, scopes};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::jose::claims::{self, ClaimError};
use crate::secret::Secret;
use crate::token::basic_auth_header;

/// What an introspection answer is checked against.
#[derive(Debug, Clone, Copy)]
pub struct IntrospectionExpectations<'a> {
    /// The issuer, compared by exact string match when the answer has `iss`.
    pub issuer: &'a str,
    /// The API's identifiers: an `aud` in the answer must contain one.
    pub audiences: &'a [String],
    /// The current time, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew_secs: u64,
}

/// Why an introspection answer did not make the token acceptable. The
/// Display text never includes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The endpoint answered with another status than 200.
    #[error("the introspection endpoint answered HTTP {0}")]
    Status(u16),
    /// The body is not a JSON object.
    #[error("the introspection answer is not a JSON object")]
    InvalidJson,
    /// The OP says the token is not active (unknown, expired or revoked).
    #[error("the token is not active")]
    Inactive,
    /// The answer does not say the token is a bearer access token
    /// (`token_type` missing or not `Bearer`, or `token_use` not
    /// `access_token`): a refresh token, or a sender-constrained token.
    #[error("the introspected token is not a bearer access token")]
    NotBearerAccessToken,
    /// A required member is missing.
    #[error("the introspection answer has no {0}")]
    MissingClaim(&'static str),
    /// A member has the wrong JSON type.
    #[error("the introspection answer's {0} has the wrong JSON type")]
    WrongClaimType(&'static str),
    /// `iss` is not the issuer.
    #[error("the token's issuer is not trusted by this API")]
    IssuerMismatch,
    /// `aud` holds none of the API's audiences.
    #[error("the token's audience is not this API")]
    AudienceMismatch,
    /// `exp` is past (beyond the skew).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the skew).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
}

impl IntrospectionError {
    /// True when the OP itself failed (not the token): answer 503, not 401.
    pub fn is_provider_failure(&self) -> bool {
        matches!(
            self,
            IntrospectionError::Status(_) | IntrospectionError::InvalidJson
        )
    }

    /// A short, stable, lowercase code for this rejection.
    pub fn code(&self) -> &'static str {
        match self {
            IntrospectionError::Status(_) => "introspection_failed",
            IntrospectionError::InvalidJson => "introspection_invalid",
            IntrospectionError::Inactive => "inactive",
            IntrospectionError::NotBearerAccessToken => "not_bearer_access_token",
            IntrospectionError::MissingClaim(_) => "missing_claim",
            IntrospectionError::WrongClaimType(_) => "wrong_claim_type",
            IntrospectionError::IssuerMismatch => "invalid_issuer",
            IntrospectionError::AudienceMismatch => "invalid_audience",
            IntrospectionError::Expired => "expired",
            IntrospectionError::NotYetValid => "not_yet_valid",
        }
    }
}

impl From<ClaimError> for IntrospectionError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Missing(name) => IntrospectionError::MissingClaim(name),
            ClaimError::WrongType(name) => IntrospectionError::WrongClaimType(name),
            _ => IntrospectionError::InvalidJson,
        }
    }
}

/// The introspection request for `token`, authenticated with
/// `client_secret_basic`.
pub fn introspection_request(
    endpoint: &Url,
    client_id: &str,
    client_secret: &Secret,
    token: &str,
) -> HttpRequest {
    let mut body = Serializer::new(String::new());
    body.append_pair("token", token)
        .append_pair("token_type_hint", "access_token");
    HttpRequest {
        method: Method::Post,
        url: endpoint.clone(),
        headers: vec![
            ("accept", "application/json".to_owned()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
            (
                "authorization",
                basic_auth_header(client_id, client_secret.expose()),
            ),
        ],
        body: Some(body.finish()),
    }
}

/// Checks an introspection answer (see the module docs for every rule) and
/// returns the token's claims. `iat` is 0 when the answer omits it.
pub fn validate_introspection_response(
    response: &HttpResponse,
    expectations: &IntrospectionExpectations<'_>,
) -> Result<AccessTokenClaims, IntrospectionError> {
    if response.status != 200 {
        return Err(IntrospectionError::Status(response.status));
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&response.body).map_err(|_| IntrospectionError::InvalidJson)?;
    match claims.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) | None => return Err(IntrospectionError::Inactive),
        Some(_) => return Err(IntrospectionError::WrongClaimType("active")),
    }
    let bearer = claims::optional_string(&claims, "token_type")?
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer") || t == "access_token");
    let access = claims::optional_string(&claims, "token_use")?.is_none_or(|u| u == "access_token");
    if !bearer || !access {
        return Err(IntrospectionError::NotBearerAccessToken);
    }
    let iss = match claims::optional_string(&claims, "iss")? {
        Some(iss) if iss != expectations.issuer => return Err(IntrospectionError::IssuerMismatch),
        Some(iss) => iss,
        None => expectations.issuer.to_owned(),
    };
    let aud = if claims.contains_key("aud") {
        let aud = claims::audiences(&claims)?;
        if !aud.iter().any(|a| expectations.audiences.contains(a)) {
            return Err(IntrospectionError::AudienceMismatch);
        }
        aud
    } else {
        Vec::new()
    };
    let exp = claims::required_numeric_date(&claims, "exp")?;
    let iat = claims::optional_numeric_date(&claims, "iat")?.unwrap_or(0);
    let nbf = claims::optional_numeric_date(&claims, "nbf")?;
    let late = expectations.now.saturating_add(expectations.skew_secs);
    if expectations.now >= exp.saturating_add(expectations.skew_secs) {
        return Err(IntrospectionError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > late) {
        return Err(IntrospectionError::NotYetValid);
    }
    let sub = claims::required_string(&claims, "sub")?;
    if sub.is_empty() {
        return Err(IntrospectionError::MissingClaim("sub"));
    }
    let client_id = claims::optional_string(&claims, "client_id")?;
    let jti = claims::optional_string(&claims, "jti")?;
    let scopes = scopes(&claims)
        .map_err(|_| IntrospectionError::WrongClaimType("scope"))?
        .unwrap_or_default();
    Ok(AccessTokenClaims {
        iss,
        sub,
        aud,
        exp,
        iat,
        client_id,
        scopes,
        jti,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_700_000_000;
    const ISSUER: &str = "https://op.example.com";

    fn answer(body: Value) -> HttpResponse {
        HttpResponse {
            status: 200,
            content_type: Some("application/json".into()),
            body: body.to_string().into_bytes(),
        }
    }

    fn active() -> Value {
        json!({"active": true, "sub": "alice", "client_id": "app", "scope": "read write",
               "exp": NOW + 60, "iat": NOW - 1, "iss": ISSUER, "aud": "api", "token_type": "Bearer"})
    }

    fn check(body: Value) -> Result<AccessTokenClaims, IntrospectionError> {
        let audiences = vec!["api".to_owned()];
        validate_introspection_response(
            &answer(body),
            &IntrospectionExpectations {
                issuer: ISSUER,
                audiences: &audiences,
                now: NOW,
                skew_secs: 0,
            },
        )
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = active();
        if value.is_null() {
            v.as_object_mut().unwrap().remove(key);
        } else {
            v[key] = value;
        }
        v
    }

    #[test]
    fn an_active_answer_gives_the_claims() {
        let c = check(active()).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.scopes, ["read", "write"]);
        assert_eq!(c.exp, NOW + 60);
        assert_eq!(c.client_id.as_deref(), Some("app"));
    }

    #[test]
    fn inactive_missing_or_non_boolean_active_is_refused() {
        assert_eq!(
            check(json!({"active": false})),
            Err(IntrospectionError::Inactive)
        );
        assert_eq!(
            check(with("active", Value::Null)),
            Err(IntrospectionError::Inactive)
        );
        assert_eq!(
            check(with("active", json!("true"))),
            Err(IntrospectionError::WrongClaimType("active"))
        );
    }

    #[test]
    fn refresh_tokens_wrong_issuer_and_wrong_audience_are_refused() {
        for (key, value) in [
            ("token_type", json!("refresh_token")),
            ("token_type", Value::Null),
            ("token_type", json!("DPoP")),
            ("token_use", json!("refresh_token")),
        ] {
            assert_eq!(
                check(with(key, value.clone())),
                Err(IntrospectionError::NotBearerAccessToken),
                "{key}: {value}"
            );
        }
        assert!(check(with("token_type", json!("bearer"))).is_ok());
        assert_eq!(
            check(with("iss", json!("https://evil.example"))),
            Err(IntrospectionError::IssuerMismatch)
        );
        assert_eq!(
            check(with("aud", json!(["other"]))),
            Err(IntrospectionError::AudienceMismatch)
        );
        assert!(check(with("aud", Value::Null)).is_ok(), "aud is optional");
    }

    #[test]
    fn exp_is_required_and_enforced_and_nbf_respected() {
        assert_eq!(
            check(with("exp", Value::Null)),
            Err(IntrospectionError::MissingClaim("exp"))
        );
        assert_eq!(
            check(with("exp", json!(NOW))),
            Err(IntrospectionError::Expired)
        );
        assert_eq!(
            check(with("exp", json!("later"))),
            Err(IntrospectionError::WrongClaimType("exp"))
        );
        assert_eq!(
            check(with("nbf", json!(NOW + 10))),
            Err(IntrospectionError::NotYetValid)
        );
    }

    #[test]
    fn sub_is_required_and_the_status_must_be_200() {
        assert_eq!(
            check(with("sub", Value::Null)),
            Err(IntrospectionError::MissingClaim("sub"))
        );
        let mut r = answer(active());
        r.status = 401;
        let audiences = vec!["api".to_owned()];
        let e = validate_introspection_response(
            &r,
            &IntrospectionExpectations {
                issuer: ISSUER,
                audiences: &audiences,
                now: NOW,
                skew_secs: 0,
            },
        )
        .unwrap_err();
        assert_eq!(e, IntrospectionError::Status(401));
        assert!(e.is_provider_failure());
        assert_eq!(check(json!([1])), Err(IntrospectionError::InvalidJson));
    }

    #[test]
    fn the_request_authenticates_and_hints_access_token() {
        let endpoint = Url::parse("https://op.example.com/introspect").unwrap();
        let r = introspection_request(&endpoint, "api", &Secret::new("s3cret"), "tok en");
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.body.as_deref(),
            Some("token=tok+en&token_type_hint=access_token")
        );
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| *n == "authorization" && v.starts_with("Basic "))
        );
    }
}
