//! The interactive sign-in page, the OP session and RP-initiated logout.
mod common;

use common::*;
use serde_json::Value;

async fn sign_in_page(f: &Fixture, params: &[(String, String)]) -> String {
    let resp = get_authorize(f, params, None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("location").is_none());
    resp.text().await.unwrap()
}

async fn approve(f: &Fixture, handle: &str, user: &str) -> reqwest::Response {
    f.http
        .post(f.url("/authorize/approve"))
        .form(&form(&[("request", handle), ("user", user)]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_page_lists_users_with_the_button_selector_and_dev_banner() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let html = sign_in_page(&f, &auth_params("web", &challenge)).await;
    assert!(html.contains("Development OpenID Provider — not for production"));
    assert!(html.contains("<button type=\"submit\" name=\"user\" value=\"alice\""));
    assert!(html.contains("<button type=\"submit\" name=\"user\" value=\"bob\""));
    assert!(html.contains("Sign in as Alice Example"));
    assert!(html.contains("action=\"/authorize/approve\""));
}

#[tokio::test]
async fn sign_in_page_escapes_hostile_state_and_login_hint() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "state", "\"><script>alert('s')</script>");
    set(&mut params, "login_hint", "\"><img src=x onerror=alert(1)>");
    let html = sign_in_page(&f, &params).await;
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    // The state is kept server-side, not in the page, and echoed intact later.
    let (_, inputs) = parse_form(&html);
    let resp = approve(&f, &inputs["request"], "bob").await;
    let p = location_params(&resp, RP);
    assert_eq!(p["state"], "\"><script>alert('s')</script>");
}

#[tokio::test]
async fn login_hint_preselects_the_matching_user() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "login_hint", "bob@example.org");
    let html = sign_in_page(&f, &params).await;
    assert!(html.contains("value=\"bob\" class=\"hint\" autofocus"));
    assert!(!html.contains("value=\"alice\" class=\"hint\""));
}

#[tokio::test]
async fn approving_signs_in_the_chosen_user_and_the_handle_is_single_use() {
    let f = fixture(config()).await;
    let (verifier, challenge) = pkce();
    let html = sign_in_page(&f, &auth_params("web", &challenge)).await;
    let (action, inputs) = parse_form(&html);
    assert_eq!(action, "/authorize/approve");
    let handle = &inputs["request"];
    let resp = approve(&f, handle, "bob").await;
    let cookie = session_cookie(&resp).unwrap();
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Lax"));
    let p = location_params(&resp, RP);
    assert_eq!(p["state"], "st-123");
    let (_, _, body) = token_web(&f, &code_exchange(&p["code"], &verifier)).await;
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "bob");
    assert_eq!(id["email_verified"], false);

    let again = approve(&f, handle, "alice").await;
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("location").is_none());

    // The OP session signs bob in again without the page.
    let (_, challenge) = pkce();
    let resp = get_authorize(&f, &auth_params("web", &challenge), Some(&cookie)).await;
    assert!(location_params(&resp, RP).contains_key("code"));
}

#[tokio::test]
async fn rejects_approval_with_forged_handle_or_unknown_user() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let resp = approve(&f, "forged-handle", "alice").await;
    assert_eq!(resp.status(), 400);
    let html = sign_in_page(&f, &auth_params("web", &challenge)).await;
    let (_, inputs) = parse_form(&html);
    let resp = approve(&f, &inputs["request"], "mallory").await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn cancel_returns_access_denied_to_the_client() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let html = sign_in_page(&f, &auth_params("web", &challenge)).await;
    let (_, inputs) = parse_form(&html);
    let resp = f
        .http
        .post(f.url("/authorize/cancel"))
        .form(&form(&[("request", &inputs["request"])]))
        .send()
        .await
        .unwrap();
    let p = location_params(&resp, RP);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["state"], "st-123");
}

