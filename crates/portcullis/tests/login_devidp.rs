//! End-to-end, browser-less logins against the in-process development OP:
//! login, sign-in, callback, the protected route, logout — with query and
//! form_post, RS256, ES256 and EdDSA ID tokens — plus the hostile paths.

mod support;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis::{
    Algorithm, AuthorizationParams, LoginOptions, LoginRefused, Oidc, OidcLayer, OidcLayerBuilder,
    ResponseMode, TokenEndpointAuthMethod, Tokens, User, claim_equals, claim_includes,
    requires_auth,
};
use portcullis_devidp::{AuthMethod, DevClient, DevIdpConfig, RunningDevIdp, SigningAlg};
use reqwest::{Method, StatusCode};
use support::{Agent, bind_loopback, serve};

const SECRET: &str = "test-cookie-secret-0123456789abcdef";

struct Env {
    base: String,
    _idp: RunningDevIdp,
}

fn protected_routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|user: Option<User>| async move {
                match user {
                    Some(u) => format!("Signed in as {}", u.sub()),
                    None => "Signed out".into(),
                }
            }),
        )
        .route(
            "/profile",
            get(|user: User| async move { axum::Json(user.claims().clone()) })
                .route_layer(requires_auth()),
        )
        .route(
            "/tokens",
            get(|tokens: Tokens| async move {
                axum::Json(serde_json::json!({
                    "has_access_token": tokens.access_token().is_some(),
                    "has_refresh_token": tokens.refresh_token().is_some(),
                    "id_token_segments": tokens.id_token().split('.').count(),
                }))
            }),
        )
        .route(
            "/admin",
            get(|| async { "admin area" }).route_layer(claim_equals("sub", "bob")),
        )
        .route(
            "/staff",
            get(|| async { "staff area" }).route_layer(claim_includes("groups", ["staff"])),
        )
        .route(
            "/custom-login",
            get(|oidc: Oidc| async move {
                oidc.login(LoginOptions {
                    return_to: Some("/tokens".into()),
                    authorization_params: AuthorizationParams {
                        login_hint: Some("alice".into()),
                        ..AuthorizationParams::default()
                    },
                })
                .await
            }),
        )
        .route(
            "/custom-logout",
            get(|oidc: Oidc| async move {
                oidc.logout(portcullis::LogoutOptions::default()).await
            }),
        )
        .route(
            "/bad-login",
            get(|oidc: Oidc| async move {
                oidc.login(LoginOptions {
                    return_to: None,
                    authorization_params: AuthorizationParams::new().param("state", "fixed"),
                })
                .await
            }),
        )
        .route(
            "/access-token",
            get(|tokens: Tokens| async move { tokens.access_token().unwrap_or_default().to_owned() }),
        )
        .route(
            "/refresh",
            get(|oidc: Oidc| async move {
                match oidc.refresh().await {
                    Ok(update) => {
                        let token = update.tokens().and_then(|t| t.access_token()).unwrap_or_default().to_owned();
                        (update, token).into_response()
                    }
                    Err(error) => error.into_response(),
                }
            }),
        )
        .route(
            "/userinfo",
            get(|oidc: Oidc| async move {
                match oidc.fetch_userinfo().await {
                    Ok(claims) => axum::Json(claims).into_response(),
                    Err(error) => error.into_response(),
                }
            }),
        )
        .route(
            "/extra",
            get(|user: User| async move { axum::Json(user.session_extra().clone()) }),
        )
}

async fn start(
    mode: ResponseMode,
    alg: SigningAlg,
    configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
) -> Env {
    start_with_client(mode, alg, |c| c, configure).await
}

