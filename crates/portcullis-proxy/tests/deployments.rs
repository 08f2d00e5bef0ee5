//! The gate as operators deploy it: two replicas sharing one real Redis
//! (back-channel logout reaches both), the documented nginx `auth_request`
//! configuration (`docs/proxy/nginx.conf`) in front of a real nginx, and the
//! documented Caddy `forward_auth` configuration (`docs/proxy/Caddyfile`) in
//! front of a real Caddy.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const BCL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn api() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn redis_reachable() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok()
}

async fn whoami_status(gate: &str, cookie: &str) -> StatusCode {
    api()
        .get(format!("{gate}/whoami"))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn back_channel_logout_at_one_replica_ends_the_session_on_the_other_over_redis() {
    if !redis_reachable() {
        skip_or_fail("no Redis on 127.0.0.1:6379");
        return;
    }
    for store in [
        ("SESSION_STORE", "redis://127.0.0.1:6379"),
        ("LOGOUT_STORE", "redis://127.0.0.1:6379"),
    ] {
        let upstream = start_upstream().await;
        let (port_a, port_b) = (free_port(), free_port());
        let base = format!("http://127.0.0.1:{port_a}");
        let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
        // One BASE_URL (replica A's address stands for the load balancer).
        let env = [store, ("BASE_URL", base.as_str())];
        let a = start_gate(port_a, idp.issuer(), upstream, &env, "").await;
        let b = start_gate(port_b, idp.issuer(), upstream, &env, "").await;
        let b_url = format!("http://{}", b.addr());
        let browser = Browser::new();
        browser.sign_in(&base, idp.issuer(), "alice").await;
        let cookie = browser.cookie(&base);
        assert_eq!(whoami_status(&base, &cookie).await, StatusCode::OK);
        assert_eq!(
            whoami_status(&b_url, &cookie).await,
            StatusCode::OK,
            "{store:?}: the session works on B"
        );

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let token = idp.sign_logout_token(json!({
            "iss": idp.issuer(),
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": format!("jti-{now}-{}", store.0),
            "sub": "alice",
            "events": { BCL_EVENT: {} },
        }));
        let logout = api()
            .post(format!("{b_url}/oauth2/backchannel-logout"))
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .expect("back-channel logout");
        assert_eq!(logout.status(), StatusCode::OK, "{store:?}");
        assert_eq!(logout.headers()["cache-control"], "no-store");
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let status = whoami_status(&base, &cookie).await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{store:?}: still signed in on A after 1 s ({status})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            whoami_status(&b_url, &cookie).await,
            StatusCode::UNAUTHORIZED
        );
        // A new login works.
        let again = Browser::new();
        again.sign_in(&base, idp.issuer(), "alice").await;
        assert_eq!(
            whoami_status(&b_url, &again.cookie(&base)).await,
            StatusCode::OK
        );
        a.shutdown().await;
        b.shutdown().await;
    }
}

