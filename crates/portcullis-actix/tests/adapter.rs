//! The actix-web adapter's glue, against a real dev OP and a real actix-web
//! server on loopback: guards, extractors, the `Oidc` handle (login,
//! refresh, local logout), `auth_required`, server-side sessions, and what
//! happens without the middleware.

#[path = "../../portcullis/tests/support/mod.rs"]
mod support;

use actix_web::{App, HttpResponse, HttpServer, web};
use portcullis::OidcLayerBuilder;
use portcullis_actix::{
    Error, LoginOptions, Oidc, OidcMiddleware, Tokens, User, claim_check, claim_equals,
    claim_includes, requires_auth,
};
use portcullis_devidp::DevIdpConfig;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use support::Agent;
use support::rp::{
    CLIENT_ID, assert_signed_in, assert_signed_out, bare_client, dev_client, get_with_cookie,
    rp_builder, set_cookies, sign_in_as, start_idp,
};

async fn home(user: Option<User>) -> String {
    match user {
        Some(user) => format!("Signed in as {}", user.sub()),
        None => "Signed out".to_owned(),
    }
}

async fn profile(user: User) -> HttpResponse {
    HttpResponse::Ok().json(user.claims())
}

async fn session(user: User, tokens: Tokens) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": user.sub(),
        "iss": user.iss(),
        "sid": user.session().sid(),
        "id_token": tokens.id_token(),
        "access_token": tokens.access_token(),
        "refresh_token": tokens.refresh_token(),
    }))
}

async fn refresh(oidc: Oidc) -> Result<HttpResponse, Error> {
    let update = oidc.refresh().await?;
    let mut response = HttpResponse::Ok().body("Refreshed");
    update.apply_to(&mut response);
    Ok(response)
}

async fn refresh_or_reject(oidc: Oidc) -> HttpResponse<bytes::Bytes> {
    match oidc.refresh().await {
        Ok(update) => {
            let mut response = HttpResponse::with_body(
                actix_web::http::StatusCode::OK,
                bytes::Bytes::from_static(b"Refreshed"),
            );
            update.apply_to(&mut response);
            response
        }
        Err(error) => oidc.reject(&error),
    }
}

async fn local_logout(oidc: Oidc) -> Result<HttpResponse, Error> {
    let update = oidc.logout_local().await?;
    let mut response = HttpResponse::Ok().body("Signed out locally");
    update.apply_to(&mut response);
    Ok(response)
}

async fn own_callback(
    oidc: Oidc,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> HttpResponse<bytes::Bytes> {
    oidc.callback(&request, payload).await
}

async fn sign_in_here(oidc: Oidc) -> HttpResponse<bytes::Bytes> {
    oidc.login(LoginOptions::returning_to("/session")).await
}

/// The routes of `crates/portcullis/tests/support/mod.rs`'s `app_routes`,
/// in actix-web, plus guarded ones.
fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(home))
        .service(
            web::resource("/profile")
                .wrap(requires_auth())
                .route(web::get().to(profile)),
        )
        .route("/session", web::get().to(session))
        .route("/refresh", web::get().to(refresh))
        .route("/refresh-or-reject", web::get().to(refresh_or_reject))
        .route("/local-logout", web::get().to(local_logout))
        .route("/sign-in-here", web::get().to(sign_in_here))
        .route("/callback", web::route().to(own_callback))
        .service(
            web::scope("/admin")
                .wrap(claim_includes("groups", ["admin"]))
                .route("", web::get().to(|| async { "admin area" })),
        )
        .service(
            web::resource("/verified")
                .wrap(claim_equals("email_verified", true))
                .route(web::get().to(|| async { "verified" })),
        )
        .service(
            web::resource("/en-gb")
                .wrap(claim_check("must use the en-GB locale", |claims| {
                    claims.get("locale") == Some(&json!("en-GB"))
                }))
                .route(web::get().to(|| async { "cheerio" })),
        );
}

/// Serves the actix-web app with the middleware `builder` builds at a free
/// port (whose base URL the builder must already use).
async fn serve(listener: std::net::TcpListener, builder: OidcLayerBuilder) {
    let oidc = OidcMiddleware::from_builder(builder)
        .await
        .expect("middleware");
    let server = HttpServer::new(move || App::new().wrap(oidc.clone()).configure(routes))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    actix_web::rt::spawn(server);
}

