//! The HTTP endpoints of the development OP and their in-memory state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::html;
use crate::keys::Keys;
use crate::store::ExpiringMap;
use crate::{AuthMethod, DevClient, DevIdpConfig, DevIdpError, DevUser, SigningAlg};

/// Name of the OP's browser session cookie.
pub const SESSION_COOKIE: &str = "devidp.session";
/// Authorization codes live this long.
const CODE_TTL: Duration = Duration::from_secs(60);
/// A pending sign-in request (the sign-in page) lives this long.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// The OP browser session lives this long.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Refresh tokens live this long.
const REFRESH_TTL: Duration = Duration::from_secs(24 * 3600);
/// Each in-memory map holds at most this many entries.
const MAP_CAPACITY: usize = 10_000;
/// Longest accepted parameter value (state, nonce, hints...).
const MAX_PARAM_LEN: usize = 4096;
/// Timeout of each back-channel logout request.
const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

const SCOPES_SUPPORTED: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "groups",
    "offline_access",
];
const PROFILE_CLAIMS: [&str; 14] = [
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
const EMAIL_CLAIMS: [&str; 2] = ["email", "email_verified"];
const PHONE_CLAIMS: [&str; 2] = ["phone_number", "phone_number_verified"];
const ADDRESS_CLAIMS: [&str; 1] = ["address"];
const GROUPS_CLAIMS: [&str; 1] = ["groups"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ResponseMode {
    Query,
    FormPost,
}

/// What was granted at sign-in; carried by codes and refresh tokens.
#[derive(Clone)]
struct Grant {
    client_id: String,
    sub: String,
    scope: Vec<String>,
    auth_time: u64,
    sid: String,
    acr: Option<String>,
    audience: Option<String>,
}

/// A validated authorization request waiting for the user (or for auto-approval).
#[derive(Clone)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
    nonce: Option<String>,
    scope: Vec<String>,
    code_challenge: String,
    acr: Option<String>,
    audience: Option<String>,
    login_hint: Option<String>,
}

struct CodeGrant {
    grant: Grant,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
}

/// An OP browser session (one per sign-in; `sid` in every token issued under it).
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) sub: String,
    pub(crate) auth_time: u64,
    pub(crate) sid: String,
    /// The clients this session signed into, in order of first sign-in.
    pub(crate) clients: Vec<String>,
}

pub(crate) struct Stores {
    pending: ExpiringMap<AuthRequest>,
    codes: ExpiringMap<CodeGrant>,
    /// OP sessions by the value of their session cookie.
    pub(crate) sessions: ExpiringMap<Session>,
    refresh: ExpiringMap<Grant>,
    revoked_jti: ExpiringMap<()>,
    /// Client assertion `jti`s already used (replay protection).
    pub(crate) assertion_jti: ExpiringMap<()>,
    /// Pushed authorization requests by `request_uri` (RFC 9126).
    pub(crate) pushed: ExpiringMap<crate::par::PushedRequest>,
}

pub(crate) struct Shared {
    pub(crate) issuer: String,
    base_path: String,
    secure_cookie: bool,
    pub(crate) clients: HashMap<String, DevClient>,
    users: Vec<DevUser>,
    auto_approve: Option<String>,
    id_token_ttl: u64,
    pub(crate) access_token_ttl: u64,
    refresh_tokens: bool,
    /// How long the token endpoint waits before answering a refresh grant.
    refresh_delay: std::time::Duration,
    /// Refresh grants received (answered or not).
    pub(crate) refresh_grants: std::sync::atomic::AtomicU64,
    /// RFC 9126: authorization requests only through PAR.
    pub(crate) require_par: bool,
    /// Opaque access tokens (RFC 7662 introspection) instead of JWTs.
    opaque_access_tokens: bool,
    pub(crate) opaque: crate::introspect::OpaqueTokens,
    pub(crate) keys: Keys,
    stores: Mutex<Stores>,
    /// Delivers back-channel logout tokens: no redirects, [`BACKCHANNEL_TIMEOUT`].
    pub(crate) http: reqwest::Client,
}

