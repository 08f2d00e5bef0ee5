//! Compact JWS verification (RFC 7515) with Portcullis's header rules.
//!
//! The header and payload are parsed here, as JSON, so that every rule is
//! ours and explicit; the signature itself is checked by `jsonwebtoken`
//! (`jsonwebtoken::crypto::verify`, aws-lc-rs backend), never by hand. We do
//! not call `jsonwebtoken::decode`: it would parse the header and claims a
//! second time with a different parser and apply claim checks against the
//! system clock, while the token rules here use an injected clock.
//!
//! Header rules, in order:
//! - the token is at most [`MAX_JWS_LEN`] bytes and exactly three
//!   base64url (unpadded) segments;
//! - the header is a JSON object with a string `alg`; `none` is never
//!   accepted, and `alg` must be on the caller's allowlist; `HS*` also needs
//!   a (non-empty) client secret, which is then its only key;
//! - `jwk`, `jku`, `x5u` and `x5c` are **rejected** (not ignored): keys come
//!   only from the configured JWKS, and a token that tries to bring its own
//!   key is treated as hostile;
//! - any `crit` is rejected (we understand no extensions), and so is any
//!   `b64` other than `true` (RFC 7797 unencoded payloads);
//! - `kid` and `typ`, if present, must be strings.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::Algorithm;
use super::jwks::{Jwks, KeySelectionError};
use crate::secret::Secret;

/// The largest compact JWS accepted, in bytes (16 KiB).
pub const MAX_JWS_LEN: usize = 16 * 1024;

/// Header parameters that would let a token pick its own verification key.
const FORBIDDEN_HEADER_PARAMS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Why a JWS was rejected. The Display text never includes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// The token is longer than [`MAX_JWS_LEN`].
    #[error("token is larger than {MAX_JWS_LEN} bytes")]
    TooLarge,
    /// The token is not exactly three dot-separated segments.
    #[error("token is not a compact JWS of three segments")]
    Malformed,
    /// A segment is not unpadded base64url.
    #[error("token {0} segment is not valid base64url")]
    InvalidBase64(&'static str),
    /// The header is not a JSON object.
    #[error("token header is not a JSON object")]
    InvalidHeader,
    /// The header has no string `alg`.
    #[error("token header has no alg")]
    MissingAlg,
    /// `alg` is `none`.
    #[error("unsigned tokens (alg none) are never accepted")]
    AlgNone,
    /// `alg` is not an algorithm Portcullis knows.
    #[error("token alg is not a supported algorithm")]
    UnsupportedAlg,
    /// `alg` is known but not on the caller's allowlist.
    #[error("token alg {0} is not allowed")]
    AlgNotAllowed(Algorithm),
    /// `alg` is HMAC but no client secret is configured.
    #[error("token alg {0} needs a client secret, and none is configured")]
    HmacWithoutSecret(Algorithm),
    /// The header carries a key or a key reference (`jwk`, `jku`, `x5u`, `x5c`).
    #[error("token header parameter {0} is not accepted: keys come only from the configured JWKS")]
    EmbeddedKey(&'static str),
    /// The header has a `crit` parameter.
    #[error("token header has crit extensions, which are not supported")]
    CritHeader,
    /// The header asks for an unencoded payload (`b64` other than `true`).
    #[error("token header b64 is not supported")]
    UnencodedPayload,
    /// The header `kid` is not a string.
    #[error("token header kid is not a string")]
    InvalidKid,
    /// The header `typ` is not a string.
    #[error("token header typ is not a string")]
    InvalidTyp,
    /// The token names a `kid` the JWKS does not hold; refetch the JWKS
    /// (subject to [`super::JwksRefreshPolicy`]) and retry once.
    #[error("no key in the JWKS has the token's kid")]
    UnknownKid,
    /// The JWKS holds no key of the type `alg` needs.
    #[error("no key in the JWKS is usable with alg {0}")]
    NoCompatibleKey(Algorithm),
    /// Too many keys would have to be tried (no unique `kid`).
    #[error("too many candidate keys in the JWKS for a token without a unique kid")]
    TooManyCandidateKeys,
    /// No candidate key verifies the signature.
    #[error("token signature is invalid")]
    InvalidSignature,
    /// The signed payload is not a JSON object.
    #[error("token payload is not a JSON object")]
    InvalidPayload,
}

/// The verifier's inputs besides the token and the JWKS.
#[derive(Debug, Clone, Copy)]
pub struct JwsPolicy<'a> {
    /// The algorithms accepted. `HS*` entries only work with `client_secret`.
    pub allowed_algs: &'a [Algorithm],
    /// The client secret, the only key for `HS*`.
    pub client_secret: Option<&'a Secret>,
}

