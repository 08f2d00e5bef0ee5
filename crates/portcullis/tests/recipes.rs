//! Every recipe in `examples/` runs as its own binary against the dev OP,
//! configured only by the environment (as the README says), and does what
//! its scenario promises. The startup errors a newcomer can meet are checked
//! on the `basic` binary: one readable paragraph, every problem named, the
//! fix at the end, exit status 1.
//!
//! Run `cargo build -p portcullis --examples` first when running a single
//! test (`cargo test` builds the examples itself).

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::header::{ACCEPT, COOKIE, LOCATION};
use reqwest::{Method, StatusCode};
use support::{Agent, Landing};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CLIENT_ID: &str = "app";
const CLIENT_SECRET: &str = "app-secret";
const SECRET: &str = "recipes-cookie-secret-0123456789abcdef";

fn example_binary(name: &str) -> std::path::PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p portcullis --examples` (cargo test builds them)",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running recipe: its base URL, its dev OP, and what it printed.
struct Recipe {
    base: String,
    idp: RunningDevIdp,
    stdout: Arc<Mutex<String>>,
    _child: Child,
}

impl Recipe {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn printed(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }
}

/// Starts the dev OP (with the `app` client registered for `callback_path`,
/// back-channel logout and `/` after logout; `configure` may change it) and
/// the example `name` configured by the environment.
async fn start(
    name: &str,
    callback_path: &str,
    configure: impl FnOnce(DevIdpConfig) -> DevIdpConfig,
    extra_env: &[(&str, &str)],
) -> Recipe {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client =
        DevClient::confidential(CLIENT_ID, CLIENT_SECRET, format!("{base}{callback_path}"))
            .with_post_logout_redirect_uri(format!("{base}/"))
            .with_post_logout_redirect_uri(format!("{base}/goodbye"))
            .with_backchannel_logout_uri(format!("{base}/backchannel-logout"));
    let idp = portcullis_devidp::start(
        configure(DevIdpConfig::new().with_client(client)),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let mut command = Command::new(example_binary(name));
    command
        .env("ISSUER_BASE_URL", idp.issuer())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("BASE_URL", &base)
        .env("SECRET", SECRET)
        .env("PORT", port.to_string())
        .env_remove("HOST")
        .env_remove("SESSION_STORE")
        .env_remove("LOGOUT_STORE")
        .env_remove("IDP_LOGOUT")
        .env_remove("AUTH_REQUIRED");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start the {name} example: {e}"));
    let stdout = Arc::new(Mutex::new(String::new()));
    if let Some(out) = child.stdout.take() {
        let sink = stdout.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().expect("stdout");
                text.push_str(&line);
                text.push('\n');
            }
        });
    }
    let probe = reqwest::Client::new();
    for _ in 0..150 {
        if probe.get(format!("{base}/")).send().await.is_ok() {
            return Recipe {
                base,
                idp,
                stdout,
                _child: child,
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the {name} example exited with {status} before listening");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {name} example did not start listening on {base}");
}

/// Navigates to `url`; if that lands on the dev OP's sign-in page, signs in
/// there as `user` and follows the way back.
async fn sign_in(agent: &Agent, recipe: &Recipe, url: &str, user: &str) -> Landing {
    let landing = agent.navigate(url).await;
    let issuer = recipe.idp.issuer();
    if !landing.url.as_str().starts_with(issuer) {
        return landing;
    }
    let request = hidden_value(&landing.body, "request")
        .unwrap_or_else(|| panic!("not the OP's sign-in page: {}", landing.body));
    let approved = agent
        .client
        .post(format!("{issuer}/authorize/approve"))
        .form(&[("request", request.as_str()), ("user", user)])
        .send()
        .await
        .expect("approve");
    assert!(approved.status().is_redirection(), "{}", approved.status());
    let location = approved.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    agent.navigate(&location).await
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

fn is_op_sign_in_page(recipe: &Recipe, landing: &Landing) -> bool {
    landing.url.as_str().starts_with(recipe.idp.issuer())
        && hidden_value(&landing.body, "request").is_some()
}

/// `GET url` as an API client carrying exactly `cookie`.
async fn api_status(url: &str, cookie: &str) -> StatusCode {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(url)
        .header(ACCEPT, "application/json")
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("request")
        .status()
}

/// POSTs an empty form to `url` from the app's own page and follows the redirects.
async fn post_and_follow(agent: &Agent, url: &str, origin: &str) -> Landing {
    let response = agent
        .client
        .post(url)
        .header("origin", origin)
        .header(ACCEPT, agent.accept)
        .form(&[("x", "1")])
        .send()
        .await
        .expect("post");
    assert!(
        response.status().is_redirection(),
        "POST {url}: {}",
        response.status()
    );
    let location = response.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let next = url::Url::parse(url)
        .and_then(|u| u.join(&location))
        .expect("location url");
    agent.navigate(next.as_str()).await
}

// ---------------------------------------------------------------------------
// express-openid-connect's scenarios
// ---------------------------------------------------------------------------

#[tokio::test]
async fn require_auth_routes_protects_only_the_account_pages() {
    let recipe = start("require_auth_routes", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    assert_eq!(agent.navigate(&recipe.url("/")).await.body, "Public home");
    assert_eq!(
        agent.navigate(&recipe.url("/about")).await.body,
        "Public about page"
    );
    let api = agent
        .request(
            Method::GET,
            &recipe.url("/account/settings"),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let landing = sign_in(&agent, &recipe, &recipe.url("/account/settings"), "alice").await;
    assert_eq!(landing.body, "Settings of alice", "{:?}", landing.trail);
    assert_eq!(
        agent.navigate(&recipe.url("/account")).await.body,
        "Account of alice"
    );
}

#[tokio::test]
async fn custom_routes_moves_login_and_callback_and_signs_out_at_the_op() {
    let recipe = start("custom_routes", "/auth/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    let moved = agent
        .request(Method::GET, &recipe.url("/login"), "text/html")
        .await;
    assert_eq!(
        moved.status(),
        StatusCode::NOT_FOUND,
        "/login moved to /sign-in"
    );
    let landing = sign_in(&agent, &recipe, &recipe.url("/sign-in"), "alice").await;
    assert!(
        landing.trail.iter().any(|u| u.path() == "/auth/callback"),
        "the callback is /auth/callback: {:?}",
        landing.trail
    );
    assert_eq!(landing.body, "Hello alice");
    // prompt=login: the OP asks again even with its session alive.
    let again = agent.navigate(&recipe.url("/sign-in-again")).await;
    assert!(is_op_sign_in_page(&recipe, &again), "{:?}", again.trail);
    let out = agent.navigate(&recipe.url("/sign-out")).await;
    assert!(
        out.trail
            .iter()
            .any(|u| u.as_str().starts_with(recipe.idp.issuer())),
        "signed out at the OP too: {:?}",
        out.trail
    );
    assert_eq!(out.body, "You are signed out.");
    assert_eq!(agent.navigate(&recipe.url("/")).await.body, "Signed out");
}

#[tokio::test]
async fn access_token_calls_the_api_and_reads_userinfo() {
    let recipe = start("access_token", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    let landing = sign_in(&agent, &recipe, &recipe.url("/api-call"), "alice").await;
    assert!(
        landing
            .body
            .starts_with("calling the API with the current access token ("),
        "{}",
        landing.body
    );
    let userinfo = agent.navigate(&recipe.url("/userinfo")).await;
    let claims: serde_json::Value = serde_json::from_str(&userinfo.body).expect("userinfo json");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
}

#[tokio::test]
async fn access_token_refreshes_an_expired_access_token() {
    let recipe = start(
        "access_token",
        "/callback",
        |c| c.with_access_token_ttl_secs(1),
        &[],
    )
    .await;
    let agent = Agent::browser();
    sign_in(&agent, &recipe, &recipe.url("/userinfo"), "alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refreshed = agent.navigate(&recipe.url("/api-call")).await;
    assert!(
        refreshed
            .body
            .starts_with("refreshed; calling the API with the new token ("),
        "{}",
        refreshed.body
    );
    assert!(!refreshed.body.contains("(0 bytes)"), "{}", refreshed.body);
}

#[tokio::test]
async fn auto_refresh_hands_the_handler_a_fresh_token() {
    let recipe = start(
        "auto_refresh",
        "/callback",
        |c| c.with_access_token_ttl_secs(2),
        &[],
    )
    .await;
    let agent = Agent::browser();
    let first = sign_in(&agent, &recipe, &recipe.url("/token"), "alice").await;
    let first: serde_json::Value = serde_json::from_str(&first.body).expect("json");
    // A 2 s token is always within the minute before expiry: every request
    // after the first refreshes it, and the handler never sees it expired.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = agent.navigate(&recipe.url("/token")).await;
    let later: serde_json::Value = serde_json::from_str(&later.body).expect("json");
    assert_eq!(later["expired"], false, "{later}");
    assert_ne!(later["token_tail"], first["token_tail"], "a new token");
}

#[tokio::test]
async fn claims_and_hooks_guards_by_claims_and_refuses_unverified_emails() {
    let recipe = start("claims_and_hooks", "/callback", |c| c, &[]).await;
    let alice = Agent::browser();
    let landing = sign_in(&alice, &recipe, &recipe.url("/"), "alice").await;
    assert_eq!(landing.body, "Hello alice");
    assert_eq!(
        alice.navigate(&recipe.url("/admin")).await.body,
        "admins only"
    );
    assert_eq!(
        alice.navigate(&recipe.url("/verified")).await.body,
        "verified emails only"
    );
    let denied = alice.navigate(&recipe.url("/example-org")).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        denied
            .body
            .contains("You don&#39;t have access to this page"),
        "{}",
        denied.body
    );
    assert!(
        denied.body.contains("@example.org"),
        "the rule: {}",
        denied.body
    );

    // bob's email is not verified: the after_callback hook refuses him.
    let bob = Agent::browser();
    let refused = sign_in(&bob, &recipe, &recipe.url("/"), "bob").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Sign-in was refused"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("Please verify your email address first."),
        "{}",
        refused.body
    );
    let api = bob
        .request(Method::GET, &recipe.url("/"), "application/json")
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED, "no session for bob");
}

// ---------------------------------------------------------------------------
// @okta/oidc-middleware's scenarios
// ---------------------------------------------------------------------------

#[tokio::test]
async fn okta_style_custom_login_page_moved_callback_user_context_and_local_logout() {
    let recipe = start("okta_style", "/authorization-code/callback", |c| c, &[]).await;
    assert!(
        recipe.printed().contains("ready"),
        "readiness is printed once discovery is done: {}",
        recipe.printed()
    );
    let agent = Agent::browser();
    assert_eq!(
        agent.navigate(&recipe.url("/")).await.body,
        "Not signed in: open /login"
    );
    // ensureAuthenticated({ redirectTo: '/login' }): the custom page first.
    let first = agent
        .request(Method::GET, &recipe.url("/account"), "text/html")
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()[LOCATION], "/login?returnTo=%2Faccount");
    let page = agent
        .navigate(&recipe.url("/login?returnTo=%2Faccount"))
        .await;
    assert!(page.body.contains("Welcome back"), "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/authorization-code/login?returnTo=%2Faccount\""),
        "{}",
        page.body
    );
    let landing = sign_in(
        &agent,
        &recipe,
        &recipe.url("/authorization-code/login?returnTo=%2Faccount"),
        "alice",
    )
    .await;
    assert!(
        landing
            .trail
            .iter()
            .any(|u| u.path() == "/authorization-code/callback"),
        "{:?}",
        landing.trail
    );
    assert_eq!(landing.body, "Account of alice");
    // req.userContext
    assert_eq!(
        agent.navigate(&recipe.url("/")).await.body,
        "Hello Alice Example (alice@example.com)"
    );
    // ensureAuthenticated(): straight to the OP when signed out; fine when signed in.
    assert_eq!(
        agent.navigate(&recipe.url("/protected")).await.body,
        "Protected page of alice"
    );
    // req.logout(): this app only.
    let out = post_and_follow(&agent, &recipe.url("/local-logout"), &recipe.base).await;
    assert_eq!(out.body, "Not signed in: open /login");
    let api = agent
        .request(Method::GET, &recipe.url("/account"), "application/json")
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn okta_style_readiness_is_startup_validation_an_unreachable_op_stops_the_start() {
    let port = free_port();
    let output = Command::new(example_binary("okta_style"))
        .env(
            "ISSUER_BASE_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("SECRET", SECRET)
        .env("PORT", port.to_string())
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("ready"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is the OP running at"), "{stderr}");
}

// ---------------------------------------------------------------------------
// Passport's scenario and the forum's
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_at_callback_sees_the_id_and_access_tokens_in_the_hook() {
    let recipe = start("tokens_at_callback", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    sign_in(&agent, &recipe, &recipe.url("/tokens"), "alice").await;
    let home = agent.navigate(&recipe.url("/")).await;
    assert!(
        home.body
            .contains("At callback time the app saw an ID token for sub alice ("),
        "{}",
        home.body
    );
    assert!(home.body.contains("and an access token ("), "{}", home.body);
    let tokens = agent.navigate(&recipe.url("/tokens")).await;
    let value: serde_json::Value = serde_json::from_str(&tokens.body).expect("json");
    assert!(value["id_token_bytes"].as_u64().unwrap_or(0) > 0, "{value}");
    assert!(
        value["access_token_bytes"].as_u64().unwrap_or(0) > 0,
        "{value}"
    );
    assert_eq!(value["has_refresh_token"], true, "{value}");
}

#[tokio::test]
async fn logout_for_real_ends_the_session_here_and_at_the_op() {
    let recipe = start("logout_for_real", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    let landing = sign_in(&agent, &recipe, &recipe.url("/profile"), "alice").await;
    assert_eq!(landing.body, "Profile of alice");
    let copied = agent.cookie_header(&recipe.url("/")).expect("cookie");
    let out = post_and_follow(&agent, &recipe.url("/logout"), &recipe.base).await;
    assert!(
        out.trail
            .iter()
            .any(|u| u.as_str().starts_with(recipe.idp.issuer())),
        "through the OP's end_session_endpoint: {:?}",
        out.trail
    );
    assert!(out.body.contains("Signed out"), "{}", out.body);
    assert_eq!(
        api_status(&recipe.url("/profile"), &copied).await,
        StatusCode::UNAUTHORIZED,
        "a copy of the old cookie is refused"
    );
    // The OP session is gone too: signing in asks again.
    let again = agent.navigate(&recipe.url("/login")).await;
    assert!(is_op_sign_in_page(&recipe, &again), "{:?}", again.trail);
}

#[tokio::test]
async fn logout_for_real_back_channel_logout_from_the_op_ends_the_session() {
    let recipe = start("logout_for_real", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    sign_in(&agent, &recipe, &recipe.url("/profile"), "alice").await;
    let cookie = agent.cookie_header(&recipe.url("/")).expect("cookie");
    assert_eq!(
        api_status(&recipe.url("/profile"), &cookie).await,
        StatusCode::OK
    );
    assert_eq!(recipe.idp.end_sessions_of("alice").await, 1, "delivered");
    assert_eq!(
        api_status(&recipe.url("/profile"), &cookie).await,
        StatusCode::UNAUTHORIZED,
        "the OP ended the session without the browser"
    );
    for _ in 0..50 {
        if recipe
            .printed()
            .contains("back-channel logout: sub Some(\"alice\")")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the on_logout_token hook did not run: {}", recipe.printed());
}

#[tokio::test]
async fn logout_for_real_signing_out_here_only_keeps_the_op_session() {
    let recipe = start("logout_for_real", "/callback", |c| c, &[]).await;
    let agent = Agent::browser();
    sign_in(&agent, &recipe, &recipe.url("/profile"), "alice").await;
    let out = post_and_follow(&agent, &recipe.url("/sign-out-here"), &recipe.base).await;
    assert!(out.body.contains("Signed out"), "{}", out.body);
    // The OP still knows alice: signing in again needs no user choice.
    let again = agent
        .navigate(&recipe.url("/login?returnTo=%2Fprofile"))
        .await;
    assert_eq!(again.body, "Profile of alice", "{:?}", again.trail);
}

#[tokio::test]
async fn a_wrong_client_secret_is_logged_at_warn_with_the_fix_and_the_page_says_what_next() {
    let recipe = start(
        "basic",
        "/callback",
        |c| c.with_auto_approve("alice"),
        &[("CLIENT_SECRET", "not-the-registered-secret")],
    )
    .await;
    let agent = Agent::browser();
    let page = agent
        .navigate(&recipe.url("/login?returnTo=%2Fprofile"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(
        page.body.contains("Sign-in could not be completed"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sign in again"), "{}", page.body);
    assert!(
        !page.body.contains("not-the-registered-secret"),
        "{}",
        page.body
    );
    for _ in 0..50 {
        let log = recipe.printed();
        if log.contains("check CLIENT_SECRET") {
            assert!(log.contains("WARN"), "logged at WARN: {log}");
            assert!(!log.contains("not-the-registered-secret"), "{log}");
            assert!(!log.contains('\x1b'), "no colour when piped: {log:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no WARN with the hint: {}", recipe.printed());
}

// ---------------------------------------------------------------------------
// Startup errors (the `basic` binary, as a newcomer runs it)
// ---------------------------------------------------------------------------

/// Runs `basic` with exactly `env` and returns its exit code and stderr.
async fn basic_with(env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut command = Command::new(example_binary("basic"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("basic exits")
        .expect("run basic");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_readable(stderr: &str) {
    for debug_form in ["Missing(", "Invalid {", "Os {", "Discovery {", "kind:"] {
        assert!(
            !stderr.contains(debug_form),
            "Debug form {debug_form:?}: {stderr}"
        );
    }
    assert!(
        !stderr.contains('\x1b'),
        "no ANSI colour when piped: {stderr:?}"
    );
}

#[tokio::test]
async fn a_bare_start_names_every_missing_setting_at_once_and_exits_1() {
    let (code, stderr) = basic_with(&[("AUTH_REQUIRED", "maybe".into())]).await;
    assert_eq!(code, Some(1), "{stderr}");
    for name in [
        "ISSUER_BASE_URL",
        "CLIENT_ID",
        "BASE_URL",
        "SECRET",
        "AUTH_REQUIRED",
    ] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    assert!(stderr.contains("\"maybe\""), "{stderr}");
    assert!(
        stderr.contains("portcullis idp"),
        "ends with the fix: {stderr}"
    );
    assert_readable(&stderr);
}

#[tokio::test]
async fn startup_tells_a_refused_connection_and_a_trailing_slash_mismatch_apart() {
    let base = [
        ("CLIENT_ID", CLIENT_ID.to_owned()),
        ("CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("BASE_URL", "http://127.0.0.1:3999".to_owned()),
        ("SECRET", SECRET.to_owned()),
        ("PORT", free_port().to_string()),
    ];
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let mut env = base.to_vec();
    env.push(("ISSUER_BASE_URL", nobody.clone()));
    let (code, stderr) = basic_with(&env).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("is the OP running at {nobody}?")),
        "{stderr}"
    );
    assert_readable(&stderr);

    let idp = portcullis_devidp::start(DevIdpConfig::new(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("dev idp");
    let mut env = base.to_vec();
    env.push(("ISSUER_BASE_URL", format!("{}/", idp.issuer())));
    let (code, stderr) = basic_with(&env).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("remove the trailing slash"), "{stderr}");
    assert!(
        stderr.contains(&format!("ISSUER_BASE_URL={}.", idp.issuer())),
        "the exact fix: {stderr}"
    );
    assert_readable(&stderr);
}

#[tokio::test]
async fn a_busy_port_names_the_port_and_how_to_pick_another() {
    let idp = portcullis_devidp::start(
        DevIdpConfig::new().with_client(DevClient::confidential(
            CLIENT_ID,
            CLIENT_SECRET,
            "http://127.0.0.1:3999/callback",
        )),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (code, stderr) = basic_with(&[
        ("ISSUER_BASE_URL", idp.issuer().to_owned()),
        ("CLIENT_ID", CLIENT_ID.to_owned()),
        ("CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("BASE_URL", "http://127.0.0.1:3999".to_owned()),
        ("SECRET", SECRET.to_owned()),
        ("PORT", port.to_string()),
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("set PORT"), "{stderr}");
    assert_readable(&stderr);
    drop(taken);
}
