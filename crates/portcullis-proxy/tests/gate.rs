//! The gate end to end: the real proxy (in-process, on loopback ports) in
//! front of a real upstream that echoes what it received, signing in at
//! the dev OP. Every hostile input goes through the real proxy.

mod support;

use std::time::Duration;

use portcullis_devidp::DevUser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SKIP: &str = "GET=^/$,^/public/";

/// A gate with an OP and an upstream, on a known port.
struct Setup {
    base: String,
    idp: portcullis_devidp::RunningDevIdp,
    gate: portcullis_proxy::RunningProxy,
    upstream: std::net::SocketAddr,
}

async fn setup(env: &[(&str, &str)], toml: &str) -> Setup {
    setup_with(env, toml, |c| c).await
}

async fn setup_with(
    env: &[(&str, &str)],
    toml: &str,
    idp: impl FnOnce(portcullis_devidp::DevIdpConfig) -> portcullis_devidp::DevIdpConfig,
) -> Setup {
    let upstream = start_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), idp).await;
    let gate = start_gate(port, idp.issuer(), upstream, env, toml).await;
    Setup {
        base,
        idp,
        gate,
        upstream,
    }
}

fn api() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn echo(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("echo json")
}

#[tokio::test]
async fn after_login_the_upstream_sees_the_identity_headers_and_forwarded_headers() {
    let s = setup(&[], "").await;
    let browser = Browser::new();
    let echo = browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    assert_eq!(seen(&echo, "x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(seen(&echo, "x-forwarded-preferred-username"), ["alice"]);
    assert_eq!(seen(&echo, "x-forwarded-groups"), ["admin,users"]);
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["http"]);
    let host = s.base.trim_start_matches("http://");
    assert_eq!(seen(&echo, "x-forwarded-host"), [host]);
    // The gate's own cookies (a credential to it) never reach the upstream.
    let cookies = seen(&echo, "cookie").join("; ");
    assert!(!cookies.contains(SESSION_COOKIE), "{cookies}");
    // The access token is not passed unless asked for.
    assert!(seen(&echo, "x-forwarded-access-token").is_empty());
    assert!(seen(&echo, "authorization").is_empty());
    // /userinfo answers the same identity as JSON.
    let info: Value = browser
        .client
        .get(format!("{}/oauth2/userinfo", s.base))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["user"], "alice");
    assert_eq!(info["groups"], json!(["admin", "users"]));
}

#[tokio::test]
async fn the_access_token_is_passed_only_when_configured() {
    let s = setup(
        &[
            ("PASS_ACCESS_TOKEN", "true"),
            ("PASS_AUTHORIZATION_HEADER", "true"),
            ("SKIP_AUTH", SKIP),
        ],
        "",
    )
    .await;
    let browser = Browser::new();
    let echo = browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
    let token = seen(&echo, "x-forwarded-access-token");
    assert_eq!(token.len(), 1);
    assert_eq!(
        seen(&echo, "authorization"),
        [format!("Bearer {}", token[0]).as_str()]
    );
    // A client's own Authorization never reaches the upstream then.
    let anonymous = echo_of(
        api()
            .get(format!("{}/public/x", s.base))
            .header("authorization", "Bearer forged")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert!(seen(&anonymous, "authorization").is_empty(), "{anonymous}");
}

async fn echo_of(response: reqwest::Response) -> Value {
    echo(response).await
}

/// Every case and `_`/`-` spelling of every identity header.
fn spoofed_names() -> Vec<String> {
    let mut names = Vec::new();
    for base in [
        "X-Forwarded-User",
        "X-Forwarded-Email",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Groups",
        "X-Forwarded-Access-Token",
    ] {
        names.push(base.to_owned());
        names.push(base.to_ascii_lowercase());
        names.push(base.to_ascii_uppercase());
        names.push(base.replace('-', "_"));
        names.push(base.to_ascii_lowercase().replace('-', "_"));
        // One underscore only, in the middle.
        names.push(base.replacen('-', "_", 1));
    }
    names
}

#[tokio::test]
async fn smuggled_identity_headers_never_reach_the_upstream_on_any_path() {
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    let browser = Browser::new();
    browser.sign_in(&s.base, s.idp.issuer(), "bob").await;
    let cookie = browser.cookie(&s.base);
    for name in spoofed_names() {
        // Raw requests: no client library may rewrite the names.
        for (path, with_cookie) in [("/public/x", false), ("/public/x", true), ("/whoami", true)] {
            let mut head = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n{name}: alice-spoofed"
            );
            if with_cookie {
                head.push_str(&format!("\r\nCookie: {cookie}"));
            }
            let answer = raw(s.gate.addr(), &head).await;
            assert_eq!(answer.status, 200, "{name} {path}: {}", answer.head);
            assert!(
                !answer.body.contains("alice-spoofed"),
                "{name} on {path} (signed in: {with_cookie}) reached the upstream: {}",
                answer.body
            );
            let echo: Value = serde_json::from_str(&answer.body).expect("echo");
            if with_cookie {
                assert_eq!(seen(&echo, "x-forwarded-user"), ["bob"], "{name}");
            } else {
                assert!(seen(&echo, "x-forwarded-user").is_empty(), "{name}");
            }
        }
    }
    // Renamed headers: both the configured name and the default are stripped.
    let renamed = setup(&[("SKIP_AUTH", SKIP), ("USER_HEADER", "X-Remote-User")], "").await;
    for name in [
        "X-Remote-User",
        "x_remote_user",
        "X-Forwarded-User",
        "x_forwarded_user",
    ] {
        let head = format!("GET /public/x HTTP/1.1\r\nHost: h\r\n{name}: spoofed");
        let answer = raw(renamed.gate.addr(), &head).await;
        assert_eq!(answer.status, 200);
        assert!(!answer.body.contains("spoofed"), "{name}: {}", answer.body);
    }
}

