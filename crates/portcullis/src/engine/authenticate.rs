//! Authenticating a request: the session cookie, the store, the logout
//! markers, expiry and rolling renewal.
//!
//! [`Engine::authenticate_cached`] answers without I/O whenever the stores
//! can (cookie sessions with in-memory markers always can; a Redis store can
//! while its invalidation channel is up). Otherwise [`Engine::authenticate`]
//! asks the stores. A store that cannot answer makes the request
//! [`Authentication::Unavailable`]: a 503, never an anonymous request (which
//! would send a signed-in user to login) and never a stale session.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, header};

use super::{Engine, Storage, markers};
use crate::active::ActiveSession;
use crate::error::OidcError;
use crate::session::{PresentCookies, SessionCookieBytes, scan_session_cookie_bytes};
use crate::store::Cached;
use crate::telemetry::{self, Cache, Store};

/// The outcome of authenticating a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Authentication {
    /// A valid session. `set_cookies` renew a rolling cookie session; append
    /// them to the response unless the handler wrote the session itself
    /// ([`Engine::apply_renewal`] does exactly that).
    Active {
        /// The session.
        session: Arc<ActiveSession>,
        /// Cookies to append to the response.
        set_cookies: Vec<HeaderValue>,
    },
    /// No valid session. `set_cookies` clear a stale, expired, tampered or
    /// signed-out session cookie.
    Anonymous {
        /// Cookies to append to the response.
        set_cookies: Vec<HeaderValue>,
    },
    /// A store could not answer: answer the request with this error (503).
    Unavailable(OidcError),
}

impl Authentication {
    /// The session, when active.
    pub fn session(&self) -> Option<&Arc<ActiveSession>> {
        match self {
            Authentication::Active { session, .. } => Some(session),
            _ => None,
        }
    }

    fn anonymous() -> Self {
        Authentication::Anonymous {
            set_cookies: Vec::new(),
        }
    }
}

/// Where a lookup stands after the synchronous steps.
enum Step {
    Done(Authentication),
    /// The session is known; the markers must be read from the store.
    NeedMarkers(Arc<ActiveSession>),
    /// The record for this session id must be loaded from the store.
    NeedRecord(String),
    /// A server-side session whose rolling expiry must be extended.
    NeedTouch(Arc<ActiveSession>),
    /// A session whose access token is due for an automatic refresh.
    NeedRefresh(Arc<ActiveSession>),
}

impl Engine {
    /// Authenticates without I/O, or says that I/O is needed (`None`: call
    /// [`authenticate`](Self::authenticate)). Of `headers` it reads only the
    /// `Cookie` headers, so an adapter whose framework has other header
    /// types may pass just those.
    pub fn authenticate_cached(&self, headers: &HeaderMap, now: u64) -> Option<Authentication> {
        self.authenticate_cookies_cached(cookie_bytes(headers), now)
    }