pub(crate) type AppState = Arc<Shared>;

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 32 random bytes, base64url: codes, refresh tokens, handles, session ids.
pub(crate) fn random_token() -> Result<String, DevIdpError> {
    let mut buf = [0u8; 32];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| DevIdpError::KeyGeneration("random"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Validates the issuer: an absolute http(s) URL without query, fragment or trailing slash.
pub(crate) fn validate_issuer(issuer: &str) -> Result<url::Url, DevIdpError> {
    let bad = |why: &str| DevIdpError::InvalidIssuer(format!("{issuer:?}: {why}"));
    let url = url::Url::parse(issuer).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if issuer.ends_with('/') {
        return Err(bad("must not end with a slash"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url)
}

/// A client's logout URI: an absolute http(s) URL without a fragment (BCL §2.2, FCL §2).
fn validate_logout_uri(client_id: &str, what: &str, uri: &str) -> Result<(), DevIdpError> {
    let bad = |why: &str| {
        DevIdpError::InvalidConfig(format!("client {client_id:?}: {what} {uri:?} {why}"))
    };
    let url = url::Url::parse(uri).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("must be http or https"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(())
}

impl Shared {
    pub(crate) fn new(config: DevIdpConfig, issuer: String) -> Result<Self, DevIdpError> {
        let url = validate_issuer(&issuer)?;
        let mut clients = HashMap::new();
        for client in config.clients {
            if client.client_id.is_empty() {
                return Err(DevIdpError::InvalidConfig("empty client_id".into()));
            }
            crate::client_auth::validate_client(&client).map_err(|why| {
                DevIdpError::InvalidConfig(format!("client {:?} {why}", client.client_id))
            })?;
            if !matches!(
                client.token_endpoint_auth_method,
                AuthMethod::None | AuthMethod::PrivateKeyJwt
            ) && client.client_secret.as_deref().is_none_or(str::is_empty)
            {
                return Err(DevIdpError::InvalidConfig(format!(
                    "client {:?} uses {} but has no secret",
                    client.client_id,
                    client.token_endpoint_auth_method.as_str()
                )));
            }
            for (what, uri) in [
                ("backchannel_logout_uri", &client.backchannel_logout_uri),
                ("frontchannel_logout_uri", &client.frontchannel_logout_uri),
            ] {
                if let Some(uri) = uri {
                    validate_logout_uri(&client.client_id, what, uri)?;
                }
            }
            let id = client.client_id.clone();
            if clients.insert(id.clone(), client).is_some() {
                return Err(DevIdpError::InvalidConfig(format!(
                    "duplicate client_id {id:?}"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for user in &config.users {
            if user.id.is_empty() || !seen.insert(user.id.as_str()) {
                return Err(DevIdpError::InvalidConfig(format!(
                    "empty or duplicate user id {:?}",
                    user.id
                )));
            }
        }
        if let Some(id) = &config.auto_approve
            && !config.users.iter().any(|u| &u.id == id)
        {
            return Err(DevIdpError::UnknownAutoApproveUser(id.clone()));
        }
        let base_path = url.path().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(BACKCHANNEL_TIMEOUT)
            .build()
            .map_err(|e| DevIdpError::HttpClient(e.to_string()))?;
        Ok(Shared {
            http,
            secure_cookie: url.scheme() == "https",
            issuer,
            base_path,
            clients,
            users: config.users,
            auto_approve: config.auto_approve,
            id_token_ttl: config.id_token_ttl_secs.max(1),
            access_token_ttl: config.access_token_ttl_secs.max(1),
            refresh_tokens: config.refresh_tokens,
            refresh_delay: config.refresh_delay,
            refresh_grants: std::sync::atomic::AtomicU64::new(0),
            require_par: config.require_pushed_authorization_requests,
            opaque_access_tokens: config.opaque_access_tokens,
            opaque: crate::introspect::OpaqueTokens::new(MAP_CAPACITY),
            keys: Keys::generate()?,
            stores: Mutex::new(Stores {
                pending: ExpiringMap::new(MAP_CAPACITY),
                codes: ExpiringMap::new(MAP_CAPACITY),
                sessions: ExpiringMap::new(MAP_CAPACITY),
                refresh: ExpiringMap::new(MAP_CAPACITY),
                revoked_jti: ExpiringMap::new(MAP_CAPACITY),
                assertion_jti: ExpiringMap::new(MAP_CAPACITY),
                pushed: ExpiringMap::new(MAP_CAPACITY),
            }),
        })
    }

    pub(crate) fn stores(&self) -> MutexGuard<'_, Stores> {
        // A panic while holding the lock cannot leave these maps inconsistent.
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn user(&self, id: &str) -> Option<&DevUser> {
        self.users.iter().find(|u| u.id == id)
    }
}

/// Builds the router for a validated configuration.
pub(crate) fn build_router(shared: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize).post(authorize))
        .route("/authorize/approve", post(approve))
        .route("/authorize/cancel", post(cancel))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/logout", get(logout).post(logout))
        .route("/revoke", post(revoke))
        .route("/par", post(crate::par::par))
        .route("/introspect", post(crate::introspect::introspect))
        .route("/dev/end-session", post(crate::logout::dev_end_session))
        .with_state(shared)
}

// ---------------------------------------------------------------- helpers

/// Parameters of a request: the query for GET/HEAD, the form body otherwise.
/// Empty values count as absent (RFC 6749 §3.1); a repeated parameter is an error.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(method: &Method, uri: &Uri, body: &[u8]) -> Result<Self, String> {
        let raw: &[u8] = if method == Method::GET || method == Method::HEAD {
            uri.query().unwrap_or("").as_bytes()
        } else {
            body
        };
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.is_empty() {
                continue;
            }
            if v.len() > MAX_PARAM_LEN {
                return Err(format!("parameter {k} is too long"));
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(format!("parameter {k} is repeated"));
            }
        }
        Ok(Params(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn from_map(map: HashMap<String, String>) -> Self {
        Params(map)
    }

    pub(crate) fn into_map(self) -> HashMap<String, String> {
        self.0
    }
}

pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

pub(crate) fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    html_response(status, html::error_page(title, detail))
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn redirect(location: &str, status: StatusCode) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut resp = status.into_response();
            resp.headers_mut().insert(header::LOCATION, value);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The redirect target is not a valid header value.",
        ),
    }
}

fn internal_error(e: &DevIdpError) -> Response {
    tracing::error!(error = %e, "dev IdP internal error");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        "The development OpenID Provider failed; see its log.",
    )
}

fn session_cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

impl Shared {
    fn cookie_path(&self) -> &str {
        if self.base_path.is_empty() {
            "/"
        } else {
            &self.base_path
        }
    }

    fn set_session_cookie(&self, value: &str) -> Option<HeaderValue> {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={value}; Path={}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_path()
        ))
        .ok()
    }

    fn clear_session_cookie(&self) -> Option<HeaderValue> {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path={}; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_path()
        ))
        .ok()
    }

    /// The live OP session of this browser, with its cookie value.
    fn current_session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let value = session_cookie_value(headers)?;
        let session = self
            .stores()
            .sessions
            .get(&value, Instant::now())
            .cloned()?;
        Some((value, session))
    }
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43–128 characters from the unreserved set.
fn valid_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The claims of `user` released for `scope` (never `sub` or protocol claims).
fn scoped_claims(user: &DevUser, scope: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut copy = |names: &[&str]| {
        for name in names {
            if let Some(v) = user.claims.get(*name) {
                out.insert((*name).to_owned(), v.clone());
            }
        }
    };
    for s in scope {
        match s.as_str() {
            "profile" => copy(&PROFILE_CLAIMS),
            "email" => copy(&EMAIL_CLAIMS),
            "phone" => copy(&PHONE_CLAIMS),
            "address" => copy(&ADDRESS_CLAIMS),
            "groups" => copy(&GROUPS_CLAIMS),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------- discovery

async fn index(State(s): State<AppState>) -> Response {
    html_response(StatusCode::OK, html::index_page(&s.issuer, &s.users))
}

async fn discovery(State(s): State<AppState>) -> Response {
    let mut claims: Vec<&str> = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "azp",
        "sid",
    ];
    claims.extend(PROFILE_CLAIMS);
    claims.extend(EMAIL_CLAIMS);
    claims.extend(PHONE_CLAIMS);
    claims.extend(ADDRESS_CLAIMS);
    claims.extend(GROUPS_CLAIMS);
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let mut resp = axum::Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/authorize"),
        "token_endpoint": s.endpoint("/token"),
        "userinfo_endpoint": s.endpoint("/userinfo"),
        "jwks_uri": s.endpoint("/jwks"),
        "end_session_endpoint": s.endpoint("/logout"),
        "revocation_endpoint": s.endpoint("/revoke"),
        "introspection_endpoint": s.endpoint("/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", crate::token_exchange::GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": crate::client_auth::SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "pushed_authorization_request_endpoint": s.endpoint("/par"),
        "require_pushed_authorization_requests": s.require_par,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": claims,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}

/// Client authentication methods of the token, revocation and PAR endpoints.
const AUTH_METHODS: [&str; 5] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
];

async fn jwks(State(s): State<AppState>) -> Response {
    let mut resp = axum::Json(s.keys.jwks()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    resp
}

// ---------------------------------------------------------------- authorize

/// Sends an authorization response (success or error) back to the client.
fn authorization_response(
    s: &Shared,
    redirect_uri: &str,
    mode: ResponseMode,
    mut params: Vec<(&str, String)>,
    state: Option<&str>,
) -> Response {
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    params.push(("iss", s.issuer.clone()));
    match mode {
        ResponseMode::Query => match url::Url::parse(redirect_uri) {
            Ok(mut url) => {
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in &params {
                        q.append_pair(k, v);
                    }
                }
                redirect(url.as_str(), StatusCode::FOUND)
            }
            Err(_) => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect_uri",
                "The registered redirect_uri is not an absolute URL.",
            ),
        },
        ResponseMode::FormPost => {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            html_response(StatusCode::OK, html::form_post_page(redirect_uri, &pairs))
        }
    }
}

fn authorization_error(
    s: &Shared,
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    authorization_response(
        s,
        redirect_uri,
        mode,
        vec![
            ("error", error.to_owned()),
            ("error_description", description.to_owned()),
        ],
        state,
    )
}

async fn authorize(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e),
    };
    // A request_uri stands for the pushed parameters (RFC 9126).
    let params = match crate::par::resolve(&s, params) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    // Errors about the client or redirect_uri are shown here, never redirected.
    let Some(client_id) = params.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "client_id is missing.",
        );
    };
    let Some(client) = s.clients.get(client_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            &format!("No client is registered with client_id {client_id:?}."),
        );
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "redirect_uri is missing.",
        );
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unregistered redirect_uri",
            &format!("redirect_uri {redirect_uri:?} is not registered for client {client_id:?}."),
        );
    }
    let state = params.get("state");
    let (mode, mode_ok) = match params.get("response_mode") {
        None | Some("query") => (ResponseMode::Query, true),
        Some("form_post") => (ResponseMode::FormPost, true),
        Some(_) => (ResponseMode::Query, false),
    };
    let fail = |error: &str, description: &str| {
        authorization_error(&s, redirect_uri, mode, state, error, description)
    };
    if !mode_ok {
        return fail(
            "invalid_request",
            "response_mode must be query or form_post",
        );
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is missing"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    if params.get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if params.get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    let requested: Vec<&str> = params.get("scope").unwrap_or("").split(' ').collect();
    if !requested.contains(&"openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    let mut scope: Vec<String> = Vec::new();
    for sc in requested {
        if SCOPES_SUPPORTED.contains(&sc) && !scope.iter().any(|x| x == sc) {
            scope.push(sc.to_owned());
        }
    }
    let Some(code_challenge) = params.get("code_challenge") else {
        return fail("invalid_request", "PKCE code_challenge is required");
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if code_challenge.len() != 43 || !is_base64url(code_challenge) {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 digest",
        );
    }
    let prompts: Vec<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    for p in &prompts {
        if !matches!(*p, "none" | "login" | "consent" | "select_account") {
            return fail("invalid_request", "unknown prompt value");
        }
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined");
    }
    let max_age = match params.get("max_age").map(str::parse::<u64>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return fail("invalid_request", "max_age must be a non-negative integer"),
    };
    let request = AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode: mode,
        state: state.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        scope,
        code_challenge: code_challenge.to_owned(),
        acr: params
            .get("acr_values")
            .and_then(|a| a.split(' ').find(|x| !x.is_empty()))
            .map(str::to_owned),
        // RFC 8707 `resource`, or the `audience` parameter some OPs use.
        audience: params
            .get("resource")
            .or_else(|| params.get("audience"))
            .map(str::to_owned),
        login_hint: params.get("login_hint").map(str::to_owned),
    };

    // An existing OP session is reused unless re-authentication is required.
    let now = now_unix();
    let session = s.current_session(&headers).filter(|(_, sess)| {
        s.user(&sess.sub).is_some()
            && max_age.is_none_or(|m| now.saturating_sub(sess.auth_time) <= m)
    });
    let force_login = prompts.contains(&"login") || prompts.contains(&"select_account");
    match session {
        Some((cookie, sess)) if !force_login => {
            return issue_code(&s, &request, &cookie, &sess, None);
        }
        _ => {}
    }
    if prompt_none {
        return fail("login_required", "the user is not signed in");
    }
    if let Some(user) = s.auto_approve.clone() {
        return sign_in(&s, &request, &user);
    }
    let handle = match random_token() {
        Ok(h) => h,
        Err(e) => return internal_error(&e),
    };
    let page = html::sign_in_page(
        &format!("{}/authorize/approve", s.base_path),
        &format!("{}/authorize/cancel", s.base_path),
        &handle,
        &request.client_id,
        &s.users,
        request.login_hint.as_deref(),
    );
    s.stores()
        .pending
        .insert(handle, request, PENDING_TTL, Instant::now());
    html_response(StatusCode::OK, page)
}