#[tokio::test]
async fn skip_auth_rules_match_the_normalised_path_only() {
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    let addr = s.gate.addr();
    let get =
        |target: &str| format!("GET {target} HTTP/1.1\r\nHost: h\r\nAccept: application/json");
    for target in [
        "/public/x",
        "/public/",
        "/public/x?next=/private",
        "/public/a/../b",
        "/",
        "/x/../public/y",
    ] {
        let answer = raw(addr, &get(target)).await;
        assert_eq!(
            answer.status, 200,
            "{target} should skip auth: {}",
            answer.head
        );
    }
    for target in [
        "/private",
        "/public/../private",
        "/public/./../private",
        "/public/%2e%2e/private",
        "/public/%2E%2E/private",
        "/public/.%2e/private",
        "/public%2F..%2Fprivate",
        "/public%2f..%2fprivate",
        "/public/%252e%252e/private",
        "/public/%252e%252e%252fprivate",
        "/public/..;/private",
        "/public;x=1/../private",
        "/public/..%3B/private",
        "/public\\..\\private",
        "/public/..%5Cprivate",
        "/private?/public/",
        "/private?x=/public/",
        "/private%3F/public/",
        "/private#/public/",
        "/private%23/public/",
        "/PUBLIC/x",
        "/Public/x",
        "//public/../private",
        "/private/public/",
        "/public/%00/../../private",
    ] {
        let answer = raw(addr, &get(target)).await;
        assert!(
            answer.status == 401 || answer.status == 400,
            "{target} must not skip auth, got {}: {}",
            answer.status,
            answer.body
        );
        assert!(
            !answer.body.contains("\"target\""),
            "{target} reached the upstream"
        );
    }
    // The method part of a rule: only GET / is public.
    let post = raw(
        addr,
        "POST / HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nContent-Length: 0",
    )
    .await;
    assert_eq!(post.status, 401, "{}", post.head);
    let head = raw(addr, "HEAD / HTTP/1.1\r\nHost: h").await;
    assert_eq!(head.status, 401, "{}", head.head);
}

#[tokio::test]
async fn a_health_check_user_agent_never_skips_auth() {
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    for agent in [
        "kube-probe/1.29",
        "ELB-HealthChecker/2.0",
        "GoogleHC/1.0",
        "Consul Health Check",
        "oauth2-proxy-health",
    ] {
        let response = api()
            .get(format!("{}/private", s.base))
            .header("user-agent", agent)
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{agent}");
    }
    // The gate's own probes answer without touching the upstream.
    let healthz = api()
        .get(format!("{}/oauth2/healthz", s.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), StatusCode::OK);
}

#[tokio::test]
async fn browsers_are_sent_to_login_and_apis_get_401_json() {
    let s = setup(&[], "").await;
    let browser = api()
        .get(format!("{}/private/page?a=1", s.base))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::FOUND);
    let location = browser.headers()["location"].to_str().expect("location");
    assert_eq!(location, "/oauth2/login?returnTo=%2Fprivate%2Fpage%3Fa%3D1");
    let json = api()
        .get(format!("{}/private", s.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    let body: Value = json.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_replaced() {
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    let head = "GET /public/x HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: 6.6.6.6\r\n\
                X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Real-IP: 6.6.6.6\r\n\
                X_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Uri: /x\r\nX-Request-Id: forged";
    let answer = raw(s.gate.addr(), head).await;
    assert_eq!(answer.status, 200);
    let echo: Value = serde_json::from_str(&answer.body).expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["http"]);
    assert_eq!(seen(&echo, "x-forwarded-host"), ["app.example"]);
    assert!(!answer.body.contains("6.6.6.6"), "{}", answer.body);
    assert!(!answer.body.contains("evil.example"));
    assert!(seen(&echo, "x-forwarded-uri").is_empty());
    assert_ne!(seen(&echo, "x-request-id"), ["forged"]);
    // From a trusted proxy they are believed, and the peer is appended.
    let trusted = setup(
        &[("SKIP_AUTH", SKIP), ("TRUSTED_PROXIES", "127.0.0.1/32")],
        "",
    )
    .await;
    let answer = raw(trusted.gate.addr(), head).await;
    let echo: Value = serde_json::from_str(&answer.body).expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["https"]);
    assert_eq!(seen(&echo, "x-forwarded-host"), ["evil.example"]);
}

