//! The gate: one request in, one response out. It strips smuggled identity
//! headers first, sanitises forwarded headers, serves the engine's routes
//! and its own (`/auth`, `/userinfo`, health), authenticates through the
//! engine, applies the skip-auth and authorization rules, and forwards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use portcullis::engine::{MAX_ROUTE_BODY, PostLogoutReturn};
use portcullis::{ActiveSession, Authentication, Engine, OidcError, Route};
use serde_json::json;

use crate::config::ProxyConfig;
use crate::forward::{ForwardError, Upstream};
use crate::forwarded::{self, Forwarded, X_FORWARDED_METHOD, X_FORWARDED_URI};
use crate::headers::strip_reserved;
use crate::metrics as m;
use crate::pages::{self, BoxError, ProxyBody};
use crate::path::{NormalPath, normalise};
use crate::rules::{first_refusal, skips_auth};

/// The request id header, set on the upstream request and the response.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// The gate's own routes.
#[derive(Debug, Clone)]
struct OwnRoutes {
    auth: String,
    userinfo: String,
    healthz: String,
    readyz: String,
}

/// The gate. Share it in an `Arc`; [`Gate::handle`] serves one request.
pub struct Gate {
    engine: Arc<Engine>,
    config: Arc<ProxyConfig>,
    upstream: Upstream,
    reserved: Vec<String>,
    routes: OwnRoutes,
    next_id: AtomicU64,
    id_seed: u64,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// What a protected request turned out to be, once authenticated.
enum Verdict {
    /// Go on, as this user (or anonymously on a skip-auth path).
    Pass(Option<Arc<ActiveSession>>, Vec<HeaderValue>),
    /// Answer with this.
    Answer(Response<ProxyBody>),
}

impl Gate {
    /// A gate over `engine` in front of `config.upstream`.
    pub fn new(engine: Arc<Engine>, config: Arc<ProxyConfig>) -> Result<Self, String> {
        let upstream = Upstream::new(
            &config.upstream,
            config.upstream_connect_timeout,
            config.upstream_timeout,
            config.max_body_bytes,
            config.pass_host_header,
        )?;
        let routes = OwnRoutes {
            auth: config.route("/auth"),
            userinfo: config.route("/userinfo"),
            healthz: config.route("/healthz"),
            readyz: config.route("/readyz"),
        };
        let id_seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        Ok(Self {
            reserved: config.identity.reserved(),
            engine,
            config,
            upstream,
            routes,
            next_id: AtomicU64::new(0),
            id_seed,
        })
    }

    /// The engine behind the gate.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{:08x}", self.id_seed, n)
    }

