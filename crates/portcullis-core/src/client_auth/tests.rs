//! Client authentication: assertion claims and headers, every key type
//! from PEM and from JWK, hostile keys, and the request each method builds.

use std::collections::HashMap;

use serde_json::{Value, json};

use base64::Engine as _;

use super::*;
use crate::authorize::test_support::client;
use crate::jose::Algorithm;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://op.example.com";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/keys/", $name))
    };
}

const RSA_PEM: &str = fixture!("rsa.pem");
const RSA_PKCS1_PEM: &str = fixture!("rsa-pkcs1.pem");
const RSA_JWK: &str = fixture!("rsa.jwk.json");
const RSA_OTHER_JWK: &str = fixture!("rsa-other.jwk.json");
const RSA_PUBLIC_PEM: &str = fixture!("rsa-public.pem");
const EC_PEM: &str = fixture!("ec-p256.pem");
const EC_SEC1_PEM: &str = fixture!("ec-p256-sec1.pem");
const EC_JWK: &str = fixture!("ec-p256.jwk.json");
const EC_ENCRYPTED_PEM: &str = fixture!("ec-p256-encrypted.pem");
const EC384_PEM: &str = fixture!("ec-p384.pem");
const EC384_JWK: &str = fixture!("ec-p384.jwk.json");
const ED_PEM: &str = fixture!("ed25519.pem");
const ED_JWK: &str = fixture!("ed25519.jwk.json");

const SECRET_32: &str = "0123456789abcdef0123456789abcdef";

fn key(text: &str) -> AssertionSigningKey {
    AssertionSigningKey::parse(text).expect("fixture key parses")
}

fn jwk_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn jwt_client(method: TokenEndpointAuthMethod, key: AssertionSigningKey) -> ClientConfig {
    let mut c = client();
    c.auth_method = method;
    c.assertion_key = Some(key);
    c
}

fn form(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.body.as_deref().unwrap().as_bytes())
        .into_owned()
        .collect()
}

fn header_of(jws: &str) -> Value {
    let b64 = jws.split('.').next().unwrap();
    serde_json::from_slice(&b64d(b64)).unwrap()
}

fn b64d(text: &str) -> Vec<u8> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Verifies `jws` independently, with jsonwebtoken and the public JWK, as
/// an OP would: signature, `aud` = issuer, `iss` = `sub` = client id, `exp`.
fn verify_with(jws: &str, public_jwk: &Value, alg: jsonwebtoken::Algorithm) -> Value {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(public_jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    verify_with_key(jws, &key, alg)
}

fn verify_with_key(
    jws: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: jsonwebtoken::Algorithm,
) -> Value {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[ISSUER]);
    v.set_issuer(&["my-client"]);
    v.validate_exp = false; // NOW is in the past of the machine's clock
    v.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    jsonwebtoken::decode::<Value>(jws, key, &v)
        .expect("assertion verifies")
        .claims
}

fn assertion_from(c: &ClientConfig) -> String {
    let req = authenticated_form_post(
        &url::Url::parse("https://op.example.com/token").unwrap(),
        c,
        NOW,
        url::form_urlencoded::Serializer::new(String::new()),
    )
    .unwrap();
    form(&req)["client_assertion"].clone()
}

#[test]
fn assertion_claims_follow_rfc7523bis() {
    let claims = assertion_claims("my-client", ISSUER, NOW, "jti-1");
    assert_eq!(claims["iss"], "my-client");
    assert_eq!(claims["sub"], "my-client");
    assert_eq!(
        claims["aud"],
        json!(ISSUER),
        "aud is the issuer as one string"
    );
    assert_eq!(claims["jti"], "jti-1");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + ASSERTION_LIFETIME_SECS);
    const { assert!(ASSERTION_LIFETIME_SECS <= 300, "assertions are short-lived") };
    assert_eq!(claims.len(), 6);
}

