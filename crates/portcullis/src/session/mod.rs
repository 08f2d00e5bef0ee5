//! Encrypted sessions: what a session holds and the keys that seal it.
//!
//! - [`SessionKeys`]: AES-256-GCM keys derived by HKDF-SHA256 from `SECRET`
//!   (comma-separated, newest first; the newest seals, all open), bound to the
//!   issuer and client id. Each write uses a fresh random nonce, and the cookie
//!   name (or a store record's id) is bound as associated data.
//! - [`SessionData`]: what a session holds (the ID token, the claims it lacks,
//!   tokens, application data), with rolling and absolute expiry
//!   ([`SessionDurations`]).
//!
//! The cookie plumbing (chunking over `name.0`, `name.1`, …, the scans of the
//! `Cookie` header, the transaction cookie) is the engine's own; it is public
//! only behind the unstable `internals` feature, for the fuzz targets.
//!
//! ```
//! use portcullis::session::{SessionDurations, SessionKeys};
//! let keys = SessionKeys::from_secret_list("a-development-secret-of-32-chars!").unwrap();
//! assert_eq!(keys.len(), 1);
//! assert_eq!(SessionDurations::default().absolute, 7 * 24 * 3600);
//! ```

mod compact;
mod compressed;
mod cookies;
mod data;
mod keys;
mod transaction;

pub use data::{
    DEFAULT_ABSOLUTE_SECS, DEFAULT_ROLLING_SECS, MAX_TOUCH_INTERVAL_SECS, SessionData,
    SessionDataError, SessionDurations,
};
pub use keys::{CookiePurpose, MIN_SECRET_LEN, SessionCodecError, SessionKeyError, SessionKeys};

#[allow(unused_imports)]
pub(crate) use cookies::{
    CookieOptions, MAX_CHUNKS, MAX_COOKIE_BYTES, PresentCookies, SessionCookieBytes,
    SessionCookieError, SessionCookieScan, encode_session_cookies, read_cookie, removal_cookies,
    replace_session_cookies, scan_session_cookie_bytes, scan_session_cookies,
};
#[allow(unused_imports)]
pub(crate) use keys::{FORMAT_VERSION, MAX_SEALED_LEN};
#[allow(unused_imports)]
pub(crate) use transaction::{
    MAX_PENDING_FLOWS, TRANSACTION_MAX_AGE_SECS, TransactionError, TransactionStore,
};

/// The engine's cookie plumbing, for the fuzz targets. Unstable: not part of
/// the public API, and it may change in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use super::cookies::{
        CookieOptions, MAX_CHUNKS, MAX_COOKIE_BYTES, PresentCookies, SessionCookieBytes,
        SessionCookieError, SessionCookieScan, encode_session_cookies, read_cookie,
        read_session_cookie, removal_cookies, replace_session_cookies, scan_session_cookie_bytes,
        scan_session_cookies,
    };
    pub use super::keys::{FORMAT_VERSION, MAX_SEALED_LEN};
    pub use super::transaction::{
        MAX_PENDING_FLOWS, TRANSACTION_MAX_AGE_SECS, TransactionError, TransactionStore,
    };
}

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
