//! The bearer request path on arbitrary bytes: the bytes before the first
//! NUL are `Authorization` header values (one per line), the rest is a
//! query string. Every bearer token the header or query parser hands out
//! is validated as a JWT access token (strict and lenient `typ`) against
//! the fixed JWKS, and the invariants are asserted: a parsed token is one
//! token68 taken from the input, and an accepted token has the right
//! issuer, audience and expiry and is neither an ID nor a logout token.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis_core::access_token::{
    AccessTokenExpectations, BearerHeader, TypPolicy, bearer_token_from_headers,
    bearer_token_from_query, looks_like_jwt, unverified_issuer, validate_access_token,
};
use portcullis_core::jose::Algorithm;
use portcullis_fuzz::{ISSUER, NOW, SKEW, jwks};

const API: &str = "https://api.example.com";

fn check_token(token: &str) {
    assert!(!token.is_empty());
    assert!(!token.contains([' ', '\t', '\r', '\n', ',', '"']));
    let _ = looks_like_jwt(token);
    let _ = unverified_issuer(token);
    let audiences = [API.to_owned()];
    for typ in [TypPolicy::Strict, TypPolicy::AllowJwt] {
        let expectations = AccessTokenExpectations {
            issuer: ISSUER,
            audiences: &audiences,
            allowed_algs: &Algorithm::ASYMMETRIC,
            typ,
            now: NOW,
            skew_secs: SKEW,
        };
        match validate_access_token(token, jwks(), &expectations) {
            Ok(claims) => {
                assert_eq!(claims.iss, ISSUER);
                assert!(claims.aud.iter().any(|a| a == API));
                assert!(NOW < claims.exp + SKEW);
                assert!(!claims.sub.is_empty());
                for forbidden in ["nonce", "at_hash", "c_hash", "events"] {
                    assert!(!claims.claims.contains_key(forbidden), "{forbidden}");
                }
            }
            Err(e) => {
                let shown = e.to_string();
                assert!(token.len() < 16 || !shown.contains(token));
                let _ = e.code();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (headers, query) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let values: Vec<&[u8]> = headers.split(|b| *b == b'\n').take(3).collect();
    if let Ok(BearerHeader::Bearer(token)) = bearer_token_from_headers(values.iter().copied()) {
        assert_eq!(values.len(), 1, "several headers are never accepted");
        check_token(token);
    }
    if let Some(query) = query {
        let query = String::from_utf8_lossy(query);
        if let Ok(Some(token)) = bearer_token_from_query(&query) {
            check_token(&token);
        }
    }
});