/// Starts a fresh OP session for `user_id` and answers the request with a code.
fn sign_in(s: &Shared, request: &AuthRequest, user_id: &str) -> Response {
    let (cookie, sid) = match (random_token(), random_token()) {
        (Ok(c), Ok(sid)) => (c, sid),
        (Err(e), _) | (_, Err(e)) => return internal_error(&e),
    };
    let session = Session {
        sub: user_id.to_owned(),
        auth_time: now_unix(),
        sid,
        clients: Vec::new(),
    };
    s.stores()
        .sessions
        .insert(cookie.clone(), session.clone(), SESSION_TTL, Instant::now());
    tracing::info!(client_id = %request.client_id, sub = %user_id, "dev IdP: user signed in");
    issue_code(s, request, &cookie, &session, s.set_session_cookie(&cookie))
}

/// Answers `request` with a code under `session` (whose cookie value is `cookie`), and
/// records the client as signed into that session for back- and front-channel logout.
fn issue_code(
    s: &Shared,
    request: &AuthRequest,
    cookie: &str,
    session: &Session,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let code = match random_token() {
        Ok(c) => c,
        Err(e) => return internal_error(&e),
    };
    if let Some(live) = s.stores().sessions.get_mut(cookie, Instant::now())
        && !live.clients.contains(&request.client_id)
    {
        live.clients.push(request.client_id.clone());
    }
    let grant = CodeGrant {
        grant: Grant {
            client_id: request.client_id.clone(),
            sub: session.sub.clone(),
            scope: request.scope.clone(),
            auth_time: session.auth_time,
            sid: session.sid.clone(),
            acr: request.acr.clone(),
            audience: request.audience.clone(),
        },
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
    };
    s.stores()
        .codes
        .insert(code.clone(), grant, CODE_TTL, Instant::now());
    let mut resp = authorization_response(
        s,
        &request.redirect_uri,
        request.response_mode,
        vec![("code", code)],
        request.state.as_deref(),
    );
    if let Some(cookie) = set_cookie {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    resp
}

/// Takes the pending request named by the form's `request` handle.
fn take_pending(s: &Shared, params: &Params) -> Option<AuthRequest> {
    params
        .get("request")
        .and_then(|h| s.stores().pending.take(h, Instant::now()))
}

fn expired_request_page() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in request expired",
        "This sign-in request is unknown, expired or already used. Start again from the application.",
    )
}