/// A JWS whose header passed the rules and whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJws {
    /// The algorithm it was signed with.
    pub alg: Algorithm,
    /// The `kid` header, if any.
    pub kid: Option<String>,
    /// The `typ` header, if any (logout tokens check it).
    pub typ: Option<String>,
    /// The payload, parsed as a JSON object. Not yet validated as claims.
    pub claims: Map<String, Value>,
}

/// Verifies a compact JWS against the JWKS (or, for `HS*`, the client
/// secret) and returns its payload as a JSON object.
///
/// This checks the header rules and the signature only; claims such as
/// `iss`, `aud` and `exp` are the caller's job (see
/// [`crate::id_token::validate_id_token`]).
///
/// ```no_run
/// use portcullis_core::jose::{verify_jws, Algorithm, Jwks, JwsPolicy};
/// # let (token, jwks_bytes): (&str, &[u8]) = ("", b"");
/// let jwks = Jwks::from_json(jwks_bytes)?;
/// let policy = JwsPolicy { allowed_algs: &Algorithm::ASYMMETRIC, client_secret: None };
/// let verified = verify_jws(token, &jwks, &policy)?;
/// println!("signed with {}", verified.alg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_jws(
    token: &str,
    jwks: &Jwks,
    policy: &JwsPolicy<'_>,
) -> Result<VerifiedJws, JwsError> {
    let Compact {
        header,
        payload,
        signature,
        signing_input,
        signature_b64,
    } = split_compact(token)?;
    let alg = check_header(&header, policy)?;
    if signature.is_empty() {
        return Err(JwsError::InvalidSignature);
    }
    let kid = header_string(&header, "kid", JwsError::InvalidKid)?;
    let typ = header_string(&header, "typ", JwsError::InvalidTyp)?;

    let jwt_alg = alg.to_jsonwebtoken();

    let verified = if alg.is_symmetric() {
        // check_header guarantees the secret is present and non-empty.
        let secret = policy
            .client_secret
            .ok_or(JwsError::HmacWithoutSecret(alg))?;
        let key = DecodingKey::from_secret(secret.expose().as_bytes());
        verify_with(signature_b64, signing_input, &key, jwt_alg)
    } else {
        let candidates = jwks.select(alg, kid.as_deref()).map_err(|e| match e {
            KeySelectionError::UnknownKid => JwsError::UnknownKid,
            KeySelectionError::NoCompatibleKey => JwsError::NoCompatibleKey(alg),
            KeySelectionError::TooManyCandidates => JwsError::TooManyCandidateKeys,
        })?;
        candidates
            .iter()
            .any(|jwk| verify_with(signature_b64, signing_input, jwk.decoding_key(), jwt_alg))
    };
    if !verified {
        return Err(JwsError::InvalidSignature);
    }

    let claims = parse_payload(&payload)?;
    Ok(VerifiedJws {
        alg,
        kid,
        typ,
        claims,
    })
}

/// Reads the `alg` header and the payload of a compact JWS **without
/// verifying its signature** and without the header rules beyond `alg`.
///
/// Only for a token that [`verify_jws`] already accepted and that has been
/// kept since where nobody else could change it (Portcullis's encrypted
/// session); see [`crate::id_token::stored_id_token_claims`]. It uses the
/// same segment, base64url and JSON parsing as [`verify_jws`], and still
/// rejects `alg` `none` and algorithms Portcullis does not know.
pub(crate) fn decode_unverified(token: &str) -> Result<(Algorithm, Map<String, Value>), JwsError> {
    let compact = split_compact(token)?;
    let alg = header_alg(&compact.header)?;
    let claims = parse_payload(&compact.payload)?;
    Ok((alg, claims))
}

/// A compact JWS split into its segments, with the header parsed as a JSON
/// object. Nothing in it is verified yet.
struct Compact<'t> {
    header: Map<String, Value>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// The first two segments exactly as received: what the signature covers.
    signing_input: &'t [u8],
    signature_b64: &'t str,
}

