//! A scripted, deliberately hostile OpenID Provider for `tests/hostile_op.rs`,
//! and the relying-party harness it is tested against.
//!
//! [`ScriptedOp`] is a real HTTP server (axum on 127.0.0.1:0). By default it
//! behaves like a correct OP: discovery, JWKS, an `/authorize` that answers at
//! once with a 302 back to the `redirect_uri` (`code`, the `state` it received
//! and `iss`), a `/token` that checks client authentication and PKCE and
//! returns an ID token signed with ES256 that echoes the request's `nonce`,
//! and `/userinfo`. Each test changes one knob of the [`Script`] to make it
//! lie in one specific way, and counts the hits it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis::{ConfigError, OidcLayer, OidcLayerBuilder, User};
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use crate::support::{Agent, Landing, bind_loopback, serve};

/// The client registered at the scripted OP.
pub const CLIENT_ID: &str = "hostile-rp";
/// Its client secret; it must never appear in an error page.
pub const CLIENT_SECRET: &str = "client-secret-7f3a9c1e5b2d4a68";
/// The RP's cookie key material.
const COOKIE_SECRET: &str = "hostile-op-cookie-secret-0123456789abcdef";
/// The subject the OP signs in.
pub const SUBJECT: &str = "alice";
/// The size cap on every response the RP reads (portcullis-core's `MAX_RESPONSE_BYTES`).
pub const ONE_MIB: usize = 1024 * 1024;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random URL-safe string (16 random bytes).
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect("system random");
    format!("{prefix}-{}", b64url(&bytes))
}

// ---------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------

/// A signing key of the OP: the private half for `jsonwebtoken`, the public
/// half as a JWK.
#[derive(Clone)]
pub struct OpKey {
    /// The key id.
    pub kid: String,
    /// The JWS algorithm it signs with.
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// The public JWK (with `kid`, `alg` and `use`).
    pub public_jwk: Value,
}

impl OpKey {
    /// A fresh P-256 key for ES256.
    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate P-256");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("parse P-256");
        // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!((point.len(), point[0]), (65, 4), "uncompressed P-256 point");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public_jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
            }),
        }
    }

    /// A fresh Ed25519 key for EdDSA.
    pub fn ed25519(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate Ed25519");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse Ed25519");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public_jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": b64url(pair.public_key().as_ref()),
            }),
        }
    }
}

/// How the OP signs the ID token.
#[derive(Clone)]
pub enum Signer {
    /// With this key (`alg` and `kid` from the key).
    Key(OpKey),
    /// `alg: none` and an empty signature.
    Unsigned,
    /// HS256 keyed with these bytes (no `kid`).
    Hs256(Vec<u8>),
}

/// A compact JWS of `claims`: the default header (`alg`, `typ`, and `kid` for
/// keys) patched with `header_patch`, signed as `signer` says.
pub fn compact_jws(signer: &Signer, header_patch: &Value, claims: &Value) -> String {
    let mut header = match signer {
        Signer::Key(key) => json!({"alg": alg_name(key.alg), "typ": "JWT", "kid": key.kid}),
        Signer::Unsigned => json!({"alg": "none", "typ": "JWT"}),
        Signer::Hs256(_) => json!({"alg": "HS256", "typ": "JWT"}),
    };
    apply_patch(&mut header, header_patch);
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).expect("header json")),
        b64url(&serde_json::to_vec(claims).expect("claims json")),
    );
    let signature = match signer {
        Signer::Key(key) => {
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key.encoding, key.alg)
                .expect("sign")
        }
        Signer::Unsigned => String::new(),
        Signer::Hs256(secret) => jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .expect("sign HS256"),
    };
    format!("{signing_input}.{signature}")
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        other => panic!("the scripted OP does not sign with {other:?}"),
    }
}

