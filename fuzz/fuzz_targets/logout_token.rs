//! `validate_logout_token` on arbitrary bytes (as a lossy UTF-8 token),
//! against the fixed JWKS and client. Exercises the compact parsing, the
//! header rules and key selection; a signature the fuzzer cannot forge
//! stops it there (the claim rules are `logout_token_claims`' job).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis_core::logout_token::validate_logout_token;
use portcullis_fuzz::{check_logout_result, jwks, logout_expectations};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let result = validate_logout_token(&token, jwks(), &logout_expectations());
    check_logout_result(&token, None, &result);
});
