//! Interop: the full browser-less login against panva's `oidc-provider` (an
//! OpenID-certified OP we did not write), started from `interop/op.mjs` on a
//! free loopback port. Query and form_post, RS256 and ES256 ID tokens.
//!
//! Needs `node` and `interop/node_modules` (`scripts/test` installs them). It
//! skips loudly when they are missing, and fails under `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::process::Stdio;

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayer, ResponseMode, Tokens, User};
use reqwest::{Method, StatusCode};
use support::{Agent, bind_loopback, serve, skip_or_fail, workspace_root};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Op {
    issuer: String,
    _child: Child,
}

/// Starts `interop/op.mjs` with the given clients, or returns None (after a
/// loud skip) when Node or the npm packages are missing.
async fn start_op(clients: serde_json::Value, extra_args: &[&str]) -> Option<Op> {
    let interop = workspace_root().join("interop");
    if !interop.join("node_modules/oidc-provider").is_dir() {
        skip_or_fail("interop/node_modules is missing (run `npm ci` in interop/)");
        return None;
    }
    let mut child = match Command::new("node")
        .arg(interop.join("op.mjs"))
        .arg("--port")
        .arg("0")
        .arg("--clients")
        .arg(clients.to_string())
        .args(extra_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            skip_or_fail(&format!("node could not be started: {error}"));
            return None;
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("oidc-provider did not start within 30 s")
        .expect("read stdout")
        .expect("oidc-provider exited before READY");
    let issuer = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .to_owned();
    Some(Op {
        issuer,
        _child: child,
    })
}

fn app() -> Router {
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
            get(|user: User| async move { axum::Json(user.claims().clone()) }),
        )
        .route(
            "/tokens",
            get(|tokens: Tokens| async move {
                axum::Json(serde_json::json!({
                    "access": tokens.access_token().is_some(),
                    "refresh": tokens.refresh_token().is_some(),
                    "alg": id_token_alg(tokens.id_token()),
                    "id_token_has_email": id_token_payload(tokens.id_token()).get("email").is_some(),
                }))
            }),
        )
}

fn id_token_payload(token: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn id_token_alg(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["alg"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn login_against_oidc_provider(mode: ResponseMode, alg: &str) {
    if let Some(tokens) = login_against(mode, alg, &[]).await {
        assert_eq!(tokens["id_token_has_email"], true, "op.mjs default mode");
    }
}

/// Runs the whole flow; returns what `/tokens` said (None when skipped).
async fn login_against(
    mode: ResponseMode,
    alg: &str,
    op_args: &[&str],
) -> Option<serde_json::Value> {
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let clients = serde_json::json!([{
        "client_id": "portcullis",
        "client_secret": "interop-secret-0123456789",
        "redirect_uris": [format!("{base}/callback")],
        "post_logout_redirect_uris": [format!("{base}/")],
        "id_token_signed_response_alg": alg,
    }]);
    let op = start_op(clients, op_args).await?;
    let layer = OidcLayer::builder()
        .issuer_base_url(op.issuer.clone())
        .client_id("portcullis")
        .client_secret("interop-secret-0123456789")
        .base_url(base.clone())
        .secret("interop-cookie-secret-0123456789abcdef")
        .response_mode(mode)
        .auth_required(false)
        .idp_logout(true)
        .build()
        .await
        .expect("discovery against oidc-provider");
    serve(listener, app().layer(layer));

    let agent = Agent::browser();
    let api = agent
        .request(Method::GET, &format!("{base}/profile"), "application/json")
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    let landing = agent.navigate(&format!("{base}/profile")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.url.path(), "/profile");
    let claims: serde_json::Value = serde_json::from_str(&landing.body).expect("claims json");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], op.issuer.as_str());
    assert_eq!(claims["email"], "alice@example.com");
    let went_through_post = landing
        .trail
        .iter()
        .any(|u| u.path() == "/callback" && u.query().is_none());
    assert_eq!(went_through_post, mode == ResponseMode::FormPost);

    let tokens = agent.navigate(&format!("{base}/tokens")).await;
    let tokens: serde_json::Value = serde_json::from_str(&tokens.body).expect("tokens");
    assert_eq!(tokens["alg"], alg);
    assert_eq!(tokens["access"], true);
    assert_eq!(tokens["refresh"], true);

    // RP-initiated logout through oidc-provider's end_session endpoint.
    let out = agent.navigate(&format!("{base}/logout")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(out.body, "Signed out");
    assert!(
        out.trail.iter().any(|u| u.as_str().starts_with(&op.issuer)),
        "logout went through the OP: {:?}",
        out.trail
    );
    let api = agent
        .request(Method::GET, &format!("{base}/profile"), "application/json")
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    Some(tokens)
}

#[tokio::test]
async fn oidc_provider_query_rs256() {
    login_against_oidc_provider(ResponseMode::Query, "RS256").await;
}

#[tokio::test]
async fn oidc_provider_form_post_rs256() {
    login_against_oidc_provider(ResponseMode::FormPost, "RS256").await;
}

#[tokio::test]
async fn oidc_provider_query_es256() {
    login_against_oidc_provider(ResponseMode::Query, "ES256").await;
}

#[tokio::test]
async fn oidc_provider_form_post_es256() {
    login_against_oidc_provider(ResponseMode::FormPost, "ES256").await;
}

/// oidc-provider's strict default: a code-flow ID token carries only `sub` and
/// the protocol claims, so `name` and `email` can only come from userinfo.
#[tokio::test]
async fn oidc_provider_strict_id_token_claims_come_from_userinfo() {
    // login_against asserts that /profile shows the email; here the ID token
    // itself has none, so it came through the userinfo merge.
    if let Some(tokens) =
        login_against(ResponseMode::Query, "RS256", &["--conform-id-token-claims"]).await
    {
        assert_eq!(tokens["id_token_has_email"], false);
    }
}
