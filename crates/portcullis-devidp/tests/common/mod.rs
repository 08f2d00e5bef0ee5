//! Shared helpers for the dev OP integration tests.
#![allow(dead_code)]

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_devidp::{AuthMethod, DevClient, DevIdpConfig, RunningDevIdp, SigningAlg, start};
use serde_json::Value;

pub const RP: &str = "http://rp.test/callback";
pub const RP_LOGOUT: &str = "http://rp.test/signed-out";
pub const SECRET: &str = "s3cret:&+ value";

pub struct Fixture {
    pub idp: RunningDevIdp,
    pub http: reqwest::Client,
}

impl Fixture {
    pub fn issuer(&self) -> String {
        self.idp.issuer().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.idp.issuer())
    }
}

/// The standard test clients: `web` (basic, RS256), `post` (client_secret_post, ES256),
/// `spa` (public, EdDSA).
pub fn config() -> DevIdpConfig {
    DevIdpConfig::new()
        .with_client(
            DevClient::confidential("web", SECRET, RP).with_post_logout_redirect_uri(RP_LOGOUT),
        )
        .with_client(
            DevClient::confidential("post", "post-secret", RP)
                .with_auth_method(AuthMethod::ClientSecretPost)
                .with_id_token_alg(SigningAlg::ES256),
        )
        .with_client(DevClient::public("spa", RP).with_id_token_alg(SigningAlg::EdDSA))
}

pub async fn fixture(config: DevIdpConfig) -> Fixture {
    let idp = start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Fixture { idp, http }
}

pub async fn auto_fixture() -> Fixture {
    fixture(config().with_auto_approve("alice")).await
}

pub fn pkce() -> (String, String) {
    let mut buf = [0u8; 32];
    aws_lc_rs::rand::fill(&mut buf).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(buf);
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// Standard authorization parameters for `client_id` with the given challenge.
pub fn auth_params(client_id: &str, challenge: &str) -> Vec<(String, String)> {
    [
        ("client_id", client_id),
        ("redirect_uri", RP),
        ("response_type", "code"),
        ("scope", "openid profile email groups"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn set(params: &mut Vec<(String, String)>, key: &str, value: &str) {
    params.retain(|(k, _)| k != key);
    params.push((key.to_owned(), value.to_owned()));
}

pub fn remove(params: &mut Vec<(String, String)>, key: &str) {
    params.retain(|(k, _)| k != key);
}

pub async fn get_authorize(
    f: &Fixture,
    params: &[(String, String)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut url = url::Url::parse(&f.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let mut req = f.http.get(url.as_str());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// Query parameters of a redirect's Location (which must start with `prefix`).
pub fn location_params(resp: &reqwest::Response, prefix: &str) -> HashMap<String, String> {
    assert_eq!(resp.status(), 302, "expected a redirect");
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(prefix),
        "{loc} does not start with {prefix}"
    );
    let url = url::Url::parse(loc).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `devidp.session=...` pair from a response's Set-Cookie, if any.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("devidp.session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Runs the authorization request under auto-approve and returns the code.
pub async fn code_for(f: &Fixture, client_id: &str, challenge: &str) -> String {
    let resp = get_authorize(f, &auth_params(client_id, challenge), None).await;
    let p = location_params(&resp, RP);
    p["code"].clone()
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// POSTs to /token as client `web` (Basic) and returns (status, headers, json).
pub async fn token_web(
    f: &Fixture,
    params: &[(String, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = f
        .http
        .post(f.url("/token"))
        .header("authorization", basic("web", SECRET))
        .form(params)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

pub fn code_exchange(code: &str, verifier: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", RP),
        ("code_verifier", verifier),
    ])
}

/// A full code flow for `web`; returns the token response.
pub async fn login_web(f: &Fixture) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(f, "web", &challenge).await;
    let (status, _, body) = token_web(f, &code_exchange(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub fn claims(jwt: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(jwt)
        .unwrap()
        .claims
}

/// Extracts hidden inputs (name → value) and the form action from an HTML page.
pub fn parse_form(html: &str) -> (String, HashMap<String, String>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let needle = format!("{name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = tag[start..].find('"')? + start;
        Some(unescape(&tag[start..end]))
    };
    let form_start = html.find("<form").expect("a form");
    let form_tag_end = html[form_start..].find('>').unwrap() + form_start;
    let action = attr(&html[form_start..form_tag_end], "action").unwrap();
    let mut inputs = HashMap::new();
    let mut rest = &html[form_tag_end..];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..end];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            inputs.insert(n, v);
        }
        rest = &rest[end..];
    }
    (action, inputs)
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
