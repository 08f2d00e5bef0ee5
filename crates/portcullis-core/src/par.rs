//! Pushed Authorization Requests (RFC 9126).
//!
//! The authorization request is built as usual
//! ([`crate::authorize::build_authorization_request`]); instead of sending
//! the browser there, [`pushed_authorization_request`] posts its parameters
//! to the OP's `pushed_authorization_request_endpoint` with client
//! authentication, [`PushedAuthorization::from_response`] reads the
//! `request_uri`, and [`par_authorization_url`] is where the browser goes:
//! the authorization endpoint with only `client_id` and `request_uri`
//! (RFC 9126 §4). No state, nonce or PKCE challenge appears in the browser.

use url::Url;
use url::form_urlencoded::Serializer;

use crate::client_auth::{ClientAuthError, authenticated_form_post};
use crate::config::{ClientConfig, TokenEndpointAuthMethod};
use crate::discovery::ProviderMetadata;
use crate::http::{HttpRequest, HttpResponse};
use crate::token::{TokenError, oauth_error, optional_str};

/// Longest `request_uri` accepted from the OP.
pub const MAX_REQUEST_URI_LEN: usize = 2048;

/// Why a pushed authorization request could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParError {
    /// The OP has no `pushed_authorization_request_endpoint`.
    #[error(
        "the provider has no pushed_authorization_request_endpoint; turn PAR off (USE_PAR=false) or use a provider that supports it"
    )]
    NoEndpoint,
    /// The client could not authenticate the request.
    #[error(transparent)]
    ClientAuth(#[from] ClientAuthError),
    /// The OP refused the request with an OAuth error (RFC 9126 §2.3).
    #[error("the pushed authorization request was refused: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        /// The `error` code (sanitized).
        error: String,
        /// The `error_description` (sanitized).
        description: Option<String>,
    },
    /// A non-2xx status without an OAuth error body.
    #[error("the pushed authorization request endpoint answered with HTTP status {0}")]
    Status(u16),
    /// The success body is not a JSON object, or lacks a valid member.
    #[error("the pushed authorization response is invalid: {0}")]
    InvalidResponse(&'static str),
}

/// The OP's answer to a pushed authorization request (RFC 9126 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedAuthorization {
    /// The reference to the pushed request, sent as `request_uri`.
    pub request_uri: String,
    /// How long the reference is valid, in seconds.
    pub expires_in: u64,
}

/// Whether this login uses PAR: when configured, or when the OP requires it.
pub fn par_required(metadata: &ProviderMetadata, configured: bool) -> bool {
    configured || metadata.require_pushed_authorization_requests
}

/// The POST that pushes the parameters of `authorization_url` (as built by
/// [`crate::authorize::build_authorization_request`]) to the OP, with
/// client authentication, at `now` (unix seconds). Parameters that the
/// authorization endpoint's own URL carries stay in the URL and are not
/// pushed.
pub fn pushed_authorization_request(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    authorization_url: &Url,
    now: u64,
) -> Result<HttpRequest, ParError> {
    let endpoint = metadata
        .pushed_authorization_request_endpoint
        .as_ref()
        .ok_or(ParError::NoEndpoint)?;
    let endpoint_own: Vec<(String, String)> = metadata
        .authorization_endpoint
        .query_pairs()
        .into_owned()
        .collect();
    let mut body = Serializer::new(String::new());
    for (name, value) in authorization_url.query_pairs() {
        // Client authentication adds `client_id` for every method but HTTP Basic.
        if name == "client_id" && client.auth_method != TokenEndpointAuthMethod::ClientSecretBasic {
            continue;
        }
        if endpoint_own
            .iter()
            .any(|(n, v)| n.as_str() == name && v.as_str() == value)
        {
            continue;
        }
        body.append_pair(&name, &value);
    }
    Ok(authenticated_form_post(endpoint, client, now, body)?)
}

impl PushedAuthorization {
    /// Reads the response of a pushed authorization request: `201` (or any
    /// 2xx) with `request_uri` and a positive `expires_in`; an OAuth error
    /// body otherwise.
    pub fn from_response(resp: &HttpResponse) -> Result<Self, ParError> {
        let parsed: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&resp.body).ok();
        if !(200..300).contains(&resp.status) {
            return Err(match oauth_error(parsed.as_ref()) {
                Some(TokenError::Provider { error, description }) => {
                    ParError::Provider { error, description }
                }
                _ => ParError::Status(resp.status),
            });
        }
        let obj = parsed.ok_or(ParError::InvalidResponse("not a JSON object"))?;
        let request_uri = optional_str(&obj, "request_uri")
            .map_err(|_| ParError::InvalidResponse("request_uri is not a string"))?
            .ok_or(ParError::InvalidResponse("request_uri is missing"))?;
        if request_uri.len() > MAX_REQUEST_URI_LEN || request_uri.chars().any(char::is_control) {
            return Err(ParError::InvalidResponse(
                "request_uri is too long or has control characters",
            ));
        }
        let expires_in = obj
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .filter(|secs| *secs > 0)
            .ok_or(ParError::InvalidResponse(
                "expires_in is missing or not a positive integer",
            ))?;
        Ok(PushedAuthorization {
            request_uri: request_uri.to_owned(),
            expires_in,
        })
    }
}