/// The size limit, the three unpadded base64url segments, and the header
/// as a JSON object.
fn split_compact(token: &str) -> Result<Compact<'_>, JwsError> {
    if token.len() > MAX_JWS_LEN {
        return Err(JwsError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header_bytes = b64(header_b64, "header")?;
    let payload = b64(payload_b64, "payload")?;
    let signature = b64(signature_b64, "signature")?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::InvalidHeader)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    Ok(Compact {
        header,
        payload,
        signature,
        signing_input: &token.as_bytes()[..signing_input_len],
        signature_b64,
    })
}

/// The payload as a JSON object.
fn parse_payload(payload: &[u8]) -> Result<Map<String, Value>, JwsError> {
    serde_json::from_slice(payload).map_err(|_| JwsError::InvalidPayload)
}

/// A header parameter that must be a string when present.
fn header_string(
    header: &Map<String, Value>,
    name: &str,
    wrong_type: JwsError,
) -> Result<Option<String>, JwsError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        Some(_) => Err(wrong_type),
    }
}

/// The header's `alg`: a string naming an algorithm Portcullis knows, and
/// never `none` (in any case).
fn header_alg(header: &Map<String, Value>) -> Result<Algorithm, JwsError> {
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::MissingAlg)?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwsError::AlgNone);
    }
    alg_name.parse().map_err(|_| JwsError::UnsupportedAlg)
}

/// One signature check by jsonwebtoken. Any error (a key of the wrong
/// family, a malformed key) counts as "does not verify".
fn verify_with(
    signature_b64: &str,
    signing_input: &[u8],
    key: &DecodingKey,
    alg: jsonwebtoken::Algorithm,
) -> bool {
    jsonwebtoken::crypto::verify(signature_b64, signing_input, key, alg).unwrap_or(false)
}

fn b64(segment: &str, which: &'static str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwsError::InvalidBase64(which))
}

