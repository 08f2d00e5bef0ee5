//! Refresh that never races: 50 parallel requests with an expired access
//! token cause exactly one refresh grant at the OP, in one instance and
//! across two replicas over one real Redis (127.0.0.1:6379), including a
//! refresh slower than the lock's first lease. A refused refresh token ends
//! the session cleanly (login for browsers, 401 for APIs); an OP outage is a
//! 503 that signs nobody out.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use portcullis::{LogoutStorage, OidcLayerBuilder, SessionStorage};
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, RETRY_AFTER};
use serde_json::Value;
use support::Agent;
use support::rp::{
    CLIENT_ID, CLIENT_SECRET, SignedIn, bare_client, dev_client, get_with_cookie, rp_builder,
    serve_rp, set_cookies, sign_in_as, site, start_idp,
};

const REDIS: &str = "redis://127.0.0.1:6379";
const PARALLEL: usize = 50;

/// Whether the machine's Redis answers; a missing one fails in CI
/// (PORTCULLIS_REQUIRE_ALL=1) and skips loudly elsewhere.
fn redis_available() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        assert!(
            !support::require_all(),
            "Redis is not running on 127.0.0.1:6379 (required: PORTCULLIS_REQUIRE_ALL=1)"
        );
        eprintln!("!!! SKIPPED: Redis is not running on 127.0.0.1:6379");
    }
    up
}

/// A dev OP whose access tokens live one second and whose refresh grants
/// take `delay`, with one client for every RP base in `bases`.
async fn idp(bases: &[&str], delay: Duration) -> RunningDevIdp {
    let mut client: DevClient = dev_client(CLIENT_ID, bases[0]);
    for base in &bases[1..] {
        client = client.with_redirect_uri(format!("{base}/callback"));
    }
    start_idp(
        DevIdpConfig::new()
            .with_client(client)
            .with_access_token_ttl_secs(1)
            .with_refresh_delay(delay),
    )
    .await
}

/// Automatic refresh once the access token has expired.
fn auto_refreshing(builder: OidcLayerBuilder) -> OidcLayerBuilder {
    builder.auto_refresh(true).refresh_before(Duration::ZERO)
}

