//! Logout started at the relying party, end to end against a real dev OP
//! and a real axum app behind `OidcLayer`: `/logout` (GET and POST, logout
//! CSRF), RP-initiated logout at the OP with a checked `state`, local
//! logout from a handler, token revocation, and the session store's part
//! (a slow store is awaited, a failing one is a 503).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis::store::{
    Cached, LogoutStore, MemorySessionStore, SessionRecord, SessionStore, StoreFuture,
};
use reqwest::header::{
    ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, ORIGIN, REFERER, X_FRAME_OPTIONS,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::Agent;
use support::rp::*;

/// Where sessions live in a test.
#[derive(Clone, Copy, Debug)]
enum Sessions {
    Cookie,
    Memory,
}

async fn env_with(sessions: Sessions) -> Env {
    start_env(
        |c, _| c,
        |b| match sessions {
            Sessions::Cookie => b,
            Sessions::Memory => b.session_store(Arc::new(MemorySessionStore::default())),
        },
    )
    .await
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location on a {}", response.status()))
        .to_owned()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// ------------------------------------------------------- copied cookies

async fn a_copied_cookie_is_refused_after_logout(sessions: Sessions, method: Method) {
    let env = env_with(sessions).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;

    let response = agent
        .client
        .request(method.clone(), env.url("/logout"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::FOUND, "{method} /logout");
    assert_eq!(location(&response), "/");
    assert!(
        clears_cookie(&set_cookies(&response), SESSION_COOKIE),
        "{:?}",
        set_cookies(&response)
    );
    // The browser is signed out, and so is anyone who saved its cookie.
    let own = agent
        .request(Method::GET, &env.url("/profile"), "application/json")
        .await;
    assert_eq!(own.status(), StatusCode::UNAUTHORIZED);
    assert_signed_out(&env.base, &alice.cookie, "a copy of the old cookie").await;
}

#[tokio::test]
async fn a_copied_cookie_is_refused_after_get_logout_with_cookie_sessions() {
    a_copied_cookie_is_refused_after_logout(Sessions::Cookie, Method::GET).await;
}

#[tokio::test]
async fn a_copied_cookie_is_refused_after_post_logout_with_cookie_sessions() {
    a_copied_cookie_is_refused_after_logout(Sessions::Cookie, Method::POST).await;
}

#[tokio::test]
async fn a_copied_cookie_is_refused_after_get_logout_with_a_session_store() {
    a_copied_cookie_is_refused_after_logout(Sessions::Memory, Method::GET).await;
}

#[tokio::test]
async fn a_copied_cookie_is_refused_after_post_logout_with_a_session_store() {
    a_copied_cookie_is_refused_after_logout(Sessions::Memory, Method::POST).await;
}

// ------------------------------------------------------- logout CSRF

/// Asserts the confirmation page: 200 HTML with a POST form to `/logout`,
/// not frameable.
async fn assert_confirmation_page(response: reqwest::Response, why: &str) -> String {
    assert_eq!(response.status(), StatusCode::OK, "{why}");
    assert!(
        header(&response, CONTENT_TYPE).starts_with("text/html"),
        "{why}"
    );
    assert!(
        header(&response, CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"),
        "{why}: CSP {:?}",
        header(&response, CONTENT_SECURITY_POLICY)
    );
    assert_eq!(header(&response, X_FRAME_OPTIONS), "DENY", "{why}");
    assert!(
        !clears_cookie(&set_cookies(&response), SESSION_COOKIE),
        "{why}: the confirmation must not sign out"
    );
    let body = response.text().await.expect("body");
    assert!(
        body.contains("<form method=\"post\" action=\"/logout\">"),
        "{why}: {body}"
    );
    body
}

#[tokio::test]
async fn a_cross_site_get_logout_asks_for_confirmation_and_keeps_the_session() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;

    let by_fetch_metadata = agent
        .client
        .get(env.url("/logout?returnTo=%2Fprofile"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    let page = assert_confirmation_page(by_fetch_metadata, "Sec-Fetch-Site: cross-site").await;
    // The confirmed logout still goes where the link asked (a safe target).
    assert!(
        page.contains("name=\"returnTo\" value=\"/profile\""),
        "{page}"
    );
    assert_signed_in(&env.base, &alice.cookie, "Sec-Fetch-Site: cross-site").await;

    let by_origin = agent
        .client
        .get(env.url("/logout"))
        .header(ACCEPT, "text/html")
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_confirmation_page(by_origin, "Origin: https://evil.example").await;
    assert_signed_in(&env.base, &alice.cookie, "Origin: https://evil.example").await;

    let by_referer = agent
        .client
        .get(env.url("/logout"))
        .header(ACCEPT, "text/html")
        .header(REFERER, "https://evil.example/page")
        .send()
        .await
        .expect("request");
    assert_confirmation_page(by_referer, "Referer: https://evil.example/page").await;

    // A hostile returnTo is not carried into the form.
    let hostile = agent
        .client
        .get(env.url("/logout?returnTo=%2F%2Fevil.example"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    let page = assert_confirmation_page(hostile, "hostile returnTo").await;
    assert!(!page.contains("evil.example"), "{page}");

    // The agent's own jar is still signed in too.
    let own = agent
        .request(Method::GET, &env.url("/profile"), "application/json")
        .await;
    assert_eq!(own.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_post_logout_asks_for_confirmation_too() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = agent
        .client
        .post(env.url("/logout"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-site", "cross-site")
        .header(ORIGIN, "https://evil.example")
        .form(&[("returnTo", "/")])
        .send()
        .await
        .expect("request");
    assert_confirmation_page(response, "a cross-site form POST").await;
    assert_signed_in(&env.base, &alice.cookie, "a cross-site form POST").await;
}

#[tokio::test]
async fn a_same_origin_get_logout_signs_out() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = agent
        .client
        .get(env.url("/logout"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/");
    assert_signed_out(&env.base, &alice.cookie, "a same-origin GET /logout").await;
}

#[tokio::test]
async fn a_post_logout_without_browser_headers_signs_out() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = bare_client()
        .post(env.url("/logout"))
        .header(reqwest::header::COOKIE, &alice.cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_signed_out(&env.base, &alice.cookie, "a plain POST /logout").await;
}

#[tokio::test]
async fn submitting_the_confirmation_form_signs_out_and_goes_to_its_target() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    // What the browser sends when the user presses the page's button.
    let response = agent
        .client
        .post(env.url("/logout"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-site", "same-origin")
        .header(ORIGIN, &env.base)
        .form(&[("returnTo", "/profile")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/profile");
    assert_signed_out(&env.base, &alice.cookie, "the confirmed logout").await;
}

// ------------------------------------------------------- RP-initiated logout

/// Signs in with `idp_logout(true)` and GETs /logout: the redirect to the
/// OP, checked, and the `state` it carries.
async fn start_idp_logout() -> (Env, Agent, SignedIn, url::Url, String) {
    start_idp_logout_with(false).await
}

async fn start_idp_logout_with(auth_required: bool) -> (Env, Agent, SignedIn, url::Url, String) {
    let env = start_env(
        |c, _| c,
        |b| b.idp_logout(true).auth_required(auth_required),
    )
    .await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = agent
        .request(Method::GET, &env.url("/logout"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookies = set_cookies(&response);
    assert!(clears_cookie(&cookies, SESSION_COOKIE), "{cookies:?}");
    let pending = format!("{SESSION_COOKIE}.logout=");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&pending) && !c[pending.len()..].starts_with(';')),
        "the pending-logout cookie is set: {cookies:?}"
    );
    let to_op = url::Url::parse(&location(&response)).expect("absolute redirect to the OP");
    assert_eq!(
        to_op.as_str().split('?').next(),
        Some(format!("{}/logout", env.issuer()).as_str()),
        "the OP's end_session_endpoint"
    );
    let param = |name: &str| {
        to_op
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        param("id_token_hint").as_deref(),
        Some(alice.id_token.as_str())
    );
    assert_eq!(
        param("post_logout_redirect_uri"),
        Some(env.url("/")),
        "the registered post-logout URI"
    );
    let state = param("state").expect("a state");
    assert!(state.len() >= 16, "{state}");
    // The session already ended here, before the browser goes to the OP.
    assert_signed_out(&env.base, &alice.cookie, "before the OP's redirect").await;
    (env, agent, alice, to_op, state)
}

fn has_pending_logout_cookie(agent: &Agent, env: &Env) -> bool {
    agent
        .cookie_header(&env.url("/"))
        .is_some_and(|c| c.contains(&format!("{SESSION_COOKIE}.logout=")))
}

#[tokio::test]
async fn rp_initiated_logout_returns_through_the_op_to_the_clean_target_with_the_right_state() {
    let (env, agent, _alice, to_op, state) = start_idp_logout().await;
    assert!(has_pending_logout_cookie(&agent, &env));

    // The OP ends its session and sends the browser back with the state.
    let at_op = agent
        .request(Method::GET, to_op.as_str(), "text/html")
        .await;
    assert!(at_op.status().is_redirection(), "{}", at_op.status());
    let back = url::Url::parse(&location(&at_op)).expect("absolute");
    assert_eq!(back.as_str(), format!("{}/?state={state}", env.base));

    let response = agent.request(Method::GET, back.as_str(), "text/html").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        location(&response),
        env.url("/"),
        "the target without state"
    );
    assert!(
        clears_cookie(&set_cookies(&response), &format!("{SESSION_COOKIE}.logout")),
        "{:?}",
        set_cookies(&response)
    );
    assert!(!has_pending_logout_cookie(&agent, &env));
    // The OP session is over too: the next login asks again.
    let landing = agent.navigate(&env.url("/login")).await;
    assert!(
        landing.url.as_str().starts_with(env.issuer()),
        "the OP's sign-in page: {:?}",
        landing.trail
    );
}

/// With `auth_required` (the default) the return from the OP, which has no
/// session any more, is still answered with the clean redirect, not sent
/// to login.
#[tokio::test]
async fn rp_initiated_logout_returns_to_the_clean_target_when_every_route_requires_auth() {
    let (env, agent, _alice, to_op, _state) = start_idp_logout_with(true).await;
    let at_op = agent
        .request(Method::GET, to_op.as_str(), "text/html")
        .await;
    let back = location(&at_op);
    let response = agent.request(Method::GET, &back, "text/html").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), env.url("/"));
    assert!(clears_cookie(
        &set_cookies(&response),
        &format!("{SESSION_COOKIE}.logout")
    ));
    // And a forged state on an auth_required app: to login, cookie cleared.
    let (env, agent, _alice, _to_op, _state) = start_idp_logout_with(true).await;
    let response = agent
        .request(Method::GET, &env.url("/?state=forged"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(
        location(&response).starts_with("/login"),
        "{}",
        location(&response)
    );
    assert!(clears_cookie(
        &set_cookies(&response),
        &format!("{SESSION_COOKIE}.logout")
    ));
}

#[tokio::test]
async fn rp_initiated_logout_with_a_wrong_state_serves_the_page_and_clears_the_cookie() {
    let (env, agent, _alice, _to_op, state) = start_idp_logout().await;
    let forged = env.url(
        "/?state=forged-state&post_logout_redirect_uri=https%3A%2F%2Fevil.example\
         &returnTo=https%3A%2F%2Fevil.example",
    );
    let response = agent.request(Method::GET, &forged, "text/html").await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "served normally, not redirected"
    );
    assert!(response.headers().get(LOCATION).is_none());
    assert!(
        clears_cookie(&set_cookies(&response), &format!("{SESSION_COOKIE}.logout")),
        "{:?}",
        set_cookies(&response)
    );
    assert_eq!(response.text().await.expect("body"), "Signed out");
    assert!(!has_pending_logout_cookie(&agent, &env));

    // The pending logout is gone: the real state no longer redirects either.
    let late = agent
        .request(
            Method::GET,
            &format!("{}/?state={state}", env.base),
            "text/html",
        )
        .await;
    assert_eq!(late.status(), StatusCode::OK);
}

// ------------------------------------------------------- local logout

async fn logout_local_clears_the_session_and_refuses_the_old_cookie(sessions: Sessions) {
    let env = env_with(sessions).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = agent
        .request(Method::GET, &env.url("/local-logout"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        clears_cookie(&set_cookies(&response), SESSION_COOKIE),
        "{:?}",
        set_cookies(&response)
    );
    assert_eq!(response.text().await.expect("body"), "Signed out locally");
    let own = agent.request(Method::GET, &env.url("/"), "text/html").await;
    assert_eq!(own.text().await.expect("body"), "Signed out");
    assert_signed_out(&env.base, &alice.cookie, "after logout_local").await;
}

#[tokio::test]
async fn logout_local_from_a_handler_clears_a_cookie_session_and_refuses_the_old_cookie() {
    logout_local_clears_the_session_and_refuses_the_old_cookie(Sessions::Cookie).await;
}

#[tokio::test]
async fn logout_local_from_a_handler_clears_a_stored_session_and_refuses_the_old_cookie() {
    logout_local_clears_the_session_and_refuses_the_old_cookie(Sessions::Memory).await;
}

// ------------------------------------------------------- revocation

/// What the dev OP's token endpoint says to a refresh with `refresh_token`.
async fn refresh_at_the_op(env: &Env, refresh_token: &str) -> (StatusCode, Value) {
    let response = bare_client()
        .post(format!("{}/token", env.issuer()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn userinfo_status(env: &Env, access_token: &str) -> StatusCode {
    bare_client()
        .get(format!("{}/userinfo", env.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
        .status()
}

#[tokio::test]
async fn revoke_on_logout_revokes_the_refresh_and_access_tokens_at_the_op() {
    let env = start_env(|c, _| c, |b| b.revoke_on_logout(true)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let refresh_token = alice.refresh_token.clone().expect("a refresh token");
    let access_token = alice.access_token.clone().expect("an access token");
    assert_eq!(userinfo_status(&env, &access_token).await, StatusCode::OK);

    let response = agent
        .request(Method::GET, &env.url("/logout"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);

    let (status, body) = refresh_at_the_op(&env, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        userinfo_status(&env, &access_token).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The control for the test above: without `revoke_on_logout`, the OP still
/// honours the tokens after a logout.
#[tokio::test]
async fn without_revoke_on_logout_the_op_still_honours_the_tokens_after_logout() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = agent
        .request(Method::GET, &env.url("/logout"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let access_token = alice.access_token.clone().expect("an access token");
    assert_eq!(userinfo_status(&env, &access_token).await, StatusCode::OK);
    let (status, body) = refresh_at_the_op(&env, &alice.refresh_token.expect("rt")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ------------------------------------------------------- a slow store

/// A memory store whose `destroy` takes 500 ms, and says when it finished.
#[derive(Default)]
struct SlowDestroy {
    inner: MemorySessionStore,
    destroyed_at: Mutex<Option<Instant>>,
}

const DESTROY_DELAY: Duration = Duration::from_millis(500);

impl SessionStore for SlowDestroy {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        self.inner.load(id)
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.inner.save(id, record, ttl)
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            tokio::time::sleep(DESTROY_DELAY).await;
            self.inner.destroy(id).await?;
            *self.destroyed_at.lock().expect("lock") = Some(Instant::now());
            Ok(())
        })
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.inner.touch(id, ttl)
    }

    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        self.inner.cached(id)
    }
}

#[tokio::test]
async fn logout_answers_only_after_a_slow_store_destroyed_the_session() {
    let store = Arc::new(SlowDestroy::default());
    let shared: Arc<dyn SessionStore> = store.clone();
    let env = start_env(|c, _| c, move |b| b.session_store(shared)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_eq!(store.inner.len(), 1);

    let sent = Instant::now();
    let response = agent
        .request(Method::GET, &env.url("/logout"), "text/html")
        .await;
    // `send` resolves when the response headers have arrived.
    let arrived = Instant::now();
    assert_eq!(response.status(), StatusCode::FOUND);
    let destroyed = store
        .destroyed_at
        .lock()
        .expect("lock")
        .expect("destroy finished before the redirect arrived");
    assert!(destroyed <= arrived);
    assert!(arrived.duration_since(sent) >= DESTROY_DELAY);
    assert!(store.inner.is_empty(), "the session is gone");
    assert_signed_out(&env.base, &alice.cookie, "right after the redirect").await;
}

// ------------------------------------------------------- a racing refresh

/// A memory store whose next `save`, once armed, waits for the test's
/// signal: a refresh held just before it writes the session back.
#[derive(Default)]
struct GatedSave {
    inner: MemorySessionStore,
    armed: AtomicBool,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl SessionStore for GatedSave {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        self.inner.load(id)
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if self.armed.swap(false, Ordering::SeqCst) {
                self.entered.notify_one();
                self.release.notified().await;
            }
            self.inner.save(id, record, ttl).await
        })
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.inner.destroy(id)
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.inner.touch(id, ttl)
    }

    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        self.inner.cached(id)
    }
}

/// A refresh that was in flight when the user signed out (another tab, an
/// API call) writes the session under its old id after logout destroyed
/// it: the logout must still hold.
#[tokio::test]
async fn a_refresh_that_finishes_after_logout_does_not_bring_a_stored_session_back() {
    let store = Arc::new(GatedSave::default());
    let shared: Arc<dyn SessionStore> = store.clone();
    let env = start_env(|c, _| c, move |b| b.session_store(shared)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;

    store.armed.store(true, Ordering::SeqCst);
    let refresh = {
        let (url, cookie) = (env.url("/refresh"), alice.cookie.clone());
        tokio::spawn(async move { get_with_cookie(&url, &cookie, "application/json").await })
    };
    tokio::time::timeout(Duration::from_secs(5), store.entered.notified())
        .await
        .expect("the refresh reached the store");

    let logout = get_with_cookie(&env.url("/logout"), &alice.cookie, "text/html").await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert_signed_out(&env.base, &alice.cookie, "right after the logout").await;

    store.release.notify_one();
    let refreshed = refresh.await.expect("refresh task");
    assert!(refreshed.status().is_success() || refreshed.status().is_client_error());
    assert_signed_out(
        &env.base,
        &alice.cookie,
        "a refresh that finished after the logout",
    )
    .await;
}

/// The same race with cookie sessions is safe: the refreshed cookie keeps
/// the session id, which the logout marker names.
#[tokio::test]
async fn a_refresh_that_finishes_after_logout_does_not_bring_a_cookie_session_back() {
    let env = env_with(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    // The refresh's answer (a new cookie) is held by the "other tab".
    let refreshed = get_with_cookie(&env.url("/refresh"), &alice.cookie, "application/json").await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let new_cookie = set_cookies(&refreshed)
        .iter()
        .filter(|c| c.starts_with(SESSION_COOKIE) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(!new_cookie.is_empty());
    assert_signed_in(&env.base, &new_cookie, "the refreshed cookie").await;

    let logout = get_with_cookie(&env.url("/logout"), &alice.cookie, "text/html").await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert_signed_out(&env.base, &alice.cookie, "the old cookie").await;
    assert_signed_out(&env.base, &new_cookie, "the refreshed cookie").await;
}

// ------------------------------------------------------- a failing store

/// A memory store that fails every call while `down` is set (and then has
/// no local copy, like a shared store whose invalidation channel is down).
#[derive(Default)]
struct FlakySessions {
    inner: MemorySessionStore,
    down: AtomicBool,
}

impl FlakySessions {
    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

impl SessionStore for FlakySessions {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        if self.is_down() {
            return outage();
        }
        self.inner.load(id)
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        if self.is_down() {
            return outage();
        }
        self.inner.save(id, record, ttl)
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        if self.is_down() {
            return outage();
        }
        self.inner.destroy(id)
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        if self.is_down() {
            return outage();
        }
        self.inner.touch(id, ttl)
    }

    fn cached(&self, id: &str) -> Cached<SessionRecord> {
        if self.is_down() {
            return Cached::Unknown;
        }
        self.inner.cached(id)
    }
}

/// Asserts a 503 (never a redirect to login, never a 500): JSON
/// `session_store_unavailable` for API clients, HTML for browsers.
async fn assert_unavailable(response: reqwest::Response, html: bool, why: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{why}: {:?}",
        response.headers().get(LOCATION)
    );
    assert!(response.headers().get(LOCATION).is_none(), "{why}");
    let content_type = header(&response, CONTENT_TYPE).to_owned();
    let body = response.text().await.expect("body");
    if html {
        assert!(
            content_type.starts_with("text/html"),
            "{why}: {content_type}"
        );
        assert!(body.contains("<html"), "{why}: {body}");
    } else {
        assert!(
            content_type.starts_with("application/json"),
            "{why}: {content_type}"
        );
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["error"], "session_store_unavailable", "{why}: {body}");
    }
}

/// Every kind of request with a session cookie while the stores are down:
/// 503s, and the session survives them all.
async fn assert_outage_answers(env: &Env, cookie: &str) {
    for (path, accept, html) in [
        ("/profile", "application/json", false),
        ("/profile", "text/html", true),
        ("/", "text/html", true),
        ("/logout", "application/json", false),
        ("/logout", "text/html", true),
    ] {
        let response = get_with_cookie(&env.url(path), cookie, accept).await;
        assert_unavailable(response, html, &format!("GET {path} ({accept})")).await;
    }
    let post = bare_client()
        .post(env.url("/logout"))
        .header(reqwest::header::COOKIE, cookie)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("request");
    assert_unavailable(post, false, "POST /logout").await;
    // A request without a session needs no store.
    let anonymous = bare_client()
        .get(env.url("/"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert_eq!(anonymous.text().await.expect("body"), "Signed out");
}

#[tokio::test]
async fn a_session_store_outage_is_a_503_and_the_session_works_again_afterwards() {
    let store = Arc::new(FlakySessions::default());
    let shared: Arc<dyn SessionStore> = store.clone();
    let env = start_env(|c, _| c, move |b| b.session_store(shared)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;

    store.down.store(true, Ordering::SeqCst);
    assert_outage_answers(&env, &alice.cookie).await;

    store.down.store(false, Ordering::SeqCst);
    assert_signed_in(&env.base, &alice.cookie, "the store is back").await;
    let home = get_with_cookie(&env.url("/"), &alice.cookie, "text/html").await;
    assert_eq!(home.text().await.expect("body"), "Signed in as alice");
}

#[tokio::test]
async fn a_logout_store_outage_is_a_503_for_cookie_sessions_and_they_work_again_afterwards() {
    let logouts = Arc::new(FlakyLogouts::default());
    let shared: Arc<dyn LogoutStore> = logouts.clone();
    let env = start_env(|c, _| c, move |b| b.logout_store(shared)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;

    logouts.all.store(true, Ordering::SeqCst);
    assert_outage_answers(&env, &alice.cookie).await;

    logouts.all.store(false, Ordering::SeqCst);
    assert_signed_in(&env.base, &alice.cookie, "the logout store is back").await;
}