    /// [`authenticate_cached`](Self::authenticate_cached) over the raw bytes
    /// of the request's `Cookie` headers, for adapters whose framework has
    /// its own header types: nothing is copied or re-validated.
    pub fn authenticate_cookies_cached<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        now: u64,
    ) -> Option<Authentication> {
        match self.lookup_step(cookie_headers, now).0 {
            Step::Done(done) => Some(done),
            _ => None,
        }
    }

    /// Authenticates the request, asking the stores when they cannot answer
    /// from memory. Like [`authenticate_cached`](Self::authenticate_cached),
    /// it reads only the `Cookie` headers (an automatic refresh included).
    pub async fn authenticate(&self, headers: &HeaderMap, now: u64) -> Authentication {
        let (mut step, present) = self.lookup_step(cookie_bytes(headers), now);
        loop {
            step = match step {
                Step::Done(done) => return done,
                Step::NeedRecord(id) => match self.load_record(&id).await {
                    Ok(Some(session)) => self.check_session(session, &present, now),
                    Ok(None) => return self.anonymous_clearing(&present),
                    Err(error) => return Authentication::Unavailable(error),
                },
                Step::NeedMarkers(session) => match self.markers_end(&session).await {
                    Ok(true) => return self.signed_out(&present, &session),
                    Ok(false) => self.after_markers(session, &present, now),
                    Err(error) => return Authentication::Unavailable(error),
                },
                Step::NeedTouch(session) => {
                    self.touch_stored(&session, now).await;
                    return Authentication::Active {
                        session,
                        set_cookies: Vec::new(),
                    };
                }
                Step::NeedRefresh(session) => {
                    return self.auto_refresh(session, headers, &present, now).await;
                }
            };
        }
    }

    /// Appends renewal (or clearing) cookies to a response, unless the
    /// response already writes the session cookie itself (a handler that
    /// refreshed or signed out wins over a renewal of the old session).
    pub fn apply_renewal(&self, set_cookies: Vec<HeaderValue>, response_headers: &mut HeaderMap) {
        if set_cookies.is_empty() || self.sets_session_cookie(response_headers) {
            return;
        }
        for cookie in set_cookies {
            response_headers.append(header::SET_COOKIE, cookie);
        }
    }

    /// True when `response_headers` already set (or clear) the session cookie
    /// or one of its chunks.
    pub(crate) fn sets_session_cookie(&self, response_headers: &HeaderMap) -> bool {
        let name = self.settings.session_cookie.as_bytes();
        response_headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|value| is_session_cookie(value.as_bytes(), name))
    }

    /// The synchronous steps, and which session cookies the request carried
    /// (what clearing or renewing them needs).
    fn lookup_step<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        now: u64,
    ) -> (Step, PresentCookies) {
        let scan: SessionCookieBytes<'_> =
            scan_session_cookie_bytes(cookie_headers, &self.settings.session_cookie);
        let present = scan.present;
        if present.is_empty() {
            return (Step::Done(Authentication::anonymous()), present);
        }
        let Some(sealed) = scan.value else {
            return (Step::Done(self.anonymous_clearing(&present)), present);
        };
        (self.lookup_sealed(&sealed, &present, now), present)
    }

    /// The synchronous steps for the session cookie's value `sealed`.
    fn lookup_sealed(&self, sealed: &[u8], present: &PresentCookies, now: u64) -> Step {
        match &self.storage {
            Storage::Cookie => match self.open_cookie_session(sealed) {
                Some(session) => {
                    if session.data().is_expired(now, &self.settings.durations) {
                        self.cache.remove(sealed);
                        return Step::Done(self.anonymous_clearing(present));
                    }
                    self.check_session(session, present, now)
                }
                None => Step::Done(self.anonymous_clearing(present)),
            },
            Storage::Server(store) => {
                let Some(id) = self.open_session_id(sealed) else {
                    return Step::Done(self.anonymous_clearing(present));
                };
                let cached = store.cached(&id);
                telemetry::session_cache(Cache::Store, !matches!(cached, Cached::Unknown));
                match cached {
                    Cached::Hit(record) => match self.decode_record(&id, &record) {
                        Some(session) => self.check_session(session, present, now),
                        None => Step::Done(self.anonymous_clearing(present)),
                    },
                    Cached::Absent => Step::Done(self.anonymous_clearing(present)),
                    Cached::Unknown => Step::NeedRecord(id),
                }
            }
        }
    }

    /// Loads and decodes a stored session.
    async fn load_record(&self, id: &str) -> Result<Option<Arc<ActiveSession>>, OidcError> {
        let Storage::Server(store) = &self.storage else {
            return Ok(None);
        };
        let record = telemetry::store_op(Store::Session, "load", store.load(id)).await?;
        Ok(record.and_then(|record| self.decode_record(id, &record)))
    }

    /// The checks every decoded session goes through: absolute expiry (server
    /// sessions: the store's TTL is the rolling expiry), markers, hooks, renewal.
    fn check_session(
        &self,
        session: Arc<ActiveSession>,
        present: &PresentCookies,
        now: u64,
    ) -> Step {
        if let Storage::Server(_) = self.storage
            && now
                >= session
                    .data()
                    .created_at
                    .saturating_add(self.settings.durations.absolute)
        {
            return Step::Done(self.anonymous_clearing(present));
        }
        match markers::cached_verdict(&session, |key| self.logouts.cached_marker(key)) {
            Some(true) => Step::Done(self.signed_out(present, &session)),
            Some(false) => self.after_markers(session, present, now),
            None => Step::NeedMarkers(session),
        }
    }

    /// Asks the logout store whether a marker ends `session`.
    async fn markers_end(&self, session: &ActiveSession) -> Result<bool, OidcError> {
        let found = telemetry::store_op(
            Store::Logout,
            "markers",
            self.logouts.markers(&session.marker_keys),
        )
        .await?;
        Ok(session
            .marker_keys
            .iter()
            .zip(found)
            .any(|(key, at)| at.is_some_and(|at| markers::ends_session(key, at, session))))
    }

    fn after_markers(
        &self,
        session: Arc<ActiveSession>,
        present: &PresentCookies,
        now: u64,
    ) -> Step {
        if let Some(hook) = &self.settings.is_logged_out
            && hook(&session)
        {
            return Step::Done(self.signed_out(present, &session));
        }
        if self.auto_refresh_due(&session, now) {
            return Step::NeedRefresh(session);
        }
        match &self.storage {
            Storage::Cookie => {
                let set_cookies = self
                    .renewal_cookies(&session, present, now)
                    .unwrap_or_default();
                Step::Done(Authentication::Active {
                    session,
                    set_cookies,
                })
            }
            Storage::Server(_) => {
                if self.touch_due(&session, now) {
                    Step::NeedTouch(session)
                } else {
                    Step::Done(Authentication::Active {
                        session,
                        set_cookies: Vec::new(),
                    })
                }
            }
        }
    }

    /// The automatic refresh of a session whose access token expires soon.
    /// A refused refresh token ends the session (the request goes on
    /// anonymous: login for browsers, 401 for APIs); an OP outage keeps it,
    /// with the old tokens while they are valid, else as a 503.
    async fn auto_refresh(
        &self,
        session: Arc<ActiveSession>,
        headers: &HeaderMap,
        present: &PresentCookies,
        now: u64,
    ) -> Authentication {
        match self.refresh(&session, headers).await {
            Ok((fresh, set_cookies)) => Authentication::Active {
                session: fresh,
                set_cookies,
            },
            Err(OidcError::ReauthenticationRequired) => self.anonymous_clearing(present),
            Err(error) => {
                let still_valid = session.data().expires_at.is_some_and(|exp| now < exp);
                if still_valid {
                    tracing::warn!(error = %error.describe(), "automatic refresh failed; the current access token is still valid");
                    Authentication::Active {
                        session,
                        set_cookies: Vec::new(),
                    }
                } else {
                    Authentication::Unavailable(error)
                }
            }
        }
    }

    /// A session that a marker or hook ended: forget it and clear its cookie.
    fn signed_out(&self, present: &PresentCookies, session: &ActiveSession) -> Authentication {
        tracing::debug!(sub = session.sub(), "a signed-out session was refused");
        self.anonymous_clearing(present)
    }

    /// No session, and the cookies that clear the session cookies the
    /// request carried.
    fn anonymous_clearing(&self, present: &PresentCookies) -> Authentication {
        match self.removal_for(present) {
            Ok(set_cookies) => Authentication::Anonymous { set_cookies },
            Err(error) => {
                tracing::warn!(%error, "could not build the cookies that clear a stale session");
                Authentication::anonymous()
            }
        }
    }

    /// Whether a server-side session's TTL should be extended now (at most
    /// once per touch interval per replica).
    fn touch_due(&self, session: &ActiveSession, now: u64) -> bool {
        let Some(interval) = self.settings.durations.touch_interval() else {
            return false;
        };
        let interval = interval.max(1);
        session.recent_renewal(now, interval).is_none()
            && now.saturating_sub(session.data().refreshed_at) >= interval
    }

    async fn touch_stored(&self, session: &ActiveSession, now: u64) {
        let Storage::Server(store) = &self.storage else {
            return;
        };
        // Remember first, so concurrent requests do not all touch.
        session.remember_renewal(now, &[]);
        let mut data = session.data().clone();
        data.touch(now);
        let ttl = self.store_ttl(&data, now);
        if let Err(error) =
            telemetry::store_op(Store::Session, "touch", store.touch(&data.id, ttl)).await
        {
            tracing::warn!(%error, "could not extend the session's rolling expiry");
        }
    }

    /// Re-sealed cookies when a rolling cookie session is due for renewal.
    fn renewal_cookies(
        &self,
        session: &ActiveSession,
        present: &PresentCookies,
        now: u64,
    ) -> Option<Vec<HeaderValue>> {
        if !session.data().needs_touch(now, &self.settings.durations) {
            return None;
        }
        // Requests that still carry this cookie (in flight while the browser
        // stores the renewed one, or a client that ignores Set-Cookie) reuse
        // the renewal instead of sealing again.
        let interval = self.settings.durations.touch_interval().unwrap_or(0).max(1);
        if let Some(cookies) = session.recent_renewal(now, interval) {
            return Some(cookies);
        }
        let mut data = session.data().clone();
        data.touch(now);
        match self.seal_cookie_session_over(&data, present, now) {
            Ok(cookies) => {
                session.remember_renewal(now, &cookies);
                Some(cookies)
            }
            Err(error) => {
                tracing::warn!(%error, "could not renew the rolling session cookie");
                None
            }
        }
    }
}

/// The raw bytes of each of the request's `Cookie` headers.
fn cookie_bytes(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
}

/// Whether a `Set-Cookie` value sets the session cookie `name` or a chunk
/// `name.N` (not another cookie such as `name.txn`).
pub(crate) fn is_session_cookie(set_cookie: &[u8], name: &[u8]) -> bool {
    set_cookie
        .strip_prefix(name)
        .is_some_and(|rest| match rest {
            [b'=', ..] => true,
            [b'.', digit, ..] => digit.is_ascii_digit(),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_and_its_chunks_are_recognised_but_not_its_siblings() {
        let name = b"portcullis.session";
        assert!(is_session_cookie(b"portcullis.session=abc; Path=/", name));
        assert!(is_session_cookie(b"portcullis.session.0=abc", name));
        assert!(is_session_cookie(b"portcullis.session.12=", name));
        assert!(!is_session_cookie(b"portcullis.session.txn=abc", name));
        assert!(!is_session_cookie(b"portcullis.sessionx=abc", name));
        assert!(!is_session_cookie(b"other=portcullis.session", name));
        assert!(!is_session_cookie(b"portcullis.session", name));
    }
}
