//! What the session cookie holds, and its rolling and absolute lifetimes.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::keys::{CookiePurpose, FORMAT_VERSION, SessionCodecError, SessionKeys};

/// Default rolling duration: 1 day.
pub const DEFAULT_ROLLING_SECS: u64 = 24 * 3600;
/// Default absolute duration: 7 days.
pub const DEFAULT_ABSOLUTE_SECS: u64 = 7 * 24 * 3600;
/// The longest interval between two re-seals of an active rolling session, in seconds.
pub const MAX_TOUCH_INTERVAL_SECS: u64 = 60;

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// How long a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionDurations {
    /// Rolling duration in seconds: the session ends this long after the last time it
    /// was refreshed (re-written). `None` turns rolling expiry off. Default 1 day.
    pub rolling: Option<u64>,
    /// Absolute duration in seconds: the session ends this long after login whatever
    /// the activity. Default 7 days.
    pub absolute: u64,
}

impl Default for SessionDurations {
    fn default() -> Self {
        SessionDurations {
            rolling: Some(DEFAULT_ROLLING_SECS),
            absolute: DEFAULT_ABSOLUTE_SECS,
        }
    }
}

impl SessionDurations {
    /// How long after `refreshed_at` a rolling session is re-sealed on a request:
    /// `min(rolling / 20, 60 s)`. See [`SessionData::needs_touch`].
    pub fn touch_interval(&self) -> Option<u64> {
        self.rolling.map(|r| (r / 20).min(MAX_TOUCH_INTERVAL_SECS))
    }
}

/// Why a session could not be sealed into, or opened from, its cookie value. Never
/// contains the cookie value or token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionDataError {
    /// The value could not be decrypted (see [`SessionCodecError`]).
    #[error(transparent)]
    Codec(#[from] SessionCodecError),
    /// The decrypted value is not a valid session (for example written by an
    /// incompatible version).
    #[error("the session cookie holds malformed session data")]
    Malformed,
    /// The session could not be serialized (not expected to happen).
    #[error("the session could not be serialized")]
    Serialize,
}

/// The signed-in user's session, sealed into the session cookie.
///
/// Field names are abbreviated on the wire to keep the cookie small. The user is
/// identified by (`iss`, `sub`), never by email.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// The session's own random id (128 bits, base64url): the key of a
    /// server-side store, and what a logout marker names for cookie sessions.
    #[serde(rename = "n", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When the session was created (login), unix seconds. Drives the absolute
    /// duration.
    #[serde(rename = "c", default, skip_serializing_if = "is_zero")]
    pub created_at: u64,
    /// When the session was created, unix milliseconds: logout markers name
    /// the sessions that started at or before their time.
    #[serde(rename = "cm", default)]
    pub created_ms: u64,
    /// When the cookie was last re-written, unix seconds. Drives the rolling
    /// duration.
    #[serde(rename = "r", default, skip_serializing_if = "is_zero")]
    pub refreshed_at: u64,
    /// The user claims that the ID token does not already hold (from userinfo,
    /// or edited by the `after_callback` hook), as a JSON object. The session's
    /// claims are the ID token's claims, minus [`removed_claims`](Self::removed_claims),
    /// plus these: nothing is stored twice.
    #[serde(rename = "u")]
    pub claims: Box<RawValue>,
    /// ID-token claims the `after_callback` hook removed.
    #[serde(rename = "ur", default, skip_serializing_if = "Vec::is_empty")]
    pub removed_claims: Vec<String>,
    /// The ID token (compact JWS).
    #[serde(rename = "i", default, skip_serializing_if = "String::is_empty")]
    pub id_token: String,
    /// The access token, when issued.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The access token type (usually `Bearer`).
    #[serde(rename = "tt", default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// When the access token expires, unix seconds.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The refresh token, when issued.
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope, when the token response returned one.
    #[serde(rename = "sc", default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Application data (for example added by an `after_callback` hook).
    #[serde(rename = "x", default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The issuer of the ID token.
    #[serde(rename = "is", default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// The subject of the ID token.
    #[serde(rename = "s", default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// The OP session id (`sid` claim), for back-channel logout.
    #[serde(rename = "sd", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "[redacted]");
        f.debug_struct("SessionData")
            .field("id", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("refreshed_at", &self.refreshed_at)
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .field(
                "claims",
                &format_args!("[{} bytes]", self.claims.get().len()),
            )
            .field("id_token", &"[redacted]")
            .field("access_token", &redact(&self.access_token))
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &redact(&self.refresh_token))
            .field("scope", &self.scope)
            .field("extra", &format_args!("[{} keys]", self.extra.len()))
            .finish()
    }
}

