//! A session-store outage, through the real app: a real `redis-server` that
//! the test started on its own port (persisting to an append-only file) is
//! stopped under a signed-in browser and started again.
//!
//! The rule (the words): a store outage gives a clear 503, a page
//! for browsers and JSON for APIs. It is never a 500 or a panic, and never a
//! redirect to login. Signed-in users are not logged out by it, and the same
//! cookie works again when the store is back.
//!
//! Two configurations, each with its own Redis:
//! - Redis sessions (`SessionStorage::Url`), whose logout markers live in the
//!   same Redis;
//! - cookie sessions with a Redis `LOGOUT_STORE` (`LogoutStorage::Url`): the
//!   session opens from the cookie, but its logout markers cannot be checked
//!   while Redis is down, so the request fails closed with a 503.
//!
//! The tests skip loudly when `redis-server` is not installed, and fail
//! instead under `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::{LogoutStorage, OidcLayerBuilder, SessionStorage};
use portcullis_devidp::DevClient;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::Agent;
use support::redis_server::{RedisServer, Stop, have_redis_server};
use support::rp::*;

/// How long one request may take while Redis is down. The store's command
/// timeout is 1 s and its connect timeout 2 s (`RedisOptions` defaults), and
/// a refused connection fails at once; the slack is for a loaded machine.
const OUTAGE_ANSWER_WITHIN: Duration = Duration::from_millis(2_500);
/// How long the app may take to notice that Redis is gone (the local copy
/// stops answering when its invalidation subscription drops).
const NOTICE_WITHIN: Duration = Duration::from_secs(2);
/// How long the app may take to reconnect after Redis is back.
const RECOVER_WITHIN: Duration = Duration::from_secs(10);

/// Where sessions and logout markers live.
#[derive(Clone, Copy, Debug)]
enum Stores {
    /// `SESSION_STORE=redis://…` (the logout markers go there too).
    RedisSessions,
    /// Cookie sessions, `LOGOUT_STORE=redis://…`.
    CookieSessionsRedisLogouts,
}

impl Stores {
    fn configure(self, builder: OidcLayerBuilder, url: String) -> OidcLayerBuilder {
        let builder = builder.store_opener(Arc::new(portcullis_redis::RedisOpener::default()));
        match self {
            Stores::RedisSessions => builder.session_storage(SessionStorage::Url(url)),
            Stores::CookieSessionsRedisLogouts => builder.logout_storage(LogoutStorage::Url(url)),
        }
    }
}

fn with_bcl(client: DevClient, base: &str) -> DevClient {
    client.with_backchannel_logout_uri(format!("{base}/backchannel-logout"))
}

/// A Redis of the test's own, a dev OP, and the RP configured with `stores`
/// on that Redis.
async fn outage_env(stores: Stores) -> (RedisServer, Env) {
    let redis = RedisServer::start_persistent();
    let url = redis.url();
    let env = start_env(with_bcl, move |b| stores.configure(b, url)).await;
    (redis, env)
}

/// A request as a browser on this site sends it, carrying `cookie`.
async fn send(
    method: Method,
    url: &str,
    cookie: &str,
    accept: &str,
) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = bare_client()
        .request(method, url)
        .header(COOKIE, cookie)
        .header(ACCEPT, accept)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("request");
    (response, started.elapsed())
}

/// The `Set-Cookie`s of `response` that touch the session cookie (`name=`
/// or a chunk `name.N=`).
fn session_set_cookies(response: &reqwest::Response) -> Vec<String> {
    set_cookies(response)
        .into_iter()
        .filter(|c| {
            c.strip_prefix(SESSION_COOKIE)
                .is_some_and(|rest| match rest.as_bytes() {
                    [b'=', ..] => true,
                    [b'.', digit, ..] => digit.is_ascii_digit(),
                    _ => false,
                })
        })
        .collect()
}