async fn approve(State(s): State<AppState>, method: Method, uri: Uri, body: Bytes) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e),
    };
    let Some(user_id) = params.get("user").filter(|u| s.user(u).is_some()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unknown user",
            "Pick one of the listed sample users.",
        );
    };
    let Some(request) = take_pending(&s, &params) else {
        return expired_request_page();
    };
    sign_in(&s, &request, user_id)
}

async fn cancel(State(s): State<AppState>, method: Method, uri: Uri, body: Bytes) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e),
    };
    let Some(request) = take_pending(&s, &params) else {
        return expired_request_page();
    };
    authorization_error(
        &s,
        &request.redirect_uri,
        request.response_mode,
        request.state.as_deref(),
        "access_denied",
        "the user cancelled the sign-in",
    )
}

// ---------------------------------------------------------------- token

/// An OAuth 2.0 error response (RFC 6749 §5.2).
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub(crate) fn internal(e: &DevIdpError) -> Self {
        tracing::error!(error = %e, "dev IdP internal error");
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "internal error".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = json_response(
            self.status,
            json!({"error": self.error, "error_description": self.description}),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"devidp\""),
            );
        }
        resp
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Client authentication per the client's registered method.
pub(crate) fn authenticate_client<'a>(
    s: &'a Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'a DevClient, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    if crate::client_auth::has_assertion(params) {
        return crate::client_auth::authenticate_assertion(s, basic.is_some(), params);
    }
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let bad_client = || OAuthError::new("invalid_client", "client authentication failed");
    if let Some(encoded) = basic {
        if body_secret.is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                "use only one client authentication method",
            ));
        }
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad_client)?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad_client)?;
        let (id, secret) = (form_decode(id), form_decode(secret));
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::new(
                "invalid_request",
                "client_id in the body differs from the Authorization header",
            ));
        }
        let client = s.clients.get(&id).ok_or_else(bad_client)?;
        if client.token_endpoint_auth_method != AuthMethod::ClientSecretBasic {
            return Err(bad_client());
        }
        let expected = client.client_secret.as_deref().ok_or_else(bad_client)?;
        if !secrets_equal(expected, &secret) {
            return Err(bad_client());
        }
        return Ok(client);
    }
    let id = body_id.ok_or_else(bad_client)?;
    let client = s.clients.get(id).ok_or_else(bad_client)?;
    match (client.token_endpoint_auth_method, body_secret) {
        (AuthMethod::ClientSecretPost, Some(secret)) => {
            let expected = client.client_secret.as_deref().ok_or_else(bad_client)?;
            if secrets_equal(expected, secret) {
                Ok(client)
            } else {
                Err(bad_client())
            }
        }
        (AuthMethod::None, None) => Ok(client),
        _ => Err(bad_client()),
    }
}

