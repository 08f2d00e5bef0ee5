//! Interop: the full browser-less login against panva's `oidc-provider` (an
//! OpenID-certified OP we did not write), started from `interop/op.mjs` on a
//! free loopback port. Query and form_post, RS256 and ES256 ID tokens; and
//! Back-Channel Logout 1.0, delivered by oidc-provider itself when a session
//! ends at the OP (oidc-provider 9 has no Front-Channel Logout).
//!
//! Needs `node` and `interop/node_modules` (`scripts/test` installs them). It
//! skips loudly when they are missing, and fails under `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis::{LogoutTokenInfo, OidcLayer, ResponseMode, Tokens, User};
use reqwest::{Method, StatusCode};
use support::{Agent, bind_loopback, rp, serve, skip_or_fail, workspace_root};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

struct Op {
    issuer: String,
    /// What op.mjs wrote on stderr (each line is also echoed to ours).
    log: OpLog,
    _child: Child,
}

impl Op {
    /// Whether `url` is on the OP (same origin as the issuer).
    fn owns(&self, url: &Url) -> bool {
        same_origin(url, &self.issuer)
    }

    /// The OP's discovery document.
    async fn discovery(&self) -> serde_json::Value {
        reqwest::get(format!("{}/.well-known/openid-configuration", self.issuer))
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery json")
    }
}

/// Whether `url` has the origin of `base` (scheme, host and port).
fn same_origin(url: &Url, base: &str) -> bool {
    url.origin() == Url::parse(base).expect("base url").origin()
}

/// The lines op.mjs writes on stderr, collected as they arrive.
#[derive(Clone, Default)]
struct OpLog(Arc<Mutex<Vec<String>>>);

impl OpLog {
    fn push(&self, line: String) {
        self.0.lock().expect("op log").push(line);
    }

    /// The lines that contain `needle`.
    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("op log")
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }

    /// Waits up to `within` until `count` lines contain `needle`.
    async fn wait_for(&self, needle: &str, count: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let lines = self.lines_with(needle);
            if lines.len() >= count || tokio::time::Instant::now() >= deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
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
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            skip_or_fail(&format!("node could not be started: {error}"));
            return None;
        }
    };
    let log = OpLog::default();
    let stderr = child.stderr.take().expect("piped stderr");
    let collector = log.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
            collector.push(line);
        }
    });
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
        log,
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
        out.trail.iter().any(|u| op.owns(u)),
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

// ------------------------------------------------- Back-Channel Logout 1.0

/// The client secret of the back-channel logout tests' clients.
const BCL_SECRET: &str = "interop-bcl-secret-0123456789";

/// Whether the client asks for `sid` in its ID and logout tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sid {
    /// `backchannel_logout_session_required: true`: the logout token names the OP session.
    Required,
    /// No `sid` anywhere: the logout token names only `sub`.
    NotRequired,
}

/// oidc-provider client metadata for an RP at `base` that receives
/// back-channel logout at `{base}/backchannel-logout`.
fn bcl_client(client_id: &str, base: &str, sid: Sid) -> serde_json::Value {
    serde_json::json!({
        "client_id": client_id,
        "client_secret": BCL_SECRET,
        "redirect_uris": [format!("{base}/callback")],
        "post_logout_redirect_uris": [format!("{base}/")],
        "backchannel_logout_uri": format!("{base}/backchannel-logout"),
        "backchannel_logout_session_required": sid == Sid::Required,
    })
}

/// A relying party served by the test: its base URL and every logout token
/// it accepted (the `on_logout_token` hook runs only for a token that passed
/// every check of BCL §2.6 and was recorded, i.e. one answered with 200).
struct App {
    base: String,
    accepted: Arc<Mutex<Vec<LogoutTokenInfo>>>,
}

impl App {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn accepted(&self) -> Vec<LogoutTokenInfo> {
        self.accepted.lock().expect("accepted").clone()
    }
}

