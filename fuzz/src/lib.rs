//! Shared fixtures for the Portcullis fuzz targets: the fixed JWKS, client
//! and clock the targets validate against, and the invariants every
//! accepted token must satisfy (checked with `assert!`, so a violated rule
//! is reported by the fuzzer as a crash).
//!
//! The JWKS and the seed inputs in `seeds/` are made together by
//! `tools/make-seeds.py`; the constants here must match that script.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use portcullis_core::Secret;
use portcullis_core::jose::{Algorithm, Jwks, JwsPolicy};
use portcullis_core::logout_token::{LogoutTokenClaims, LogoutTokenError, LogoutTokenExpectations};

/// The fixed clock, unix seconds.
pub const NOW: u64 = 1_700_000_000;
/// The fixed issuer.
pub const ISSUER: &str = "https://op.example.com";
/// The fixed client id.
pub const CLIENT_ID: &str = "fuzz-client";
/// The fixed client secret (the HS* key).
pub const CLIENT_SECRET: &str = "fuzz-client-secret-of-32-bytes!!";
/// The fixed clock skew.
pub const SKEW: u64 = 60;
/// Every algorithm, HMAC included, so every verification path is reachable.
pub const ALL_ALGS: [Algorithm; 12] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// The fixed JWKS document: an RSA, a P-256 and an Ed25519 public key.
pub const JWKS_JSON: &str = include_str!("jwks.json");

/// The fixed JWKS, parsed once.
pub fn jwks() -> &'static Jwks {
    static JWKS: OnceLock<Jwks> = OnceLock::new();
    JWKS.get_or_init(|| Jwks::from_json(JWKS_JSON.as_bytes()).expect("src/jwks.json parses"))
}

/// The fixed client secret.
pub fn client_secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| Secret::new(CLIENT_SECRET))
}

/// The JWS policy of the fixed client.
pub fn policy() -> JwsPolicy<'static> {
    JwsPolicy {
        allowed_algs: &ALL_ALGS,
        client_secret: Some(client_secret()),
    }
}

/// The logout token expectations of the fixed client.
pub fn logout_expectations() -> LogoutTokenExpectations<'static> {
    LogoutTokenExpectations {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        client_secret: Some(client_secret()),
        allowed_algs: &ALL_ALGS,
        now: NOW,
        skew_secs: SKEW,
    }
}

/// Inputs shorter than this are not checked for being echoed by an error.
const MIN_ECHO_CHECK_LEN: usize = 32;

/// The invariants of a `validate_logout_token` result: an accepted token
/// satisfies every BCL §2.6 rule, and an error's texts never contain the
/// token.
pub fn check_logout_result(
    token: &str,
    payload: Option<&serde_json::Map<String, serde_json::Value>>,
    result: &Result<LogoutTokenClaims, LogoutTokenError>,
) {
    match result {
        Ok(claims) => {
            assert_eq!(claims.iss, ISSUER);
            assert!(!claims.aud.is_empty());
            assert!(claims.aud.iter().all(|a| a == CLIENT_ID));
            assert!(!claims.jti.is_empty());
            assert!(claims.sub.is_some() || claims.sid.is_some());
            assert!(claims.sub.as_deref() != Some(""));
            assert!(claims.sid.as_deref() != Some(""));
            assert!(NOW < claims.exp.saturating_add(SKEW));
            assert!(claims.iat <= NOW + SKEW);
            if let Some(payload) = payload {
                assert!(!payload.contains_key("nonce"));
                let events = payload["events"].as_object().expect("events is an object");
                assert!(
                    events[portcullis_core::logout_token::BACKCHANNEL_LOGOUT_EVENT].is_object()
                );
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?} {}", e.code());
            assert!(!e.code().is_empty());
            // A short input can occur in a message by coincidence ("J" in
            // "JWKS"); a real token is far longer than any fixed text.
            if token.len() >= MIN_ECHO_CHECK_LEN {
                assert!(!shown.contains(token), "an error echoes the token");
            }
            let _ = e.is_unknown_kid();
            let _ = std::error::Error::source(e).map(ToString::to_string);
        }
    }
}
