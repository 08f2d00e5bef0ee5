//! The `basic` contract, shared by every example that promises it: the axum
//! `basic` example (`crates/portcullis/tests/basic_example.rs`) and the
//! actix-web `actix_basic` example (`crates/portcullis-actix/tests/contract.rs`).
//! Both run exactly these cases against the built example binary, against
//! the dev OP and against panva's `oidc-provider`.
//!
//! The contract (other tools drive it, keep it exact):
//! - configured only by `ISSUER_BASE_URL`, `CLIENT_ID`, `CLIENT_SECRET`,
//!   `BASE_URL`, `SECRET`, `PORT` (and `SESSION_STORE`, `LOGOUT_STORE`, ...);
//! - `GET /`: 200 `Signed out` / `Signed in as {sub}`, plain text;
//! - `GET /profile`: the claims as JSON when signed in; otherwise a 302 to
//!   `/login?returnTo=%2Fprofile` for browsers and 401
//!   `{"error":"unauthenticated",…}` for API clients;
//! - `/login`, `/callback`, `/logout`, `POST /backchannel-logout` and
//!   `GET /frontchannel-logout`, with the engine's methods, statuses and
//!   JSON errors.
//!
//! Include it next to `support` (it uses `crate::support`):
//! `mod support; #[path = "support/contract.rs"] mod contract;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::support::Agent;
use crate::support::rp::{bare_client, get_with_cookie, logout_claims, post_logout_token};

/// The client the example is registered as.
pub const CLIENT_ID: &str = "basic";
/// Its secret.
pub const CLIENT_SECRET: &str = "basic-secret-0123456789abcdef";
/// The example's cookie key material.
pub const SECRET: &str = "basic-example-cookie-secret-0123456789";

/// The path of a built example binary of this test's profile:
/// `target/<profile>/deps/<this test>` -> `target/<profile>/examples/<name>`.
/// `cargo test` builds examples first; `cargo test --test X` does not
/// (run `cargo build --example <name>` then).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test` (it builds examples), \
         or `cargo build --example {name}` first",
        binary.display()
    );
    binary
}

/// A free loopback port (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running example process, killed on drop.
pub struct RunningExample {
    pub base: String,
    _child: Child,
}

impl RunningExample {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Starts the example binary `name` on `port` (its `BASE_URL` is
/// `http://127.0.0.1:{port}`) against `issuer` with the contract's client,
/// plus `extra_env`, and waits until it answers.
pub async fn start_example(
    name: &str,
    issuer: &str,
    port: u16,
    extra_env: &[(&str, &str)],
) -> RunningExample {
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(example_binary(name))
        .env("ISSUER_BASE_URL", issuer)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("BASE_URL", &base)
        .env("SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start the {name} example: {e}"));
    let client = bare_client();
    for _ in 0..150 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            return RunningExample {
                base,
                _child: child,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {name} example did not start on {base}");
}

/// A dev OP with the contract's client registered for the RP at `base`
/// (callback, and `{base}/` after logout), signing in alice without asking.
pub async fn dev_op_for(base: &str) -> RunningDevIdp {
    portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(
                DevClient::confidential(CLIENT_ID, CLIENT_SECRET, format!("{base}/callback"))
                    .with_post_logout_redirect_uri(format!("{base}/")),
            )
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp")
}

/// `oidc-provider` (interop/op.mjs) with the contract's client registered for
/// the RP at `base`; `None` after a loud skip when Node or the npm packages
/// are missing (a failure under `PORTCULLIS_REQUIRE_ALL=1`).
pub async fn oidc_provider_for(base: &str) -> Option<oidc_provider::Op> {
    let clients = serde_json::json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{base}/callback")],
        "post_logout_redirect_uris": [format!("{base}/")],
    }]);
    oidc_provider::start(clients).await
}

fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What the contract expects of the OP it runs against.
pub struct Expect<'a> {
    /// The issuer the claims name.
    pub issuer: &'a str,
    /// Whether the login goes through a form_post callback.
    pub form_post: bool,
    /// Whether `/logout` goes through the OP (`IDP_LOGOUT=true`).
    pub idp_logout: bool,
}

