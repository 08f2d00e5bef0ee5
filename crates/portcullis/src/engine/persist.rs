//! Reading and writing sessions: sealed into the cookie, or kept in a
//! server-side store with a sealed id in the cookie.
//!
//! Every write is finished before the response that depends on it is built:
//! a login's session is stored before the redirect, a logout's session is
//! destroyed (or marked) before the redirect.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value};

use super::response::to_header_values;
use super::{Engine, Storage, markers};
use crate::active::{ActiveSession, claims_delta};
use crate::error::{OidcError, SessionWriteError};
use crate::session::{
    CookiePurpose, PresentCookies, SessionData, removal_cookies, replace_session_cookies,
    scan_session_cookies,
};
use crate::store::SessionRecord;
use crate::telemetry::{self, Cache, Store};

/// Bytes of randomness in a session id (128 bits).
const SESSION_ID_BYTES: usize = 16;

/// A fresh random session id: 128 bits from the CSPRNG, base64url.
pub(crate) fn new_session_id() -> String {
    portcullis_core::random::random_token(SESSION_ID_BYTES)
}

impl Engine {
    /// The associated data of a sealed session id cookie.
    fn id_cookie_aad(&self) -> String {
        format!("{}#id", self.settings.session_cookie)
    }

    /// Opens a sealed session cookie (cookie sessions), through the cache of
    /// decoded sessions keyed by the exact sealed value.
    pub(crate) fn open_cookie_session(&self, sealed: &[u8]) -> Option<Arc<ActiveSession>> {
        let cached = self.cache.get(sealed);
        telemetry::session_cache(Cache::Session, cached.is_some());
        if cached.is_some() {
            return cached;
        }
        let text = std::str::from_utf8(sealed).ok()?;
        let data = SessionData::open(&self.keys, &self.settings.session_cookie, text).ok()?;
        let session = Arc::new(self.decode_session(data)?);
        self.cache.insert(sealed, session.clone());
        Some(session)
    }

    /// Opens a sealed session id cookie (server-side sessions).
    pub(crate) fn open_session_id(&self, sealed: &[u8]) -> Option<String> {
        let cached = self.id_cache.get(sealed);
        telemetry::session_cache(Cache::SessionId, cached.is_some());
        if cached.is_some() {
            return cached;
        }
        let text = std::str::from_utf8(sealed).ok()?;
        let plain = self
            .keys
            .open(CookiePurpose::Session, &self.id_cookie_aad(), text)
            .ok()?;
        let id = String::from_utf8(plain).ok().filter(|id| id.len() >= 22)?;
        self.id_cache.insert(sealed, id.clone());
        Some(id)
    }

    /// Decodes a record read from the store for session `id`: the decoded
    /// form a record written by this replica carries, else the cache of
    /// decoded sessions keyed by the exact sealed bytes (so a record that
    /// changed in the store can only miss), else a decrypt.
    pub(crate) fn decode_record(
        &self,
        id: &str,
        record: &SessionRecord,
    ) -> Option<Arc<ActiveSession>> {
        if let Some(session) = record.decoded::<ActiveSession>() {
            return Some(session);
        }
        let bytes = record.as_bytes();
        let cached = self.cache.get(bytes);
        telemetry::session_cache(Cache::Session, cached.is_some());
        if let Some(cached) = cached {
            // The sealed bytes are bound to their id, so a match is this session.
            return (cached.data().id == id).then_some(cached);
        }
        let data = SessionData::open_record(&self.keys, id, &record_aad(id), bytes).ok()?;
        // The record is bound to its id by the associated data; a record of
        // an earlier version also carries the id, which must agree.
        if data.id != id {
            return None;
        }
        let session = Arc::new(self.decode_session(data)?);
        self.cache.insert(bytes, session.clone());
        Some(session)
    }

    /// The active session for data this replica just wrote.
    fn active(&self, data: SessionData) -> Result<Arc<ActiveSession>, OidcError> {
        self.decode_session(data)
            .map(Arc::new)
            .ok_or(OidcError::Session(SessionWriteError::Unreadable))
    }

    /// Turns opened data into an active session; a session of another
    /// issuer, or with unreadable claims, is no session.
    pub(super) fn decode_session(&self, data: SessionData) -> Option<ActiveSession> {
        if data.iss != self.settings.issuer {
            tracing::warn!("a session of another issuer was refused");
            return None;
        }
        let keys = markers::keys_for(&data);
        match ActiveSession::decode(data, keys) {
            Ok(session) => Some(session),
            Err(error) => {
                tracing::warn!(%error, "an unreadable session was refused");
                None
            }
        }
    }

    /// How long the store keeps a session written at `now`.
    pub(crate) fn store_ttl(&self, data: &SessionData, now: u64) -> Duration {
        Duration::from_secs(data.cookie_max_age(now, &self.settings.durations).max(1))
    }

    /// Seals a cookie session into its cookies (cookie storage only).
    pub(crate) fn seal_cookie_session(
        &self,
        data: &SessionData,
        request_headers: &HeaderMap,
        now: u64,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        let present = scan_session_cookies(
            request_headers.get_all(header::COOKIE),
            &self.settings.session_cookie,
        )
        .present;
        self.seal_cookie_session_over(data, &present, now)
    }