/// Where the browser goes after a push: the authorization endpoint (with
/// any query it has) plus `client_id` and `request_uri` only.
pub fn par_authorization_url(
    metadata: &ProviderMetadata,
    client: &ClientConfig,
    pushed: &PushedAuthorization,
) -> Url {
    let mut url = metadata.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("request_uri", &pushed.request_uri);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::AuthorizationParams;
    use crate::authorize::build_authorization_request;
    use crate::authorize::test_support::client;
    use crate::discovery::test_support::{json_response, metadata_with};
    use serde_json::json;
    use std::collections::HashMap;

    const NOW: u64 = 1_700_000_000;

    fn par_metadata() -> ProviderMetadata {
        metadata_with(|d| {
            d["pushed_authorization_request_endpoint"] = json!("https://op.example.com/par");
            d["authorization_endpoint"] = json!("https://op.example.com/authorize?tenant=t1");
        })
    }

    fn form(req: &HttpRequest) -> HashMap<String, String> {
        url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn pushes_every_authorization_parameter_with_client_authentication() {
        let m = par_metadata();
        let c = client();
        let (url, pending) =
            build_authorization_request(&m, &c, &AuthorizationParams::new().prompt("login"), NOW)
                .unwrap();
        let req = pushed_authorization_request(&m, &c, &url, NOW).unwrap();
        assert_eq!(req.url.as_str(), "https://op.example.com/par");
        let f = form(&req);
        assert_eq!(f["state"], pending.state);
        assert_eq!(f["nonce"], pending.nonce);
        assert_eq!(f["response_type"], "code");
        assert_eq!(f["code_challenge_method"], "S256");
        assert_eq!(f["prompt"], "login");
        assert_eq!(f["client_id"], "my-client");
        assert!(
            !f.contains_key("tenant"),
            "the endpoint's own query stays in the URL"
        );
        assert!(
            req.headers
                .iter()
                .any(|(n, v)| *n == "authorization" && v.starts_with("Basic "))
        );
    }

    #[test]
    fn client_id_is_sent_once_with_body_client_authentication() {
        let m = par_metadata();
        let mut c = client();
        c.auth_method = TokenEndpointAuthMethod::ClientSecretPost;
        let (url, _) =
            build_authorization_request(&m, &c, &AuthorizationParams::new(), NOW).unwrap();
        let req = pushed_authorization_request(&m, &c, &url, NOW).unwrap();
        let body = req.body.unwrap();
        assert_eq!(body.matches("client_id=").count(), 1, "{body}");
        assert!(body.contains("client_secret="));
    }

    #[test]
    fn redirect_carries_only_client_id_and_request_uri() {
        let m = par_metadata();
        let pushed = PushedAuthorization {
            request_uri: "urn:ietf:params:oauth:request_uri:abc".into(),
            expires_in: 60,
        };
        let url = par_authorization_url(&m, &client(), &pushed);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("tenant".into(), "t1".into()),
                ("client_id".into(), "my-client".into()),
                (
                    "request_uri".into(),
                    "urn:ietf:params:oauth:request_uri:abc".into()
                ),
            ]
        );
    }

    #[test]
    fn rejects_push_without_endpoint() {
        let m = metadata_with(|_| {});
        let c = client();
        let (url, _) =
            build_authorization_request(&m, &c, &AuthorizationParams::new(), NOW).unwrap();
        assert_eq!(
            pushed_authorization_request(&m, &c, &url, NOW).unwrap_err(),
            ParError::NoEndpoint
        );
    }

    #[test]
    fn par_is_used_when_configured_or_required_by_metadata() {
        let plain = metadata_with(|_| {});
        assert!(!par_required(&plain, false));
        assert!(par_required(&plain, true));
        let required = metadata_with(|d| d["require_pushed_authorization_requests"] = json!(true));
        assert!(par_required(&required, false));
    }

    #[test]
    fn reads_request_uri_and_expiry() {
        let resp = json_response(
            201,
            &json!({"request_uri": "urn:ietf:params:oauth:request_uri:x", "expires_in": 60}),
        );
        let p = PushedAuthorization::from_response(&resp).unwrap();
        assert_eq!(p.request_uri, "urn:ietf:params:oauth:request_uri:x");
        assert_eq!(p.expires_in, 60);
    }

    #[test]
    fn surfaces_the_op_error_sanitized() {
        let resp = json_response(
            400,
            &json!({"error": "invalid_request", "error_description": "bad\r\nscope"}),
        );
        assert_eq!(
            PushedAuthorization::from_response(&resp).unwrap_err(),
            ParError::Provider {
                error: "invalid_request".into(),
                description: Some("badscope".into())
            }
        );
        let resp = HttpResponse {
            status: 503,
            content_type: Some("text/html".into()),
            body: b"<h1>down</h1>".to_vec(),
        };
        assert_eq!(
            PushedAuthorization::from_response(&resp).unwrap_err(),
            ParError::Status(503)
        );
    }

    #[test]
    fn rejects_malformed_success_bodies() {
        for body in [
            json!({"expires_in": 60}),
            json!({"request_uri": 5, "expires_in": 60}),
            json!({"request_uri": "", "expires_in": 60}),
            json!({"request_uri": "urn:x"}),
            json!({"request_uri": "urn:x", "expires_in": 0}),
            json!({"request_uri": "urn:x", "expires_in": "60"}),
            json!({"request_uri": "urn:x\r\nSet-Cookie: a=b", "expires_in": 60}),
            json!({"request_uri": "u".repeat(MAX_REQUEST_URI_LEN + 1), "expires_in": 60}),
            json!(["urn:x"]),
        ] {
            assert!(
                matches!(
                    PushedAuthorization::from_response(&json_response(201, &body)),
                    Err(ParError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }
}
