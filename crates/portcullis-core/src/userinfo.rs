//! The userinfo endpoint (OpenID Connect Core §5.3).
//!
//! Userinfo claims are merged over the ID token claims only when the
//! userinfo `sub` equals the ID token `sub` (§5.3.2). Claims that describe the
//! authentication event or the token itself ([`ID_TOKEN_ONLY_CLAIMS`]) always
//! come from the ID token.

use crate::discovery::ProviderMetadata;
use crate::http::{HttpRequest, HttpResponse, Method};
use serde_json::{Map, Value};

/// Claims never taken from userinfo. Besides `iss`, `aud`, `sub`, `exp`,
/// `iat`, `nonce`, `azp` and `auth_time`, this covers the other claims about
/// the authentication or the token (`acr`, `amr`, `sid`, `nbf`, `jti`,
/// `at_hash`, `c_hash`), which userinfo has no business changing.
pub const ID_TOKEN_ONLY_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "sub",
    "exp",
    "iat",
    "nonce",
    "azp",
    "auth_time",
    "acr",
    "amr",
    "sid",
    "nbf",
    "jti",
    "at_hash",
    "c_hash",
];

/// Why the userinfo request or response failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserinfoError {
    /// The provider has no userinfo endpoint.
    #[error("the provider has no userinfo endpoint")]
    NoEndpoint,
    /// The endpoint answered with a non-2xx status.
    #[error("the userinfo endpoint answered with HTTP status {0}")]
    Status(u16),
    /// Signed or encrypted (`application/jwt`) userinfo is not supported yet.
    #[error("signed userinfo responses (application/jwt) are not supported")]
    Unsupported,
    /// The body is not a JSON object.
    #[error("the userinfo response is not a JSON object")]
    NotJson,
    /// `sub` is missing, not a string, or differs from the ID token's `sub`.
    /// The userinfo must be discarded; the ID token claims stay valid.
    #[error("the userinfo subject does not match the ID token subject; userinfo discarded")]
    SubjectMismatch,
}

/// A `GET` to the userinfo endpoint with the access token as a Bearer token.
pub fn userinfo_request(
    metadata: &ProviderMetadata,
    access_token: &str,
) -> Result<HttpRequest, UserinfoError> {
    let url = metadata
        .userinfo_endpoint
        .clone()
        .ok_or(UserinfoError::NoEndpoint)?;
    Ok(HttpRequest {
        method: Method::Get,
        url,
        headers: vec![
            ("accept", "application/json".to_owned()),
            ("authorization", format!("Bearer {access_token}")),
        ],
        body: None,
    })
}

/// Validates a userinfo response and merges it over the (already validated)
/// ID token claims. On [`UserinfoError::SubjectMismatch`] the caller keeps
/// the ID token claims alone.
pub fn merge_userinfo(
    id_token_claims: &Map<String, Value>,
    resp: &HttpResponse,
) -> Result<Map<String, Value>, UserinfoError> {
    if !(200..300).contains(&resp.status) {
        return Err(UserinfoError::Status(resp.status));
    }
    let is_jwt = resp.content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/jwt")
    });
    if is_jwt {
        return Err(UserinfoError::Unsupported);
    }
    let userinfo: Map<String, Value> =
        serde_json::from_slice(&resp.body).map_err(|_| UserinfoError::NotJson)?;
    let id_sub = id_token_claims.get("sub").and_then(Value::as_str);
    let ui_sub = userinfo.get("sub").and_then(Value::as_str);
    match (id_sub, ui_sub) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(UserinfoError::SubjectMismatch),
    }
    let mut merged = id_token_claims.clone();
    for (name, value) in userinfo {
        if !ID_TOKEN_ONLY_CLAIMS.contains(&name.as_str()) {
            merged.insert(name, value);
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{json_response, metadata, metadata_with};
    use serde_json::json;

    fn id_claims() -> Map<String, Value> {
        json!({"iss": "https://op.example.com", "sub": "alice", "aud": "my-client",
               "exp": 2_000_000_000u64, "iat": 1_700_000_000u64, "nonce": "n",
               "email": "old@example.com"})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn userinfo_request_sends_bearer_token() {
        let req = userinfo_request(&metadata(), "at-1").unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.url.as_str(), "https://op.example.com/userinfo");
        assert!(
            req.headers
                .contains(&("authorization", "Bearer at-1".to_owned()))
        );
        assert!(!format!("{req:?}").contains("at-1"));
    }

    #[test]
    fn rejects_userinfo_request_without_endpoint() {
        let m = metadata_with(|d| {
            d.as_object_mut().unwrap().remove("userinfo_endpoint");
        });
        assert_eq!(
            userinfo_request(&m, "at").unwrap_err(),
            UserinfoError::NoEndpoint
        );
    }

    #[test]
    fn merges_userinfo_over_id_token_claims() {
        let resp = json_response(
            200,
            &json!({"sub": "alice", "email": "new@example.com", "name": "Alice"}),
        );
        let merged = merge_userinfo(&id_claims(), &resp).unwrap();
        assert_eq!(merged["email"], "new@example.com");
        assert_eq!(merged["name"], "Alice");
        assert_eq!(merged["nonce"], "n");
    }

    #[test]
    fn id_token_only_claims_are_never_overridden_by_userinfo() {
        let resp = json_response(
            200,
            &json!({"sub": "alice", "iss": "https://evil", "aud": "other", "exp": 1,
                    "iat": 1, "nonce": "x", "azp": "other", "auth_time": 1, "acr": "evil"}),
        );
        let merged = merge_userinfo(&id_claims(), &resp).unwrap();
        assert_eq!(merged["iss"], "https://op.example.com");
        assert_eq!(merged["aud"], "my-client");
        assert_eq!(merged["exp"], 2_000_000_000u64);
        assert_eq!(merged["nonce"], "n");
        assert!(!merged.contains_key("azp"));
        assert!(!merged.contains_key("auth_time"));
        assert!(!merged.contains_key("acr"));
    }

    #[test]
    fn discards_userinfo_when_sub_differs() {
        let resp = json_response(200, &json!({"sub": "mallory", "email": "m@example.com"}));
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::SubjectMismatch
        );
    }

    #[test]
    fn discards_userinfo_without_sub() {
        let resp = json_response(200, &json!({"email": "m@example.com"}));
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::SubjectMismatch
        );
        let resp = json_response(200, &json!({"sub": 42}));
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::SubjectMismatch
        );
    }

    #[test]
    fn rejects_non_2xx_userinfo() {
        let resp = json_response(401, &json!({"error": "invalid_token"}));
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::Status(401)
        );
    }

    #[test]
    fn rejects_signed_userinfo_as_unsupported() {
        let resp = HttpResponse {
            status: 200,
            content_type: Some("application/jwt; charset=utf-8".into()),
            body: b"eyJ.eyJ.sig".to_vec(),
        };
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::Unsupported
        );
    }

    #[test]
    fn rejects_userinfo_that_is_not_a_json_object() {
        let resp = json_response(200, &json!(["alice"]));
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::NotJson
        );
        let resp = HttpResponse {
            status: 200,
            content_type: Some("text/html".into()),
            body: b"<html>".to_vec(),
        };
        assert_eq!(
            merge_userinfo(&id_claims(), &resp).unwrap_err(),
            UserinfoError::NotJson
        );
    }
}