#[tokio::test]
async fn auth_request_answers_202_with_identity_or_401_and_reads_the_uri_only_from_trusted_proxies()
{
    // Not trusted: a spoofed X-Forwarded-Uri of a public path must not pass.
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    let auth = format!("{}/oauth2/auth", s.base);
    for uri in ["/public/x", "/"] {
        let response = api()
            .get(&auth)
            .header("x-forwarded-uri", uri)
            .header("x-forwarded-method", "GET")
            .send()
            .await
            .expect("auth");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    let browser = Browser::new();
    browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
    let response = browser.client.get(&auth).send().await.expect("auth");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["x-forwarded-user"], "alice");
    assert_eq!(response.headers()["x-forwarded-email"], "alice@example.com");
    assert_eq!(response.headers()["x-forwarded-groups"], "admin,users");

    // Trusted: the original URI decides the skip-auth rules.
    let t = setup(&[("SKIP_AUTH", SKIP), ("TRUSTED_PROXIES", "127.0.0.1")], "").await;
    let auth = format!("{}/oauth2/auth", t.base);
    let ask = |uri: &'static str, method: &'static str| {
        let auth = auth.clone();
        async move {
            api()
                .get(&auth)
                .header("x-forwarded-uri", uri)
                .header("x-forwarded-method", method)
                .send()
                .await
                .expect("auth")
                .status()
        }
    };
    assert_eq!(ask("/public/x", "GET").await, StatusCode::ACCEPTED);
    assert_eq!(ask("/", "GET").await, StatusCode::ACCEPTED);
    assert_eq!(ask("/", "POST").await, StatusCode::UNAUTHORIZED);
    assert_eq!(ask("/private", "GET").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ask("/public/../private", "GET").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask("/public/%2e%2e/private?x", "GET").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn authorization_rules_refuse_with_a_403_that_names_the_rule() {
    let toml = r#"
[[authorization]]
prefix = "/admin"
groups = ["admin"]

[[authorization]]
prefix = "/staff"
email_domains = ["example.org"]
"#;
    let mallory = DevUser::new(
        "mallory",
        json!({"email": "mallory@evil.com@example.com", "email_verified": true, "groups": ["users"]})
            .as_object()
            .cloned()
            .expect("object"),
    );
    let carol = DevUser::new(
        "carol",
        json!({"email": "carol@example.org", "email_verified": true, "groups": ["users"]})
            .as_object()
            .cloned()
            .expect("object"),
    );
    let s = setup_with(&[], toml, |c| c.with_user(mallory).with_user(carol)).await;
    let status = |browser: &Browser, path: &str| {
        let url = format!("{}{path}", s.base);
        let client = browser.client.clone();
        async move {
            let r = client
                .get(url)
                .header("accept", "text/html")
                .send()
                .await
                .expect("get");
            (r.status(), r.text().await.unwrap_or_default())
        }
    };
    let alice = Browser::new();
    alice.sign_in(&s.base, s.idp.issuer(), "alice").await;
    assert_eq!(status(&alice, "/admin/x").await.0, StatusCode::OK);
    assert_eq!(status(&alice, "/ADMIN/x").await.0, StatusCode::OK);
    // alice@example.com is not at example.org.
    assert_eq!(status(&alice, "/staff").await.0, StatusCode::FORBIDDEN);

    let bob = Browser::new();
    bob.sign_in(&s.base, s.idp.issuer(), "bob").await;
    for path in [
        "/admin",
        "/admin/x",
        "/ADMIN/x",
        "/Admin/../admin/x",
        "/x/../admin",
        "/admin;x",
        "/admin%2Fx",
    ] {
        let (code, page) = status(&bob, path).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{path}");
        assert!(page.contains("/admin"), "the page names the rule: {page}");
        assert!(page.contains("admin"), "{page}");
        assert!(!page.contains("\"target\""), "reached the upstream");
    }
    // bob@example.org has an unverified address: refused.
    assert_eq!(status(&bob, "/staff").await.0, StatusCode::FORBIDDEN);

    let carol = Browser::new();
    carol.sign_in(&s.base, s.idp.issuer(), "carol").await;
    assert_eq!(status(&carol, "/staff/x").await.0, StatusCode::OK);

    // A multi-@ address is never a match for a domain.
    let mallory = Browser::new();
    mallory.sign_in(&s.base, s.idp.issuer(), "mallory").await;
    let (code, page) = status(&mallory, "/staff").await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(page.contains("/staff"), "{page}");
}

#[tokio::test]
async fn logout_clears_the_cookie_and_a_copy_of_it_is_refused() {
    let s = setup(&[], "").await;
    let browser = Browser::new();
    browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
    let copied = browser.cookie(&s.base);
    let logout = browser
        .client
        .post(format!("{}/oauth2/logout", s.base))
        .send()
        .await
        .expect("logout");
    assert!(logout.status().is_redirection(), "{}", logout.status());
    let cleared = logout
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=")) && c.contains("Max-Age=0"));
    assert!(
        cleared,
        "logout must clear the session cookie: {:?}",
        logout.headers()
    );
    let replay = api()
        .get(format!("{}/whoami", s.base))
        .header("cookie", copied)
        .header("accept", "application/json")
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_upstream_that_is_down_or_slow_gets_a_clear_502_or_504() {
    let dead = dead_port().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{dead}").parse().expect("addr");
    let gate = start_gate(port, idp.issuer(), upstream, &[("SKIP_AUTH", SKIP)], "").await;
    let json = api()
        .get(format!("http://{}/public/x", gate.addr()))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), StatusCode::BAD_GATEWAY);
    let body: Value = json.json().await.expect("json");
    assert_eq!(body["error"], "bad_gateway");
    let html = api()
        .get(format!("http://{}/public/x", gate.addr()))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(html.status(), StatusCode::BAD_GATEWAY);
    assert!(html.text().await.expect("text").contains("<h1>502"));

    let s = setup(&[("SKIP_AUTH", SKIP), ("UPSTREAM_TIMEOUT", "0.3")], "").await;
    let slow = api()
        .get(format!("{}/public/../slow", s.base).replace("/public/../", "/public/x/../../"))
        .send()
        .await
        .expect("request");
    // reqwest resolves the dot segments itself: /slow needs auth.
    assert_eq!(slow.status(), StatusCode::UNAUTHORIZED);
    let s2 = setup(&[("SKIP_AUTH", "^/slow"), ("UPSTREAM_TIMEOUT", "0.3")], "").await;
    let slow = api()
        .get(format!("{}/slow", s2.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = slow.json().await.expect("json");
    assert_eq!(body["error"], "upstream_timeout");
}

/// A streamed (chunked, no `Content-Length`) request body of `chunks`
/// chunks of `size` bytes, with `pause` between them.
fn chunked_body(chunks: usize, size: usize, pause: Duration) -> reqwest::Body {
    let stream = futures_util::stream::unfold(0usize, move |sent| async move {
        if sent == chunks {
            return None;
        }
        if sent > 0 && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let chunk = bytes::Bytes::from(vec![b'a' + (sent % 26) as u8; size]);
        Some((Ok::<_, std::io::Error>(chunk), sent + 1))
    });
    reqwest::Body::wrap_stream(stream)
}

/// Waits (at most 5 s) until the upstream has recorded `n` bodies.
async fn received(uploads: &Uploads, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen = uploads.lock().expect("uploads").clone();
        if seen.len() >= n {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upstream recorded {seen:?}, expected {n} bodies"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_with_or_without_content_length() {
    let (upstream, uploads) = start_recording_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let env = [("SKIP_AUTH", "^/upload"), ("MAX_BODY_BYTES", "1000")];
    let _gate = start_gate(port, idp.issuer(), upstream, &env, "").await;
    let upload = format!("{base}/upload");

    // Declared lengths: at the limit passes, one byte over is refused up front.
    let ok = api()
        .post(&upload)
        .body(vec![b'a'; 1000])
        .send()
        .await
        .expect("upload");
    assert_eq!(ok.status(), StatusCode::OK);
    let too_big = api()
        .post(&upload)
        .header("accept", "application/json")
        .body(vec![b'a'; 1001])
        .send()
        .await
        .expect("upload");
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = too_big.json().await.expect("json");
    assert_eq!(body["error"], "payload_too_large", "{body}");

    // Chunked, within the limit: through intact, still chunked.
    let mut expected = Vec::new();
    for i in 0..4 {
        expected.extend(vec![b'a' + i as u8; 250]);
    }
    let within: Value = echo(
        api()
            .post(&upload)
            .body(chunked_body(4, 250, Duration::ZERO))
            .send()
            .await
            .expect("upload"),
    )
    .await;
    assert_eq!(within["bytes"], 1000, "{within}");
    assert_eq!(within["sha256"], sha256_hex(&expected), "{within}");
    assert_eq!(within["transfer_encoding"], "chunked", "{within}");
    assert!(within["content_length"].is_null(), "{within}");
    // The upstream records a body before it answers: these two, not the 1001 bytes.
    assert_eq!(received(&uploads, 2).await.len(), 2);

    // Chunked, over the limit: a 413 (JSON for APIs, the page for browsers),
    // never a 502, and the upstream never gets the frame that crosses it.
    for (accept, pause) in [
        ("application/json", Duration::ZERO),
        ("text/html", Duration::ZERO),
        ("application/json", Duration::from_millis(100)),
    ] {
        let response = api()
            .post(&upload)
            .header("accept", accept)
            .body(chunked_body(4, 600, pause))
            .send()
            .await
            .expect("the client gets the answer");
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{accept} {pause:?}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        let text = response.text().await.expect("body");
        if accept == "text/html" {
            assert!(text.contains("<h1>413"), "{text}");
        } else {
            let body: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(body["error"], "payload_too_large", "{body}");
        }
        assert!(
            text.contains("1000 bytes"),
            "the page names the limit: {text}"
        );
    }
    // Whatever reached the upstream (the frame before the limit, or nothing
    // when the gate saw the overflow first) broke off within the limit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for cut in &received(&uploads, 2).await[2..] {
        assert!(cut.bytes <= 1000, "{cut:?}");
        assert!(
            !cut.complete,
            "the upstream must see the body break off: {cut:?}"
        );
    }
}

#[tokio::test]
async fn a_large_chunked_body_over_the_limit_gets_its_413_not_a_reset() {
    let (upstream, uploads) = start_recording_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let env = [("SKIP_AUTH", "^/upload"), ("MAX_BODY_BYTES", "1048576")];
    let _gate = start_gate(port, idp.issuer(), upstream, &env, "").await;
    // 64 MB against a 1 MiB limit: the client is still sending when the
    // gate answers, and must read the 413 rather than a connection reset.
    for attempt in 0..3 {
        let response = api()
            .post(format!("{base}/upload"))
            .header("accept", "application/json")
            .body(chunked_body(1024, 64 * 1024, Duration::ZERO))
            .send()
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: no answer: {e:?}"));
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{attempt}"
        );
    }
    // A client that writes its whole body before it reads (3 MiB, chunked,
    // on a raw connection): the gate keeps reading what is left for a
    // moment after its 413, so the answer is not lost to a reset.
    for attempt in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).await.expect("head");
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "b".repeat(64 * 1024));
        for _ in 0..48 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                            break Ok(());
                        }
                    }
                    Err(error) => break Err(error),
                }
            }
        })
        .await
        .expect("an answer in time");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "attempt {attempt}: {read:?} {text:?}"
        );
    }
    // Lingering close: once it has answered 413, the gate reads (and
    // discards) what the client still sends for a moment instead of
    // closing at once, which would reset the connection, and on many
    // systems destroy the unread answer with it.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "c".repeat(64 * 1024));
    for _ in 0..17 {
        stream
            .write_all(chunk.as_bytes())
            .await
            .expect("within the limit");
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Err(error) = stream.write_all(chunk.as_bytes()).await {
            panic!("the gate stopped reading {i} chunks after its 413: {error}");
        }
    }
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for cut in received(&uploads, 0).await {
        assert!(cut.bytes <= 1_048_576 && !cut.complete, "{cut:?}");
    }
}