async fn start_with_client(
    mode: ResponseMode,
    alg: SigningAlg,
    client: impl FnOnce(DevClient) -> DevClient,
    configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
) -> Env {
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let client = client(
        DevClient::confidential("rp", "rp-secret", format!("{base}/callback"))
            .with_post_logout_redirect_uri(format!("{base}/"))
            .with_id_token_alg(alg),
    );
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(client)
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let builder = OidcLayer::builder()
        .issuer_base_url(idp.issuer())
        .client_id("rp")
        .client_secret("rp-secret")
        .base_url(base.clone())
        .secret(SECRET)
        .response_mode(mode)
        .auth_required(false);
    let layer = configure(builder).build().await.expect("layer");
    serve(listener, protected_routes().layer(layer));
    Env { base, _idp: idp }
}

async fn full_login_and_logout(mode: ResponseMode, alg: SigningAlg) {
    let env = start(mode, alg, |b| b).await;
    let agent = Agent::browser();

    // Signed out: API clients get 401 JSON, browsers a redirect to login.
    let api = agent
        .request(
            Method::GET,
            &format!("{}/profile", env.base),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = api.json().await.expect("json body");
    assert_eq!(body["error"], "unauthenticated");
    let html = agent
        .request(Method::GET, &format!("{}/profile", env.base), "text/html")
        .await;
    assert_eq!(html.status(), StatusCode::FOUND);
    assert_eq!(
        html.headers()["location"].to_str().expect("ascii"),
        "/login?returnTo=%2Fprofile"
    );

    // The whole flow lands back on /profile with the claims.
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.url.path(), "/profile");
    let claims: serde_json::Value = serde_json::from_str(&landing.body).expect("claims json");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    let callback = landing
        .trail
        .iter()
        .find(|u| u.path() == "/callback")
        .expect("passed through the callback");
    // form_post keeps the code out of the URL; query mode puts it there.
    assert_eq!(
        callback.query().is_some_and(|q| q.contains("code=")),
        mode == ResponseMode::Query
    );

    let tokens = agent.navigate(&format!("{}/tokens", env.base)).await;
    let tokens: serde_json::Value = serde_json::from_str(&tokens.body).expect("tokens json");
    assert_eq!(tokens["has_access_token"], true);
    assert_eq!(tokens["has_refresh_token"], true);
    assert_eq!(tokens["id_token_segments"], 3);

    // Logout clears the session.
    let after_logout = agent.navigate(&format!("{}/logout", env.base)).await;
    assert_eq!(after_logout.status, StatusCode::OK);
    assert_eq!(after_logout.body, "Signed out");
    let api = agent
        .request(
            Method::GET,
            &format!("{}/profile", env.base),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_with_query_response_mode_and_rs256() {
    full_login_and_logout(ResponseMode::Query, SigningAlg::RS256).await;
}

#[tokio::test]
async fn login_with_form_post_response_mode_and_rs256() {
    full_login_and_logout(ResponseMode::FormPost, SigningAlg::RS256).await;
}

#[tokio::test]
async fn login_with_query_response_mode_and_es256() {
    full_login_and_logout(ResponseMode::Query, SigningAlg::ES256).await;
}

#[tokio::test]
async fn login_with_form_post_response_mode_and_es256() {
    full_login_and_logout(ResponseMode::FormPost, SigningAlg::ES256).await;
}

#[tokio::test]
async fn login_with_eddsa_id_tokens() {
    full_login_and_logout(ResponseMode::Query, SigningAlg::EdDSA).await;
}

#[tokio::test]
async fn callback_without_transaction_cookie_is_rejected() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let resp = agent
        .request(
            Method::GET,
            &format!("{}/callback?code=abc&state=xyz", env.base),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let body = resp.text().await.expect("body");
    assert!(body.contains("no_pending_login"), "{body}");
    assert!(!body.contains("abc"), "the code must not be echoed: {body}");
}

/// Starts a login and stops at the OP's redirect back, returning the callback URL.
async fn callback_url(agent: &Agent, base: &str) -> url::Url {
    let login = agent
        .request(Method::GET, &format!("{base}/login"), "text/html")
        .await;
    assert_eq!(login.status(), StatusCode::FOUND);
    let authorize = login.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let back = agent.request(Method::GET, &authorize, "text/html").await;
    assert_eq!(
        back.status(),
        StatusCode::FOUND,
        "auto-approve redirects back"
    );
    url::Url::parse(back.headers()["location"].to_str().expect("ascii")).expect("callback url")
}

/// `url` with the query parameter `name` replaced by `value`.
fn with_param(url: &url::Url, name: &str, value: &str) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

#[tokio::test]
async fn state_is_single_use() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let callback = callback_url(&agent, &env.base).await;
    let first = agent
        .request(Method::GET, callback.as_str(), "text/html")
        .await;
    assert_eq!(first.status(), StatusCode::FOUND);
    // The same, now signed-in browser reloading the callback is sent on to
    // the application (the code is not redeemed again).
    let reload = agent
        .request(Method::GET, callback.as_str(), "text/html")
        .await;
    assert_eq!(reload.status(), StatusCode::FOUND);
    assert_eq!(reload.headers()["location"], "/");
    // Anyone else replaying it is refused.
    let replay = Agent::browser()
        .request(Method::GET, callback.as_str(), "application/json")
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn callback_with_foreign_state_is_rejected() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let callback = with_param(
        &callback_url(&agent, &env.base).await,
        "state",
        "forged-state",
    );
    let resp = agent
        .request(Method::GET, callback.as_str(), "application/json")
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.text().await.expect("body");
    assert!(body.contains("callback_rejected"), "{body}");
}

#[tokio::test]
async fn callback_with_wrong_iss_is_rejected() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let callback = with_param(
        &callback_url(&agent, &env.base).await,
        "iss",
        "https://evil.example",
    );
    let resp = agent
        .request(Method::GET, callback.as_str(), "application/json")
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn provider_error_response_is_shown_not_crashed() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let callback = callback_url(&agent, &env.base).await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let iss = callback
        .query_pairs()
        .find(|(k, _)| k == "iss")
        .map(|(_, v)| v.into_owned())
        .expect("iss");
    let mut error_url = url::Url::parse(&format!("{}/callback", env.base)).expect("url");
    error_url
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user said <no>")
        .append_pair("state", &state)
        .append_pair("iss", &iss);
    let resp = agent
        .request(Method::GET, error_url.as_str(), "text/html")
        .await;
    // Cancelling at the OP is a normal outcome: a page that says so and
    // offers to sign in again, not a "Bad Request".
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.expect("body");
    assert!(body.contains("Sign-in was cancelled"), "{body}");
    assert!(body.contains("Sign in again"), "{body}");
    assert!(!body.contains("Bad Request"), "{body}");
    assert!(body.contains("access_denied"), "{body}");
    assert!(!body.contains("<no>"), "escaped: {body}");
}

