//! The `custom_session_store` example (sessions as files, a `SessionStore`
//! of the user's own) signs in, keeps the session in its directory, and
//! logout removes it.

mod support;

use std::process::Stdio;
use std::time::Duration;

use portcullis_devidp::{DevClient, DevIdpConfig};
use reqwest::StatusCode;
use support::Agent;
use tokio::process::Command;

fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join("custom_session_store")
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn a_file_backed_session_store_holds_the_session_until_logout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let base = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!(
        "portcullis-file-store-{port}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let idp = portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(DevClient::confidential(
                "files",
                "files-secret",
                format!("{base}/callback"),
            ))
            .with_auto_approve("alice"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("dev idp");
    let _app = Command::new(example_binary())
        .env("ISSUER_BASE_URL", idp.issuer())
        .env("CLIENT_ID", "files")
        .env("CLIENT_SECRET", "files-secret")
        .env("BASE_URL", &base)
        .env("SECRET", "file-store-example-cookie-secret-0123456789")
        .env("PORT", port.to_string())
        .env("SESSION_DIR", &dir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the custom_session_store example");
    let agent = Agent::browser();
    let mut up = false;
    for _ in 0..100 {
        if agent.client.get(format!("{base}/")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the example did not start");
    let profile = agent.navigate(&format!("{base}/profile")).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert!(profile.body.contains("alice"), "{}", profile.body);
    assert_eq!(files_in(&dir), 1, "one session file");
    let copied = agent.cookie_header(&base).expect("session cookie");
    agent.navigate(&format!("{base}/logout")).await;
    assert_eq!(files_in(&dir), 0, "logout removed the session file");
    let replay = reqwest::Client::new()
        .get(format!("{base}/profile"))
        .header("cookie", copied)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let _ = std::fs::remove_dir_all(&dir);
}
