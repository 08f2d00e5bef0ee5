//! Bearer verification against the dev OP's real tokens and keys: every
//! rejection path of the RFC 6750 / RFC 9068 rules, seen from an HTTP
//! client of an axum API behind `BearerLayer`.

mod bearer_support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_support::{
    API, CLIENT_ID, answer, assert_invalid_token, assert_no_echo, client, get_with_token, now,
    serve_api, start_idp, token_response,
};
use portcullis::bearer::BearerVerifier;
use portcullis_devidp::{DevIdpConfig, RunningDevIdp, SigningAlg};
use serde_json::{Value, json};

async fn verifier_for(idp: &RunningDevIdp, audience: &str) -> BearerVerifier {
    BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(audience)
        .build()
        .await
        .expect("verifier")
}

async fn setup() -> (RunningDevIdp, String) {
    let idp = start_idp(DevIdpConfig::new()).await;
    let base = serve_api(verifier_for(&idp, API).await).await;
    (idp, base)
}

fn rs256_header(idp: &RunningDevIdp) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": idp.signing_kid(SigningAlg::RS256)})
}

fn claims(idp: &RunningDevIdp) -> Value {
    let now = now();
    json!({
        "iss": idp.issuer(), "sub": "alice", "aud": API, "client_id": CLIENT_ID,
        "scope": "openid messages:read", "iat": now, "exp": now + 300, "jti": "j-1",
    })
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    claims
}

/// A token signed by the dev OP's real RS256 key, with any header and claims.
fn forge(idp: &RunningDevIdp, header: Value, claims: Value) -> String {
    idp.sign_jws(SigningAlg::RS256, header, claims)
        .expect("sign")
}

