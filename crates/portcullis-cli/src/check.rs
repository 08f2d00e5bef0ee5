//! `portcullis check`: diagnoses a configuration (the library's environment,
//! or the proxy's environment and `--config` file) against the real OP,
//! stores and secrets. Each finding says what is wrong and how to fix it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use portcullis_proxy::{ProxyConfig, Source};
use serde_json::Value;

/// Arguments of `portcullis check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The proxy's TOML file, if it has one (the environment wins over it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A token response (JSON with id_token, access_token, refresh_token)
    /// from a real login, to estimate the session cookie's size.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Works.
    Ok,
    /// Works, but should be changed (or could not be checked).
    Warn,
    /// Broken: sign-in will fail or is unsafe.
    Error,
}

/// One diagnosis.
#[derive(Debug, Clone)]
pub struct Finding {
    level: Level,
    title: String,
    detail: Vec<String>,
    fix: Option<String>,
}

impl Finding {
    fn new(level: Level, title: impl Into<String>) -> Self {
        Self {
            level,
            title: title.into(),
            detail: Vec::new(),
            fix: None,
        }
    }
    fn detail(mut self, line: impl Into<String>) -> Self {
        self.detail.push(line.into());
        self
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Why the check could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The configuration file is unreadable.
    #[error("{0}")]
    Config(#[from] portcullis_proxy::ConfigError),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
    /// At least one finding is an error.
    #[error("{0} problem(s) found")]
    Problems(usize),
}

/// The settings the check reads.
struct Settings {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    base_url: Option<String>,
    secret: Option<String>,
    auth_method: String,
    callback_path: String,
    stores: Vec<(&'static str, String)>,
    proxy: Option<ProxyConfig>,
}

fn read_settings(source: &Source, findings: &mut Vec<Finding>) -> Settings {
    let text = |name: &str| source.text(name).filter(|v| !v.trim().is_empty());
    let mut proxy = None;
    let mut callback_path = "/callback".to_owned();
    if text("UPSTREAM").is_some() {
        match ProxyConfig::from_source(source) {
            Ok(config) => {
                callback_path = config.route("/callback");
                findings.push(
                    Finding::new(Level::Ok, "proxy configuration parses")
                        .detail(format!("UPSTREAM {}", config.upstream))
                        .detail(format!("routes under {:?}", config.route_prefix)),
                );
                proxy = Some(config);
            }
            Err(error) => findings.push(
                Finding::new(Level::Error, "the proxy configuration is invalid")
                    .detail(error.to_string())
                    .fix("correct the option named above (docs/proxy.md lists every option)"),
            ),
        }
    }
    let mut stores = Vec::new();
    for name in ["SESSION_STORE", "LOGOUT_STORE"] {
        if let Some(url) = text(name).filter(|v| v.contains("://")) {
            stores.push((name, url));
        }
    }
    Settings {
        issuer: text("ISSUER_BASE_URL"),
        client_id: text("CLIENT_ID"),
        client_secret: text("CLIENT_SECRET"),
        base_url: text("BASE_URL"),
        secret: text("SECRET"),
        auth_method: text("CLIENT_AUTH_METHOD").unwrap_or_else(|| "client_secret_basic".into()),
        callback_path,
        stores,
        proxy,
    }
}

/// Runs every check and prints the findings; `Err(Problems)` when any is an error.
pub async fn run(args: CheckArgs) -> Result<(), CheckError> {
    let source = Source::from_env_and_file(args.config.as_deref())?;
    let findings = check(&source, args.tokens.as_deref()).await?;
    print!("{}", render(&findings));
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    if errors > 0 {
        return Err(CheckError::Problems(errors));
    }
    Ok(())
}

fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let tag = match f.level {
            Level::Ok => "ok   ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        };
        let _ = writeln!(out, "{tag} {}", f.title);
        for line in &f.detail {
            let _ = writeln!(out, "        {line}");
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "        fix: {fix}");
        }
    }
    out
}

/// Every check, in order.
pub async fn check(
    source: &Source,
    tokens: Option<&std::path::Path>,
) -> Result<Vec<Finding>, CheckError> {
    let mut findings = Vec::new();
    let settings = read_settings(source, &mut findings);
    check_secret(settings.secret.as_deref(), &mut findings);
    for (name, missing) in [
        ("ISSUER_BASE_URL", settings.issuer.is_none()),
        ("CLIENT_ID", settings.client_id.is_none()),
        ("BASE_URL", settings.base_url.is_none()),
    ] {
        if missing {
            findings.push(
                Finding::new(Level::Error, format!("{name} is not set"))
                    .fix(format!("set {name} (see the README's configuration table)")),
            );
        }
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(CheckError::Client)?;
    if let Some(issuer) = &settings.issuer
        && let Some(metadata) = check_discovery(&http, issuer, &mut findings).await
    {
        check_jwks(&http, &metadata, &mut findings).await;
        if let (Some(client_id), Some(base_url)) = (&settings.client_id, &settings.base_url) {
            let redirect_uri = format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                settings.callback_path
            );
            check_credentials(
                &http,
                &metadata,
                &settings,
                client_id,
                &redirect_uri,
                &mut findings,
            )
            .await;
            check_redirect_uri(&http, &metadata, client_id, &redirect_uri, &mut findings).await;
            let post_logout = format!("{}/", base_url.trim_end_matches('/'));
            check_post_logout_uri(&http, &metadata, client_id, &post_logout, &mut findings).await;
        }
    }
    for (name, url) in &settings.stores {
        check_store(name, url, &mut findings).await;
    }
    if let Some(proxy) = &settings.proxy {
        check_upstream(proxy, &mut findings).await;
    }
    check_cookie_size(tokens, &mut findings);
    Ok(findings)
}

fn check_secret(secret: Option<&str>, findings: &mut Vec<Finding>) {
    let Some(secret) = secret else {
        findings.push(
            Finding::new(Level::Error, "SECRET is not set")
                .fix("set SECRET to at least 32 random characters, e.g. `openssl rand -hex 32`"),
        );
        return;
    };
    for (i, key) in secret.split(',').map(str::trim).enumerate() {
        let distinct = {
            let mut chars: Vec<char> = key.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len()
        };
        let common = [
            "secret",
            "changeme",
            "password",
            "keyboard cat",
            "a long, randomly-generated string stored in env",
        ];
        let label = if i == 0 {
            "SECRET".to_owned()
        } else {
            format!("SECRET key #{} (older)", i + 1)
        };
        if key.len() < 32 || distinct < 10 || common.iter().any(|c| key.eq_ignore_ascii_case(c)) {
            findings.push(
                Finding::new(Level::Error, format!("{label} is weak"))
                    .detail(format!("{} characters, {distinct} distinct (its value is not shown)", key.len()))
                    .fix("use at least 32 random characters: `openssl rand -hex 32`; keep the old key after a comma while cookies roll over"),
            );
        } else {
            findings.push(Finding::new(
                Level::Ok,
                format!("{label} is long enough ({} characters)", key.len()),
            ));
        }
    }
}

async fn check_discovery(
    http: &reqwest::Client,
    issuer: &str,
    findings: &mut Vec<Finding>,
) -> Option<Value> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let started = Instant::now();
    let response = match http.get(&url).send().await {
        Ok(response) => response,
        Err(error) => {
            findings.push(
                Finding::new(Level::Error, "the OP's discovery document is unreachable")
                    .detail(format!("GET {url}: {}", describe(&error)))
                    .fix("check ISSUER_BASE_URL, DNS and that this machine can reach the OP (proxies, firewalls)"),
            );
            return None;
        }
    };
    let status = response.status();
    check_clock(response.headers(), findings);
    if status.is_redirection() {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        findings.push(
            Finding::new(Level::Error, "discovery answered a redirect (redirects are never followed)")
                .detail(format!("GET {url} -> {status} {location}"))
                .fix("set ISSUER_BASE_URL to the OP's exact issuer (often https, or with/without a path)"),
        );
        return None;
    }
    let metadata: Value = match response.json().await {
        Ok(value) if status.is_success() => value,
        _ => {
            findings.push(
                Finding::new(Level::Error, "discovery did not answer a JSON document")
                    .detail(format!("GET {url} -> {status}"))
                    .fix("check ISSUER_BASE_URL: it must be the issuer, whose /.well-known/openid-configuration exists"),
            );
            return None;
        }
    };
    findings.push(Finding::new(
        Level::Ok,
        format!("discovery answered in {} ms", started.elapsed().as_millis()),
    ));
    let advertised = metadata["issuer"].as_str().unwrap_or("");
    if advertised == issuer {
        findings.push(Finding::new(Level::Ok, "the issuer matches exactly"));
    } else {
        let mut finding = Finding::new(Level::Error, "issuer mismatch: tokens will be refused")
            .detail(format!("configured ISSUER_BASE_URL: {issuer}"))
            .detail(format!("the OP's issuer:            {advertised}"));
        if let Some(why) = mismatch_reason(issuer, advertised) {
            finding = finding.detail(format!("difference: {why}"));
        }
        findings.push(finding.fix(format!(
            "set ISSUER_BASE_URL={advertised} (the issuer is compared as an exact string)"
        )));
    }
    for field in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        if !metadata[field].is_string() {
            findings.push(
                Finding::new(Level::Error, format!("discovery has no {field}"))
                    .fix("this OP cannot do the authorization code flow; check its configuration"),
            );
        }
    }
    let s256 = metadata["code_challenge_methods_supported"]
        .as_array()
        .is_some_and(|m| m.iter().any(|v| v == "S256"));
    if !s256 {
        findings.push(
            Finding::new(Level::Warn, "the OP does not advertise PKCE S256")
                .detail("Portcullis always sends PKCE S256; most OPs accept it regardless")
                .fix("enable PKCE (S256) for this client at the OP"),
        );
    }
    Some(metadata)
}

