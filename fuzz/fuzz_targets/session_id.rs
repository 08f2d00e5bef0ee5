//! The server-side session path, as `Engine::open_session_id` and
//! `Engine::decode_record` (crate-private, mirrored in
//! `portcullis_fuzz::session` from the public `SessionKeys::open` and
//! `SessionData::open` they call) see it. The input is the sealed id cookie
//! value, optionally followed by a NUL and the bytes of a stored record.
//! The id must open under `portcullis.session#id`; the record under
//! `record:{id}` (or, when the id does not open, `record:` + the seed id, so
//! the record path is fuzzed on its own too) and carry that very id.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis::session::SessionData;
use portcullis_fuzz::session::{
    SEED_SESSION_ID, check_session, check_session_error, check_session_id, decode_record, keys,
    open_session_id, record_aad,
};

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let (cookie, record) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let id = open_session_id(keys, cookie);
    if let (Some(id), Ok(text)) = (&id, std::str::from_utf8(cookie)) {
        check_session_id(keys, id, text);
    }
    let Some(record) = record else {
        return;
    };
    let id = id.as_deref().unwrap_or(SEED_SESSION_ID);
    if let Ok(text) = std::str::from_utf8(record) {
        let aad = record_aad(id);
        match SessionData::open(keys, &aad, text) {
            Ok(data) => {
                check_session(keys, &aad, &data);
                // A record never opens for another id.
                assert!(SessionData::open(keys, &record_aad(&format!("{id}x")), text).is_err());
            }
            Err(e) => check_session_error(keys, &aad, text, &e),
        }
    }
    if let Some(decoded) = decode_record(keys, id, record) {
        assert_eq!(decoded.id, id);
    }
});
