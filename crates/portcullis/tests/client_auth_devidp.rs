//! Client authentication, PAR and token exchange against the dev OP:
//! browser-less logins with `private_key_jwt` (RSA, EC and Ed25519 keys,
//! PEM and JWK) and `client_secret_jwt`; hostile assertions the OP must
//! refuse (wrong key, expired, replayed `jti`, wrong `aud`); logins through
//! pushed authorization requests, configured and required by metadata; and
//! RFC 8693 token exchange (success, OP error surfaced, stored only when
//! asked).

mod support;

use axum::Router;
use axum::extract::Query;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::{
    AssertionSigningKey, Oidc, OidcLayer, OidcLayerBuilder, TokenEndpointAuthMethod,
    TokenExchangeParams, Tokens, User, requires_auth,
};
use portcullis_core::client_auth::{CLIENT_ASSERTION_TYPE, assertion_claims};
use portcullis_devidp::{AuthMethod, DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Agent, bind_loopback, serve};

const SECRET: &str = "client-auth-tests-cookie-secret-0123456789abcdef";
const HMAC_SECRET: &str = "a-client-secret-long-enough-for-hs256-0123";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../portcullis-core/tests/fixtures/keys/"
);

fn fixture(name: &str) -> String {
    format!("{FIXTURES}{name}")
}

fn key_of(name: &str) -> AssertionSigningKey {
    AssertionSigningKey::parse(&std::fs::read_to_string(fixture(name)).expect("fixture"))
        .expect("fixture key")
}

/// The JWK Set to register at the OP for the fixture key `name`.
fn jwks_of(name: &str) -> Value {
    json!({"keys": [key_of(name).public_jwk().expect("asymmetric")]})
}

struct Env {
    base: String,
    idp: RunningDevIdp,
}

fn routes() -> Router {
    Router::new()
        .route(
            "/profile",
            get(|user: User| async move { axum::Json(json!({"sub": user.sub()})) })
                .route_layer(requires_auth()),
        )
        .route(
            "/token",
            get(|tokens: Tokens| async move {
                tokens.access_token().unwrap_or_default().to_owned()
            }),
        )
        .route(
            "/refresh",
            get(|oidc: Oidc| async move {
                match oidc.refresh().await {
                    Ok(update) => (update, "Refreshed").into_response(),
                    Err(error) => error.into_response(),
                }
            }),
        )
        .route(
            "/exchange",
            get(
                |oidc: Oidc, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let mut params = TokenExchangeParams::new();
                    if let Some(a) = q.get("audience") {
                        params = params.audience(a);
                    }
                    if let Some(s) = q.get("scope") {
                        params = params.scope(s);
                    }
                    if q.contains_key("store") {
                        match oidc.exchange_token_into_session(&params).await {
                            Ok((token, update)) => {
                                (update, token.token.expose().to_owned()).into_response()
                            }
                            Err(error) => error.into_response(),
                        }
                    } else {
                        match oidc.exchange_token(&params).await {
                            Ok(token) => axum::Json(json!({
                                "token": token.token.expose(),
                                "issued_token_type": token.issued_token_type,
                                "scope": token.scope,
                            }))
                            .into_response(),
                            Err(error) => error.into_response(),
                        }
                    }
                },
            ),
        )
}

/// A dev OP with `client` (made for the RP's callback) that auto-approves
/// alice, and the RP that `configure` makes of a builder without secret.
async fn start(
    client: impl FnOnce(String) -> DevClient,
    idp: impl FnOnce(DevIdpConfig) -> DevIdpConfig,
    configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
) -> Env {
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let config = idp(DevIdpConfig::new()
        .with_client(client(format!("{base}/callback")))
        .with_auto_approve("alice"));
    let idp = portcullis_devidp::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("dev idp");
    let builder = OidcLayer::builder()
        .issuer_base_url(idp.issuer())
        .client_id("rp")
        .base_url(base.clone())
        .secret(SECRET)
        .auth_required(false);
    let layer = configure(builder).build().await.expect("layer");
    serve(listener, routes().layer(layer));
    Env { base, idp }
}

async fn start_private_key_jwt(key: &str, jwks: Value) -> Env {
    let key = fixture(key);
    start(
        |cb| DevClient::private_key_jwt("rp", jwks, cb),
        |c| c,
        |b| b.client_assertion_signing_key(key),
    )
    .await
}

