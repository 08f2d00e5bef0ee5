//! Cookie keys derived from `SECRET`, and the AEAD codec that seals cookie values.
//!
//! # Format
//!
//! A sealed value is `base64url_nopad(version || nonce || ciphertext || tag)`:
//!
//! | bytes | content |
//! |-------|---------|
//! | 1     | format version ([`FORMAT_VERSION`]) |
//! | 12    | random 96-bit AES-GCM nonce, fresh on every write |
//! | n     | ciphertext (same length as the plaintext) |
//! | 16    | GCM authentication tag |
//!
//! The associated data is the cookie name, so a value copied into a cookie of another
//! name does not open. A chunked session cookie is sealed and opened under its base
//! name (not the chunk names).
//!
//! # Keys
//!
//! Each secret of `SECRET` (comma-separated, newest first) gives one 256-bit key per
//! [`CookiePurpose`], derived with HKDF-SHA256 (fixed salt, one `info` string per
//! purpose). The newest key seals; every key opens, so a secret can be rotated without
//! signing everybody out: put the new secret first and keep the old one until the
//! longest session made with it has expired.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The format version byte that starts every sealed value.
pub const FORMAT_VERSION: u8 = 1;

/// The shortest secret accepted, in bytes.
///
/// Secrets shorter than this are rejected. We recommend at least 32 random
/// characters (for example `openssl rand -base64 32`): the key is derived from the
/// secret with HKDF, which does not stretch a weak password.
pub const MIN_SECRET_LEN: usize = 16;

/// The longest sealed value [`SessionKeys::open`] accepts, in characters.
///
/// Longer input is rejected before it is decoded, so a hostile cookie cannot make us
/// allocate or decrypt a large buffer. It is well above
/// [`MAX_CHUNKS`](super::MAX_CHUNKS) full cookies.
pub const MAX_SEALED_LEN: usize = 64 * 1024;

const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
const MIN_SEALED_BYTES: usize = HEADER_LEN + TAG_LEN;

const HKDF_SALT: &[u8] = b"portcullis cookie keys salt v1";
const INFO_SESSION: &[u8] = b"portcullis session encryption v1";
const INFO_TRANSACTION: &[u8] = b"portcullis transaction encryption v1";

/// What a sealed cookie is for. Each purpose has its own key, so a transaction
/// cookie can never be opened as a session (and the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CookiePurpose {
    /// The session cookie (claims and tokens).
    Session,
    /// The per-flow transaction cookie (state, nonce, PKCE verifier, returnTo).
    Transaction,
}

/// Why `SECRET` was rejected. The message never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionKeyError {
    /// No secret was given.
    #[error(
        "SECRET is empty: set at least one secret of {MIN_SECRET_LEN} or more characters (32+ random characters recommended)"
    )]
    NoSecrets,
    /// One of the comma-separated secrets is empty.
    #[error("secret #{index} of SECRET is empty (check for a stray comma)")]
    EmptySecret {
        /// Position of the secret in the list (0 = newest).
        index: usize,
    },
    /// One of the secrets is too short.
    #[error(
        "secret #{index} of SECRET is {len} bytes long; at least {min} are required (32+ random characters recommended)"
    )]
    TooShort {
        /// Position of the secret in the list (0 = newest).
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The minimum, [`MIN_SECRET_LEN`].
        min: usize,
    },
    /// The crypto library refused to derive a key (not expected to happen).
    #[error("could not derive the cookie encryption key")]
    Derivation,
}

