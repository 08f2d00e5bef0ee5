//! Two replicas of the `basic` example behind one `BASE_URL`, sharing one
//! real Redis (127.0.0.1:6379): a session made on B works on A, and a
//! back-channel logout delivered to B ends it on A within a second. Run with
//! Redis sessions, and again with cookie sessions plus a Redis logout store.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use portcullis_devidp::{DevClient, DevIdpConfig};
use reqwest::{Method, StatusCode};
use support::Agent;
use tokio::process::{Child, Command};

const REDIS: &str = "redis://127.0.0.1:6379";

fn example_binary() -> std::path::PathBuf {
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

/// Whether the machine's Redis answers; a missing one fails in CI
/// (PORTCULLIS_REQUIRE_ALL=1) and skips loudly elsewhere.
fn redis_available() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        assert!(
            std::env::var("PORTCULLIS_REQUIRE_ALL").as_deref() != Ok("1"),
            "Redis is not running on 127.0.0.1:6379 (required: PORTCULLIS_REQUIRE_ALL=1)"
        );
        eprintln!("!!! SKIPPED: Redis is not running on 127.0.0.1:6379");
    }
    up
}

fn replica(port: u16, base: &str, issuer: &str, stores: &[(&str, &str)]) -> Child {
    let mut command = Command::new(example_binary());
    command
        .env("ISSUER_BASE_URL", issuer)
        .env("CLIENT_ID", "basic")
        .env("CLIENT_SECRET", "basic-secret")
        .env("BASE_URL", base)
        .env("SECRET", "multi-replica-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .env_remove("SESSION_STORE")
        .env_remove("LOGOUT_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (name, value) in stores {
        command.env(name, value);
    }
    command
        .spawn()
        .expect("start a replica of the basic example")
}

async fn wait_up(agent: &Agent, url: &str) {
    for _ in 0..150 {
        if agent.client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

async fn profile_status(agent: &Agent, url: &str) -> StatusCode {
    agent
        .request(Method::GET, url, "application/json")
        .await
        .status()
}

async fn back_channel_logout_reaches_the_other_replica(stores: &[(&str, &str)]) {
    let (port_a, port_b) = (free_port(), free_port());
    // The load balancer's address: the OP sends the browser and the
    // back-channel logout there (replica B); replica A shares the cookies.
    let base = format!("http://127.0.0.1:{port_b}");
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(
                DevClient::confidential("basic", "basic-secret", format!("{base}/callback"))
                    .with_post_logout_redirect_uri(format!("{base}/"))
                    .with_backchannel_logout_uri(format!("{base}/backchannel-logout")),
            )
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let _a = replica(port_a, &base, idp.issuer(), stores);
    let _b = replica(port_b, &base, idp.issuer(), stores);
    let agent = Agent::browser();
    let on_a = format!("http://127.0.0.1:{port_a}/profile");
    let on_b = format!("{base}/profile");
    wait_up(&agent, &format!("http://127.0.0.1:{port_a}/")).await;
    wait_up(&agent, &format!("{base}/")).await;

    // Log in through B, use the session on A.
    let profile = agent.navigate(&on_b).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile_status(&agent, &on_a).await, StatusCode::OK);

    // The OP ends the session: the logout token goes to B only.
    assert_eq!(idp.end_sessions_of("alice").await, 1);
    let start = Instant::now();
    loop {
        let status = profile_status(&agent, &on_a).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the session was still alive on A a second after the back-channel logout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        profile_status(&agent, &on_b).await,
        StatusCode::UNAUTHORIZED
    );

    // A new login works, on both replicas.
    let again = agent.navigate(&on_b).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(profile_status(&agent, &on_a).await, StatusCode::OK);
}

#[tokio::test]
async fn with_redis_sessions_a_back_channel_logout_on_one_replica_ends_the_session_on_the_other() {
    if !redis_available() {
        return;
    }
    back_channel_logout_reaches_the_other_replica(&[("SESSION_STORE", REDIS)]).await;
}

#[tokio::test]
async fn with_cookie_sessions_and_a_redis_logout_store_a_back_channel_logout_reaches_every_replica()
{
    if !redis_available() {
        return;
    }
    back_channel_logout_reaches_the_other_replica(&[
        ("SESSION_STORE", "cookie"),
        ("LOGOUT_STORE", REDIS),
    ])
    .await;
}