#[tokio::test]
async fn open_redirect_return_to_is_refused() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    for hostile in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%2F%2Fevil",
    ] {
        let mut url = url::Url::parse(&format!("{}/login", env.base)).expect("url");
        url.query_pairs_mut().append_pair("returnTo", hostile);
        let resp = agent
            .request(Method::GET, url.as_str(), "application/json")
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "returnTo {hostile:?}"
        );
    }
}

#[tokio::test]
async fn tampered_session_cookie_counts_as_signed_out() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}/profile", env.base))
        .header("accept", "application/json")
        .header("cookie", "portcullis.session=AAAAtampered")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let cleared = resp.headers().get_all("set-cookie").iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.starts_with("portcullis.session="))
    });
    assert!(cleared, "the bad cookie is cleared");
}

#[tokio::test]
async fn claim_guards_answer_403_with_the_rule() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK);
    let resp = agent
        .request(
            Method::GET,
            &format!("{}/admin", env.base),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.text().await.expect("body");
    assert!(body.contains("\\\"sub\\\""), "names the rule: {body}");
    let staff = agent
        .request(
            Method::GET,
            &format!("{}/staff", env.base),
            "application/json",
        )
        .await;
    let groups_has_staff = serde_json::from_str::<serde_json::Value>(&landing.body)
        .expect("claims")["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|v| v == "staff"));
    let expected = if groups_has_staff {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    assert_eq!(staff.status(), expected);
}

#[tokio::test]
async fn auth_required_protects_every_route_by_default() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.auth_required(true)
    })
    .await;
    let agent = Agent::browser();
    let resp = agent
        .request(Method::GET, &format!("{}/", env.base), "application/json")
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let landing = agent.navigate(&format!("{}/", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert_eq!(landing.body, "Signed in as alice");
}

#[tokio::test]
async fn after_callback_hook_can_refuse_the_login() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.after_callback(|_ctx| async { Err(LoginRefused::new("Your account is suspended.")) })
    })
    .await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::FORBIDDEN);
    assert!(
        landing.body.contains("Your account is suspended."),
        "{}",
        landing.body
    );
    let api = agent
        .request(
            Method::GET,
            &format!("{}/profile", env.base),
            "application/json",
        )
        .await;
    assert_eq!(
        api.status(),
        StatusCode::UNAUTHORIZED,
        "no session was created"
    );
}

