//! The userinfo endpoint (OpenID Connect Core §5.3).
//!
//! Userinfo claims are merged over the ID token claims only when the
//! userinfo `sub` equals the ID token `sub` (§5.3.2). Claims that describe the
//! authentication event or the token itself ([`ID_TOKEN_ONLY_CLAIMS`]) always
//! come from the ID token.

use crate::discovery::ProviderMetadata;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::jose::{Algorithm, Jwks, JwsError, JwsPolicy, verify_jws};
use crate::secret::Secret;
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
    /// Encrypted (JWE) userinfo is not supported.
    #[error(
        "encrypted userinfo responses (JWE) are not supported; register the client for signed or plain userinfo"
    )]
    Unsupported,
    /// Signed userinfo handed to [`merge_userinfo`], which has no keys.
    #[error("signed userinfo must be verified with the OP's keys first")]
    SignedNeedsKeys,
    /// The `kid` of signed userinfo is not in the JWKS: refetch and retry once.
    #[error("the signed userinfo's kid is not in the JWKS")]
    UnknownKid,
    /// The signature or header of signed userinfo was rejected.
    #[error("the signed userinfo was rejected: {0}")]
    Signature(JwsError),
    /// Signed userinfo without this OP's `iss` or this client in `aud`, or
    /// already expired.
    #[error("the signed userinfo is not from this issuer for this client ({0})")]
    WrongClaims(&'static str),
    /// The body is not a JSON object.
    #[error("the userinfo response is not a JSON object")]
    NotJson,
    /// `sub` is missing, not a string, or differs from the ID token's `sub`.
    /// The userinfo must be discarded; the ID token claims stay valid.
    #[error("the userinfo subject does not match the ID token subject; userinfo discarded")]
    SubjectMismatch,
}

impl UserinfoError {
    /// True if refetching the JWKS might make signed userinfo valid.
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, UserinfoError::UnknownKid)
    }
}

/// A userinfo body, before its claims are trusted.
#[derive(Debug, Clone, PartialEq)]
pub enum UserinfoBody {
    /// A plain JSON object.
    Json(Map<String, Value>),
    /// A signed JWT (`application/jwt`): verify it with
    /// [`verify_signed_userinfo`].
    Signed(String),
}

/// What signed userinfo is verified against.
#[derive(Debug, Clone, Copy)]
pub struct SignedUserinfoExpectations<'a> {
    /// The issuer: `iss` must equal it.
    pub issuer: &'a str,
    /// This client: `aud` must contain it.
    pub client_id: &'a str,
    /// The client secret, the only key for `HS*`.
    pub client_secret: Option<&'a Secret>,
    /// Accepted signature algorithms.
    pub allowed_algs: &'a [Algorithm],
    /// The current time (an `exp`, when present, must be in the future).
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew_secs: u64,
}

/// Reads a userinfo response: a JSON object, or a signed JWT when the OP
/// answered `application/jwt`. Encrypted (five-part) tokens are refused.
pub fn userinfo_body(resp: &HttpResponse) -> Result<UserinfoBody, UserinfoError> {
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
        let text = std::str::from_utf8(&resp.body)
            .map_err(|_| UserinfoError::NotJson)?
            .trim();
        return match text.matches('.').count() {
            2 => Ok(UserinfoBody::Signed(text.to_owned())),
            _ => Err(UserinfoError::Unsupported),
        };
    }
    serde_json::from_slice(&resp.body)
        .map(UserinfoBody::Json)
        .map_err(|_| UserinfoError::NotJson)
}

/// Verifies signed userinfo (Core §5.3.2): the signature with the OP's keys
/// (an allowed `alg`, never `none`), `iss` equal to the issuer, `aud`
/// containing this client, and an `exp`, when present, not past. Returns
/// its claims (still to be merged with [`merge_userinfo_claims`]).
pub fn verify_signed_userinfo(
    token: &str,
    jwks: &Jwks,
    exp: &SignedUserinfoExpectations<'_>,
) -> Result<Map<String, Value>, UserinfoError> {
    let policy = JwsPolicy {
        allowed_algs: exp.allowed_algs,
        client_secret: exp.client_secret,
    };
    let verified = verify_jws(token, jwks, &policy).map_err(|e| match e {
        JwsError::UnknownKid => UserinfoError::UnknownKid,
        other => UserinfoError::Signature(other),
    })?;
    let claims = verified.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(exp.issuer) {
        return Err(UserinfoError::WrongClaims("iss"));
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == exp.client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(exp.client_id)),
        _ => false,
    };
    if !for_us {
        return Err(UserinfoError::WrongClaims("aud"));
    }
    match claims.get("exp") {
        None => {}
        Some(Value::Number(n))
            if n.as_u64()
                .is_some_and(|e| exp.now < e.saturating_add(exp.skew_secs)) => {}
        Some(_) => return Err(UserinfoError::WrongClaims("exp")),
    }
    Ok(claims)
}

