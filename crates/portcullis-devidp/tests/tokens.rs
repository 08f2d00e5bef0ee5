//! Refresh, userinfo and revocation.
mod common;

use common::*;
use serde_json::Value;

fn refresh_params(token: &str) -> Vec<(String, String)> {
    form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
}

async fn userinfo(f: &Fixture, auth: Option<&str>) -> reqwest::Response {
    let mut req = f.http.get(f.url("/userinfo"));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_rejects_the_old_one() {
    let f = auto_fixture().await;
    let first = login_web(&f).await;
    let old = first["refresh_token"].as_str().unwrap();
    let (status, headers, second) = token_web(&f, &refresh_params(old)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(headers["cache-control"], "no-store");
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);

    let a = claims(first["id_token"].as_str().unwrap());
    let b = claims(second["id_token"].as_str().unwrap());
    for k in ["iss", "sub", "aud", "azp", "sid", "auth_time"] {
        assert_eq!(a[k], b[k], "{k} is unchanged after refresh");
    }
    assert!(b.get("nonce").is_none(), "refreshed ID token has no nonce");
    assert_ne!(first["access_token"], second["access_token"]);

    let (status, _, body) = token_web(&f, &refresh_params(old)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _, _) = token_web(&f, &refresh_params(new)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rejects_refresh_token_presented_by_another_client_without_consuming_it() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let mut params = refresh_params(rt);
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
    let (status, _, _) = token_web(&f, &refresh_params(rt)).await;
    assert_eq!(status, 200, "the rightful client can still use it");
}

#[tokio::test]
async fn refresh_may_narrow_but_not_widen_scope() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let mut wider = refresh_params(rt);
    wider.extend(form(&[("scope", "openid phone")]));
    let (status, _, body) = token_web(&f, &wider).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let mut narrower = refresh_params(rt);
    narrower.extend(form(&[("scope", "openid email")]));
    let (status, _, body) = token_web(&f, &narrower).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid email");
    let id = claims(body["id_token"].as_str().unwrap());
    assert!(id.get("name").is_none());
}

#[tokio::test]
async fn rejects_unknown_refresh_token() {
    let f = auto_fixture().await;
    let (status, _, body) = token_web(&f, &refresh_params("made-up")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn userinfo_returns_scoped_claims_for_a_valid_access_token() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let at = tokens["access_token"].as_str().unwrap();
    let resp = userinfo(&f, Some(&format!("Bearer {at}"))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["preferred_username"], "alice");
    // POST works too.
    let resp = f
        .http
        .post(f.url("/userinfo"))
        .header("authorization", format!("Bearer {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn bearer_error(resp: &reqwest::Response) -> String {
    resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn userinfo_rejects_missing_garbage_tampered_and_id_tokens() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let at = tokens["access_token"].as_str().unwrap();

    let resp = userinfo(&f, None).await;
    assert_eq!(resp.status(), 401);
    assert!(bearer_error(&resp).starts_with("Bearer"));

    let resp = userinfo(&f, Some("Bearer not.a.jwt")).await;
    assert_eq!(resp.status(), 401);
    assert!(bearer_error(&resp).contains("error=\"invalid_token\""));

    // Flip one character of the signature.
    let mut tampered = at.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let resp = userinfo(&f, Some(&format!("Bearer {tampered}"))).await;
    assert_eq!(resp.status(), 401);
    assert!(bearer_error(&resp).contains("invalid_token"));

    // An ID token is not an access token (typ differs).
    let id = tokens["id_token"].as_str().unwrap();
    let resp = userinfo(&f, Some(&format!("Bearer {id}"))).await;
    assert_eq!(resp.status(), 401);

    // A token from another dev OP instance (other keys) is rejected.
    let other = auto_fixture().await;
    let foreign = login_web(&other).await;
    let resp = userinfo(
        &f,
        Some(&format!(
            "Bearer {}",
            foreign["access_token"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn userinfo_rejects_an_expired_access_token() {
    let f = fixture(
        config()
            .with_auto_approve("alice")
            .with_access_token_ttl_secs(1),
    )
    .await;
    let tokens = login_web(&f).await;
    let at = tokens["access_token"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let resp = userinfo(&f, Some(&format!("Bearer {at}"))).await;
    assert_eq!(resp.status(), 401);
    assert!(bearer_error(&resp).contains("invalid_token"));
}

async fn revoke(f: &Fixture, token: &str) -> reqwest::Response {
    f.http
        .post(f.url("/revoke"))
        .header("authorization", basic("web", SECRET))
        .form(&form(&[("token", token)]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoked_refresh_token_can_no_longer_be_used() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(revoke(&f, rt).await.status(), 200);
    let (status, _, body) = token_web(&f, &refresh_params(rt)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn revoked_access_token_is_refused_at_userinfo() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(revoke(&f, at).await.status(), 200);
    let resp = userinfo(&f, Some(&format!("Bearer {at}"))).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn revocation_answers_200_for_unknown_tokens_and_requires_client_auth() {
    let f = auto_fixture().await;
    assert_eq!(revoke(&f, "never-issued").await.status(), 200);
    let resp = f
        .http
        .post(f.url("/revoke"))
        .header("authorization", basic("web", "wrong"))
        .form(&form(&[("token", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = f
        .http
        .post(f.url("/revoke"))
        .header("authorization", basic("web", SECRET))
        .form(&form(&[("token_type_hint", "refresh_token")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn another_client_cannot_revoke_a_refresh_token() {
    let f = auto_fixture().await;
    let tokens = login_web(&f).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let resp = f
        .http
        .post(f.url("/revoke"))
        .form(&form(&[
            ("token", rt),
            ("client_id", "post"),
            ("client_secret", "post-secret"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _, _) = token_web(&f, &refresh_params(rt)).await;
    assert_eq!(status, 200, "token survived the foreign revocation");
}