fn mismatch_reason(configured: &str, advertised: &str) -> Option<String> {
    if configured.trim_end_matches('/') == advertised.trim_end_matches('/') {
        return Some("a trailing slash".into());
    }
    let swap = |s: &str| s.replace("localhost", "127.0.0.1");
    if swap(configured) == swap(advertised) {
        return Some("localhost vs 127.0.0.1 (different strings, even if the same host)".into());
    }
    if configured.replacen("http://", "https://", 1) == advertised
        || configured.replacen("https://", "http://", 1) == advertised
    {
        return Some("http vs https".into());
    }
    if configured.eq_ignore_ascii_case(advertised) {
        return Some("letter case".into());
    }
    None
}

fn check_clock(headers: &reqwest::header::HeaderMap, findings: &mut Vec<Finding>) {
    let Some(date) = headers
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(httpdate_parse)
    else {
        return;
    };
    let now = SystemTime::now();
    let skew = match now.duration_since(date) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    if skew.abs() > 60 {
        findings.push(
            Finding::new(Level::Error, "this clock and the OP's disagree")
                .detail(format!(
                    "this machine is {} s {} the OP's Date header (allowed skew 60 s)",
                    skew.abs(),
                    if skew > 0 { "ahead of" } else { "behind" }
                ))
                .fix("synchronise the clock (NTP, chrony or systemd-timesyncd)"),
        );
    } else {
        findings.push(Finding::new(
            Level::Ok,
            format!("clock skew against the OP: {skew} s"),
        ));
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate_parse(value: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|p| p.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

async fn check_jwks(http: &reqwest::Client, metadata: &Value, findings: &mut Vec<Finding>) {
    let Some(url) = metadata["jwks_uri"].as_str() else {
        return;
    };
    let jwks: Value = match http.get(url).send().await {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(v) => v,
            Err(_) => {
                findings.push(
                    Finding::new(Level::Error, "the JWKS is not JSON")
                        .detail(format!("GET {url}"))
                        .fix("check the OP's jwks_uri"),
                );
                return;
            }
        },
        Ok(r) => {
            findings.push(
                Finding::new(Level::Error, "the JWKS is unreachable")
                    .detail(format!("GET {url} -> {}", r.status()))
                    .fix("check the OP's jwks_uri and that this machine may reach it"),
            );
            return;
        }
        Err(error) => {
            findings.push(
                Finding::new(Level::Error, "the JWKS is unreachable")
                    .detail(format!("GET {url}: {}", describe(&error)))
                    .fix("check the OP's jwks_uri and that this machine may reach it"),
            );
            return;
        }
    };
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let signing: Vec<&Value> = keys
        .iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter(|k| matches!(k["kty"].as_str(), Some("RSA" | "EC" | "OKP")))
        .collect();
    if signing.is_empty() {
        findings.push(
            Finding::new(Level::Error, "the JWKS has no usable signing key")
                .detail(format!("{} key(s), none RSA/EC/OKP for signatures", keys.len()))
                .fix("publish the OP's signing keys; HS256-only OPs need the client configured for HS256"),
        );
    } else {
        findings.push(Finding::new(
            Level::Ok,
            format!("the JWKS has {} signing key(s)", signing.len()),
        ));
    }
    let algs: Vec<&str> = metadata["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if algs.contains(&"none") {
        findings.push(
            Finding::new(
                Level::Warn,
                "the OP advertises unsigned ID tokens (alg none)",
            )
            .detail("Portcullis never accepts them")
            .fix("make sure this client's ID tokens are signed (RS256 or ES256)"),
        );
    }
}

async fn check_credentials(
    http: &reqwest::Client,
    metadata: &Value,
    settings: &Settings,
    client_id: &str,
    redirect_uri: &str,
    findings: &mut Vec<Finding>,
) {
    let Some(token_endpoint) = metadata["token_endpoint"].as_str() else {
        return;
    };
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", "portcullis-check-dummy-code".to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        (
            "code_verifier",
            "portcullis-check-dummy-verifier-0123456789abcdefghijklmnop".to_owned(),
        ),
    ];
    let mut request = http.post(token_endpoint);
    match (settings.auth_method.as_str(), &settings.client_secret) {
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", client_id.to_owned()));
            form.push(("client_secret", secret.clone()));
        }
        ("none", _) | (_, None) => form.push(("client_id", client_id.to_owned())),
        (_, Some(secret)) => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(client_id), Some(enc(secret)));
        }
    }
    let response = match request.form(&form).send().await {
        Ok(r) => r,
        Err(error) => {
            findings.push(
                Finding::new(Level::Error, "the token endpoint is unreachable")
                    .detail(format!("POST {token_endpoint}: {}", describe(&error)))
                    .fix("check that this machine may reach the OP's token endpoint"),
            );
            return;
        }
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("");
    match error {
        "invalid_grant" => findings.push(
            Finding::new(Level::Ok, "the OP accepts the client credentials")
                .detail("a token request with a dummy code was refused with invalid_grant, as it should be"),
        ),
        "invalid_client" | "unauthorized_client" => findings.push(
            Finding::new(Level::Error, format!("the OP refuses the client credentials ({error})"))
                .detail(format!("POST {token_endpoint} with CLIENT_ID={client_id} using {} -> {status}", settings.auth_method))
                .fix("check CLIENT_ID and CLIENT_SECRET, and that CLIENT_AUTH_METHOD matches the client's registration (client_secret_basic or client_secret_post)"),
        ),
        other => findings.push(
            Finding::new(Level::Warn, "the client credentials could not be confirmed")
                .detail(format!("a dummy-code token request answered {status} {}", if other.is_empty() { "without an error code" } else { other }))
                .fix("try a real login; if it fails at the callback, check CLIENT_ID, CLIENT_SECRET and CLIENT_AUTH_METHOD"),
        ),
    }
}