/// Why a sealed value could not be sealed or opened. The message never contains the
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionCodecError {
    /// The input is longer than [`MAX_SEALED_LEN`].
    #[error("the sealed cookie value is too long")]
    TooLong,
    /// The input is not unpadded base64url.
    #[error("the sealed cookie value is not valid base64url")]
    BadEncoding,
    /// The decoded input is shorter than a version byte, a nonce and a tag.
    #[error("the sealed cookie value is truncated")]
    Truncated,
    /// The version byte is not [`FORMAT_VERSION`].
    #[error("the sealed cookie value has an unsupported format version")]
    UnsupportedVersion,
    /// No key opened it: it was tampered with, sealed under another cookie name or
    /// purpose, or sealed with a secret that is no longer configured.
    #[error(
        "the sealed cookie value could not be decrypted (tampered, wrong cookie name, or unknown key)"
    )]
    Decrypt,
    /// Encryption failed inside the crypto library (not expected to happen).
    #[error("the cookie value could not be encrypted")]
    Encrypt,
}

struct KeySet {
    session: RandomizedNonceKey,
    transaction: RandomizedNonceKey,
}

impl KeySet {
    fn get(&self, purpose: CookiePurpose) -> &RandomizedNonceKey {
        match purpose {
            CookiePurpose::Session => &self.session,
            CookiePurpose::Transaction => &self.transaction,
        }
    }
}

/// The cookie encryption keys derived from `SECRET`: the first (newest) seals, all
/// open.
///
/// Cheap to share behind an `Arc`; sealing and opening take `&self`.
pub struct SessionKeys {
    /// Never empty; index 0 is the newest.
    keys: Vec<KeySet>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("secrets", &self.keys.len())
            .field("keys", &"[redacted]")
            .finish()
    }
}

fn derive_key(
    prk: &aws_lc_rs::hkdf::Prk,
    info: &'static [u8],
    binding: &[u8],
) -> Result<RandomizedNonceKey, SessionKeyError> {
    // The binding (issuer and client id) is part of the HKDF info: two
    // applications that share a SECRET still derive different keys.
    let infos = [info, b"\0", binding];
    let okm = prk
        .expand(&infos, &AES_256_GCM)
        .map_err(|_| SessionKeyError::Derivation)?;
    let mut bytes = [0u8; 32];
    okm.fill(&mut bytes)
        .map_err(|_| SessionKeyError::Derivation)?;
    let key = RandomizedNonceKey::new(&AES_256_GCM, &bytes);
    bytes.fill(0);
    key.map_err(|_| SessionKeyError::Derivation)
}

impl SessionKeys {
    /// Derives the keys from a list of secrets, newest first.
    ///
    /// Every secret must be at least [`MIN_SECRET_LEN`] bytes long (32 or more random
    /// characters are recommended). Secrets are used as given (not trimmed).
    pub fn from_secrets(secrets: &[impl AsRef<str>]) -> Result<SessionKeys, SessionKeyError> {
        Self::bound_from_secrets(secrets, &[])
    }

    /// Like [`from_secrets`](Self::from_secrets), with the keys bound to an
    /// application: `binding` (the engine passes the issuer and client id) goes
    /// into the key derivation, so a value sealed for one application never
    /// opens in another that shares the same `SECRET`.
    pub fn bound_from_secrets(
        secrets: &[impl AsRef<str>],
        binding: &[u8],
    ) -> Result<SessionKeys, SessionKeyError> {
        if secrets.is_empty() {
            return Err(SessionKeyError::NoSecrets);
        }
        let salt = Salt::new(HKDF_SHA256, HKDF_SALT);
        let mut keys = Vec::with_capacity(secrets.len());
        for (index, secret) in secrets.iter().enumerate() {
            let secret = secret.as_ref().as_bytes();
            if secret.is_empty() {
                return Err(SessionKeyError::EmptySecret { index });
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(SessionKeyError::TooShort {
                    index,
                    len: secret.len(),
                    min: MIN_SECRET_LEN,
                });
            }
            let prk = salt.extract(secret);
            keys.push(KeySet {
                session: derive_key(&prk, INFO_SESSION, binding)?,
                transaction: derive_key(&prk, INFO_TRANSACTION, binding)?,
            });
        }
        Ok(SessionKeys { keys })
    }

