//! OpenID Provider metadata (OpenID Connect Discovery 1.0).
//!
//! The adapter performs the request built by [`discovery_request`] and hands
//! the response to [`ProviderMetadata::from_response`], which validates it:
//! the issuer must equal the configured issuer by exact string match
//! (Discovery §4.3), endpoints must be absolute `https` URLs (plain `http` is
//! accepted only for loopback hosts, for development), PKCE `S256` and the
//! `code` response type must not be excluded.

use crate::config::ResponseMode;
use crate::http::{HttpRequest, HttpResponse, Method};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// The path appended to the issuer to find the discovery document.
pub const WELL_KNOWN_PATH: &str = "/.well-known/openid-configuration";

/// Longest provider-supplied value echoed in an error message.
const MAX_ECHO_CHARS: usize = 256;

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The configured issuer is not a usable issuer URL.
    #[error("invalid issuer {issuer:?}: {reason}")]
    InvalidIssuer {
        /// The configured issuer.
        issuer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The discovery endpoint answered with a non-2xx status.
    #[error("discovery failed: the provider answered with HTTP status {0}")]
    Status(u16),
    /// The body is not a valid provider metadata JSON document.
    #[error("discovery failed: the document is not valid provider metadata JSON: {0}")]
    InvalidJson(String),
    /// The document's `issuer` differs from the configured issuer.
    #[error(
        "discovery issuer mismatch: configured {configured:?} but the provider says {actual:?}"
    )]
    IssuerMismatch {
        /// The configured issuer.
        configured: String,
        /// The issuer in the discovery document (truncated).
        actual: String,
    },
    /// An endpoint is not an acceptable URL.
    #[error("discovery failed: `{field}` {url:?} is not acceptable: {reason}")]
    InvalidEndpoint {
        /// The metadata field.
        field: &'static str,
        /// The offending URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `code_challenge_methods_supported` is present and lacks `S256`.
    #[error("discovery failed: the provider does not support PKCE S256")]
    PkceS256Unsupported,
    /// `response_types_supported` is present and lacks `code`.
    #[error("discovery failed: the provider does not support the `code` response type")]
    CodeResponseTypeUnsupported,
}

/// Provider metadata (Discovery §3). Unknown fields are ignored.
///
/// Deserializing this type directly performs no security checks; use
/// [`ProviderMetadata::from_response`] or [`ProviderMetadata::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(with = "url_serde")]
    pub authorization_endpoint: Url,
    /// The token endpoint.
    #[serde(with = "url_serde")]
    pub token_endpoint: Url,
    /// The userinfo endpoint.
    #[serde(
        default,
        with = "opt_url_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub userinfo_endpoint: Option<Url>,
    /// The JWKS document URL.
    #[serde(with = "url_serde")]
    pub jwks_uri: Url,
    /// RP-Initiated Logout endpoint.
    #[serde(
        default,
        with = "opt_url_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_session_endpoint: Option<Url>,
    /// Token revocation endpoint (RFC 7009).
    #[serde(
        default,
        with = "opt_url_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub revocation_endpoint: Option<Url>,
    /// Token introspection endpoint (RFC 7662).
    #[serde(
        default,
        with = "opt_url_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub introspection_endpoint: Option<Url>,
    /// Supported `response_type` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<String>>,
    /// Supported `response_mode` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Supported PKCE methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Supported token endpoint client authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// ID token signing algorithms the provider may use.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207: the provider sends `iss` in authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Back-Channel Logout 1.0 support.
    #[serde(default)]
    pub backchannel_logout_supported: bool,
    /// Supported scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Supported grant types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// The pushed authorization request endpoint (RFC 9126 §5).
    #[serde(
        default,
        with = "opt_url_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// RFC 9126 §5: the provider accepts authorization requests only through PAR.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
}

/// Builds the discovery request for `issuer`: any trailing `/` is removed and
/// [`WELL_KNOWN_PATH`] appended (Discovery §4).
pub fn discovery_request(issuer: &str) -> Result<HttpRequest, DiscoveryError> {
    let invalid = |reason| DiscoveryError::InvalidIssuer {
        issuer: truncate(issuer),
        reason,
    };
    let parsed = Url::parse(issuer).map_err(|_| invalid("not an absolute URL"))?;
    check_secure_url(&parsed).map_err(invalid)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("an issuer has no query or fragment"));
    }
    let url = Url::parse(&format!(
        "{}{WELL_KNOWN_PATH}",
        issuer.trim_end_matches('/')
    ))
    .map_err(|_| invalid("not an absolute URL"))?;
    Ok(HttpRequest {
        method: Method::Get,
        url,
        headers: vec![("accept", "application/json".to_owned())],
        body: None,
    })
}