/// Signs alice in at `base` and waits until her access token has expired.
async fn signed_in_and_expired(base: &str, issuer: &str) -> SignedIn {
    let alice = sign_in_as(&Agent::browser(), base, issuer, "alice").await;
    assert!(
        alice.refresh_token.is_some(),
        "the dev OP sends refresh tokens"
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    alice
}

/// `GET /session` from `PARALLEL` clients at once, spread over `bases`, all
/// carrying `cookie`; returns each answer's access token and whether it set
/// a session cookie.
async fn parallel_sessions(bases: &[String], cookie: &str) -> Vec<(String, bool)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(PARALLEL));
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let url = format!("{}/session", bases[i % bases.len()]);
            let (cookie, barrier) = (cookie.to_owned(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = get_with_cookie(&url, &cookie, "application/json").await;
                let status = response.status();
                let sets_cookie = !set_cookies(&response).is_empty();
                let body = response.text().await.expect("body");
                assert_eq!(status, StatusCode::OK, "{url}: {body}");
                let session: Value = serde_json::from_str(&body).expect("session json");
                let token = session["access_token"].as_str().expect("token").to_owned();
                (token, sets_cookie)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

/// Every answer carries the same, new access token.
fn assert_one_new_token(answers: &[(String, bool)], old: &SignedIn) {
    let tokens: HashSet<&str> = answers.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tokens.len(),
        1,
        "every request sees the one refreshed token"
    );
    assert_ne!(
        tokens.into_iter().next(),
        old.access_token.as_deref(),
        "the token was refreshed"
    );
}

#[tokio::test]
async fn fifty_parallel_requests_with_an_expired_token_refresh_once() {
    let site = site().await;
    let base = site.base.clone();
    let idp = idp(&[&base], Duration::from_millis(300)).await;
    serve_rp(
        site,
        auto_refreshing(rp_builder(idp.issuer(), &base, CLIENT_ID)),
    )
    .await;
    let alice = signed_in_and_expired(&base, idp.issuer()).await;

    let before = idp.handle().refresh_grants();
    let answers = parallel_sessions(std::slice::from_ref(&base), &alice.cookie).await;
    assert_eq!(
        idp.handle().refresh_grants() - before,
        1,
        "one refresh grant"
    );
    assert_one_new_token(&answers, &alice);
    assert!(
        answers.iter().all(|(_, sets)| *sets),
        "every answer carries the refreshed cookie session"
    );
}

#[tokio::test]
async fn fifty_parallel_explicit_refreshes_of_one_session_refresh_once() {
    let site = site().await;
    let base = site.base.clone();
    let idp = idp(&[&base], Duration::from_millis(300)).await;
    serve_rp(site, rp_builder(idp.issuer(), &base, CLIENT_ID)).await;
    let alice = sign_in_as(&Agent::browser(), &base, idp.issuer(), "alice").await;

    let before = idp.handle().refresh_grants();
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (url, cookie) = (format!("{base}/refresh"), alice.cookie.clone());
            tokio::spawn(async move {
                get_with_cookie(&url, &cookie, "application/json")
                    .await
                    .status()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::OK);
    }
    assert_eq!(
        idp.handle().refresh_grants() - before,
        1,
        "one refresh grant"
    );
}

/// What two replicas share through Redis.
#[derive(Clone, Copy)]
enum Shared {
    /// Sessions (and so logout markers and refresh locks) in Redis.
    Sessions,
    /// Cookie sessions; logout markers and refresh locks in Redis.
    LogoutsOnly,
}

/// Two replicas (two engines, each with its own in-process flights and
/// caches) behind one Redis, with a refresh that takes four times the lock's
/// first lease: the holder renews the lease, and the replica that waited
/// uses the published outcome instead of the rotated refresh token.
async fn two_replicas_refresh_once(shared: Shared) {
    let (site_a, site_b) = (site().await, site().await);
    let bases = [site_a.base.clone(), site_b.base.clone()];
    let idp = idp(&[&bases[0], &bases[1]], Duration::from_millis(800)).await;
    for (site, base) in [(site_a, &bases[0]), (site_b, &bases[1])] {
        let builder = auto_refreshing(rp_builder(idp.issuer(), base, CLIENT_ID))
            .store_opener(Arc::new(portcullis_redis::RedisOpener::default()))
            .refresh_lock_lease(Duration::from_millis(200));
        let builder = match shared {
            Shared::Sessions => builder.session_storage(SessionStorage::Url(REDIS.into())),
            Shared::LogoutsOnly => builder.logout_storage(LogoutStorage::Url(REDIS.into())),
        };
        serve_rp(site, builder).await;
    }
    let alice = signed_in_and_expired(&bases[0], idp.issuer()).await;

    let before = idp.handle().refresh_grants();
    let answers = parallel_sessions(&bases, &alice.cookie).await;
    assert_eq!(
        idp.handle().refresh_grants() - before,
        1,
        "one refresh grant across both replicas"
    );
    assert_one_new_token(&answers, &alice);
}

#[tokio::test]
async fn two_replicas_over_redis_sessions_refresh_once_even_past_the_first_lease() {
    if redis_available() {
        two_replicas_refresh_once(Shared::Sessions).await;
    }
}

#[tokio::test]
async fn two_replicas_with_cookie_sessions_and_a_redis_logout_store_refresh_once() {
    if redis_available() {
        two_replicas_refresh_once(Shared::LogoutsOnly).await;
    }
}

/// Spends alice's refresh token at the OP behind the RP's back, as another
/// holder of a leaked token would: the OP rotates it away.
async fn spend_refresh_token(issuer: &str, refresh_token: &str) {
    let response = bare_client()
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refused_refresh_token_ends_the_session_login_for_browsers_401_for_apis() {
    let site = site().await;
    let base = site.base.clone();
    let idp = idp(&[&base], Duration::ZERO).await;
    serve_rp(
        site,
        auto_refreshing(rp_builder(idp.issuer(), &base, CLIENT_ID)),
    )
    .await;

    // Automatic refresh, a browser: sent to login, the cookie cleared.
    let alice = signed_in_and_expired(&base, idp.issuer()).await;
    spend_refresh_token(idp.issuer(), alice.refresh_token.as_deref().expect("rt")).await;
    let page = get_with_cookie(&format!("{base}/profile"), &alice.cookie, "text/html").await;
    assert_eq!(page.status(), StatusCode::FOUND);
    let location = page.headers()[LOCATION].to_str().expect("location");
    assert!(location.starts_with("/login?returnTo="), "{location}");
    assert!(
        support::rp::clears_cookie(&set_cookies(&page), support::rp::SESSION_COOKIE),
        "{:?}",
        set_cookies(&page)
    );
    // The session is over for every copy of the cookie, not only this one.
    let api = get_with_cookie(
        &format!("{base}/profile"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // Explicit refresh, an API client: 401, and a browser: login.
    let bob = sign_in_as(&Agent::browser(), &base, idp.issuer(), "bob").await;
    spend_refresh_token(idp.issuer(), bob.refresh_token.as_deref().expect("rt")).await;
    let refreshed =
        get_with_cookie(&format!("{base}/refresh"), &bob.cookie, "application/json").await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["error"], "unauthenticated", "{body}");
    let page = get_with_cookie(&format!("{base}/refresh"), &bob.cookie, "text/html").await;
    assert_eq!(
        page.status(),
        StatusCode::FOUND,
        "the session is gone: login"
    );
}

#[tokio::test]
async fn an_op_outage_during_refresh_is_a_503_and_signs_nobody_out() {
    // Tokens still valid for a while: an automatic refresh that fails keeps
    // them; an expired one cannot be used, so the request is a 503.
    let site = site().await;
    let base = site.base.clone();
    let idp = start_idp(
        DevIdpConfig::new()
            .with_client(dev_client(CLIENT_ID, &base))
            .with_access_token_ttl_secs(30),
    )
    .await;
    let issuer = idp.issuer().to_owned();
    serve_rp(
        site,
        rp_builder(&issuer, &base, CLIENT_ID)
            .auto_refresh(true)
            .refresh_before(Duration::from_secs(60))
            .http_timeout(Duration::from_secs(1)),
    )
    .await;
    let alice = sign_in_as(&Agent::browser(), &base, &issuer, "alice").await;
    idp.shutdown().await;

    // Due for refresh, the OP is gone, the token still works: served.
    let served = get_with_cookie(
        &format!("{base}/session"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(served.status(), StatusCode::OK);
    let session: Value = served.json().await.expect("json");
    assert_eq!(
        session["access_token"].as_str(),
        alice.access_token.as_deref()
    );

    // An explicit refresh says the OP is unavailable, with Retry-After.
    let refreshed = get_with_cookie(
        &format!("{base}/refresh"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refreshed.headers().contains_key(RETRY_AFTER));
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["error"], "refresh_unavailable", "{body}");
    assert!(
        !body
            .to_string()
            .contains(alice.refresh_token.as_deref().expect("rt")),
        "no token in the body"
    );
    // Still signed in: the outage logged nobody out.
    let profile = get_with_cookie(
        &format!("{base}/session"),
        &alice.cookie,
        "application/json",
    )
    .await;
    assert_eq!(profile.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_and_an_op_outage_make_a_503_not_a_logout() {
    let site = site().await;
    let base = site.base.clone();
    let idp = idp(&[&base], Duration::ZERO).await;
    let issuer = idp.issuer().to_owned();
    serve_rp(
        site,
        auto_refreshing(rp_builder(&issuer, &base, CLIENT_ID)).http_timeout(Duration::from_secs(1)),
    )
    .await;
    let alice = signed_in_and_expired(&base, &issuer).await;
    idp.shutdown().await;
    for accept in ["application/json", "text/html"] {
        let response = get_with_cookie(&format!("{base}/profile"), &alice.cookie, accept).await;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{accept}"
        );
        assert!(
            !support::rp::clears_cookie(&set_cookies(&response), support::rp::SESSION_COOKIE),
            "the session cookie is kept"
        );
    }
}
