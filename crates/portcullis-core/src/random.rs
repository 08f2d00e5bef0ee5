//! Unpredictable tokens for `state`, `nonce` and similar values.
//!
//! Every value comes from the operating system CSPRNG through
//! [`aws_lc_rs::rand`] and is encoded as unpadded base64url, so it is safe in
//! URLs, form bodies and cookies without further escaping.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The number of random bytes behind [`random_state`] and [`random_nonce`]
/// (256 bits, 43 base64url characters).
pub const DEFAULT_TOKEN_BYTES: usize = 32;

/// Returns `bytes` random bytes from the system CSPRNG, base64url-encoded
/// without padding.
///
/// # Panics
///
/// Only if the system random number generator fails, which AWS-LC treats as
/// fatal anyway (its `RAND_bytes` aborts the process rather than return
/// predictable data). No input can cause it.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // Not input-derived: AWS-LC's RAND_bytes never reports failure on a working
    // system, and continuing without randomness would be a security bug.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut buf).expect("system CSPRNG failure");
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A fresh `state` value: [`DEFAULT_TOKEN_BYTES`] random bytes.
pub fn random_state() -> String {
    random_token(DEFAULT_TOKEN_BYTES)
}

/// A fresh `nonce` value: [`DEFAULT_TOKEN_BYTES`] random bytes.
pub fn random_nonce() -> String {
    random_token(DEFAULT_TOKEN_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_token_is_base64url_without_padding() {
        let token = random_token(DEFAULT_TOKEN_BYTES);
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let decoded = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert_eq!(decoded.len(), DEFAULT_TOKEN_BYTES);
    }

    #[test]
    fn random_tokens_differ_between_calls() {
        let a = random_state();
        let b = random_state();
        let c = random_nonce();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn random_token_length_follows_requested_bytes() {
        assert_eq!(random_token(0), "");
        assert_eq!(random_token(16).len(), 22);
        assert_eq!(random_token(64).len(), 86);
    }
}