impl SessionData {
    /// Whether the session has ended at `now` (unix seconds): past its absolute end
    /// (`created_at + absolute`), or, with rolling enabled, past its rolling end
    /// (`refreshed_at + rolling`). The end instant itself counts as expired.
    pub fn is_expired(&self, now: u64, durations: &SessionDurations) -> bool {
        now >= self.expires_at_for_cookie(durations)
    }

    /// Whether a request at `now` should re-seal the cookie to extend a rolling
    /// session.
    ///
    /// Re-sealing costs an encryption and a `Set-Cookie` on the response, so it is
    /// done only once [`SessionDurations::touch_interval`] (`min(rolling / 20, 60 s)`)
    /// has passed since `refreshed_at`: an active user's cookie is re-written at most
    /// about once a minute, and the rolling end is at most that interval earlier than
    /// with a re-write on every request. Always `false` without rolling expiry.
    /// Check [`is_expired`](Self::is_expired) first.
    pub fn needs_touch(&self, now: u64, durations: &SessionDurations) -> bool {
        match durations.touch_interval() {
            Some(interval) => now.saturating_sub(self.refreshed_at) >= interval.max(1),
            None => false,
        }
    }

    /// Marks the session as refreshed at `now` (call before re-sealing).
    pub fn touch(&mut self, now: u64) {
        self.refreshed_at = now;
    }

    /// When the session ends (unix seconds): `min(refreshed_at + rolling,
    /// created_at + absolute)`. This is also the cookie's expiry.
    pub fn expires_at_for_cookie(&self, durations: &SessionDurations) -> u64 {
        let absolute_end = self.created_at.saturating_add(durations.absolute);
        match durations.rolling {
            Some(rolling) => absolute_end.min(self.refreshed_at.saturating_add(rolling)),
            None => absolute_end,
        }
    }

    /// The cookie `Max-Age` for a write at `now`: seconds until
    /// [`expires_at_for_cookie`](Self::expires_at_for_cookie) (0 when already over).
    pub fn cookie_max_age(&self, now: u64, durations: &SessionDurations) -> u64 {
        self.expires_at_for_cookie(durations).saturating_sub(now)
    }

    /// Serializes and seals the session for the cookie `cookie_name`.
    pub fn seal(&self, keys: &SessionKeys, cookie_name: &str) -> Result<String, SessionDataError> {
        let plain = super::compact::encode(self)?;
        Ok(keys.seal(CookiePurpose::Session, cookie_name, &plain)?)
    }

    /// Serializes and seals the session as a store record bound to `aad`: the
    /// sealed bytes themselves (stores hold bytes, not the cookie's base64url
    /// text), compressed before sealing with a preset dictionary (a record's
    /// length never reaches a client; cookies are never compressed).
    pub fn seal_record(&self, keys: &SessionKeys, aad: &str) -> Result<Vec<u8>, SessionDataError> {
        let plain = super::compact::encode_for_store(self)?;
        Ok(keys.seal_bytes(CookiePurpose::Session, aad, &plain)?)
    }

