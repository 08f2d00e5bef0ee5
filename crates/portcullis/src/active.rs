//! The active session: a decoded, unexpired session of a signed-in user.
//!
//! The stored form ([`SessionData`]) keeps only the claims that the ID token
//! does not already hold; [`ActiveSession`] puts them back together once, when
//! the session is decoded, and keeps the result for every request that uses it.

use std::sync::{Arc, Mutex, OnceLock};

use http::HeaderValue;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::session::SessionData;

/// Why stored session data could not be turned into an active session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionDecodeError {
    /// The stored ID token's claims could not be read.
    #[error("the session's ID token is unreadable")]
    IdToken(#[source] portcullis_core::id_token::IdTokenError),
    /// The stored claims are not a JSON object.
    #[error("the session's claims are not a JSON object")]
    Claims(#[source] serde_json::Error),
}

/// A decoded, unexpired session: the signed-in user's claims and tokens.
///
/// Adapters (the axum layer, the proxy) hand it out behind an `Arc`; it is
/// immutable except for the renewal bookkeeping of rolling sessions.
pub struct ActiveSession {
    data: SessionData,
    /// The merged claims: the same map as `id_token_claims` when the session
    /// stores no additions or removals (the common case), so a cached
    /// session holds the claims once.
    claims: Arc<Map<String, Value>>,
    id_token_claims: Arc<Map<String, Value>>,
    raw_claims: OnceLock<Box<RawValue>>,
    /// The logout-marker keys that name this session.
    pub(crate) marker_keys: Box<[String]>,
    /// The renewal of a rolling session, shared by every request that still
    /// carries this (older) cookie value.
    renewal: Mutex<Option<Renewal>>,
    /// The verified claims of a JWT access token and its `exp`, once checked.
    pub(crate) access_token_claims: OnceLock<(std::sync::Arc<Map<String, Value>>, u64)>,
}

/// A rolling-session renewal: when it was done and the `Set-Cookie` values
/// (empty for server-side sessions, whose cookie does not change).
#[derive(Clone)]
pub(crate) struct Renewal {
    pub(crate) refreshed_at: u64,
    pub(crate) cookies: Vec<HeaderValue>,
}

impl std::fmt::Debug for ActiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveSession")
            .field("iss", &self.data.iss)
            .field("sub", &self.data.sub)
            .finish_non_exhaustive()
    }
}

/// The claims of a session: the ID token's, without those the application
/// removed, with the stored additions on top.
pub(crate) fn merge_claims(
    id_token_claims: &Map<String, Value>,
    data: &SessionData,
) -> Result<Map<String, Value>, SessionDecodeError> {
    let additions: Map<String, Value> =
        serde_json::from_str(data.claims.get()).map_err(SessionDecodeError::Claims)?;
    let mut claims = id_token_claims.clone();
    for name in &data.removed_claims {
        claims.remove(name);
    }
    claims.extend(additions);
    Ok(claims)
}

/// What to store for `claims` next to an ID token holding `id_token_claims`:
/// the claims it lacks or holds with another value, and the names of those
/// it holds that `claims` does not.
pub(crate) fn claims_delta(
    id_token_claims: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let additions = claims
        .iter()
        .filter(|(name, value)| id_token_claims.get(*name) != Some(value))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let removed = id_token_claims
        .keys()
        .filter(|name| !claims.contains_key(*name))
        .cloned()
        .collect();
    (additions, removed)
}

impl ActiveSession {
    /// Decodes stored data: reads the ID token's claims and merges the stored
    /// additions. Unreadable data is an error, never an empty set of claims.
    pub(crate) fn decode(
        data: SessionData,
        marker_keys: Box<[String]>,
    ) -> Result<Self, SessionDecodeError> {
        let id_token_claims = Arc::new(
            portcullis_core::id_token::stored_id_token_claims(&data.id_token)
                .map_err(SessionDecodeError::IdToken)?
                .claims,
        );
        let unchanged = data.removed_claims.is_empty()
            && serde_json::from_str::<Map<String, Value>>(data.claims.get())
                .map_err(SessionDecodeError::Claims)?
                .is_empty();
        let claims = if unchanged {
            id_token_claims.clone()
        } else {
            Arc::new(merge_claims(&id_token_claims, &data)?)
        };
        Ok(Self {
            data,
            claims,
            id_token_claims,
            raw_claims: OnceLock::new(),
            marker_keys,
            renewal: Mutex::new(None),
            access_token_claims: OnceLock::new(),
        })
    }

