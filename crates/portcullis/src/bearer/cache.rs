//! The verified-token cache: a token seen before costs one hash lookup, an
//! exact comparison and an expiry check instead of a signature check (or an
//! introspection call).
//!
//! It reuses the session cache's sharded map ([`SealedCache`]), keyed by the
//! token's last bytes (the signature of a JWT, random for opaque tokens) and
//! confirmed by comparing the whole token, so a forged token can only miss.
//! Only tokens that verified are cached, each until the earlier of its own
//! expiry (plus skew, exactly when verification would start to refuse it)
//! and the cache's time-to-live, so key removal at the OP or a revocation is
//! noticed within that bound.

use crate::session_cache::SealedCache;

use super::token::BearerToken;

#[derive(Clone)]
struct Cached {
    token: BearerToken,
    /// Unix seconds at which the entry stops answering.
    valid_until: u64,
}

/// The cache (`capacity == 0` turns it off).
pub(crate) struct TokenCache {
    entries: SealedCache<Cached>,
    max_ttl_secs: u64,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize, max_ttl_secs: u64) -> Self {
        Self {
            entries: SealedCache::new(capacity),
            max_ttl_secs,
        }
    }

    /// The verified token for exactly `raw`, if cached and still valid at `now`.
    pub(crate) fn get(&self, raw: &str, now: u64) -> Option<BearerToken> {
        let cached = self.entries.get(raw.as_bytes())?;
        if now < cached.valid_until {
            Some(cached.token)
        } else {
            self.entries.remove(raw.as_bytes());
            None
        }
    }

    /// Remembers a token that just verified at `now`; it is answered until
    /// `refuse_at` (when verification would refuse it) or the TTL, whichever
    /// comes first.
    pub(crate) fn insert(&self, raw: &str, token: BearerToken, now: u64, refuse_at: u64) {
        let valid_until = refuse_at.min(now.saturating_add(self.max_ttl_secs));
        if valid_until > now {
            self.entries
                .insert(raw.as_bytes(), Cached { token, valid_until });
        }
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::access_token::AccessTokenClaims;

    use super::*;
    use crate::bearer::TokenSource;

    fn token(exp: u64) -> BearerToken {
        BearerToken::new(
            AccessTokenClaims {
                iss: "https://op".into(),
                sub: "alice".into(),
                aud: vec!["api".into()],
                exp,
                iat: 0,
                client_id: None,
                scopes: vec![],
                jti: None,
                claims: Default::default(),
            },
            TokenSource::Jwt,
        )
    }

    #[test]
    fn a_cached_token_is_answered_until_it_would_be_refused() {
        let cache = TokenCache::new(10, 300);
        cache.insert("a.b.sig-1", token(1_100), 1_000, 1_160);
        assert!(cache.get("a.b.sig-1", 1_159).is_some());
        assert!(cache.get("a.b.sig-1", 1_160).is_none());
        // Gone for good once expired.
        assert!(cache.get("a.b.sig-1", 1_000).is_none());
    }

    #[test]
    fn the_ttl_bounds_long_lived_tokens() {
        let cache = TokenCache::new(10, 300);
        cache.insert("tok", token(u64::MAX), 1_000, u64::MAX);
        assert!(cache.get("tok", 1_299).is_some());
        assert!(cache.get("tok", 1_300).is_none());
    }

    #[test]
    fn only_the_exact_token_hits() {
        let cache = TokenCache::new(10, 300);
        cache.insert(
            "header.payload.same-signature-tail-xxxxxxxx",
            token(2_000),
            1_000,
            2_000,
        );
        assert!(
            cache
                .get("header.forged.same-signature-tail-xxxxxxxx", 1_001)
                .is_none()
        );
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = TokenCache::new(0, 300);
        cache.insert("tok", token(2_000), 1_000, 2_000);
        assert!(cache.get("tok", 1_001).is_none());
    }
}