#[test]
fn private_key_jwt_posts_assertion_and_client_id_without_secret() {
    let c = jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, key(RSA_JWK));
    let req = authenticated_form_post(
        &url::Url::parse("https://op.example.com/token").unwrap(),
        &c,
        NOW,
        url::form_urlencoded::Serializer::new(String::new()),
    )
    .unwrap();
    let f = form(&req);
    assert_eq!(f["client_id"], "my-client");
    assert_eq!(f["client_assertion_type"], CLIENT_ASSERTION_TYPE);
    assert!(!f.contains_key("client_secret"), "the secret never travels");
    assert!(req.headers.iter().all(|(n, _)| *n != "authorization"));
    let claims = verify_with(
        &f["client_assertion"],
        &jwk_value(RSA_JWK),
        jsonwebtoken::Algorithm::RS256,
    );
    assert_eq!(claims["aud"], ISSUER);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + ASSERTION_LIFETIME_SECS);
}

#[test]
fn every_assertion_has_a_fresh_random_jti() {
    let c = jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, key(EC_PEM));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let jws = assertion_from(&c);
        let payload: Value = serde_json::from_slice(&b64d(jws.split('.').nth(1).unwrap())).unwrap();
        let jti = payload["jti"].as_str().unwrap().to_owned();
        assert_eq!(jti.len(), 43, "256 bits of randomness");
        assert!(seen.insert(jti), "jti repeated");
    }
}

#[test]
fn rsa_key_from_pkcs8_pkcs1_and_jwk_signs_verifiable_rs256() {
    let public = jwk_value(RSA_JWK);
    for text in [RSA_PEM, RSA_PKCS1_PEM, RSA_JWK] {
        let k = key(text);
        assert_eq!(k.alg(), Algorithm::RS256);
        let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
        verify_with(&jws, &public, jsonwebtoken::Algorithm::RS256);
    }
}

#[test]
fn rsa_key_signs_ps256_when_asked() {
    let k = key(RSA_PEM).with_alg(Algorithm::PS256).unwrap();
    let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
    assert_eq!(header_of(&jws)["alg"], "PS256");
    verify_with(&jws, &jwk_value(RSA_JWK), jsonwebtoken::Algorithm::PS256);
}

#[test]
fn ec_p256_key_from_pkcs8_sec1_and_jwk_signs_verifiable_es256() {
    let public = jwk_value(EC_JWK);
    for text in [EC_PEM, EC_SEC1_PEM, EC_JWK] {
        let k = key(text);
        assert_eq!(k.alg(), Algorithm::ES256);
        let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
        // ES256 signatures are the 64-byte fixed r||s form of JWS (RFC 7518 §3.4).
        assert_eq!(b64d(jws.rsplit('.').next().unwrap()).len(), 64);
        verify_with(&jws, &public, jsonwebtoken::Algorithm::ES256);
    }
}

#[test]
fn ec_p384_key_signs_verifiable_es384() {
    for text in [EC384_PEM, EC384_JWK] {
        let k = key(text);
        assert_eq!(k.alg(), Algorithm::ES384);
        let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
        verify_with(&jws, &jwk_value(EC384_JWK), jsonwebtoken::Algorithm::ES384);
    }
}

#[test]
fn ed25519_key_from_pem_and_jwk_signs_verifiable_eddsa() {
    for text in [ED_PEM, ED_JWK] {
        let k = key(text);
        assert_eq!(k.alg(), Algorithm::EdDSA);
        let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
        verify_with(&jws, &jwk_value(ED_JWK), jsonwebtoken::Algorithm::EdDSA);
    }
}

#[test]
fn client_secret_jwt_signs_hs256_with_the_client_secret() {
    let secret = crate::Secret::new(SECRET_32);
    let k = AssertionSigningKey::from_client_secret(&secret, Algorithm::HS256).unwrap();
    let mut c = jwt_client(TokenEndpointAuthMethod::ClientSecretJwt, k);
    c.client_secret = Some(secret);
    let req = authenticated_form_post(
        &url::Url::parse("https://op.example.com/token").unwrap(),
        &c,
        NOW,
        url::form_urlencoded::Serializer::new(String::new()),
    )
    .unwrap();
    let f = form(&req);
    assert!(!f.contains_key("client_secret"), "the secret never travels");
    let jws = &f["client_assertion"];
    assert_eq!(header_of(jws), json!({"alg": "HS256"}));
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET_32.as_bytes());
    verify_with_key(jws, &key, jsonwebtoken::Algorithm::HS256);
    // Another secret does not verify it.
    let wrong = jsonwebtoken::DecodingKey::from_secret(b"another-secret-another-secret-xx");
    let v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    assert!(jsonwebtoken::decode::<Value>(jws, &wrong, &v).is_err());
}

