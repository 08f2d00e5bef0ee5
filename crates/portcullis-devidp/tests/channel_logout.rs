//! Back-Channel Logout 1.0 and Front-Channel Logout 1.0, OP side: logout tokens
//! delivered to a real receiver, the front-channel iframes, and the session APIs.
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_devidp::{AuthMethod, DevClient, DevIdpConfig, SigningAlg};
use serde_json::{Value, json};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const WEB_FCL: &str = "http://rp.test/fcl?x=1";
const SPA_FCL: &str = "http://spa.test/frontchannel-logout";

// ------------------------------------------------------------------ receiver

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Delivery {
    client: String,
    content_type: String,
    token: String,
}

#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Delivery>>>);

impl Inbox {
    fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn collect(
    State(inbox): State<Inbox>,
    Path(client): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    inbox.0.lock().unwrap().push(Delivery {
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        token: fields.get("logout_token").cloned().unwrap_or_default(),
        client: client.clone(),
    });
    // BCL §2.8 lets frameworks answer 204 for an empty 200.
    if client == "post" {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    }
}

/// A back-channel receiver: `/bcl/{client}` collects, `/fail` answers 500, `/moved`
/// redirects to `/bcl/moved-target` (which must never be reached).
async fn receiver() -> (String, Inbox) {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/bcl/{client}", post(collect))
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/moved",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/bcl/moved-target")],
                )
            }),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, inbox)
}

/// A loopback URL on which nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/bcl")
}

// ------------------------------------------------------------------ fixture

/// `web` (RS256, back- and front-channel), `post` (ES256, back-channel only), `spa`
/// (EdDSA, front-channel only), `plain` (neither), and three back-channel clients whose
/// receivers fail: `broken` (500), `gone` (connection refused), `moved` (307).
async fn channel_config(bcl: &str) -> DevIdpConfig {
    DevIdpConfig::new()
        .with_client(
            DevClient::confidential("web", SECRET, RP)
                .with_post_logout_redirect_uri(RP_LOGOUT)
                .with_backchannel_logout_uri(format!("{bcl}/bcl/web"))
                .with_frontchannel_logout_uri(WEB_FCL),
        )
        .with_client(
            DevClient::confidential("post", "post-secret", RP)
                .with_auth_method(AuthMethod::ClientSecretPost)
                .with_id_token_alg(SigningAlg::ES256)
                .with_backchannel_logout_uri(format!("{bcl}/bcl/post")),
        )
        .with_client(
            DevClient::public("spa", RP)
                .with_id_token_alg(SigningAlg::EdDSA)
                .with_frontchannel_logout_uri(SPA_FCL),
        )
        .with_client(DevClient::public("plain", RP))
        .with_client(
            DevClient::public("broken", RP).with_backchannel_logout_uri(format!("{bcl}/fail")),
        )
        .with_client(
            DevClient::public("gone", RP).with_backchannel_logout_uri(closed_port_url().await),
        )
        .with_client(
            DevClient::public("moved", RP).with_backchannel_logout_uri(format!("{bcl}/moved")),
        )
}

async fn channel_fixture() -> (Fixture, Inbox) {
    let (bcl, inbox) = receiver().await;
    let f = fixture(channel_config(&bcl).await.with_auto_approve("alice")).await;
    (f, inbox)
}

/// Signs `client_id` in under `cookie` (a fresh OP session when `None`) and returns
/// the session cookie and the code.
async fn authorize(
    f: &Fixture,
    client_id: &str,
    challenge: &str,
    cookie: Option<&str>,
) -> (String, String) {
    let resp = get_authorize(f, &auth_params(client_id, challenge), cookie).await;
    let cookie = session_cookie(&resp)
        .or_else(|| cookie.map(str::to_owned))
        .expect("an OP session");
    let code = location_params(&resp, RP)["code"].clone();
    (cookie, code)
}

