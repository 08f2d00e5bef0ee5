//! The key that signs client assertions: parsed once (from PEM or a private
//! JWK, or from the client secret for HMAC), validated by aws-lc-rs, and
//! then used for every assertion.
//!
//! Signing is aws-lc-rs's: RSASSA-PKCS1-v1_5 and RSASSA-PSS, ECDSA with
//! fixed-length (JWS) signatures, Ed25519 and HMAC. This module only
//! assembles the JWS compact serialization around the signature
//! (RFC 7515 §7.1).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};

use crate::jose::{Algorithm, KeyType};
use crate::secret::Secret;

/// The shortest HMAC key accepted for `client_secret_jwt`, in bytes: the
/// output size of SHA-256 (RFC 7518 §3.2 requires a key at least as long
/// as the hash output).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Why a signing key could not be used. The messages never contain key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The text is neither PEM nor a JSON object.
    #[error(
        "expected a PEM private key (-----BEGIN PRIVATE KEY-----) or a private JWK (a JSON object)"
    )]
    UnknownFormat,
    /// The PEM is encrypted; only unencrypted keys are read.
    #[error(
        "the PEM key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem) and keep the file private"
    )]
    EncryptedPem,
    /// The PEM or JWK holds a public key or a certificate, not a private key.
    #[error("this is a public key or certificate; the private key is needed to sign assertions")]
    NotPrivate,
    /// The PEM could not be decoded.
    #[error("the PEM text could not be read: {0}")]
    Pem(String),
    /// The JWK is not valid JSON or misses a member.
    #[error("invalid JWK: {0}")]
    Jwk(String),
    /// The key type or curve cannot sign assertions.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// aws-lc-rs rejected the key (inconsistent or too small, for example).
    #[error("the key was rejected: {0}")]
    Rejected(String),
    /// The requested algorithm does not fit the key.
    #[error("algorithm {alg} does not fit this {key} key")]
    AlgorithmMismatch {
        /// The requested algorithm.
        alg: Algorithm,
        /// The key's type.
        key: &'static str,
    },
    /// The client secret is too short to key HMAC.
    #[error(
        "the client secret is {0} bytes; client_secret_jwt needs at least {MIN_HMAC_SECRET_BYTES}"
    )]
    WeakSecret(usize),
    /// Signing failed (not expected with a validated key).
    #[error("signing the client assertion failed")]
    Signing,
}

enum KeyMaterial {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, KeyType),
    Ed(Ed25519KeyPair),
    Hmac(Box<hmac::Key>),
}

/// A validated key for signing client assertions (`private_key_jwt`, or
/// `client_secret_jwt` keyed by the client secret), with its algorithm and
/// optional key id. Cheap to clone. `Debug` shows the algorithm and `kid`
/// only.
#[derive(Clone)]
pub struct AssertionSigningKey {
    alg: Algorithm,
    kid: Option<String>,
    key: Arc<KeyMaterial>,
}