/// Applies the header rules and returns the allowed algorithm.
fn check_header(
    header: &Map<String, Value>,
    policy: &JwsPolicy<'_>,
) -> Result<Algorithm, JwsError> {
    let alg = header_alg(header)?;
    if !policy.allowed_algs.contains(&alg) {
        return Err(JwsError::AlgNotAllowed(alg));
    }
    if alg.is_symmetric() && policy.client_secret.is_none_or(|s| s.expose().is_empty()) {
        return Err(JwsError::HmacWithoutSecret(alg));
    }
    if let Some(param) = FORBIDDEN_HEADER_PARAMS
        .iter()
        .find(|p| header.contains_key(**p))
    {
        return Err(JwsError::EmbeddedKey(param));
    }
    if header.contains_key("crit") {
        return Err(JwsError::CritHeader);
    }
    if header.get("b64").is_some_and(|b| b != &Value::Bool(true)) {
        return Err(JwsError::UnencodedPayload);
    }
    Ok(alg)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::test_keys::{
        b64url, ed25519, jwks_from, key_for, p256, rsa, rsa2, sign, sign_raw, standard_jwks,
    };
    use super::*;

    const ALL_ASYMMETRIC: [Algorithm; 9] = Algorithm::ASYMMETRIC;

    fn claims() -> Value {
        json!({"iss": "https://op.example", "sub": "alice", "aud": "client"})
    }

    fn policy(algs: &[Algorithm]) -> JwsPolicy<'_> {
        JwsPolicy {
            allowed_algs: algs,
            client_secret: None,
        }
    }

    fn header(alg: &str, kid: Option<&str>, extra: Value) -> Value {
        let mut h = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            h["kid"] = json!(kid);
        }
        if let (Some(obj), Some(extra)) = (h.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        h
    }

    #[test]
    fn verifies_every_asymmetric_algorithm_on_the_allowlist() {
        let jwks = standard_jwks();
        for alg in ALL_ASYMMETRIC {
            let (key, kid) = key_for(alg);
            let token = sign(&claims(), &key.encoding, alg, Some(kid));
            let verified = verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC))
                .unwrap_or_else(|e| panic!("{alg} failed: {e}"));
            assert_eq!(verified.alg, alg);
            assert_eq!(verified.kid.as_deref(), Some(kid));
            assert_eq!(verified.typ.as_deref(), Some("JWT"));
            assert_eq!(verified.claims["sub"], "alice");
        }
    }

    #[test]
    fn verifies_hs256_with_the_client_secret() {
        let secret = Secret::new("a-client-secret-that-is-32-bytes!");
        let token = sign(
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
            Algorithm::HS256,
            None,
        );
        let algs = [Algorithm::RS256, Algorithm::HS256];
        let p = JwsPolicy {
            allowed_algs: &algs,
            client_secret: Some(&secret),
        };
        let verified = verify_jws(&token, &standard_jwks(), &p).unwrap();
        assert_eq!(verified.alg, Algorithm::HS256);

        let wrong = Secret::new("another-secret");
        let p = JwsPolicy {
            allowed_algs: &algs,
            client_secret: Some(&wrong),
        };
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &p),
            Err(JwsError::InvalidSignature)
        );
    }

    #[test]
    fn rejects_alg_none() {
        for alg in ["none", "None", "NONE"] {
            let token = format!(
                "{}.{}.",
                b64url(header(alg, None, json!({})).to_string().as_bytes()),
                b64url(claims().to_string().as_bytes())
            );
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::AlgNone),
                "{alg}"
            );
        }
        // With a (bogus) signature too.
        let token = format!(
            "{}.{}.{}",
            b64url(header("none", None, json!({})).to_string().as_bytes()),
            b64url(claims().to_string().as_bytes()),
            b64url(b"sig")
        );
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::AlgNone)
        );
    }

    #[test]
    fn rejects_alg_not_on_the_allowlist() {
        let token = sign(&claims(), &rsa().encoding, Algorithm::RS512, Some("rsa1"));
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&[Algorithm::RS256])),
            Err(JwsError::AlgNotAllowed(Algorithm::RS512))
        );
    }

    #[test]
    fn rejects_unsupported_or_missing_alg() {
        let key = &rsa().encoding;
        for (h, expected) in [
            (json!({"alg": "RS1"}), JwsError::UnsupportedAlg),
            (json!({"alg": "ES512"}), JwsError::UnsupportedAlg),
            (json!({"typ": "JWT"}), JwsError::MissingAlg),
            (json!({"alg": 256}), JwsError::MissingAlg),
        ] {
            let token = sign_raw(&h, claims().to_string().as_bytes(), key, Algorithm::RS256);
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(expected)
            );
        }
    }

    #[test]
    fn rejects_hs256_signed_with_the_rsa_public_key_as_secret() {
        // The classic alg-confusion attack: HMAC keyed by the OP's public key.
        let jwks = standard_jwks();
        for public in [
            rsa().public_bytes.clone(),
            rsa().public_jwk["n"].as_str().unwrap().as_bytes().to_vec(),
            rsa().public_jwk.to_string().into_bytes(),
        ] {
            let forged = sign(
                &claims(),
                &jsonwebtoken::EncodingKey::from_secret(&public),
                Algorithm::HS256,
                Some("rsa1"),
            );
            // Not allowed: rejected on alg.
            assert_eq!(
                verify_jws(&forged, &jwks, &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::AlgNotAllowed(Algorithm::HS256))
            );
            // Allowed, with a real client secret: the JWKS key is never the
            // HMAC key, so the signature fails.
            let secret = Secret::new("the-real-client-secret");
            let algs = [Algorithm::RS256, Algorithm::HS256];
            let p = JwsPolicy {
                allowed_algs: &algs,
                client_secret: Some(&secret),
            };
            assert_eq!(
                verify_jws(&forged, &jwks, &p),
                Err(JwsError::InvalidSignature)
            );
        }
    }

    #[test]
    fn rejects_hs_algorithms_without_a_configured_client_secret() {
        let token = sign(
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(b"whatever"),
            Algorithm::HS256,
            None,
        );
        let algs = [Algorithm::HS256];
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&algs)),
            Err(JwsError::HmacWithoutSecret(Algorithm::HS256))
        );
        let empty = Secret::new("");
        let p = JwsPolicy {
            allowed_algs: &algs,
            client_secret: Some(&empty),
        };
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &p),
            Err(JwsError::HmacWithoutSecret(Algorithm::HS256))
        );
    }

    #[test]
    fn rejects_a_key_of_the_wrong_type_for_the_alg() {
        // ES256 header, but the kid names the RSA key.
        let token = sign(&claims(), &p256().encoding, Algorithm::ES256, Some("rsa1"));
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::NoCompatibleKey(Algorithm::ES256))
        );
        // EdDSA against a JWKS that only has RSA and P-256 keys, no kid.
        let jwks = jwks_from(&json!({"keys": [
            rsa().jwk(None, json!({})),
            p256().jwk(None, json!({})),
        ]}));
        let token = sign(&claims(), &ed25519().encoding, Algorithm::EdDSA, None);
        assert_eq!(
            verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::NoCompatibleKey(Algorithm::EdDSA))
        );
        // A JWK restricted to RS256 does not verify PS256.
        let jwks = jwks_from(&json!({"keys": [rsa().jwk(Some("k"), json!({"alg": "RS256"}))]}));
        let token = sign(&claims(), &rsa().encoding, Algorithm::PS256, Some("k"));
        assert_eq!(
            verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::NoCompatibleKey(Algorithm::PS256))
        );
    }

    #[test]
    fn rejects_jwk_jku_x5u_and_x5c_headers() {
        let key = &rsa().encoding;
        let jwks = standard_jwks();
        for (param, value) in [
            ("jwk", rsa().jwk(None, json!({}))),
            ("jku", json!("https://attacker.example/jwks.json")),
            ("x5u", json!("https://attacker.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
        ] {
            let h = header("RS256", Some("rsa1"), json!({ param: value }));
            let token = sign_raw(&h, claims().to_string().as_bytes(), key, Algorithm::RS256);
            assert_eq!(
                verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::EmbeddedKey(param)),
                "{param}"
            );
        }
    }

    #[test]
    fn rejects_any_crit_header() {
        for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
            let h = header("RS256", Some("rsa1"), json!({"crit": crit, "exp": 1}));
            let token = sign_raw(
                &h,
                claims().to_string().as_bytes(),
                &rsa().encoding,
                Algorithm::RS256,
            );
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::CritHeader)
            );
        }
    }

    #[test]
    fn rejects_unencoded_payload_b64_false() {
        for b64 in [json!(false), json!("false"), json!(0)] {
            let h = header("RS256", Some("rsa1"), json!({"b64": b64}));
            let token = sign_raw(
                &h,
                claims().to_string().as_bytes(),
                &rsa().encoding,
                Algorithm::RS256,
            );
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::UnencodedPayload)
            );
        }
    }

    #[test]
    fn rejects_a_non_string_kid() {
        let h = header("RS256", None, json!({"kid": 1}));
        let token = sign_raw(
            &h,
            claims().to_string().as_bytes(),
            &rsa().encoding,
            Algorithm::RS256,
        );
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::InvalidKid)
        );
    }

    #[test]
    fn rejects_a_non_string_typ() {
        let h = json!({"alg": "RS256", "kid": "rsa1", "typ": ["JWT"]});
        let token = sign_raw(
            &h,
            claims().to_string().as_bytes(),
            &rsa().encoding,
            Algorithm::RS256,
        );
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::InvalidTyp)
        );
    }

    #[test]
    fn rejects_an_unknown_kid_so_the_adapter_can_refetch() {
        let token = sign(
            &claims(),
            &rsa().encoding,
            Algorithm::RS256,
            Some("rotated-key"),
        );
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::UnknownKid)
        );
    }

    #[test]
    fn tries_each_candidate_when_there_is_no_kid() {
        let jwks = jwks_from(&json!({"keys": [
            rsa2().jwk(None, json!({})),
            p256().jwk(None, json!({})),
            rsa().jwk(None, json!({})),
        ]}));
        let token = sign(&claims(), &rsa().encoding, Algorithm::RS256, None);
        assert!(verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC)).is_ok());
    }

    #[test]
    fn rejects_a_token_without_kid_that_no_candidate_verifies() {
        let jwks = jwks_from(&json!({"keys": [
            rsa2().jwk(Some("a"), json!({})),
            rsa2().jwk(Some("b"), json!({})),
        ]}));
        let token = sign(&claims(), &rsa().encoding, Algorithm::RS256, None);
        assert_eq!(
            verify_jws(&token, &jwks, &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::InvalidSignature)
        );
    }

    #[test]
    fn rejects_a_token_signed_by_another_key_with_the_same_kid() {
        let token = sign(&claims(), &rsa2().encoding, Algorithm::RS256, Some("rsa1"));
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::InvalidSignature)
        );
    }

    #[test]
    fn rejects_a_tampered_payload() {
        for alg in ALL_ASYMMETRIC {
            let (key, kid) = key_for(alg);
            let token = sign(&claims(), &key.encoding, alg, Some(kid));
            let parts: Vec<&str> = token.split('.').collect();
            let evil = json!({"iss": "https://op.example", "sub": "admin", "aud": "client"});
            let tampered = format!(
                "{}.{}.{}",
                parts[0],
                b64url(evil.to_string().as_bytes()),
                parts[2]
            );
            assert_eq!(
                verify_jws(&tampered, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn rejects_a_tampered_signature() {
        for alg in ALL_ASYMMETRIC {
            let (key, kid) = key_for(alg);
            let token = sign(&claims(), &key.encoding, alg, Some(kid));
            let (input, sig) = token.rsplit_once('.').unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            raw[5] ^= 0x01;
            let tampered = format!("{input}.{}", b64url(&raw));
            assert_eq!(
                verify_jws(&tampered, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidSignature),
                "{alg}"
            );
            // Truncated and empty signatures too.
            let truncated = format!("{input}.{}", b64url(&raw[..raw.len() / 2]));
            assert_eq!(
                verify_jws(&truncated, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidSignature)
            );
            assert_eq!(
                verify_jws(
                    &format!("{input}."),
                    &standard_jwks(),
                    &policy(&ALL_ASYMMETRIC)
                ),
                Err(JwsError::InvalidSignature)
            );
        }
    }

    #[test]
    fn rejects_tokens_that_are_not_three_segments() {
        let token = sign(&claims(), &rsa().encoding, Algorithm::RS256, Some("rsa1"));
        let (input, _) = token.rsplit_once('.').unwrap();
        for bad in [
            input.to_owned(),
            format!("{token}.extra"),
            String::new(),
            "a".into(),
        ] {
            assert_eq!(
                verify_jws(&bad, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::Malformed)
            );
        }
    }

    #[test]
    fn rejects_oversized_tokens() {
        let big = json!({"sub": "alice", "pad": "x".repeat(MAX_JWS_LEN)});
        let token = sign(&big, &rsa().encoding, Algorithm::RS256, Some("rsa1"));
        assert!(token.len() > MAX_JWS_LEN);
        assert_eq!(
            verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
            Err(JwsError::TooLarge)
        );
    }

    #[test]
    fn rejects_invalid_base64() {
        let token = sign(&claims(), &rsa().encoding, Algorithm::RS256, Some("rsa1"));
        let parts: Vec<&str> = token.split('.').collect();
        let padded = format!("{}=", parts[0]);
        for (bad, which) in [
            (format!("{padded}.{}.{}", parts[1], parts[2]), "header"),
            (
                format!("{}.{}+/.{}", parts[0], parts[1], parts[2]),
                "payload",
            ),
            (
                format!("{}.{}.{} ", parts[0], parts[1], parts[2]),
                "signature",
            ),
        ] {
            assert_eq!(
                verify_jws(&bad, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidBase64(which))
            );
        }
    }

    #[test]
    fn rejects_a_header_that_is_not_a_json_object() {
        for h in [&b"[\"RS256\"]"[..], b"not json", b"\"RS256\""] {
            let token = format!("{}.{}.{}", b64url(h), b64url(b"{}"), b64url(b"sig"));
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidHeader)
            );
        }
    }

    #[test]
    fn rejects_a_signed_payload_that_is_not_a_json_object() {
        let h = header("RS256", Some("rsa1"), json!({}));
        for payload in [&b"[1,2]"[..], b"\"alice\"", b"not json"] {
            let token = sign_raw(&h, payload, &rsa().encoding, Algorithm::RS256);
            assert_eq!(
                verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)),
                Err(JwsError::InvalidPayload)
            );
        }
    }

    #[test]
    fn error_messages_never_include_the_token() {
        let token = sign(&claims(), &rsa2().encoding, Algorithm::RS256, Some("rsa1"));
        let err = verify_jws(&token, &standard_jwks(), &policy(&ALL_ASYMMETRIC)).unwrap_err();
        let shown = format!("{err} {err:?}");
        for part in token.split('.') {
            assert!(!shown.contains(part));
        }
    }
}