#[tokio::test]
async fn a_body_that_outgrows_the_limit_after_the_upstream_answered_aborts_the_response() {
    let (upstream, uploads) = start_recording_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let env = [("SKIP_AUTH", "^/early"), ("MAX_BODY_BYTES", "1000")];
    let _gate = start_gate(port, idp.issuer(), upstream, &env, "").await;
    // Within the limit, the early answer is complete.
    let whole = api()
        .post(format!("{base}/early"))
        .body(chunked_body(2, 500, Duration::from_millis(100)))
        .send()
        .await
        .expect("early");
    assert_eq!(whole.status(), StatusCode::OK);
    assert!(whole.text().await.expect("body").ends_with("done 1000\n"));
    // The upstream has sent 200 before the body crosses the limit: the
    // status cannot become a 413 any more, so the gate breaks off both
    // sides. The client's response never completes, and the upstream sees
    // an unfinished body of at most the limit.
    let response = api()
        .post(format!("{base}/early"))
        .body(chunked_body(4, 600, Duration::from_millis(200)))
        .send()
        .await
        .expect("the head of the early answer");
    assert_eq!(response.status(), StatusCode::OK);
    let mut response = response;
    let mut text = String::new();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(
        outcome.is_err(),
        "the response must break off, not end cleanly: {text:?}"
    );
    assert!(!text.contains("done"), "{text}");
    let seen = received(&uploads, 2).await;
    assert_eq!(
        seen[0],
        Received {
            path: "/early".into(),
            bytes: 1000,
            complete: true
        }
    );
    assert!(seen[1].bytes <= 1000 && !seen[1].complete, "{:?}", seen[1]);
}