#[test]
fn header_carries_alg_and_the_jwk_kid_and_nothing_else() {
    let jws = assertion_from(&jwt_client(
        TokenEndpointAuthMethod::PrivateKeyJwt,
        key(RSA_JWK),
    ));
    assert_eq!(header_of(&jws), json!({"alg": "RS256", "kid": "rsa-1"}));
    let jws = assertion_from(&jwt_client(
        TokenEndpointAuthMethod::PrivateKeyJwt,
        key(ED_JWK),
    ));
    assert_eq!(header_of(&jws), json!({"alg": "EdDSA", "kid": "ed-1"}));
}

#[test]
fn pem_key_has_no_kid_unless_one_is_set() {
    let k = key(EC_PEM);
    assert_eq!(k.kid(), None);
    let jws = assertion_from(&jwt_client(
        TokenEndpointAuthMethod::PrivateKeyJwt,
        k.clone(),
    ));
    assert_eq!(header_of(&jws), json!({"alg": "ES256"}));
    let k = k.with_kid("my-key");
    let jws = assertion_from(&jwt_client(TokenEndpointAuthMethod::PrivateKeyJwt, k));
    assert_eq!(header_of(&jws)["kid"], "my-key");
}

#[test]
fn public_jwk_of_pem_and_jwk_forms_is_the_same_key() {
    for (pem, jwk) in [(RSA_PEM, RSA_JWK), (EC_PEM, EC_JWK), (ED_PEM, ED_JWK)] {
        let from_pem = key(pem).public_jwk().unwrap();
        let from_jwk = key(jwk).public_jwk().unwrap();
        let fixture = jwk_value(jwk);
        for member in ["kty", "n", "e", "crv", "x", "y"] {
            assert_eq!(from_pem.get(member), fixture.get(member), "{member}");
            assert_eq!(from_jwk.get(member), fixture.get(member), "{member}");
        }
        assert!(
            from_pem.get("d").is_none(),
            "public JWK has no private member"
        );
        assert_eq!(from_jwk["kid"], fixture["kid"]);
        assert_eq!(from_jwk["use"], "sig");
    }
    assert!(
        AssertionSigningKey::from_client_secret(&SECRET_32.into(), Algorithm::HS256)
            .unwrap()
            .public_jwk()
            .is_none()
    );
}

#[test]
fn assertion_signed_by_one_key_does_not_verify_with_another() {
    let jws = assertion_from(&jwt_client(
        TokenEndpointAuthMethod::PrivateKeyJwt,
        key(RSA_OTHER_JWK),
    ));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(RSA_JWK).unwrap();
    let other = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    v.validate_exp = false;
    assert!(jsonwebtoken::decode::<Value>(&jws, &other, &v).is_err());
}

#[test]
fn rejects_text_that_is_neither_pem_nor_jwk() {
    for text in [
        "",
        "hello",
        "/etc/key.pem",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ] {
        assert_eq!(
            AssertionSigningKey::parse(text).unwrap_err(),
            SigningKeyError::UnknownFormat,
            "{text:?}"
        );
    }
}

#[test]
fn rejects_encrypted_pem_with_a_hint() {
    let err = AssertionSigningKey::parse(EC_ENCRYPTED_PEM).unwrap_err();
    assert_eq!(err, SigningKeyError::EncryptedPem);
    assert!(err.to_string().contains("decrypt"), "{err}");
}

#[test]
fn rejects_public_keys_in_pem_and_jwk() {
    assert_eq!(
        AssertionSigningKey::parse(RSA_PUBLIC_PEM).unwrap_err(),
        SigningKeyError::NotPrivate
    );
    let public = key(RSA_JWK).public_jwk().unwrap().to_string();
    assert_eq!(
        AssertionSigningKey::parse(&public).unwrap_err(),
        SigningKeyError::NotPrivate
    );
}

#[test]
fn rejects_truncated_or_garbled_pem() {
    let truncated = &RSA_PEM[..RSA_PEM.len() / 2];
    assert!(AssertionSigningKey::parse(truncated).is_err());
    let garbled = "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n";
    assert!(AssertionSigningKey::parse(garbled).is_err());
}

