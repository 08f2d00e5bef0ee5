//! Helpers for the bearer tests (`bearer_*.rs`, `api_me_contract.rs`):
//! real access tokens from the dev OP (an authorization code flow with PKCE
//! and an RFC 8707 `resource`), a small API served with `BearerLayer`, and a
//! minimal OP whose JWKS can rotate and counts its fetches.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::bearer::{BearerRequirements, BearerVerifier};
use portcullis::{BearerAuth, BearerLayer};
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::header::LOCATION;
use serde_json::{Value, json};

/// The API's identifier (its `aud`).
pub const API: &str = "https://api.example.test";
/// The confidential client that asks the dev OP for tokens.
pub const CLIENT_ID: &str = "api-client";
pub const CLIENT_SECRET: &str = "api-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A dev OP that signs `alice` in without a page, with the test client.
pub async fn start_idp(config: DevIdpConfig) -> RunningDevIdp {
    let config = config
        .with_client(DevClient::confidential(
            CLIENT_ID,
            CLIENT_SECRET,
            REDIRECT_URI,
        ))
        .with_auto_approve("alice");
    portcullis_devidp::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("dev idp")
}

/// A token response from the dev OP for `alice`, with `aud` = `resource`
/// (when given) and the scope asked for.
pub async fn token_response(issuer: &str, resource: Option<&str>, scope: &str) -> Value {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
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
    let url = url::Url::parse_with_params(&format!("{issuer}/authorize"), &query).expect("url");
    let authorize = http.get(url).send().await.expect("authorize");
    let location = authorize
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("authorize answered {} without Location", authorize.status()))
        .to_owned();
    let code = url::Url::parse(&location)
        .expect("redirect")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let response = http
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token");
    assert!(
        response.status().is_success(),
        "token endpoint: {}",
        response.status()
    );
    response.json().await.expect("token json")
}

/// A real access token for the API (`aud` = [`API`]).
pub async fn access_token(issuer: &str, scope: &str) -> String {
    let response = token_response(issuer, Some(API), scope).await;
    response["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Binds a free loopback port and serves `app` on it; returns the base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// The API under test:
/// - `GET /me`: any valid token; `{"sub", "scope", "iss"}`;
/// - `GET /write`: also needs scope `messages:write`;
/// - `GET /admin`: also needs `groups` to include `admins`.
pub async fn serve_api(verifier: BearerVerifier) -> String {
    let app = Router::new()
        .route(
            "/me",
            get(|token: BearerAuth| async move {
                Json(json!({"sub": token.sub(), "scope": token.scope(), "iss": token.iss()}))
            }),
        )
        .route(
            "/write",
            get(|| async { "written" })
                .route_layer(BearerLayer::new(verifier.clone()).require_scope("messages:write")),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(
                BearerLayer::new(verifier.clone())
                    .require(BearerRequirements::new().claim_includes("groups", ["admins"])),
            ),
        )
        .layer(BearerLayer::new(verifier));
    serve(app).await
}

/// A plain HTTP client (no redirects).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `GET {url}` with `Authorization: Bearer {token}`.
pub async fn get_with_token(url: &str, token: &str) -> reqwest::Response {
    client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// The status, the `WWW-Authenticate` value and the JSON body of a response.
pub async fn answer(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, challenge, body)
}

/// Asserts a `401 invalid_token` refusal whose body does not echo the token.
pub async fn assert_invalid_token(response: reqwest::Response, token: &str, why: &str) {
    let (status, challenge, body) = answer(response).await;
    assert_eq!(status, 401, "{why}: {body}");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{why}: challenge {challenge:?}"
    );
    assert_eq!(body["error"], "invalid_token", "{why}: {body}");
    assert_no_echo(&body, token, why);
}

/// The body holds no segment of the token.
pub fn assert_no_echo(body: &Value, token: &str, why: &str) {
    let text = body.to_string();
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!text.contains(part), "{why}: the body echoes the token");
    }
}

/// An Ed25519 signing key with its public JWK.
#[derive(Clone)]
pub struct EdKey {
    pub kid: String,
    pub encoding: jsonwebtoken::EncodingKey,
    pub jwk: Value,
}

impl EdKey {
    pub fn new(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
        Self {
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    /// An `at+jwt` for `claims`, naming `kid` in the header.
    pub fn sign_naming(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_naming(&self.kid, claims)
    }
}

struct MiniOpState {
    issuer: String,
    jwks: Mutex<Value>,
    hits: AtomicUsize,
}

/// A minimal OP on loopback: discovery and a JWKS that can rotate, with a
/// count of JWKS fetches.
pub struct MiniOp {
    state: Arc<MiniOpState>,
}

impl MiniOp {
    pub async fn start(key: &EdKey) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let state = Arc::new(MiniOpState {
            issuer,
            jwks: Mutex::new(json!({"keys": [key.jwk.clone()]})),
            hits: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(s): State<Arc<MiniOpState>>| async move {
                    let i = &s.issuer;
                    Json(json!({
                        "issuer": i,
                        "authorization_endpoint": format!("{i}/authorize"),
                        "token_endpoint": format!("{i}/token"),
                        "jwks_uri": format!("{i}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["EdDSA"],
                    }))
                }),
            )
            .route(
                "/jwks",
                get(|State(s): State<Arc<MiniOpState>>| async move {
                    s.hits.fetch_add(1, Ordering::SeqCst);
                    let doc = s.jwks.lock().map(|j| j.clone()).unwrap_or(Value::Null);
                    Json(doc).into_response()
                }),
            )
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state }
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// JWKS fetches so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Publishes `keys` from now on.
    pub fn publish(&self, keys: &[&EdKey]) {
        if let Ok(mut jwks) = self.state.jwks.lock() {
            *jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        }
    }

    /// Claims of a valid access token from this OP for the API.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer(), "sub": sub, "aud": API, "client_id": "c",
            "scope": "messages:read", "iat": now, "exp": now + 300, "jti": random_b64(8),
        })
    }
}

/// A random key id.
pub fn random_kid() -> String {
    random_b64(9)
}

/// Waits a little, for background tasks.
pub async fn pause() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// The payload of a JWT, unverified (for building hostile variants).
pub fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}
