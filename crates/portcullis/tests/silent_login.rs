//! Silent login (`attempt_silent_login`): an anonymous page view tries
//! `prompt=none` once. A user signed in at the OP is signed in without a
//! page; one who is not comes back anonymously (no error, no loop); API
//! calls and `fetch`es never try; a user who signed out is not signed back in.

mod support;

use portcullis_devidp::DevIdpConfig;
use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Method, StatusCode};
use support::Agent;
use support::rp::{dev_client, rp_builder, serve_rp, sign_in_as, site, start_idp};
use url::Url;

/// Starts a dev OP with two clients, `a` (silent login off) and `b`
/// (silent login on, its own cookie name so both RPs share a host).
async fn two_rps() -> (portcullis_devidp::RunningDevIdp, String, String) {
    let (site_a, site_b) = (site().await, site().await);
    let (a, b) = (site_a.base.clone(), site_b.base.clone());
    let idp = start_idp(
        DevIdpConfig::new()
            .with_client(dev_client("a", &a))
            .with_client(dev_client("b", &b)),
    )
    .await;
    serve_rp(
        site_a,
        rp_builder(idp.issuer(), &a, "a").session_cookie_name("a.session"),
    )
    .await;
    serve_rp(
        site_b,
        rp_builder(idp.issuer(), &b, "b")
            .session_cookie_name("b.session")
            .attempt_silent_login(true),
    )
    .await;
    (idp, a, b)
}

fn visited_op(trail: &[Url], issuer: &str) -> usize {
    trail
        .iter()
        .filter(|u| u.as_str().starts_with(&format!("{issuer}/authorize")))
        .count()
}

#[tokio::test]
async fn a_user_without_an_op_session_comes_back_anonymous_once_and_only_once() {
    let (idp, _a, b) = two_rps().await;
    let browser = Agent::browser();
    let landing = browser.navigate(&format!("{b}/")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.body, "Signed out");
    assert_eq!(landing.url.path(), "/");
    assert_eq!(
        visited_op(&landing.trail, idp.issuer()),
        1,
        "{:?}",
        landing.trail
    );
    let authorize = landing
        .trail
        .iter()
        .find(|u| u.path() == "/authorize")
        .expect("the OP was asked");
    assert!(
        authorize
            .query_pairs()
            .any(|(k, v)| k == "prompt" && v == "none"),
        "{authorize}"
    );
    // No second attempt in this browser session.
    let again = browser.navigate(&format!("{b}/")).await;
    assert_eq!(again.body, "Signed out");
    assert_eq!(again.trail.len(), 1, "served directly: {:?}", again.trail);
}

#[tokio::test]
async fn a_user_signed_in_at_the_op_is_signed_in_silently() {
    let (idp, a, b) = two_rps().await;
    let browser = Agent::browser();
    // Signing in at RP a opens an OP session in this browser.
    sign_in_as(&browser, &a, idp.issuer(), "alice").await;
    let landing = browser.navigate(&format!("{b}/")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.body, "Signed in as alice", "{:?}", landing.trail);
    assert_eq!(visited_op(&landing.trail, idp.issuer()), 1);
}

#[tokio::test]
async fn a_user_who_signed_out_is_not_signed_straight_back_in() {
    let (idp, _a, b) = two_rps().await;
    let browser = Agent::browser();
    // A normal sign-in (the login route never tries silently), then logout.
    sign_in_as(&browser, &b, idp.issuer(), "alice").await;
    let logout = browser
        .request(Method::GET, &format!("{b}/logout"), "text/html")
        .await;
    assert_eq!(logout.status(), StatusCode::FOUND);
    // The OP session is still alive, but no silent attempt is made.
    let landing = browser.navigate(&format!("{b}/")).await;
    assert_eq!(landing.body, "Signed out", "{:?}", landing.trail);
    assert_eq!(visited_op(&landing.trail, idp.issuer()), 0);
}

#[tokio::test]
async fn api_calls_fetches_and_frames_never_try() {
    let (_idp, _a, b) = two_rps().await;
    let client = support::rp::bare_client();
    for (accept, mode, dest) in [
        ("application/json", None, None),
        ("text/html", Some("cors"), None),
        ("text/html", Some("navigate"), Some("iframe")),
    ] {
        let mut request = client.get(format!("{b}/")).header(ACCEPT, accept);
        if let Some(mode) = mode {
            request = request.header("sec-fetch-mode", mode);
        }
        if let Some(dest) = dest {
            request = request.header("sec-fetch-dest", dest);
        }
        let response = request.send().await.expect("request");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{accept} {mode:?} {dest:?}"
        );
        assert!(response.headers().get(LOCATION).is_none());
    }
    // A real navigation does try.
    let response = client
        .get(format!("{b}/"))
        .header(ACCEPT, "text/html")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn an_op_refusal_other_than_interaction_is_still_an_error() {
    // prompt=none with an OP error that is not "interaction needed" keeps
    // its error page: only the expected outcomes fall back silently.
    let (idp, _a, b) = two_rps().await;
    let browser = Agent::browser();
    let start = browser
        .request(Method::GET, &format!("{b}/"), "text/html")
        .await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let authorize = Url::parse(start.headers()[LOCATION].to_str().expect("location")).expect("url");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let callback = format!(
        "{b}/callback?error=server_error&state={state}&iss={}",
        url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>()
    );
    let landing = browser.navigate(&callback).await;
    assert_ne!(landing.status, StatusCode::OK, "{}", landing.body);
}