#[tokio::test]
async fn hooks_carry_login_state_and_edit_the_session() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.login_state(|parts| Some(serde_json::json!({ "from": parts.uri.path() })))
            .after_callback(|mut ctx| async move {
                ctx.session_extra.insert(
                    "login_state".into(),
                    ctx.app_state.clone().unwrap_or_default(),
                );
                ctx.claims.insert("app_role".into(), "tester".into());
                Ok(ctx)
            })
    })
    .await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    let claims: serde_json::Value = serde_json::from_str(&landing.body).expect("claims");
    assert_eq!(claims["app_role"], "tester");
    let extra = agent.navigate(&format!("{}/extra", env.base)).await;
    let extra: serde_json::Value = serde_json::from_str(&extra.body).expect("extra");
    assert_eq!(extra["login_state"]["from"], "/login");
}

#[tokio::test]
async fn handlers_can_start_a_login_with_options() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    let first = agent
        .request(
            Method::GET,
            &format!("{}/custom-login", env.base),
            "text/html",
        )
        .await;
    assert_eq!(first.status(), StatusCode::FOUND);
    let authorize = first.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(authorize.contains("login_hint=alice"), "{authorize}");
    let landing = agent.navigate(&format!("{}/custom-login", env.base)).await;
    assert_eq!(landing.url.path(), "/tokens");
}

#[tokio::test]
async fn idp_logout_redirects_to_end_session_with_id_token_hint() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.idp_logout(true)
    })
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let resp = agent
        .request(Method::GET, &format!("{}/logout", env.base), "text/html")
        .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.contains("id_token_hint="), "{location}");
    assert!(location.contains("post_logout_redirect_uri="), "{location}");
    let landing = agent.navigate(&location).await;
    assert_eq!(landing.body, "Signed out");
}

#[tokio::test]
async fn discovery_rejects_an_issuer_that_differs_by_a_trailing_slash() {
    let idp = portcullis_devidp::start(DevIdpConfig::new(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("idp");
    let err = OidcLayer::builder()
        .issuer_base_url(format!("{}/", idp.issuer()))
        .client_id("rp")
        .client_secret("x")
        .base_url("http://127.0.0.1:1")
        .secret(SECRET)
        .build()
        .await
        .expect_err("must fail");
    let message = err.to_string();
    assert!(message.contains(&format!("{}/", idp.issuer())), "{message}");
}

#[tokio::test]
async fn post_callback_with_wrong_content_type_is_rejected() {
    let env = start(ResponseMode::FormPost, SigningAlg::RS256, |b| b).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/callback", env.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.text().await.expect("body");
    assert!(body.contains("invalid_callback"), "{body}");
}

#[tokio::test]
async fn login_with_client_secret_post() {
    let env = start_with_client(
        ResponseMode::Query,
        SigningAlg::RS256,
        |c| c.with_auth_method(AuthMethod::ClientSecretPost),
        |b| b.token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretPost),
    )
    .await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(
        landing.body.contains("\"sub\":\"alice\""),
        "{}",
        landing.body
    );
}

#[tokio::test]
async fn wrong_client_auth_method_fails_the_exchange_cleanly() {
    // The OP expects client_secret_post; the RP sends Basic: the token
    // endpoint answers invalid_client and the user sees a 502 page, no crash.
    let env = start_with_client(
        ResponseMode::Query,
        SigningAlg::RS256,
        |c| c.with_auth_method(AuthMethod::ClientSecretPost),
        |b| b,
    )
    .await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::BAD_GATEWAY, "{}", landing.body);
    assert!(landing.body.contains("token exchange"), "{}", landing.body);
    assert!(!landing.body.contains("rp-secret"), "{}", landing.body);
}