#[test]
fn rejects_jwk_set_symmetric_and_unknown_key_types() {
    let set = format!("{{\"keys\": [{RSA_JWK}]}}");
    assert!(matches!(
        AssertionSigningKey::parse(&set),
        Err(SigningKeyError::Jwk(_))
    ));
    assert!(matches!(
        AssertionSigningKey::parse(r#"{"kty":"oct","k":"c2VjcmV0"}"#),
        Err(SigningKeyError::UnsupportedKey(_))
    ));
    assert!(matches!(
        AssertionSigningKey::parse(r#"{"kty":"XYZ","d":"AA"}"#),
        Err(SigningKeyError::UnsupportedKey(_))
    ));
    assert!(AssertionSigningKey::parse("{not json").is_err());
}

#[test]
fn rejects_jwk_whose_private_part_does_not_match_its_public_part() {
    // EC: d of one key with x/y of another.
    let mut ec = jwk_value(EC_JWK);
    let mut d = b64d(ec["d"].as_str().unwrap());
    d[31] ^= 1;
    ec["d"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d));
    assert!(matches!(
        AssertionSigningKey::parse(&ec.to_string()),
        Err(SigningKeyError::Rejected(_))
    ));
    // RSA: a private exponent of another key.
    let mut rsa = jwk_value(RSA_JWK);
    rsa["d"] = jwk_value(RSA_OTHER_JWK)["d"].clone();
    assert!(matches!(
        AssertionSigningKey::parse(&rsa.to_string()),
        Err(SigningKeyError::Rejected(_))
    ));
    // Ed25519: a public key that is not the seed's.
    let mut ed = jwk_value(ED_JWK);
    let mut x = b64d(ed["x"].as_str().unwrap());
    x[0] ^= 1;
    ed["x"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&x));
    assert!(AssertionSigningKey::parse(&ed.to_string()).is_err());
}

#[test]
fn rejects_rsa_jwk_without_crt_members_and_ec_members_of_wrong_length() {
    let mut rsa = jwk_value(RSA_JWK);
    rsa.as_object_mut().unwrap().remove("qi");
    assert!(matches!(
        AssertionSigningKey::parse(&rsa.to_string()),
        Err(SigningKeyError::UnsupportedKey(_))
    ));
    let mut ec = jwk_value(EC_JWK);
    ec["x"] = json!("AAAA");
    assert!(matches!(
        AssertionSigningKey::parse(&ec.to_string()),
        Err(SigningKeyError::Jwk(_))
    ));
    let mut ec = jwk_value(EC_JWK);
    ec["crv"] = json!("secp256k1");
    assert!(matches!(
        AssertionSigningKey::parse(&ec.to_string()),
        Err(SigningKeyError::UnsupportedKey(_))
    ));
}

#[test]
fn rejects_jwk_not_meant_for_signing() {
    let mut enc = jwk_value(RSA_JWK);
    enc["use"] = json!("enc");
    assert!(AssertionSigningKey::parse(&enc.to_string()).is_err());
    let mut ops = jwk_value(RSA_JWK);
    ops["key_ops"] = json!(["decrypt"]);
    assert!(AssertionSigningKey::parse(&ops.to_string()).is_err());
    let mut ops = jwk_value(RSA_JWK);
    ops["key_ops"] = json!(["sign"]);
    assert!(AssertionSigningKey::parse(&ops.to_string()).is_ok());
}

#[test]
fn rejects_an_algorithm_that_does_not_fit_the_key() {
    for (text, alg) in [
        (RSA_PEM, Algorithm::ES256),
        (RSA_PEM, Algorithm::HS256),
        (RSA_PEM, Algorithm::EdDSA),
        (EC_PEM, Algorithm::ES384),
        (EC_PEM, Algorithm::RS256),
        (EC384_PEM, Algorithm::ES256),
        (ED_PEM, Algorithm::ES256),
    ] {
        assert!(
            matches!(
                key(text).with_alg(alg),
                Err(SigningKeyError::AlgorithmMismatch { .. })
            ),
            "{alg}"
        );
    }
    let mut jwk = jwk_value(EC_JWK);
    jwk["alg"] = json!("RS256");
    assert!(matches!(
        AssertionSigningKey::parse(&jwk.to_string()),
        Err(SigningKeyError::AlgorithmMismatch { .. })
    ));
    jwk["alg"] = json!("none");
    assert!(AssertionSigningKey::parse(&jwk.to_string()).is_err());
    assert!(AssertionSigningKey::from_client_secret(&SECRET_32.into(), Algorithm::RS256).is_err());
}