async fn token(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if is_refresh_grant(&body) {
        s.refresh_grants
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !s.refresh_delay.is_zero() {
            tokio::time::sleep(s.refresh_delay).await;
        }
    }
    match token_inner(&s, &method, &uri, &headers, &body) {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

/// The `at_hash` of `token` for an ID token signed with `alg` (Core
/// §3.1.3.8): the left half of its SHA-256 (SHA-512 for Ed25519), base64url.
fn token_hash(alg: SigningAlg, token: &str) -> String {
    let algorithm = match alg {
        SigningAlg::EdDSA => &digest::SHA512,
        SigningAlg::RS256 | SigningAlg::ES256 => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// Whether a token request body is a refresh grant.
fn is_refresh_grant(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(k, v)| k == "grant_type" && v == "refresh_token")
}

fn token_inner(
    s: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params =
        Params::parse(method, uri, body).map_err(|e| OAuthError::new("invalid_request", e))?;
    let client = authenticate_client(s, headers, &params)?;
    match params.get("grant_type") {
        Some("authorization_code") => code_grant(s, client, &params),
        Some("refresh_token") => refresh_grant(s, client, &params),
        Some(crate::token_exchange::GRANT_TYPE) => crate::token_exchange::grant(s, client, &params),
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or token-exchange",
        )),
        None => Err(OAuthError::new("invalid_request", "grant_type is missing")),
    }
}

fn code_grant(s: &Shared, client: &DevClient, params: &Params) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is missing"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::new("invalid_request", "redirect_uri is missing"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::new("invalid_request", "code_verifier is missing"))?;
    // The code is consumed by any attempt, successful or not.
    let grant = s
        .stores()
        .codes
        .take(code, Instant::now())
        .ok_or_else(|| OAuthError::new("invalid_grant", "code is invalid, expired or used"))?;
    if grant.grant.client_id != client.client_id {
        return Err(OAuthError::new(
            "invalid_grant",
            "code was issued to another client",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::new(
            "invalid_grant",
            "redirect_uri does not match",
        ));
    }
    if !valid_code_verifier(verifier) || !pkce_matches(verifier, &grant.code_challenge) {
        return Err(OAuthError::new(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    issue_tokens(
        s,
        client,
        &grant.grant,
        &grant.grant.scope,
        grant.nonce.as_deref(),
    )
}

fn refresh_grant(s: &Shared, client: &DevClient, params: &Params) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is missing"))?;
    let invalid = || OAuthError::new("invalid_grant", "refresh_token is invalid or expired");
    // Look first, so that a wrong client or a bad scope does not burn the token.
    let grant = s
        .stores()
        .refresh
        .get(token, Instant::now())
        .filter(|g| g.client_id == client.client_id)
        .cloned()
        .ok_or_else(invalid)?;
    let scope: Vec<String> = match params.get("scope") {
        None => grant.scope.clone(),
        Some(requested) => {
            let requested: Vec<String> = requested
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect();
            if requested.iter().any(|r| !grant.scope.contains(r))
                || !requested.iter().any(|r| r == "openid")
            {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "scope must include openid and stay within the original grant",
                ));
            }
            requested
        }
    };
    // Rotation: the presented token is consumed (a concurrent use loses the race).
    s.stores()
        .refresh
        .take(token, Instant::now())
        .ok_or_else(invalid)?;
    issue_tokens(s, client, &grant, &scope, None)
}

/// Mints the access token, ID token and (rotated) refresh token for `grant`.
fn issue_tokens(
    s: &Shared,
    client: &DevClient,
    grant: &Grant,
    scope: &[String],
    nonce: Option<&str>,
) -> Result<Value, OAuthError> {
    let user = s
        .user(&grant.sub)
        .ok_or_else(|| OAuthError::new("invalid_grant", "the user no longer exists"))?;
    let now = now_unix();
    let jti = random_token().map_err(|e| OAuthError::internal(&e))?;
    let scope_str = scope.join(" ");
    let mut at = json!({
        "iss": s.issuer,
        "sub": grant.sub,
        "aud": grant.audience.clone().unwrap_or_else(|| client.client_id.clone()),
        "client_id": client.client_id,
        "scope": scope_str,
        "iat": now,
        "exp": now + s.access_token_ttl,
        "jti": jti,
        "auth_time": grant.auth_time,
        "sid": grant.sid,
    });
    if let Some(acr) = &grant.acr {
        at["acr"] = json!(acr);
    }
    let access_token = if s.opaque_access_tokens {
        crate::introspect::issue_opaque(s, &at)
    } else {
        s.keys.sign(SigningAlg::RS256, "at+jwt", &at)
    }
    .map_err(|e| OAuthError::internal(&e))?;

    let mut id = scoped_claims(user, scope);
    id.insert("iss".into(), json!(s.issuer));
    id.insert("sub".into(), json!(grant.sub));
    id.insert("aud".into(), json!(client.client_id));
    id.insert("azp".into(), json!(client.client_id));
    id.insert("iat".into(), json!(now));
    id.insert("exp".into(), json!(now + s.id_token_ttl));
    id.insert("auth_time".into(), json!(grant.auth_time));
    id.insert("sid".into(), json!(grant.sid));
    if let Some(nonce) = nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    if let Some(acr) = &grant.acr {
        id.insert("acr".into(), json!(acr));
    }
    id.insert(
        "at_hash".into(),
        json!(token_hash(
            client.id_token_signed_response_alg,
            &access_token
        )),
    );
    let id_token = s
        .keys
        .sign(
            client.id_token_signed_response_alg,
            "JWT",
            &Value::Object(id),
        )
        .map_err(|e| OAuthError::internal(&e))?;

    let mut response = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": s.access_token_ttl,
        "id_token": id_token,
        "scope": scope_str,
    });
    if s.refresh_tokens {
        let refresh = random_token().map_err(|e| OAuthError::internal(&e))?;
        s.stores()
            .refresh
            .insert(refresh.clone(), grant.clone(), REFRESH_TTL, Instant::now());
        response["refresh_token"] = json!(refresh);
    }
    Ok(response)
}

