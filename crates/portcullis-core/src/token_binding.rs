//! What binds an ID token to the rest of its response, and to what was asked:
//! `at_hash` (Core §3.1.3.8, the access token), `c_hash` (Core §3.3.2.11, the
//! code) and an essential `acr` (Core §5.5.1.1).
//!
//! A hash claim is the base64url encoding of the left half of the hash of
//! the token's ASCII bytes, with the hash of the ID token's `alg` (SHA-256
//! for `*256`, SHA-384 for `*384`, SHA-512 for `*512` and for `EdDSA` with
//! Ed25519). In the code flow both claims are optional; when present they
//! must match. A claim of the wrong JSON type is rejected.

use aws_lc_rs::digest::{SHA256, SHA384, SHA512, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::id_token::IdTokenClaims;
use crate::jose::Algorithm;

/// Why an ID token does not match its response or what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenBindingError {
    /// `at_hash` is present and does not match the access token.
    #[error("ID token at_hash does not match the access token")]
    AtHashMismatch,
    /// `c_hash` is present and does not match the authorization code.
    #[error("ID token c_hash does not match the authorization code")]
    CHashMismatch,
    /// A hash claim is not a string.
    #[error("ID token claim {0} has the wrong JSON type")]
    WrongClaimType(&'static str),
    /// An `acr` was requested as essential and the token has none.
    #[error("ID token has no acr, and one of the requested acr values is required")]
    AcrMissing,
    /// The token's `acr` is not one of the values requested as essential.
    #[error("ID token acr {0:?} is not one of the required values")]
    AcrNotAllowed(String),
}

/// The `at_hash`/`c_hash` value of `token` for an ID token signed with `alg`.
pub fn token_hash(alg: Algorithm, token: &str) -> String {
    let algorithm = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => &SHA384,
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => &SHA512,
        _ => &SHA256,
    };
    let hash = digest(algorithm, token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

fn check_hash(
    claims: &IdTokenClaims,
    name: &'static str,
    token: &str,
    mismatch: TokenBindingError,
) -> Result<(), TokenBindingError> {
    match claims.claims.get(name) {
        None => Ok(()),
        Some(Value::String(value)) => {
            let expected = token_hash(claims.alg, token);
            if bool::from(value.as_bytes().ct_eq(expected.as_bytes())) {
                Ok(())
            } else {
                Err(mismatch)
            }
        }
        Some(_) => Err(TokenBindingError::WrongClaimType(name)),
    }
}

/// Checks `at_hash` against `access_token` and `c_hash` against `code`,
/// each when the claim is present.
pub fn check_token_hashes(
    claims: &IdTokenClaims,
    access_token: Option<&str>,
    code: Option<&str>,
) -> Result<(), TokenBindingError> {
    if let Some(token) = access_token {
        check_hash(claims, "at_hash", token, TokenBindingError::AtHashMismatch)?;
    }
    if let Some(code) = code {
        check_hash(claims, "c_hash", code, TokenBindingError::CHashMismatch)?;
    }
    Ok(())
}

/// Checks that the token's `acr` is one of `required` (the values requested
/// as essential). An empty `required` asks for nothing.
pub fn check_acr(claims: &IdTokenClaims, required: &[String]) -> Result<(), TokenBindingError> {
    if required.is_empty() {
        return Ok(());
    }
    match claims.claims.get("acr") {
        None => Err(TokenBindingError::AcrMissing),
        Some(Value::String(acr)) if required.iter().any(|r| r == acr) => Ok(()),
        Some(Value::String(acr)) => Err(TokenBindingError::AcrNotAllowed(
            acr.chars().take(64).collect(),
        )),
        Some(_) => Err(TokenBindingError::WrongClaimType("acr")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn claims_with(alg: Algorithm, extra: Value) -> IdTokenClaims {
        let Value::Object(claims) = extra else {
            unreachable!("an object")
        };
        IdTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: vec!["c".into()],
            azp: None,
            exp: 0,
            iat: 0,
            nonce: None,
            auth_time: None,
            sid: None,
            alg,
            claims,
        }
    }

    #[test]
    fn hashes_match_an_independent_implementation() {
        // c_hash of the code in OpenID Connect Core's hybrid-flow example
        // (Appendix A.4), and values computed with Python's hashlib
        // (left half of the digest, base64url without padding).
        assert_eq!(
            token_hash(
                Algorithm::RS256,
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        assert_eq!(
            token_hash(Algorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnG9TtBDc3"),
            "JAFhoBIlvbnNl5sgc-woqg"
        );
        assert_eq!(
            token_hash(Algorithm::ES384, "access"),
            "SeGOaEgS6QNKbB7vkLM3y8nujeY4Ple3"
        );
        assert_eq!(
            token_hash(Algorithm::EdDSA, "access"),
            "kyd4-h3ZoV2sH212kLKbcOnCBajStKQ38Ae_bfT-PFI"
        );
    }

    #[test]
    fn the_hash_follows_the_signature_algorithm() {
        assert_eq!(token_hash(Algorithm::ES384, "t").len(), 32, "24 bytes");
        assert_eq!(token_hash(Algorithm::EdDSA, "t").len(), 43, "32 bytes");
        assert_eq!(
            token_hash(Algorithm::EdDSA, "t"),
            token_hash(Algorithm::RS512, "t")
        );
    }

    #[test]
    fn present_hashes_must_match_absent_ones_pass() {
        let at = token_hash(Algorithm::ES256, "access");
        let c = token_hash(Algorithm::ES256, "code");
        let claims = claims_with(Algorithm::ES256, json!({"at_hash": at, "c_hash": c}));
        assert_eq!(
            check_token_hashes(&claims, Some("access"), Some("code")),
            Ok(())
        );
        assert_eq!(
            check_token_hashes(&claims, Some("other"), Some("code")),
            Err(TokenBindingError::AtHashMismatch)
        );
        assert_eq!(
            check_token_hashes(&claims, Some("access"), Some("other")),
            Err(TokenBindingError::CHashMismatch)
        );
        let none = claims_with(Algorithm::ES256, Value::Object(Map::new()));
        assert_eq!(check_token_hashes(&none, Some("x"), Some("y")), Ok(()));
        let wrong = claims_with(Algorithm::ES256, json!({"at_hash": 5}));
        assert_eq!(
            check_token_hashes(&wrong, Some("x"), None),
            Err(TokenBindingError::WrongClaimType("at_hash"))
        );
        // A hash of the right token under another algorithm is a mismatch.
        let other_alg = claims_with(
            Algorithm::ES256,
            json!({"at_hash": token_hash(Algorithm::ES384, "access")}),
        );
        assert_eq!(
            check_token_hashes(&other_alg, Some("access"), None),
            Err(TokenBindingError::AtHashMismatch)
        );
    }

    #[test]
    fn an_essential_acr_must_be_one_of_the_requested_values() {
        let required = vec!["urn:mfa".to_owned(), "urn:hwk".to_owned()];
        let ok = claims_with(Algorithm::RS256, json!({"acr": "urn:hwk"}));
        assert_eq!(check_acr(&ok, &required), Ok(()));
        let weak = claims_with(Algorithm::RS256, json!({"acr": "urn:pwd"}));
        assert_eq!(
            check_acr(&weak, &required),
            Err(TokenBindingError::AcrNotAllowed("urn:pwd".into()))
        );
        let none = claims_with(Algorithm::RS256, json!({}));
        assert_eq!(
            check_acr(&none, &required),
            Err(TokenBindingError::AcrMissing)
        );
        assert_eq!(check_acr(&none, &[]), Ok(()), "nothing required");
        let wrong = claims_with(Algorithm::RS256, json!({"acr": ["urn:mfa"]}));
        assert_eq!(
            check_acr(&wrong, &required),
            Err(TokenBindingError::WrongClaimType("acr"))
        );
    }
}
