//! [`BearerError`]: every refusal of a bearer request, rendered per RFC 6750
//! §3: the status, a `WWW-Authenticate: Bearer` challenge with the error
//! code, and a JSON body that says what went wrong and what to do, never
//! the token.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use portcullis_core::access_token::{AccessTokenError, BearerHeaderError};
use portcullis_core::introspection::IntrospectionError;

/// Why a bearer request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No bearer token at all: `401` with a plain `Bearer` challenge.
    #[error("this API needs an access token: send `Authorization: Bearer <token>`")]
    MissingToken,
    /// The `Authorization` header (or query token) is malformed, repeated or
    /// too large: `400 invalid_request`.
    #[error("{0}")]
    InvalidRequest(#[source] BearerHeaderError),
    /// A token in the query string while query tokens are off: `400 invalid_request`.
    #[error(
        "access tokens in the query string are not accepted: send `Authorization: Bearer <token>`"
    )]
    QueryTokenRefused,
    /// The JWT did not verify: `401 invalid_token`.
    #[error("the access token is invalid: {0}")]
    InvalidToken(#[source] AccessTokenError),
    /// Introspection refused the (opaque) token: `401 invalid_token`.
    #[error("the access token is invalid: {0}")]
    Introspection(#[source] IntrospectionError),
    /// An opaque token, and no introspection is configured: `401 invalid_token`.
    #[error("the access token is not a JWT, and this API does not introspect opaque tokens")]
    OpaqueToken,
    /// Bearer tokens are not accepted by this application: `401 invalid_token`.
    #[error("this application does not accept bearer tokens")]
    NotAccepted,
    /// The token lacks a required scope: `403 insufficient_scope`.
    #[error("the access token lacks a required scope; it needs: {scope}")]
    InsufficientScope {
        /// Every scope the route requires, space-separated.
        scope: String,
    },
    /// A claim requirement failed: `403 insufficient_scope`.
    #[error("the access token does not meet this route's requirement: {rule}")]
    ClaimRequirement {
        /// The rule (never the claim's value).
        rule: String,
    },
    /// The issuer could not be reached (keys or introspection): `503`.
    #[error("the token issuer cannot be reached right now; try again later")]
    ProviderUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A `BearerAuth` extractor without a `BearerLayer`: `500`.
    #[error("BearerAuth is used on a route without a BearerLayer")]
    LayerMissing,
}

impl BearerError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            BearerError::MissingToken
            | BearerError::InvalidToken(_)
            | BearerError::Introspection(_)
            | BearerError::OpaqueToken
            | BearerError::NotAccepted => StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) | BearerError::QueryTokenRefused => {
                StatusCode::BAD_REQUEST
            }
            BearerError::InsufficientScope { .. } | BearerError::ClaimRequirement { .. } => {
                StatusCode::FORBIDDEN
            }
            BearerError::ProviderUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BearerError::LayerMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code (`invalid_request`, `invalid_token`,
    /// `insufficient_scope`), or `None` for a missing token; the 503 and 500
    /// answers use `temporarily_unavailable` and `server_error` in the body.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            BearerError::MissingToken => None,
            BearerError::InvalidRequest(_) | BearerError::QueryTokenRefused => {
                Some("invalid_request")
            }
            BearerError::InvalidToken(_)
            | BearerError::Introspection(_)
            | BearerError::OpaqueToken
            | BearerError::NotAccepted => Some("invalid_token"),
            BearerError::InsufficientScope { .. } | BearerError::ClaimRequirement { .. } => {
                Some("insufficient_scope")
            }
            BearerError::ProviderUnavailable(_) => Some("temporarily_unavailable"),
            BearerError::LayerMissing => Some("server_error"),
        }
    }

    /// A short stable code for logs and metrics: which rule refused.
    pub fn reason(&self) -> &'static str {
        match self {
            BearerError::MissingToken => "missing_token",
            BearerError::InvalidRequest(BearerHeaderError::MultipleHeaders) => "multiple_headers",
            BearerError::InvalidRequest(BearerHeaderError::TooLarge) => "too_large",
            BearerError::InvalidRequest(_) => "malformed_header",
            BearerError::QueryTokenRefused => "query_token",
            BearerError::InvalidToken(e) => e.code(),
            BearerError::Introspection(e) => e.code(),
            BearerError::OpaqueToken => "opaque_token",
            BearerError::NotAccepted => "bearer_not_accepted",
            BearerError::InsufficientScope { .. } => "missing_scope",
            BearerError::ClaimRequirement { .. } => "claim_requirement",
            BearerError::ProviderUnavailable(_) => "provider_unavailable",
            BearerError::LayerMissing => "layer_missing",
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3).
    pub fn challenge(&self) -> String {
        let Some(code) = self.code() else {
            return "Bearer".to_owned();
        };
        if matches!(
            self,
            BearerError::ProviderUnavailable(_) | BearerError::LayerMissing
        ) {
            return "Bearer".to_owned();
        }
        let mut value = format!(
            "Bearer error=\"{code}\", error_description=\"{}\"",
            quoted(&self.to_string())
        );
        if let BearerError::InsufficientScope { scope } = self {
            value.push_str(&format!(", scope=\"{}\"", quoted(scope)));
        }
        value
    }

    /// The whole answer: status, `WWW-Authenticate`, `Cache-Control:
    /// no-store`, and `{"error", "error_description"[, "scope"]}` as JSON.
    pub fn to_response(&self) -> http::Response<Bytes> {
        let mut body = serde_json::json!({
            "error": self.code().unwrap_or("unauthorized"),
            "error_description": self.to_string(),
        });
        if let BearerError::InsufficientScope { scope } = self {
            body["scope"] = serde_json::Value::String(scope.clone());
        }
        let mut response = http::Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(value) = HeaderValue::from_str(&self.challenge()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Keeps only the characters RFC 6750 allows in `error_description` and
/// `scope` (printable ASCII without `"` and `\`).
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_token_gets_a_plain_bearer_challenge_and_401() {
        let r = BearerError::MissingToken.to_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn a_bad_token_gets_invalid_token_and_a_missing_scope_403_with_the_scope() {
        let r = BearerError::InvalidToken(AccessTokenError::Expired).to_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
        let r = BearerError::InsufficientScope {
            scope: "read write".into(),
        }
        .to_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("error=\"insufficient_scope\""));
        assert!(challenge.ends_with("scope=\"read write\""), "{challenge}");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["scope"], "read write");
    }

    #[test]
    fn challenge_parameters_hold_only_quotable_characters() {
        let e = BearerError::InsufficientScope {
            scope: "a\"b\\c\r\nd".into(),
        };
        let challenge = e.challenge();
        assert!(challenge.ends_with("scope=\"abcd\""), "{challenge}");
        assert!(HeaderValue::from_str(&challenge).is_ok());
    }

    #[test]
    fn two_headers_are_invalid_request_400() {
        let e = BearerError::InvalidRequest(BearerHeaderError::MultipleHeaders);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), Some("invalid_request"));
        assert_eq!(e.reason(), "multiple_headers");
    }
}
