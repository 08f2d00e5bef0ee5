//! Authorization endpoint and the code exchange.
mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn query_mode_code_flow_with_pkce_returns_valid_tokens() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let resp = get_authorize(&f, &auth_params("web", &challenge), None).await;
    let p = location_params(&resp, RP);
    assert_eq!(p["state"], "st-123");
    assert_eq!(p["iss"], f.issuer(), "RFC 9207 iss parameter");
    assert!(session_cookie(&resp).is_some(), "OP session cookie is set");

    let (status, headers, body) = token_web(&f, &code_exchange(&p["code"], &verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "openid profile email groups");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() >= 43)
    );

    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], f.issuer());
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["aud"], "web");
    assert_eq!(id["azp"], "web");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Alice Example");
    assert_eq!(id["groups"], json!(["admin", "users"]));
    assert!(id["sid"].as_str().is_some());
    let (iat, exp) = (id["iat"].as_u64().unwrap(), id["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 300);
    assert!(id["auth_time"].as_u64().unwrap() <= iat);

    let header = jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["iss"], f.issuer());
    assert_eq!(at["sub"], "alice");
    assert_eq!(at["aud"], "web");
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["scope"], "openid profile email groups");
    assert!(at["jti"].as_str().is_some());
}

#[tokio::test]
async fn form_post_mode_returns_an_auto_submitting_form_with_code_state_and_iss() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "response_mode", "form_post");
    let resp = get_authorize(&f, &params, None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("location").is_none());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""));
    assert!(html.contains("document.forms[0].submit()"));
    assert!(html.contains("<button type=\"submit\">"), "no-JS fallback");
    let (action, inputs) = parse_form(&html);
    assert_eq!(action, RP);
    assert_eq!(inputs["state"], "st-123");
    assert_eq!(inputs["iss"], f.issuer());
    let (status, _, body) = token_web(&f, &code_exchange(&inputs["code"], &verifier)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn form_post_mode_escapes_a_hostile_state() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "response_mode", "form_post");
    set(&mut params, "state", "\"><script>alert(1)</script>");
    let html = get_authorize(&f, &params, None).await.text().await.unwrap();
    assert!(!html.contains("<script>alert"));
    let (_, inputs) = parse_form(&html);
    assert_eq!(inputs["state"], "\"><script>alert(1)</script>");
}

#[tokio::test]
async fn post_to_authorize_is_accepted() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let resp = f
        .http
        .post(f.url("/authorize"))
        .form(&auth_params("web", &challenge))
        .send()
        .await
        .unwrap();
    let p = location_params(&resp, RP);
    assert!(p.contains_key("code"));
}

