//! Interop, bearer tokens: panva's `oidc-provider` (`interop/op.mjs`) issues
//! JWT access tokens through RFC 8707 resource indicators (`typ` at+jwt,
//! RS256, `aud` = the resource) and answers RFC 7662 introspection; the
//! Portcullis `BearerVerifier` checks both, behind an axum API.
//!
//! Needs `node` and `interop/node_modules` (`scripts/test` installs them). It
//! skips loudly when they are missing, and fails under `PORTCULLIS_REQUIRE_ALL=1`.

mod bearer_support;
mod support;

use std::process::Stdio;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_support::{API, answer, assert_invalid_token, get_with_token, serve_api};
use portcullis::bearer::BearerVerifier;
use serde_json::{Value, json};
use support::{Agent, skip_or_fail, workspace_root};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CLIENT_ID: &str = "bearer-interop";
const CLIENT_SECRET: &str = "bearer-interop-secret-0123456789";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

struct Op {
    issuer: String,
    _child: Child,
}

async fn start_op() -> Option<Op> {
    let interop = workspace_root().join("interop");
    if !interop.join("node_modules/oidc-provider").is_dir() {
        skip_or_fail("interop/node_modules is missing (run `npm ci` in interop/)");
        return None;
    }
    let clients = json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
    }]);
    let mut child = match Command::new("node")
        .arg(interop.join("op.mjs"))
        .args(["--port", "0", "--clients"])
        .arg(clients.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            skip_or_fail(&format!("node could not be started: {error}"));
            return None;
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("oidc-provider did not start within 30 s")
    .expect("read stdout")
    .expect("oidc-provider exited before READY");
    let issuer = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .to_owned();
    Some(Op {
        issuer,
        _child: child,
    })
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A code flow at oidc-provider (its interactions are automatic) and the
/// token response; with `resource`, the access token is a JWT for it.
async fn tokens(op: &Op, scope: &str, resource: Option<&str>) -> Value {
    let agent = Agent::browser();
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    let mut query = vec![
        ("response_type", "code".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("scope", scope.to_owned()),
        ("state", random_b64(8)),
        ("nonce", random_b64(8)),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_owned()),
    ];
    if let Some(resource) = resource {
        query.push(("resource", resource.to_owned()));
    }
    let mut url = url::Url::parse_with_params(&format!("{}/auth", op.issuer), &query).expect("url");
    let mut code = None;
    for _ in 0..10 {
        let response = agent
            .client
            .get(url.clone())
            .send()
            .await
            .expect("authorization step");
        let Some(location) = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
        else {
            panic!("authorization stopped at {url} with {}", response.status());
        };
        url = url.join(location).expect("location");
        if url.as_str().starts_with(REDIRECT_URI) {
            code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned());
            break;
        }
    }
    let code = code.unwrap_or_else(|| panic!("no code; ended at {url}"));
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("code_verifier", verifier),
    ];
    if let Some(resource) = resource {
        form.push(("resource", resource.to_owned()));
    }
    let response = bearer_support::client()
        .post(format!("{}/token", op.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&form)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    let body: Value = response.json().await.expect("token json");
    assert!(status.is_success(), "token endpoint: {status} {body}");
    body
}

fn header(token: &str) -> Value {
    let header = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json")
}

#[tokio::test]
async fn oidc_provider_jwt_access_tokens_from_resource_indicators_are_verified() {
    let Some(op) = start_op().await else { return };
    let verifier = BearerVerifier::builder()
        .issuer(&op.issuer)
        .audience(API)
        .build()
        .await
        .expect("verifier");
    let base = serve_api(verifier).await;
    let response = tokens(&op, "openid api:read", Some(API)).await;
    let token = response["access_token"].as_str().expect("access_token");
    assert_eq!(
        header(token)["typ"],
        "at+jwt",
        "oidc-provider types RFC 9068 tokens"
    );
    let (status, _, body) = answer(get_with_token(&format!("{base}/me"), token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    assert!(
        body["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|x| x == "api:read")),
        "{body}"
    );
    // A scope the token lacks: 403 naming it.
    let (status, _, body) = answer(get_with_token(&format!("{base}/write"), token).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["scope"], "messages:write");
    // The same token at an API with another audience: refused.
    let other = BearerVerifier::builder()
        .issuer(&op.issuer)
        .audience("https://other-api.example.test")
        .build()
        .await
        .expect("verifier");
    let other = serve_api(other).await;
    assert_invalid_token(
        get_with_token(&format!("{other}/me"), token).await,
        token,
        "aud",
    )
    .await;
    // Its ID token is never an access token.
    let id_token = response["id_token"].as_str().expect("id_token");
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), id_token).await,
        id_token,
        "id_token",
    )
    .await;
}

#[tokio::test]
async fn oidc_provider_opaque_access_tokens_are_verified_by_introspection() {
    let Some(op) = start_op().await else { return };
    let verifier = BearerVerifier::builder()
        .issuer(&op.issuer)
        .audience(API)
        .audience(CLIENT_ID)
        .introspection_client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .expect("verifier (oidc-provider advertises introspection_endpoint)");
    let base = serve_api(verifier).await;
    let response = tokens(&op, "openid profile", None).await;
    let token = response["access_token"].as_str().expect("access_token");
    assert!(
        !token.contains('.'),
        "without a resource the token is opaque"
    );
    let (status, _, body) = answer(get_with_token(&format!("{base}/me"), token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    // A token oidc-provider never issued: inactive.
    let fake = random_b64(32);
    assert_invalid_token(
        get_with_token(&format!("{base}/me"), &fake).await,
        &fake,
        "inactive",
    )
    .await;
    // A refresh token is not an access token: oidc-provider answers
    // `active: true` for it, without `token_type`, which Portcullis refuses.
    if let Some(refresh) = response["refresh_token"].as_str() {
        let (status, _, body) = answer(get_with_token(&format!("{base}/me"), refresh).await).await;
        assert_eq!(status, 401, "refresh token: {body}");
    }
}
