//! Tokens on the request: the access token's type, expiry and scopes with
//! the layer's clock, the ID token's own claims next to the merged ones, the
//! refresh token's presence; userinfo on demand, signed userinfo verified,
//! and the optional userinfo cache that never outlives the access token.

mod support;

use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis::{Oidc, OidcLayerBuilder, Tokens, User};
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp, SigningAlg};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Agent;
use support::rp::{
    CLIENT_ID, CLIENT_SECRET, bare_client, dev_client, get_with_cookie, rp_builder, sign_in_as,
    site, start_idp,
};

fn routes() -> Router {
    Router::new()
        .route(
            "/session",
            get(|user: User, tokens: Tokens| async move {
                let access = tokens.access().expect("an access token");
                axum::Json(json!({
                    "sub": user.sub(),
                    "iss": user.iss(),
                    "sid": user.session().sid(),
                    "id_token": tokens.id_token(),
                    "refresh_token": tokens.refresh_token(),
                    "token_type": access.token_type(),
                    "expires_at": access.expires_at(),
                    "expires_in": access.expires_in().map(|d| d.as_secs()),
                    "is_expired": access.is_expired(),
                    "scopes": access.scopes().collect::<Vec<_>>(),
                    "has_openid": access.has_scope("openid"),
                    "has_admin": access.has_scope("admin"),
                    "header_ok": access.authorization_header() == format!("Bearer {}", access.value()),
                    "has_refresh_token": tokens.has_refresh_token(),
                    "id_token_claims": tokens.id_token_claims(),
                    "claims": user.claims(),
                    "debug": format!("{access:?}"),
                    "access_token": access.value(),
                }))
            }),
        )
        .route(
            "/access-token-claims",
            get(|oidc: Oidc| async move {
                match oidc.access_token_claims().await {
                    Ok(claims) => axum::Json(json!({ "claims": claims.as_deref() })).into_response(),
                    Err(error) => oidc.reject(error),
                }
            }),
        )
        .route(
            "/userinfo",
            get(|oidc: Oidc| async move {
                match oidc.fetch_userinfo().await {
                    Ok(claims) => axum::Json(claims).into_response(),
                    Err(error) => oidc.reject(error),
                }
            }),
        )
}

struct Env {
    base: String,
    idp: RunningDevIdp,
}

async fn start(
    client: impl FnOnce(DevClient) -> DevClient,
    config: impl FnOnce(DevIdpConfig) -> DevIdpConfig,
    rp: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
) -> Env {
    let site = site().await;
    let base = site.base.clone();
    let idp = start_idp(config(
        DevIdpConfig::new().with_client(client(dev_client(CLIENT_ID, &base))),
    ))
    .await;
    let layer = rp(rp_builder(idp.issuer(), &base, CLIENT_ID))
        .build()
        .await
        .expect("layer");
    support::serve(site.listener, routes().layer(layer));
    Env { base, idp }
}

