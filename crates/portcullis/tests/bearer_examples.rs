//! The `bearer_api` and `session_or_bearer` examples, run as built binaries
//! against the dev OP (build them first: `cargo build -p portcullis
//! --example bearer_api --example session_or_bearer`; `cargo test
//! --workspace` builds them).

mod bearer_support;
mod support;

use std::process::Stdio;
use std::time::Duration;

use bearer_support::{API, answer, get_with_token};
use portcullis_devidp::{DevClient, DevIdpConfig};
use reqwest::{Method, StatusCode};
use tokio::process::{Child, Command};

fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir")
        .join("examples")
        .join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start(name: &str, port: u16, env: &[(&str, String)]) -> Child {
    let binary = example_binary(name);
    assert!(
        binary.exists(),
        "{} is missing: build the example first",
        binary.display()
    );
    let mut command = Command::new(&binary);
    command
        .env("PORT", port.to_string())
        .env_remove("API_SCOPE")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("start the example");
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not start");
}

#[tokio::test]
async fn bearer_api_example_protects_its_routes_with_scopes() {
    let idp = bearer_support::start_idp(DevIdpConfig::new()).await;
    let port = free_port();
    let _app = start(
        "bearer_api",
        port,
        &[
            ("ISSUER_BASE_URL", idp.issuer().to_owned()),
            ("API_AUDIENCE", API.to_owned()),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let health = bearer_support::client()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let (status, challenge, _) = answer(
        bearer_support::client()
            .get(format!("{base}/messages"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));
    let token = bearer_support::access_token(idp.issuer(), "openid profile").await;
    let (status, _, body) = answer(get_with_token(&format!("{base}/messages"), &token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], "alice");
    let response = bearer_support::client()
        .post(format!("{base}/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("post");
    let (status, _, body) = answer(response).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["scope"], "messages:write");
    let (status, _, _) = answer(get_with_token(&format!("{base}/admin"), &token).await).await;
    assert_eq!(status, 403, "alice's access token has no groups claim");
}

#[tokio::test]
async fn session_or_bearer_example_accepts_either() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = bearer_support::start_idp(DevIdpConfig::new().with_client(DevClient::confidential(
        "sob",
        "sob-secret",
        format!("{base}/callback"),
    )))
    .await;
    let _app = start(
        "session_or_bearer",
        port,
        &[
            ("ISSUER_BASE_URL", idp.issuer().to_owned()),
            ("CLIENT_ID", "sob".to_owned()),
            ("CLIENT_SECRET", "sob-secret".to_owned()),
            ("BASE_URL", base.clone()),
            (
                "SECRET",
                "session-or-bearer-cookie-secret-0123456789".to_owned(),
            ),
            ("API_AUDIENCE", API.to_owned()),
        ],
    )
    .await;
    let token = bearer_support::access_token(idp.issuer(), "openid").await;
    let (status, _, body) = answer(get_with_token(&format!("{base}/api/me"), &token).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["via"], "bearer");
    let (status, _, body) =
        answer(get_with_token(&format!("{base}/api/reports"), &token).await).await;
    assert_eq!(status, 403, "{body}");

    let agent = support::Agent::browser();
    let html = agent
        .request(Method::GET, &format!("{base}/api/me"), "text/html")
        .await;
    assert_eq!(html.status(), StatusCode::FOUND);
    agent.navigate(&format!("{base}/login")).await;
    for path in ["/api/me", "/api/reports"] {
        let response = agent
            .request(Method::GET, &format!("{base}{path}"), "application/json")
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path} with a session");
    }
    // A bad token decides, even with a valid session cookie.
    let cookie = agent.cookie_header(&base).expect("session cookie");
    let response = bearer_support::client()
        .get(format!("{base}/api/me"))
        .header("cookie", cookie)
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
}
