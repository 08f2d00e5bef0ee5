//! Test support: a browser-less user agent (HTTP client with a cookie jar that
//! follows redirects and submits form_post pages) and app/OP launchers.
#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

/// What the agent ended on.
#[derive(Debug)]
pub struct Landing {
    pub url: Url,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// Every URL visited, in order.
    pub trail: Vec<Url>,
}

/// A browser stand-in: cookies, manual redirects, form_post auto-submit.
pub struct Agent {
    pub client: reqwest::Client,
    pub accept: &'static str,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Agent {
    pub fn browser() -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            accept: "text/html,application/xhtml+xml",
            jar,
        }
    }

    /// The `Cookie` header the agent would send to `url`.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = Url::parse(url).expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// One request, no redirect following.
    pub async fn request(&self, method: Method, url: &str, accept: &str) -> reqwest::Response {
        self.client
            .request(method, url)
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("request")
    }

    /// GET `url` and follow redirects and form_post pages to the end.
    pub async fn navigate(&self, url: &str) -> Landing {
        let mut current = Url::parse(url).expect("url");
        let mut method = Method::GET;
        let mut form: Option<Vec<(String, String)>> = None;
        let mut trail = Vec::new();
        for _ in 0..20 {
            trail.push(current.clone());
            let mut req = self
                .client
                .request(method.clone(), current.clone())
                .header(ACCEPT, self.accept);
            if let Some(fields) = form.take() {
                req = req.form(&fields);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let headers = resp.headers().clone();
            if status.is_redirection() {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .expect("redirect without Location");
                current = current.join(location).expect("location");
                method = Method::GET;
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            if status == StatusCode::OK
                && let Some((action, fields)) = parse_auto_post_form(&body)
            {
                current = current.join(&action).expect("form action");
                method = Method::POST;
                form = Some(fields);
                continue;
            }
            return Landing {
                url: current,
                status,
                headers,
                body,
                trail,
            };
        }
        panic!("too many redirects: {trail:?}");
    }
}

/// Finds an auto-submitting POST form (a form_post response page) and its hidden fields.
pub fn parse_auto_post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let lower = html.to_ascii_lowercase();
    let form_start = lower.find("<form")?;
    let form_tag_end = form_start + lower[form_start..].find('>')?;
    let tag = &html[form_start..form_tag_end];
    if !tag.to_ascii_lowercase().contains("method=\"post\"") {
        return None;
    }
    let action = attr(tag, "action")?;
    let mut fields = Vec::new();
    let mut rest = &html[form_tag_end..];
    while let Some(pos) = rest.to_ascii_lowercase().find("<input") {
        let end = pos + rest[pos..].find('>')?;
        let input = &rest[pos..end];
        if let (Some(name), Some(value)) = (attr(input, "name"), attr(input, "value")) {
            fields.push((name, value));
        }
        rest = &rest[end..];
    }
    let auto_submits = lower.contains(".submit()");
    if auto_submits || fields.iter().any(|(n, _)| n == "code" || n == "error") {
        Some((action, fields))
    } else {
        None
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
}

/// Binds a loopback listener on a free port.
pub async fn bind_loopback() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Serves an axum router on a listener in the background.
pub fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

/// Whether a test that needs an external dependency must fail rather than skip.
pub fn require_all() -> bool {
    std::env::var("PORTCULLIS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips (loudly) or fails, depending on `PORTCULLIS_REQUIRE_ALL`.
pub fn skip_or_fail(what: &str) {
    if require_all() {
        panic!("PORTCULLIS_REQUIRE_ALL=1 but {what}");
    }
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what}");
    eprintln!("!!! Run scripts/test (it installs what is missing) to run this test.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Helpers for the logout tests (`logout_*.rs`): a relying party served on
/// 127.0.0.1 with [`portcullis::OidcLayer`] in front of a few routes, a
/// dev OP to sign in at, sign-in as a chosen sample user, and raw requests
/// that carry a copied `Cookie` header.
pub mod rp {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use axum::Router;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use portcullis::store::{Cached, LogoutStore, MemoryLogoutStore, StoreError, StoreFuture};
    use portcullis::{Oidc, OidcLayer, OidcLayerBuilder, Tokens, User, requires_auth};
    use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
    use reqwest::StatusCode;
    use reqwest::header::{ACCEPT, COOKIE, LOCATION};
    use serde_json::{Value, json};

    use super::{Agent, bind_loopback, serve};

    /// The cookie key material every RP of these tests uses.
    pub const SECRET: &str = "logout-tests-cookie-secret-0123456789abcdef";
    /// The default client id and secret.
    pub const CLIENT_ID: &str = "rp";
    pub const CLIENT_SECRET: &str = "rp-secret";
    /// The default session cookie name on plain http.
    pub const SESSION_COOKIE: &str = "portcullis.session";
    /// The Back-Channel Logout event.
    pub const BCL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

    /// A bound, not yet served, listener for an RP and its base URL.
    pub struct Site {
        pub listener: tokio::net::TcpListener,
        pub base: String,
    }

    /// Binds a free loopback port for an RP.
    pub async fn site() -> Site {
        let (listener, addr) = bind_loopback().await;
        Site {
            listener,
            base: format!("http://127.0.0.1:{}", addr.port()),
        }
    }

    /// A confidential RS256 client for the RP at `base`: its callback, and
    /// `{base}/` as post-logout redirect URI.
    pub fn dev_client(client_id: &str, base: &str) -> DevClient {
        DevClient::confidential(client_id, CLIENT_SECRET, format!("{base}/callback"))
            .with_post_logout_redirect_uri(format!("{base}/"))
    }

    /// Starts a dev OP on a free port.
    pub async fn start_idp(config: DevIdpConfig) -> RunningDevIdp {
        portcullis_devidp::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("dev idp")
    }

    /// The builder of an RP at `base` signing in at `issuer` as `client_id`,
    /// with `auth_required(false)` (routes opt in with `requires_auth`).
    pub fn rp_builder(issuer: &str, base: &str, client_id: &str) -> OidcLayerBuilder {
        OidcLayer::builder()
            .issuer_base_url(issuer)
            .client_id(client_id)
            .client_secret(CLIENT_SECRET)
            .base_url(base)
            .secret(SECRET)
            .auth_required(false)
    }

    /// The application behind the layer:
    /// - `/`: `Signed in as {sub}` or `Signed out`;
    /// - `/profile`: the claims as JSON, behind `requires_auth` (401 JSON
    ///   for API clients, a redirect to login for browsers);
    /// - `/session`: sub, sid and the tokens as JSON;
    /// - `/refresh`: `oidc.refresh()`, answered with a 200;
    /// - `/local-logout`: `oidc.logout_local()`, answered with a 200.
    pub fn app_routes() -> Router {
        Router::new()
            .route(
                "/",
                get(|user: Option<User>| async move {
                    match user {
                        Some(u) => format!("Signed in as {}", u.sub()),
                        None => "Signed out".into(),
                    }
                }),
            )
            .route(
                "/profile",
                get(|user: User| async move { axum::Json(user.claims().clone()) })
                    .route_layer(requires_auth()),
            )
            .route(
                "/session",
                get(|user: User, tokens: Tokens| async move {
                    axum::Json(json!({
                        "sub": user.sub(),
                        "iss": user.iss(),
                        "sid": user.session().sid(),
                        "id_token": tokens.id_token(),
                        "access_token": tokens.access_token(),
                        "refresh_token": tokens.refresh_token(),
                    }))
                }),
            )
            .route(
                "/refresh",
                get(|oidc: Oidc| async move {
                    match oidc.refresh().await {
                        Ok(update) => (update, "Refreshed").into_response(),
                        Err(error) => oidc.reject(error),
                    }
                }),
            )
            .route(
                "/local-logout",
                get(|oidc: Oidc| async move {
                    match oidc.logout_local().await {
                        Ok(update) => (update, "Signed out locally").into_response(),
                        Err(error) => error.into_response(),
                    }
                }),
            )
    }

    /// Serves the RP at `site` with the layer `builder` builds.
    pub async fn serve_rp(site: Site, builder: OidcLayerBuilder) -> String {
        let layer = builder.build().await.expect("layer");
        serve(site.listener, app_routes().layer(layer));
        site.base
    }

    /// One RP and its dev OP (sample users alice and bob, no auto-approve).
    pub struct Env {
        pub base: String,
        pub idp: RunningDevIdp,
    }

    impl Env {
        pub fn issuer(&self) -> &str {
            self.idp.issuer()
        }

        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }
    }

    /// Starts a dev OP with the client `client` makes of [`dev_client`]
    /// (`rp` at the RP's base URL), and the RP that `configure` makes of
    /// [`rp_builder`].
    pub async fn start_env(
        client: impl FnOnce(DevClient, &str) -> DevClient,
        configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
    ) -> Env {
        let site = site().await;
        let base = site.base.clone();
        let client = client(dev_client(CLIENT_ID, &base), &base);
        let idp = start_idp(DevIdpConfig::new().with_client(client)).await;
        let builder = configure(rp_builder(idp.issuer(), &base, CLIENT_ID));
        serve_rp(site, builder).await;
        Env { base, idp }
    }

    /// What a signed-in browser knows about its session.
    #[derive(Debug, Clone)]
    pub struct SignedIn {
        pub sub: String,
        pub sid: String,
        pub iss: String,
        pub id_token: String,
        pub access_token: Option<String>,
        pub refresh_token: Option<String>,
        /// The `Cookie` header the browser sends to the RP: what an
        /// attacker would copy.
        pub cookie: String,
    }

    /// Signs `agent` in at the RP `base` (whose OP is `issuer`) as `user`,
    /// picking the user on the OP's sign-in page unless the agent's OP
    /// session is reused.
    pub async fn sign_in_as(agent: &Agent, base: &str, issuer: &str, user: &str) -> SignedIn {
        let landing = agent
            .navigate(&format!("{base}/login?returnTo=%2Fsession"))
            .await;
        let landing = if landing.url.as_str().starts_with(issuer) {
            let handle = hidden_value(&landing.body, "request")
                .unwrap_or_else(|| panic!("not the OP's sign-in page: {}", landing.body));
            let approved = agent
                .client
                .post(format!("{issuer}/authorize/approve"))
                .form(&[("request", handle.as_str()), ("user", user)])
                .send()
                .await
                .expect("approve");
            assert!(
                approved.status().is_redirection(),
                "approve answered {}",
                approved.status()
            );
            let location = approved.headers()[LOCATION]
                .to_str()
                .expect("location")
                .to_owned();
            agent.navigate(&location).await
        } else {
            landing
        };
        assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
        assert_eq!(landing.url.path(), "/session", "{:?}", landing.trail);
        let session: Value = serde_json::from_str(&landing.body).expect("session json");
        assert_eq!(session["sub"], user);
        let text = |name: &str| session[name].as_str().map(str::to_owned);
        SignedIn {
            sub: text("sub").expect("sub"),
            sid: text("sid").expect("the dev OP always sends a sid"),
            iss: text("iss").expect("iss"),
            id_token: text("id_token").expect("id_token"),
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            cookie: agent
                .cookie_header(&format!("{base}/"))
                .expect("session cookie"),
        }
    }

    /// Signs in as alice at `env`.
    pub async fn sign_in(agent: &Agent, env: &Env) -> SignedIn {
        sign_in_as(agent, &env.base, env.issuer(), "alice").await
    }

    fn hidden_value(html: &str, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = html.find(&needle)? + needle.len();
        let end = start + html[start..].find('"')?;
        Some(html[start..end].to_owned())
    }

    /// A client with no cookie jar and no redirects: it sends exactly the
    /// headers a test gives it (a copied `Cookie` header, say).
    pub fn bare_client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// `GET url` from a fresh client carrying `cookie` as its `Cookie`
    /// header, accepting `accept`.
    pub async fn get_with_cookie(url: &str, cookie: &str, accept: &str) -> reqwest::Response {
        bare_client()
            .get(url)
            .header(COOKIE, cookie)
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("request")
    }

    /// The status of `GET {base}/profile` for an API client replaying `cookie`.
    pub async fn profile_status(base: &str, cookie: &str) -> StatusCode {
        get_with_cookie(&format!("{base}/profile"), cookie, "application/json")
            .await
            .status()
    }

    /// Asserts that `cookie` is a live session at `base` (200 on /profile).
    pub async fn assert_signed_in(base: &str, cookie: &str, why: &str) {
        assert_eq!(
            profile_status(base, cookie).await,
            StatusCode::OK,
            "the session should be alive: {why}"
        );
    }

    /// Asserts that `cookie` is refused at `base`: 401 JSON `unauthenticated`.
    pub async fn assert_signed_out(base: &str, cookie: &str, why: &str) {
        let response =
            get_with_cookie(&format!("{base}/profile"), cookie, "application/json").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "the session should be dead: {why}"
        );
        let body: Value = response.json().await.expect("401 json");
        assert_eq!(body["error"], "unauthenticated", "{why}");
    }

    /// The `Set-Cookie` values of a response.
    pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
        set_cookie_values(response.headers())
    }

    /// The `Set-Cookie` values of a header map.
    pub fn set_cookie_values(headers: &reqwest::header::HeaderMap) -> Vec<String> {
        headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// Whether `set_cookies` removes the cookie `name` (empty value, `Max-Age=0`).
    pub fn clears_cookie(set_cookies: &[String], name: &str) -> bool {
        let prefix = format!("{name}=");
        set_cookies.iter().any(|c| {
            c.starts_with(&prefix) && c[prefix.len()..].starts_with(';') && c.contains("Max-Age=0")
        })
    }

    /// Seconds since the epoch.
    pub fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    }

    /// A `jti` never used before in this process.
    pub fn fresh_jti() -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        format!("jti-{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
    }

    /// The claims of a valid logout token for `env`'s client naming `sub`
    /// and `sid` (either may be `None`).
    pub fn logout_claims(issuer: &str, sub: Option<&str>, sid: Option<&str>) -> Value {
        let now = now();
        let mut claims = json!({
            "iss": issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": fresh_jti(),
            "events": { BCL_EVENT: {} },
        });
        if let Some(sub) = sub {
            claims["sub"] = json!(sub);
        }
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        claims
    }

    /// POSTs `logout_token=token` to `{base}/backchannel-logout` as an OP does.
    pub async fn post_logout_token(base: &str, token: &str) -> reqwest::Response {
        bare_client()
            .post(format!("{base}/backchannel-logout"))
            .form(&[("logout_token", token)])
            .send()
            .await
            .expect("back-channel logout request")
    }

    /// The JSON payload of a compact JWS (not verified).
    pub fn jwt_payload(token: &str) -> Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).expect("a JWS");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload");
        serde_json::from_slice(&bytes).expect("JSON payload")
    }

    /// A logout store that fails while a flag is set: `all` makes every method
    /// fail (and the local copy unknown), `marks` only the writing of markers.
    #[derive(Default)]
    pub struct FlakyLogouts {
        pub inner: MemoryLogoutStore,
        pub all: AtomicBool,
        pub marks: AtomicBool,
    }

    /// A failed store call, as a backend outage looks.
    pub fn outage<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
        Box::pin(async {
            Err(StoreError::unavailable(
                "flaky test store",
                "switched off by the test",
            ))
        })
    }

    impl LogoutStore for FlakyLogouts {
        fn mark<'a>(&'a self, key: &'a str, at_ms: u64, ttl: Duration) -> StoreFuture<'a, ()> {
            if self.all.load(Ordering::SeqCst) || self.marks.load(Ordering::SeqCst) {
                return outage();
            }
            self.inner.mark(key, at_ms, ttl)
        }

        fn markers<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<u64>>> {
            if self.all.load(Ordering::SeqCst) {
                return outage();
            }
            self.inner.markers(keys)
        }

        fn cached_marker(&self, key: &str) -> Cached<u64> {
            if self.all.load(Ordering::SeqCst) {
                return Cached::Unknown;
            }
            self.inner.cached_marker(key)
        }

        fn remember_jti<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
            if self.all.load(Ordering::SeqCst) {
                return outage();
            }
            self.inner.remember_jti(key, ttl)
        }
    }
}

