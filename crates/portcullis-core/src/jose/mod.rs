//! JOSE: signature algorithms, JSON Web Key Sets and JWS verification.
//!
//! - [`Algorithm`]: the allowlisted JWS algorithms, each tied to one key type.
//! - [`Jwks`] / [`Jwk`]: parsing a JWKS document and selecting keys by `kid`,
//!   or by key type and `alg` when the token has no `kid`.
//! - [`JwksRefreshPolicy`]: when the adapter should fetch the JWKS again.
//! - [`verify_jws`]: header rules plus the signature check (by `jsonwebtoken`).
//!
//! Claim rules live with each token type ([`crate::id_token`],
//! [`crate::logout_token`]); the checks they share (`iss`, `aud`/`azp`,
//! `exp`, `iat`, `nbf`, typed claim access) are in a crate-private `claims`
//! module.

mod alg;
pub(crate) mod claims;
mod jwks;
mod jws;
#[cfg(test)]
pub(crate) mod test_keys;

pub use alg::{Algorithm, UnsupportedAlgorithm};
pub use jwks::{
    Jwk, Jwks, JwksError, JwksRefreshPolicy, KeySelectionError, KeyType, MAX_CANDIDATE_KEYS,
    MAX_JWKS_KEYS,
};
pub(crate) use jws::decode_unverified;
pub use jws::{JwsError, JwsPolicy, MAX_JWS_LEN, VerifiedJws, verify_jws};
