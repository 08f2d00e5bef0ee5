//! Opaque access tokens verified by RFC 7662 introspection at the dev OP
//! (`with_opaque_access_tokens`); the interop test against oidc-provider
//! covers the same with an OP we did not write.

mod bearer_support;

use bearer_support::{
    API, CLIENT_ID, CLIENT_SECRET, answer, get_with_token, start_idp, token_response,
};
use portcullis::bearer::{BearerConfigError, BearerVerifier};
use portcullis_devidp::DevIdpConfig;

async fn opaque_token(issuer: &str, scope: &str) -> String {
    let response = token_response(issuer, Some(API), scope).await;
    let token = response["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(!token.contains('.'), "the dev OP issued an opaque token");
    token
}

fn builder(issuer: &str) -> portcullis::bearer::BearerVerifierBuilder {
    BearerVerifier::builder()
        .issuer(issuer)
        .audience(API)
        .introspection_client(CLIENT_ID, CLIENT_SECRET)
}

async fn revoke(issuer: &str, token: &str) {
    let response = bearer_support::client()
        .post(format!("{issuer}/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("revoke");
    assert!(response.status().is_success());
}

#[tokio::test]
async fn devidp_opaque_tokens_are_accepted_by_introspection() {
    let idp = start_idp(DevIdpConfig::new().with_opaque_access_tokens(true)).await;
    let base =
        bearer_support::serve_api(builder(idp.issuer()).build().await.expect("verifier")).await;
    let token = opaque_token(idp.issuer(), "openid profile").await;
    let (status, _, body) = answer(get_with_token(&format!("{base}/me"), &token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["scope"], "openid profile");
    // Scopes from introspection are enforced like a JWT's.
    let (status, _, body) = answer(get_with_token(&format!("{base}/write"), &token).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["scope"], "messages:write");
}

#[tokio::test]
async fn devidp_unknown_and_revoked_opaque_tokens_are_refused() {
    let idp = start_idp(DevIdpConfig::new().with_opaque_access_tokens(true)).await;
    let verifier = builder(idp.issuer())
        .token_cache_capacity(0)
        .build()
        .await
        .expect("verifier");
    let base = bearer_support::serve_api(verifier).await;
    let url = format!("{base}/me");
    let (status, challenge, body) =
        answer(get_with_token(&url, "made-up-opaque-token").await).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    assert!(!body.to_string().contains("made-up-opaque-token"));

    let token = opaque_token(idp.issuer(), "openid").await;
    assert_eq!(get_with_token(&url, &token).await.status(), 200);
    revoke(idp.issuer(), &token).await;
    assert_eq!(
        get_with_token(&url, &token).await.status(),
        401,
        "revoked, no cache"
    );
}

#[tokio::test]
async fn devidp_introspection_results_are_cached_but_never_past_the_tokens_expiry() {
    let idp = start_idp(
        DevIdpConfig::new()
            .with_opaque_access_tokens(true)
            .with_access_token_ttl_secs(2),
    )
    .await;
    let verifier = builder(idp.issuer())
        .clock_skew_secs(0)
        .build()
        .await
        .expect("verifier");
    let base = bearer_support::serve_api(verifier).await;
    let url = format!("{base}/me");
    let token = opaque_token(idp.issuer(), "openid").await;
    assert_eq!(get_with_token(&url, &token).await.status(), 200);
    // Revoked at the OP, the cached answer still stands (the documented
    // trade-off: at most the cache TTL, never past the token's expiry)...
    revoke(idp.issuer(), &token).await;
    assert_eq!(
        get_with_token(&url, &token).await.status(),
        200,
        "answered from the cache"
    );
    // ...until the token expires.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(
        get_with_token(&url, &token).await.status(),
        401,
        "expired: not from the cache"
    );
}

#[tokio::test]
async fn devidp_introspection_with_bad_client_credentials_is_a_503_not_a_401() {
    let idp = start_idp(DevIdpConfig::new().with_opaque_access_tokens(true)).await;
    let verifier = BearerVerifier::builder()
        .issuer(idp.issuer())
        .audience(API)
        .introspection_client(CLIENT_ID, "wrong-secret")
        .build()
        .await
        .expect("verifier");
    let base = bearer_support::serve_api(verifier).await;
    let token = opaque_token(idp.issuer(), "openid").await;
    let (status, _, body) = answer(get_with_token(&format!("{base}/me"), &token).await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body.to_string().contains(&token));
}

#[tokio::test]
async fn devidp_jwt_tokens_are_still_verified_locally_when_introspection_is_on() {
    let idp = start_idp(DevIdpConfig::new()).await;
    let base =
        bearer_support::serve_api(builder(idp.issuer()).build().await.expect("verifier")).await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    assert_eq!(
        get_with_token(&format!("{base}/me"), &token).await.status(),
        200
    );
}

#[tokio::test]
async fn introspection_needs_an_advertised_endpoint() {
    let key = bearer_support::EdKey::new("k1");
    let op = bearer_support::MiniOp::start(&key).await;
    let error = BearerVerifier::builder()
        .issuer(op.issuer())
        .audience(API)
        .introspection_client("api", "secret")
        .build()
        .await
        .expect_err("no introspection_endpoint");
    assert!(
        matches!(error, BearerConfigError::NoIntrospectionEndpoint(_)),
        "{error}"
    );
}