async fn check_redirect_uri(
    http: &reqwest::Client,
    metadata: &Value,
    client_id: &str,
    redirect_uri: &str,
    findings: &mut Vec<Finding>,
) {
    let Some(endpoint) = metadata["authorization_endpoint"].as_str() else {
        return;
    };
    let Ok(mut url) = url::Url::parse(endpoint) else {
        return;
    };
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "portcullis-check")
        .append_pair("nonce", "portcullis-check")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let Ok(response) = http.get(url).header("accept", "text/html").send().await else {
        findings.push(Finding::new(
            Level::Warn,
            "the authorization endpoint is unreachable from here",
        ));
        return;
    };
    let status = response.status();
    if status.is_client_error() {
        let body = response.text().await.unwrap_or_default();
        let mentions = body.contains("redirect_uri") || body.contains("redirect URI");
        let mut finding = Finding::new(
            Level::Error,
            "the OP refused an authorization request for this redirect URI",
        )
        .detail(format!("redirect_uri={redirect_uri} -> {status}"));
        if mentions {
            finding = finding.detail("the OP's answer mentions the redirect_uri");
        }
        findings.push(finding.fix(format!(
            "register {redirect_uri} as a redirect URI of client {client_id} at the OP (exact match; BASE_URL plus the callback route), and check that the OP knows CLIENT_ID"
        )));
    } else {
        findings.push(Finding::new(
            Level::Ok,
            format!("the redirect URI looks registered ({redirect_uri} -> {status})"),
        ));
    }
}