/// Serves [`rp::app_routes`] at `site` behind an `OidcLayer` signing in at
/// `op` as `client_id` (query mode, IdP logout on). `cookie` names its
/// session cookie, so that two apps on 127.0.0.1 (one cookie jar per host,
/// as in browsers) keep apart.
async fn start_app(site: rp::Site, op: &Op, client_id: &str, cookie: &str) -> App {
    let accepted: Arc<Mutex<Vec<LogoutTokenInfo>>> = Arc::default();
    let recorder = accepted.clone();
    let layer = OidcLayer::builder()
        .issuer_base_url(op.issuer.clone())
        .client_id(client_id)
        .client_secret(BCL_SECRET)
        .base_url(site.base.clone())
        .secret(rp::SECRET)
        .session_cookie_name(cookie)
        .response_mode(ResponseMode::Query)
        .auth_required(false)
        .idp_logout(true)
        .on_logout_token(move |info| {
            let recorder = recorder.clone();
            async move { recorder.lock().expect("accepted").push(info) }
        })
        .build()
        .await
        .expect("discovery against oidc-provider");
    serve(site.listener, rp::app_routes().layer(layer));
    App {
        base: site.base,
        accepted,
    }
}

/// One oidc-provider with one back-channel logout client, `portcullis`, and
/// its app (None when skipped).
async fn one_app(sid: Sid) -> Option<(Op, App)> {
    let site = rp::site().await;
    let op = start_op(
        serde_json::json!([bcl_client("portcullis", &site.base, sid)]),
        &[],
    )
    .await?;
    let app = start_app(site, &op, "portcullis", "portcullis.session").await;
    Some((op, app))
}

/// What a signed-in browser knows: the session as `/session` shows it, and
/// the `Cookie` header it sends to the app (what an attacker would copy).
struct Session {
    sid: Option<String>,
    cookie: String,
}

/// Signs `agent` in at `app` through oidc-provider, as alice.
async fn sign_in(agent: &Agent, op: &Op, app: &App) -> Session {
    let landing = agent.navigate(&app.url("/login?returnTo=%2Fsession")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(same_origin(&landing.url, &app.base), "{:?}", landing.trail);
    assert_eq!(landing.url.path(), "/session", "{:?}", landing.trail);
    assert!(
        landing.trail.iter().any(|u| op.owns(u)),
        "signed in through oidc-provider: {:?}",
        landing.trail
    );
    let session: serde_json::Value = serde_json::from_str(&landing.body).expect("session json");
    assert_eq!(session["sub"], "alice");
    assert_eq!(session["iss"], op.issuer.as_str());
    let cookie = agent
        .cookie_header(&app.url("/"))
        .expect("the browser holds a session cookie");
    rp::assert_signed_in(&app.base, &cookie, "just signed in").await;
    Session {
        sid: session["sid"].as_str().map(str::to_owned),
        cookie,
    }
}

/// Waits up to a second for `cookie` to be refused at `app` (401 JSON on a
/// protected route, from a fresh client replaying the copied header).
async fn assert_dies_within_a_second(app: &App, cookie: &str, why: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while rp::profile_status(&app.base, cookie).await != StatusCode::UNAUTHORIZED
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rp::assert_signed_out(&app.base, cookie, why).await;
}

/// Asserts that oidc-provider delivered one back-channel logout to
/// `client_id` and saw the app answer it with 200 or 204 (it logs
/// `backchannel.success` only then), and that no delivery failed.
async fn assert_op_delivered_backchannel_logout(op: &Op, client_id: &str) {
    let success = format!("op.mjs: backchannel.success: {client_id}");
    let delivered = op.log.wait_for(&success, 1, Duration::from_secs(2)).await;
    assert_eq!(
        delivered.len(),
        1,
        "oidc-provider must report one accepted back-channel logout to {client_id}; \
         its back-channel log: {:?}",
        op.log.lines_with("backchannel")
    );
    assert_eq!(
        op.log.lines_with("backchannel.error"),
        Vec::<String>::new(),
        "no back-channel logout may fail"
    );
}

/// Asserts that `app` accepted exactly one logout token, from `op`, for
/// alice's session `session` (by its `sid`, or by `sub` alone when the
/// session has none).
fn assert_accepted_one_logout_token(app: &App, op: &Op, session: &Session) {
    let accepted = app.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].iss, op.issuer);
    assert_eq!(accepted[0].sub.as_deref(), Some("alice"));
    assert_eq!(accepted[0].sid, session.sid, "the logout token's sid");
}

