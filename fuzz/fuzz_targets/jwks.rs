//! JWKS document parsing (`Jwks::from_json`) on arbitrary bytes, then key
//! selection for every algorithm, with and without a `kid`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jose::{Jwks, MAX_CANDIDATE_KEYS, MAX_JWKS_KEYS};
use portcullis_fuzz::ALL_ALGS;

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = Jwks::from_json(data) else {
        return;
    };
    assert!(jwks.len() + jwks.skipped() <= MAX_JWKS_KEYS);
    let kids: Vec<Option<String>> = jwks
        .keys()
        .iter()
        .take(16)
        .map(|k| k.kid().map(str::to_owned))
        .chain([None, Some(String::new())])
        .collect();
    for alg in ALL_ALGS {
        for kid in &kids {
            if let Ok(candidates) = jwks.select(alg, kid.as_deref()) {
                assert!(!candidates.is_empty() && candidates.len() <= MAX_CANDIDATE_KEYS);
                assert!(candidates.iter().all(|k| k.is_compatible_with(alg)));
                assert!(!alg.is_symmetric());
            }
        }
    }
});