/// An nginx child process with its own prefix, stopped on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts nginx on `port` with the documented server block, its gate and
/// upstream addresses replaced by the test's.
fn start_nginx(binary: &Path, port: u16, gate: &str, upstream: &str) -> Nginx {
    let documented = std::fs::read_to_string(workspace_root().join("docs/proxy/nginx.conf"))
        .expect("docs/proxy/nginx.conf");
    let server = documented
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("127.0.0.1:4180", gate)
        .replace("127.0.0.1:8080", upstream);
    let dir = std::env::temp_dir().join(format!("portcullis-nginx-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("nginx dir");
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write conf");
    let child = Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-g")
        .arg("daemon off;")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, dir }
}

#[tokio::test]
async fn the_documented_nginx_auth_request_config_protects_an_app() {
    let Some(binary) = nginx_binary() else {
        skip_or_fail("nginx is not installed (scripts/test installs Debian's nginx)");
        return;
    };
    let upstream = start_upstream().await;
    let nginx_port = free_port();
    let site = format!("http://127.0.0.1:{nginx_port}");
    let idp = start_idp(std::slice::from_ref(&site), |c| c).await;
    let gate_port = free_port();
    let gate = start_gate(
        gate_port,
        idp.issuer(),
        upstream,
        &[
            ("BASE_URL", site.as_str()),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("SKIP_AUTH", "^/public/"),
        ],
        "",
    )
    .await;
    let _nginx = start_nginx(
        &binary,
        nginx_port,
        &gate.addr().to_string(),
        &upstream.to_string(),
    );

    // Public: the gate's /auth said 202 without a session.
    let public = api()
        .get(format!("{site}/public/x"))
        .send()
        .await
        .expect("public");
    assert_eq!(public.status(), StatusCode::OK);
    let echo: Value = public.json().await.expect("echo");
    assert!(seen(&echo, "x-forwarded-user").is_empty());

    // Protected: to login, and back to where the browser was going.
    for (path, spoof) in [
        ("/private", None),
        ("/private", Some("/public/x")),
        ("/public/../private", None),
    ] {
        let mut request = api()
            .get(format!("{site}{path}"))
            .header("accept", "text/html");
        if let Some(uri) = spoof {
            request = request
                .header("x-forwarded-uri", uri)
                .header("x-original-uri", uri);
        }
        let response = request.send().await.expect("private");
        assert_eq!(response.status(), StatusCode::FOUND, "{path} {spoof:?}");
        let location = response.headers()["location"].to_str().expect("location");
        assert!(
            location.contains("/oauth2/login?returnTo=/private"),
            "{location}"
        );
    }
    // The auth endpoint itself is internal to nginx.
    let direct = api()
        .get(format!("{site}/oauth2/auth"))
        .send()
        .await
        .expect("auth");
    assert_eq!(direct.status(), StatusCode::NOT_FOUND);

    // Sign in through nginx; the app sees the identity, not a spoofed one.
    let browser = Browser::new();
    let echo = browser.sign_in(&site, idp.issuer(), "alice").await;
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    assert_eq!(seen(&echo, "x-forwarded-email"), ["alice@example.com"]);
    let spoofed = browser
        .client
        .get(format!("{site}/whoami"))
        .header("x-forwarded-user", "mallory")
        .header("X-Forwarded-Email", "mallory@example.com")
        .send()
        .await
        .expect("spoof");
    let echo: Value = spoofed.json().await.expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"], "{echo}");
    assert_eq!(seen(&echo, "x-forwarded-email"), ["alice@example.com"]);
    // A session cookie sent by someone else's copy works; a made-up one does not.
    let forged = api()
        .get(format!("{site}/whoami"))
        .header("cookie", format!("{SESSION_COOKIE}=forged"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::FOUND);
    gate.shutdown().await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A Caddy child process with its own directory, stopped on drop.
struct Caddy {
    child: Child,
    dir: PathBuf,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn caddy_binary() -> Option<PathBuf> {
    ["/usr/bin/caddy", "/usr/local/bin/caddy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Starts Caddy on `port` with the documented Caddyfile: its site address
/// becomes plain http on `port`, the gate and upstream addresses the
/// test's, and the global options turn off the admin endpoint and
/// automatic https (no certificates, no ports 80/443).
fn start_caddy(binary: &Path, port: u16, gate: &str, upstream: &str) -> Caddy {
    let documented = std::fs::read_to_string(workspace_root().join("docs/proxy/Caddyfile"))
        .expect("docs/proxy/Caddyfile");
    assert!(
        documented.contains("app.example.com {"),
        "the documented site address changed; update this test"
    );
    let site = documented
        .replace("app.example.com {", &format!("http://127.0.0.1:{port} {{"))
        .replace("127.0.0.1:4180", gate)
        .replace("127.0.0.1:8080", upstream);
    let dir = std::env::temp_dir().join(format!("portcullis-caddy-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("caddy dir");
    let config = format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{site}");
    let file = dir.join("Caddyfile");
    std::fs::write(&file, config).expect("write Caddyfile");
    let log = std::fs::File::create(dir.join("caddy.log")).expect("log file");
    let child = Command::new(binary)
        .arg("run")
        .arg("--config")
        .arg(&file)
        .arg("--adapter")
        .arg("caddyfile")
        // Caddy keeps its data and an autosaved config under these.
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("caddy starts");
    let mut caddy = Caddy { child, dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = caddy.child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let log = std::fs::read_to_string(caddy.dir.join("caddy.log")).unwrap_or_default();
            panic!("caddy did not listen on {port} ({exited:?}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    caddy
}

/// Every spelling of the identity headers a client might smuggle.
fn smuggled_identity_headers() -> String {
    let mut head = String::new();
    for name in [
        "X-Forwarded-User",
        "x-forwarded-user",
        "X_Forwarded_User",
        "x_forwarded_user",
        "X-Forwarded_User",
        "X-Forwarded-Email",
        "X_Forwarded_Email",
        "X-Forwarded-Groups",
        "X_Forwarded_Groups",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Preferred_Username",
        "X-Forwarded-Access-Token",
        "X_Forwarded_Access_Token",
    ] {
        head.push_str(&format!("\r\n{name}: mallory-smuggled"));
    }
    head
}

#[tokio::test]
async fn the_documented_caddy_forward_auth_config_protects_an_app() {
    let Some(binary) = caddy_binary() else {
        skip_or_fail("caddy is not installed (scripts/test installs Debian's caddy)");
        return;
    };
    let upstream = start_upstream().await;
    let caddy_port = free_port();
    let site = format!("http://127.0.0.1:{caddy_port}");
    // Access tokens for 63 s: with AUTO_REFRESH (60 s ahead), a refresh is
    // due 3 s after sign-in.
    let idp = start_idp(std::slice::from_ref(&site), |c| {
        c.with_access_token_ttl_secs(63)
    })
    .await;
    let gate_port = free_port();
    let gate = start_gate(
        gate_port,
        idp.issuer(),
        upstream,
        &[
            ("BASE_URL", site.as_str()),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("SKIP_AUTH", "^/public/"),
            ("AUTO_REFRESH", "true"),
        ],
        "[[authorization]]\nprefix = \"/admin\"\ngroups = [\"auditors\"]\n",
    )
    .await;
    let caddy = start_caddy(
        &binary,
        caddy_port,
        &gate.addr().to_string(),
        &upstream.to_string(),
    );
    let caddy_addr: std::net::SocketAddr = format!("127.0.0.1:{caddy_port}").parse().expect("addr");

    // Public: the gate's /auth said 202 without a session; a client's own
    // identity headers, in any spelling, never reach the app.
    let public = raw(
        caddy_addr,
        &format!(
            "GET /public/x HTTP/1.1\r\nHost: 127.0.0.1:{caddy_port}{}",
            smuggled_identity_headers()
        ),
    )
    .await;
    assert_eq!(public.status, 200, "{public:?}");
    assert!(
        !public.body.contains("mallory"),
        "smuggled: {}",
        public.body
    );
    let echo: Value = serde_json::from_str(&public.body).expect("echo");
    assert!(
        seen(&echo, "x-forwarded-user").iter().all(|u| u.is_empty()),
        "{echo}"
    );

    // Protected, for a browser: to login, and back to exactly where it was going.
    for (path, spoof) in [
        ("/private?a=1&b=2", None),
        ("/private?a=1&b=2", Some("/public/x")),
        ("/public/../private?a=1&b=2", None),
        ("/public/%2e%2e/private?a=1&b=2", None),
    ] {
        let mut request = api()
            .get(format!("{site}{path}"))
            .header("accept", "text/html");
        if let Some(uri) = spoof {
            request = request
                .header("x-forwarded-uri", uri)
                .header("x-original-uri", uri);
        }
        let response = request.send().await.expect("private");
        assert_eq!(response.status(), StatusCode::FOUND, "{path} {spoof:?}");
        let location = response.headers()["location"].to_str().expect("location");
        assert!(
            location.starts_with("/oauth2/login?returnTo=%2F"),
            "{path}: {location}"
        );
        assert!(
            location.ends_with("private%3Fa%3D1%26b%3D2"),
            "{path}: {location}"
        );
    }
    // An API client gets the gate's 401 JSON.
    let api_call = api()
        .get(format!("{site}/private"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("api");
    assert_eq!(api_call.status(), StatusCode::UNAUTHORIZED);
    let body: Value = api_call.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    // Calling the auth endpoint directly with a made-up original URI proves nothing.
    let direct = api()
        .get(format!("{site}/oauth2/auth"))
        .header("x-forwarded-uri", "/public/x")
        .header("x-forwarded-method", "GET")
        .send()
        .await
        .expect("auth");
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);

    // Sign in through Caddy; the app sees the identity, never a smuggled one.
    let browser = Browser::new();
    let echo = browser.sign_in(&site, idp.issuer(), "alice").await;
    let signed_in_at = unix_now();
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    assert_eq!(seen(&echo, "x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(seen(&echo, "x-forwarded-groups"), ["admin,users"]);

    // The gate refreshes during /auth: the refreshed session cookie from its
    // 202 reaches the browser, beside the app's own headers.
    let before = browser.cookie(&site);
    assert_eq!(idp.handle().refresh_grants(), 0);
    while unix_now() < signed_in_at + 5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refreshed = browser
        .client
        .get(format!("{site}/whoami"))
        .send()
        .await
        .expect("whoami");
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(refreshed.headers()["content-type"], "application/json");
    assert!(
        refreshed.headers().get_all("set-cookie").iter().any(|c| c
            .as_bytes()
            .starts_with(format!("{SESSION_COOKIE}=").as_bytes())),
        "{:?}",
        refreshed.headers()
    );
    assert_eq!(idp.handle().refresh_grants(), 1);
    assert_ne!(
        browser.cookie(&site),
        before,
        "the browser stored the refreshed session"
    );
    let echo: Value = browser
        .client
        .get(format!("{site}/whoami"))
        .send()
        .await
        .expect("whoami")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    assert_eq!(idp.handle().refresh_grants(), 1);
    let signed_in = raw(
        caddy_addr,
        &format!(
            "GET /whoami HTTP/1.1\r\nHost: 127.0.0.1:{caddy_port}\r\nCookie: {}{}",
            browser.cookie(&site),
            smuggled_identity_headers()
        ),
    )
    .await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert!(
        !signed_in.body.contains("mallory"),
        "smuggled: {}",
        signed_in.body
    );
    let echo: Value = serde_json::from_str(&signed_in.body).expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"], "{echo}");
    // An authorization rule's 403 reaches the browser as the gate wrote it.
    let refused = browser
        .client
        .get(format!("{site}/admin/x"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("admin");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.expect("page");
    assert!(
        page.contains("/admin") && page.contains("auditors"),
        "{page}"
    );
    assert!(!page.contains("\"target\""), "reached the app: {page}");
    // A made-up session cookie is sent to login.
    let forged = api()
        .get(format!("{site}/whoami"))
        .header("cookie", format!("{SESSION_COOKIE}=forged"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::FOUND);
    drop(caddy);
    gate.shutdown().await;
}
