//! What lies behind the AEAD: the fuzzer cannot forge an AES-GCM tag, so
//! `session_cookie` and `session_id` only reach the JSON decoders from their
//! seeds. Here the harness seals each input itself with the fixed keys (as
//! `logout_token_claims` signs its inputs), under every associated data the
//! engine uses, so every input reaches: `SessionData::open` (the cookie
//! session and the store record), the id cookie, and both
//! `TransactionStore` flow types. Invariants: `portcullis_fuzz::session`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis::session::{CookiePurpose, SessionData};
use portcullis_fuzz::session::{
    ID_COOKIE_AAD, SEED_SESSION_ID, SESSION_COOKIE, TRANSACTION_COOKIE, check_session,
    check_session_error, check_session_id, check_transaction_value, decode_record, keys,
    open_session_id, record_aad,
};

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let seal = |purpose, aad: &str| {
        let sealed = keys.seal(purpose, aad, data).expect("sealing never fails");
        assert_eq!(keys.open(purpose, aad, &sealed).as_deref(), Ok(data));
        sealed
    };

    // A cookie session.
    let sealed = seal(CookiePurpose::Session, SESSION_COOKIE);
    match SessionData::open(keys, SESSION_COOKIE, &sealed) {
        Ok(session) => check_session(keys, SESSION_COOKIE, &session),
        Err(e) => check_session_error(keys, SESSION_COOKIE, &sealed, &e),
    }

    // A stored record of the seed id.
    let aad = record_aad(SEED_SESSION_ID);
    let sealed = seal(CookiePurpose::Session, &aad);
    match SessionData::open(keys, &aad, &sealed) {
        Ok(session) => {
            check_session(keys, &aad, &session);
            // The engine's decode: the record carries the id it is stored
            // under, the issuer is ours, the ID token and claims read.
            if let Some(decoded) = decode_record(keys, SEED_SESSION_ID, sealed.as_bytes()) {
                assert_eq!(decoded.id, SEED_SESSION_ID);
                assert_eq!(decoded.iss, portcullis_fuzz::ISSUER);
            }
        }
        Err(e) => check_session_error(keys, &aad, &sealed, &e),
    }

    // A session id cookie: it opens exactly when the input is a UTF-8 id
    // of at least 22 bytes, and then it is the input.
    let sealed = seal(CookiePurpose::Session, ID_COOKIE_AAD);
    let id = open_session_id(keys, sealed.as_bytes());
    let expected = std::str::from_utf8(data)
        .ok()
        .filter(|id| id.len() >= portcullis_fuzz::session::MIN_SESSION_ID_LEN);
    assert_eq!(id.as_deref(), expected);
    if let Some(id) = &id {
        check_session_id(keys, id, &sealed);
    }

    // The transaction cookie.
    let sealed = seal(CookiePurpose::Transaction, TRANSACTION_COOKIE);
    check_transaction_value(keys, &sealed);
});
