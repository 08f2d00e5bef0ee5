//! The cookie-session request path on arbitrary `Cookie` headers: the input
//! is split at `\n` into header values (so chunks can arrive over several
//! headers, as HTTP/2 sends them), then scanned for the session cookie
//! (`scan_session_cookie_bytes` / `scan_session_cookies`, single or chunked),
//! opened as a `SessionData` with the fixed keys, taken as a server-side id
//! cookie too, and the transaction cookie is opened as a
//! `TransactionStore` of the engine's `PendingAuthorization` flows and of
//! free-form JSON. Invariants: `portcullis_fuzz::session`.
#![no_main]
#![forbid(unsafe_code)]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::session::check_cookie_headers;

fuzz_target!(|data: &[u8]| {
    let headers: Vec<HeaderValue> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();
    check_cookie_headers(&headers);
});
