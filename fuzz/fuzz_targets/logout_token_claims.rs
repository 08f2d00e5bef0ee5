//! The logout token claim rules on arbitrary claims: the input is a JWS
//! payload (optionally `header JSON ++ NUL ++ payload`), which this target
//! signs with HS256 and the fixed client secret, so every input gets past
//! the signature check and reaches the `typ`, `events`, `nonce`, `iss`,
//! `aud`, time, `jti` and `sub`/`sid` rules. An accepted token must satisfy
//! every rule (see `check_logout_result`).
#![no_main]
#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use libfuzzer_sys::fuzz_target;
use portcullis_core::logout_token::validate_logout_token;
use portcullis_fuzz::{CLIENT_SECRET, check_logout_result, jwks, logout_expectations};

const DEFAULT_HEADER: &[u8] = br#"{"alg":"HS256","typ":"logout+jwt"}"#;

fuzz_target!(|data: &[u8]| {
    let (header, payload) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (DEFAULT_HEADER, data),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(CLIENT_SECRET.as_bytes());
    let Ok(signature) = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::HS256,
    ) else {
        return;
    };
    let token = format!("{signing_input}.{signature}");
    let result = validate_logout_token(&token, jwks(), &logout_expectations());
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(payload).ok();
    check_logout_result(&token, parsed.as_ref(), &result);
});
