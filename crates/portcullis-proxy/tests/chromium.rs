//! One login of a protected upstream through the gate in a real headless
//! Chromium (`e2e/proxy-login.mjs`: playwright-core driving Debian's
//! chromium). Skips loudly without chromium or `e2e/node_modules`, and fails
//! then under `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

#[tokio::test]
async fn a_browser_signs_in_through_the_gate_and_the_upstream_sees_the_user() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !Path::new("/usr/bin/chromium").exists() {
        skip_or_fail("/usr/bin/chromium is missing (apt-get install chromium)");
        return;
    }
    if !root.join("e2e/node_modules/playwright-core").is_dir() {
        skip_or_fail("e2e/node_modules is missing (run `npm ci` in e2e/)");
        return;
    }
    let upstream = start_upstream().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let gate = start_gate(port, idp.issuer(), upstream, &[], "").await;
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(root.join("e2e/proxy-login.mjs"))
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
        "browser login through the gate failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("proxy-login: ok"), "{stdout}");
    gate.shutdown().await;
}
