//! The `basic` example's contract, checked against the built example binary
//! (cargo builds examples before running integration tests): configured only
//! by environment variables; `/` public, `/profile` protected (302 for
//! browsers, 401 JSON for APIs, claims JSON when signed in), and the
//! middleware's `/login`, `/callback` and `/logout`.

mod support;

use std::process::Stdio;
use std::time::Duration;

use portcullis_devidp::{DevClient, DevIdpConfig};
use reqwest::{Method, StatusCode};
use support::Agent;
use tokio::process::Command;

fn example_binary() -> std::path::PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/basic
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join("basic")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn basic_example_honours_its_contract() {
    let binary = example_binary();
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test` (it builds examples)",
        binary.display()
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(
                DevClient::confidential("basic", "basic-secret", format!("{base}/callback"))
                    .with_post_logout_redirect_uri(format!("{base}/")),
            )
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let _app = Command::new(&binary)
        .env("ISSUER_BASE_URL", idp.issuer())
        .env("CLIENT_ID", "basic")
        .env("CLIENT_SECRET", "basic-secret")
        .env("BASE_URL", &base)
        .env("SECRET", "basic-example-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the basic example");

    let agent = Agent::browser();
    let mut up = false;
    for _ in 0..100 {
        if agent.client.get(format!("{base}/")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the basic example did not start");

    let home = agent.navigate(&format!("{base}/")).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.body, "Signed out");

    let html = agent
        .request(Method::GET, &format!("{base}/profile"), "text/html")
        .await;
    assert_eq!(html.status(), StatusCode::FOUND);
    let json = agent
        .request(Method::GET, &format!("{base}/profile"), "application/json")
        .await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    assert!(
        json.headers()["content-type"]
            .to_str()
            .is_ok_and(|ct| ct.starts_with("application/json"))
    );

    let profile = agent.navigate(&format!("{base}/profile")).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    let claims: serde_json::Value = serde_json::from_str(&profile.body).expect("claims json");
    assert_eq!(claims["sub"], "alice");
    let home = agent.navigate(&format!("{base}/")).await;
    assert_eq!(home.body, "Signed in as alice");

    let out = agent.navigate(&format!("{base}/logout")).await;
    assert_eq!(out.body, "Signed out");
    let json = agent
        .request(Method::GET, &format!("{base}/profile"), "application/json")
        .await;
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
}
