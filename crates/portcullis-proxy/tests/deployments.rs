//! The gate as operators deploy it: two replicas sharing one real Redis
//! (back-channel logout reaches both), and the documented nginx
//! `auth_request` configuration (`docs/proxy/nginx.conf`) in front of a real
//! nginx.

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
