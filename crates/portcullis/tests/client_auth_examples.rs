//! The `private_key_jwt` and `token_exchange` examples, run as built
//! binaries against the dev OP with the same environment as `basic`.
//! Build them first: `cargo build -p portcullis --examples` (a plain
//! `cargo test` does).

mod support;

use std::process::Stdio;
use std::time::Duration;

use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Agent;
use tokio::process::{Child, Command};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../portcullis-core/tests/fixtures/keys/"
);

fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p portcullis --examples` (cargo test builds it)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_idp(client: DevClient) -> RunningDevIdp {
    portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(client)
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp")
}

/// Starts an example with the `basic` environment plus `extra`, and waits
/// until it answers.
async fn run_example(
    name: &str,
    idp: &RunningDevIdp,
    port: u16,
    extra: &[(&str, String)],
) -> Child {
    let mut command = Command::new(example_binary(name));
    command
        .env_remove("CLIENT_SECRET")
        .env("ISSUER_BASE_URL", idp.issuer())
        .env("CLIENT_ID", "example")
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("SECRET", "client-auth-example-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in extra {
        command.env(k, v);
    }
    let child = command.spawn().expect("start the example");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {name} example did not start");
}

#[tokio::test]
async fn private_key_jwt_example_signs_in_with_its_key_and_shows_the_public_jwk() {
    let port = free_port();
    let key_path = format!("{FIXTURES}ec-p256.jwk.json");
    let key = portcullis::AssertionSigningKey::parse(&std::fs::read_to_string(&key_path).unwrap())
        .unwrap();
    let jwks = json!({"keys": [key.public_jwk().unwrap()]});
    let idp = start_idp(DevClient::private_key_jwt(
        "example",
        jwks.clone(),
        format!("http://127.0.0.1:{port}/callback"),
    ))
    .await;
    let _app = run_example(
        "private_key_jwt",
        &idp,
        port,
        &[("CLIENT_ASSERTION_SIGNING_KEY", key_path)],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let agent = Agent::browser();
    let profile = agent.navigate(&format!("{base}/profile")).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert!(profile.body.contains("alice"), "{}", profile.body);
    let shown: Value =
        serde_json::from_str(&agent.navigate(&format!("{base}/jwk")).await.body).expect("jwk json");
    assert_eq!(shown, jwks);
    assert!(shown["keys"][0].get("d").is_none(), "never the private key");
}

#[tokio::test]
async fn token_exchange_example_exchanges_stores_on_request_and_surfaces_op_errors() {
    let port = free_port();
    let idp = start_idp(DevClient::confidential(
        "example",
        "example-secret",
        format!("http://127.0.0.1:{port}/callback"),
    ))
    .await;
    let _app = run_example(
        "token_exchange",
        &idp,
        port,
        &[
            ("CLIENT_SECRET", "example-secret".into()),
            ("EXCHANGE_AUDIENCE", "orders-api".into()),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let agent = Agent::browser();
    let first = agent.navigate(&format!("{base}/exchange")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["aud"], "orders-api");
    assert_eq!(body["stored"], false);
    let stored = agent
        .navigate(&format!("{base}/exchange?store=true&scope=openid"))
        .await;
    let body: Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(
        (body["stored"].clone(), body["scope"].clone()),
        (json!(true), json!("openid"))
    );
    // The session now holds the narrowed token: widening it again is refused by the OP.
    let refused = agent
        .request(
            reqwest::Method::GET,
            &format!("{base}/exchange?scope=openid%20email"),
            "application/json",
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("invalid_scope"),
        "{body}"
    );
}