/// Signs in as alice and checks the profile and a refresh (both grants
/// authenticate the client).
async fn assert_login_and_refresh(env: &Env) {
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(
        landing.body.contains("\"sub\":\"alice\""),
        "{}",
        landing.body
    );
    let refreshed = agent.navigate(&format!("{}/refresh", env.base)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

#[tokio::test]
async fn private_key_jwt_login_with_rsa_pem_key() {
    let env = start_private_key_jwt("rsa.pem", jwks_of("rsa.pem")).await;
    assert_login_and_refresh(&env).await;
}

#[tokio::test]
async fn private_key_jwt_login_with_ec_jwk_key_and_its_kid() {
    let env = start_private_key_jwt("ec-p256.jwk.json", jwks_of("ec-p256.jwk.json")).await;
    assert_login_and_refresh(&env).await;
}

#[tokio::test]
async fn private_key_jwt_login_with_ed25519_pem_key() {
    let env = start_private_key_jwt("ed25519.pem", jwks_of("ed25519.pem")).await;
    assert_login_and_refresh(&env).await;
}

#[tokio::test]
async fn private_key_jwt_with_an_unregistered_key_fails_the_login_cleanly() {
    // The OP knows rsa.pem's public key; the RP signs with another RSA key.
    let env = start_private_key_jwt("rsa-other.pem", jwks_of("rsa.pem")).await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::BAD_GATEWAY, "{}", landing.body);
    assert!(landing.body.contains("invalid_client"), "{}", landing.body);
    assert!(
        !landing.body.contains("client_assertion="),
        "{}",
        landing.body
    );
}

#[tokio::test]
async fn client_secret_jwt_login_and_refresh() {
    let env = start(
        |cb| {
            DevClient::confidential("rp", HMAC_SECRET, cb)
                .with_auth_method(AuthMethod::ClientSecretJwt)
        },
        |c| c,
        |b| {
            b.client_secret(HMAC_SECRET)
                .token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretJwt)
        },
    )
    .await;
    assert_login_and_refresh(&env).await;
}

// ------------------------------------------------ hostile assertions at the OP