#[tokio::test]
async fn prompt_login_and_exceeded_max_age_show_the_sign_in_page_again() {
    let f = fixture(config()).await;
    let (_, challenge) = pkce();
    let html = sign_in_page(&f, &auth_params("web", &challenge)).await;
    let (_, inputs) = parse_form(&html);
    let cookie = session_cookie(&approve(&f, &inputs["request"], "alice").await).unwrap();

    let mut params = auth_params("web", &challenge);
    set(&mut params, "prompt", "login");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert_eq!(resp.status(), 200, "prompt=login asks again");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut params = auth_params("web", &challenge);
    set(&mut params, "max_age", "0");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert_eq!(resp.status(), 200, "max_age exceeded asks again");

    let mut params = auth_params("web", &challenge);
    set(&mut params, "max_age", "3600");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert!(location_params(&resp, RP).contains_key("code"));

    let mut params = auth_params("web", &challenge);
    set(&mut params, "max_age", "0");
    set(&mut params, "prompt", "none");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert_eq!(location_params(&resp, RP)["error"], "login_required");
}

// ------------------------------------------------------------------ logout

async fn logout(f: &Fixture, params: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
    let mut url = url::Url::parse(&f.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let mut req = f.http.get(url.as_str());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn signed_in(f: &Fixture) -> (String, Value) {
    let (verifier, challenge) = pkce();
    let resp = get_authorize(f, &auth_params("web", &challenge), None).await;
    let cookie = session_cookie(&resp).unwrap();
    let code = location_params(&resp, RP)["code"].clone();
    let (_, _, body) = token_web(f, &code_exchange(&code, &verifier)).await;
    (cookie, body)
}

#[tokio::test]
async fn end_session_redirects_to_a_registered_uri_with_state_and_clears_the_session() {
    let f = auto_fixture().await;
    let (cookie, tokens) = signed_in(&f).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let resp = logout(
        &f,
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", RP_LOGOUT),
            ("state", "bye"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        format!("{RP_LOGOUT}?state=bye").as_str()
    );
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("devidp.session=;") && cleared.contains("Max-Age=0"));

    // The old session cookie no longer signs in silently.
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "prompt", "none");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert_eq!(location_params(&resp, RP)["error"], "login_required");
}

#[tokio::test]
async fn end_session_with_client_id_only_is_accepted() {
    let f = auto_fixture().await;
    let resp = logout(
        &f,
        &[
            ("client_id", "web"),
            ("post_logout_redirect_uri", RP_LOGOUT),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], RP_LOGOUT);
}

#[tokio::test]
async fn end_session_rejects_an_unregistered_post_logout_redirect_uri() {
    let f = auto_fixture().await;
    let (cookie, tokens) = signed_in(&f).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    for params in [
        vec![
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "http://evil.test/"),
        ],
        vec![
            ("client_id", "web"),
            ("post_logout_redirect_uri", "http://rp.test/signed-out/x"),
        ],
        // No client can be identified.
        vec![("post_logout_redirect_uri", RP_LOGOUT)],
    ] {
        let resp = logout(&f, &params, Some(&cookie)).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn end_session_rejects_a_forged_id_token_hint_or_mismatched_client() {
    let f = auto_fixture().await;
    let other = auto_fixture().await;
    let (_, foreign) = signed_in(&other).await;
    let resp = logout(
        &f,
        &[
            ("id_token_hint", foreign["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", RP_LOGOUT),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());

    let (_, tokens) = signed_in(&f).await;
    let resp = logout(
        &f,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("client_id", "post"),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn end_session_accepts_an_expired_id_token_hint() {
    let f = fixture(
        config()
            .with_auto_approve("alice")
            .with_id_token_ttl_secs(1),
    )
    .await;
    let (_, tokens) = signed_in(&f).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let resp = logout(
        &f,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", RP_LOGOUT),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn end_session_without_redirect_shows_a_signed_out_page() {
    let f = auto_fixture().await;
    let (cookie, _) = signed_in(&f).await;
    let resp = logout(&f, &[], Some(&cookie)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("location").is_none());
    let html = resp.text().await.unwrap();
    assert!(html.contains("Signed out"));
}