/// The whole browser-less contract against a running example.
pub async fn assert_basic_contract(app: &RunningExample, expect: Expect<'_>) {
    let agent = Agent::browser();

    // `/`, signed out: plain text.
    let home = agent.navigate(&app.url("/")).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.body, "Signed out");
    assert!(
        content_type(&home.headers).starts_with("text/plain"),
        "{:?}",
        home.headers
    );

    // `/profile`, signed out: browsers go to login and come back; APIs get 401 JSON.
    let html = agent
        .request(Method::GET, &app.url("/profile"), "text/html")
        .await;
    assert_eq!(html.status(), StatusCode::FOUND);
    assert_eq!(html.headers()[LOCATION], "/login?returnTo=%2Fprofile");
    let json = agent
        .request(Method::GET, &app.url("/profile"), "application/json")
        .await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    assert!(content_type(json.headers()).starts_with("application/json"));
    let body: Value = json.json().await.expect("401 json");
    assert_eq!(body["error"], "unauthenticated");

    // The whole login, back to /profile.
    let profile = agent.navigate(&app.url("/profile")).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.url.path(), "/profile", "{:?}", profile.trail);
    assert!(content_type(&profile.headers).starts_with("application/json"));
    let claims: Value = serde_json::from_str(&profile.body).expect("claims json");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], expect.issuer);
    let went_through_post = profile
        .trail
        .iter()
        .any(|u| u.path() == "/callback" && u.query().is_none());
    assert_eq!(went_through_post, expect.form_post, "{:?}", profile.trail);
    let home = agent.navigate(&app.url("/")).await;
    assert_eq!(home.body, "Signed in as alice");
    let copied = agent.cookie_header(&app.url("/")).expect("session cookie");

    // Signing out really ends the session: a copy of the cookie is refused.
    let out = agent.navigate(&app.url("/logout")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(out.body, "Signed out");
    assert_eq!(out.url.path(), "/");
    let through_op = out
        .trail
        .iter()
        .any(|u| u.origin() != url::Url::parse(&app.base).expect("base").origin());
    assert_eq!(through_op, expect.idp_logout, "{:?}", out.trail);
    let json = agent
        .request(Method::GET, &app.url("/profile"), "application/json")
        .await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    let replay = get_with_cookie(&app.url("/profile"), &copied, "application/json").await;
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "a copied cookie outlived the logout"
    );

    assert_route_contract(app).await;
}

