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
//! - `kid`, if present, must be a string.

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
    let payload_bytes = b64(payload_b64, "payload")?;
    let signature = b64(signature_b64, "signature")?;
    if signature.is_empty() {
        return Err(JwsError::InvalidSignature);
    }

    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::InvalidHeader)?;
    let alg = check_header(&header, policy)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(JwsError::InvalidKid),
    };
    let typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);

    // The signing input is the first two segments exactly as received.
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = &token.as_bytes()[..signing_input_len];
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

    let claims: Map<String, Value> =
        serde_json::from_slice(&payload_bytes).map_err(|_| JwsError::InvalidPayload)?;
    Ok(VerifiedJws {
        alg,
        kid,
        typ,
        claims,
    })
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
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::MissingAlg)?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwsError::AlgNone);
    }
    let alg: Algorithm = alg_name.parse().map_err(|_| JwsError::UnsupportedAlg)?;
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
