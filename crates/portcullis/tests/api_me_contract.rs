//! The `GET /api/me` contract of the `basic` example (issue 6 §5), checked
//! against the built example binary: a session or a bearer token; bearer
//! tokens only with `API_AUDIENCE`, and with `API_SCOPE` when set; RFC 6750
//! refusals; a browser without credentials is redirected to login.
//!
//! [`check_api_me_contract`] runs every case against any binary that claims
//! the contract (the actix-web example can reuse it with its own path).
//! Build the example first: `cargo build -p portcullis --example basic`
//! (`cargo test --workspace` builds it).

mod bearer_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bearer_support::{API, answer, assert_invalid_token, get_with_token, token_response};
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::Agent;
use tokio::process::{Child, Command};

/// `target/<profile>/examples/<name>`, next to this test's own binary.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running example app and the OP it signs in at.
struct Running {
    base: String,
    _child: Child,
}

async fn start_app(binary: &Path, idp: &RunningDevIdp, port: u16, env: &[(&str, &str)]) -> Running {
    assert!(
        binary.exists(),
        "{} is missing: build it first (cargo build -p portcullis --example basic)",
        binary.display()
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(binary);
    command
        .env("ISSUER_BASE_URL", idp.issuer())
        .env("CLIENT_ID", "basic")
        .env("CLIENT_SECRET", "basic-secret")
        .env("BASE_URL", &base)
        .env("SECRET", "api-me-contract-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .env_remove("API_AUDIENCE")
        .env_remove("API_SCOPE")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("start the example");
    let http = bearer_support::client();
    for _ in 0..150 {
        if http.get(format!("{base}/")).send().await.is_ok() {
            return Running {
                base,
                _child: child,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the example at {} did not start", binary.display());
}

async fn start_idp(port: u16) -> RunningDevIdp {
    bearer_support::start_idp(
        DevIdpConfig::new().with_client(
            DevClient::confidential(
                "basic",
                "basic-secret",
                format!("http://127.0.0.1:{port}/callback"),
            )
            .with_post_logout_redirect_uri(format!("http://127.0.0.1:{port}/")),
        ),
    )
    .await
}

async fn json_get(url: &str) -> (u16, String, Value) {
    answer(
        bearer_support::client()
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// The session cases, the same with or without `API_AUDIENCE`.
async fn session_and_browser_cases(base: &str) {
    let agent = Agent::browser();
    let html = agent
        .request(Method::GET, &format!("{base}/api/me"), "text/html")
        .await;
    assert_eq!(html.status(), StatusCode::FOUND, "a browser goes to login");
    let location = html.headers()["location"].to_str().unwrap_or("");
    assert!(
        location.starts_with("/login?returnTo=%2Fapi%2Fme"),
        "{location}"
    );

    let signed_in = agent.navigate(&format!("{base}/login")).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let me = agent
        .request(Method::GET, &format!("{base}/api/me"), "application/json")
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let body: Value = me.json().await.expect("json");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["via"], "session");
    assert!(body.get("scope").is_some(), "{body}");
}

/// Every case of the contract against the example at `binary`.
pub async fn check_api_me_contract(binary: &Path) {
    // 1. Without API_AUDIENCE: sessions only.
    let port = free_port();
    let idp = start_idp(port).await;
    let app = start_app(binary, &idp, port, &[]).await;
    session_and_browser_cases(&app.base).await;
    let token = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, _, body) =
        answer(get_with_token(&format!("{}/api/me", app.base), &token).await).await;
    assert_eq!(
        status, 401,
        "bearer tokens are not accepted without API_AUDIENCE: {body}"
    );
    bearer_support::assert_no_echo(&body, &token, "no API_AUDIENCE");
    let (status, _, _) = json_get(&format!("{}/api/me", app.base)).await;
    assert_eq!(status, 401);
    drop(app);

    // 2. With API_AUDIENCE: bearer tokens for that audience.
    let port = free_port();
    let idp = start_idp(port).await;
    let app = start_app(binary, &idp, port, &[("API_AUDIENCE", API)]).await;
    session_and_browser_cases(&app.base).await;
    let url = format!("{}/api/me", app.base);
    let token = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, _, body) = answer(get_with_token(&url, &token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["via"], "bearer");
    assert_eq!(body["scope"], "openid profile");
    let (status, challenge, body) = json_get(&url).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"), "{body}");
    let other = token_response(idp.issuer(), None, "openid").await;
    let other = other["access_token"].as_str().expect("access_token");
    assert_invalid_token(get_with_token(&url, other).await, other, "wrong aud").await;
    let response = bearer_support::client()
        .get(&url)
        .header("authorization", format!("bearer {token}"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400, "two Authorization headers");
    drop(app);

    // 3. With API_SCOPE: the token must carry it.
    let port = free_port();
    let idp = start_idp(port).await;
    let app = start_app(
        binary,
        &idp,
        port,
        &[("API_AUDIENCE", API), ("API_SCOPE", "email")],
    )
    .await;
    let url = format!("{}/api/me", app.base);
    let without = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, challenge, body) = answer(get_with_token(&url, &without).await).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"email\""), "{challenge}");
    assert_eq!(body["error"], "insufficient_scope");
    let with = bearer_support::access_token(idp.issuer(), "openid email").await;
    let (status, _, body) = answer(get_with_token(&url, &with).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["via"], "bearer");
    assert_eq!(body["scope"], "openid email");
    // A session needs no scope.
    session_and_browser_cases(&app.base).await;
}

#[tokio::test]
async fn basic_example_api_me_honours_its_contract() {
    check_api_me_contract(&example_binary("basic")).await;
}
