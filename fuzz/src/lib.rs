//! Shared fixtures for the Portcullis fuzz targets: the fixed JWKS, client
//! and clock the targets validate against, and the invariants every
//! accepted token must satisfy (checked with `assert!`, so a violated rule
//! is reported by the fuzzer as a crash).
//!
//! The JWKS and the seed inputs in `seeds/` are made together by
//! `tools/make-seeds.py`; the constants here must match that script.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use portcullis_core::Secret;
use portcullis_core::jose::{Algorithm, Jwks, JwsPolicy};
use portcullis_core::logout_token::{LogoutTokenClaims, LogoutTokenError, LogoutTokenExpectations};

/// The fixed clock, unix seconds.
pub const NOW: u64 = 1_700_000_000;
/// The fixed issuer.
pub const ISSUER: &str = "https://op.example.com";
/// The fixed client id.
pub const CLIENT_ID: &str = "fuzz-client";
/// The fixed client secret (the HS* key).
pub const CLIENT_SECRET: &str = "fuzz-client-secret-of-32-bytes!!";
/// The fixed clock skew.
pub const SKEW: u64 = 60;
/// Every algorithm, HMAC included, so every verification path is reachable.
pub const ALL_ALGS: [Algorithm; 12] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// The fixed JWKS document: an RSA, a P-256 and an Ed25519 public key.
pub const JWKS_JSON: &str = include_str!("jwks.json");

/// The fixed JWKS, parsed once.
pub fn jwks() -> &'static Jwks {
    static JWKS: OnceLock<Jwks> = OnceLock::new();
    JWKS.get_or_init(|| Jwks::from_json(JWKS_JSON.as_bytes()).expect("src/jwks.json parses"))
}

/// The fixed client secret.
pub fn client_secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| Secret::new(CLIENT_SECRET))
}

/// The JWS policy of the fixed client.
pub fn policy() -> JwsPolicy<'static> {
    JwsPolicy {
        allowed_algs: &ALL_ALGS,
        client_secret: Some(client_secret()),
    }
}

/// The logout token expectations of the fixed client.
pub fn logout_expectations() -> LogoutTokenExpectations<'static> {
    LogoutTokenExpectations {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        client_secret: Some(client_secret()),
        allowed_algs: &ALL_ALGS,
        now: NOW,
        skew_secs: SKEW,
    }
}

/// Inputs shorter than this are not checked for being echoed by an error.
const MIN_ECHO_CHECK_LEN: usize = 32;

