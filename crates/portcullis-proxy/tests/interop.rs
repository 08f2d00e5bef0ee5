//! The full browser-less login through the gate against panva's
//! `oidc-provider` (an OpenID-certified OP we did not write), started from
//! `interop/op.mjs`. Needs `node` and `interop/node_modules` (`scripts/test`
//! installs them): skips loudly without them, fails under
//! `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn login_through_the_gate_against_oidc_provider() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    if !interop.join("node_modules/oidc-provider").is_dir() {
        skip_or_fail("interop/node_modules is missing (run `npm ci` in interop/)");
        return;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let clients = serde_json::json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{base}/oauth2/callback")],
        "post_logout_redirect_uris": [format!("{base}/")],
    }]);
    let mut child = match Command::new("node")
        .arg(interop.join("op.mjs"))
        .args(["--port", "0", "--clients"])
        .arg(clients.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            skip_or_fail(&format!("node could not be started: {error}"));
            return;
        }
    };
    let stdout = child.stdout.take().expect("stdout");
    let ready = tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("oidc-provider did not start within 30 s")
    .expect("read")
    .expect("oidc-provider exited before READY");
    let issuer = ready.strip_prefix("READY ").expect("READY line").to_owned();

    let upstream = start_upstream().await;
    let gate = start_gate(
        port,
        &issuer,
        upstream,
        &[("SCOPE", "openid profile email")],
        "",
    )
    .await;
    let api = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let anonymous = api
        .get(format!("{base}/whoami"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let browser = Browser::new();
    let (url, status, body) = browser.navigate(&format!("{base}/whoami")).await;
    assert_eq!(status, StatusCode::OK, "{url}: {body}");
    assert_eq!(url.path(), "/whoami");
    let echo: Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    assert_eq!(seen(&echo, "x-forwarded-email"), ["alice@example.com"]);

    let auth = browser
        .client
        .get(format!("{base}/oauth2/auth"))
        .send()
        .await
        .expect("auth");
    assert_eq!(auth.status(), StatusCode::ACCEPTED);
    assert_eq!(auth.headers()["x-forwarded-user"], "alice");

    let copied = browser.cookie(&base);
    let logout = browser
        .client
        .post(format!("{base}/oauth2/logout"))
        .send()
        .await
        .expect("logout");
    assert!(logout.status().is_redirection());
    let replay = api
        .get(format!("{base}/whoami"))
        .header("cookie", copied)
        .header("accept", "application/json")
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    gate.shutdown().await;
}