#[tokio::test]
async fn rs256_only_allowlist_rejects_es256_id_tokens() {
    let env = start(ResponseMode::Query, SigningAlg::ES256, |b| {
        b.id_token_signing_algs(vec![Algorithm::RS256])
    })
    .await;
    let landing = Agent::browser()
        .navigate(&format!("{}/profile", env.base))
        .await;
    assert_eq!(landing.status, StatusCode::BAD_REQUEST, "{}", landing.body);
    assert!(landing.body.contains("ID token"), "{}", landing.body);
}

#[tokio::test]
async fn refresh_rotates_the_access_token_and_rewrites_the_session() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let before = agent
        .navigate(&format!("{}/access-token", env.base))
        .await
        .body;
    assert!(!before.is_empty());
    let refreshed = agent
        .request(
            Method::GET,
            &format!("{}/refresh", env.base),
            "application/json",
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert!(
        refreshed.headers().get_all("set-cookie").iter().count() > 0,
        "the refreshed session is written back"
    );
    let new_token = refreshed.text().await.expect("body");
    assert_ne!(new_token, before);
    let after = agent
        .navigate(&format!("{}/access-token", env.base))
        .await
        .body;
    assert_eq!(after, new_token, "later requests see the refreshed token");
    // The rotated refresh token works again; the user is unchanged.
    let again = agent
        .request(
            Method::GET,
            &format!("{}/refresh", env.base),
            "application/json",
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let profile = agent.navigate(&format!("{}/profile", env.base)).await;
    let claims: serde_json::Value = serde_json::from_str(&profile.body).expect("claims");
    assert_eq!(claims["sub"], "alice");
}

#[tokio::test]
async fn refresh_without_a_session_is_unauthenticated() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let resp = Agent::browser()
        .request(
            Method::GET,
            &format!("{}/refresh", env.base),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fetch_userinfo_returns_the_users_claims() {
    let env = start(ResponseMode::Query, SigningAlg::ES256, |b| {
        b.fetch_userinfo(false)
    })
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let info = agent.navigate(&format!("{}/userinfo", env.base)).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    let claims: serde_json::Value = serde_json::from_str(&info.body).expect("json");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
}

fn session_set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("portcullis.session"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn rolling_session_is_renewed_once_and_the_renewal_is_reused() {
    // Rolling 20 s: the cookie is renewed once a twentieth (1 s) has passed.
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.rolling_duration_secs(Some(20))
    })
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let old = agent.cookie_header(&env.base).expect("session cookie");
    let raw = reqwest::Client::new();
    let fresh = raw
        .get(format!("{}/profile", env.base))
        .header("cookie", &old)
        .header("accept", "application/json")
        .send()
        .await
        .expect("send");
    assert!(
        session_set_cookies(&fresh).is_empty(),
        "no renewal right away"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let first = raw
        .get(format!("{}/profile", env.base))
        .header("cookie", &old)
        .header("accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(first.status(), StatusCode::OK);
    let renewed = session_set_cookies(&first);
    assert!(!renewed.is_empty(), "the rolling session is renewed");
    assert!(renewed[0].contains("Max-Age="), "{renewed:?}");
    let second = raw
        .get(format!("{}/profile", env.base))
        .header("cookie", &old)
        .header("accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(
        session_set_cookies(&second),
        renewed,
        "the renewal is reused, not resealed"
    );
}

#[tokio::test]
async fn session_past_its_absolute_duration_is_signed_out_and_cleared() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.absolute_duration_secs(1)
    })
    .await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK);
    let cookie = agent.cookie_header(&env.base).expect("session cookie");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The cookie's Max-Age already made the agent drop it; a client that
    // kept it anyway is refused by the server too.
    assert!(
        agent
            .cookie_header(&env.base)
            .is_none_or(|c| !c.contains("portcullis.session"))
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/profile", env.base))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let cleared = session_set_cookies(&resp);
    assert!(
        cleared.iter().any(|c| c.contains("Max-Age=0")),
        "the expired cookie is cleared: {cleared:?}"
    );
}