async fn check_post_logout_uri(
    http: &reqwest::Client,
    metadata: &Value,
    client_id: &str,
    target: &str,
    findings: &mut Vec<Finding>,
) {
    let Some(endpoint) = metadata["end_session_endpoint"].as_str() else {
        findings.push(Finding::new(
            Level::Ok,
            "the OP has no end_session_endpoint: logout is local (IDP_LOGOUT has no effect)",
        ));
        return;
    };
    let Ok(mut url) = url::Url::parse(endpoint) else {
        return;
    };
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("post_logout_redirect_uri", target);
    let Ok(response) = http.get(url).header("accept", "text/html").send().await else {
        return;
    };
    let status = response.status();
    if status.is_client_error() {
        findings.push(
            Finding::new(Level::Warn, "the post-logout redirect URI looks unregistered")
                .detail(format!("post_logout_redirect_uri={target} -> {status}"))
                .fix(format!("register {target} as a post-logout redirect URI of client {client_id} (needed with IDP_LOGOUT=true)")),
        );
    } else {
        findings.push(Finding::new(
            Level::Ok,
            format!("the post-logout redirect URI looks registered ({status})"),
        ));
    }
}

async fn check_store(name: &'static str, url: &str, findings: &mut Vec<Finding>) {
    use portcullis::store::StoreOpener as _;
    let shown = redact(url);
    let opener = portcullis_redis::RedisOpener::default();
    if !opener.handles(url) {
        findings.push(
            Finding::new(
                Level::Error,
                format!("{name} names a store this binary cannot open"),
            )
            .detail(shown)
            .fix("use redis://, rediss://, or cookie/memory"),
        );
        return;
    }
    let started = Instant::now();
    let probe = async {
        let stores = opener.open(url).await?;
        stores
            .logouts
            .markers(&["portcullis-check-probe".to_owned()])
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(())) => findings.push(Finding::new(
            Level::Ok,
            format!("{name} ({shown}) answers in {} ms", started.elapsed().as_millis()),
        )),
        Ok(Err(error)) => findings.push(
            Finding::new(Level::Error, format!("{name} is unreachable"))
                .detail(format!("{shown}: {error}"))
                .fix("start Redis, or correct the host, port, password or TLS (rediss://) in the URL"),
        ),
        Err(_) => findings.push(
            Finding::new(Level::Error, format!("{name} did not answer within 5 s"))
                .detail(shown)
                .fix("check that Redis is reachable from here (firewall, host, port)"),
        ),
    }
}