async fn session_json(env: &Env, cookie: &str) -> Value {
    let response =
        get_with_cookie(&format!("{}/session", env.base), cookie, "application/json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test]
async fn the_access_token_says_its_type_expiry_and_scopes_and_the_id_token_claims_stand_apart() {
    let env = start(
        |c| c,
        |c| c.with_access_token_ttl_secs(2),
        |b| {
            b.after_callback(|mut ctx| async move {
                ctx.claims.insert("app_role".into(), json!("editor"));
                Ok(ctx)
            })
        },
    )
    .await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let session = session_json(&env, &alice.cookie).await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["is_expired"], false);
    assert!(session["expires_in"].as_u64().expect("expires_in") <= 2);
    let scopes: Vec<&str> = session["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"email"),
        "{scopes:?}"
    );
    assert_eq!(session["has_openid"], true);
    assert_eq!(session["has_admin"], false);
    assert_eq!(session["header_ok"], true);
    assert_eq!(session["has_refresh_token"], true);
    // The hook's claim is in the merged claims, not in the ID token's.
    assert_eq!(session["claims"]["app_role"], "editor");
    assert!(session["id_token_claims"].get("app_role").is_none());
    assert!(
        session["id_token_claims"]["nonce"].is_string(),
        "the ID token's own claims"
    );
    assert!(session["id_token_claims"]["at_hash"].is_string());
    // Debug never shows the token.
    let token = session["access_token"].as_str().expect("token");
    assert!(!session["debug"].as_str().expect("debug").contains(token));

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = session_json(&env, &alice.cookie).await;
    assert_eq!(later["is_expired"], true, "by the layer's clock");
    assert_eq!(later["expires_in"], 0);
}

#[tokio::test]
async fn signed_userinfo_is_verified_at_login_and_on_demand() {
    let env = start(|c| c.with_signed_userinfo(SigningAlg::ES256), |c| c, |b| b).await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let response = get_with_cookie(
        &format!("{}/userinfo", env.base),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.expect("json");
    assert_eq!(claims["sub"], "alice");
    assert!(claims["email"].is_string(), "{claims}");
}

#[tokio::test]
async fn signed_userinfo_with_an_algorithm_the_rp_does_not_allow_is_refused() {
    // ID tokens in RS256 (allowed), userinfo signed in ES256 (not allowed).
    let env = start(
        |c| c.with_signed_userinfo(SigningAlg::ES256),
        |c| c,
        |b| b.id_token_signing_algs(vec![portcullis::Algorithm::RS256]),
    )
    .await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let response = get_with_cookie(
        &format!("{}/userinfo", env.base),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "userinfo_failed", "{body}");
}

/// Revokes `access_token` at the OP: userinfo refuses it from then on.
async fn revoke(issuer: &str, access_token: &str) {
    let response = bare_client()
        .post(format!("{issuer}/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", access_token), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_userinfo_cache_answers_for_the_same_token_but_never_past_its_expiry() {
    let env = start(
        |c| c,
        |c| c.with_access_token_ttl_secs(2),
        |b| b.userinfo_cache(Duration::from_secs(60)),
    )
    .await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let url = format!("{}/userinfo", env.base);
    let first = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(first.status(), StatusCode::OK);
    // The OP would now refuse the token: the answer comes from the cache.
    revoke(env.idp.issuer(), alice.access_token.as_deref().expect("at")).await;
    let cached = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(cached.status(), StatusCode::OK, "served from the cache");
    // Once the token has expired the cache does not answer for it.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let expired = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(expired.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn without_the_cache_every_fetch_asks_the_op() {
    let env = start(|c| c, |c| c, |b| b).await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let url = format!("{}/userinfo", env.base);
    assert_eq!(
        get_with_cookie(&url, &alice.cookie, "application/json")
            .await
            .status(),
        StatusCode::OK
    );
    revoke(env.idp.issuer(), alice.access_token.as_deref().expect("at")).await;
    assert_eq!(
        get_with_cookie(&url, &alice.cookie, "application/json")
            .await
            .status(),
        StatusCode::BAD_GATEWAY,
        "the revoked token is refused by the OP"
    );
}

#[tokio::test]
async fn a_jwt_access_tokens_claims_are_verified_and_exposed_an_opaque_one_has_none() {
    let env = start(|c| c, |c| c, |b| b).await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let url = format!("{}/access-token-claims", env.base);
    let response = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let claims = &body["claims"];
    assert_eq!(claims["sub"], "alice", "{body}");
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert!(
        claims["scope"]
            .as_str()
            .unwrap_or_default()
            .contains("openid")
    );

    let opaque = start(|c| c, |c| c.with_opaque_access_tokens(true), |b| b).await;
    let bob = sign_in_as(&Agent::browser(), &opaque.base, opaque.idp.issuer(), "bob").await;
    let url = format!("{}/access-token-claims", opaque.base);
    let response = get_with_cookie(&url, &bob.cookie, "application/json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["claims"].is_null(),
        "an opaque token has no claims: {body}"
    );
}

#[tokio::test]
async fn an_expired_jwt_access_token_has_no_claims_to_trust() {
    let env = start(
        |c| c,
        |c| c.with_access_token_ttl_secs(3),
        |b| b.clock_skew_secs(0),
    )
    .await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let url = format!("{}/access-token-claims", env.base);
    // Verified (and kept) while valid...
    let fresh = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(fresh.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    // ...and refused once expired, kept or not.
    let response = get_with_cookie(&url, &alice.cookie, "application/json").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_access_token", "{body}");
}