/// Posts a refresh grant with a bogus refresh token and `assertion`: a client
/// the OP authenticates gets `invalid_grant` (400), one it refuses
/// `invalid_client` (401).
async fn token_call(idp: &RunningDevIdp, assertion: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "bogus"),
            ("client_id", "rp"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("token call");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn jti() -> String {
    portcullis_core::random::random_token(16)
}

async fn hostile_env() -> Env {
    start_private_key_jwt("rsa.jwk.json", jwks_of("rsa.jwk.json")).await
}

#[tokio::test]
async fn dev_op_accepts_a_well_formed_assertion_with_issuer_or_token_endpoint_aud() {
    let env = hostile_env().await;
    let key = key_of("rsa.jwk.json");
    for aud in [
        env.idp.issuer().to_owned(),
        format!("{}/token", env.idp.issuer()),
    ] {
        let claims = assertion_claims("rp", &aud, now(), &jti());
        let (status, body) = token_call(&env.idp, &key.sign_jwt(&claims).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["error"], "invalid_grant",
            "client authenticated: {body}"
        );
    }
}

#[tokio::test]
async fn dev_op_refuses_an_assertion_signed_by_the_wrong_key() {
    let env = hostile_env().await;
    // Same kid as the registered key, another private key.
    let wrong = key_of("rsa-other.pem").with_kid("rsa-1");
    let claims = assertion_claims("rp", env.idp.issuer(), now(), &jti());
    let (status, body) = token_call(&env.idp, &wrong.sign_jwt(&claims).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn dev_op_refuses_an_expired_assertion() {
    let env = hostile_env().await;
    let key = key_of("rsa.jwk.json");
    let claims = assertion_claims("rp", env.idp.issuer(), now() - 600, &jti());
    let (status, body) = token_call(&env.idp, &key.sign_jwt(&claims).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("xpired"),
        "{body}"
    );
}

#[tokio::test]
async fn dev_op_refuses_a_replayed_jti() {
    let env = hostile_env().await;
    let key = key_of("rsa.jwk.json");
    let assertion = key
        .sign_jwt(&assertion_claims("rp", env.idp.issuer(), now(), &jti()))
        .unwrap();
    let (first, _) = token_call(&env.idp, &assertion).await;
    assert_eq!(
        first,
        StatusCode::BAD_REQUEST,
        "the first use authenticates"
    );
    let (second, body) = token_call(&env.idp, &assertion).await;
    assert_eq!(second, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("replay"),
        "{body}"
    );
}

#[tokio::test]
async fn dev_op_refuses_an_assertion_for_another_audience_or_client() {
    let env = hostile_env().await;
    let key = key_of("rsa.jwk.json");
    for claims in [
        assertion_claims("rp", "https://evil.example", now(), &jti()),
        assertion_claims(
            "rp",
            &format!("{}/userinfo", env.idp.issuer()),
            now(),
            &jti(),
        ),
        {
            let mut c = assertion_claims("rp", env.idp.issuer(), now(), &jti());
            c.insert("sub".into(), json!("someone-else"));
            c
        },
        {
            let mut c = assertion_claims("rp", env.idp.issuer(), now(), &jti());
            c.insert("exp".into(), json!(now() + 86_400));
            c
        },
        {
            let mut c = assertion_claims("rp", env.idp.issuer(), now(), &jti());
            c.remove("jti");
            c
        },
    ] {
        let (status, body) = token_call(&env.idp, &key.sign_jwt(&claims).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{claims:?}: {body}");
    }
}

#[tokio::test]
async fn dev_op_refuses_hmac_assertions_for_a_private_key_jwt_client() {
    // RS→HS confusion: an HMAC keyed by the public key's text.
    let env = hostile_env().await;
    let public = jwks_of("rsa.jwk.json").to_string();
    let hmac = AssertionSigningKey::from_client_secret(
        &public.as_str().into(),
        portcullis::Algorithm::HS256,
    )
    .unwrap();
    let claims = assertion_claims("rp", env.idp.issuer(), now(), &jti());
    let (status, body) = token_call(&env.idp, &hmac.sign_jwt(&claims).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // And an unsigned token.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let (status, _) = token_call(&env.idp, &format!("{header}.{payload}.")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------------ PAR

/// The authorization request the browser carried to the OP.
fn authorize_query(landing: &support::Landing, issuer: &str) -> Vec<(String, String)> {
    landing
        .trail
        .iter()
        .find(|u| u.as_str().starts_with(&format!("{issuer}/authorize")))
        .expect("went through /authorize")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn par_login_when_configured_sends_only_client_id_and_request_uri() {
    let env = start(
        |cb| DevClient::confidential("rp", "rp-secret", cb),
        |c| c,
        |b| b.client_secret("rp-secret").use_par(true),
    )
    .await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    let query = authorize_query(&landing, env.idp.issuer());
    let names: Vec<&str> = query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{query:?}");
    assert!(query[1].1.starts_with("urn:ietf:params:oauth:request_uri:"));
}

#[tokio::test]
async fn par_login_when_the_op_requires_it_with_private_key_jwt() {
    let jwks = jwks_of("ec-p256.pem");
    let key = fixture("ec-p256.pem");
    let env = start(
        |cb| DevClient::private_key_jwt("rp", jwks, cb),
        |c| c.with_required_par(true),
        |b| b.client_assertion_signing_key(key),
    )
    .await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    let query = authorize_query(&landing, env.idp.issuer());
    assert!(query.iter().any(|(n, _)| n == "request_uri"), "{query:?}");
    assert!(
        !query
            .iter()
            .any(|(n, _)| n == "state" || n == "code_challenge")
    );
}

#[tokio::test]
async fn op_that_requires_par_refuses_a_plain_authorization_request() {
    let env = start(
        |cb| DevClient::confidential("rp", "rp-secret", cb),
        |c| c.with_required_par(true),
        |b| b.client_secret("rp-secret"),
    )
    .await;
    let resp = reqwest::get(format!(
        "{}/authorize?client_id=rp&response_type=code&redirect_uri={}/callback&scope=openid",
        env.idp.issuer(),
        env.base
    ))
    .await
    .expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Pushed authorization request required")
    );
}

#[tokio::test]
async fn refused_pushed_authorization_request_is_a_clear_error_without_secrets() {
    // The OP knows another redirect URI: the push is refused.
    let env = start(
        |_cb| DevClient::confidential("rp", "rp-secret", "http://127.0.0.1:9/elsewhere"),
        |c| c,
        |b| b.client_secret("rp-secret").use_par(true),
    )
    .await;
    let agent = Agent::browser();
    let html = agent.navigate(&format!("{}/login", env.base)).await;
    assert_eq!(html.status, StatusCode::BAD_GATEWAY, "{}", html.body);
    assert!(
        html.body.contains("pushed authorization request"),
        "{}",
        html.body
    );
    assert!(html.body.contains("redirect_uri"), "{}", html.body);
    assert!(!html.body.contains("rp-secret"), "{}", html.body);
    let json = agent
        .request(
            reqwest::Method::GET,
            &format!("{}/login", env.base),
            "application/json",
        )
        .await;
    assert_eq!(json.status(), StatusCode::BAD_GATEWAY);
    let body: Value = json.json().await.unwrap();
    assert_eq!(body["error"], "pushed_authorization_failed", "{body}");
}

// ------------------------------------------------------------- token exchange

fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

async fn exchange_env() -> Env {
    start(
        |cb| DevClient::confidential("rp", "rp-secret", cb),
        |c| c,
        |b| b.client_secret("rp-secret"),
    )
    .await
}

#[tokio::test]
async fn token_exchange_against_dev_op_swaps_audience_and_narrows_scope_without_storing() {
    let env = exchange_env().await;
    let agent = Agent::browser();
    assert_eq!(
        agent
            .navigate(&format!("{}/profile", env.base))
            .await
            .status,
        StatusCode::OK
    );
    let before = agent.navigate(&format!("{}/token", env.base)).await.body;
    let resp = agent
        .request(
            reqwest::Method::GET,
            &format!(
                "{}/exchange?audience=orders-api&scope=openid%20email",
                env.base
            ),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "the session is not rewritten"
    );
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let claims = jwt_payload(token);
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["scope"], "openid email");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let after = agent.navigate(&format!("{}/token", env.base)).await.body;
    assert_eq!(after, before, "not stored unless asked");
}

#[tokio::test]
async fn token_exchange_against_dev_op_stores_the_result_when_asked() {
    let env = exchange_env().await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let before = agent.navigate(&format!("{}/token", env.base)).await.body;
    let stored = agent
        .navigate(&format!("{}/exchange?audience=billing&store=1", env.base))
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let after = agent.navigate(&format!("{}/token", env.base)).await.body;
    assert_ne!(after, before);
    assert_eq!(
        after, stored.body,
        "the session now carries the exchanged token"
    );
    assert_eq!(jwt_payload(&after)["aud"], "billing");
}

#[tokio::test]
async fn token_exchange_against_dev_op_surfaces_the_op_error() {
    let env = exchange_env().await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let token = agent.navigate(&format!("{}/token", env.base)).await.body;
    let resp = agent
        .request(
            reqwest::Method::GET,
            &format!("{}/exchange?scope=openid%20admin", env.base),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "token_exchange_grant_failed", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("invalid_scope"), "{description}");
    assert!(description.contains("exceeds"), "{description}");
    assert!(!description.contains(&token), "never the token");
}

#[tokio::test]
async fn token_exchange_without_a_session_is_unauthenticated() {
    let env = exchange_env().await;
    let resp = reqwest::get(format!("{}/exchange?audience=x", env.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_tokens_with_private_key_jwt_client_authentication() {
    let jwks = jwks_of("ed25519.jwk.json");
    let key = fixture("ed25519.jwk.json");
    let env = start(
        |cb| DevClient::private_key_jwt("rp", jwks, cb),
        |c| c,
        |b| b.client_assertion_signing_key(key).revoke_on_logout(true),
    )
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let token = agent.navigate(&format!("{}/token", env.base)).await.body;
    let userinfo = |token: String| {
        let url = format!("{}/userinfo", env.idp.issuer());
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("userinfo")
                .status()
        }
    };
    assert_eq!(userinfo(token.clone()).await, StatusCode::OK);
    agent.navigate(&format!("{}/logout", env.base)).await;
    assert_eq!(
        userinfo(token).await,
        StatusCode::UNAUTHORIZED,
        "the revocation request authenticated with an assertion and revoked the token"
    );
}