    /// Derives the keys from a `SECRET` value: comma-separated secrets, newest first,
    /// each trimmed of surrounding whitespace.
    pub fn from_secret_list(list: &str) -> Result<SessionKeys, SessionKeyError> {
        Self::bound_from_secret_list(list, &[])
    }

    /// Like [`from_secret_list`](Self::from_secret_list), bound to an
    /// application (see [`bound_from_secrets`](Self::bound_from_secrets)).
    pub fn bound_from_secret_list(
        list: &str,
        binding: &[u8],
    ) -> Result<SessionKeys, SessionKeyError> {
        if list.trim().is_empty() {
            return Err(SessionKeyError::NoSecrets);
        }
        let secrets: Vec<&str> = list.split(',').map(str::trim).collect();
        Self::bound_from_secrets(&secrets, binding)
    }

    /// How many secrets are configured (1 + the number of retired secrets still
    /// accepted).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a `SessionKeys` holds at least one key. Present for API
    /// symmetry with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Encrypts `plaintext` with the newest key, bound to `cookie_name`, with a fresh
    /// random nonce. Returns unpadded base64url.
    pub fn seal(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        plaintext: &[u8],
    ) -> Result<String, SessionCodecError> {
        Ok(URL_SAFE_NO_PAD.encode(self.seal_bytes(purpose, cookie_name, plaintext)?))
    }

