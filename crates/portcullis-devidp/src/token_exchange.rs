//! The token exchange grant (RFC 8693): a client swaps an access token this
//! OP issued to it for one with another audience (`audience`, or `resource`
//! per RFC 8707) and an equal or narrower scope.

use serde_json::{Value, json};

use crate::DevClient;
use crate::SigningAlg;
use crate::server::{OAuthError, Params, Shared, now_unix, random_token, verify_access_token};

/// The grant type.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The access token type identifier.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Answers a token exchange request of `client`.
pub(crate) fn grant(s: &Shared, client: &DevClient, params: &Params) -> Result<Value, OAuthError> {
    let subject = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "subject_token is missing"))?;
    if params.get("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::new(
            "invalid_request",
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::new(
            "invalid_request",
            "only access tokens can be requested",
        ));
    }
    let claims = verify_access_token(s, subject).ok_or_else(|| {
        OAuthError::new(
            "invalid_grant",
            "subject_token is invalid, expired or revoked",
        )
    })?;
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(OAuthError::new(
            "invalid_grant",
            "subject_token was issued to another client",
        ));
    }
    let audience = match (params.get("audience"), params.get("resource")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "send audience or resource, not both",
            ));
        }
        (Some(a), None) => a.to_owned(),
        (None, Some(r)) => {
            if url::Url::parse(r).is_err() {
                return Err(OAuthError::new(
                    "invalid_target",
                    "resource must be an absolute URI",
                ));
            }
            r.to_owned()
        }
        (None, None) => claims
            .get("aud")
            .and_then(Value::as_str)
            .unwrap_or(&client.client_id)
            .to_owned(),
    };
    let granted: Vec<&str> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(' ')
        .filter(|x| !x.is_empty())
        .collect();
    let scope: Vec<&str> = match params.get("scope") {
        None => granted.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|x| !x.is_empty()).collect();
            if let Some(extra) = requested.iter().find(|r| !granted.contains(r)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope {extra:?} exceeds the subject token's scope"),
                ));
            }
            requested
        }
    };
    let now = now_unix();
    let subject_exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(now);
    let exp = subject_exp.min(now + s.access_token_ttl);
    let scope = scope.join(" ");
    let mut at = json!({
        "iss": s.issuer,
        "sub": claims.get("sub").cloned().unwrap_or(Value::Null),
        "aud": audience,
        "client_id": client.client_id,
        "scope": scope,
        "iat": now,
        "exp": exp,
        "jti": random_token().map_err(|e| OAuthError::internal(&e))?,
        "act": {"sub": client.client_id},
    });
    for name in ["sid", "auth_time", "acr"] {
        if let Some(v) = claims.get(name) {
            at[name] = v.clone();
        }
    }
    let token = s
        .keys
        .sign(SigningAlg::RS256, "at+jwt", &at)
        .map_err(|e| OAuthError::internal(&e))?;
    Ok(json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": exp.saturating_sub(now),
        "scope": scope,
    }))
}
