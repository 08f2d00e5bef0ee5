//! The demo, end to end, in a real headless Chromium: `portcullis demo` is
//! started, then `e2e/demo-login.mjs` (playwright-core driving Debian's
//! `/usr/bin/chromium`) clicks through the dev OP's sign-in page, checks the
//! claims page and signs out.
//!
//! Skips loudly when Chromium or `e2e/node_modules` is missing, and fails
//! under `PORTCULLIS_REQUIRE_ALL=1` (CI).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn skip_or_fail(what: &str) {
    if std::env::var("PORTCULLIS_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("PORTCULLIS_REQUIRE_ALL=1 but {what}");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what}");
    eprintln!("!!! Run scripts/test (it installs what is missing) to run this test.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

#[tokio::test]
async fn demo_sign_in_and_out_in_headless_chromium() {
    let root = workspace_root();
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        skip_or_fail("/usr/bin/chromium is missing (apt-get install chromium)");
        return;
    }
    if !root.join("e2e/node_modules/playwright-core").is_dir() {
        skip_or_fail("e2e/node_modules is missing (run `npm ci` in e2e/)");
        return;
    }
    let (app_port, idp_port) = (free_port(), free_port());
    let _demo = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["demo", "--port", &app_port.to_string()])
        .args(["--idp-port", &idp_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start portcullis demo");
    let base = format!("http://localhost:{app_port}");
    wait_until_up(&format!("http://127.0.0.1:{app_port}/")).await;

    let output = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new("node")
            .arg(root.join("e2e/demo-login.mjs"))
            .arg(&base)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser test finished within 90 s")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser login failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
