//! The `portcullis` binary's `proxy` and `check` subcommands, run as a
//! process against the in-process dev OP: SIGTERM drains in-flight
//! requests, JSON logs carry a request id and no secrets, and `check`
//! finds deliberate misconfigurations.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};

const SECRET: &str = "cli-tests-cookie-secret-0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn idp(base: &str) -> RunningDevIdp {
    let client = DevClient::confidential("gate", "gate-secret", format!("{base}/oauth2/callback"))
        .with_post_logout_redirect_uri(format!("{base}/"));
    portcullis_devidp::start(
        DevIdpConfig::new().with_client(client),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp")
}

/// An app with `/slow` (1.5 s) and `/` on a free port.
async fn app() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow done"
            }),
        )
        .route("/", get(|| async { "home" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn base_env(cmd: &mut Command, issuer: &str, base: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ISSUER_BASE_URL", issuer)
        .env("CLIENT_ID", "gate")
        .env("CLIENT_SECRET", "gate-secret")
        .env("BASE_URL", base)
        .env("SECRET", SECRET);
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_json_logs_carry_no_secrets() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = idp(&base).await;
    let upstream = app().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    base_env(&mut cmd, idp.issuer(), &base);
    cmd.arg("proxy")
        .env("UPSTREAM", format!("http://127.0.0.1:{upstream}"))
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("METRICS_LISTEN", "off")
        .env("SKIP_AUTH", "^/slow$")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("portcullis proxy");
    let stderr = child.stderr.take().expect("stderr");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the proxy did not listen: {:?}",
            lines.lock()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    // A request that carries a code and a cookie: neither may be logged.
    let probe = client
        .get(format!("{base}/oauth2/callback?code=SECRETCODE123&state=x"))
        .header("cookie", "portcullis.session=SECRETCOOKIE456")
        .send()
        .await
        .expect("callback");
    assert!(probe.status().is_client_error(), "{}", probe.status());
    let slow_url = format!("{base}/slow");
    let in_flight = tokio::spawn(async move { reqwest::get(slow_url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = in_flight
        .await
        .expect("join")
        .expect("in-flight request completed");
    assert_eq!(status, reqwest::StatusCode::OK);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
    let lines = lines.lock().expect("lock").clone();
    let json_lines: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let requests: Vec<&serde_json::Value> = json_lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert!(requests.len() >= 2, "request log lines: {lines:?}");
    for line in &requests {
        assert!(line["fields"]["request_id"].is_string(), "{line}");
    }
    let all = lines.join("\n");
    for secret in ["SECRETCODE123", "SECRETCOOKIE456", SECRET, "gate-secret"] {
        assert!(!all.contains(secret), "{secret} reached the logs:\n{all}");
    }
}

/// Runs `portcullis check` with the base environment and `extra`.
fn check(issuer: &str, base: &str, extra: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    base_env(&mut cmd, issuer, base);
    cmd.arg("check").env("UPSTREAM", "http://127.0.0.1:9");
    for (name, value) in extra {
        cmd.env(name, value);
    }
    let output = cmd.output().expect("portcullis check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn check_passes_a_good_configuration_and_names_each_misconfiguration_with_a_fix() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = idp(&base).await;
    let issuer = idp.issuer().to_owned();
    let run = |issuer: String, base: String, extra: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            check(&issuer, &base, &extra)
        })
    };
    let (ok, out) = run(issuer.clone(), base.clone(), vec![])
        .await
        .expect("join");
    assert!(ok, "{out}");
    assert!(out.contains("the issuer matches exactly"), "{out}");
    assert!(
        out.contains("the OP accepts the client credentials"),
        "{out}"
    );
    assert!(out.contains("the redirect URI looks registered"), "{out}");
    assert!(out.contains("clock skew"), "{out}");
    assert!(!out.contains("ERROR"), "{out}");

    let (ok, out) = run(format!("{issuer}/"), base.clone(), vec![])
        .await
        .expect("join");
    assert!(!ok);
    assert!(
        out.contains("issuer mismatch") && out.contains("a trailing slash"),
        "{out}"
    );
    assert!(
        out.contains(&format!("fix: set ISSUER_BASE_URL={issuer}")),
        "{out}"
    );

    let localhost = issuer.replace("127.0.0.1", "localhost");
    let (ok, out) = run(localhost, base.clone(), vec![]).await.expect("join");
    assert!(!ok);
    assert!(out.contains("localhost vs 127.0.0.1"), "{out}");

    let (ok, out) = run(
        issuer.clone(),
        base.clone(),
        vec![("CLIENT_SECRET", "wrong".into())],
    )
    .await
    .expect("join");
    assert!(!ok);
    assert!(
        out.contains("refuses the client credentials (invalid_client)"),
        "{out}"
    );
    assert!(!out.contains("wrong"), "the secret is not echoed: {out}");

    let (ok, out) = run(
        issuer.clone(),
        base.clone(),
        vec![("SECRET", "tooshort".into())],
    )
    .await
    .expect("join");
    assert!(!ok);
    assert!(
        out.contains("SECRET is weak") && out.contains("openssl rand"),
        "{out}"
    );
    assert!(!out.contains("tooshort"), "{out}");

    let other_base = format!("http://127.0.0.1:{}", free_port());
    let (ok, out) = run(issuer.clone(), other_base.clone(), vec![])
        .await
        .expect("join");
    assert!(!ok);
    assert!(
        out.contains("refused an authorization request for this redirect URI"),
        "{out}"
    );
    assert!(
        out.contains(&format!("register {other_base}/oauth2/callback")),
        "{out}"
    );
    assert!(
        out.contains("post-logout redirect URI looks unregistered"),
        "{out}"
    );

    let (ok, out) = run(
        issuer.clone(),
        base.clone(),
        vec![(
            "SESSION_STORE",
            format!("redis://127.0.0.1:{}", free_port()),
        )],
    )
    .await
    .expect("join");
    assert!(!ok);
    assert!(
        out.contains("SESSION_STORE is unreachable")
            || out.contains("SESSION_STORE did not answer"),
        "{out}"
    );

    let (ok, out) = run(format!("http://127.0.0.1:{}", free_port()), base, vec![])
        .await
        .expect("join");
    assert!(!ok);
    assert!(out.contains("discovery document is unreachable"), "{out}");
}