/// A fresh OP session signed into `web` (code redeemed); returns the cookie and the
/// ID token.
async fn sign_in_web(f: &Fixture, cookie: Option<&str>) -> (String, String) {
    let (verifier, challenge) = pkce();
    let (cookie, code) = authorize(f, "web", &challenge, cookie).await;
    let (status, _, body) = token_web(f, &code_exchange(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
    (cookie, body["id_token"].as_str().unwrap().to_owned())
}

/// Signs the session of `cookie` into each of `clients` as well.
async fn also_sign_into(f: &Fixture, cookie: &str, clients: &[&str]) {
    for client in clients {
        let (_, challenge) = pkce();
        authorize(f, client, &challenge, Some(cookie)).await;
    }
}

async fn end_session(f: &Fixture, params: &[(&str, &str)], cookie: &str) -> reqwest::Response {
    let mut url = url::Url::parse(&f.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    f.http
        .get(url.as_str())
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Validates a logout token as an RP would: signature against the OP's JWKS with the
/// key its `kid` names, `iss`, `aud`, `iat` and `exp`.
async fn validate_logout_token(f: &Fixture, token: &str, aud: &str, alg: Algorithm) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, alg);
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: JwkSet = f
        .http
        .get(f.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the kid names a JWKS key");
    let mut v = Validation::new(alg);
    v.set_issuer(&[f.issuer()]);
    v.set_audience(&[aud]);
    v.leeway = 0;
    v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("the logout token validates against the JWKS")
        .claims
}

async fn prompt_none_error(f: &Fixture, cookie: &str) -> Option<String> {
    let (_, challenge) = pkce();
    let mut params = auth_params("web", &challenge);
    set(&mut params, "prompt", "none");
    let resp = get_authorize(f, &params, Some(cookie)).await;
    location_params(&resp, RP).get("error").cloned()
}

// ------------------------------------------------------------------ back-channel

#[tokio::test]
async fn end_session_delivers_one_logout_token_per_backchannel_client_before_answering() {
    let (f, inbox) = channel_fixture().await;
    let (cookie, _) = sign_in_web(&f, None).await;
    // Signing in twice more to web must not duplicate its delivery.
    also_sign_into(&f, &cookie, &["post", "spa", "plain", "web"]).await;
    assert!(inbox.take().is_empty(), "nothing is sent at sign-in");

    let resp = end_session(&f, &[], &cookie).await;
    assert_eq!(resp.status(), 200);
    // The deliveries are complete when the end_session response arrives.
    let mut got = inbox.take();
    got.sort_by(|a, b| a.client.cmp(&b.client));
    let clients: Vec<&str> = got.iter().map(|d| d.client.as_str()).collect();
    assert_eq!(clients, ["post", "web"]);
    for d in &got {
        assert_eq!(d.content_type, "application/x-www-form-urlencoded");
        assert!(!d.token.is_empty());
    }
    // A second end_session for the same (now dead) cookie sends nothing.
    end_session(&f, &[], &cookie).await;
    assert!(inbox.take().is_empty());
}

#[tokio::test]
async fn logout_token_header_and_claims_follow_bcl_and_validate_against_the_jwks() {
    let (f, inbox) = channel_fixture().await;
    let (cookie, id_token) = sign_in_web(&f, None).await;
    also_sign_into(&f, &cookie, &["post"]).await;
    let id = claims(&id_token);
    let sid = id["sid"]
        .as_str()
        .expect("the ID token has a sid")
        .to_owned();

    end_session(&f, &[("id_token_hint", &id_token)], &cookie).await;
    let got = inbox.take();
    assert_eq!(got.len(), 2);
    let mut jtis = Vec::new();
    for d in &got {
        let (aud, alg) = match d.client.as_str() {
            "web" => ("web", Algorithm::RS256),
            "post" => ("post", Algorithm::ES256),
            other => panic!("unexpected delivery to {other}"),
        };
        let c = validate_logout_token(&f, &d.token, aud, alg).await;
        assert_eq!(c["iss"], f.issuer());
        assert_eq!(c["aud"], aud);
        assert_eq!(c["sub"], "alice");
        assert_eq!(
            c["sid"],
            sid.as_str(),
            "the logout token's sid is the ID token's"
        );
        assert_eq!(c["events"], json!({ EVENT: {} }));
        assert!(c.get("nonce").is_none(), "a logout token has no nonce");
        let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
        assert_eq!(exp - iat, 120);
        let jti = c["jti"].as_str().unwrap().to_owned();
        assert!(jti.len() >= 32);
        jtis.push(jti);
    }
    assert_ne!(jtis[0], jtis[1], "each logout token has its own jti");
}

#[tokio::test]
async fn a_new_sign_in_after_logout_gets_a_new_sid() {
    let (f, inbox) = channel_fixture().await;
    let (cookie, first) = sign_in_web(&f, None).await;
    let first_sid = claims(&first)["sid"].as_str().unwrap().to_owned();
    // Reusing the OP session keeps the sid.
    let (_, again) = sign_in_web(&f, Some(&cookie)).await;
    assert_eq!(claims(&again)["sid"], first_sid.as_str());

    end_session(&f, &[], &cookie).await;
    assert_eq!(claims(&inbox.take()[0].token)["sid"], first_sid.as_str());

    let (cookie, second) = sign_in_web(&f, None).await;
    let second_sid = claims(&second)["sid"].as_str().unwrap().to_owned();
    assert_ne!(second_sid, first_sid);
    end_session(&f, &[], &cookie).await;
    assert_eq!(claims(&inbox.take()[0].token)["sid"], second_sid.as_str());
}

#[tokio::test]
async fn end_session_succeeds_when_backchannel_receivers_fail_and_never_follows_redirects() {
    let (f, inbox) = channel_fixture().await;
    let (cookie, id_token) = sign_in_web(&f, None).await;
    also_sign_into(&f, &cookie, &["broken", "gone", "moved"]).await;
    let resp = end_session(
        &f,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", RP_LOGOUT),
        ],
        &cookie,
    )
    .await;
    // web has a front-channel URI, so the page renders its iframe before moving on.
    assert_eq!(resp.status(), 200);
    let clients: Vec<String> = inbox.take().into_iter().map(|d| d.client).collect();
    assert_eq!(clients, ["web"], "the 307 of `moved` was not followed");
    assert_eq!(
        prompt_none_error(&f, &cookie).await.as_deref(),
        Some("login_required")
    );
}

// ------------------------------------------------------------------ front-channel

/// The `src` of every `<iframe` in `html`, unescaped.
fn iframe_srcs(html: &str) -> Vec<url::Url> {
    html.split("<iframe")
        .skip(1)
        .map(|tag| {
            let start = tag.find("src=\"").unwrap() + 5;
            let end = tag[start..].find('"').unwrap() + start;
            url::Url::parse(&unescape(&tag[start..end])).unwrap()
        })
        .collect()
}

fn query(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn end_session_page_loads_a_hidden_frontchannel_iframe_per_client_with_iss_and_sid() {
    let (f, _inbox) = channel_fixture().await;
    let (cookie, id_token) = sign_in_web(&f, None).await;
    also_sign_into(&f, &cookie, &["post", "spa", "plain"]).await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_owned();

    let resp = end_session(
        &f,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", RP_LOGOUT),
            ("state", "bye"),
        ],
        &cookie,
    )
    .await;
    assert_eq!(resp.status(), 200, "the page, not a redirect, comes first");
    assert!(resp.headers().get("location").is_none());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("devidp.session=;"));
    let html = resp.text().await.unwrap();

    let srcs = iframe_srcs(&html);
    assert_eq!(srcs.len(), 2, "web and spa have front-channel URIs");
    let expected = [
        (WEB_FCL, "rp.test", "/fcl"),
        (SPA_FCL, "spa.test", "/frontchannel-logout"),
    ];
    for (src, (_, host, path)) in srcs.iter().zip(expected) {
        assert_eq!(src.host_str(), Some(host));
        assert_eq!(src.path(), path);
        let q = query(src);
        assert_eq!(q["iss"], f.issuer());
        assert_eq!(q["sid"], sid);
    }
    assert_eq!(query(&srcs[0])["x"], "1", "the URI's own query is kept");
    assert!(html.contains("hidden"));
    // The post-logout redirect is offered as a link (no JS) and followed once loaded.
    assert!(html.contains(&format!(
        "<a id=\"continue\" href=\"{RP_LOGOUT}?state=bye\">"
    )));
    assert_eq!(html.matches("onload=\"fclLoaded()\"").count(), 2);
    assert!(html.find("function fclLoaded").unwrap() < html.find("<iframe").unwrap());
}

#[tokio::test]
async fn end_session_page_without_redirect_still_renders_the_frontchannel_iframes() {
    let (f, _inbox) = channel_fixture().await;
    let (cookie, id_token) = sign_in_web(&f, None).await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_owned();
    let resp = end_session(&f, &[], &cookie).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Signed out"));
    let srcs = iframe_srcs(&html);
    assert_eq!(srcs.len(), 1);
    assert_eq!(query(&srcs[0])["sid"], sid);
}

#[tokio::test]
async fn end_session_redirects_at_once_when_no_client_of_the_session_has_a_frontchannel_uri() {
    let (f, inbox) = channel_fixture().await;
    let (verifier, challenge) = pkce();
    let (cookie, code) = authorize(&f, "post", &challenge, None).await;
    let resp = f
        .http
        .post(f.url("/token"))
        .form(&form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP),
            ("code_verifier", &verifier),
            ("client_id", "post"),
            ("client_secret", "post-secret"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = end_session(
        &f,
        &[
            ("client_id", "web"),
            ("post_logout_redirect_uri", RP_LOGOUT),
        ],
        &cookie,
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], RP_LOGOUT);
    assert_eq!(inbox.take().len(), 1, "post still got its logout token");
}

// ------------------------------------------------------------------ programmatic API

#[tokio::test]
async fn end_sessions_of_ends_every_session_of_the_user_and_counts_2xx_deliveries() {
    let (bcl, inbox) = receiver().await;
    // Interactive sign-in, so that both alice and bob can have sessions.
    let f = fixture(channel_config(&bcl).await).await;
    let sign_in_as = |user: &'static str| {
        let f = &f;
        async move {
            let (_, challenge) = pkce();
            let html = get_authorize(f, &auth_params("web", &challenge), None)
                .await
                .text()
                .await
                .unwrap();
            let (action, inputs) = parse_form(&html);
            let resp = f
                .http
                .post(f.url(&action))
                .form(&form(&[("request", &inputs["request"]), ("user", user)]))
                .send()
                .await
                .unwrap();
            session_cookie(&resp).unwrap()
        }
    };
    let alice_1 = sign_in_as("alice").await;
    let alice_2 = sign_in_as("alice").await;
    let bob = sign_in_as("bob").await;
    also_sign_into(&f, &alice_1, &["post", "broken", "gone", "moved", "spa"]).await;

    // web ×2 (200) and post (204) are delivered; broken, gone and moved are not.
    assert_eq!(f.idp.end_sessions_of("alice").await, 3);
    let got = inbox.take();
    assert_eq!(got.len(), 3);
    let sids: std::collections::HashSet<String> = got
        .iter()
        .map(|d| {
            let c = claims(&d.token);
            assert_eq!(c["sub"], "alice");
            c["sid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(sids.len(), 2, "one sid per OP session");
    for cookie in [&alice_1, &alice_2] {
        assert_eq!(
            prompt_none_error(&f, cookie).await.as_deref(),
            Some("login_required")
        );
    }
    assert_eq!(
        prompt_none_error(&f, &bob).await,
        None,
        "bob is still signed in"
    );

    assert_eq!(f.idp.end_sessions_of("alice").await, 0);
    assert_eq!(f.idp.handle().end_sessions_of("nobody").await, 0);
    assert!(inbox.take().is_empty());
    assert_eq!(f.idp.handle().end_sessions_of("bob").await, 1);
    assert_eq!(claims(&inbox.take()[0].token)["sub"], "bob");
}

#[tokio::test]
async fn dev_end_session_route_ends_the_users_sessions_by_backchannel() {
    let (f, inbox) = channel_fixture().await;
    let (cookie, _) = sign_in_web(&f, None).await;
    let resp = f
        .http
        .post(f.url("/dev/end-session"))
        .header("accept", "application/json")
        .form(&form(&[("sub", "alice")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sub": "alice", "sessions_ended": 1, "logout_tokens_delivered": 1})
    );
    assert_eq!(inbox.take().len(), 1);
    assert_eq!(
        prompt_none_error(&f, &cookie).await.as_deref(),
        Some("login_required")
    );

    // The query works too, and a browser gets a page.
    sign_in_web(&f, None).await;
    let resp = f
        .http
        .post(f.url("/dev/end-session?sub=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Ended 1 OP session(s)"));
    assert_eq!(inbox.take().len(), 1);

    let resp = f.http.post(f.url("/dev/end-session")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = f
        .http
        .get(f.url("/dev/end-session?sub=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "only POST ends sessions");
}

#[tokio::test]
async fn landing_page_documents_the_dev_only_end_session_route() {
    let (f, _inbox) = channel_fixture().await;
    let html = f
        .http
        .get(f.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("action=\"{}/dev/end-session\"", f.issuer())));
    assert!(html.contains("name=\"sub\" value=\"alice\""));
    assert!(html.contains("dev only"));
}

#[tokio::test]
async fn sign_logout_token_signs_arbitrary_claims_with_the_rs256_key() {
    let (f, _inbox) = channel_fixture().await;
    let hostile = json!({
        "iss": f.issuer(),
        "aud": "web",
        "iat": 1_700_000_000u64,
        "exp": 4_000_000_000u64,
        "sub": "alice",
        "nonce": "not allowed in a logout token",
    });
    let token = f.idp.sign_logout_token(hostile.clone());
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), f.idp.signing_kid(SigningAlg::RS256));
    let c = validate_logout_token(&f, &token, "web", Algorithm::RS256).await;
    assert_eq!(c, hostile, "claims are signed verbatim");
}

#[tokio::test]
async fn sign_jws_keeps_a_lying_header_verbatim_and_signs_with_the_chosen_key() {
    let (f, _inbox) = channel_fixture().await;
    let header = json!({"alg": "HS256", "typ": "JWT", "crit": ["x-unknown"]});
    let token = f
        .idp
        .sign_jws(SigningAlg::ES256, header.clone(), json!({"sub": "alice"}))
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine as _;
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(decoded, header);
    // The signature is an honest ES256 one by the key the JWKS publishes.
    let jwks: JwkSet = f
        .http
        .get(f.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = f.idp.signing_kid(SigningAlg::ES256).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    assert!(
        jsonwebtoken::crypto::verify(parts[2], message.as_bytes(), &key, Algorithm::ES256).unwrap()
    );
}