#[tokio::test]
async fn a_dev_op_access_token_for_the_api_is_accepted() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, _, body) = answer(get_with_token(&format!("{base}/me"), &token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["scope"], "openid profile");
    assert_eq!(body["iss"], idp.issuer());
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = client()
            .get(format!("{base}/me"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn no_token_gets_401_with_a_plain_bearer_challenge() {
    let (_idp, base) = setup().await;
    let (status, challenge, body) = answer(
        client()
            .get(format!("{base}/me"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(challenge, "Bearer");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("Authorization: Bearer"))
    );
    // Another scheme is no bearer token either.
    let (status, challenge, _) = answer(
        client()
            .get(format!("{base}/me"))
            .basic_auth("user", Some("pass"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let (idp, base) = setup().await;
    // Without `resource`, the dev OP's token is for the client itself.
    let response = token_response(idp.issuer(), None, "openid").await;
    let token = response["access_token"].as_str().expect("access_token");
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), token).await,
        token,
        "aud",
    )
    .await;
    let other = bearer_support::access_token(idp.issuer(), "openid").await;
    let base_b = serve_api(verifier_for(&idp, "https://other-api.example.test").await).await;
    assert_invalid_token(
        get_with_token(&format!("{base_b}/me"), &other).await,
        &other,
        "aud",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_issuer_is_refused_even_with_the_right_key() {
    let (idp, base) = setup().await;
    for iss in [
        "https://evil.example".to_owned(),
        format!("{}/", idp.issuer()),
    ] {
        let token = forge(
            &idp,
            rs256_header(&idp),
            with(claims(&idp), json!({ "iss": iss })),
        );
        assert_invalid_token(
            get_with_token(&format!("{base}/me"), &token).await,
            &token,
            &iss,
        )
        .await;
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let (idp, base) = setup().await;
    let now = now();
    for (why, changes) in [
        ("expired", json!({"exp": now - 120, "iat": now - 400})),
        ("nbf in the future", json!({"nbf": now + 600})),
        ("iat in the future", json!({"iat": now + 600})),
        ("exp as a string", json!({"exp": (now + 300).to_string()})),
    ] {
        let token = forge(&idp, rs256_header(&idp), with(claims(&idp), changes));
        assert_invalid_token(
            get_with_token(&format!("{base}/me"), &token).await,
            &token,
            why,
        )
        .await;
    }
    // The control: the same forge with valid times is accepted.
    let token = forge(&idp, rs256_header(&idp), claims(&idp));
    assert_eq!(
        get_with_token(&format!("{base}/me"), &token).await.status(),
        200
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (idp, base) = setup().await;
    let token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims(&idp).to_string())
    );
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &token).await,
        &token,
        "none",
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_ops_public_key_is_refused() {
    let (idp, base) = setup().await;
    let jwks: Value = client()
        .get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let kid = idp.signing_kid(SigningAlg::RS256).expect("kid");
    let rsa = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .expect("the RS256 key")
        .clone();
    for secret in [
        rsa.to_string().into_bytes(),
        rsa["n"].as_str().unwrap_or("").as_bytes().to_vec(),
    ] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims(&idp),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .expect("sign");
        assert_invalid_token(
            get_with_token(&format!("{base}/me"), &token).await,
            &token,
            "HS256",
        )
        .await;
    }
}

#[tokio::test]
async fn jwk_jku_x5c_and_x5u_headers_are_refused() {
    let (idp, base) = setup().await;
    for (param, value) in [
        (
            "jwk",
            json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        ),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUe"])),
        ("x5u", json!("https://attacker.example/cert.pem")),
    ] {
        let token = forge(
            &idp,
            with(rs256_header(&idp), json!({ param: value })),
            claims(&idp),
        );
        assert_invalid_token(
            get_with_token(&format!("{base}/me"), &token).await,
            &token,
            param,
        )
        .await;
    }
}

#[tokio::test]
async fn an_id_token_sent_as_an_access_token_is_refused() {
    let idp = start_idp(DevIdpConfig::new()).await;
    let response = token_response(idp.issuer(), Some(API), "openid profile").await;
    let id_token = response["id_token"].as_str().expect("id_token");
    // Even an API whose audience is the client id (so `aud` matches) refuses
    // it: the ID token is typed JWT, not at+jwt...
    let strict = serve_api(verifier_for(&idp, CLIENT_ID).await).await;
    assert_invalid_token(
        get_with_token(&format!("{strict}/me"), id_token).await,
        id_token,
        "strict",
    )
    .await;
    // ...and an API that accepts untyped JWTs still sees its nonce.
    let lenient = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(CLIENT_ID)
        .accept_untyped_jwt(true)
        .build()
        .await
        .expect("verifier");
    let lenient = serve_api(lenient).await;
    assert_invalid_token(
        get_with_token(&format!("{lenient}/me"), id_token).await,
        id_token,
        "lenient",
    )
    .await;
}

#[tokio::test]
async fn a_logout_token_sent_as_an_access_token_is_refused() {
    let idp = start_idp(DevIdpConfig::new()).await;
    let lenient = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(API)
        .accept_untyped_jwt(true)
        .build()
        .await
        .expect("verifier");
    let base = serve_api(lenient).await;
    let now = now();
    let logout = idp.sign_logout_token(json!({
        "iss": idp.issuer(), "aud": API, "sub": "alice", "iat": now, "exp": now + 120,
        "jti": "l-1", "client_id": CLIENT_ID, "scope": "openid",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }));
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &logout).await,
        &logout,
        "logout+jwt",
    )
    .await;
    // Retyped as JWT, the events claim still gives it away.
    let retyped = forge(
        &idp,
        json!({"alg": "RS256", "typ": "JWT", "kid": idp.signing_kid(SigningAlg::RS256)}),
        bearer_support::jwt_payload(&logout),
    );
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &retyped).await,
        &retyped,
        "events",
    )
    .await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = bearer_support::jwt_payload(&token);
    payload["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &tampered).await,
        &tampered,
        "tampered",
    )
    .await;
}

#[tokio::test]
async fn a_missing_scope_gets_403_insufficient_scope_naming_it() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, challenge, body) =
        answer(get_with_token(&format!("{base}/write"), &token).await).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"messages:write\""),
        "{challenge}"
    );
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["scope"], "messages:write");
    assert_no_echo(&body, &token, "403");
    // With the scope (a token the dev OP's key signs), the route answers.
    let token = forge(
        &idp,
        rs256_header(&idp),
        with(claims(&idp), json!({"scope": "messages:write"})),
    );
    let response = get_with_token(&format!("{base}/write"), &token).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_failed_claim_requirement_gets_403_naming_the_rule_not_the_value() {
    let (idp, base) = setup().await;
    let users = forge(
        &idp,
        rs256_header(&idp),
        with(claims(&idp), json!({"groups": ["users-secret-group"]})),
    );
    let (status, _, body) = answer(get_with_token(&format!("{base}/admin"), &users).await).await;
    assert_eq!(status, 403, "{body}");
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(
        description.contains("groups") && description.contains("admins"),
        "{description}"
    );
    assert!(!description.contains("users-secret-group"));
    let admins = forge(
        &idp,
        rs256_header(&idp),
        with(claims(&idp), json!({"groups": ["admins"]})),
    );
    assert_eq!(
        get_with_token(&format!("{base}/admin"), &admins)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_100_kb_token_is_refused_without_being_parsed() {
    let (_idp, base) = setup().await;
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(50_000),
        "b".repeat(50_000),
        "c".repeat(2_000)
    );
    let (status, challenge, body) =
        answer(get_with_token(&format!("{base}/me"), &huge).await).await;
    assert_eq!(status, 400, "{body}");
    assert!(challenge.contains("invalid_request"), "{challenge}");
    assert!(!body.to_string().contains("aaaaaaaaaa"));
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    let response = client()
        .get(format!("{base}/me"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request");
    let (status, challenge, body) = answer(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_request\""),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_request");
    assert_no_echo(&body, &token, "two headers");
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_request() {
    let (_idp, base) = setup().await;
    for value in ["Bearer", "Bearer a b", "Bearer \"quoted\"", "Bearer a,b"] {
        let response = client()
            .get(format!("{base}/me"))
            .header("authorization", value)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{value:?}");
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused_unless_enabled() {
    let (idp, base) = setup().await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    let (status, challenge, body) = answer(
        client()
            .get(format!("{base}/me?access_token={token}"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(challenge.contains("invalid_request"));
    assert_no_echo(&body, &token, "query");

    let with_query = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(API)
        .allow_query_token(true)
        .build()
        .await
        .expect("verifier");
    let base = serve_api(with_query).await;
    let response = client()
        .get(format!("{base}/me?access_token={token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    // Header and query at once: refused (RFC 6750 §2: one method only).
    let response = client()
        .get(format!("{base}/me?access_token={token}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let idp = start_idp(DevIdpConfig::new().with_access_token_ttl_secs(1)).await;
    let verifier = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(API)
        .clock_skew_secs(0)
        .build()
        .await
        .expect("verifier");
    let base = serve_api(verifier).await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    assert_eq!(
        get_with_token(&format!("{base}/me"), &token).await.status(),
        200
    );
    assert_eq!(
        get_with_token(&format!("{base}/me"), &token).await.status(),
        200,
        "cached"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &token).await,
        &token,
        "expired in cache",
    )
    .await;
}

#[tokio::test]
async fn without_the_cache_every_request_is_verified_the_same() {
    let idp = start_idp(DevIdpConfig::new()).await;
    let verifier = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(API)
        .token_cache_capacity(0)
        .build()
        .await
        .expect("verifier");
    let base = serve_api(verifier).await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    for _ in 0..3 {
        assert_eq!(
            get_with_token(&format!("{base}/me"), &token).await.status(),
            200
        );
    }
    let bad = format!("{token}x");
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &bad).await,
        &bad,
        "no cache",
    )
    .await;
}