impl fmt::Debug for AssertionSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionSigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AssertionSigningKey {
    /// Reads a private key given as PEM text or as a private JWK (JSON),
    /// told apart by their first character. The algorithm is the JWK's
    /// `alg`, else the key's natural one (RS256, ES256, ES384, EdDSA); the
    /// `kid` is the JWK's.
    pub fn parse(text: &str) -> Result<Self, SigningKeyError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            Self::from_jwk(trimmed)
        } else if trimmed.starts_with("-----BEGIN") {
            Self::from_pem(trimmed)
        } else {
            Err(SigningKeyError::UnknownFormat)
        }
    }

    /// Reads an unencrypted PEM private key: PKCS#8 (`PRIVATE KEY`, RSA,
    /// EC P-256/P-384 or Ed25519), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`). PEM carries no key id: set one with
    /// [`AssertionSigningKey::with_kid`] when the OP needs it.
    pub fn from_pem(pem: &str) -> Result<Self, SigningKeyError> {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || pem.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(SigningKeyError::EncryptedPem);
        }
        let der = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(der) => der,
            Err(rustls_pki_types::pem::Error::NoItemsFound) => {
                return Err(
                    if pem.contains("PUBLIC KEY-----") || pem.contains("CERTIFICATE-----") {
                        SigningKeyError::NotPrivate
                    } else {
                        SigningKeyError::Pem("no private key found".into())
                    },
                );
            }
            Err(e) => return Err(SigningKeyError::Pem(e.to_string())),
        };
        let key = match &der {
            PrivateKeyDer::Pkcs1(k) => {
                KeyMaterial::Rsa(RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(rejected)?)
            }
            PrivateKeyDer::Sec1(k) => ec_from_der(k.secret_sec1_der())?,
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
                    KeyMaterial::Rsa(rsa)
                } else if let Ok(ed) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    KeyMaterial::Ed(ed)
                } else {
                    ec_from_der(der)?
                }
            }
            _ => {
                return Err(SigningKeyError::UnsupportedKey(
                    "unknown PEM key kind".into(),
                ));
            }
        };
        Ok(Self::with_natural_alg(key, None))
    }

    /// Reads a private JWK (RFC 7517): `RSA` with all CRT members, `EC` on
    /// P-256 or P-384, or `OKP` on Ed25519. Its `kid` and `alg` are kept; a
    /// `use` other than `sig`, or `key_ops` without `sign`, is refused.
    pub fn from_jwk(jwk: &str) -> Result<Self, SigningKeyError> {
        let value: Value =
            serde_json::from_str(jwk).map_err(|_| SigningKeyError::Jwk("not valid JSON".into()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| SigningKeyError::Jwk("not a JSON object".into()))?;
        if obj.contains_key("keys") {
            return Err(SigningKeyError::Jwk(
                "this is a JWK Set; give the one private JWK that signs".into(),
            ));
        }
        if let Some(usage) = obj.get("use")
            && usage.as_str() != Some("sig")
        {
            return Err(SigningKeyError::Jwk("`use` must be `sig`".into()));
        }
        if let Some(ops) = obj.get("key_ops") {
            let signs = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("sign")));
            if !signs {
                return Err(SigningKeyError::Jwk("`key_ops` must include `sign`".into()));
            }
        }
        let kty = str_member(obj, "kty")?;
        if kty != "oct" && !obj.contains_key("d") {
            return Err(SigningKeyError::NotPrivate);
        }
        let key = match kty {
            "RSA" => {
                let n = b64_member(obj, "n")?;
                let e = b64_member(obj, "e")?;
                let d = b64_member(obj, "d")?;
                let crt = ["p", "q", "dp", "dq", "qi"];
                if crt.iter().any(|m| !obj.contains_key(*m)) {
                    return Err(SigningKeyError::UnsupportedKey(
                        "an RSA JWK needs its CRT members p, q, dp, dq and qi".into(),
                    ));
                }
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: strip_leading_zeros(&n),
                        e: strip_leading_zeros(&e),
                    },
                    d: d.as_slice(),
                    p: &b64_member(obj, "p")?,
                    q: &b64_member(obj, "q")?,
                    dP: &b64_member(obj, "dp")?,
                    dQ: &b64_member(obj, "dq")?,
                    qInv: &b64_member(obj, "qi")?,
                };
                KeyMaterial::Rsa(RsaKeyPair::from_components(&components).map_err(rejected)?)
            }
            "EC" => {
                let (alg, key_type, size) = match str_member(obj, "crv")? {
                    "P-256" => (&ECDSA_P256_SHA256_FIXED_SIGNING, KeyType::EcP256, 32),
                    "P-384" => (&ECDSA_P384_SHA384_FIXED_SIGNING, KeyType::EcP384, 48),
                    other => {
                        return Err(SigningKeyError::UnsupportedKey(format!(
                            "EC curve {} (use P-256 or P-384)",
                            short(other)
                        )));
                    }
                };
                let (x, y, d) = (
                    b64_member(obj, "x")?,
                    b64_member(obj, "y")?,
                    b64_member(obj, "d")?,
                );
                if x.len() != size || y.len() != size || d.len() != size {
                    return Err(SigningKeyError::Jwk(
                        "EC members x, y and d have the wrong length for the curve".into(),
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(alg, &d, &point)
                    .map_err(rejected)?;
                KeyMaterial::Ec(pair, key_type)
            }
            "OKP" => {
                let crv = str_member(obj, "crv")?;
                if crv != "Ed25519" {
                    return Err(SigningKeyError::UnsupportedKey(format!(
                        "OKP curve {} (use Ed25519)",
                        short(crv)
                    )));
                }
                let (x, d) = (b64_member(obj, "x")?, b64_member(obj, "d")?);
                KeyMaterial::Ed(Ed25519KeyPair::from_seed_and_public_key(&d, &x).map_err(rejected)?)
            }
            "oct" => {
                return Err(SigningKeyError::UnsupportedKey(
                    "a symmetric (oct) JWK; for HMAC use client_secret_jwt with the client secret"
                        .into(),
                ));
            }
            other => {
                return Err(SigningKeyError::UnsupportedKey(format!(
                    "key type {}",
                    short(other)
                )));
            }
        };
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() => Some(kid.clone()),
            Some(_) => {
                return Err(SigningKeyError::Jwk(
                    "`kid` must be a non-empty string".into(),
                ));
            }
        };
        let key = Self::with_natural_alg(key, kid);
        match obj.get("alg") {
            None => Ok(key),
            Some(Value::String(alg)) => {
                let alg = alg.parse::<Algorithm>().map_err(|_| {
                    SigningKeyError::UnsupportedKey(format!("JWK alg {}", short(alg)))
                })?;
                key.with_alg(alg)
            }
            Some(_) => Err(SigningKeyError::Jwk("`alg` must be a string".into())),
        }
    }

    /// An HMAC key for `client_secret_jwt` (RFC 7523, OpenID Connect Core
    /// §9): the client secret's UTF-8 bytes, with `HS256`, `HS384` or
    /// `HS512`. Secrets shorter than [`MIN_HMAC_SECRET_BYTES`] are refused.
    pub fn from_client_secret(secret: &Secret, alg: Algorithm) -> Result<Self, SigningKeyError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < MIN_HMAC_SECRET_BYTES {
            return Err(SigningKeyError::WeakSecret(bytes.len()));
        }
        let hmac_alg = match alg {
            Algorithm::HS256 => hmac::HMAC_SHA256,
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            other => {
                return Err(SigningKeyError::AlgorithmMismatch {
                    alg: other,
                    key: "client secret (HMAC)",
                });
            }
        };
        Ok(Self {
            alg,
            kid: None,
            key: Arc::new(KeyMaterial::Hmac(Box::new(hmac::Key::new(hmac_alg, bytes)))),
        })
    }

    fn with_natural_alg(key: KeyMaterial, kid: Option<String>) -> Self {
        let alg = match &key {
            KeyMaterial::Rsa(_) => Algorithm::RS256,
            KeyMaterial::Ec(_, KeyType::EcP384) => Algorithm::ES384,
            KeyMaterial::Ec(..) => Algorithm::ES256,
            KeyMaterial::Ed(_) => Algorithm::EdDSA,
            KeyMaterial::Hmac(_) => Algorithm::HS256,
        };
        Self {
            alg,
            kid,
            key: Arc::new(key),
        }
    }

    /// The same key with another algorithm, which must fit it: RS*/PS* for
    /// RSA, ES256 for P-256, ES384 for P-384, EdDSA for Ed25519.
    pub fn with_alg(mut self, alg: Algorithm) -> Result<Self, SigningKeyError> {
        let fits = match &*self.key {
            KeyMaterial::Rsa(_) => alg.key_type() == Some(KeyType::Rsa),
            KeyMaterial::Ec(_, key_type) => alg.key_type() == Some(*key_type),
            KeyMaterial::Ed(_) => alg == Algorithm::EdDSA,
            // An HMAC key's algorithm is fixed when it is keyed.
            KeyMaterial::Hmac(_) => alg == self.alg,
        };
        if !fits {
            return Err(SigningKeyError::AlgorithmMismatch {
                alg,
                key: self.key_kind(),
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// The same key with this `kid` in the assertion header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        self.kid = (!kid.is_empty()).then_some(kid);
        self
    }

    /// The signing algorithm (the assertion's `alg` header).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id (the assertion's `kid` header), if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True for the HMAC key of `client_secret_jwt`.
    pub fn is_symmetric(&self) -> bool {
        matches!(&*self.key, KeyMaterial::Hmac(_))
    }

    fn key_kind(&self) -> &'static str {
        match &*self.key {
            KeyMaterial::Rsa(_) => "RSA",
            KeyMaterial::Ec(_, KeyType::EcP384) => "EC P-384",
            KeyMaterial::Ec(..) => "EC P-256",
            KeyMaterial::Ed(_) => "Ed25519",
            KeyMaterial::Hmac(_) => "client secret (HMAC)",
        }
    }

    /// The public JWK to register at the OP (`jwks` client metadata), with
    /// `kid`, `alg` and `use: sig`. `None` for an HMAC key.
    pub fn public_jwk(&self) -> Option<Value> {
        let mut jwk = match &*self.key {
            KeyMaterial::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            KeyMaterial::Ec(pair, key_type) => {
                let point = pair.public_key().as_ref();
                let size = (point.len().saturating_sub(1)) / 2;
                let (x, y) = point.get(1..).unwrap_or_default().split_at(size);
                let crv = if *key_type == KeyType::EcP384 {
                    "P-384"
                } else {
                    "P-256"
                };
                json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
            }
            KeyMaterial::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
            KeyMaterial::Hmac(_) => return None,
        };
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        Some(jwk)
    }

    /// Signs `claims` as a compact JWS with this key's `alg` and `kid`.
    pub fn sign_jwt(&self, claims: &Map<String, Value>) -> Result<String, SigningKeyError> {
        let mut header = json!({"alg": self.alg.as_str()});
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        let header = serde_json::to_vec(&header).map_err(|_| SigningKeyError::Signing)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SigningKeyError::Signing)?;
        let mut jws = format!("{}.{}", b64(&header), b64(&payload));
        let signature = self.sign(jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&b64(&signature));
        Ok(jws)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        match &*self.key {
            KeyMaterial::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(SigningKeyError::Signing),
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), message, &mut out)
                    .map_err(|_| SigningKeyError::Signing)?;
                Ok(out)
            }
            KeyMaterial::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningKeyError::Signing),
            KeyMaterial::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyMaterial::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }
}

fn ec_from_der(der: &[u8]) -> Result<KeyMaterial, SigningKeyError> {
    if let Ok(pair) = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(KeyMaterial::Ec(pair, KeyType::EcP256));
    }
    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
        .map(|pair| KeyMaterial::Ec(pair, KeyType::EcP384))
        .map_err(|_| {
            SigningKeyError::UnsupportedKey(
                "not an RSA (2048-8192 bits), EC P-256/P-384 or Ed25519 private key".into(),
            )
        })
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> SigningKeyError {
    SigningKeyError::Rejected(e.to_string())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn short(value: &str) -> String {
    format!("{:?}", value.chars().take(32).collect::<String>())
}

fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, SigningKeyError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| SigningKeyError::Jwk(format!("`{name}` is missing or not a string")))
}

fn b64_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SigningKeyError> {
    let text = str_member(obj, name)?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| SigningKeyError::Jwk(format!("`{name}` is not base64url")))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