    /// Like [`seal`](Self::seal), but returns the sealed bytes themselves
    /// (version byte, nonce, ciphertext, tag) rather than their base64url
    /// text: for stores, which hold bytes and need no text encoding.
    pub fn seal_bytes(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SessionCodecError> {
        let Some(newest) = self.keys.first() else {
            return Err(SessionCodecError::Encrypt);
        };
        let key = newest.get(purpose);
        let mut buf = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        buf.push(FORMAT_VERSION);
        buf.extend_from_slice(&[0u8; NONCE_LEN]);
        buf.extend_from_slice(plaintext);
        let (nonce, tag) = key
            .seal_in_place_separate_tag(Aad::from(cookie_name.as_bytes()), &mut buf[HEADER_LEN..])
            .map_err(|_| SessionCodecError::Encrypt)?;
        let nonce: &[u8; NONCE_LEN] = nonce.as_ref();
        buf[1..HEADER_LEN].copy_from_slice(nonce);
        buf.extend_from_slice(tag.as_ref());
        Ok(buf)
    }

    /// Decrypts a value made by [`seal`](Self::seal) with the same purpose and cookie
    /// name, trying the newest key first.
    ///
    /// Never panics: any malformed, truncated, tampered or foreign input is an error.
    pub fn open(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, SessionCodecError> {
        let mut buf = decode_sealed(sealed)?;
        let range = self.open_buf(purpose, cookie_name, &mut buf)?;
        buf.truncate(range.end);
        buf.drain(..range.start);
        Ok(buf)
    }

    /// Like [`open`](Self::open), but hands the plaintext to `f` as a borrowed slice
    /// instead of returning an owned buffer (saves one copy on the request path).
    pub fn open_with<R>(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        sealed: &str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, SessionCodecError> {
        let mut buf = decode_sealed(sealed)?;
        let range = self.open_buf(purpose, cookie_name, &mut buf)?;
        Ok(f(&buf[range]))
    }

    /// Like [`open_with`](Self::open_with), for bytes made by
    /// [`seal_bytes`](Self::seal_bytes).
    pub fn open_bytes_with<R>(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        sealed: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, SessionCodecError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(SessionCodecError::TooLong);
        }
        let mut buf = sealed.to_vec();
        let range = self.open_buf(purpose, cookie_name, &mut buf)?;
        Ok(f(&buf[range]))
    }

    /// Opens `buf` (decoded bytes) in place; returns the plaintext's range in `buf`.
    fn open_buf(
        &self,
        purpose: CookiePurpose,
        cookie_name: &str,
        buf: &mut [u8],
    ) -> Result<std::ops::Range<usize>, SessionCodecError> {
        if buf.len() < MIN_SEALED_BYTES {
            return Err(SessionCodecError::Truncated);
        }
        if buf[0] != FORMAT_VERSION {
            return Err(SessionCodecError::UnsupportedVersion);
        }
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&buf[1..HEADER_LEN]);
        let body = &mut buf[HEADER_LEN..];
        // A failed open may scribble over its buffer, so with several keys every key
        // but the last works on a scratch copy. With one key (the usual case) the
        // value is opened in place without any copy.
        let (last, earlier) = match self.keys.split_last() {
            Some(split) => split,
            None => return Err(SessionCodecError::Decrypt),
        };
        if !earlier.is_empty() {
            let mut scratch = Vec::with_capacity(body.len());
            for set in earlier {
                scratch.clear();
                scratch.extend_from_slice(body);
                let nonce = Nonce::assume_unique_for_key(nonce_bytes);
                if let Ok(plain) = set.get(purpose).open_in_place(
                    nonce,
                    Aad::from(cookie_name.as_bytes()),
                    &mut scratch,
                ) {
                    let n = plain.len();
                    body[..n].copy_from_slice(&scratch[..n]);
                    return Ok(HEADER_LEN..HEADER_LEN + n);
                }
            }
        }
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        let plain = last
            .get(purpose)
            .open_in_place(nonce, Aad::from(cookie_name.as_bytes()), body)
            .map_err(|_| SessionCodecError::Decrypt)?;
        let n = plain.len();
        Ok(HEADER_LEN..HEADER_LEN + n)
    }
}

fn decode_sealed(sealed: &str) -> Result<Vec<u8>, SessionCodecError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(SessionCodecError::TooLong);
    }
    URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SessionCodecError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bound_to_another_application_do_not_open_each_others_values() {
        let secret = ["a-shared-secret-between-two-apps-0123456789"];
        let staging = SessionKeys::bound_from_secrets(&secret, b"https://op\0staging").unwrap();
        let production = SessionKeys::bound_from_secrets(&secret, b"https://op\0prod").unwrap();
        let sealed = staging.seal(CookiePurpose::Session, "c", b"x").unwrap();
        assert!(staging.open(CookiePurpose::Session, "c", &sealed).is_ok());
        assert_eq!(
            production
                .open(CookiePurpose::Session, "c", &sealed)
                .unwrap_err(),
            SessionCodecError::Decrypt
        );
    }

    const NEW: &str = "new-secret-0123456789-abcdefghijklmnop";
    const OLD: &str = "old-secret-0123456789-abcdefghijklmnop";

    fn keys(secrets: &[&str]) -> SessionKeys {
        SessionKeys::from_secrets(secrets).unwrap()
    }

    fn raw(sealed: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(sealed).unwrap()
    }

    fn enc(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn round_trips_session_and_transaction_values() {
        let k = keys(&[NEW]);
        for purpose in [CookiePurpose::Session, CookiePurpose::Transaction] {
            let sealed = k.seal(purpose, "c", b"hello world").unwrap();
            assert_eq!(k.open(purpose, "c", &sealed).unwrap(), b"hello world");
            let len = k.open_with(purpose, "c", &sealed, |p| p.len()).unwrap();
            assert_eq!(len, 11);
        }
    }

    #[test]
    fn round_trips_empty_plaintext() {
        let k = keys(&[NEW]);
        let sealed = k.seal(CookiePurpose::Session, "c", b"").unwrap();
        assert_eq!(raw(&sealed).len(), MIN_SEALED_BYTES);
        assert_eq!(k.open(CookiePurpose::Session, "c", &sealed).unwrap(), b"");
    }

    #[test]
    fn sealed_value_is_unpadded_base64url_with_version_prefix() {
        let k = keys(&[NEW]);
        let sealed = k.seal(CookiePurpose::Session, "c", b"abc").unwrap();
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let bytes = raw(&sealed);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(bytes.len(), 1 + 12 + 3 + 16);
    }

    #[test]
    fn uses_a_fresh_nonce_on_every_seal() {
        let k = keys(&[NEW]);
        let a = k.seal(CookiePurpose::Session, "c", b"same").unwrap();
        let b = k.seal(CookiePurpose::Session, "c", b"same").unwrap();
        assert_ne!(a, b);
        assert_ne!(raw(&a)[1..13], raw(&b)[1..13]);
    }

    fn assert_tamper_rejected(index: usize) {
        let k = keys(&[NEW]);
        let sealed = k
            .seal(CookiePurpose::Session, "c", b"some plaintext")
            .unwrap();
        let mut bytes = raw(&sealed);
        bytes[index] ^= 0x01;
        let err = k
            .open(CookiePurpose::Session, "c", &enc(&bytes))
            .unwrap_err();
        if index == 0 {
            assert_eq!(err, SessionCodecError::UnsupportedVersion);
        } else {
            assert_eq!(err, SessionCodecError::Decrypt);
        }
    }

    #[test]
    fn rejects_tampered_version_byte() {
        assert_tamper_rejected(0);
    }

    #[test]
    fn rejects_tampered_nonce() {
        assert_tamper_rejected(1);
        assert_tamper_rejected(12);
    }

    #[test]
    fn rejects_tampered_ciphertext() {
        assert_tamper_rejected(13);
        assert_tamper_rejected(13 + 13);
    }

    #[test]
    fn rejects_tampered_tag() {
        let len = 1 + 12 + 14 + 16;
        assert_tamper_rejected(len - 16);
        assert_tamper_rejected(len - 1);
    }

    #[test]
    fn rejects_value_copied_to_another_cookie_name() {
        let k = keys(&[NEW]);
        let sealed = k.seal(CookiePurpose::Session, "a", b"x").unwrap();
        assert_eq!(
            k.open(CookiePurpose::Session, "b", &sealed),
            Err(SessionCodecError::Decrypt)
        );
    }

    #[test]
    fn rejects_value_opened_for_another_purpose() {
        let k = keys(&[NEW]);
        let sealed = k.seal(CookiePurpose::Transaction, "a", b"x").unwrap();
        assert_eq!(
            k.open(CookiePurpose::Session, "a", &sealed),
            Err(SessionCodecError::Decrypt)
        );
    }

    #[test]
    fn rejects_value_sealed_with_another_secret() {
        let sealed = keys(&[NEW])
            .seal(CookiePurpose::Session, "c", b"x")
            .unwrap();
        assert_eq!(
            keys(&[OLD]).open(CookiePurpose::Session, "c", &sealed),
            Err(SessionCodecError::Decrypt)
        );
    }

    #[test]
    fn opens_values_sealed_with_a_retired_secret_after_rotation() {
        let sealed_old = keys(&[OLD])
            .seal(CookiePurpose::Session, "c", b"old")
            .unwrap();
        let rotated = keys(&[NEW, OLD]);
        assert_eq!(
            rotated
                .open(CookiePurpose::Session, "c", &sealed_old)
                .unwrap(),
            b"old"
        );
        // The newest key seals: a value sealed after rotation opens under [NEW] alone
        // and not under [OLD].
        let sealed_new = rotated.seal(CookiePurpose::Session, "c", b"new").unwrap();
        assert_eq!(
            keys(&[NEW])
                .open(CookiePurpose::Session, "c", &sealed_new)
                .unwrap(),
            b"new"
        );
        assert_eq!(
            keys(&[OLD]).open(CookiePurpose::Session, "c", &sealed_new),
            Err(SessionCodecError::Decrypt)
        );
        // And with the old key listed first, the new-key value still opens (last key,
        // in-place path).
        assert_eq!(
            keys(&[OLD, NEW])
                .open(CookiePurpose::Session, "c", &sealed_new)
                .unwrap(),
            b"new"
        );
    }

    #[test]
    fn rejects_value_when_no_rotated_key_matches() {
        let sealed = keys(&["third-secret-0123456789-abcdefgh"])
            .seal(CookiePurpose::Session, "c", b"x")
            .unwrap();
        assert_eq!(
            keys(&[NEW, OLD]).open(CookiePurpose::Session, "c", &sealed),
            Err(SessionCodecError::Decrypt)
        );
    }

    #[test]
    fn rejects_empty_secret_list() {
        let none: [&str; 0] = [];
        assert_eq!(
            SessionKeys::from_secrets(&none).unwrap_err(),
            SessionKeyError::NoSecrets
        );
        assert_eq!(
            SessionKeys::from_secret_list("  ").unwrap_err(),
            SessionKeyError::NoSecrets
        );
    }

    #[test]
    fn rejects_empty_secret_in_list() {
        assert_eq!(
            SessionKeys::from_secret_list(&format!("{NEW},")).unwrap_err(),
            SessionKeyError::EmptySecret { index: 1 }
        );
        assert_eq!(
            SessionKeys::from_secrets(&[""]).unwrap_err(),
            SessionKeyError::EmptySecret { index: 0 }
        );
    }

    #[test]
    fn rejects_secret_shorter_than_minimum() {
        let err = SessionKeys::from_secrets(&["fifteen-chars!!"]).unwrap_err();
        assert_eq!(
            err,
            SessionKeyError::TooShort {
                index: 0,
                len: 15,
                min: MIN_SECRET_LEN
            }
        );
        assert!(!err.to_string().contains("fifteen"));
        assert!(SessionKeys::from_secrets(&["sixteen-chars!!!"]).is_ok());
    }

    #[test]
    fn secret_list_splits_on_commas_and_trims() {
        let list = format!(" {NEW} ,\t{OLD} ");
        let k = SessionKeys::from_secret_list(&list).unwrap();
        assert_eq!(k.len(), 2);
        let sealed = k.seal(CookiePurpose::Session, "c", b"x").unwrap();
        assert!(
            keys(&[NEW])
                .open(CookiePurpose::Session, "c", &sealed)
                .is_ok()
        );
        let old_sealed = keys(&[OLD])
            .seal(CookiePurpose::Session, "c", b"x")
            .unwrap();
        assert!(k.open(CookiePurpose::Session, "c", &old_sealed).is_ok());
    }

    #[test]
    fn debug_output_redacts_keys() {
        let dbg = format!("{:?}", keys(&[NEW]));
        assert!(!dbg.contains("new-secret"));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn rejects_hostile_inputs_without_panicking() {
        let k = keys(&[NEW, OLD]);
        let huge = "A".repeat(MAX_SEALED_LEN + 1);
        let cases: Vec<(&str, SessionCodecError)> = vec![
            ("", SessionCodecError::Truncated),
            ("AQ", SessionCodecError::Truncated),
            ("!!!!", SessionCodecError::BadEncoding),
            ("%00%ff%c3%28", SessionCodecError::BadEncoding),
            ("AQID====", SessionCodecError::BadEncoding),
            ("AQID+/", SessionCodecError::BadEncoding),
            ("ü€", SessionCodecError::BadEncoding),
            (huge.as_str(), SessionCodecError::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(
                k.open(CookiePurpose::Session, "c", input),
                Err(expected),
                "input {input:.20}"
            );
        }
        // Right length, right version, random garbage.
        let mut garbage = vec![FORMAT_VERSION];
        garbage.extend_from_slice(&[0xAB; 60]);
        assert_eq!(
            k.open(CookiePurpose::Session, "c", &enc(&garbage)),
            Err(SessionCodecError::Decrypt)
        );
        // Truncated real value: every prefix fails cleanly.
        let sealed = k.seal(CookiePurpose::Session, "c", b"plaintext").unwrap();
        let bytes = raw(&sealed);
        for cut in 0..bytes.len() {
            assert!(
                k.open(CookiePurpose::Session, "c", &enc(&bytes[..cut]))
                    .is_err()
            );
        }
    }
}