// ---------------------------------------------------------------- userinfo

/// Verifies an access token we issued (RS256, `typ` `at+jwt`, unexpired, not revoked).
pub(crate) fn verify_access_token(s: &Shared, token: &str) -> Option<Value> {
    let claims = match crate::introspect::opaque_claims(s, token) {
        Some(claims) => claims,
        None => verify_jwt_access_token(s, token)?,
    };
    let jti = claims.get("jti")?.as_str()?;
    if s.stores().revoked_jti.get(jti, Instant::now()).is_some() {
        return None;
    }
    Some(claims)
}

fn verify_jwt_access_token(s: &Shared, token: &str) -> Option<Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return None;
    }
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[&s.issuer]);
    v.validate_aud = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    s.keys.verify(token, &v)
}

fn bearer_error(error: Option<&str>) -> Response {
    let value = match error {
        Some(e) => format!("Bearer realm=\"devidp\", error=\"{e}\""),
        None => "Bearer realm=\"devidp\"".to_owned(),
    };
    let mut resp = json_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": error.unwrap_or("invalid_request")}),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    let Some(token) = token else {
        // RFC 6750 §3.1: no error code when the request has no credentials.
        return bearer_error(None);
    };
    let Some(claims) = verify_access_token(&s, token) else {
        return bearer_error(Some("invalid_token"));
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let scope: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(' ')
        .map(str::to_owned)
        .collect();
    if !scope.iter().any(|x| x == "openid") {
        return bearer_error(Some("insufficient_scope"));
    }
    let Some(user) = s.user(sub) else {
        return bearer_error(Some("invalid_token"));
    };
    let mut out = scoped_claims(user, &scope);
    out.insert("sub".into(), json!(sub));
    let client = claims
        .get("client_id")
        .and_then(Value::as_str)
        .and_then(|id| s.clients.get(id));
    if let Some((client, alg)) =
        client.and_then(|c| c.userinfo_signed_response_alg.map(|alg| (c, alg)))
    {
        out.insert("iss".into(), json!(s.issuer));
        out.insert("aud".into(), json!(client.client_id));
        return match s.keys.sign(alg, "JWT", &Value::Object(out)) {
            Ok(jwt) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/jwt"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                jwt,
            )
                .into_response(),
            Err(e) => internal_error(&e),
        };
    }
    json_response(StatusCode::OK, Value::Object(out))
}

