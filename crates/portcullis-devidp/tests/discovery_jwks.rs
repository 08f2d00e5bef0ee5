//! Discovery document and JWKS.
mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

#[tokio::test]
async fn discovery_advertises_endpoints_and_capabilities() {
    let f = fixture(config()).await;
    let issuer = f.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:"));
    assert!(!issuer.ends_with('/'));
    let d: Value = f
        .http
        .get(f.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], issuer);
    assert_eq!(d["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(d["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(d["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(d["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(d["end_session_endpoint"], format!("{issuer}/logout"));
    assert_eq!(d["revocation_endpoint"], format!("{issuer}/revoke"));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(
        d["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        json!(format!("{issuer}/par"))
    );
    assert_eq!(d["require_pushed_authorization_requests"], json!(false));

    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("openid"))
    );
    assert!(
        d["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("email"))
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    for flag in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(d[flag], true, "{flag}");
    }
}

#[tokio::test]
async fn configured_issuer_is_used_verbatim() {
    let f = fixture(config().with_issuer("http://localhost:9")).await;
    assert_eq!(f.idp.issuer(), "http://localhost:9");
    let d: Value = f
        .http
        .get(format!(
            "http://{}/.well-known/openid-configuration",
            f.idp.addr()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], "http://localhost:9");
    assert_eq!(d["token_endpoint"], "http://localhost:9/token");
}

#[tokio::test]
async fn start_rejects_an_issuer_with_a_trailing_slash() {
    let err = portcullis_devidp::start(
        config().with_issuer("http://localhost:9/"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        portcullis_devidp::DevIdpError::InvalidIssuer(_)
    ));
}

async fn jwks(f: &Fixture) -> (Value, JwkSet) {
    let resp = f.http.get(f.url("/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let raw: Value = resp.json().await.unwrap();
    let set: JwkSet = serde_json::from_value(raw.clone()).unwrap();
    (raw, set)
}

fn b64len(v: &Value) -> usize {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap().len()
}

#[tokio::test]
async fn jwks_holds_one_rsa_p256_and_ed25519_key_with_public_parameters() {
    let f = fixture(config()).await;
    let (raw, _) = jwks(&f).await;
    let keys = raw["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let by_alg = |alg: &str| keys.iter().find(|k| k["alg"] == alg).unwrap().clone();

    let rsa = by_alg("RS256");
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["use"], "sig");
    assert_eq!(rsa["e"], "AQAB");
    assert_eq!(b64len(&rsa["n"]), 256, "RSA-2048 modulus");
    assert!(rsa.get("d").is_none(), "no private RSA params");

    let ec = by_alg("ES256");
    assert_eq!(ec["kty"], "EC");
    assert_eq!(ec["crv"], "P-256");
    assert_eq!(ec["use"], "sig");
    assert_eq!(b64len(&ec["x"]), 32);
    assert_eq!(b64len(&ec["y"]), 32);
    assert!(ec.get("d").is_none());

    let ed = by_alg("EdDSA");
    assert_eq!(ed["kty"], "OKP");
    assert_eq!(ed["crv"], "Ed25519");
    assert_eq!(ed["use"], "sig");
    assert_eq!(b64len(&ed["x"]), 32);
    assert!(ed.get("d").is_none());

    let kids: std::collections::HashSet<_> =
        keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 3, "distinct kids");
}

#[tokio::test]
async fn id_tokens_of_each_alg_verify_with_the_published_jwk() {
    let f = auto_fixture().await;
    let (_, set) = jwks(&f).await;
    for (client, alg, auth) in [
        ("web", Algorithm::RS256, "basic"),
        ("post", Algorithm::ES256, "post"),
        ("spa", Algorithm::EdDSA, "none"),
    ] {
        let (verifier, challenge) = pkce();
        let code = code_for(&f, client, &challenge).await;
        let mut params = code_exchange(&code, &verifier);
        let mut req = f.http.post(f.url("/token"));
        match auth {
            "basic" => req = req.header("authorization", basic("web", SECRET)),
            "post" => params.extend(form(&[
                ("client_id", "post"),
                ("client_secret", "post-secret"),
            ])),
            _ => params.extend(form(&[("client_id", "spa")])),
        }
        let resp = req.form(&params).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{client}");
        let body: Value = resp.json().await.unwrap();
        let id_token = body["id_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, alg);
        let jwk: &Jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut v = Validation::new(alg);
        v.set_audience(&[client]);
        v.set_issuer(&[f.issuer()]);
        let data = jsonwebtoken::decode::<Value>(id_token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.claims["nonce"], "n-456");
    }
}