struct Env {
    base: String,
    idp: portcullis_devidp::RunningDevIdp,
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn start(configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder) -> Env {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let idp = start_idp(DevIdpConfig::new().with_client(dev_client(CLIENT_ID, &base))).await;
    serve(
        listener,
        configure(rp_builder(idp.issuer(), &base, CLIENT_ID)),
    )
    .await;
    Env { base, idp }
}

async fn status_of(url: &str, cookie: &str) -> StatusCode {
    get_with_cookie(url, cookie, "application/json")
        .await
        .status()
}

#[actix_web::test]
async fn claim_guards_admit_by_claim_and_refuse_others_with_a_403_that_names_the_rule() {
    // The dev OP releases `groups` for the `groups` scope.
    let env = start(|b| b.scope("openid profile email groups")).await;
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    let bob = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "bob").await;
    for path in ["/admin", "/verified", "/en-gb"] {
        assert_eq!(
            status_of(&env.url(path), &alice.cookie).await,
            StatusCode::OK,
            "{path}"
        );
        let refused = get_with_cookie(&env.url(path), &bob.cookie, "application/json").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = refused.json().await.expect("403 json");
        assert_eq!(body["error"], "forbidden", "{path}");
        let description = body["error_description"].as_str().unwrap_or("");
        assert!(
            !description.contains("bob"),
            "a claim's value leaked: {description}"
        );
    }
    let refused = get_with_cookie(&env.url("/en-gb"), &bob.cookie, "application/json").await;
    let body: Value = refused.json().await.expect("403 json");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("must use the en-GB locale")),
        "{body}"
    );
    // Signed out: browsers go to login and come back, APIs get 401.
    let browser = bare_client()
        .get(env.url("/admin?tab=users"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::FOUND);
    assert_eq!(
        browser.headers()[LOCATION],
        "/login?returnTo=%2Fadmin%3Ftab%3Dusers"
    );
    assert_eq!(
        status_of(&env.url("/admin"), "").await,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn refresh_through_the_handle_rewrites_the_session_cookie() {
    let env = start(|b| b).await;
    let agent = Agent::browser();
    let alice = sign_in_as(&agent, &env.base, env.idp.issuer(), "alice").await;
    let refreshed = agent
        .request(reqwest::Method::GET, &env.url("/refresh"), "text/plain")
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let cookies = set_cookies(&refreshed);
    assert!(
        cookies.iter().any(|c| c.starts_with("portcullis.session=")),
        "no new session cookie: {cookies:?}"
    );
    assert_eq!(refreshed.text().await.expect("body"), "Refreshed");
    // The agent stored the new cookie: its session carries the new tokens.
    let after = agent.navigate(&env.url("/session")).await;
    let after: Value = serde_json::from_str(&after.body).expect("session json");
    assert_eq!(after["sub"], "alice");
    assert_ne!(after["access_token"], json!(alice.access_token));
}

#[actix_web::test]
async fn a_local_logout_through_the_handle_ends_the_session_for_every_copy() {
    let env = start(|b| b).await;
    let agent = Agent::browser();
    let alice = sign_in_as(&agent, &env.base, env.idp.issuer(), "alice").await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;
    let out = agent.navigate(&env.url("/local-logout")).await;
    assert_eq!(out.body, "Signed out locally");
    assert_eq!(agent.navigate(&env.url("/")).await.body, "Signed out");
    assert_signed_out(
        &env.base,
        &alice.cookie,
        "a copy of the cookie after logout_local",
    )
    .await;
}

#[actix_web::test]
async fn a_login_started_by_a_handler_redirects_to_the_op_and_comes_back() {
    let env = start(|b| b).await;
    let start = bare_client()
        .get(env.url("/sign-in-here"))
        .send()
        .await
        .expect("request");
    assert_eq!(start.status(), StatusCode::FOUND);
    let location = start.headers()[LOCATION].to_str().expect("location");
    assert!(location.starts_with(env.idp.issuer()), "{location}");
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    assert!(
        start
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .any(|c| c.to_str().is_ok_and(|c| c.contains("HttpOnly"))),
        "no transaction cookie"
    );
}

#[actix_web::test]
async fn auth_required_protects_every_route_but_the_middlewares_own() {
    let env = start(|b| b.auth_required(true)).await;
    let browser = bare_client()
        .get(env.url("/"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::FOUND);
    assert_eq!(browser.headers()[LOCATION], "/login?returnTo=%2F");
    assert_eq!(status_of(&env.url("/"), "").await, StatusCode::UNAUTHORIZED);
    // The login route itself stays reachable.
    let login = bare_client()
        .get(env.url("/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::FOUND);
    let alice = sign_in_as(&Agent::browser(), &env.base, env.idp.issuer(), "alice").await;
    assert_eq!(
        status_of(&env.url("/"), &alice.cookie).await,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn server_side_sessions_work_through_the_adapter_and_die_at_logout() {
    let env = start(|b| {
        b.session_store(std::sync::Arc::new(
            portcullis::store::MemorySessionStore::default(),
        ))
    })
    .await;
    let agent = Agent::browser();
    let alice = sign_in_as(&agent, &env.base, env.idp.issuer(), "alice").await;
    assert_signed_in(&env.base, &alice.cookie, "server-side session").await;
    let out = agent.navigate(&env.url("/logout")).await;
    assert_eq!(out.body, "Signed out");
    assert_signed_out(&env.base, &alice.cookie, "after logout").await;
}

#[actix_web::test]
async fn without_the_middleware_extractors_and_guards_answer_500_layer_missing() {
    let app = actix_web::test::init_service(
        App::new()
            .route(
                "/user",
                web::get().to(|user: User| async move { user.sub().to_owned() }),
            )
            .route(
                "/maybe",
                web::get().to(|user: Option<User>| async move { format!("{}", user.is_some()) }),
            )
            .route("/oidc", web::get().to(|_: Oidc| async { "unreachable" }))
            .service(
                web::resource("/guarded")
                    .wrap(requires_auth())
                    .route(web::get().to(|| async { "unreachable" })),
            ),
    )
    .await;
    for path in ["/user", "/oidc", "/guarded"] {
        let request = actix_web::test::TestRequest::get()
            .uri(path)
            .insert_header(("accept", "application/json"))
            .to_request();
        let response = actix_web::test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), 500, "{path}");
        let body: Value = actix_web::test::read_body_json(response).await;
        assert_eq!(body["error"], "layer_missing", "{path}");
    }
    // Option<User> cannot tell a missing middleware from a signed-out user.
    let request = actix_web::test::TestRequest::get()
        .uri("/maybe")
        .to_request();
    let body = actix_web::test::call_and_read_body(&app, request).await;
    assert_eq!(body.as_ref(), b"false");
}

#[actix_web::test]
async fn a_callback_route_of_the_apps_own_signs_in_through_the_handle() {
    let env = start(|b| {
        b.routes(portcullis::Routes {
            callback: None,
            ..Default::default()
        })
    })
    .await;
    let agent = Agent::browser();
    let alice = sign_in_as(&agent, &env.base, env.idp.issuer(), "alice").await;
    assert_signed_in(
        &env.base,
        &alice.cookie,
        "signed in through the app's own callback",
    )
    .await;
    // A form_post body reaches the engine (nobody started this login)...
    let response = bare_client()
        .post(env.url("/callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body("code=stolen&state=forged")
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    // ...and one over the limit is refused by the handle before it does.
    let huge = "x".repeat(portcullis::engine::MAX_ROUTE_BODY + 1);
    let response = bare_client()
        .post(env.url("/callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("state={huge}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn a_refresh_token_the_op_refuses_sends_the_browser_to_login_and_clears_the_session() {
    let env = start(|b| b).await;
    let agent = Agent::browser();
    let alice = sign_in_as(&agent, &env.base, env.idp.issuer(), "alice").await;
    // Someone else spends the refresh token at the OP, which rotates it away
    // (a refresh through this app would instead be shared with later
    // requests that still carry the old cookie).
    let spent = bare_client()
        .post(format!("{}/token", env.idp.issuer()))
        .basic_auth(CLIENT_ID, Some(support::rp::CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", alice.refresh_token.as_deref().expect("rt")),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(spent.status(), StatusCode::OK);
    // The session's refresh token is now refused.
    let api = get_with_cookie(&env.url("/refresh"), &alice.cookie, "application/json").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: Value = api.json().await.expect("json");
    assert_eq!(body["error"], "reauthentication_required");
    let browser = get_with_cookie(&env.url("/refresh-or-reject"), &alice.cookie, "text/html").await;
    assert_eq!(browser.status(), StatusCode::FOUND);
    assert_eq!(
        browser.headers()[LOCATION],
        "/login?returnTo=%2Frefresh-or-reject"
    );
    assert!(
        support::rp::clears_cookie(&set_cookies(&browser), "portcullis.session"),
        "{:?}",
        set_cookies(&browser)
    );
}