impl ProviderMetadata {
    /// Parses and validates a discovery response for `configured_issuer`.
    pub fn from_response(
        configured_issuer: &str,
        resp: &HttpResponse,
    ) -> Result<ProviderMetadata, DiscoveryError> {
        if !(200..300).contains(&resp.status) {
            return Err(DiscoveryError::Status(resp.status));
        }
        let metadata: ProviderMetadata = serde_json::from_slice(&resp.body)
            .map_err(|e| DiscoveryError::InvalidJson(e.to_string()))?;
        metadata.validate(configured_issuer)?;
        Ok(metadata)
    }

    /// Validates metadata obtained some other way (cache, static config).
    pub fn validate(&self, configured_issuer: &str) -> Result<(), DiscoveryError> {
        if self.issuer != configured_issuer {
            return Err(DiscoveryError::IssuerMismatch {
                configured: truncate(configured_issuer),
                actual: truncate(&self.issuer),
            });
        }
        let required = [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", Some(&self.token_endpoint)),
            ("jwks_uri", Some(&self.jwks_uri)),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
            ("revocation_endpoint", self.revocation_endpoint.as_ref()),
            (
                "introspection_endpoint",
                self.introspection_endpoint.as_ref(),
            ),
            (
                "pushed_authorization_request_endpoint",
                self.pushed_authorization_request_endpoint.as_ref(),
            ),
        ];
        for (field, url) in required {
            if let Some(url) = url {
                check_endpoint(field, url)?;
            }
        }
        if let Some(methods) = &self.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(DiscoveryError::PkceS256Unsupported);
        }
        if let Some(types) = &self.response_types_supported
            && !types.iter().any(|t| t == "code")
        {
            return Err(DiscoveryError::CodeResponseTypeUnsupported);
        }
        Ok(())
    }

    /// Whether the provider supports `mode`. When `response_modes_supported`
    /// is absent the answer is `true`: many providers support `form_post`
    /// without advertising it, and the provider rejects it if not.
    pub fn supports_response_mode(&self, mode: ResponseMode) -> bool {
        self.response_modes_supported
            .as_ref()
            .is_none_or(|modes| modes.iter().any(|m| m == mode.as_str()))
    }
}

fn check_endpoint(field: &'static str, url: &Url) -> Result<(), DiscoveryError> {
    let invalid = |reason| DiscoveryError::InvalidEndpoint {
        field,
        url: truncate(url.as_str()),
        reason,
    };
    check_secure_url(url).map_err(invalid)?;
    if url.fragment().is_some() {
        return Err(invalid("an endpoint URL has no fragment"));
    }
    Ok(())
}