/// Merges `patch` (an object) into `target` (an object): `null` removes a member.
pub fn apply_patch(target: &mut Value, patch: &Value) {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        return;
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

// ---------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------

/// What the discovery endpoint answers.
#[derive(Clone, Debug)]
pub enum DiscoveryReply {
    /// The correct document.
    Document,
    /// The document with this `issuer` instead of the real one.
    IssuerOverride(String),
    /// A 302 to `/moved-discovery`, which serves the correct document.
    Redirect,
}

/// The `iss` parameter of the authorization response (RFC 9207).
#[derive(Clone, Debug)]
pub enum IssParam {
    /// The OP's issuer.
    Issuer,
    /// No `iss`.
    Missing,
    /// Another value.
    Other(String),
}

/// What `/authorize` sends back to the redirect URI.
#[derive(Clone, Debug)]
pub enum AuthorizeReply {
    /// `code`, `state`, `iss`.
    Code,
    /// `code` twice (different values), `state`, `iss`.
    DuplicateCode,
    /// An OAuth error response with `state` and `iss`.
    Error {
        /// The `error` code.
        error: String,
        /// The `error_description`.
        description: String,
    },
}

/// What `/token` answers.
#[derive(Clone, Debug)]
pub enum TokenReply {
    /// A token response (shaped by `token_type` and `include_id_token`).
    Tokens,
    /// A 302 to `/elsewhere`, which would serve a valid token response.
    Redirect,
    /// A body of `ONE_MIB + 1` bytes; `streamed` hides the length (no Content-Length).
    Oversized {
        /// Sent in chunks without a Content-Length.
        streamed: bool,
    },
    /// A valid token response, but only after this delay.
    Delay(Duration),
    /// This status and JSON body.
    Raw(StatusCode, Value),
}

/// Everything a test can change about the OP. Defaults describe a correct OP.
#[derive(Clone)]
pub struct Script {
    /// The discovery endpoint's answer.
    pub discovery: DiscoveryReply,
    /// `authorization_response_iss_parameter_supported` in discovery.
    pub advertise_iss_parameter: bool,
    /// The public keys served at `jwks_uri`.
    pub published: Vec<Value>,
    /// A whole JWKS document that replaces `published`.
    pub jwks_document: Option<Value>,
    /// How ID tokens are signed.
    pub signer: Signer,
    /// `/authorize`'s answer.
    pub authorize: AuthorizeReply,
    /// The `iss` parameter in `/authorize`'s answer.
    pub authorize_iss: IssParam,
    /// Patch over the ID token's default claims (`null` removes a claim).
    pub claims_patch: Value,
    /// Patch over the ID token's default header (`null` removes a member).
    pub header_patch: Value,
    /// `/token`'s answer.
    pub token: TokenReply,
    /// The `token_type` of a token response.
    pub token_type: String,
    /// Whether a token response carries the ID token.
    pub include_id_token: bool,
    /// The userinfo body; `None` answers `{"sub": SUBJECT, ...}` consistently.
    pub userinfo: Option<Value>,
}

impl Script {
    /// A correct OP signing with `key`.
    pub fn signing_with(key: OpKey) -> Self {
        Self {
            discovery: DiscoveryReply::Document,
            advertise_iss_parameter: true,
            published: vec![key.public_jwk.clone()],
            jwks_document: None,
            signer: Signer::Key(key),
            authorize: AuthorizeReply::Code,
            authorize_iss: IssParam::Issuer,
            claims_patch: json!({}),
            header_patch: json!({}),
            token: TokenReply::Tokens,
            token_type: "Bearer".into(),
            include_id_token: true,
            userinfo: None,
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Self::signing_with(OpKey::es256("op-key-1"))
    }
}

/// Request counters, per endpoint.
#[derive(Default)]
pub struct Hits {
    /// `/.well-known/openid-configuration`.
    pub discovery: AtomicUsize,
    /// `/moved-discovery` (the target of the discovery redirect).
    pub moved_discovery: AtomicUsize,
    /// `/jwks`.
    pub jwks: AtomicUsize,
    /// `/authorize`.
    pub authorize: AtomicUsize,
    /// `/token`.
    pub token: AtomicUsize,
    /// `/elsewhere` (the target of the token endpoint redirect).
    pub elsewhere: AtomicUsize,
    /// `/userinfo`.
    pub userinfo: AtomicUsize,
}

/// What `/authorize` remembered for a code.
struct Grant {
    nonce: Option<String>,
    code_challenge: Option<String>,
}

struct OpState {
    issuer: String,
    script: Mutex<Script>,
    hits: Hits,
    grants: Mutex<HashMap<String, Grant>>,
    /// Every code, access token and ID token the OP handed out.
    issued: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running scripted OP.
#[derive(Clone)]
pub struct ScriptedOp {
    state: Arc<OpState>,
}

impl ScriptedOp {
    /// Starts the OP with `script` on 127.0.0.1:0.
    pub async fn start(script: Script) -> Self {
        let (listener, addr) = bind_loopback().await;
        let state = Arc::new(OpState {
            issuer: format!("http://127.0.0.1:{}", addr.port()),
            script: Mutex::new(script),
            hits: Hits::default(),
            grants: Mutex::new(HashMap::new()),
            issued: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/moved-discovery", get(moved_discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/elsewhere", get(elsewhere).post(elsewhere))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        serve(listener, app);
        Self { state }
    }

    /// The issuer (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// Changes the script (for the next requests).
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut lock(&self.state.script));
    }

    /// The hit counters.
    pub fn hits(&self) -> &Hits {
        &self.state.hits
    }

    /// Number of hits on one counter.
    pub fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Publishes only `key` and signs with it from now on (a key rotation).
    pub fn rotate_to(&self, key: OpKey) {
        self.script(|s| {
            s.published = vec![key.public_jwk.clone()];
            s.signer = Signer::Key(key);
        });
    }

    /// Every secret the OP handed out (codes, access tokens, ID tokens).
    pub fn issued(&self) -> Vec<String> {
        lock(&self.state.issued).clone()
    }
}

fn issue(state: &OpState, value: String) -> String {
    lock(&state.issued).push(value.clone());
    value
}

fn discovery_document(issuer: &str, script: &Script) -> Value {
    let issuer_field = match &script.discovery {
        DiscoveryReply::IssuerOverride(other) => other.clone(),
        _ => issuer.to_owned(),
    };
    json!({
        "issuer": issuer_field,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": script.advertise_iss_parameter,
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn discovery(State(state): State<Arc<OpState>>) -> Response {
    state.hits.discovery.fetch_add(1, Ordering::SeqCst);
    let script = lock(&state.script).clone();
    if let DiscoveryReply::Redirect = script.discovery {
        return found(&format!("{}/moved-discovery", state.issuer));
    }
    json_response(StatusCode::OK, &discovery_document(&state.issuer, &script))
}

async fn moved_discovery(State(state): State<Arc<OpState>>) -> Response {
    state.hits.moved_discovery.fetch_add(1, Ordering::SeqCst);
    let mut script = lock(&state.script).clone();
    script.discovery = DiscoveryReply::Document;
    json_response(StatusCode::OK, &discovery_document(&state.issuer, &script))
}

async fn jwks(State(state): State<Arc<OpState>>) -> Response {
    state.hits.jwks.fetch_add(1, Ordering::SeqCst);
    let script = lock(&state.script).clone();
    let document = script
        .jwks_document
        .unwrap_or_else(|| json!({ "keys": script.published }));
    json_response(StatusCode::OK, &document)
}

async fn authorize(
    State(state): State<Arc<OpState>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    state.hits.authorize.fetch_add(1, Ordering::SeqCst);
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(redirect_uri), Some(client_id)) = (param("redirect_uri"), param("client_id")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and client_id required",
        )
            .into_response();
    };
    if client_id != CLIENT_ID || param("response_type").as_deref() != Some("code") {
        return (StatusCode::BAD_REQUEST, "unknown client or response_type").into_response();
    }
    let Ok(mut target) = Url::parse(&redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    let script = lock(&state.script).clone();
    {
        let mut pairs = target.query_pairs_mut();
        match &script.authorize {
            AuthorizeReply::Code | AuthorizeReply::DuplicateCode => {
                let code = issue(&state, random_token("code"));
                lock(&state.grants).insert(
                    code.clone(),
                    Grant {
                        nonce: param("nonce"),
                        code_challenge: param("code_challenge"),
                    },
                );
                pairs.append_pair("code", &code);
                if let AuthorizeReply::DuplicateCode = script.authorize {
                    let second = issue(&state, random_token("code"));
                    pairs.append_pair("code", &second);
                }
            }
            AuthorizeReply::Error { error, description } => {
                pairs.append_pair("error", error);
                pairs.append_pair("error_description", description);
            }
        }
        if let Some(s) = param("state") {
            pairs.append_pair("state", &s);
        }
        match &script.authorize_iss {
            IssParam::Issuer => {
                pairs.append_pair("iss", &state.issuer);
            }
            IssParam::Missing => {}
            IssParam::Other(other) => {
                pairs.append_pair("iss", other);
            }
        }
    }
    found(target.as_str())
}

/// Checks `client_secret_basic` (the RP's default).
fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn token(State(state): State<Arc<OpState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.hits.token.fetch_add(1, Ordering::SeqCst);
    let script = lock(&state.script).clone();
    match &script.token {
        TokenReply::Tokens => {}
        TokenReply::Redirect => return found(&format!("{}/elsewhere", state.issuer)),
        TokenReply::Oversized { streamed: false } => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                vec![b' '; ONE_MIB + 1],
            )
                .into_response();
        }
        TokenReply::Oversized { streamed: true } => {
            // 17 chunks of 64 KiB: one chunk more than the cap, no Content-Length.
            let chunks = (0..17)
                .map(|_| Ok::<_, std::convert::Infallible>(Bytes::from(vec![b' '; 64 * 1024])));
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .expect("response");
        }
        TokenReply::Delay(delay) => tokio::time::sleep(*delay).await,
        TokenReply::Raw(status, body) => return json_response(*status, body),
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !client_authenticated(&headers) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
    }
    let grant = form
        .get("code")
        .and_then(|code| lock(&state.grants).remove(code));
    let Some(grant) = grant else {
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_grant"}));
    };
    // PKCE S256 (RFC 7636 §4.6).
    let verifier_ok = match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            b64url(digest(&SHA256, verifier.as_bytes()).as_ref()) == *challenge
        }
        _ => false,
    };
    if !verifier_ok {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}),
        );
    }
    let issued_at = now();
    let mut claims = json!({
        "iss": state.issuer,
        "sub": SUBJECT,
        "aud": CLIENT_ID,
        "exp": issued_at + 600,
        "iat": issued_at,
        "email": "alice@example.com",
        "name": "Alice",
    });
    if let Some(nonce) = grant.nonce {
        claims["nonce"] = Value::String(nonce);
    }
    apply_patch(&mut claims, &script.claims_patch);
    let id_token = issue(
        &state,
        compact_jws(&script.signer, &script.header_patch, &claims),
    );
    let access_token = issue(&state, random_token("at"));
    let mut response = json!({
        "access_token": access_token,
        "token_type": script.token_type,
        "expires_in": 300,
    });
    if script.include_id_token {
        response["id_token"] = Value::String(id_token);
    }
    json_response(StatusCode::OK, &response)
}