/// The built-in routes' answers to hostile and wrong requests.
pub async fn assert_route_contract(app: &RunningExample) {
    let client = bare_client();

    // Each route accepts only its methods and says which.
    for (method, path, allow) in [
        (Method::PUT, "/login", "GET"),
        (Method::POST, "/login", "GET"),
        (Method::DELETE, "/callback", "GET, POST"),
        (Method::PUT, "/logout", "GET, POST"),
        (Method::GET, "/backchannel-logout", "POST"),
        (Method::POST, "/frontchannel-logout", "GET"),
    ] {
        let response = client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()[ALLOW], allow, "{method} {path}");
    }

    // An open redirect through returnTo is refused before anything is sent to the OP.
    for target in ["//evil.example", "https://evil.example/", "/\\evil.example"] {
        let mut url = url::Url::parse(&app.url("/login")).expect("url");
        url.query_pairs_mut().append_pair("returnTo", target);
        let response = client
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{target}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_return_to", "{target}");
    }

    // A callback nobody started: 400, no-store, nothing cached or referred.
    let response = client
        .get(app.url("/callback?code=stolen&state=forged"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    assert!(
        !body.to_string().contains("stolen"),
        "the code was echoed: {body}"
    );

    // A form_post callback larger than the engine reads: 413, not read whole.
    let huge = "x".repeat(portcullis::engine::MAX_ROUTE_BODY + 1);
    let response = client
        .post(app.url("/callback"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("state={huge}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Back-channel logout: no token, and garbage, are 400 JSON; a GET is 405 (above).
    let response = client
        .post(app.url("/backchannel-logout"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("bcl");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    let response = post_logout_token(&app.base, "not.a.jwt").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Front-channel logout: only the OP may frame it, and it is never cached.
    let response = client
        .get(app.url("/frontchannel-logout?iss=https%3A%2F%2Fother.example&sid=x"))
        .send()
        .await
        .expect("fcl");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a foreign iss");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(csp.contains("frame-ancestors"), "{csp:?}");
}

/// A back-channel logout token signed by the dev OP ends alice's session,
/// and is answered 200 `no-store`.
pub async fn assert_backchannel_logout_ends_the_session(app: &RunningExample, op: &RunningDevIdp) {
    let agent = Agent::browser();
    let profile = agent.navigate(&app.url("/profile")).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    let cookie = agent.cookie_header(&app.url("/")).expect("session cookie");
    let status = get_with_cookie(&app.url("/profile"), &cookie, "application/json")
        .await
        .status();
    assert_eq!(status, StatusCode::OK);

    let mut claims = logout_claims(op.issuer(), Some("alice"), None);
    claims["aud"] = CLIENT_ID.into();
    let response = post_logout_token(&app.base, &op.sign_logout_token(claims.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let status = get_with_cookie(&app.url("/profile"), &cookie, "application/json")
        .await
        .status();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session outlived its logout token"
    );
    // The same token again is a replay.
    let replay = post_logout_token(&app.base, &op.sign_logout_token(claims)).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

/// The contract of example `name` against the dev OP (query callback, local
/// logout), then back-channel logout.
pub async fn contract_against_dev_op(name: &str) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let op = dev_op_for(&base).await;
    let app = start_example(name, op.issuer(), port, &[]).await;
    assert_basic_contract(
        &app,
        Expect {
            issuer: op.issuer(),
            form_post: false,
            idp_logout: false,
        },
    )
    .await;
    assert_backchannel_logout_ends_the_session(&app, &op).await;
}

/// The contract of example `name` against `oidc-provider`: a form_post
/// callback (`RESPONSE_MODE=form_post`) and logout through the OP's
/// end-session endpoint (`IDP_LOGOUT=true`), back to `/` with its `state`.
pub async fn contract_against_oidc_provider(name: &str) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(op) = oidc_provider_for(&base).await else {
        return;
    };
    let app = start_example(
        name,
        &op.issuer,
        port,
        &[("RESPONSE_MODE", "form_post"), ("IDP_LOGOUT", "true")],
    )
    .await;
    assert_basic_contract(
        &app,
        Expect {
            issuer: &op.issuer,
            form_post: true,
            idp_logout: true,
        },
    )
    .await;
}

/// panva's `oidc-provider` from `interop/op.mjs` (see its contract there):
/// one `READY <issuer>` line on stdout, exits when stdin closes.
pub mod oidc_provider {
    use std::process::Stdio;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::{Child, Command};

    use crate::support::{skip_or_fail, workspace_root};

    /// A running `op.mjs`, killed on drop.
    pub struct Op {
        pub issuer: String,
        _child: Child,
    }

    /// Starts `op.mjs` on a free port with `clients` (a JSON array of client
    /// metadata); `None` after a loud skip (a failure under
    /// `PORTCULLIS_REQUIRE_ALL=1`) when Node or the npm packages are missing.
    pub async fn start(clients: serde_json::Value) -> Option<Op> {
        let interop = workspace_root().join("interop");
        if !interop.join("node_modules/oidc-provider").is_dir() {
            skip_or_fail("interop/node_modules is missing (run `npm ci` in interop/)");
            return None;
        }
        let mut child = match Command::new("node")
            .arg(interop.join("op.mjs"))
            .args(["--port", "0", "--clients"])
            .arg(clients.to_string())
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
}

/// The machine's Redis, shared by the replicas of the multi-replica case.
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// Whether the machine's Redis answers; a missing one fails in CI
/// (`PORTCULLIS_REQUIRE_ALL=1`) and skips loudly elsewhere.
pub fn redis_available() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        crate::support::skip_or_fail("Redis is not running on 127.0.0.1:6379");
    }
    up
}

/// Starts the example `name` on `port` with `BASE_URL` `base` (the load
/// balancer's address, shared by every replica) and the given stores.
fn replica(name: &str, port: u16, base: &str, issuer: &str, stores: &[(&str, &str)]) -> Child {
    let mut command = Command::new(example_binary(name));
    command
        .env("ISSUER_BASE_URL", issuer)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("BASE_URL", base)
        .env("SECRET", "multi-replica-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("SESSION_STORE")
        .env_remove("LOGOUT_STORE")
        .envs(stores.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
        .spawn()
        .unwrap_or_else(|e| panic!("start a replica of the {name} example: {e}"))
}

async fn wait_up(agent: &Agent, url: &str) {
    for _ in 0..150 {
        if agent.client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

async fn api_status(agent: &Agent, url: &str) -> StatusCode {
    agent
        .request(Method::GET, url, "application/json")
        .await
        .status()
}

/// Two replicas of example `name` behind one `BASE_URL`, sharing one Redis
/// through `stores`: a session made on B works on A, a back-channel logout
/// delivered to B ends it on A within a second, and a new login works.
pub async fn back_channel_logout_reaches_the_other_replica(name: &str, stores: &[(&str, &str)]) {
    let (port_a, port_b) = (free_port(), free_port());
    // The load balancer's address: the OP sends the browser and the
    // back-channel logout there (replica B); replica A shares the cookies.
    let base = format!("http://127.0.0.1:{port_b}");
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(
                DevClient::confidential(CLIENT_ID, CLIENT_SECRET, format!("{base}/callback"))
                    .with_post_logout_redirect_uri(format!("{base}/"))
                    .with_backchannel_logout_uri(format!("{base}/backchannel-logout")),
            )
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let _a = replica(name, port_a, &base, idp.issuer(), stores);
    let _b = replica(name, port_b, &base, idp.issuer(), stores);
    let agent = Agent::browser();
    let on_a = format!("http://127.0.0.1:{port_a}/profile");
    let on_b = format!("{base}/profile");
    wait_up(&agent, &format!("http://127.0.0.1:{port_a}/")).await;
    wait_up(&agent, &format!("{base}/")).await;

    // Log in through B, use the session on A.
    let profile = agent.navigate(&on_b).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(api_status(&agent, &on_a).await, StatusCode::OK);

    // The OP ends the session: the logout token goes to B only.
    assert_eq!(idp.end_sessions_of("alice").await, 1);
    let start = std::time::Instant::now();
    loop {
        let status = api_status(&agent, &on_a).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the session was still alive on A a second after the back-channel logout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(api_status(&agent, &on_b).await, StatusCode::UNAUTHORIZED);

    // A new login works, on both replicas.
    let again = agent.navigate(&on_b).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(api_status(&agent, &on_a).await, StatusCode::OK);
}
