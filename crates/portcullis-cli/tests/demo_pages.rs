//! `portcullis demo`, browser-less: the profile page teaches (claims with
//! readable times, the decoded ID token, the tokens' state, the steps), and
//! each button does what it says: refresh, sign out here only, here and at
//! the OP, and at the OP by back-channel logout, each ending on a page that
//! says where the user was signed out. `portcullis idp` prints its default
//! client and users.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Client, StatusCode};
use tokio::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Browser {
    client: Client,
}

struct Page {
    url: url::Url,
    status: StatusCode,
    body: String,
}

impl Browser {
    fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Browser {
            client: Client::builder()
                .cookie_provider(jar)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// Sends one request and follows redirects (as GETs) to the end.
    async fn go(&self, mut request: reqwest::RequestBuilder, start: &str) -> Page {
        let mut url = url::Url::parse(start).expect("url");
        for _ in 0..15 {
            let response = request
                .header(ACCEPT, "text/html")
                .send()
                .await
                .expect("request");
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()[LOCATION].to_str().expect("location");
                url = url.join(location).expect("join");
                request = self.client.get(url.clone());
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            return Page { url, status, body };
        }
        panic!("too many redirects from {start}");
    }

    async fn get(&self, url: &str) -> Page {
        self.go(self.client.get(url), url).await
    }

    /// A button of the demo: a same-origin form POST.
    async fn press(&self, url: &str, origin: &str) -> Page {
        self.go(
            self.client
                .post(url)
                .header("origin", origin)
                .form(&[("x", "")]),
            url,
        )
        .await
    }

    /// Signs in at the dev OP's page as `user` when the flow stops there.
    async fn sign_in(&self, start: &str, user: &str) -> Page {
        let page = self.get(start).await;
        let needle = "name=\"request\" value=\"";
        let Some(at) = page.body.find(needle) else {
            return page;
        };
        let rest = &page.body[at + needle.len()..];
        let request = &rest[..rest.find('"').expect("end of value")];
        let approve = page.url.join("/authorize/approve").expect("approve url");
        self.go(
            self.client
                .post(approve.clone())
                .form(&[("request", request), ("user", user)]),
            approve.as_str(),
        )
        .await
    }
}

async fn start_demo() -> (tokio::process::Child, String) {
    let (app_port, idp_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["demo", "--port", &app_port.to_string()])
        .args(["--idp-port", &idp_port.to_string(), "--host", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start portcullis demo");
    let base = format!("http://127.0.0.1:{app_port}");
    let probe = Client::new();
    for _ in 0..100 {
        if probe.get(format!("{base}/")).send().await.is_ok() {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the demo did not start");
}

#[tokio::test]
async fn the_profile_page_teaches_and_refresh_rewrites_the_session() {
    let (_demo, base) = start_demo().await;
    let browser = Browser::new();
    let page = browser
        .sign_in(&format!("{base}/login?returnTo=%2Fprofile"), "alice")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.url.path(), "/profile");
    let body = &page.body;
    // Claims, with readable times.
    assert!(body.contains("id=\"claims-table\""), "{body}");
    assert!(body.contains(" GMT (in "), "readable expiry: {body}");
    assert!(
        body.contains("ago)") || body.contains("(now)"),
        "iat: {body}"
    );
    assert!(body.contains("&quot;admin&quot;"), "alice's groups: {body}");
    // The ID token, decoded; never the raw token.
    assert!(body.contains("id=\"id-token-header\""), "{body}");
    assert!(
        body.contains("&quot;alg&quot;: &quot;RS256&quot;"),
        "{body}"
    );
    assert!(body.contains("id=\"id-token-payload\""), "{body}");
    assert!(!body.contains("eyJ"), "no raw token on the page: {body}");
    // The tokens' state and the scopes.
    assert!(body.contains("<code>offline_access</code>"), "{body}");
    assert!(body.contains("id=\"refresh-token\">present"), "{body}");
    // What just happened, with PKCE.
    assert!(body.contains("code_challenge"), "{body}");
    assert!(body.contains("/.well-known/openid-configuration"), "{body}");

    let refreshed = browser.press(&format!("{base}/refresh"), &base).await;
    assert_eq!(refreshed.url.path(), "/profile");
    assert!(
        refreshed.body.contains("id=\"refreshed\""),
        "{}",
        refreshed.body
    );
}

#[tokio::test]
async fn each_sign_out_button_says_where_the_user_was_signed_out() {
    let (_demo, base) = start_demo().await;
    let browser = Browser::new();
    let profile = format!("{base}/login?returnTo=%2Fprofile");
    browser.sign_in(&profile, "alice").await;

    // Here only: the OP session survives, so signing in again asks nothing.
    let here = browser.press(&format!("{base}/logout-here"), &base).await;
    assert!(
        here.body.contains("Signed out of this application"),
        "{}",
        here.body
    );
    assert!(
        here.body.contains("<strong>here only</strong>"),
        "{}",
        here.body
    );
    let again = browser.get(&profile).await;
    assert_eq!(again.url.path(), "/profile", "no OP page: {}", again.body);

    // At the OP by back-channel logout: the cookie the browser keeps is refused.
    let ended = browser.press(&format!("{base}/end-at-op"), &base).await;
    assert!(
        ended.body.contains("<strong>at the OP</strong>"),
        "{}",
        ended.body
    );
    assert!(ended.body.contains("(1 delivered)"), "{}", ended.body);
    assert!(
        ended.body.contains("Signed out of this application"),
        "the session died: {}",
        ended.body
    );

    // Here and at the OP: through the OP's end-session endpoint and back.
    browser.sign_in(&profile, "alice").await;
    let everywhere = browser
        .press(&format!("{base}/logout-everywhere"), &base)
        .await;
    assert_eq!(everywhere.url.path(), "/signed-out", "{}", everywhere.body);
    assert!(
        everywhere
            .body
            .contains("<strong>here and at the OP</strong>"),
        "{}",
        everywhere.body
    );
    assert!(everywhere.body.contains("Signed out of this application"));
    // The OP asks who you are again.
    let page = browser.get(&profile).await;
    assert!(
        page.body.contains("name=\"request\""),
        "the OP's page: {}",
        page.body
    );
}

#[tokio::test]
async fn idp_without_a_client_registers_and_prints_the_default_one() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["idp", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start portcullis idp");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut printed = String::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            printed.push_str(&line);
            printed.push('\n');
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the dev OP prints its summary");
    assert!(printed.contains("No --client given"), "{printed}");
    assert!(printed.contains("app (secret app-secret)"), "{printed}");
    assert!(
        printed.contains("http://localhost:3000/callback"),
        "{printed}"
    );
    assert!(printed.contains("alice: Alice Example"), "{printed}");
    assert!(printed.contains("bob: Bob Example"), "{printed}");
    assert!(
        !printed.contains('\x1b'),
        "no colour when piped: {printed:?}"
    );
}

#[tokio::test]
async fn a_busy_demo_port_names_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["demo", "--port", &port.to_string()])
        .args(["--idp-port", &free_port().to_string()])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("pass --port"), "{stderr}");
    assert!(!stderr.contains("Os {"), "{stderr}");
    drop(taken);
}

#[tokio::test]
async fn a_busy_idp_port_names_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["idp", "--port", &port.to_string()])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("pass --port"), "{stderr}");
    assert!(!stderr.contains("Os {"), "{stderr}");
    drop(taken);
}
