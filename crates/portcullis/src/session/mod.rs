//! Encrypted cookie sessions.
//!
//! - [`SessionKeys`]: AES-256-GCM keys derived by HKDF-SHA256 from `SECRET`
//!   (comma-separated, newest first; the newest seals, all open). Each write uses a
//!   fresh random nonce, and the cookie name is bound as associated data.
//! - [`SessionData`]: what the session cookie holds (claims, tokens, `iss`/`sub`/`sid`,
//!   application data), with rolling and absolute expiry ([`SessionDurations`]).
//! - [`encode_session_cookies`] / [`scan_session_cookies`]: chunking of large values
//!   over `name.0`, `name.1`, … (at most [`MAX_CHUNKS`]) and allocation-light reading
//!   of the `Cookie` headers; [`removal_cookies`] and [`replace_session_cookies`]
//!   clear stale chunks.
//! - [`TransactionStore`]: the pending sign-in flows in one encrypted, short-lived
//!   transaction cookie, capped at [`MAX_PENDING_FLOWS`], each state usable once.
//! - [`CookieOptions`]: cookie attributes (`HttpOnly`, `SameSite`, `Secure` on https).
//!
//! # Typical request path
//!
//! ```
//! use portcullis::session::*;
//! # let keys = SessionKeys::from_secret_list("a-development-secret-of-32-chars!").unwrap();
//! # let headers = http::HeaderMap::new();
//! # let now = 1_800_000_000;
//! let durations = SessionDurations::default();
//! let scan = scan_session_cookies(headers.get_all(http::header::COOKIE), "portcullis.session");
//! let session = scan
//!     .value
//!     .as_deref()
//!     .and_then(|v| SessionData::open(&keys, "portcullis.session", v).ok())
//!     .filter(|s| !s.is_expired(now, &durations));
//! assert!(session.is_none());
//! ```

mod compact;
mod cookies;
mod data;
mod keys;
mod transaction;

/// Re-exported so callers can name `SameSite` without depending on `cookie`.
pub use cookie::SameSite;
pub use cookies::{
    CookieOptions, MAX_CHUNKS, MAX_COOKIE_BYTES, PresentCookies, SessionCookieBytes,
    SessionCookieError, SessionCookieScan, encode_session_cookies, read_cookie,
    read_session_cookie, removal_cookies, replace_session_cookies, scan_session_cookie_bytes,
    scan_session_cookies,
};
pub use data::{
    DEFAULT_ABSOLUTE_SECS, DEFAULT_ROLLING_SECS, MAX_TOUCH_INTERVAL_SECS, SessionData,
    SessionDataError, SessionDurations,
};
pub use keys::{
    CookiePurpose, FORMAT_VERSION, MAX_SEALED_LEN, MIN_SECRET_LEN, SessionCodecError,
    SessionKeyError, SessionKeys,
};
pub use transaction::{
    MAX_PENDING_FLOWS, TRANSACTION_MAX_AGE_SECS, TransactionError, TransactionStore,
};

/// A minimal session for unit tests.
#[cfg(test)]
pub(crate) fn test_session_data() -> SessionData {
    SessionData {
        id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        created_at: 1,
        created_ms: 1000,
        refreshed_at: 1,
        claims: serde_json::value::RawValue::from_string("{}".into()).unwrap_or_default(),
        removed_claims: Vec::new(),
        id_token: "t".into(),
        access_token: None,
        token_type: None,
        expires_at: None,
        refresh_token: None,
        scope: None,
        extra: Default::default(),
        iss: "i".into(),
        sub: "s".into(),
        sid: None,
    }
}