#[tokio::test]
async fn login_params_cannot_override_protected_parameters() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let resp = Agent::browser()
        .request(
            Method::GET,
            &format!("{}/bad-login", env.base),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.text().await.expect("body");
    assert!(body.contains("login_request_invalid"), "{body}");
    assert!(body.contains("state"), "names the parameter: {body}");
}

/// Captures everything the layer logs on this thread.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_never_contain_codes_or_tokens() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    // A rejected callback (forged state) carrying a real code...
    let callback = callback_url(&agent, &env.base).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let forged = with_param(&callback, "state", "forged");
    let resp = agent
        .request(Method::GET, forged.as_str(), "text/html")
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // ...and a successful login.
    agent.navigate(&format!("{}/profile", env.base)).await;
    let access_token = agent
        .navigate(&format!("{}/access-token", env.base))
        .await
        .body;
    assert!(access_token.len() > 20);

    let text = logs.text();
    assert!(
        text.contains("sign-in callback rejected"),
        "the capture works: {text}"
    );
    assert!(!text.contains(&code), "a code reached the logs");
    assert!(!text.contains(&access_token), "a token reached the logs");
    assert!(
        !text.contains("rp-secret"),
        "the client secret reached the logs"
    );
}

#[tokio::test]
async fn large_sessions_are_chunked_across_cookies_and_read_back() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.after_callback(|mut ctx| async move {
            // About 6 KB of application claims: more than one cookie can hold.
            ctx.claims.insert("bio".into(), "x".repeat(6000).into());
            Ok(ctx)
        })
    })
    .await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    let claims: serde_json::Value = serde_json::from_str(&landing.body).expect("claims");
    assert_eq!(claims["bio"].as_str().map(str::len), Some(6000));
    let cookies = agent.cookie_header(&env.base).expect("cookies");
    assert!(cookies.contains("portcullis.session.0="), "{cookies}");
    assert!(cookies.contains("portcullis.session.1="), "{cookies}");
    assert!(
        !cookies.contains("portcullis.session="),
        "no unchunked cookie"
    );
    // Logout clears every chunk.
    agent.navigate(&format!("{}/logout", env.base)).await;
    let left = agent.cookie_header(&env.base).unwrap_or_default();
    assert!(!left.contains("portcullis.session"), "{left}");
}

#[tokio::test]
async fn a_session_too_large_for_ten_cookies_fails_the_login_cleanly() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.after_callback(|mut ctx| async move {
            ctx.claims.insert("blob".into(), "y".repeat(60_000).into());
            Ok(ctx)
        })
    })
    .await;
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{}/profile", env.base)).await;
    assert_eq!(landing.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        landing.body.contains("session could not be saved"),
        "{}",
        landing.body
    );
}