    /// Serves one request.
    pub async fn handle<B>(&self, mut request: Request<B>, conn: Connection) -> Response<ProxyBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        // First of all: no client may speak for the gate.
        strip_reserved(request.headers_mut(), &self.reserved);
        let forwarded = forwarded::apply(
            request.headers_mut(),
            conn.peer.ip(),
            &self.config.trusted_proxies,
            conn.tls,
        );
        let request_id = match request
            .headers()
            .get(X_REQUEST_ID)
            .filter(|_| forwarded.trusted_peer)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        {
            Some(id) => id.to_owned(),
            None => self.request_id(),
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            request.headers_mut().insert(X_REQUEST_ID, value);
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut response = self.dispatch(request, &forwarded).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        m::request(status, elapsed);
        // The path only: a query may carry a code or a token.
        tracing::info!(
            request_id = %request_id,
            method = %method,
            path = %path,
            status,
            client = %forwarded.client_ip,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    async fn dispatch<B>(&self, request: Request<B>, forwarded: &Forwarded) -> Response<ProxyBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let path = request.uri().path();
        if let Some(route) = self.engine.route_for(path) {
            return self.engine_route(route, request).await;
        }
        if path == self.routes.healthz {
            return plain(StatusCode::OK, "ok");
        }
        if path == self.routes.readyz {
            return crate::ops::readiness(&self.engine).await;
        }
        if path == self.routes.auth {
            return self.auth_request(request, forwarded).await;
        }
        if path == self.routes.userinfo {
            return self.userinfo(request).await;
        }
        self.protected(request).await
    }

    /// login, callback, logout, back- and front-channel logout: the engine's.
    async fn engine_route<B>(&self, route: Route, request: Request<B>) -> Response<ProxyBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        let body = if route.reads_body(&parts.method) {
            match Limited::new(body, MAX_ROUTE_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return pages::error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is too large for this sign-in route.",
                        &parts.headers,
                    );
                }
            }
        } else {
            Bytes::new()
        };
        let response = self
            .engine
            .handle_route(route, Request::from_parts(parts, body))
            .await;
        m::route_outcome(route, response.status());
        pages::from_engine(response)
    }

    /// Authenticates through the engine (from memory when it can).
    async fn authenticate(&self, headers: &HeaderMap) -> Authentication {
        let now = now_unix();
        if let Some(auth) = self.engine.authenticate_cached(headers, now) {
            m::session_cache(true);
            return auth;
        }
        m::session_cache(false);
        let started = Instant::now();
        let auth = self.engine.authenticate(headers, now).await;
        m::store_lookup(started.elapsed());
        auth
    }

    /// Authenticates and applies the rules for `method` `path`.
    async fn check(
        &self,
        headers: &HeaderMap,
        method: &Method,
        path: &NormalPath,
        target: &str,
        auth_request: bool,
    ) -> Verdict {
        let (session, cookies) = match self.authenticate(headers).await {
            Authentication::Active {
                session,
                set_cookies,
            } => (Some(session), set_cookies),
            Authentication::Anonymous { set_cookies } => (None, set_cookies),
            Authentication::Unavailable(error) => {
                return Verdict::Answer(pages::from_engine(
                    self.engine.error_response(&error, headers),
                ));
            }
            _ => {
                return Verdict::Answer(pages::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The session could not be checked. Try again shortly.",
                    headers,
                ));
            }
        };
        let Some(session) = session else {
            if skips_auth(&self.config.skip_auth, method, path) {
                return Verdict::Pass(None, cookies);
            }
            let mut response = if auth_request {
                self.auth_request_refusal(target, headers)
            } else {
                pages::from_engine(self.engine.reject_unauthenticated(target, headers))
            };
            append_cookies(response.headers_mut(), cookies);
            return Verdict::Answer(response);
        };
        // A signed-in user on a skip-auth path is let through as themselves.
        if !skips_auth(&self.config.skip_auth, method, path)
            && let Some(refusal) = first_refusal(
                &self.config.authorization,
                path,
                session.claims(),
                &self.config.identity.groups_claim,
            )
        {
            tracing::info!(sub = session.sub(), rule = %refusal.prefix, "authorization refused");
            let mut response = pages::error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!(
                    "You are signed in, but the rule for {} requires {}. Ask an administrator for access, or sign in as another user.",
                    refusal.prefix, refusal.requirement
                ),
                headers,
            );
            append_cookies(response.headers_mut(), cookies);
            return Verdict::Answer(response);
        }
        match self.fresh_tokens(session, headers).await {
            Ok((session, mut refreshed)) => {
                refreshed.extend(cookies);
                Verdict::Pass(Some(session), refreshed)
            }
            Err(response) => Verdict::Answer(response),
        }
    }

    /// The `401` of `{prefix}/auth` for an anonymous request. For a browser
    /// it carries the login URL, with the original URI (from a trusted
    /// proxy) percent-encoded as `returnTo`, in `Location`: a front proxy
    /// that cannot encode a URI itself (Caddy) redirects there. Browsers
    /// never follow a `Location` on a 401, and nginx ignores it.
    fn auth_request_refusal(&self, target: &str, headers: &HeaderMap) -> Response<ProxyBody> {
        let mut response = pages::from_engine(
            self.engine
                .error_response(&OidcError::Unauthenticated, headers),
        );
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let login = self.engine.reject_unauthenticated(target, headers);
        if login.status().is_redirection()
            && let Some(location) = login.headers().get(header::LOCATION)
        {
            response
                .headers_mut()
                .insert(header::LOCATION, location.clone());
        }
        response
    }

    /// When the upstream gets the access token and it has expired, refresh
    /// it through the engine (which keeps the refresh single-flight).
    async fn fresh_tokens(
        &self,
        session: Arc<ActiveSession>,
        headers: &HeaderMap,
    ) -> Result<(Arc<ActiveSession>, Vec<HeaderValue>), Response<ProxyBody>> {
        let identity = &self.config.identity;
        let needs_token = identity.pass_access_token || identity.pass_authorization;
        let expired = session
            .expires_at()
            .is_some_and(|at| at <= now_unix().saturating_add(5));
        if !needs_token || !expired || session.refresh_token().is_none() {
            return Ok((session, Vec::new()));
        }
        match self.engine.refresh(&session, headers).await {
            Ok((session, cookies)) => {
                m::refresh("success");
                Ok((session, cookies))
            }
            Err(error) => {
                m::refresh("failure");
                tracing::warn!(error = %error, "token refresh failed");
                Err(pages::from_engine(
                    self.engine.error_response(&error, headers),
                ))
            }
        }
    }

    /// The reverse-proxy path: every request that is not a gate route.
    async fn protected<B>(&self, request: Request<B>) -> Response<ProxyBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut extra_cookies = Vec::new();
        match self
            .engine
            .post_logout_return(request.uri(), request.headers())
        {
            Some(PostLogoutReturn::Done(response)) => return pages::from_engine(response),
            Some(PostLogoutReturn::Mismatch(clear)) => extra_cookies.push(clear),
            _ => {}
        }
        let path = normalise(request.uri().path());
        let target = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let (session, cookies) = match self
            .check(request.headers(), request.method(), &path, &target, false)
            .await
        {
            Verdict::Pass(session, cookies) => (session, cookies),
            Verdict::Answer(mut response) => {
                append_cookies(response.headers_mut(), extra_cookies);
                return response;
            }
        };
        extra_cookies.extend(cookies);
        if self.upstream.too_large(&request) {
            return too_large(self.upstream.max_body_bytes(), request.headers());
        }
        let mut request = request;
        crate::headers::strip_own_cookies(request.headers_mut(), self.engine.session_cookie_name());
        if let Some(session) = &session {
            self.config.identity.set(request.headers_mut(), session);
        }
        // What an error page needs of the request (its format): not a copy
        // of every header.
        let mut accept = HeaderMap::new();
        for value in request.headers().get_all(header::ACCEPT) {
            accept.append(header::ACCEPT, value.clone());
        }
        match self.upstream.forward(request).await {
            Ok(mut response) => {
                self.engine
                    .apply_renewal(extra_cookies, response.headers_mut());
                response
            }
            Err(error) => {
                let mut response = forward_error(&error, &accept);
                append_cookies(response.headers_mut(), extra_cookies);
                response
            }
        }
    }

    /// `GET {prefix}/auth`: 202 with identity headers for a valid session,
    /// 401 otherwise, 403 when a rule refuses. The original method and URI
    /// come from `X-Forwarded-Method`/`-Uri`, believed from trusted proxies
    /// only (others' were already dropped).
    async fn auth_request<B>(
        &self,
        request: Request<B>,
        forwarded: &Forwarded,
    ) -> Response<ProxyBody> {
        let headers = request.headers();
        let (method, path) = if forwarded.trusted_peer {
            let method = headers
                .get(X_FORWARDED_METHOD)
                .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
                .unwrap_or(Method::GET);
            let path = headers
                .get(X_FORWARDED_URI)
                .and_then(|v| v.to_str().ok())
                .map(normalise)
                .unwrap_or_else(NormalPath::unknown);
            (method, path)
        } else {
            (Method::GET, NormalPath::unknown())
        };
        let target = headers
            .get(X_FORWARDED_URI)
            .and_then(|v| v.to_str().ok())
            .filter(|_| forwarded.trusted_peer)
            .unwrap_or("/")
            .to_owned();
        match self.check(headers, &method, &path, &target, true).await {
            Verdict::Answer(response) => response,
            Verdict::Pass(session, cookies) => {
                let mut response = plain(StatusCode::ACCEPTED, "");
                if let Some(session) = &session {
                    self.config.identity.set(response.headers_mut(), session);
                }
                append_cookies(response.headers_mut(), cookies);
                response
            }
        }
    }

    /// `GET {prefix}/userinfo`: the signed-in user's identity as JSON.
    async fn userinfo<B>(&self, request: Request<B>) -> Response<ProxyBody> {
        let headers = request.headers();
        match self.authenticate(headers).await {
            Authentication::Active {
                session,
                set_cookies,
            } => {
                let claims = session.claims();
                let groups: Vec<&str> =
                    crate::rules::user_groups(claims, &self.config.identity.groups_claim).collect();
                let body = json!({
                    "user": session.sub(),
                    "email": claims.get("email"),
                    "preferred_username": claims.get("preferred_username"),
                    "groups": groups,
                });
                let mut response = Response::new(pages::full(body.to_string()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                append_cookies(response.headers_mut(), set_cookies);
                response
            }
            Authentication::Anonymous { set_cookies } => {
                let mut response = pages::from_engine(
                    self.engine
                        .error_response(&OidcError::Unauthenticated, headers),
                );
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                append_cookies(response.headers_mut(), set_cookies);
                response
            }
            Authentication::Unavailable(error) => {
                pages::from_engine(self.engine.error_response(&error, headers))
            }
            _ => plain(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

fn forward_error(error: &ForwardError, request: &HeaderMap) -> Response<ProxyBody> {
    if let ForwardError::TooLarge(over) = error {
        tracing::info!(limit = over.limit, "request body over the limit refused");
        return too_large(over.limit, request);
    }
    tracing::warn!(error = %error, source = ?std::error::Error::source(error), "upstream failed");
    match error {
        ForwardError::Timeout(_) => {
            m::upstream_error("timeout");
            pages::error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "The application behind this gateway did not answer in time. Try again; if it keeps happening, the operator should check the upstream and UPSTREAM_TIMEOUT.",
                request,
            )
        }
        _ => {
            m::upstream_error("unreachable");
            pages::error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The application behind this gateway is unreachable. Try again shortly; the operator should check that UPSTREAM is running.",
                request,
            )
        }
    }
}

/// The 413 for a body over `MAX_BODY_BYTES`, declared or streamed.
fn too_large(limit: u64, request: &HeaderMap) -> Response<ProxyBody> {
    pages::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("The request body is larger than this gateway accepts ({limit} bytes)."),
        request,
    )
}

fn append_cookies(headers: &mut HeaderMap, cookies: Vec<HeaderValue>) {
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// A short text response.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(pages::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