    /// Opens a store record made by [`seal_record`](Self::seal_record), or
    /// one written as base64url text by an earlier version (told apart by
    /// the first byte: the format version is not a base64url character).
    /// `id` is the key the record was read under: a record leaves its own
    /// id out (the store's key and the associated data `aad` say it).
    pub fn open_record(
        keys: &SessionKeys,
        id: &str,
        aad: &str,
        record: &[u8],
    ) -> Result<SessionData, SessionDataError> {
        match record.first() {
            Some(&FORMAT_VERSION) => {
                keys.open_bytes_with(CookiePurpose::Session, aad, record, |plain| {
                    super::compact::decode_with(plain, Some(id))
                })?
            }
            _ => {
                let text = std::str::from_utf8(record).map_err(|_| SessionDataError::Malformed)?;
                Self::open(keys, aad, text)
            }
        }
    }

    /// Opens and parses a session sealed by [`seal`](Self::seal) under `cookie_name`.
    pub fn open(
        keys: &SessionKeys,
        cookie_name: &str,
        sealed: &str,
    ) -> Result<SessionData, SessionDataError> {
        keys.open_with(CookiePurpose::Session, cookie_name, sealed, |plain| {
            super::compact::decode(plain)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::cookies::{CookieOptions, encode_session_cookies, read_session_cookie};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

    fn keys() -> SessionKeys {
        SessionKeys::from_secrets(&[SECRET]).unwrap()
    }

    /// A JWT-shaped token of about `len` characters.
    fn token(len: usize, seed: u8) -> String {
        let bytes: Vec<u8> = (0..len * 3 / 4)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect();
        let body = URL_SAFE_NO_PAD.encode(bytes);
        format!(
            "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.{}.sig",
            &body[..len.saturating_sub(40)]
        )
    }

    fn sample(now: u64) -> SessionData {
        let claims = serde_json::json!({
            "sub": "248289761001",
            "iss": "https://op.example.com",
            "name": "Jane Doe",
            "given_name": "Jane",
            "family_name": "Doe",
            "email": "jane.doe@example.com",
            "email_verified": true,
            "picture": "https://example.com/jane/me.jpg",
            "locale": "en-GB",
            "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
            "auth_time": now,
        });
        SessionData {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            created_at: now,
            created_ms: now.saturating_mul(1000),
            removed_claims: Vec::new(),
            refreshed_at: now,
            claims: serde_json::value::to_raw_value(&claims).unwrap(),
            id_token: token(1024, 1),
            access_token: Some(token(1024, 2)),
            token_type: Some("Bearer".into()),
            expires_at: Some(now.saturating_add(3600)),
            refresh_token: Some(URL_SAFE_NO_PAD.encode([7u8; 48])),
            scope: Some("openid profile email offline_access".into()),
            extra: Map::new(),
            iss: "https://op.example.com".into(),
            sub: "248289761001".into(),
            sid: Some("08a5019c-17e1-4977-8f42-65a12843ea02".into()),
        }
    }

    #[test]
    fn realistic_session_round_trips_through_cookies_and_reports_size() {
        let now = 1_800_000_000;
        let data = sample(now);
        let k = keys();
        let name = "portcullis.session";
        let json_len = serde_json::to_vec(&data).unwrap().len();
        let sealed = data.seal(&k, name).unwrap();
        let opts = CookieOptions::for_session(true);
        let durations = SessionDurations::default();
        let cookies =
            encode_session_cookies(name, &sealed, &opts, data.cookie_max_age(now, &durations))
                .unwrap();
        let set_cookie_bytes: usize = cookies.iter().map(|c| c.to_string().len()).sum();
        let header = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "realistic session (1 KB ID token, 1 KB access token, refresh token, 11 claims): \
             JSON {json_len} B, sealed {} B, {} cookie(s), Set-Cookie total {set_cookie_bytes} B, \
             request Cookie header {} B",
            sealed.len(),
            cookies.len(),
            header.len()
        );
        let header = http::HeaderValue::from_str(&header).unwrap();
        let read = read_session_cookie([&header], name).unwrap();
        let back = SessionData::open(&k, name, &read).unwrap();
        assert_eq!(back.id_token, data.id_token);
        assert_eq!(back.access_token, data.access_token);
        assert_eq!(back.refresh_token, data.refresh_token);
        assert_eq!(back.claims.get(), data.claims.get());
        assert_eq!(back.sub, "248289761001");
        assert_eq!(back.sid, data.sid);
        assert_eq!(back.expires_at, Some(now + 3600));
    }

    #[test]
    fn a_store_record_is_the_sealed_bytes_and_older_text_records_still_open() {
        let data = sample(1_800_000_000);
        let k = keys();
        let record = data.seal_record(&k, "rec:a").unwrap();
        let text = data.seal(&k, "rec:a").unwrap();
        assert_eq!(record[0], FORMAT_VERSION);
        assert!(
            record.len() * 4 <= text.len() * 3 + 3,
            "bytes {} vs text {}",
            record.len(),
            text.len()
        );
        // The record's plaintext is compressed; the cookie's never is.
        let first = |plain: &[u8]| plain[0];
        let record_format = k.open_bytes_with(CookiePurpose::Session, "rec:a", &record, first);
        assert_eq!(
            record_format,
            Ok(super::super::compressed::FORMAT_COMPRESSED)
        );
        let cookie_format = k.open_with(CookiePurpose::Session, "rec:a", &text, first);
        assert_eq!(cookie_format, Ok(0x02));
        assert!(
            record.len() * 4 < text.len() * 3 * 9 / 10,
            "the compressed record ({} B) should be well under the cookie's bytes ({} B of text)",
            record.len(),
            text.len()
        );
        for stored in [record.clone(), text.into_bytes()] {
            let back =
                SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:a", &stored).unwrap();
            assert_eq!(back.id_token, data.id_token);
            assert_eq!(back.access_token, data.access_token);
        }
        // Bound to its associated data, and tampering is refused.
        assert!(SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:b", &record).is_err());
        let mut tampered = record.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:a", &tampered).is_err()
        );
        assert!(SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:a", &[]).is_err());
        assert!(
            SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:a", &[FORMAT_VERSION])
                .is_err()
        );
        assert!(
            SessionData::open_record(&k, "AAAAAAAAAAAAAAAAAAAAAA", "rec:a", &[0xff, 0xfe]).is_err()
        );
    }

    #[test]
    fn round_trips_minimal_session_with_extra_data() {
        let mut data = sample(10);
        data.access_token = None;
        data.refresh_token = None;
        data.token_type = None;
        data.expires_at = None;
        data.scope = None;
        data.sid = None;
        data.extra.insert("tenant".into(), Value::from("acme"));
        let k = keys();
        let back = SessionData::open(&k, "s", &data.seal(&k, "s").unwrap()).unwrap();
        assert_eq!(back.access_token, None);
        assert_eq!(back.extra["tenant"], "acme");
        let json = serde_json::to_string(&back).unwrap();
        assert!(
            !json.contains("\"a\":"),
            "absent options are skipped: {json}"
        );
    }

    #[test]
    fn empty_extra_is_not_serialized() {
        let json = serde_json::to_string(&sample(1)).unwrap();
        assert!(!json.contains("\"x\":"));
    }

    #[test]
    fn rejects_session_sealed_under_another_cookie_name() {
        let k = keys();
        let sealed = sample(1).seal(&k, "a").unwrap();
        assert_eq!(
            SessionData::open(&k, "b", &sealed).unwrap_err(),
            SessionDataError::Codec(SessionCodecError::Decrypt)
        );
    }

    #[test]
    fn rejects_authentic_but_malformed_session_json() {
        let k = keys();
        let sealed = k
            .seal(CookiePurpose::Session, "s", br#"{"c":"secret-ish"}"#)
            .unwrap();
        let err = SessionData::open(&k, "s", &sealed).unwrap_err();
        assert_eq!(err, SessionDataError::Malformed);
        assert!(!err.to_string().contains("secret-ish"));
    }

    #[test]
    fn rejects_transaction_cookie_opened_as_session() {
        let k = keys();
        let sealed = k
            .seal(
                CookiePurpose::Transaction,
                "s",
                &serde_json::to_vec(&sample(1)).unwrap(),
            )
            .unwrap();
        assert!(SessionData::open(&k, "s", &sealed).is_err());
    }

    #[test]
    fn debug_redacts_tokens() {
        let data = sample(1);
        let dbg = format!("{data:?}");
        assert!(!dbg.contains(&data.id_token));
        assert!(!dbg.contains(data.access_token.as_deref().unwrap()));
        assert!(!dbg.contains(data.refresh_token.as_deref().unwrap()));
        assert!(!dbg.contains("jane.doe"));
        assert!(dbg.contains("248289761001"));
    }

    #[test]
    fn expires_after_rolling_duration_without_activity() {
        let d = SessionDurations {
            rolling: Some(1000),
            absolute: 10_000,
        };
        let mut s = sample(100);
        assert!(!s.is_expired(1099, &d));
        assert!(s.is_expired(1100, &d));
        s.touch(1000);
        assert!(!s.is_expired(1999, &d));
        assert!(s.is_expired(2000, &d));
    }

    #[test]
    fn expires_at_absolute_duration_despite_activity() {
        let d = SessionDurations {
            rolling: Some(1000),
            absolute: 5000,
        };
        let mut s = sample(100);
        s.touch(4900);
        assert_eq!(s.expires_at_for_cookie(&d), 5100);
        assert!(!s.is_expired(5099, &d));
        assert!(s.is_expired(5100, &d));
        assert_eq!(s.cookie_max_age(5000, &d), 100);
        assert_eq!(s.cookie_max_age(6000, &d), 0);
    }

    #[test]
    fn without_rolling_only_absolute_duration_applies() {
        let d = SessionDurations {
            rolling: None,
            absolute: 5000,
        };
        let s = sample(100);
        assert!(!s.is_expired(5099, &d));
        assert!(s.is_expired(5100, &d));
        assert!(!s.needs_touch(5000, &d));
        assert_eq!(s.expires_at_for_cookie(&d), 5100);
    }

    #[test]
    fn cookie_expiry_is_rolling_end_when_sooner() {
        let d = SessionDurations::default();
        let s = sample(100);
        assert_eq!(s.expires_at_for_cookie(&d), 100 + DEFAULT_ROLLING_SECS);
        assert_eq!(s.cookie_max_age(100, &d), DEFAULT_ROLLING_SECS);
    }

    #[test]
    fn expiry_saturates_instead_of_overflowing() {
        let d = SessionDurations {
            rolling: Some(u64::MAX),
            absolute: u64::MAX,
        };
        let s = sample(u64::MAX - 1);
        assert_eq!(s.expires_at_for_cookie(&d), u64::MAX);
        assert!(!s.is_expired(u64::MAX - 1, &d));
    }

    #[test]
    fn needs_touch_only_after_touch_interval() {
        let d = SessionDurations::default();
        assert_eq!(d.touch_interval(), Some(60));
        let s = sample(1000);
        assert!(!s.needs_touch(1000, &d));
        assert!(!s.needs_touch(1059, &d));
        assert!(s.needs_touch(1060, &d));
        // Short rolling durations touch after a twentieth of the duration.
        let short = SessionDurations {
            rolling: Some(200),
            absolute: 10_000,
        };
        assert_eq!(short.touch_interval(), Some(10));
        assert!(!s.needs_touch(1009, &short));
        assert!(s.needs_touch(1010, &short));
        // A clock that went backwards does not trigger a touch.
        assert!(!s.needs_touch(500, &d));
    }
}