async fn elsewhere(State(state): State<Arc<OpState>>) -> Response {
    state.hits.elsewhere.fetch_add(1, Ordering::SeqCst);
    json_response(
        StatusCode::OK,
        &json!({"access_token": "redirected-at", "token_type": "Bearer"}),
    )
}

async fn userinfo(State(state): State<Arc<OpState>>) -> Response {
    state.hits.userinfo.fetch_add(1, Ordering::SeqCst);
    let script = lock(&state.script).clone();
    let body = script
        .userinfo
        .unwrap_or_else(|| json!({"sub": SUBJECT, "email": "alice@example.com", "name": "Alice"}));
    json_response(StatusCode::OK, &body)
}

// ---------------------------------------------------------------------------
// The relying party
// ---------------------------------------------------------------------------

/// An axum app protected by `OidcLayer` (auth not required globally), with
/// `/` and a `/profile` that returns the user's claims.
pub struct Rp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    op: ScriptedOp,
}

/// The builder every test starts from: the scripted OP, query response mode.
pub fn rp_builder(op: &ScriptedOp, base: &str) -> OidcLayerBuilder {
    OidcLayer::builder()
        .issuer_base_url(op.issuer())
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .base_url(base)
        .secret(COOKIE_SECRET)
        .auth_required(false)
}