#[tokio::test]
async fn a_due_rolling_renewal_never_undoes_a_handler_logout_or_refresh() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.rolling_duration_secs(Some(20))
    })
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let before = agent
        .navigate(&format!("{}/access-token", env.base))
        .await
        .body;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The renewal is due on this request; the handler's refreshed session wins.
    let refreshed = agent
        .request(
            Method::GET,
            &format!("{}/refresh", env.base),
            "application/json",
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let new_token = refreshed.text().await.expect("body");
    assert_ne!(new_token, before);
    let after = agent
        .navigate(&format!("{}/access-token", env.base))
        .await
        .body;
    assert_eq!(
        after, new_token,
        "the old session's renewal did not overwrite the refresh"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Due again; a handler logout must stay a logout.
    let out = agent
        .request(
            Method::GET,
            &format!("{}/custom-logout", env.base),
            "text/html",
        )
        .await;
    assert_eq!(out.status(), StatusCode::FOUND);
    let session_cookies: Vec<String> = session_set_cookies(&out);
    assert!(!session_cookies.is_empty());
    assert!(
        session_cookies.iter().all(|c| c.contains("Max-Age=0")),
        "only removals: {session_cookies:?}"
    );
    let api = agent
        .request(
            Method::GET,
            &format!("{}/profile", env.base),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_app_under_a_path_prefix_keeps_the_prefix_everywhere() {
    // A proxy strips `/app`; here `nest_service` plays that proxy.
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}/app", addr.port());
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(
                DevClient::confidential("rp", "rp-secret", format!("{base}/callback"))
                    .with_post_logout_redirect_uri(format!("{base}/")),
            )
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let layer = OidcLayer::builder()
        .issuer_base_url(idp.issuer())
        .client_id("rp")
        .client_secret("rp-secret")
        .base_url(base.clone())
        .secret(SECRET)
        .auth_required(false)
        .build()
        .await
        .expect("layer");
    // A reverse proxy that strips `/app`: the app never sees the prefix.
    let app = protected_routes().layer(layer);
    let proxy = tower::service_fn(move |mut request: axum::extract::Request| {
        let app = app.clone();
        async move {
            let stripped = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .and_then(|pq| pq.strip_prefix("/app"))
                .map(|rest| {
                    if rest.is_empty() {
                        "/".to_owned()
                    } else {
                        rest.to_owned()
                    }
                })
                .unwrap_or_else(|| "/not-under-app".to_owned());
            *request.uri_mut() = stripped.parse().expect("uri");
            request
                .extensions_mut()
                .remove::<axum::extract::OriginalUri>();
            tower::ServiceExt::oneshot(app, request).await
        }
    });
    serve(listener, Router::new().fallback_service(proxy));
    let agent = Agent::browser();

    let first = agent
        .request(Method::GET, &format!("{base}/profile?tab=1"), "text/html")
        .await;
    assert_eq!(first.status(), StatusCode::FOUND);
    assert_eq!(
        first.headers()["location"].to_str().expect("ascii"),
        "/app/login?returnTo=%2Fprofile%3Ftab%3D1"
    );
    let landing = agent.navigate(&format!("{base}/profile?tab=1")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.url.path(), "/app/profile");
    assert_eq!(landing.url.query(), Some("tab=1"));
    let cookies = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .chain(std::iter::empty())
        .count();
    assert_eq!(cookies, 0, "no cookie on the redirect to login");

    let out = agent
        .request(Method::GET, &format!("{base}/logout"), "text/html")
        .await;
    assert_eq!(out.status(), StatusCode::FOUND);
    assert_eq!(out.headers()["location"].to_str().expect("ascii"), "/app/");
    let cleared: Vec<String> = session_set_cookies(&out);
    assert!(
        cleared.iter().all(|c| c.contains("Path=/app")),
        "cookies are scoped to the app: {cleared:?}"
    );
}

#[tokio::test]
async fn nested_routers_return_to_the_full_original_url() {
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(DevClient::confidential(
                "rp",
                "rp-secret",
                format!("{base}/callback"),
            ))
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let layer = OidcLayer::builder()
        .issuer_base_url(idp.issuer())
        .client_id("rp")
        .client_secret("rp-secret")
        .base_url(base.clone())
        .secret(SECRET)
        .auth_required(false)
        .build()
        .await
        .expect("layer");
    let admin = Router::new().route(
        "/page",
        get(|user: User| async move { format!("admin page for {}", user.sub()) }),
    );
    serve(listener, Router::new().nest("/admin", admin).layer(layer));
    let agent = Agent::browser();
    let first = agent
        .request(Method::GET, &format!("{base}/admin/page?x=1"), "text/html")
        .await;
    assert_eq!(
        first.headers()["location"].to_str().expect("ascii"),
        "/login?returnTo=%2Fadmin%2Fpage%3Fx%3D1"
    );
    let landing = agent.navigate(&format!("{base}/admin/page?x=1")).await;
    assert_eq!(landing.body, "admin page for alice");
}

#[tokio::test]
async fn logout_with_a_hostile_return_to_still_signs_out() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let out = agent
        .request(
            Method::GET,
            &format!("{}/logout?returnTo=%2F%2Fevil.example", env.base),
            "text/html",
        )
        .await;
    assert_eq!(out.status(), StatusCode::FOUND);
    assert_eq!(out.headers()["location"].to_str().expect("ascii"), "/");
    let api = agent
        .request(
            Method::GET,
            &format!("{}/profile", env.base),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_keeps_the_claims_the_after_callback_hook_set() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| {
        b.after_callback(|mut ctx| async move {
            ctx.claims
                .insert("email".into(), "hook-set@example.com".into());
            ctx.claims.remove("name");
            Ok(ctx)
        })
    })
    .await;
    let agent = Agent::browser();
    agent.navigate(&format!("{}/profile", env.base)).await;
    let refreshed = agent
        .request(
            Method::GET,
            &format!("{}/refresh", env.base),
            "application/json",
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let profile = agent.navigate(&format!("{}/profile", env.base)).await;
    let claims: serde_json::Value = serde_json::from_str(&profile.body).expect("claims");
    assert_eq!(claims["email"], "hook-set@example.com");
    assert!(claims.get("name").is_none(), "{claims}");
}

#[tokio::test]
async fn wrong_methods_on_the_sign_in_routes_get_405_with_allow() {
    let env = start(ResponseMode::Query, SigningAlg::RS256, |b| b).await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        (Method::POST, "/login", "GET"),
        (Method::HEAD, "/login", "GET"),
        (Method::PUT, "/callback", "GET, POST"),
        (Method::DELETE, "/logout", "GET, POST"),
    ] {
        let resp = client
            .request(method.clone(), format!("{}{path}", env.base))
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()["allow"], allow);
    }
}