#[test]
fn rejects_a_client_secret_too_short_for_hmac() {
    assert_eq!(
        AssertionSigningKey::from_client_secret(&"short".into(), Algorithm::HS256).unwrap_err(),
        SigningKeyError::WeakSecret(5)
    );
}

#[test]
fn key_errors_and_debug_never_show_key_material() {
    let jwk = jwk_value(RSA_JWK);
    let d = jwk["d"].as_str().unwrap();
    let dbg = format!("{:?}", key(RSA_JWK));
    assert!(!dbg.contains(d) && !dbg.contains(&d[..16]), "{dbg}");
    let mut bad = jwk.clone();
    bad["d"] = jwk_value(RSA_OTHER_JWK)["d"].clone();
    let err = AssertionSigningKey::parse(&bad.to_string())
        .unwrap_err()
        .to_string();
    assert!(!err.contains(&bad["d"].as_str().unwrap()[..16]), "{err}");
}

#[test]
fn check_client_auth_names_what_each_method_lacks() {
    let mut c = client();
    c.auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    assert_eq!(
        check_client_auth(&c).unwrap_err(),
        ClientAuthError::MissingSigningKey("private_key_jwt")
    );
    c.assertion_key =
        Some(AssertionSigningKey::from_client_secret(&SECRET_32.into(), Algorithm::HS256).unwrap());
    assert!(matches!(
        check_client_auth(&c),
        Err(ClientAuthError::WrongKeyKind("private_key_jwt", _))
    ));
    c.auth_method = TokenEndpointAuthMethod::ClientSecretJwt;
    assert!(check_client_auth(&c).is_ok());
    c.assertion_key = Some(key(RSA_PEM));
    assert!(matches!(
        check_client_auth(&c),
        Err(ClientAuthError::WrongKeyKind("client_secret_jwt", _))
    ));
    c.auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    c.client_secret = None;
    assert_eq!(
        check_client_auth(&c).unwrap_err(),
        ClientAuthError::MissingClientSecret("client_secret_basic")
    );
    c.auth_method = TokenEndpointAuthMethod::None;
    assert!(check_client_auth(&c).is_ok());
}

#[test]
fn chooses_a_method_from_credentials_and_op_metadata() {
    use TokenEndpointAuthMethod as M;
    let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Unadvertised: the RFC 8414 default for secrets.
    assert_eq!(
        choose_auth_method(None, true, false),
        Ok(M::ClientSecretBasic)
    );
    assert_eq!(choose_auth_method(None, false, true), Ok(M::PrivateKeyJwt));
    assert_eq!(choose_auth_method(None, false, false), Ok(M::None));
    let post_only = list(&["client_secret_post", "private_key_jwt"]);
    assert_eq!(
        choose_auth_method(Some(&post_only), true, false),
        Ok(M::ClientSecretPost)
    );
    let jwt_only = list(&["client_secret_jwt"]);
    assert_eq!(
        choose_auth_method(Some(&jwt_only), true, false),
        Ok(M::ClientSecretJwt)
    );
    // A key wins over a secret.
    assert_eq!(
        choose_auth_method(Some(&post_only), true, true),
        Ok(M::PrivateKeyJwt)
    );
    // Nothing fits: the error lists what the OP offers.
    let err = choose_auth_method(Some(&jwt_only), false, true).unwrap_err();
    assert_eq!(err, "client_secret_jwt");
    assert!(choose_auth_method(Some(&list(&["private_key_jwt"])), false, false).is_err());
}

#[test]
fn method_names_round_trip() {
    for m in TokenEndpointAuthMethod::ALL {
        assert_eq!(TokenEndpointAuthMethod::from_name(m.as_str()), Some(m));
    }
    assert_eq!(TokenEndpointAuthMethod::from_name("tls_client_auth"), None);
}
