//! PKCE (RFC 7636) with the `S256` method only.
//!
//! `plain` is never offered: it protects nothing against an attacker who can
//! read the authorization request.

use crate::random::random_token;
use crate::secret::Secret;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The only code challenge method Portcullis uses.
pub const CODE_CHALLENGE_METHOD: &str = "S256";

/// A PKCE code verifier and its `S256` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkcePair {
    /// The `code_verifier`: kept by the client, sent only to the token endpoint.
    pub verifier: Secret,
    /// The `code_challenge`: `BASE64URL(SHA256(verifier))`, sent in the
    /// authorization request.
    pub challenge: String,
}

impl PkcePair {
    /// Generates a verifier from 32 random bytes (43 base64url characters,
    /// the RFC 7636 §4.1 recommendation) and its `S256` challenge.
    pub fn generate() -> Self {
        Self::from_verifier(Secret::new(random_token(32)))
    }

    /// Builds the pair for an existing verifier.
    pub fn from_verifier(verifier: Secret) -> Self {
        let challenge = s256_challenge(verifier.expose());
        Self {
            verifier,
            challenge,
        }
    }

    /// The `code_challenge_method` value: always `S256`.
    pub fn method(&self) -> &'static str {
        CODE_CHALLENGE_METHOD
    }
}

/// The `S256` code challenge for `verifier`: `BASE64URL(SHA256(ASCII(verifier)))`.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_verifier_meets_rfc7636_length_and_charset() {
        let pair = PkcePair::generate();
        let v = pair.verifier.expose();
        assert!((43..=128).contains(&v.len()));
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_eq!(pair.challenge, s256_challenge(v));
        assert_eq!(pair.method(), "S256");
    }

    #[test]
    fn generated_verifiers_are_unique() {
        assert_ne!(PkcePair::generate().verifier, PkcePair::generate().verifier);
    }

    #[test]
    fn debug_of_pkce_pair_redacts_verifier() {
        let pair = PkcePair::from_verifier(Secret::new("very-secret-verifier"));
        let dbg = format!("{pair:?}");
        assert!(!dbg.contains("very-secret-verifier"));
        assert!(dbg.contains(&pair.challenge));
    }
}
