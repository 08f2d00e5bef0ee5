//! Compact JWS parsing on arbitrary bytes: `verify_jws` (size limit,
//! segments, base64url, header rules, key selection, signature) and
//! `stored_id_token_claims` (the same segment parsing without the signature
//! check, so payload and claim parsing are reached too). When both accept a
//! token they must agree on its `alg` and claims.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis_core::id_token::stored_id_token_claims;
use portcullis_core::jose::verify_jws;
use portcullis_fuzz::{ALL_ALGS, jwks, policy};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let verified = verify_jws(&token, jwks(), &policy());
    if let Ok(v) = &verified {
        assert!(ALL_ALGS.contains(&v.alg));
    }
    if let Err(e) = &verified {
        let _ = e.to_string();
    }
    match stored_id_token_claims(&token) {
        Ok(stored) => {
            assert!(!stored.sub.is_empty());
            assert!(!stored.aud.is_empty() || stored.claims.get("aud").is_some());
            if let Ok(v) = &verified {
                assert_eq!(v.alg, stored.alg);
                assert_eq!(v.claims, stored.claims);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