#[tokio::test]
async fn a_websocket_echo_passes_through_for_a_signed_in_user_only() {
    let s = setup(&[], "").await;
    let browser = Browser::new();
    browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
    let cookie = browser.cookie(&s.base);
    let (mut stream, head) = websocket_handshake(s.gate.addr(), "/ws", &cookie).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let expected = websocket_accept("dGhlIHNhbXBsZSBub25jZQ==");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "sec-websocket-accept: {}",
            expected.to_ascii_lowercase()
        )),
        "{head}"
    );
    for message in [&b"hello through the gate"[..], &[0u8, 1, 2, 255][..]] {
        stream.write_all(message).await.expect("write");
        let mut back = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(back, message);
    }
    // Without a session the handshake is refused before the upstream.
    let (_stream, head) = websocket_handshake(s.gate.addr(), "/ws", "x=y").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test]
async fn a_100_mb_upload_and_download_stream_in_bounded_memory() {
    let s = setup(&[("SKIP_AUTH", "^/upload,^/download")], "").await;
    const TOTAL: u64 = 100 * 1000 * 1000;
    let before = rss_bytes();
    let chunk = bytes::Bytes::from(vec![b'u'; 256 * 1024]);
    let count = TOTAL / chunk.len() as u64;
    let upload_total = count * chunk.len() as u64;
    let stream =
        futures_util::stream::iter((0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let uploaded: Value = api()
        .post(format!("{}/upload", s.base))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(uploaded["bytes"].as_u64(), Some(upload_total));
    let mut download = api()
        .get(format!("{}/download?bytes={TOTAL}", s.base))
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    let mut received: u64 = 0;
    while let Some(chunk) = download.chunk().await.expect("chunk") {
        received += chunk.len() as u64;
    }
    assert_eq!(received, TOTAL);
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    eprintln!("RSS before {before} after {after} (growth {growth} bytes) for 2 x 100 MB");
    assert!(
        growth < 40 * 1024 * 1024,
        "RSS grew by {growth} bytes: bodies were buffered"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let s = setup(&[("SKIP_AUTH", "^/slow")], "").await;
    let url = format!("{}/slow", s.base);
    let in_flight = tokio::spawn(async move { api().get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = s.gate.addr();
    let started = std::time::Instant::now();
    s.gate.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "shutdown did not wait for the request"
    );
    let status = in_flight
        .await
        .expect("join")
        .expect("the in-flight request finished");
    assert_eq!(status, StatusCode::OK);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_on_their_own_listener() {
    let s = setup(&[("SKIP_AUTH", SKIP)], "").await;
    let ops = s.gate.metrics_addr().expect("ops listener");
    api()
        .get(format!("{}/public/x", s.base))
        .send()
        .await
        .expect("request");
    api()
        .get(format!("{}/private", s.base))
        .send()
        .await
        .expect("request");
    let get = |path: &str| {
        let url = format!("http://{ops}{path}");
        async move { api().get(url).send().await.expect("ops") }
    };
    assert_eq!(get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.status(), StatusCode::OK);
    let metrics = get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("portcullis_proxy_requests_total{status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_proxy_requests_total{status=\"401\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_proxy_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_proxy_session_cache_total"),
        "{metrics}"
    );
    // The metrics are not on the public listener.
    let public = api()
        .get(format!("{}/metrics", s.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get");
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
    let _ = s.upstream;
}

#[tokio::test]
async fn an_empty_route_prefix_puts_the_routes_at_the_root() {
    let upstream = start_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = portcullis_devidp::DevClient::confidential(
        CLIENT_ID,
        CLIENT_SECRET,
        format!("{base}/callback"),
    );
    let idp = portcullis_devidp::start(
        portcullis_devidp::DevIdpConfig::new()
            .with_client(client)
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("idp");
    let gate = start_gate(port, idp.issuer(), upstream, &[("ROUTE_PREFIX", "")], "").await;
    let browser = Browser::new();
    let (url, status, body) = browser
        .navigate(&format!("{base}/login?returnTo=%2Fwhoami"))
        .await;
    assert_eq!(status, StatusCode::OK, "{url} {body}");
    let echo: Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    let auth = browser
        .client
        .get(format!("{base}/auth"))
        .send()
        .await
        .expect("auth");
    assert_eq!(auth.status(), StatusCode::ACCEPTED);
    drop(gate);
}

/// The claims of a JWT (not verified: the OP's userinfo does that).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Asks the OP's userinfo endpoint whether `token` is a valid access token (its `sub`).
async fn userinfo_sub(issuer: &str, token: &str) -> Result<String, StatusCode> {
    let response = api()
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo");
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let body: Value = response.json().await.expect("json");
    Ok(body["sub"].as_str().unwrap_or_default().to_owned())
}

/// The access token the upstream saw.
fn passed_token(echo: &Value) -> String {
    let tokens = seen(echo, "x-forwarded-access-token");
    assert_eq!(tokens.len(), 1, "{echo}");
    tokens[0].to_owned()
}

#[tokio::test]
async fn a_due_access_token_is_refreshed_once_for_parallel_requests_and_the_upstream_gets_the_new_one()
 {
    // The engine refreshes automatically within 60 s of expiry (its default
    // window), the gate within 5 s when it passes the token on. Each case:
    // the access-token lifetime, and how long before expiry a refresh is due.
    for (env, ttl, window) in [
        (
            &[("AUTO_REFRESH", "true"), ("PASS_ACCESS_TOKEN", "true")][..],
            63,
            60,
        ),
        (&[("PASS_ACCESS_TOKEN", "true")][..], 8, 5),
    ] {
        let s = setup_with(env, "", |c| {
            c.with_access_token_ttl_secs(ttl)
                // A slow OP: the parallel requests all arrive during the refresh.
                .with_refresh_delay(Duration::from_millis(400))
        })
        .await;
        let browser = Browser::new();
        let echo = browser.sign_in(&s.base, s.idp.issuer(), "alice").await;
        let first = passed_token(&echo);
        let first_exp = jwt_claims(&first)["exp"].as_u64().expect("exp");
        let old_cookie = browser.cookie(&s.base);
        let whoami = format!("{}/whoami", s.base);
        let get = |cookie: String| {
            let url = whoami.clone();
            async move {
                api()
                    .get(url)
                    .header("cookie", cookie)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .expect("request")
            }
        };
        // Not due yet: the same token, no refresh grant.
        let early = echo_of(get(old_cookie.clone()).await).await;
        assert_eq!(passed_token(&early), first, "{env:?}");
        assert_eq!(s.idp.handle().refresh_grants(), 0, "{env:?}");

        // Once due, eight requests at once with the same cookie.
        let due = first_exp - window + 1;
        while unix_now() < due {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let batch: Vec<_> = (0..8)
            .map(|_| tokio::spawn(get(old_cookie.clone())))
            .collect();
        let mut tokens = Vec::new();
        let mut renewed = Vec::new();
        for request in batch {
            let response = request.await.expect("join");
            let set_cookies: Vec<String> = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            let echo = echo_of(response).await;
            tokens.push(passed_token(&echo));
            renewed.push(set_cookies);
        }
        assert_eq!(
            s.idp.handle().refresh_grants(),
            1,
            "{env:?}: one refresh grant for eight parallel requests"
        );
        let second = tokens[0].clone();
        assert!(
            tokens.iter().all(|t| *t == second),
            "{env:?}: every request got the refreshed token"
        );
        assert_ne!(second, first, "{env:?}");
        let claims = jwt_claims(&second);
        assert!(claims["exp"].as_u64().expect("exp") > first_exp, "{claims}");
        assert_eq!(
            userinfo_sub(s.idp.issuer(), &second).await,
            Ok("alice".to_owned()),
            "{env:?}: the OP accepts the new token"
        );
        // Every answer carries the refreshed session cookie.
        for set_cookies in &renewed {
            assert!(
                set_cookies
                    .iter()
                    .any(|c| c.starts_with(&format!("{SESSION_COOKIE}="))),
                "{env:?}: {set_cookies:?}"
            );
        }
        // The refreshed cookie goes on with the new token, and so, for a
        // moment, does a late request with the old cookie: no second grant.
        let url = reqwest::Url::parse(&s.base).expect("url");
        for set_cookie in &renewed[0] {
            browser.jar.add_cookie_str(set_cookie, &url);
        }
        let new_cookie = browser.cookie(&s.base);
        assert_ne!(new_cookie, old_cookie);
        let next = echo_of(get(new_cookie).await).await;
        assert_eq!(passed_token(&next), second, "{env:?}");
        let late = echo_of(get(old_cookie).await).await;
        assert_eq!(passed_token(&late), second, "{env:?}");
        assert_eq!(s.idp.handle().refresh_grants(), 1, "{env:?}");
    }
}

/// The `src` of every front-channel logout iframe on the OP's page.
fn iframe_sources(html: &str) -> Vec<String> {
    let mut sources = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<iframe") {
        let tag = &rest[at..at + rest[at..].find('>').expect("tag end")];
        if let Some(start) = tag.find(" src=\"") {
            let value = &tag[start + 6..];
            let value = &value[..value.find('"').expect("quote")];
            sources.push(value.replace("&amp;", "&"));
        }
        rest = &rest[at + 7..];
    }
    sources
}

#[tokio::test]
async fn front_channel_logout_from_the_op_ends_the_session_without_its_cookie() {
    let upstream = start_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The OP knows the gate's front-channel logout URI, and frames it on
    // its logout page with its `iss` and the OP session's `sid`.
    let client = portcullis_devidp::DevClient::confidential(
        CLIENT_ID,
        CLIENT_SECRET,
        format!("{base}/oauth2/callback"),
    )
    .with_frontchannel_logout_uri(format!("{base}/oauth2/frontchannel-logout"));
    let idp = portcullis_devidp::start(
        portcullis_devidp::DevIdpConfig::new().with_client(client),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("idp");
    let issuer = idp.issuer().to_owned();
    let _gate = start_gate(port, &issuer, upstream, &[], "").await;
    let alice = Browser::new();
    alice.sign_in(&base, &issuer, "alice").await;
    let bob = Browser::new();
    bob.sign_in(&base, &issuer, "bob").await;
    let alice_cookie = alice.cookie(&base);
    let bob_cookie = bob.cookie(&base);
    let status = |cookie: &str| {
        let request = api()
            .get(format!("{base}/whoami"))
            .header("cookie", cookie)
            .header("accept", "application/json");
        async move { request.send().await.expect("whoami").status() }
    };

    // alice signs out at the OP; its page frames the gate's URI.
    let (_, code, page) = alice
        .navigate(&format!("{issuer}/logout?client_id={CLIENT_ID}"))
        .await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let frames = iframe_sources(&page);
    assert_eq!(frames.len(), 1, "{page}");
    let frame = reqwest::Url::parse(&frames[0]).expect("iframe url");
    assert!(
        frame
            .as_str()
            .starts_with(&format!("{base}/oauth2/frontchannel-logout?")),
        "{frame}"
    );
    let param = |name: &str| {
        frame
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .expect(name)
    };
    assert_eq!(param("iss"), issuer);
    let sid = param("sid");
    // Until the iframe loads, the gate's session lives on (no back-channel here).
    assert_eq!(status(&alice_cookie).await, StatusCode::OK);

    // How the gate answers any front-channel request: never cached, framed
    // only by the OP, no cookie set (there was none to clear).
    let op_origin = reqwest::Url::parse(&issuer)
        .expect("issuer")
        .origin()
        .ascii_serialization();
    let front_channel = |query: String| {
        let url = format!("{base}/oauth2/frontchannel-logout?{query}");
        let op_origin = op_origin.clone();
        async move {
            // As an OP's cross-site iframe loads it: no cookie of the gate's.
            let response = api()
                .get(&url)
                .header("accept", "text/html")
                .send()
                .await
                .expect("front-channel logout");
            let headers = response.headers().clone();
            assert_eq!(headers["cache-control"], "no-store", "{url}");
            assert_eq!(
                headers["content-security-policy"],
                format!("frame-ancestors {op_origin}").as_str(),
                "{url}"
            );
            assert!(headers.get("set-cookie").is_none(), "{url}: {headers:?}");
            let status = response.status();
            let body = response.text().await.expect("body");
            (status, body)
        }
    };
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();

    // A wrong `iss`, or a `sid` without one, is refused (400) and ends nothing.
    for query in [
        format!("iss={}&sid={}", encode("http://evil.example"), encode(&sid)),
        format!("iss={}&sid={}", encode(&format!("{issuer}/")), encode(&sid)),
        format!("sid={}", encode(&sid)),
    ] {
        let (code, body) = front_channel(query.clone()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(!body.contains("<script"), "{body}");
        assert_eq!(status(&alice_cookie).await, StatusCode::OK, "{query}");
        assert_eq!(status(&bob_cookie).await, StatusCode::OK, "{query}");
    }
    // An unknown `sid` of the right OP: answered like any other (an OP must
    // not learn whether it matched), and nobody is signed out.
    let (code, _) = front_channel(format!(
        "iss={}&sid={}",
        encode(&issuer),
        encode("no-such-session")
    ))
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status(&alice_cookie).await, StatusCode::OK);
    assert_eq!(status(&bob_cookie).await, StatusCode::OK);

    // The OP's own URL: alice's session ends, bob's does not.
    let (code, body) = front_channel(frame.query().expect("query").to_owned()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(status(&alice_cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&bob_cookie).await, StatusCode::OK);
    // Her browser, cookie and all, is sent to sign in again.
    let again = alice
        .client
        .get(format!("{base}/whoami"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("whoami");
    assert_eq!(again.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn auth_request_401s_tell_a_front_proxy_where_browsers_sign_in() {
    let ask = |auth: String, accept: &'static str| async move {
        api()
            .get(auth)
            .header("accept", accept)
            .header("x-forwarded-uri", "/private/a%20b?x=1&y=/z")
            .header("x-forwarded-method", "GET")
            .send()
            .await
            .expect("auth")
    };
    // From a trusted proxy: the original URI, encoded once, as returnTo.
    let trusted = setup(&[("TRUSTED_PROXIES", "127.0.0.1")], "").await;
    let browser = ask(format!("{}/oauth2/auth", trusted.base), "text/html").await;
    assert_eq!(browser.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.headers()["location"],
        "/oauth2/login?returnTo=%2Fprivate%2Fa%2520b%3Fx%3D1%26y%3D%2Fz"
    );
    // APIs get the 401 alone.
    let json = ask(format!("{}/oauth2/auth", trusted.base), "application/json").await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    assert!(json.headers().get("location").is_none());
    // From anyone else the claimed URI is ignored: back to the root.
    let untrusted = setup(&[], "").await;
    let browser = ask(format!("{}/oauth2/auth", untrusted.base), "text/html").await;
    assert_eq!(browser.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.headers()["location"], "/oauth2/login?returnTo=%2F");
}
