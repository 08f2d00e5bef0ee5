//! Signing keys generated at start with aws-lc-rs, their JWKS, and JWS signing and
//! verification through jsonwebtoken.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyUncompressedBin, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{DevIdpError, SigningAlg};

/// One signing key: private half for jsonwebtoken, public half as a JWK.
struct SigningKey {
    alg: SigningAlg,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

/// The OP's three signing keys (RS256, ES256, EdDSA).
pub(crate) struct Keys {
    keys: Vec<SigningKey>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_kid(prefix: &str) -> Result<String, DevIdpError> {
    let mut buf = [0u8; 9];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| DevIdpError::KeyGeneration("random"))?;
    Ok(format!("{prefix}-{}", b64(&buf)))
}

pub(crate) fn jose_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

impl Keys {
    /// Generates a fresh RSA-2048, P-256 and Ed25519 key.
    pub(crate) fn generate() -> Result<Self, DevIdpError> {
        Ok(Keys {
            keys: vec![rsa_key()?, ec_key()?, ed_key()?],
        })
    }

    fn get(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.alg == alg)
    }

    /// The public JWKS document.
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Signs `claims` with the key for `alg`, setting `kid` and `typ`.
    pub(crate) fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, DevIdpError> {
        let key = self
            .get(alg)
            .ok_or(DevIdpError::KeyGeneration("missing key"))?;
        let mut header = Header::new(jose_alg(alg));
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| DevIdpError::Signing(e.to_string()))
    }

    /// The `kid` of the key for `alg`.
    pub(crate) fn kid(&self, alg: SigningAlg) -> Option<&str> {
        self.get(alg).map(|k| k.kid.as_str())
    }

    /// Signs `claims` with the key for `alg` under `header` taken verbatim (its `alg`,
    /// `kid` and `typ` may say anything): the JWS Compact Serialization of
    /// BASE64URL(header) `.` BASE64URL(claims) with the key's own algorithm.
    pub(crate) fn sign_with_header(
        &self,
        alg: SigningAlg,
        header: &Value,
        claims: &Value,
    ) -> Result<String, DevIdpError> {
        let key = self
            .get(alg)
            .ok_or(DevIdpError::KeyGeneration("missing key"))?;
        let encode =
            |v: &Value| serde_json::to_vec(v).map_err(|e| DevIdpError::Signing(e.to_string()));
        let message = format!("{}.{}", b64(&encode(header)?), b64(&encode(claims)?));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, jose_alg(alg))
                .map_err(|e| DevIdpError::Signing(e.to_string()))?;
        Ok(format!("{message}.{signature}"))
    }

    /// Verifies a JWS we issued: the header's `kid` must name one of our keys and
    /// its `alg` must be that key's algorithm. `validation` supplies the claim rules.
    pub(crate) fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &jsonwebtoken::Validation,
    ) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        if header.alg != jose_alg(key.alg) {
            return None;
        }
        let mut validation = validation.clone();
        validation.algorithms = vec![jose_alg(key.alg)];
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

fn rsa_key() -> Result<SigningKey, DevIdpError> {
    let pair =
        RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| DevIdpError::KeyGeneration("RSA"))?;
    let pkcs8: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| DevIdpError::KeyGeneration("RSA PKCS#8"))?;
    // jsonwebtoken's aws-lc backend wants the RFC 8017 RSAPrivateKey, which is the
    // OCTET STRING payload of the PKCS#8 PrivateKeyInfo.
    let pkcs1 = pkcs8_private_key(pkcs8.as_ref()).ok_or(DevIdpError::KeyGeneration("RSA DER"))?;
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    let kid = random_kid("rs256")?;
    Ok(SigningKey {
        alg: SigningAlg::RS256,
        encoding: EncodingKey::from_rsa_der(pkcs1),
        decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": b64(&e)}),
        kid,
    })
}

