//! Test-only key fixtures: real keys generated once per test binary with
//! aws-lc-rs, their public JWKs, and helpers that sign tokens with
//! jsonwebtoken (including hand-built, hostile headers).

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaPrivateKey, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use super::{Algorithm, Jwks};

/// A generated key pair: the signing key, the public JWK members (no `kid`),
/// and the raw public key bytes.
pub(crate) struct TestKey {
    pub encoding: EncodingKey,
    pub public_jwk: Value,
    pub public_bytes: Vec<u8>,
}

impl TestKey {
    /// The public JWK with a `kid` and any extra members.
    pub fn jwk(&self, kid: Option<&str>, extra: Value) -> Value {
        let mut jwk = self.public_jwk.clone();
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        if let (Some(obj), Some(extra)) = (jwk.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        jwk
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads one DER TLV: (tag, contents, rest). Test-only, for unwrapping the
/// PKCS#8 envelope around a generated RSA key (jsonwebtoken wants PKCS#1).
fn der_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1] as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, &input[header..header + len], &input[header + len..])
}

fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Vec<u8> {
    let (tag, seq, _) = der_tlv(pkcs8);
    assert_eq!(tag, 0x30);
    let (_, _version, rest) = der_tlv(seq);
    let (_, _alg_id, rest) = der_tlv(rest);
    let (tag, pkcs1, _) = der_tlv(rest);
    assert_eq!(tag, 0x04);
    pkcs1.to_vec()
}

fn gen_rsa() -> TestKey {
    let key = RsaPrivateKey::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = key.as_der().unwrap();
    let pkcs1 = pkcs8_to_pkcs1(pkcs8.as_ref());
    let pair = RsaKeyPair::from_der(&pkcs1).unwrap();
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    TestKey {
        encoding: EncodingKey::from_rsa_der(&pkcs1),
        public_jwk: json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)}),
        public_bytes: public.as_ref().to_vec(),
    }
}

fn gen_ec(alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm, crv: &str) -> TestKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let len = (point.len() - 1) / 2;
    TestKey {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        public_jwk: json!({
            "kty": "EC", "crv": crv,
            "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
        }),
        public_bytes: point,
    }
}

fn gen_ed25519() -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let x = pair.public_key().as_ref().to_vec();
    TestKey {
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)}),
        public_bytes: x,
    }
}

/// The first RSA 2048 key.
pub(crate) fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(gen_rsa)
}

/// A second, unrelated RSA 2048 key.
pub(crate) fn rsa2() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(gen_rsa)
}

/// A P-256 key.
pub(crate) fn p256() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| gen_ec(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"))
}

/// A P-384 key.
pub(crate) fn p384() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| gen_ec(&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"))
}

/// An Ed25519 key.
pub(crate) fn ed25519() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(gen_ed25519)
}

/// The key that signs `alg` in the standard test JWKS, and its kid.
pub(crate) fn key_for(alg: Algorithm) -> (&'static TestKey, &'static str) {
    match alg {
        Algorithm::ES256 => (p256(), "ec256"),
        Algorithm::ES384 => (p384(), "ec384"),
        Algorithm::EdDSA => (ed25519(), "ed"),
        _ => (rsa(), "rsa1"),
    }
}

/// A JWKS with all five public keys, each with a kid.
pub(crate) fn standard_jwks() -> Jwks {
    let doc = json!({"keys": [
        rsa().jwk(Some("rsa1"), json!({"use": "sig"})),
        rsa2().jwk(Some("rsa2"), json!({})),
        p256().jwk(Some("ec256"), json!({})),
        p384().jwk(Some("ec384"), json!({})),
        ed25519().jwk(Some("ed"), json!({})),
    ]});
    jwks_from(&doc)
}

/// Parses a JWKS from a JSON value.
pub(crate) fn jwks_from(doc: &Value) -> Jwks {
    Jwks::from_json(doc.to_string().as_bytes()).unwrap()
}

/// Signs `header.payload` with jsonwebtoken's signer for `alg`, with the
/// header and payload given as raw JSON (so tests can build any header).
pub(crate) fn sign_raw(
    header: &Value,
    payload: &[u8],
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg.to_jsonwebtoken()).unwrap();
    format!("{signing_input}.{signature}")
}

/// Signs claims with `jsonwebtoken::encode`, with a standard header.
pub(crate) fn sign(claims: &Value, key: &EncodingKey, alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = jsonwebtoken::Header::new(alg.to_jsonwebtoken());
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// The base64url encoding used in JWS segments.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    b64(bytes)
}
