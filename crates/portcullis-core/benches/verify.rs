//! Criterion: the cost of verifying one JWT access token (RS256, ES256,
//! EdDSA), next to the crypto library's raw signature check on the same
//! bytes. Run with `cargo bench -p portcullis-core --bench verify`.
//!
//! For each algorithm:
//! - `validate_access_token`: everything Portcullis does for an uncached
//!   token (header rules, key selection, signature, claim rules);
//! - `jsonwebtoken_verify`: the signature check alone through jsonwebtoken
//!   (what `validate_access_token` calls);
//! - `aws_lc_rs_verify`: the signature check alone with aws-lc-rs directly.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_core::access_token::{AccessTokenExpectations, TypPolicy, validate_access_token};
use portcullis_core::jose::{Algorithm, Jwks};
use serde_json::{Value, json};

const ISSUER: &str = "https://op.example.com";
const API: &str = "https://api.example.com";
const NOW: u64 = 1_700_000_000;

struct Case {
    name: &'static str,
    alg: Algorithm,
    token: String,
    jwks: Jwks,
    public_key: Vec<u8>,
    raw_alg: &'static dyn VerificationAlgorithm,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(alg: &str) -> String {
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k1"});
    let claims = json!({
        "iss": ISSUER, "sub": "alice", "aud": API, "client_id": "app",
        "scope": "openid profile messages:read", "iat": NOW, "exp": NOW + 300,
        "jti": "8e3b5d1c-1f0a-4c2b-9a77-5d1e6f7a8b9c", "auth_time": NOW, "sid": "s-1",
    });
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn jwks(jwk: Value) -> Jwks {
    Jwks::from_json(json!({"keys": [jwk]}).to_string().as_bytes()).expect("jwks")
}

fn rs256() -> Case {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
    let input = signing_input("RS256");
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    Case {
        name: "RS256",
        alg: Algorithm::RS256,
        token: format!("{input}.{}", b64(&sig)),
        jwks: jwks(json!({"kty": "RSA", "kid": "k1", "n": b64(&n), "e": b64(&e)})),
        public_key: public.as_ref().to_vec(),
        raw_alg: &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn es256() -> Case {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("ec");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("ec");
    let input = signing_input("ES256");
    let sig = pair.sign(&rng, input.as_bytes()).expect("sign");
    let point = pair.public_key().as_ref().to_vec();
    Case {
        name: "ES256",
        alg: Algorithm::ES256,
        token: format!("{input}.{}", b64(sig.as_ref())),
        jwks: jwks(json!({
            "kty": "EC", "crv": "P-256", "kid": "k1",
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        })),
        public_key: point,
        raw_alg: &signature::ECDSA_P256_SHA256_FIXED,
    }
}

fn eddsa() -> Case {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("ed25519");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed25519");
    let input = signing_input("EdDSA");
    let sig = pair.sign(input.as_bytes());
    let x = pair.public_key().as_ref().to_vec();
    Case {
        name: "EdDSA",
        alg: Algorithm::EdDSA,
        token: format!("{input}.{}", b64(sig.as_ref())),
        jwks: jwks(json!({"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": b64(&x)})),
        public_key: x,
        raw_alg: &signature::ED25519,
    }
}

fn bench(c: &mut Criterion) {
    let audiences = [API.to_owned()];
    for case in [rs256(), es256(), eddsa()] {
        let expectations = AccessTokenExpectations {
            issuer: ISSUER,
            audiences: &audiences,
            allowed_algs: &[case.alg],
            typ: TypPolicy::Strict,
            now: NOW,
            skew_secs: 60,
        };
        assert!(validate_access_token(&case.token, &case.jwks, &expectations).is_ok());
        let (input, sig_b64) = case.token.rsplit_once('.').expect("three segments");
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).expect("signature");
        let raw = UnparsedPublicKey::new(case.raw_alg, case.public_key.clone());
        assert!(raw.verify(input.as_bytes(), &sig).is_ok());
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(jwk_json(&case)).expect("jwk"),
        )
        .expect("decoding key");
        let jwt_alg: jsonwebtoken::Algorithm = case.alg.as_str().parse().expect("alg");
        assert!(
            jsonwebtoken::crypto::verify(sig_b64, input.as_bytes(), &decoding, jwt_alg)
                .expect("verify")
        );

        let mut group = c.benchmark_group(case.name);
        group.bench_function("validate_access_token", |b| {
            b.iter(|| validate_access_token(&case.token, &case.jwks, &expectations))
        });
        group.bench_function("jsonwebtoken_verify", |b| {
            b.iter(|| jsonwebtoken::crypto::verify(sig_b64, input.as_bytes(), &decoding, jwt_alg))
        });
        group.bench_function("aws_lc_rs_verify", |b| {
            b.iter(|| raw.verify(input.as_bytes(), &sig))
        });
        group.finish();
    }
}

/// The case's public JWK as JSON (for jsonwebtoken's own key type).
fn jwk_json(case: &Case) -> Value {
    match case.alg {
        Algorithm::RS256 => {
            let (n, e) = rsa_components(&case.public_key);
            json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)})
        }
        Algorithm::ES256 => json!({
            "kty": "EC", "crv": "P-256",
            "x": b64(&case.public_key[1..33]), "y": b64(&case.public_key[33..]),
        }),
        _ => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&case.public_key)}),
    }
}

/// Modulus and exponent of a DER RSAPublicKey (two INTEGERs in a SEQUENCE).
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let first = input[1] as usize;
        let (len, header) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            (
                input[2..2 + n]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | *b as usize),
                2 + n,
            )
        };
        (&input[header..header + len], &input[header + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect();
    (strip(n), strip(e))
}

criterion_group!(benches, bench);
criterion_main!(benches);