    /// The stored data.
    pub fn data(&self) -> &SessionData {
        &self.data
    }

    /// The subject. Key users by ([`iss`](Self::iss), `sub`), never by email.
    pub fn sub(&self) -> &str {
        &self.data.sub
    }

    /// The issuer that vouched for this user.
    pub fn iss(&self) -> &str {
        &self.data.iss
    }

    /// The OP session id (`sid`), when the OP sent one.
    pub fn sid(&self) -> Option<&str> {
        self.data.sid.as_deref()
    }

    /// All claims: the ID token's, merged with userinfo and the
    /// `after_callback` hook's edits.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims of the ID token alone (no userinfo, no edits).
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        &self.id_token_claims
    }

    /// [`claims`](Self::claims) as JSON text, serialized once.
    pub fn raw_claims(&self) -> &RawValue {
        self.raw_claims.get_or_init(|| {
            serde_json::value::to_raw_value(&*self.claims).unwrap_or_else(|_| {
                // A Map of JSON values always serializes; keep a valid object regardless.
                RawValue::from_string("{}".to_owned()).unwrap_or_default()
            })
        })
    }

    /// When the user signed in (unix seconds).
    pub fn created_at(&self) -> u64 {
        self.data.created_at
    }

    /// The ID token (compact JWS).
    pub fn id_token(&self) -> &str {
        &self.data.id_token
    }

    /// The access token, if the OP issued one.
    pub fn access_token(&self) -> Option<&str> {
        self.data.access_token.as_deref()
    }

    /// The access token type (normally `Bearer`).
    pub fn token_type(&self) -> Option<&str> {
        self.data.token_type.as_deref()
    }

    /// When the access token expires (unix seconds), if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.data.expires_at
    }

    /// The refresh token, if the OP issued one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.data.refresh_token.as_deref()
    }

    /// The granted scopes, if the OP said.
    pub fn scope(&self) -> Option<&str> {
        self.data.scope.as_deref()
    }

    /// Application data stored in the session by the `after_callback` hook.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.data.extra
    }

    /// The renewal done at most `max_age` seconds before `now`, if any.
    pub(crate) fn recent_renewal(&self, now: u64, max_age: u64) -> Option<Vec<HeaderValue>> {
        let renewal = self.renewal.lock().ok()?;
        renewal
            .as_ref()
            .filter(|r| now.saturating_sub(r.refreshed_at) < max_age)
            .map(|r| r.cookies.clone())
    }

    /// Remembers the renewal done at `refreshed_at`.
    pub(crate) fn remember_renewal(&self, refreshed_at: u64, cookies: &[HeaderValue]) {
        if let Ok(mut renewal) = self.renewal.lock() {
            *renewal = Some(Renewal {
                refreshed_at,
                cookies: cookies.to_vec(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_delta_holds_only_what_the_id_token_lacks_and_merging_restores_the_claims() {
        let id_token = object(json!({"sub": "a", "email": "a@x", "nonce": "n", "aud": "c"}));
        let claims = object(json!({"sub": "a", "email": "new@x", "groups": ["g"], "aud": "c"}));
        let (additions, removed) = claims_delta(&id_token, &claims);
        assert_eq!(
            Value::Object(additions.clone()),
            json!({"email": "new@x", "groups": ["g"]})
        );
        assert_eq!(removed, vec!["nonce".to_owned()]);
        let data = SessionData {
            claims: serde_json::value::to_raw_value(&additions).expect("raw"),
            removed_claims: removed,
            ..crate::session::test_session_data()
        };
        assert_eq!(merge_claims(&id_token, &data).expect("merge"), claims);
    }

    #[test]
    fn stored_claims_that_are_not_an_object_are_an_error_not_an_empty_map() {
        let data = SessionData {
            claims: RawValue::from_string("[1,2]".into()).expect("raw"),
            ..crate::session::test_session_data()
        };
        assert!(matches!(
            merge_claims(&Map::new(), &data),
            Err(SessionDecodeError::Claims(_))
        ));
    }
}