/// Merges userinfo claims over the (already validated) ID token claims when
/// the `sub`s are equal; claims about the authentication or the token
/// ([`ID_TOKEN_ONLY_CLAIMS`]) stay the ID token's.
pub fn merge_userinfo_claims(
    id_token_claims: &Map<String, Value>,
    userinfo: Map<String, Value>,
) -> Result<Map<String, Value>, UserinfoError> {
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
            ("accept", "application/json, application/jwt".to_owned()),
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
    match userinfo_body(resp)? {
        UserinfoBody::Json(userinfo) => merge_userinfo_claims(id_token_claims, userinfo),
        // A signed body needs the OP's keys: see `verify_signed_userinfo`.
        UserinfoBody::Signed(_) => Err(UserinfoError::SignedNeedsKeys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{json_response, metadata, metadata_with};
    use crate::jose::test_keys::{key_for, sign, standard_jwks};
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

    fn jwt_response(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            content_type: Some("application/jwt; charset=utf-8".into()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn signed_userinfo_is_read_as_a_jwt_and_encrypted_is_refused() {
        assert_eq!(
            userinfo_body(&jwt_response("eyJ.eyJ.sig\n")).unwrap(),
            UserinfoBody::Signed("eyJ.eyJ.sig".into())
        );
        assert_eq!(
            userinfo_body(&jwt_response("a.b.c.d.e")).unwrap_err(),
            UserinfoError::Unsupported
        );
        assert_eq!(
            merge_userinfo(&id_claims(), &jwt_response("eyJ.eyJ.sig")).unwrap_err(),
            UserinfoError::SignedNeedsKeys
        );
    }

    fn expectations(algs: &[Algorithm]) -> SignedUserinfoExpectations<'_> {
        SignedUserinfoExpectations {
            issuer: "https://op.example.com",
            client_id: "my-client",
            client_secret: None,
            allowed_algs: algs,
            now: 1_800_000_000,
            skew_secs: 60,
        }
    }

    fn signed(claims: &Value, alg: Algorithm) -> String {
        let (key, kid) = key_for(alg);
        sign(claims, &key.encoding, alg, Some(kid))
    }

    #[test]
    fn signed_userinfo_is_verified_and_merged() {
        let token = signed(
            &json!({"iss": "https://op.example.com", "aud": "my-client", "sub": "alice",
                    "email": "new@example.com"}),
            Algorithm::ES256,
        );
        let claims = verify_signed_userinfo(
            &token,
            &standard_jwks(),
            &expectations(&Algorithm::ASYMMETRIC),
        )
        .unwrap();
        let merged = merge_userinfo_claims(&id_claims(), claims).unwrap();
        assert_eq!(merged["email"], "new@example.com");
        assert_eq!(merged["iss"], "https://op.example.com");
    }

    #[test]
    fn signed_userinfo_from_elsewhere_or_for_another_client_is_rejected() {
        let jwks = standard_jwks();
        let algs = Algorithm::ASYMMETRIC;
        for (claims, reason) in [
            (
                json!({"iss": "https://evil", "aud": "my-client", "sub": "alice"}),
                "iss",
            ),
            (json!({"aud": "my-client", "sub": "alice"}), "iss"),
            (
                json!({"iss": "https://op.example.com", "aud": "other", "sub": "alice"}),
                "aud",
            ),
            (
                json!({"iss": "https://op.example.com", "sub": "alice"}),
                "aud",
            ),
            (
                json!({"iss": "https://op.example.com", "aud": ["my-client"], "sub": "alice",
                       "exp": 1_700_000_000u64}),
                "exp",
            ),
        ] {
            let token = signed(&claims, Algorithm::RS256);
            assert_eq!(
                verify_signed_userinfo(&token, &jwks, &expectations(&algs)).unwrap_err(),
                UserinfoError::WrongClaims(reason),
                "{claims}"
            );
        }
        // A forged signature, and an algorithm that is not allowed.
        let good = signed(
            &json!({"iss": "https://op.example.com", "aud": "my-client", "sub": "alice"}),
            Algorithm::RS256,
        );
        let forged = format!("{}AAAA", &good[..good.len() - 4]);
        assert!(matches!(
            verify_signed_userinfo(&forged, &jwks, &expectations(&algs)),
            Err(UserinfoError::Signature(_))
        ));
        assert!(matches!(
            verify_signed_userinfo(&good, &jwks, &expectations(&[Algorithm::ES256])),
            Err(UserinfoError::Signature(_))
        ));
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