/// RP-initiated logout through the app's `/logout` (IdP logout on): the
/// browser goes to oidc-provider's end_session_endpoint with
/// `id_token_hint`, `post_logout_redirect_uri` and `state`, submits the
/// confirmation form as a browser would (its `xsrf` field included), and
/// oidc-provider POSTs a logout token to the app's `/backchannel-logout`
/// before it sends the browser back. The local logout alone would already
/// end this session; what this test adds is that oidc-provider's logout
/// token was delivered, accepted (200) and named this very session.
#[tokio::test]
async fn oidc_provider_backchannel_logout_after_rp_initiated_logout_ends_the_session() {
    let Some((op, app)) = one_app(Sid::Required).await else {
        return;
    };
    let agent = Agent::browser();
    let session = sign_in(&agent, &op, &app).await;
    assert!(
        session.sid.is_some(),
        "oidc-provider puts sid in the ID token of a client with backchannel_logout_session_required"
    );

    let out = agent.navigate(&app.url("/logout")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(out.body, "Signed out");
    assert!(same_origin(&out.url, &app.base), "{:?}", out.trail);
    let end_session = out
        .trail
        .iter()
        .find(|u| op.owns(u) && u.path() == "/session/end")
        .unwrap_or_else(|| panic!("logout went to the end_session_endpoint: {:?}", out.trail));
    let params: std::collections::HashMap<_, _> = end_session.query_pairs().collect();
    assert!(params.contains_key("id_token_hint"), "{end_session}");
    assert!(params.contains_key("state"), "{end_session}");
    assert_eq!(
        params.get("post_logout_redirect_uri").map(|v| v.as_ref()),
        Some(app.url("/").as_str())
    );
    assert!(
        out.trail
            .iter()
            .any(|u| op.owns(u) && u.path() == "/session/end/confirm"),
        "the confirmation form was submitted: {:?}",
        out.trail
    );

    assert_op_delivered_backchannel_logout(&op, "portcullis").await;
    assert_accepted_one_logout_token(&app, &op, &session);
    rp::assert_signed_out(&app.base, &session.cookie, "RP-initiated logout").await;
}

/// The variant that proves the back channel ends the session: alice signs
/// out at oidc-provider itself (its end_session_endpoint, visited directly,
/// no `id_token_hint`; the app is never asked), and the app's session dies
/// within a second because oidc-provider POSTed a logout token naming its
/// `sid`. A fresh client replaying the copied session cookie gets 401.
#[tokio::test]
async fn oidc_provider_backchannel_logout_when_alice_signs_out_at_the_op_ends_the_session() {
    signing_out_at_the_op_ends_the_session(Sid::Required).await;
}

/// As above for a client without `backchannel_logout_session_required`: no
/// `sid` in the ID token nor in the logout token, which names alice by `sub`
/// and ends her sessions that started before it.
#[tokio::test]
async fn oidc_provider_backchannel_logout_by_sub_alone_ends_the_session() {
    signing_out_at_the_op_ends_the_session(Sid::NotRequired).await;
}

async fn signing_out_at_the_op_ends_the_session(sid: Sid) {
    let Some((op, app)) = one_app(sid).await else {
        return;
    };
    let agent = Agent::browser();
    let session = sign_in(&agent, &op, &app).await;
    assert_eq!(
        session.sid.is_some(),
        sid == Sid::Required,
        "sid in the ID token"
    );

    let end_session_endpoint = op.discovery().await["end_session_endpoint"]
        .as_str()
        .expect("end_session_endpoint")
        .to_owned();
    let out = agent.navigate(&end_session_endpoint).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(
        op.owns(&out.url) && out.url.path() == "/session/end/success",
        "{:?}",
        out.trail
    );
    assert!(out.body.contains("Signed out"), "{}", out.body);
    assert!(
        out.trail.iter().all(|u| op.owns(u)),
        "the browser never went to the app: {:?}",
        out.trail
    );

    assert_dies_within_a_second(&app, &session.cookie, "alice signed out at the OP").await;
    assert_op_delivered_backchannel_logout(&op, "portcullis").await;
    assert_accepted_one_logout_token(&app, &op, &session);
    // The browser itself is signed out of the app too.
    let home = agent.navigate(&app.url("/")).await;
    assert_eq!(home.body, "Signed out");
}

/// Single logout: alice is signed in at two apps through one oidc-provider
/// session. Her RP-initiated logout at app A ends the OP session, and
/// oidc-provider back-channels both apps: app B, which saw no request at
/// all, ends its session (by B's own `sid`).
#[tokio::test]
async fn oidc_provider_rp_initiated_logout_at_one_app_ends_the_other_apps_session_by_backchannel() {
    let (site_a, site_b) = (rp::site().await, rp::site().await);
    let Some(op) = start_op(
        serde_json::json!([
            bcl_client("app-a", &site_a.base, Sid::Required),
            bcl_client("app-b", &site_b.base, Sid::Required),
        ]),
        &[],
    )
    .await
    else {
        return;
    };
    let a = start_app(site_a, &op, "app-a", "a.session").await;
    let b = start_app(site_b, &op, "app-b", "b.session").await;
    let agent = Agent::browser();
    let at_a = sign_in(&agent, &op, &a).await;
    let at_b = sign_in(&agent, &op, &b).await;
    assert_ne!(
        at_a.sid, at_b.sid,
        "oidc-provider gives each client its own sid"
    );
    rp::assert_signed_in(&a.base, &at_a.cookie, "signing in at B keeps A").await;

    let out = agent.navigate(&a.url("/logout")).await;
    assert_eq!(out.body, "Signed out", "{:?}", out.trail);
    assert!(
        out.trail.iter().all(|u| !same_origin(u, &b.base)),
        "the browser never went to B: {:?}",
        out.trail
    );

    assert_dies_within_a_second(&b, &at_b.cookie, "single logout from A").await;
    rp::assert_signed_out(&a.base, &at_a.cookie, "RP-initiated logout").await;
    assert_op_delivered_backchannel_logout(&op, "app-a").await;
    assert_op_delivered_backchannel_logout(&op, "app-b").await;
    assert_accepted_one_logout_token(&a, &op, &at_a);
    assert_accepted_one_logout_token(&b, &op, &at_b);
}

/// What oidc-provider 9 offers for logout, and what it does not: discovery
/// advertises back-channel logout (with sid) and RP-initiated logout, and
/// no front-channel logout (oidc-provider 9 has no such feature, so there is
/// no OP logout page with an iframe to `/frontchannel-logout` to test
/// against). op.mjs refuses a client that registers `frontchannel_logout_uri`
/// instead of silently dropping it. If this fails because
/// `frontchannel_logout_supported` appeared, enable it in op.mjs and test
/// the iframe.
#[tokio::test]
async fn oidc_provider_offers_backchannel_and_no_frontchannel_logout() {
    let site = rp::site().await;
    let Some(op) = start_op(
        serde_json::json!([bcl_client("portcullis", &site.base, Sid::Required)]),
        &[],
    )
    .await
    else {
        return;
    };
    let discovery = op.discovery().await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    assert!(discovery["end_session_endpoint"].is_string());
    assert_eq!(
        discovery.get("frontchannel_logout_supported"),
        None,
        "oidc-provider now offers front-channel logout: {discovery}"
    );

    let mut client = bcl_client("portcullis", &site.base, Sid::Required);
    client["frontchannel_logout_uri"] = format!("{}/frontchannel-logout", site.base).into();
    let refused = Command::new("node")
        .arg(workspace_root().join("interop/op.mjs"))
        .arg("--port")
        .arg("0")
        .arg("--clients")
        .arg(serde_json::json!([client]).to_string())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(refused.stdout.is_empty(), "no READY line");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("has no Front-Channel Logout"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