/// Asserts the outage answer: 503, no redirect, the session cookie neither
/// cleared nor rewritten, `Retry-After`, within [`OUTAGE_ANSWER_WITHIN`].
/// Returns the body.
async fn assert_outage_answer(
    what: &str,
    response: reqwest::Response,
    took: Duration,
    content_type: &str,
) -> String {
    let status = response.status();
    let headers = response.headers().clone();
    let touched = session_set_cookies(&response);
    let body = response.text().await.unwrap_or_default();
    eprintln!("{what}: {status} in {took:?}");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: a store outage must be a 503 (got {status}: {body})"
    );
    assert!(
        headers.get(LOCATION).is_none(),
        "{what}: no redirect during an outage: {headers:?}"
    );
    assert!(
        touched.is_empty(),
        "{what}: the outage must not clear or rewrite the session cookie: {touched:?}"
    );
    assert_eq!(
        headers.get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "{what}: an outage answer must not be cached"
    );
    assert!(
        headers.get(RETRY_AFTER).is_some(),
        "{what}: a 503 tells the client when to retry: {headers:?}"
    );
    let got_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        got_type.starts_with(content_type),
        "{what}: content type {got_type:?}, expected {content_type}"
    );
    assert!(
        took < OUTAGE_ANSWER_WITHIN,
        "{what}: answered after {took:?} (the outage must not hang requests)"
    );
    body
}