impl Rp {
    /// Starts the RP against `op`; `configure` adjusts the builder.
    pub async fn try_start(
        op: &ScriptedOp,
        configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
    ) -> Result<Self, ConfigError> {
        let (listener, addr) = bind_loopback().await;
        let base = format!("http://127.0.0.1:{}", addr.port());
        let layer = configure(rp_builder(op, &base)).build().await?;
        let app = Router::new()
            .route("/", get(|| async { "home" }))
            .route(
                "/profile",
                get(|user: User| async move { axum::Json(user.claims().clone()) }),
            )
            .layer(layer);
        serve(listener, app);
        Ok(Self {
            base,
            op: op.clone(),
        })
    }

    /// Starts the RP with the default settings; panics if `build()` fails.
    pub async fn start(op: &ScriptedOp) -> Self {
        Self::start_with(op, |b| b).await
    }

    /// Starts the RP with adjusted settings; panics if `build()` fails.
    pub async fn start_with(
        op: &ScriptedOp,
        configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
    ) -> Self {
        match Self::try_start(op, configure).await {
            Ok(rp) => rp,
            Err(error) => panic!("OidcLayer::build failed: {error}"),
        }
    }

    /// A browser signs in from `/login` and follows everything to the end.
    pub async fn login(&self, browser: &Agent) -> Landing {
        browser.navigate(&format!("{}/login", self.base)).await
    }

