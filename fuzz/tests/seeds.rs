//! The seeds are what the fuzzers start from: the valid ones must really
//! validate against the fixed JWKS and client (so mutation starts next to
//! the accepting paths), and the hostile ones must be rejected for the
//! intended reason. Run with `cargo test` in fuzz/ (not instrumented).

use std::fs;
use std::path::Path;

use portcullis_core::jose::{JwsError, verify_jws};
use portcullis_core::logout_token::{LogoutTokenError, validate_logout_token};
use portcullis_fuzz::{check_logout_result, jwks, logout_expectations, policy};

fn seed(target: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target)
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validate(name: &str) -> Result<(), LogoutTokenError> {
    let token = seed("logout_token", name);
    let result = validate_logout_token(&token, jwks(), &logout_expectations());
    check_logout_result(&token, None, &result);
    result.map(|_| ())
}

#[test]
fn valid_logout_token_seeds_validate_with_every_key_type() {
    for name in [
        "logout-hs256",
        "logout-rs256",
        "logout-ps256",
        "logout-es256",
        "logout-eddsa-sid-only",
    ] {
        validate(name).unwrap_or_else(|e| panic!("{name}: {e} ({})", e.code()));
    }
}

#[test]
fn hostile_logout_token_seeds_are_rejected_for_their_rule() {
    assert_eq!(
        validate("logout-unknown-kid"),
        Err(LogoutTokenError::UnknownKid)
    );
    assert_eq!(
        validate("logout-crit"),
        Err(LogoutTokenError::Jws(JwsError::CritHeader))
    );
    assert_eq!(
        validate("logout-alg-none"),
        Err(LogoutTokenError::Jws(JwsError::AlgNone))
    );
    assert_eq!(
        validate("id-token-rs256"),
        Err(LogoutTokenError::MissingClaim("events"))
    );
}

#[test]
fn jws_compact_seeds_verify() {
    let token = seed("jws_compact", "id-token-rs256");
    assert!(verify_jws(&token, jwks(), &policy()).is_ok());
}

#[test]
fn jwks_seed_is_the_fixed_jwks() {
    let doc = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/jwks/jwks")).unwrap();
    let parsed = portcullis_core::jose::Jwks::from_json(&doc).unwrap();
    assert_eq!(parsed.len(), jwks().len());
    assert_eq!(parsed.skipped(), 0);
}