    /// Seals a cookie session into the cookies that replace the session
    /// cookies `present` in the request.
    pub(crate) fn seal_cookie_session_over(
        &self,
        data: &SessionData,
        present: &PresentCookies,
        now: u64,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        let name = &self.settings.session_cookie;
        let sealed = data
            .seal(&self.keys, name)
            .map_err(SessionWriteError::from)?;
        let max_age = data.cookie_max_age(now, &self.settings.durations);
        let cookies =
            replace_session_cookies(name, &sealed, present, &self.session_cookie, max_age)
                .map_err(SessionWriteError::from)?;
        Ok(to_header_values(cookies)?)
    }

    /// Writes a session and returns it with the cookies that carry it. With a
    /// store, the record is saved before this returns.
    pub(crate) async fn write_session(
        &self,
        data: SessionData,
        request_headers: &HeaderMap,
        now: u64,
    ) -> Result<(Arc<ActiveSession>, Vec<HeaderValue>), OidcError> {
        let name = &self.settings.session_cookie;
        let present = scan_session_cookies(request_headers.get_all(header::COOKIE), name).present;
        let max_age = data.cookie_max_age(now, &self.settings.durations);
        let id = data.id.clone();
        let ttl = self.store_ttl(&data, now);
        // A cookie carries base64url text; a store holds the sealed bytes.
        let (session, cookie_value) = match &self.storage {
            Storage::Cookie => {
                let sealed = data
                    .seal(&self.keys, name)
                    .map_err(SessionWriteError::from)?;
                (self.active(data)?, sealed)
            }
            Storage::Server(store) => {
                let bytes = data
                    .seal_record(&self.keys, &record_aad(&id))
                    .map_err(SessionWriteError::from)?;
                let session = self.active(data)?;
                let record = SessionRecord::with_decoded(bytes, session.clone());
                telemetry::store_op(Store::Session, "save", store.save(&id, record, ttl)).await?;
                let sealed_id = self
                    .keys
                    .seal(CookiePurpose::Session, &self.id_cookie_aad(), id.as_bytes())
                    .map_err(|e| {
                        SessionWriteError::from(crate::session::SessionDataError::from(e))
                    })?;
                (session, sealed_id)
            }
        };
        let cookies =
            replace_session_cookies(name, &cookie_value, &present, &self.session_cookie, max_age)
                .map_err(SessionWriteError::from)?;
        Ok((session, to_header_values(cookies)?))
    }

    /// Ends a session for good, before any response is sent: a server-side
    /// session is destroyed; a cookie session gets a logout marker so a copy
    /// of its cookie is refused. Returns the cookies that clear it.
    pub(crate) async fn end_session(
        &self,
        headers: &HeaderMap,
        session: Option<&ActiveSession>,
        now_ms: u64,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        if let Some(session) = session {
            // The marker refuses every copy of the session, including one a
            // refresh in flight writes back to the store after the destroy.
            let ttl = Duration::from_secs(self.settings.durations.absolute.max(1));
            let key = markers::session_key(&session.data().id);
            telemetry::store_op(Store::Logout, "mark", self.logouts.mark(&key, now_ms, ttl))
                .await?;
            if let Storage::Server(store) = &self.storage {
                telemetry::store_op(Store::Session, "destroy", store.destroy(&session.data().id))
                    .await?;
            }
        }
        let mut cookies = self.clear_session_cookies(headers)?;
        // A user who signed out is not signed straight back in silently.
        cookies.extend(self.silent_attempt_cookie());
        Ok(cookies)
    }

    /// The cookies that remove every session cookie the request carried.
    pub(crate) fn clear_session_cookies(
        &self,
        headers: &HeaderMap,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        let scan = scan_session_cookies(
            headers.get_all(header::COOKIE),
            &self.settings.session_cookie,
        );
        Ok(self.removal_for(&scan.present)?)
    }

    pub(crate) fn removal_for(
        &self,
        present: &PresentCookies,
    ) -> Result<Vec<HeaderValue>, SessionWriteError> {
        to_header_values(removal_cookies(
            &self.settings.session_cookie,
            present,
            &self.session_cookie,
        ))
    }

    /// Session data for a new login. `claims` are the session's claims;
    /// only what the ID token lacks is stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_session_data(
        &self,
        now: u64,
        now_ms: u64,
        id_token: String,
        id_token_claims: &Map<String, Value>,
        claims: &Map<String, Value>,
        identity: (String, String, Option<String>),
    ) -> Result<SessionData, OidcError> {
        let (additions, removed_claims) = claims_delta(id_token_claims, claims);
        let (iss, sub, sid) = identity;
        Ok(SessionData {
            id: new_session_id(),
            created_at: now,
            created_ms: now_ms,
            refreshed_at: now,
            claims: serde_json::value::to_raw_value(&additions)
                .map_err(|e| OidcError::Session(SessionWriteError::Claims(e)))?,
            removed_claims,
            id_token,
            access_token: None,
            token_type: None,
            expires_at: None,
            refresh_token: None,
            scope: None,
            extra: Map::new(),
            iss,
            sub,
            sid,
        })
    }
}

/// The associated data of a stored record: bound to its session id.
fn record_aad(id: &str) -> String {
    format!("record:{id}")
}

#[cfg(test)]
pub(crate) mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A JWT-shaped ID token for unit tests (not signed: stored tokens are
    /// read without a signature check).
    pub(crate) fn unsigned_id_token() -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"i","sub":"s","aud":"c","exp":4000000000,"iat":1,"email":"a@x"}"#);
        format!("{header}.{payload}.c2ln")
    }

    #[test]
    fn session_ids_are_random_and_long_enough() {
        let a = super::new_session_id();
        let b = super::new_session_id();
        assert_ne!(a, b);
        assert!(a.len() >= 22, "{a}");
    }
}