fn ec_key() -> Result<SigningKey, DevIdpError> {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| DevIdpError::KeyGeneration("P-256"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
        .map_err(|_| DevIdpError::KeyGeneration("P-256"))?;
    let point: EcPublicKeyUncompressedBin<'static> = pair
        .public_key()
        .as_be_bytes()
        .map_err(|_| DevIdpError::KeyGeneration("P-256 public"))?;
    let point = point.as_ref();
    // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
    if point.len() != 65 || point[0] != 4 {
        return Err(DevIdpError::KeyGeneration("P-256 point"));
    }
    let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
    let kid = random_kid("es256")?;
    Ok(SigningKey {
        alg: SigningAlg::ES256,
        encoding: EncodingKey::from_ec_der(doc.as_ref()),
        decoding: DecodingKey::from_ec_components(&x, &y)
            .map_err(|_| DevIdpError::KeyGeneration("P-256 public"))?,
        jwk: json!({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": x, "y": y}),
        kid,
    })
}

fn ed_key() -> Result<SigningKey, DevIdpError> {
    let rng = SystemRandom::new();
    let doc =
        Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| DevIdpError::KeyGeneration("Ed25519"))?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| DevIdpError::KeyGeneration("Ed25519"))?;
    let x = b64(pair.public_key().as_ref());
    let kid = random_kid("eddsa")?;
    Ok(SigningKey {
        alg: SigningAlg::EdDSA,
        encoding: EncodingKey::from_ed_der(doc.as_ref()),
        decoding: DecodingKey::from_ed_components(&x)
            .map_err(|_| DevIdpError::KeyGeneration("Ed25519 public"))?,
        jwk: json!({"kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519", "x": x}),
        kid,
    })
}

/// Reads one DER TLV; returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Extracts the `privateKey` OCTET STRING from a PKCS#8 `PrivateKeyInfo`
/// (`SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`).
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _version, body) = der_tlv(body)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, _alg, body) = der_tlv(body)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, key, _) = der_tlv(body)?;
    (tag == 0x04).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_extraction_yields_a_key_aws_lc_accepts_as_rsa_private_key() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().unwrap();
        let pkcs1 = pkcs8_private_key(pkcs8.as_ref()).unwrap();
        assert!(RsaKeyPair::from_der(pkcs1).is_ok());
    }

    #[test]
    fn pkcs8_extraction_rejects_truncated_and_garbage_input() {
        assert!(pkcs8_private_key(&[]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x82, 0xff]).is_none());
        assert!(pkcs8_private_key(&[0x04, 0x01, 0x00]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }

    #[test]
    fn each_key_signs_a_token_that_verifies_against_its_own_jwk() {
        let keys = Keys::generate().unwrap();
        let validation = {
            let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
            v.validate_aud = false;
            v
        };
        for alg in SigningAlg::ALL {
            let token = keys
                .sign(alg, "JWT", &json!({"sub": "x", "exp": 4_000_000_000u64}))
                .unwrap();
            let claims: Value = keys.verify(&token, &validation).unwrap();
            assert_eq!(claims["sub"], "x");
        }
    }

    #[test]
    fn a_verbatim_header_is_kept_and_the_signature_still_verifies() {
        let keys = Keys::generate().unwrap();
        for alg in SigningAlg::ALL {
            let kid = keys.kid(alg).unwrap().to_owned();
            let header = json!({"alg": alg.as_str(), "kid": kid, "typ": "logout+jwt", "x": 1});
            let token = keys
                .sign_with_header(alg, &header, &json!({"exp": 4_000_000_000u64}))
                .unwrap();
            let first = token.split('.').next().unwrap();
            let decoded: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).unwrap()).unwrap();
            assert_eq!(decoded, header);
            let mut v = jsonwebtoken::Validation::new(jose_alg(alg));
            v.validate_aud = false;
            assert!(keys.verify::<Value>(&token, &v).is_some());
        }
    }

    #[test]
    fn verify_rejects_a_token_whose_alg_does_not_match_the_kid() {
        let keys = Keys::generate().unwrap();
        let token = keys
            .sign(SigningAlg::ES256, "JWT", &json!({"exp": 4_000_000_000u64}))
            .unwrap();
        // Re-label the header with the RSA key's kid but keep the ES256 signature.
        let rs_kid = keys.get(SigningAlg::RS256).unwrap().kid.clone();
        let mut parts = token.splitn(2, '.');
        let _ = parts.next();
        let rest = parts.next().unwrap();
        let forged_header = b64(json!({"alg": "ES256", "kid": rs_kid})
            .to_string()
            .as_bytes());
        let forged = format!("{forged_header}.{rest}");
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.validate_aud = false;
        assert!(keys.verify::<Value>(&forged, &v).is_none());
    }
}