// ---------------------------------------------------------------- logout

async fn logout(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid logout request", &e),
    };
    let mut client_id = params.get("client_id").map(str::to_owned);
    if let Some(hint) = params.get("id_token_hint") {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_issuer(&[&s.issuer]);
        v.validate_aud = false;
        v.validate_exp = false; // an expired ID token is a fine hint
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
        let Some(claims) = s.keys.verify::<Value>(hint, &v) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid logout request",
                "id_token_hint was not issued by this provider.",
            );
        };
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => Some(a.clone()),
            Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().map(str::to_owned),
            _ => None,
        };
        match (&client_id, aud) {
            (Some(c), Some(a)) if *c != a => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid logout request",
                    "client_id does not match the id_token_hint audience.",
                );
            }
            (None, Some(a)) => client_id = Some(a),
            _ => {}
        }
    }
    let client = match client_id.as_deref() {
        Some(id) => match s.clients.get(id) {
            Some(c) => Some(c),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Unknown client",
                    &format!("No client is registered with client_id {id:?}."),
                );
            }
        },
        None => None,
    };
    let target = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Some(uri.to_owned()),
            Some(_) => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Unregistered post_logout_redirect_uri",
                    &format!("post_logout_redirect_uri {uri:?} is not registered for this client."),
                );
            }
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid logout request",
                    "post_logout_redirect_uri needs client_id or id_token_hint.",
                );
            }
        },
    };
    let target = match target.map(|t| url::Url::parse(&t)) {
        None => None,
        Some(Ok(mut url)) => {
            if let Some(state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url)
        }
        Some(Err(_)) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid post_logout_redirect_uri",
                "The registered post_logout_redirect_uri is not an absolute URL.",
            );
        }
    };
    // End this browser's OP session: back-channel logout tokens are delivered (or
    // time out) before we answer; front-channel clients get iframes on the page.
    let cookie = session_cookie_value(&headers);
    let ended = cookie.and_then(|c| s.stores().sessions.take(&c, Instant::now()));
    let frames = match &ended {
        Some(session) => {
            tracing::info!(sub = %session.sub, "dev IdP: OP session ended at end_session");
            crate::logout::deliver_backchannel(&s, std::slice::from_ref(session)).await;
            crate::logout::frontchannel_urls(&s, session)
        }
        None => Vec::new(),
    };
    let mut resp = match target {
        Some(target) if frames.is_empty() => redirect(target.as_str(), StatusCode::SEE_OTHER),
        target => html_response(
            StatusCode::OK,
            html::signed_out_page(&frames, target.as_ref().map(url::Url::as_str)),
        ),
    };
    if let Some(clear) = s.clear_session_cookie() {
        resp.headers_mut().append(header::SET_COOKIE, clear);
    }
    resp
}

