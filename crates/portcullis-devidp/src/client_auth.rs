//! JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9):
//! `client_secret_jwt` (HMAC with the client secret) and `private_key_jwt`
//! (a key of the client's registered JWKS).
//!
//! The assertion must be signed with an algorithm of the client's method,
//! have `iss` = `sub` = the client id, an `aud` naming the issuer or the
//! token endpoint, an unexpired `exp` at most [`MAX_ASSERTION_LIFETIME`]
//! ahead, and a `jti` never seen before (replays are refused until the
//! assertion would have expired anyway).

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::server::{OAuthError, Params, Shared, now_unix};
use crate::{AuthMethod, DevClient};

/// The `client_assertion_type` of a JWT assertion.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The furthest in the future an assertion's `exp` may be.
const MAX_ASSERTION_LIFETIME: u64 = 300;
/// Clock leeway for `exp`, in seconds.
const LEEWAY: u64 = 5;

/// Algorithms accepted for `private_key_jwt`.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Algorithms accepted for `client_secret_jwt`.
const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// The algorithm names advertised in `token_endpoint_auth_signing_alg_values_supported`.
pub(crate) const SIGNING_ALGS: [&str; 12] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];

/// True when the request carries a client assertion.
pub(crate) fn has_assertion(params: &Params) -> bool {
    params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some()
}

/// Authenticates the client of a request that carries a client assertion.
pub(crate) fn authenticate_assertion<'a>(
    s: &'a Shared,
    has_basic: bool,
    params: &Params,
) -> Result<&'a DevClient, OAuthError> {
    if has_basic || params.get("client_secret").is_some() {
        return Err(OAuthError::new(
            "invalid_request",
            "use only one client authentication method",
        ));
    }
    if params.get("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(OAuthError::new(
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| OAuthError::new("invalid_request", "client_assertion is missing"))?;
    let fail = |why: &str| {
        OAuthError::new(
            "invalid_client",
            format!("client assertion rejected: {why}"),
        )
    };
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| fail("not a JWS"))?;
    // Which client: the body's client_id, else the (still unverified) iss.
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| fail("unreadable claims"))?
        .claims;
    let claimed = unverified.get("iss").and_then(Value::as_str);
    let client_id = params
        .get("client_id")
        .or(claimed)
        .ok_or_else(|| fail("no client id"))?;
    if claimed.is_some_and(|iss| iss != client_id) {
        return Err(fail("iss differs from client_id"));
    }
    let client = s
        .clients
        .get(client_id)
        .ok_or_else(|| fail("unknown client"))?;
    let key = match client.token_endpoint_auth_method {
        AuthMethod::ClientSecretJwt => {
            if !HMAC.contains(&header.alg) {
                return Err(fail("client_secret_jwt needs HS256, HS384 or HS512"));
            }
            let secret = client
                .client_secret
                .as_deref()
                .ok_or_else(|| fail("no secret"))?;
            DecodingKey::from_secret(secret.as_bytes())
        }
        AuthMethod::PrivateKeyJwt => {
            if !ASYMMETRIC.contains(&header.alg) {
                return Err(fail("private_key_jwt needs an asymmetric algorithm"));
            }
            select_key(client, header.kid.as_deref(), header.alg).ok_or_else(|| {
                fail("no registered key of the client matches the assertion's kid and alg")
            })?
        }
        _ => {
            return Err(fail(&format!(
                "the client is registered for {}",
                client.token_endpoint_auth_method.as_str()
            )));
        }
    };
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[client_id]);
    v.set_audience(&[s.issuer.clone(), format!("{}/token", s.issuer)]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.leeway = LEEWAY;
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .map_err(|e| fail(&e.to_string()))?
        .claims;
    if claims.get("sub").and_then(Value::as_str) != Some(client_id) {
        return Err(fail("sub must equal the client id"));
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let now = now_unix();
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(fail("exp is too far in the future"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("jti is missing"))?;
    let replay_key = format!("{client_id}\0{jti}");
    let ttl = Duration::from_secs(exp.saturating_sub(now) + LEEWAY + 1);
    let mut stores = s.stores();
    if stores
        .assertion_jti
        .get(&replay_key, Instant::now())
        .is_some()
    {
        return Err(fail("jti was already used (replay)"));
    }
    stores
        .assertion_jti
        .insert(replay_key, (), ttl, Instant::now());
    Ok(client)
}

/// The client's key for `kid` (or, without a `kid`, its only key that fits `alg`).
fn select_key(client: &DevClient, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let set: JwkSet = serde_json::from_value(client.jwks.clone()?).ok()?;
    let fits = |jwk: &&jsonwebtoken::jwk::Jwk| {
        let kty_ok = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => {
                matches!(
                    alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                )
            }
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) => matches!(
                (ec.curve.clone(), alg),
                (jsonwebtoken::jwk::EllipticCurve::P256, Algorithm::ES256)
                    | (jsonwebtoken::jwk::EllipticCurve::P384, Algorithm::ES384)
            ),
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
            _ => false,
        };
        kty_ok && kid.is_none_or(|kid| jwk.common.key_id.as_deref() == Some(kid))
    };
    let mut candidates = set.keys.iter().filter(fits);
    let key = candidates.next()?;
    if kid.is_none() && candidates.next().is_some() {
        return None; // ambiguous without a kid
    }
    DecodingKey::from_jwk(key).ok()
}

/// Checks a client's registration for JWT authentication at startup.
pub(crate) fn validate_client(client: &DevClient) -> Result<(), String> {
    match client.token_endpoint_auth_method {
        AuthMethod::PrivateKeyJwt => {
            let jwks = client
                .jwks
                .clone()
                .ok_or("uses private_key_jwt but has no jwks")?;
            let set: JwkSet =
                serde_json::from_value(jwks).map_err(|e| format!("has an invalid jwks: {e}"))?;
            if set.keys.is_empty() {
                return Err("has an empty jwks".into());
            }
            for key in &set.keys {
                DecodingKey::from_jwk(key).map_err(|e| format!("has an unusable JWK: {e}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
