//! [`BearerToken`]: the verified token a request carried.

use std::sync::Arc;

use portcullis_core::access_token::AccessTokenClaims;
use serde_json::{Map, Value};

/// How a token was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// A JWT access token, checked locally with the issuer's JWKS.
    Jwt,
    /// An opaque token, checked by RFC 7662 introspection at the issuer.
    Introspection,
}

/// A verified bearer token. Cheap to clone; it holds the claims, never the
/// token itself, so its `Debug` output is safe to log.
#[derive(Clone)]
pub struct BearerToken {
    claims: Arc<AccessTokenClaims>,
    source: TokenSource,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("iss", &self.claims.iss)
            .field("sub", &self.claims.sub)
            .field("scopes", &self.claims.scopes)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    pub(crate) fn new(claims: AccessTokenClaims, source: TokenSource) -> Self {
        Self {
            claims: Arc::new(claims),
            source,
        }
    }

    /// The subject. Key principals by ([`BearerToken::iss`], `sub`).
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }
    /// The issuer that vouched for the token.
    pub fn iss(&self) -> &str {
        &self.claims.iss
    }
    /// The client the token was issued to, if the token says.
    pub fn client_id(&self) -> Option<&str> {
        self.claims.client_id.as_deref()
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.claims.scopes
    }
    /// The granted scopes, space-separated (as in a `scope` claim).
    pub fn scope(&self) -> String {
        self.claims.scope()
    }
    /// True if the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.has_scope(scope)
    }
    /// The audiences.
    pub fn audiences(&self) -> &[String] {
        &self.claims.aud
    }
    /// Expiry, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.claims.exp
    }
    /// True when the token's expiry has passed at `now` (unix seconds).
    pub fn is_expired_at(&self, now: u64) -> bool {
        self.claims.exp <= now
    }
    /// Every claim (the JWT payload, or the introspection answer).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims.claims
    }
    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.claims.get(name)
    }
    /// How the token was verified.
    pub fn source(&self) -> TokenSource {
        self.source
    }
    /// The validated claims with their types.
    pub fn access_token_claims(&self) -> &AccessTokenClaims {
        &self.claims
    }
}
