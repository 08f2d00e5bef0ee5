//! Browser error pages through the engine: a human title and the next action
//! (with the login route under its real path), an application's
//! `ErrorRenderer` used for browsers only, and JSON bodies for API clients
//! exactly as before.

mod support;

use portcullis::error::{ErrorPage, OidcError, escape_html};
use reqwest::{Method, StatusCode};
use support::Agent;
use support::rp::{CLIENT_ID, dev_client, rp_builder, serve_rp, site, start_env, start_idp};

#[tokio::test]
async fn a_callback_without_a_pending_login_says_the_link_expired_and_offers_sign_in() {
    let env = start_env(|c, _| c, |b| b).await;
    let agent = Agent::browser();
    let page = agent
        .request(
            Method::GET,
            &env.url("/callback?code=x&state=y"),
            "text/html",
        )
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let body = page.text().await.expect("body");
    assert!(body.contains("This sign-in link has expired"), "{body}");
    assert!(body.contains("href=\"/login\">Sign in again"), "{body}");
    // API clients keep the JSON body they always had.
    let json = agent
        .request(
            Method::GET,
            &env.url("/callback?code=x&state=y"),
            "application/json",
        )
        .await;
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    let value: serde_json::Value = json.json().await.expect("json");
    assert_eq!(value["error"], "no_pending_login");
}

#[tokio::test]
async fn an_application_renders_the_pages_itself_and_json_is_untouched() {
    let site = site().await;
    let base = site.base.clone();
    let idp =
        start_idp(portcullis_devidp::DevIdpConfig::new().with_client(dev_client(CLIENT_ID, &base)))
            .await;
    let builder =
        rp_builder(idp.issuer(), &base, CLIENT_ID).error_renderer(
            |page: &ErrorPage, error: &OidcError| {
                matches!(error, OidcError::NoPendingLogin | OidcError::Unauthenticated).then(|| {
                format!(
                    "<html><body class=\"my-app\"><h1>{}</h1><a href=\"{}\">{}</a></body></html>",
                    escape_html(page.title),
                    escape_html(&page.action.href),
                    escape_html(page.action.label)
                )
            })
            },
        );
    serve_rp(site, builder).await;
    let agent = Agent::browser();
    let page = agent
        .request(
            Method::GET,
            &format!("{base}/callback?state=y"),
            "text/html",
        )
        .await;
    assert_eq!(
        page.status(),
        StatusCode::BAD_REQUEST,
        "the status stays Portcullis'"
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let body = page.text().await.expect("body");
    assert!(body.contains("class=\"my-app\""), "{body}");
    assert!(body.contains("This sign-in link has expired"), "{body}");
    assert!(body.contains("href=\"/login\""), "{body}");
    // The renderer declined this one (it returned None): the built-in page.
    let denied = agent
        .request(
            Method::GET,
            &format!("{base}/callback?foo=1&foo=2"),
            "text/html",
        )
        .await;
    let body = denied.text().await.expect("body");
    assert!(!body.contains("my-app"), "{body}");
    assert!(body.contains(portcullis::error::PAGE_STYLE), "{body}");
    // JSON for API clients is not rendered by the application.
    let json = agent
        .request(Method::GET, &format!("{base}/profile"), "application/json")
        .await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    let value: serde_json::Value = json.json().await.expect("json");
    assert_eq!(value["error"], "unauthenticated");
}