#[tokio::test]
async fn rejects_code_exchange_with_wrong_pkce_verifier() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let (status, _, body) = token_web(&f, &code_exchange(&code, &other_verifier)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn rejects_reused_authorization_code() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let (status, _, _) = token_web(&f, &code_exchange(&code, &verifier)).await;
    assert_eq!(status, 200);
    let (status, _, body) = token_web(&f, &code_exchange(&code, &verifier)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn rejects_code_exchange_with_different_redirect_uri() {
    let f = fixture(
        config().with_auto_approve("alice").with_client(
            portcullis_devidp::DevClient::confidential("two", "pw", RP)
                .with_redirect_uri("http://rp.test/other"),
        ),
    )
    .await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "two", &challenge).await;
    let resp = f
        .http
        .post(f.url("/token"))
        .header("authorization", basic("two", "pw"))
        .form(&form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://rp.test/other"),
            ("code_verifier", &verifier),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn rejects_code_redeemed_by_another_client() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let mut params = code_exchange(&code, &verifier);
    params.extend(form(&[
        ("client_id", "post"),
        ("client_secret", "post-secret"),
    ]));
    let resp = f
        .http
        .post(f.url("/token"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn rejects_bad_client_secret_with_invalid_client_and_401() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let resp = f
        .http
        .post(f.url("/token"))
        .header("authorization", basic("web", "wrong"))
        .form(&code_exchange(&code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn rejects_basic_credentials_that_are_not_form_urlencoded() {
    // The secret contains ':', '&', '+' and ' '; sent raw, '+' decodes to ' ' and fails.
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let raw = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("web:{SECRET}"),
    );
    let resp = f
        .http
        .post(f.url("/token"))
        .header("authorization", format!("Basic {raw}"))
        .form(&code_exchange(&code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn rejects_client_using_a_method_other_than_registered() {
    let f = auto_fixture().await;
    // `web` is registered for client_secret_basic; client_secret_post is refused.
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let mut params = code_exchange(&code, &verifier);
    params.extend(form(&[("client_id", "web"), ("client_secret", SECRET)]));
    let resp = f
        .http
        .post(f.url("/token"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // `post` is registered for client_secret_post; Basic is refused.
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "post", &challenge).await;
    let resp = f
        .http
        .post(f.url("/token"))
        .header("authorization", basic("post", "post-secret"))
        .form(&code_exchange(&code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A confidential client cannot authenticate with client_id alone.
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let mut params = code_exchange(&code, &verifier);
    params.extend(form(&[("client_id", "web")]));
    let resp = f
        .http
        .post(f.url("/token"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn rejects_two_client_authentication_methods_at_once() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "web", &challenge).await;
    let mut params = code_exchange(&code, &verifier);
    params.extend(form(&[("client_secret", SECRET)]));
    let (status, _, body) = token_web(&f, &params).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn public_client_exchanges_with_client_id_only() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let code = code_for(&f, "spa", &challenge).await;
    let mut params = code_exchange(&code, &verifier);
    params.extend(form(&[("client_id", "spa")]));
    let resp = f
        .http
        .post(f.url("/token"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn rejects_unsupported_grant_type_and_missing_parameters() {
    let f = auto_fixture().await;
    let (status, _, body) = token_web(&f, &form(&[("grant_type", "client_credentials")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, _, body) = token_web(&f, &form(&[("grant_type", "authorization_code")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = token_web(&f, &form(&[("code", "x")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn unknown_client_at_authorize_shows_html_error_without_redirect() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("nobody", &challenge);
    set(&mut params, "client_id", "<b>nobody</b>");
    let resp = get_authorize(&f, &params, None).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("Unknown client"));
    assert!(!html.contains("<b>nobody"));
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_html_error_without_redirect() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    for bad in [
        "http://evil.test/callback",
        "http://rp.test/callback/",
        "http://rp.test/callback?x=1",
        "HTTP://rp.test/callback",
    ] {
        let mut params = auth_params("web", &challenge);
        set(&mut params, "redirect_uri", bad);
        let resp = get_authorize(&f, &params, None).await;
        assert_eq!(resp.status(), 400, "{bad}");
        assert!(resp.headers().get("location").is_none(), "{bad}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Unregistered redirect_uri"));
    }
    let mut params = auth_params("web", &challenge);
    remove(&mut params, "redirect_uri");
    let resp = get_authorize(&f, &params, None).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

async fn authorize_error(f: &Fixture, params: &[(String, String)]) -> String {
    let resp = get_authorize(f, params, None).await;
    let p = location_params(&resp, RP);
    assert!(!p.contains_key("code"));
    assert_eq!(p["iss"], f.issuer());
    assert_eq!(p.get("state").map(String::as_str), Some("st-123"));
    p["error"].clone()
}

#[tokio::test]
async fn rejects_response_type_other_than_code() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    for rt in ["token", "id_token", "code id_token"] {
        let mut params = auth_params("web", &challenge);
        set(&mut params, "response_type", rt);
        assert_eq!(
            authorize_error(&f, &params).await,
            "unsupported_response_type"
        );
    }
}

#[tokio::test]
async fn rejects_authorization_without_pkce_or_with_plain_method() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    remove(&mut params, "code_challenge");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
    let mut params = auth_params("web", &challenge);
    remove(&mut params, "code_challenge_method");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
    let mut params = auth_params("web", &verifier);
    set(&mut params, "code_challenge_method", "plain");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
    let mut params = auth_params("web", "short");
    set(&mut params, "code_challenge", "not-a-sha256-digest");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
}

#[tokio::test]
async fn rejects_authorization_without_openid_scope() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "scope", "profile email");
    assert_eq!(authorize_error(&f, &params).await, "invalid_scope");
}

#[tokio::test]
async fn rejects_repeated_authorization_parameters() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    params.push(("state".into(), "second".into()));
    let resp = get_authorize(&f, &params, None).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn rejects_unknown_response_mode_and_bad_max_age() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "response_mode", "fragment");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
    let mut params = auth_params("web", &challenge);
    set(&mut params, "max_age", "-1");
    assert_eq!(authorize_error(&f, &params).await, "invalid_request");
}

#[tokio::test]
async fn prompt_none_without_session_returns_login_required() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "prompt", "none");
    assert_eq!(authorize_error(&f, &params).await, "login_required");
}

#[tokio::test]
async fn prompt_none_with_a_session_returns_a_code() {
    let f = auto_fixture().await;
    let (_, challenge) = pkce();
    let first = get_authorize(&f, &auth_params("web", &challenge), None).await;
    let cookie = session_cookie(&first).unwrap();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "prompt", "none");
    let resp = get_authorize(&f, &params, Some(&cookie)).await;
    assert!(location_params(&resp, RP).contains_key("code"));
}

#[tokio::test]
async fn acr_values_and_audience_are_reflected_in_tokens() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "acr_values", "urn:dev:loa:2 urn:dev:loa:1");
    set(&mut params, "audience", "https://api.example.test");
    let resp = get_authorize(&f, &params, None).await;
    let code = location_params(&resp, RP)["code"].clone();
    let (_, _, body) = token_web(&f, &code_exchange(&code, &verifier)).await;
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "urn:dev:loa:2");
    assert_eq!(id["aud"], "web");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], "https://api.example.test");
    assert_eq!(at["client_id"], "web");
}

#[tokio::test]
async fn scope_limits_released_claims_and_unknown_scopes_are_dropped() {
    let f = auto_fixture().await;
    let (verifier, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "scope", "openid email made-up");
    let code = location_params(&get_authorize(&f, &params, None).await, RP)["code"].clone();
    let (_, _, body) = token_web(&f, &code_exchange(&code, &verifier)).await;
    assert_eq!(body["scope"], "openid email");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "alice@example.com");
    assert!(id.get("name").is_none());
    assert!(id.get("groups").is_none());
}

#[tokio::test]
async fn token_response_omits_refresh_token_when_disabled() {
    let f = fixture(
        config()
            .with_auto_approve("alice")
            .with_refresh_tokens(false),
    )
    .await;
    let body = login_web(&f).await;
    assert!(body.get("refresh_token").is_none());
}