/// The `Set-Cookie` of the transaction cookie on a `/login` response of an
/// https deployment (only the header is inspected; nothing follows it).
async fn transaction_cookie_on_https(mode: ResponseMode) -> String {
    let (listener, addr) = bind_loopback().await;
    let idp = portcullis_devidp::start(DevIdpConfig::new(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("dev idp");
    let layer = OidcLayer::builder()
        .issuer_base_url(idp.issuer())
        .client_id("rp")
        .client_secret("rp-secret")
        .base_url("https://app.example")
        .secret(SECRET)
        .response_mode(mode)
        .build()
        .await
        .expect("layer");
    serve(listener, Router::new().layer(layer));
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{}/login", addr.port()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FOUND);
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        // On https with Path=/ the cookies carry the __Host- prefix.
        .find(|v| v.starts_with("__Host-portcullis.session.txn="))
        .expect("transaction cookie")
        .to_owned()
}

#[tokio::test]
async fn transaction_cookie_is_samesite_none_only_for_form_post_flows() {
    let query = transaction_cookie_on_https(ResponseMode::Query).await;
    assert!(query.contains("SameSite=Lax"), "{query}");
    assert!(
        query.contains("Secure") && query.contains("HttpOnly"),
        "{query}"
    );
    let form_post = transaction_cookie_on_https(ResponseMode::FormPost).await;
    assert!(form_post.contains("SameSite=None"), "{form_post}");
    assert!(
        form_post.contains("Secure") && form_post.contains("HttpOnly"),
        "{form_post}"
    );
}
