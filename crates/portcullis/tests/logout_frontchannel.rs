//! Front-Channel Logout 1.0 at the relying party: the OP's logged-out page
//! frames `GET /frontchannel-logout?iss=…&sid=…` of a real axum app behind
//! `OidcLayer`, which ends the sessions of that OP session.

mod support;

use std::sync::Arc;

use portcullis::store::MemorySessionStore;
use portcullis_devidp::DevClient;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use support::Agent;
use support::rp::*;

fn with_fcl(client: DevClient, base: &str) -> DevClient {
    client.with_frontchannel_logout_uri(format!("{base}/frontchannel-logout"))
}

async fn fcl_env(server_side: bool) -> Env {
    start_env(with_fcl, |b| {
        if server_side {
            b.session_store(Arc::new(MemorySessionStore::default()))
        } else {
            b
        }
    })
    .await
}

/// The origin of the dev OP (its issuer has no path).
fn op_origin(env: &Env) -> String {
    let url = url::Url::parse(env.issuer()).expect("issuer");
    url.origin().ascii_serialization()
}

/// `GET /frontchannel-logout` with `params`, as the OP's iframe loads it: a
/// cross-site subresource, so without the RP's SameSite=Lax cookies.
async fn frontchannel(env: &Env, params: &[(&str, &str)]) -> reqwest::Response {
    let mut url = url::Url::parse(&env.url("/frontchannel-logout")).expect("url");
    url.query_pairs_mut().extend_pairs(params);
    bare_client()
        .get(url.as_str())
        .header("sec-fetch-dest", "iframe")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("front-channel request")
}

fn assert_only_the_op_frames_it_and_it_is_never_cached(env: &Env, response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(
        response
            .headers()
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok()),
        Some(format!("frame-ancestors {}", op_origin(env)).as_str())
    );
}

async fn a_frontchannel_logout_with_iss_and_sid_ends_the_session(server_side: bool) {
    let env = fcl_env(server_side).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;

    let response = frontchannel(&env, &[("iss", env.issuer()), ("sid", &alice.sid)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_only_the_op_frames_it_and_it_is_never_cached(&env, &response);
    assert_signed_out(&env.base, &alice.cookie, "after front-channel logout").await;
}

#[tokio::test]
async fn a_frontchannel_logout_with_iss_and_sid_ends_a_cookie_session() {
    a_frontchannel_logout_with_iss_and_sid_ends_the_session(false).await;
}

#[tokio::test]
async fn a_frontchannel_logout_with_iss_and_sid_ends_a_server_side_session() {
    a_frontchannel_logout_with_iss_and_sid_ends_the_session(true).await;
}

#[tokio::test]
async fn a_frontchannel_logout_with_a_wrong_iss_is_rejected_and_the_session_lives() {
    let env = fcl_env(false).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let trailing_slash = format!("{}/", env.issuer());
    for iss in ["https://evil.example", trailing_slash.as_str()] {
        let response = frontchannel(&env, &[("iss", iss), ("sid", &alice.sid)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "iss {iss}");
        assert_only_the_op_frames_it_and_it_is_never_cached(&env, &response);
        assert_signed_in(&env.base, &alice.cookie, &format!("iss {iss}")).await;
    }
    // A sid without iss is rejected too (FCL §2: iss comes with sid).
    let response = frontchannel(&env, &[("sid", &alice.sid)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_signed_in(&env.base, &alice.cookie, "sid without iss").await;
}

#[tokio::test]
async fn a_frontchannel_logout_for_another_sid_leaves_the_session_alive() {
    let env = fcl_env(false).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = frontchannel(
        &env,
        &[("iss", env.issuer()), ("sid", "another-op-session")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_signed_in(&env.base, &alice.cookie, "another sid was named").await;
}

/// The whole front-channel flow: the user signs out at the OP, whose
/// logged-out page frames the RP's front-channel logout URL.
#[tokio::test]
async fn signing_out_at_the_op_ends_the_rp_session_through_the_frontchannel_iframe() {
    let env = fcl_env(false).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;

    let page = agent
        .request(
            reqwest::Method::GET,
            &format!("{}/logout?client_id={CLIENT_ID}", env.issuer()),
            "text/html",
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    let start = html
        .find("<iframe")
        .expect("an iframe on the logged-out page");
    let src_at = start + html[start..].find("src=\"").expect("src") + 5;
    let src = &html[src_at..src_at + html[src_at..].find('"').expect("quote")];
    let src = src.replace("&amp;", "&");
    assert!(src.starts_with(&env.url("/frontchannel-logout?")), "{src}");

    let framed = bare_client()
        .get(&src)
        .header("sec-fetch-dest", "iframe")
        .send()
        .await
        .expect("iframe");
    assert_eq!(framed.status(), StatusCode::OK);
    assert_only_the_op_frames_it_and_it_is_never_cached(&env, &framed);
    assert_signed_out(&env.base, &alice.cookie, "signed out at the OP").await;
}

/// Without `sid` (an OP that does not send one), the session whose cookie
/// the framed request carries is the one that ends, and a copy of its
/// cookie is refused afterwards.
#[tokio::test]
async fn a_frontchannel_logout_without_sid_ends_the_session_of_the_cookie_it_carries() {
    let env = fcl_env(false).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let mut url = url::Url::parse(&env.url("/frontchannel-logout")).expect("url");
    url.query_pairs_mut().append_pair("iss", env.issuer());
    let response = get_with_cookie(url.as_str(), &alice.cookie, "text/html").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_only_the_op_frames_it_and_it_is_never_cached(&env, &response);
    assert_signed_out(&env.base, &alice.cookie, "a copy of the framed cookie").await;
}

/// The same, for the cookie itself: the answer that ends the session also
/// removes its cookie, as every other logout answer does.
#[tokio::test]
async fn a_frontchannel_logout_without_sid_clears_the_session_cookie_it_ended() {
    let env = fcl_env(false).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let mut url = url::Url::parse(&env.url("/frontchannel-logout")).expect("url");
    url.query_pairs_mut().append_pair("iss", env.issuer());
    let response = get_with_cookie(url.as_str(), &alice.cookie, "text/html").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        clears_cookie(&set_cookies(&response), SESSION_COOKIE),
        "no Set-Cookie clears {SESSION_COOKIE}: {:?}",
        set_cookies(&response)
    );
}

/// The framed request carries no session: with `auth_required` (the
/// default) it must still reach the route, not be sent to login.
#[tokio::test]
async fn a_frontchannel_logout_reaches_an_app_that_requires_auth_on_every_route() {
    let env = start_env(with_fcl, |b| b.auth_required(true)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let response = frontchannel(&env, &[("iss", env.issuer()), ("sid", &alice.sid)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_signed_out(&env.base, &alice.cookie, "auth_required app").await;
}