/// Whether `input` looks like a real token: at least
/// [`MIN_ECHO_CHECK_LEN`] characters of base64url and `.` (no spaces, so no
/// run of a message's prose can be one).
fn is_token_shaped(input: &str) -> bool {
    input.len() >= MIN_ECHO_CHECK_LEN
        && input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The invariants of a `validate_logout_token` result: an accepted token
/// satisfies every BCL §2.6 rule, and an error's texts never contain the
/// token.
pub fn check_logout_result(
    token: &str,
    payload: Option<&serde_json::Map<String, serde_json::Value>>,
    result: &Result<LogoutTokenClaims, LogoutTokenError>,
) {
    match result {
        Ok(claims) => {
            assert_eq!(claims.iss, ISSUER);
            assert!(!claims.aud.is_empty());
            assert!(claims.aud.iter().all(|a| a == CLIENT_ID));
            assert!(!claims.jti.is_empty());
            assert!(claims.sub.is_some() || claims.sid.is_some());
            assert!(claims.sub.as_deref() != Some(""));
            assert!(claims.sid.as_deref() != Some(""));
            assert!(NOW < claims.exp.saturating_add(SKEW));
            assert!(claims.iat <= NOW + SKEW);
            if let Some(payload) = payload {
                assert!(!payload.contains_key("nonce"));
                let events = payload["events"].as_object().expect("events is an object");
                assert!(
                    events[portcullis_core::logout_token::BACKCHANNEL_LOGOUT_EVENT].is_object()
                );
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?} {}", e.code());
            assert!(!e.code().is_empty());
            // A short input can occur in a message by coincidence ("J" in
            // "JWKS"), and the fuzzer learns the messages' own prose and feeds
            // it back (it found "logout token signature or header rejected
            // Jws(Malformed) malform", which is not an echo). So only a
            // token-shaped input is checked: long, and made of the characters
            // of a compact JWS (base64url and dots), as every real token is.
            if is_token_shaped(token) {
                assert!(!shown.contains(token), "an error echoes the token");
            }
            let _ = e.is_unknown_kid();
            let _ = std::error::Error::source(e).map(ToString::to_string);
        }
    }
}

/// Fixed inputs and invariants of the `portcullis` session targets
/// (`session_cookie`, `session_id`, `session_plaintext`), and mirrors of
/// the engine's crate-private decoders built from the public pieces they
/// call (see `crates/portcullis/src/engine/persist.rs`).
///
/// The seeds in `seeds/session_*` are made by `tools/make_session_seeds.rs`
/// with these keys; changing a constant here means running it again.
pub mod session {
    use std::sync::OnceLock;

    use http::HeaderValue;
    use portcullis::session::internals::{
        CookieOptions, MAX_CHUNKS, MAX_COOKIE_BYTES, MAX_PENDING_FLOWS, MAX_SEALED_LEN,
        TransactionError, TransactionStore, encode_session_cookies, read_cookie,
        read_session_cookie, removal_cookies, scan_session_cookie_bytes, scan_session_cookies,
    };
    use portcullis::session::{
        CookiePurpose, SessionCodecError, SessionData, SessionDataError, SessionKeys,
    };
    use portcullis_core::authorize::PendingAuthorization;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::{Map, Value};

    use super::{CLIENT_ID, ISSUER, NOW};

    /// `SECRET`: a newest and a retired secret, so both the in-place open
    /// (the last key) and the scratch-copy open (every earlier key) run.
    pub const SESSION_SECRETS: &str = "fuzz-session-secret-newest-0123456789abcdef,\
                                       fuzz-session-secret-retired-0123456789abcd";
    /// The retired secret alone: what seals the "sealed before rotation" seeds.
    pub const RETIRED_SECRET: &str = "fuzz-session-secret-retired-0123456789abcd";
    /// The engine's default session cookie name.
    pub const SESSION_COOKIE: &str = "portcullis.session";
    /// The engine's default transaction cookie name (`{session}.txn`).
    pub const TRANSACTION_COOKIE: &str = "portcullis.session.txn";
    /// The associated data of a sealed session-id cookie (`{session}#id`,
    /// `Engine::id_cookie_aad`).
    pub const ID_COOKIE_AAD: &str = "portcullis.session#id";
    /// The shortest session id `Engine::open_session_id` accepts.
    pub const MIN_SESSION_ID_LEN: usize = 22;
    /// The session id of the seed records (the shape of `new_session_id`:
    /// 16 random bytes, base64url).
    pub const SEED_SESSION_ID: &str = "q83vEjRWeJASNFZ4kBI0Vg";

    /// The associated data of a stored record (`record_aad` in persist.rs).
    pub fn record_aad(id: &str) -> String {
        format!("record:{id}")
    }

    /// The key binding the engine uses: issuer and client id (`Engine::start`).
    pub fn binding() -> String {
        format!("{ISSUER}\0{CLIENT_ID}")
    }

    /// The fixed keys, derived once, bound like the engine's.
    pub fn keys() -> &'static SessionKeys {
        static KEYS: OnceLock<SessionKeys> = OnceLock::new();
        KEYS.get_or_init(|| {
            SessionKeys::bound_from_secret_list(SESSION_SECRETS, binding().as_bytes())
                .expect("SESSION_SECRETS is valid")
        })
    }

    /// Keys from the retired secret alone (seed generation).
    pub fn retired_keys() -> SessionKeys {
        SessionKeys::bound_from_secret_list(RETIRED_SECRET, binding().as_bytes())
            .expect("RETIRED_SECRET is valid")
    }

    /// `Engine::open_session_id`, from the public pieces: UTF-8, open under
    /// `{session}#id`, UTF-8 again, at least 22 characters.
    pub fn open_session_id(keys: &SessionKeys, sealed: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(sealed).ok()?;
        let plain = keys
            .open(CookiePurpose::Session, ID_COOKIE_AAD, text)
            .ok()?;
        let id = String::from_utf8(plain).ok()?;
        (id.len() >= MIN_SESSION_ID_LEN).then_some(id)
    }

    /// `Engine::decode_record` up to `ActiveSession::decode` (crate-private):
    /// UTF-8, open under `record:{id}`, the id it carries must be `id`, then
    /// the checks of `Engine::decode`.
    pub fn decode_record(keys: &SessionKeys, id: &str, record: &[u8]) -> Option<SessionData> {
        let text = std::str::from_utf8(record).ok()?;
        let data = SessionData::open(keys, &record_aad(id), text).ok()?;
        if data.id != id {
            return None;
        }
        decode(data)
    }

    /// `Engine::decode` and `ActiveSession::decode` (both crate-private),
    /// mirrored with the public functions they call: the issuer must be
    /// ours, the stored ID token must read (`stored_id_token_claims`), and
    /// the stored claim additions must be a JSON object.
    pub fn decode(data: SessionData) -> Option<SessionData> {
        if data.iss != ISSUER {
            return None;
        }
        let token = portcullis_core::id_token::stored_id_token_claims(&data.id_token).ok()?;
        assert!(!token.sub.is_empty());
        let _additions: Map<String, Value> = serde_json::from_str(data.claims.get()).ok()?;
        Some(data)
    }

    /// The wire form of a session, to compare two of them (`SessionData`
    /// has no `PartialEq`; its claims are a raw JSON text kept verbatim).
    pub fn wire(data: &SessionData) -> Vec<u8> {
        serde_json::to_vec(data).expect("an opened session serializes")
    }

    /// Invariants of a session that opened under `aad`: it seals again and
    /// opens to the same data; the sealed value is a valid cookie value that
    /// the chunker and the scanner carry unchanged; it does not open under
    /// any other associated data the engine uses; its `Debug` hides tokens.
    pub fn check_session(keys: &SessionKeys, aad: &str, data: &SessionData) {
        let sealed = data.seal(keys, aad).expect("an opened session seals");
        let again = SessionData::open(keys, aad, &sealed).expect("a resealed session opens");
        assert_eq!(wire(&again), wire(data), "reseal changed the session");
        for other in [SESSION_COOKIE, ID_COOKIE_AAD, TRANSACTION_COOKIE] {
            if other != aad {
                assert!(SessionData::open(keys, other, &sealed).is_err());
            }
        }
        assert!(
            keys.open(CookiePurpose::Transaction, aad, &sealed).is_err(),
            "a session opened as a transaction"
        );
        check_debug_redacts(data);
        let _ = decode(again);
    }

    fn check_debug_redacts(data: &SessionData) {
        let shown = format!("{data:?}");
        let visible = [
            Some(data.iss.as_str()),
            Some(data.sub.as_str()),
            data.sid.as_deref(),
            data.token_type.as_deref(),
            data.scope.as_deref(),
        ];
        let secrets = [
            Some(data.id.as_str()),
            Some(data.id_token.as_str()),
            data.access_token.as_deref(),
            data.refresh_token.as_deref(),
        ];
        for secret in secrets.into_iter().flatten() {
            // Short strings occur in fixed text by coincidence.
            if secret.len() < 24 || !shown.contains(secret) {
                continue;
            }
            assert!(
                visible.iter().flatten().any(|v| v.contains(secret)),
                "Debug of SessionData shows a token"
            );
        }
    }

    /// Invariants of a failed `SessionData::open`: a codec failure is the
    /// very error `SessionKeys::open` gives; anything else means the value
    /// decrypted and only its JSON was refused.
    pub fn check_session_error(keys: &SessionKeys, aad: &str, sealed: &str, e: &SessionDataError) {
        let raw = keys.open(CookiePurpose::Session, aad, sealed);
        match e {
            SessionDataError::Codec(codec) => assert_eq!(raw.as_ref().err(), Some(codec)),
            SessionDataError::Malformed => assert!(raw.is_ok()),
            SessionDataError::Serialize => panic!("open never serializes"),
        }
        let _ = e.to_string();
        if sealed.len() > MAX_SEALED_LEN {
            assert_eq!(raw.err(), Some(SessionCodecError::TooLong));
        }
    }

    /// Invariants of a transaction store that opened: bounded, reseals to
    /// the same flows, every state can be taken once, and the cookie it
    /// writes reads back.
    pub fn check_transactions<T>(keys: &SessionKeys, store: TransactionStore<T>)
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        assert!(store.len() <= MAX_PENDING_FLOWS);
        let sealed = store
            .seal(keys, TRANSACTION_COOKIE)
            .expect("an opened store seals");
        let again = TransactionStore::<T>::open(keys, TRANSACTION_COOKIE, &sealed, NOW)
            .expect("a resealed store opens");
        let flows: Vec<(&str, &T)> = store.iter().collect();
        let flows_again: Vec<(&str, &T)> = again.iter().collect();
        assert_eq!(flows, flows_again, "reseal changed the pending flows");
        assert!(SessionData::open(keys, TRANSACTION_COOKIE, &sealed).is_err());

        // Each `take` removes exactly one pending flow.
        let mut taking = TransactionStore::<T>::open(keys, TRANSACTION_COOKIE, &sealed, NOW)
            .expect("a resealed store opens");
        let states: Vec<String> = store.iter().map(|(s, _)| s.to_owned()).collect();
        for (taken, state) in states.iter().enumerate() {
            assert!(taking.take(state, NOW).is_some(), "a pending state");
            assert_eq!(taking.len(), states.len() - taken - 1);
        }
        assert!(taking.is_empty());

        // The Set-Cookie it writes (dropping the oldest flows to fit) reads
        // back through the Cookie header.
        let mut writing = again;
        let before = writing.len();
        match writing.write_set_cookie(
            keys,
            TRANSACTION_COOKIE,
            &CookieOptions::for_transaction(true),
        ) {
            Ok(cookie) => {
                assert!(cookie.to_string().len() <= MAX_COOKIE_BYTES);
                let header =
                    HeaderValue::from_str(&format!("{}={}", cookie.name(), cookie.value()))
                        .expect("a cookie is a header value");
                let read =
                    TransactionStore::<T>::from_headers([&header], keys, TRANSACTION_COOKIE, NOW);
                assert_eq!(read.len(), writing.len());
                assert!(read.len() <= before);
            }
            Err(TransactionError::TooLarge) => assert_eq!(writing.len(), 1),
            Err(e) => panic!("writing an opened store failed: {e}"),
        }
    }

    /// A sealed transaction value through both flow types: the one the
    /// engine uses (`PendingAuthorization`) and free-form JSON.
    pub fn check_transaction_value(keys: &SessionKeys, sealed: &str) {
        match TransactionStore::<PendingAuthorization>::open(keys, TRANSACTION_COOKIE, sealed, NOW)
        {
            Ok(store) => check_transactions(keys, store),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        match TransactionStore::<Value>::open(keys, TRANSACTION_COOKIE, sealed, NOW) {
            Ok(store) => check_transactions(keys, store),
            Err(TransactionError::Codec(codec)) => assert_eq!(
                keys.open(CookiePurpose::Transaction, TRANSACTION_COOKIE, sealed)
                    .err(),
                Some(codec)
            ),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    /// The request path of a cookie session, on the request's `Cookie`
    /// headers: the scanner (bytes and UTF-8, which must agree), the
    /// chunker round trip, `SessionData::open`, the same value taken as a
    /// server-side id cookie, and the transaction cookie.
    pub fn check_cookie_headers(headers: &[HeaderValue]) {
        let keys = keys();
        let raw =
            scan_session_cookie_bytes(headers.iter().map(HeaderValue::as_bytes), SESSION_COOKIE);
        let scan = scan_session_cookies(headers, SESSION_COOKIE);
        assert_eq!(scan.present, raw.present);
        let utf8 = raw
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok());
        assert_eq!(scan.value.as_deref(), utf8);
        assert_eq!(read_session_cookie(headers, SESSION_COOKIE), scan.value);
        if let Some(value) = &raw.value {
            assert!(!raw.present.is_empty());
            assert!(!value.is_empty() && value.len() <= MAX_SEALED_LEN);
        }

        // The cookies that clear the present ones: exactly one per name.
        let options = CookieOptions::for_session(true);
        let names = raw.present.names(SESSION_COOKIE);
        let removal = removal_cookies(SESSION_COOKIE, &raw.present, &options);
        assert_eq!(removal.len(), names.len());
        for (cookie, name) in removal.iter().zip(&names) {
            assert_eq!(cookie.name(), name);
            assert_eq!(cookie.value(), "");
        }

        if let Some(value) = scan.value.as_deref() {
            check_chunk_round_trip(value, &options);
            match SessionData::open(keys, SESSION_COOKIE, value) {
                Ok(data) => check_session(keys, SESSION_COOKIE, &data),
                Err(e) => check_session_error(keys, SESSION_COOKIE, value, &e),
            }
            // The same cookie under `Storage::Server`: an id cookie.
            if let Some(id) = open_session_id(keys, value.as_bytes()) {
                check_session_id(keys, &id, value);
            }
        }

        // The transaction cookie, as `Engine::read_transactions` reads it.
        if let Some(sealed) = read_cookie(headers, TRANSACTION_COOKIE) {
            check_transaction_value(keys, sealed);
        }
        let _ = TransactionStore::<PendingAuthorization>::from_headers(
            headers,
            keys,
            TRANSACTION_COOKIE,
            NOW,
        );
    }

    /// A value the scanner accepted, written by the chunker and read back,
    /// is the same value (when it is a valid cookie value at all).
    fn check_chunk_round_trip(value: &str, options: &CookieOptions) {
        let Ok(cookies) = encode_session_cookies(SESSION_COOKIE, value, options, Some(3600)) else {
            return;
        };
        assert!(!cookies.is_empty() && cookies.len() <= MAX_CHUNKS);
        for cookie in &cookies {
            assert!(cookie.to_string().len() <= MAX_COOKIE_BYTES);
        }
        let header = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let header = HeaderValue::from_str(&header).expect("cookies are a header value");
        assert_eq!(
            read_session_cookie([&header], SESSION_COOKIE).as_deref(),
            Some(value),
            "the chunker and the scanner disagree"
        );
    }

    /// Invariants of a session id that opened from `sealed`: long enough,
    /// reseals and reopens to itself, and the id cookie never opens as a
    /// cookie session or a record.
    pub fn check_session_id(keys: &SessionKeys, id: &str, sealed: &str) {
        assert!(id.len() >= MIN_SESSION_ID_LEN);
        let resealed = keys
            .seal(CookiePurpose::Session, ID_COOKIE_AAD, id.as_bytes())
            .expect("an id seals");
        assert_eq!(
            open_session_id(keys, resealed.as_bytes()).as_deref(),
            Some(id)
        );
        assert!(SessionData::open(keys, SESSION_COOKIE, sealed).is_err());
        assert!(SessionData::open(keys, &record_aad(id), sealed).is_err());
    }
}