/// Accepts `https` URLs with a host, and `http` only for loopback hosts.
pub(crate) fn check_secure_url(url: &Url) -> Result<(), &'static str> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in URLs are not allowed");
    }
    match (url.scheme(), url.host()) {
        (_, None) => Err("the URL has no host"),
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if is_loopback(&host) => Ok(()),
        ("http", Some(_)) => Err("plain http is only allowed for localhost"),
        _ => Err("the scheme must be https"),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Truncates a provider- or user-supplied value for an error message.
pub(crate) fn truncate(value: &str) -> String {
    value.chars().take(MAX_ECHO_CHARS).collect()
}

/// Serde for `Url` as a string (the `url` crate's `serde` feature is not enabled).
pub(crate) mod url_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use url::Url;

    pub(crate) fn serialize<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        let s = String::deserialize(d)?;
        Url::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<Url>` as an optional string.
pub(crate) mod opt_url_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use url::Url;

    pub(crate) fn serialize<S: Serializer>(url: &Option<Url>, s: S) -> Result<S::Ok, S::Error> {
        match url {
            Some(url) => s.serialize_some(url.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| Url::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Test fixtures shared by this crate's modules.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Issuer used by the fixtures.
    pub(crate) const ISSUER: &str = "https://op.example.com";

    /// A complete, valid discovery document for [`ISSUER`].
    pub(crate) fn document() -> serde_json::Value {
        serde_json::json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://op.example.com/authorize",
            "token_endpoint": "https://op.example.com/token",
            "userinfo_endpoint": "https://op.example.com/userinfo",
            "jwks_uri": "https://op.example.com/jwks",
            "end_session_endpoint": "https://op.example.com/logout",
            "revocation_endpoint": "https://op.example.com/revoke",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        })
    }

    /// A JSON response carrying `body`.
    pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> HttpResponse {
        HttpResponse {
            status,
            content_type: Some("application/json".to_owned()),
            body: serde_json::to_vec(body).unwrap(),
        }
    }

    /// Validated metadata built from [`document`].
    pub(crate) fn metadata() -> ProviderMetadata {
        ProviderMetadata::from_response(ISSUER, &json_response(200, &document())).unwrap()
    }

    /// Metadata from [`document`] with `edit` applied.
    pub(crate) fn metadata_with(edit: impl FnOnce(&mut serde_json::Value)) -> ProviderMetadata {
        let mut doc = document();
        edit(&mut doc);
        serde_json::from_value(doc).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    fn parse(doc: &serde_json::Value) -> Result<ProviderMetadata, DiscoveryError> {
        ProviderMetadata::from_response(ISSUER, &json_response(200, doc))
    }

    fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<ProviderMetadata, DiscoveryError> {
        let mut doc = document();
        edit(&mut doc);
        parse(&doc)
    }

    #[test]
    fn discovery_request_appends_well_known_path() {
        let req = discovery_request("https://op.example.com").unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(
            req.url.as_str(),
            "https://op.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn discovery_request_removes_trailing_slash_and_keeps_issuer_path() {
        let req = discovery_request("https://op.example.com/tenants/a/").unwrap();
        assert_eq!(
            req.url.as_str(),
            "https://op.example.com/tenants/a/.well-known/openid-configuration"
        );
    }

    #[test]
    fn discovery_request_rejects_plain_http_issuer() {
        assert!(matches!(
            discovery_request("http://op.example.com"),
            Err(DiscoveryError::InvalidIssuer { .. })
        ));
    }

    #[test]
    fn discovery_request_allows_http_for_loopback_issuer() {
        for issuer in [
            "http://localhost:8080",
            "http://127.0.0.1:3000",
            "http://[::1]:9000",
        ] {
            assert!(discovery_request(issuer).is_ok(), "{issuer}");
        }
    }

    #[test]
    fn discovery_request_rejects_relative_issuer_and_query() {
        assert!(discovery_request("op.example.com").is_err());
        assert!(discovery_request("https://op.example.com/?tenant=a").is_err());
        assert!(discovery_request("https://op.example.com/#x").is_err());
    }

    #[test]
    fn accepts_valid_metadata() {
        let m = metadata();
        assert_eq!(m.issuer, ISSUER);
        assert_eq!(m.token_endpoint.as_str(), "https://op.example.com/token");
        assert!(!m.authorization_response_iss_parameter_supported);
        assert!(!m.backchannel_logout_supported);
    }

    #[test]
    fn ignores_unknown_fields() {
        assert!(with(|d| d["x_custom"] = serde_json::json!({"a": [1, 2]})).is_ok());
    }

    #[test]
    fn rejects_non_2xx_status_with_the_status() {
        let resp = json_response(503, &document());
        assert_eq!(
            ProviderMetadata::from_response(ISSUER, &resp),
            Err(DiscoveryError::Status(503))
        );
    }

    #[test]
    fn rejects_non_json_body() {
        let resp = HttpResponse {
            status: 200,
            content_type: Some("text/html".to_owned()),
            body: b"<html>hello</html>".to_vec(),
        };
        assert!(matches!(
            ProviderMetadata::from_response(ISSUER, &resp),
            Err(DiscoveryError::InvalidJson(_))
        ));
    }

    #[test]
    fn rejects_missing_required_field() {
        let r = with(|d| {
            d.as_object_mut().unwrap().remove("token_endpoint");
        });
        assert!(matches!(r, Err(DiscoveryError::InvalidJson(_))));
    }

    #[test]
    fn rejects_field_of_wrong_type() {
        let r = with(|d| d["authorization_response_iss_parameter_supported"] = "true".into());
        assert!(matches!(r, Err(DiscoveryError::InvalidJson(_))));
    }

    #[test]
    fn rejects_issuer_mismatch_when_configured_has_trailing_slash() {
        let resp = json_response(200, &document());
        let err = ProviderMetadata::from_response("https://op.example.com/", &resp).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"discovery issuer mismatch: configured "https://op.example.com/" but the provider says "https://op.example.com""#
        );
    }

    #[test]
    fn rejects_issuer_mismatch_when_provider_has_trailing_slash() {
        let err = with(|d| d["issuer"] = "https://op.example.com/".into()).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::IssuerMismatch {
                configured: "https://op.example.com".into(),
                actual: "https://op.example.com/".into(),
            }
        );
    }

    #[test]
    fn rejects_issuer_differing_in_case() {
        assert!(matches!(
            with(|d| d["issuer"] = "https://OP.example.com".into()),
            Err(DiscoveryError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn rejects_relative_endpoint() {
        let r = with(|d| d["token_endpoint"] = "/token".into());
        assert!(matches!(r, Err(DiscoveryError::InvalidJson(_))));
    }

    #[test]
    fn rejects_plain_http_endpoint_on_public_host() {
        let r = with(|d| d["token_endpoint"] = "http://op.example.com/token".into());
        assert!(matches!(
            r,
            Err(DiscoveryError::InvalidEndpoint {
                field: "token_endpoint",
                ..
            })
        ));
    }

    #[test]
    fn rejects_plain_http_optional_endpoint() {
        let r = with(|d| d["userinfo_endpoint"] = "http://op.example.com/me".into());
        assert!(matches!(
            r,
            Err(DiscoveryError::InvalidEndpoint {
                field: "userinfo_endpoint",
                ..
            })
        ));
    }

    #[test]
    fn rejects_non_http_scheme_endpoint() {
        let r = with(|d| d["jwks_uri"] = "file:///etc/passwd".into());
        assert!(matches!(
            r,
            Err(DiscoveryError::InvalidEndpoint {
                field: "jwks_uri",
                ..
            })
        ));
    }

    #[test]
    fn rejects_endpoint_with_credentials() {
        let r = with(|d| d["token_endpoint"] = "https://user:pw@op.example.com/token".into());
        assert!(matches!(r, Err(DiscoveryError::InvalidEndpoint { .. })));
    }

    #[test]
    fn allows_plain_http_endpoints_on_loopback() {
        let issuer = "http://127.0.0.1:9000";
        let doc = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": "http://localhost:9000/authorize",
            "token_endpoint": "http://127.0.0.1:9000/token",
            "jwks_uri": "http://[::1]:9000/jwks",
            "id_token_signing_alg_values_supported": ["ES256"],
        });
        assert!(ProviderMetadata::from_response(issuer, &json_response(200, &doc)).is_ok());
    }

    #[test]
    fn rejects_provider_without_pkce_s256() {
        let r = with(|d| d["code_challenge_methods_supported"] = serde_json::json!(["plain"]));
        assert_eq!(r, Err(DiscoveryError::PkceS256Unsupported));
    }

    #[test]
    fn accepts_provider_that_does_not_advertise_pkce() {
        assert!(
            with(|d| {
                d.as_object_mut()
                    .unwrap()
                    .remove("code_challenge_methods_supported");
            })
            .is_ok()
        );
    }

    #[test]
    fn rejects_provider_without_code_response_type() {
        let r = with(|d| {
            d["response_types_supported"] = serde_json::json!(["id_token", "token id_token"])
        });
        assert_eq!(r, Err(DiscoveryError::CodeResponseTypeUnsupported));
    }

    #[test]
    fn supports_response_mode_follows_advertised_list() {
        let m = metadata_with(|d| d["response_modes_supported"] = serde_json::json!(["query"]));
        assert!(m.supports_response_mode(ResponseMode::Query));
        assert!(!m.supports_response_mode(ResponseMode::FormPost));
        let m = metadata_with(|d| {
            d.as_object_mut()
                .unwrap()
                .remove("response_modes_supported");
        });
        assert!(m.supports_response_mode(ResponseMode::FormPost));
    }

    #[test]
    fn metadata_round_trips_through_serde() {
        let m = metadata();
        let json = serde_json::to_value(&m).unwrap();
        let back: ProviderMetadata = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }
}
