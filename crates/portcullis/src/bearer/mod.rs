//! Bearer tokens for APIs (resource-server mode): RFC 6750 requests, RFC 9068
//! JWT access tokens verified with the issuer's JWKS, RFC 7662 introspection
//! for opaque tokens, per-route scope and claim requirements, and a bounded
//! cache of verified tokens.
//!
//! - [`BearerVerifier`]: framework-neutral. Built on an [`Engine`](crate::Engine)
//!   (the same discovery, JWKS cache, HTTP client and clock skew as sign-in) or
//!   standalone for APIs that only accept tokens (it discovers each issuer
//!   without client credentials). Several issuers can be trusted; each token
//!   is checked against the keys of the issuer its `iss` names.
//! - [`BearerRequirements`]: scopes and claim rules for one route.
//! - [`BearerToken`]: what a verified request carries.
//! - [`BearerError`]: every refusal, rendered as RFC 6750 §3 asks (status,
//!   `WWW-Authenticate`, and a JSON body that never echoes the token).
//!
//! The axum side (`BearerLayer`, the `BearerAuth` and `Principal`
//! extractors) lives in the axum adapter. See `docs/bearer.md`.

mod cache;
mod error;
mod requirements;
mod token;
mod verifier;

pub use error::BearerError;
pub use portcullis_core::access_token::TypPolicy;
pub use requirements::BearerRequirements;
pub use token::{BearerToken, TokenSource};
pub use verifier::{
    BearerConfigError, BearerVerifier, BearerVerifierBuilder, DEFAULT_TOKEN_CACHE_CAPACITY,
    DEFAULT_TOKEN_CACHE_TTL_SECS,
};