/// Asserts a JSON outage answer with `error: "session_store_unavailable"`.
async fn assert_json_outage(what: &str, response: reqwest::Response, took: Duration) {
    let body = assert_outage_answer(what, response, took, "application/json").await;
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(json["error"], "session_store_unavailable", "{what}: {body}");
    assert!(
        json["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

/// Asserts an HTML outage page (a document, not a bare string, that says
/// what is wrong).
async fn assert_html_outage(what: &str, response: reqwest::Response, took: Duration) {
    let body = assert_outage_answer(what, response, took, "text/html").await;
    let lower = body.to_ascii_lowercase();
    assert!(
        lower.starts_with("<!doctype html>") && lower.contains("</html>"),
        "{what}: an HTML document: {body}"
    );
    assert!(
        body.contains("briefly unavailable") && body.contains("session store"),
        "{what}: the page says what is wrong: {body}"
    );
}

/// Polls `GET /profile` (API) with `cookie` until it is 503: the moment the
/// app has noticed the outage. Fails after [`NOTICE_WITHIN`].
async fn wait_for_outage(base: &str, cookie: &str) {
    let deadline = Instant::now() + NOTICE_WITHIN;
    loop {
        let (response, took) = send(
            Method::GET,
            &format!("{base}/profile"),
            cookie,
            "application/json",
        )
        .await;
        let status = response.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "while Redis goes away a signed-in request is 200 (not yet noticed) or 503, got {status}: {}",
            response.text().await.unwrap_or_default()
        );
        assert!(took < OUTAGE_ANSWER_WITHIN, "a request took {took:?}");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Redis is down but the app kept answering 200 from its local copy for {NOTICE_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `GET /profile` (API) with `cookie` until it is 200 again; every
/// answer on the way is 503 (never 401, which would mean the user was
/// signed out). Fails after [`RECOVER_WITHIN`].
async fn wait_for_recovery(base: &str, cookie: &str) -> Duration {
    let started = Instant::now();
    loop {
        let status = profile_status(base, cookie).await;
        if status == StatusCode::OK {
            return started.elapsed();
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "after the restart the session is 503 until the app reconnects, then 200"
        );
        assert!(
            started.elapsed() < RECOVER_WITHIN,
            "Redis is back but the session still gets 503 after {RECOVER_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole outage, through every door a signed-in browser knocks on.
async fn a_signed_in_user_gets_503_during_an_outage_and_the_same_cookie_works_after_restart(
    stores: Stores,
    stop: Stop,
) {
    let (mut redis, env) = outage_env(stores).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;

    redis.stop(stop);
    wait_for_outage(&env.base, &alice.cookie).await;

    // An API request: 503 JSON `session_store_unavailable`.
    let (response, took) = send(
        Method::GET,
        &env.url("/profile"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_json_outage("API GET /profile", response, took).await;

    // A browser navigation to a protected page: a 503 HTML page, not a
    // redirect to login and not a 500.
    let (response, took) = send(
        Method::GET,
        &env.url("/profile"),
        &alice.cookie,
        "text/html,application/xhtml+xml",
    )
    .await;
    assert_html_outage("browser GET /profile", response, took).await;

    // A page that works signed out too: a 503 rather than "Signed out" (the
    // user is not shown as signed out by the outage).
    let (response, took) = send(
        Method::GET,
        &env.url("/"),
        &alice.cookie,
        "text/html,application/xhtml+xml",
    )
    .await;
    assert_html_outage("browser GET / (optional sign-in)", response, took).await;

    // Logout cannot end the session, so it does not pretend it did.
    let (response, took) = send(
        Method::GET,
        &env.url("/logout"),
        &alice.cookie,
        "text/html,application/xhtml+xml",
    )
    .await;
    assert_html_outage("browser GET /logout", response, took).await;
    let (response, took) = send(
        Method::POST,
        &env.url("/logout"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_json_outage("API POST /logout", response, took).await;

    // The browser itself (its cookie jar) still holds the very same cookie.
    let response = agent
        .request(Method::GET, &env.url("/profile"), "text/html")
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        agent.cookie_header(&env.url("/")).as_deref(),
        Some(alice.cookie.as_str()),
        "the browser's session cookie was changed during the outage"
    );

    // Redis comes back (same port, same directory, its data reloaded from
    // the append-only file): the same cookie works again.
    redis.restart();
    let took = wait_for_recovery(&env.base, &alice.cookie).await;
    eprintln!("{stores:?}/{stop:?}: the session answered 200 again {took:?} after the restart");
    let response = agent
        .request(Method::GET, &env.url("/profile"), "text/html")
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the browser's own request"
    );

    // And logout works again, for real: the copied cookie is dead after it.
    let (response, _) = send(Method::GET, &env.url("/logout"), &alice.cookie, "text/html").await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "logout after recovery"
    );
    assert!(
        clears_cookie(&set_cookies(&response), SESSION_COOKIE),
        "logout after recovery clears the session cookie"
    );
    assert_signed_out(&env.base, &alice.cookie, "logged out after the recovery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_sessions_a_killed_redis_gives_503s_and_the_same_cookie_works_after_restart() {
    if !have_redis_server(
        "with_redis_sessions_a_killed_redis_gives_503s_and_the_same_cookie_works_after_restart",
    ) {
        return;
    }
    a_signed_in_user_gets_503_during_an_outage_and_the_same_cookie_works_after_restart(
        Stores::RedisSessions,
        Stop::Kill,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_sessions_a_redis_shut_down_gracefully_gives_503s_and_the_same_cookie_works_after_restart()
 {
    if !have_redis_server(
        "with_redis_sessions_a_redis_shut_down_gracefully_gives_503s_and_the_same_cookie_works_after_restart",
    ) {
        return;
    }
    a_signed_in_user_gets_503_during_an_outage_and_the_same_cookie_works_after_restart(
        Stores::RedisSessions,
        Stop::Term,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cookie_sessions_and_a_redis_logout_store_a_killed_redis_fails_closed_with_503s_and_recovers()
 {
    if !have_redis_server(
        "with_cookie_sessions_and_a_redis_logout_store_a_killed_redis_fails_closed_with_503s_and_recovers",
    ) {
        return;
    }
    a_signed_in_user_gets_503_during_an_outage_and_the_same_cookie_works_after_restart(
        Stores::CookieSessionsRedisLogouts,
        Stop::Kill,
    )
    .await;
}

// ------------------------------------------------- back-channel logout

/// A logout token delivered while Redis is down cannot be recorded: 503, so
/// the OP retries. The retry after the restart succeeds (it is not refused
/// as a replay: nothing was recorded), the session ends, and a replay after
/// that is refused.
async fn a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds(stores: Stores) {
    let (mut redis, env) = outage_env(stores).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;
    let token =
        env.idp
            .sign_logout_token(logout_claims(env.issuer(), Some("alice"), Some(&alice.sid)));

    redis.stop(Stop::Kill);
    let started = Instant::now();
    let response = post_logout_token(&env.base, &token).await;
    let took = started.elapsed();
    assert_json_outage("back-channel logout during the outage", response, took).await;
    // Nobody is signed out by the failed delivery, or by the outage.
    wait_for_outage(&env.base, &alice.cookie).await;

    redis.restart();
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        let response = post_logout_token(&env.base, &token).await;
        let status = response.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "the OP's retry is 503 until the app reconnects, then 200: {}",
            response.text().await.unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "the OP's retry still gets 503 {RECOVER_WITHIN:?} after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_signed_out(&env.base, &alice.cookie, "the retried back-channel logout").await;
    let replay = post_logout_token(&env.base, &token).await;
    assert_eq!(
        replay.status(),
        StatusCode::BAD_REQUEST,
        "once recorded, the same jti is a replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_sessions_a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds()
 {
    if !have_redis_server(
        "with_redis_sessions_a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds",
    ) {
        return;
    }
    a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds(Stores::RedisSessions)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_redis_logout_store_a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds()
 {
    if !have_redis_server(
        "with_a_redis_logout_store_a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds",
    ) {
        return;
    }
    a_backchannel_logout_during_an_outage_is_503_and_the_op_retry_succeeds(
        Stores::CookieSessionsRedisLogouts,
    )
    .await;
}

// ------------------------------------------------- sign-in during the outage

/// A sign-in whose session cannot be saved is a 503 at the callback (not a
/// 500, and not a redirect that would loop back to login), and a sign-in
/// after the restart works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_sessions_a_sign_in_completed_during_an_outage_is_503_and_works_after_restart() {
    if !have_redis_server(
        "with_redis_sessions_a_sign_in_completed_during_an_outage_is_503_and_works_after_restart",
    ) {
        return;
    }
    let (mut redis, env) = outage_env(Stores::RedisSessions).await;
    redis.stop(Stop::Kill);

    let agent = Agent::browser();
    let landing = agent
        .navigate(&format!("{}/login?returnTo=%2Fsession", env.base))
        .await;
    assert!(
        landing.url.as_str().starts_with(env.issuer()),
        "login needs no store: the browser reaches the OP's sign-in page ({:?})",
        landing.trail
    );
    let handle = landing
        .body
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the OP's sign-in form")
        .to_owned();
    let approved = agent
        .client
        .post(format!("{}/authorize/approve", env.issuer()))
        .form(&[("request", handle.as_str()), ("user", "alice")])
        .send()
        .await
        .expect("approve");
    let callback = approved.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let started = Instant::now();
    let response = agent
        .client
        .get(&callback)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("callback");
    let took = started.elapsed();
    assert_html_outage("the callback during the outage", response, took).await;
    assert!(
        agent.cookie_header(&env.url("/")).is_none_or(|c| !c
            .split(';')
            .any(|p| p.trim().starts_with(&format!("{SESSION_COOKIE}=")))),
        "no session cookie for a session that was never saved"
    );

    redis.restart();
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        // A fresh browser each time: a sign-in from the start.
        let agent = Agent::browser();
        let landing = agent
            .navigate(&format!("{}/login?returnTo=%2Fsession", env.base))
            .await;
        let handle = landing
            .body
            .split("name=\"request\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the OP's sign-in form")
            .to_owned();
        let approved = agent
            .client
            .post(format!("{}/authorize/approve", env.issuer()))
            .form(&[("request", handle.as_str()), ("user", "alice")])
            .send()
            .await
            .expect("approve");
        let location = approved.headers()[LOCATION]
            .to_str()
            .expect("location")
            .to_owned();
        let landing = agent.navigate(&location).await;
        if landing.status == StatusCode::OK {
            assert_eq!(landing.url.path(), "/session");
            let cookie = agent.cookie_header(&env.url("/")).expect("session cookie");
            assert_signed_in(&env.base, &cookie, "signed in after the restart").await;
            break;
        }
        assert_eq!(landing.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            Instant::now() < deadline,
            "sign-in still fails {RECOVER_WITHIN:?} after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------- known gaps

/// The body of the answer to a signed-in `GET /profile` while Redis is
/// down, for a client accepting `accept`.
async fn outage_body(accept: &str) -> String {
    let (mut redis, env) = outage_env(Stores::RedisSessions).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    redis.stop(Stop::Kill);
    wait_for_outage(&env.base, &alice.cookie).await;
    let (response, _) = send(Method::GET, &env.url("/profile"), &alice.cookie, accept).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    response.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outage_message_names_the_store_once() {
    if !have_redis_server("the_outage_message_names_the_store_once") {
        return;
    }
    let body = outage_body("application/json").await;
    assert!(!body.contains("store store"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outage_page_for_browsers_is_styled() {
    if !have_redis_server("the_outage_page_for_browsers_is_styled") {
        return;
    }
    let body = outage_body("text/html").await;
    assert!(
        body.contains("<style") || body.contains("stylesheet"),
        "an unstyled page: {body}"
    );
}