/// A `redis-server` of a test's own, on a free port, persisting to an
/// append-only file (fsync on every write) in a directory of its own: it
/// can be killed and started again on the same port and directory with its
/// data intact. Killed (and its directory removed) on drop.
pub mod redis_server {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// Whether `redis-server` runs here. When it does not, the test fails
    /// under `PORTCULLIS_REQUIRE_ALL=1` and skips loudly otherwise (the
    /// caller returns).
    pub fn have_redis_server(test: &str) -> bool {
        let ok = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let what = format!("{test}: `redis-server` is not on PATH");
            // Panics under PORTCULLIS_REQUIRE_ALL=1.
            super::skip_or_fail(&what);
            // `eprintln!` is captured by the test harness; a raw write to
            // stderr is seen even when the skipped test "passes".
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED {what} !!!!!\n");
        }
        ok
    }

    /// How a test stops the server.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Stop {
        /// SIGKILL: a crash (the kernel resets every connection).
        Kill,
        /// SIGTERM: a graceful shutdown (Redis closes its clients).
        Term,
    }

    /// A directory under the system's temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(label: &str) -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let path = std::env::temp_dir().join(format!(
                "portcullis-{label}-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A free loopback TCP port (free when asked; nothing holds it).
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port")
    }

    /// The server process. Field order matters: the process is killed
    /// (in `Drop`) before the directory is removed.
    pub struct RedisServer {
        child: Option<Child>,
        pub port: u16,
        args: Vec<String>,
        dir: TempDir,
    }

    impl RedisServer {
        /// `redis-server --port <free> --appendonly yes --appendfsync always
        /// --dir <tempdir> --save ""`, bound to 127.0.0.1, waited for.
        pub fn start_persistent() -> RedisServer {
            let dir = TempDir::new("redis");
            let port = free_port();
            let args = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                &dir.path().display().to_string(),
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ]
            .map(str::to_owned)
            .to_vec();
            let mut server = RedisServer {
                child: None,
                port,
                args,
                dir,
            };
            server.launch();
            server.wait_ready();
            server
        }

        /// `redis://127.0.0.1:<port>`.
        pub fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }

        /// The data directory (the append-only file and the server's log).
        pub fn dir(&self) -> &Path {
            self.dir.path()
        }

        fn launch(&mut self) {
            let log_path = self.dir.path().join("redis-server.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("log file");
            let child = Command::new("redis-server")
                .args(&self.args)
                .stdout(Stdio::from(log.try_clone().expect("log")))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn redis-server");
            self.child = Some(child);
        }

        /// Whether the server answers `PING` with `+PONG` (not `-LOADING`).
        pub fn answers_ping(&self) -> bool {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            if stream.write_all(b"PING\r\n").is_err() {
                return false;
            }
            let mut reply = [0u8; 7];
            stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
        }

        fn wait_ready(&self) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if self.answers_ping() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let log = std::fs::read_to_string(self.dir.path().join("redis-server.log"))
                .unwrap_or_default();
            panic!("redis-server on port {} did not start:\n{log}", self.port);
        }

        /// Stops the process and waits for it to exit. Only this test's own
        /// child is signalled, by its pid.
        pub fn stop(&mut self, how: Stop) {
            let Some(mut child) = self.child.take() else {
                return;
            };
            match how {
                Stop::Kill => {
                    let _ = child.kill();
                }
                Stop::Term => {
                    let _ = Command::new("kill")
                        .arg("-TERM")
                        .arg(child.id().to_string())
                        .status();
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while Instant::now() < deadline {
                        if let Ok(Some(_)) = child.try_wait() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
            assert!(
                !self.answers_ping(),
                "redis-server still answers after stop"
            );
        }

        /// Starts it again on the same port, arguments and directory, and
        /// waits until it answers (its append-only file loaded).
        pub fn restart(&mut self) {
            self.stop(Stop::Kill);
            self.launch();
            self.wait_ready();
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