async fn check_upstream(proxy: &ProxyConfig, findings: &mut Vec<Finding>) {
    let host = proxy.upstream.host_str().unwrap_or_default().to_owned();
    let port = proxy.upstream.port_or_known_default().unwrap_or(80);
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => findings.push(Finding::new(
            Level::Ok,
            format!("UPSTREAM {host}:{port} accepts connections"),
        )),
        _ => findings.push(
            Finding::new(
                Level::Warn,
                format!("UPSTREAM {host}:{port} does not accept connections"),
            )
            .fix("start the application, or correct UPSTREAM; the gate answers 502 until it is up"),
        ),
    }
}

fn check_cookie_size(tokens: Option<&std::path::Path>, findings: &mut Vec<Finding>) {
    let Some(path) = tokens else {
        findings.push(
            Finding::new(Level::Ok, "cookie size not checked").detail(
                "pass --tokens FILE with a token response from a real login to estimate it",
            ),
        );
        return;
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        findings.push(Finding::new(
            Level::Warn,
            format!("cannot read {}", path.display()),
        ));
        return;
    };
    let Ok(response) = serde_json::from_str::<Value>(&text) else {
        findings.push(Finding::new(
            Level::Warn,
            format!("{} is not JSON", path.display()),
        ));
        return;
    };
    let len = |name: &str| response[name].as_str().map_or(0, str::len);
    // The sealed session: the tokens plus ~120 bytes of fields, AES-GCM
    // nonce and tag, then base64url.
    let plain = len("id_token") + len("access_token") + len("refresh_token") + 120;
    let sealed = (plain + 28).div_ceil(3) * 4;
    let chunks = sealed.div_ceil(3800);
    let mut finding = Finding::new(
        if sealed > 4000 {
            Level::Warn
        } else {
            Level::Ok
        },
        format!("estimated session cookie: about {sealed} bytes in {chunks} cookie(s)"),
    );
    if sealed > 4000 {
        finding = finding
            .detail("browsers cap a cookie at 4096 bytes; Portcullis splits it into chunks, but headers grow")
            .fix("use SESSION_STORE=redis://… (the cookie then holds only a session id), or ask the OP for smaller tokens");
    }
    findings.push(finding);
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_are_explained() {
        assert_eq!(
            mismatch_reason("http://a/", "http://a").as_deref(),
            Some("a trailing slash")
        );
        assert!(
            mismatch_reason("http://localhost:1", "http://127.0.0.1:1")
                .is_some_and(|r| r.contains("localhost"))
        );
        assert_eq!(
            mismatch_reason("http://a", "https://a").as_deref(),
            Some("http vs https")
        );
        assert_eq!(mismatch_reason("http://a", "http://b"), None);
    }

    #[test]
    fn http_dates_parse() {
        let t = httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("epoch")
                .as_secs(),
            784_111_777
        );
        assert!(httpdate_parse("yesterday").is_none());
    }

    #[test]
    fn weak_secrets_are_errors_and_strong_ones_pass() {
        let mut f = Vec::new();
        check_secret(Some("short"), &mut f);
        check_secret(Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), &mut f);
        check_secret(Some("0123456789abcdef0123456789abcdef0123"), &mut f);
        let levels: Vec<Level> = f.iter().map(|f| f.level).collect();
        assert_eq!(levels, [Level::Error, Level::Error, Level::Ok]);
        assert!(
            !render(&f).contains("short"),
            "a secret's value is never shown"
        );
    }
}