    /// `GET /profile` as an API client, with `browser`'s cookies.
    pub async fn profile(&self, browser: &Agent) -> (StatusCode, String) {
        let response = browser
            .request(
                Method::GET,
                &format!("{}/profile", self.base),
                "application/json",
            )
            .await;
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// The login succeeded: the browser is back at `/` and `/profile` answers
    /// the claims, which are returned.
    pub async fn assert_signed_in(&self, browser: &Agent, landing: &Landing) -> Map<String, Value> {
        assert_eq!(
            (landing.status, landing.url.path()),
            (StatusCode::OK, "/"),
            "the login should have succeeded; body: {}",
            landing.body
        );
        let (status, body) = self.profile(browser).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).expect("claims JSON")
    }

    /// The login failed at the callback with `status`, the error page leaks
    /// no code, token or client secret, and no session was created.
    pub async fn assert_rejected(&self, browser: &Agent, landing: &Landing, status: StatusCode) {
        assert_eq!(
            landing.status, status,
            "unexpected status at {}; body: {}",
            landing.url, landing.body
        );
        assert_eq!(
            landing.url.path(),
            "/callback",
            "failed elsewhere: {}",
            landing.url
        );
        // DESIGN.md: the callback page is never cached and leaks no referrer.
        assert_eq!(landing.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(landing.headers[header::REFERRER_POLICY], "no-referrer");
        assert_no_secrets(&self.op, &landing.body);
        for (name, value) in &landing.headers {
            if name != header::SET_COOKIE {
                assert_no_secrets(&self.op, value.to_str().unwrap_or_default());
            }
        }
        let (after, body) = self.profile(browser).await;
        assert_eq!(
            after,
            StatusCode::UNAUTHORIZED,
            "a session exists after a rejected login: {body}"
        );
    }
}

/// `text` contains no code, access token or ID token the OP issued (nor any
/// segment of an ID token), and not the client secret.
pub fn assert_no_secrets(op: &ScriptedOp, text: &str) {
    assert!(
        !text.contains(CLIENT_SECRET),
        "the client secret leaked: {text}"
    );
    for secret in op.issued() {
        assert!(!text.contains(&secret), "an issued secret leaked: {text}");
        for segment in secret.split('.').filter(|s| s.len() >= 16) {
            assert!(
                !text.contains(segment),
                "a token segment leaked: {segment} in {text}"
            );
        }
    }
}