// ---------------------------------------------------------------- revoke

async fn revoke(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&method, &uri, &body) {
        Ok(p) => p,
        Err(e) => return OAuthError::new("invalid_request", e).into_response(),
    };
    let client = match authenticate_client(&s, &headers, &params) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(token) = params.get("token") else {
        return OAuthError::new("invalid_request", "token is missing").into_response();
    };
    let now = Instant::now();
    {
        let mut stores = s.stores();
        if stores
            .refresh
            .get(token, now)
            .is_some_and(|g| g.client_id == client.client_id)
        {
            stores.refresh.remove(token);
            return json_response(StatusCode::OK, json!({}));
        }
    }
    if let Some(claims) = verify_access_token(&s, token)
        && claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
        && let Some(jti) = claims.get("jti").and_then(Value::as_str)
    {
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let ttl = Duration::from_secs(exp.saturating_sub(now_unix()).saturating_add(1));
        s.stores().revoked_jti.insert(jti.to_owned(), (), ttl, now);
    }
    // RFC 7009 §2.2: unknown or foreign tokens also get 200.
    json_response(StatusCode::OK, json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_issuer_with_trailing_slash_query_or_bad_scheme() {
        assert!(validate_issuer("http://127.0.0.1:3001").is_ok());
        assert!(validate_issuer("http://localhost:3001/idp").is_ok());
        assert!(validate_issuer("http://127.0.0.1:3001/").is_err());
        assert!(validate_issuer("http://127.0.0.1:3001?x=1").is_err());
        assert!(validate_issuer("ftp://127.0.0.1").is_err());
        assert!(validate_issuer("http://u:p@127.0.0.1").is_err());
        assert!(validate_issuer("not a url").is_err());
    }

    #[test]
    fn pkce_s256_matches_the_rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_code_verifier(verifier));
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }

    #[test]
    fn rejects_code_verifier_of_wrong_length_or_charset() {
        assert!(!valid_code_verifier(&"a".repeat(42)));
        assert!(!valid_code_verifier(&"a".repeat(129)));
        assert!(!valid_code_verifier(&format!("{}+", "a".repeat(42))));
        assert!(valid_code_verifier(&"a~._-".repeat(10)));
    }

    #[test]
    fn rejects_repeated_parameters() {
        let uri: Uri = "/authorize?client_id=a&client_id=b".parse().unwrap();
        assert!(Params::parse(&Method::GET, &uri, b"").is_err());
    }

    #[test]
    fn empty_parameters_count_as_absent() {
        let uri: Uri = "/authorize?state=&nonce=n".parse().unwrap();
        let p = Params::parse(&Method::GET, &uri, b"").unwrap();
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("nonce"), Some("n"));
    }

    #[test]
    fn scoped_claims_release_only_what_the_scope_allows() {
        let alice = DevUser::alice();
        let only_openid = scoped_claims(&alice, &["openid".to_owned()]);
        assert!(only_openid.is_empty());
        let email = scoped_claims(&alice, &["openid".to_owned(), "email".to_owned()]);
        assert_eq!(email.get("email"), Some(&json!("alice@example.com")));
        assert!(email.get("name").is_none());
        assert!(email.get("groups").is_none());
    }

    #[test]
    fn form_decode_handles_plus_percent_and_ampersand() {
        assert_eq!(form_decode("a+b%3Ac"), "a b:c");
        assert_eq!(form_decode("x&y=z"), "x&y=z");
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; devidp.session=abc; b=2"),
        );
        assert_eq!(session_cookie_value(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn rejects_config_with_unknown_auto_approve_user() {
        let cfg = DevIdpConfig::new().with_auto_approve("mallory");
        assert!(matches!(
            Shared::new(cfg, "http://127.0.0.1:1".into()),
            Err(DevIdpError::UnknownAutoApproveUser(_))
        ));
    }

    #[test]
    fn rejects_config_with_confidential_client_without_secret() {
        let mut client = DevClient::confidential("c", "s", "http://rp/cb");
        client.client_secret = None;
        let cfg = DevIdpConfig::new().with_client(client);
        assert!(matches!(
            Shared::new(cfg, "http://127.0.0.1:1".into()),
            Err(DevIdpError::InvalidConfig(_))
        ));
    }
}
