//! Test support: a browser-less user agent (HTTP client with a cookie jar that
//! follows redirects and submits form_post pages) and app/OP launchers.
#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

/// What the agent ended on.
#[derive(Debug)]
pub struct Landing {
    pub url: Url,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// Every URL visited, in order.
    pub trail: Vec<Url>,
}

/// A browser stand-in: cookies, manual redirects, form_post auto-submit.
pub struct Agent {
    pub client: reqwest::Client,
    pub accept: &'static str,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Agent {
    pub fn browser() -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            accept: "text/html,application/xhtml+xml",
            jar,
        }
    }

    /// The `Cookie` header the agent would send to `url`.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = Url::parse(url).expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// One request, no redirect following.
    pub async fn request(&self, method: Method, url: &str, accept: &str) -> reqwest::Response {
        self.client
            .request(method, url)
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("request")
    }

    /// GET `url` and follow redirects and form_post pages to the end.
    pub async fn navigate(&self, url: &str) -> Landing {
        let mut current = Url::parse(url).expect("url");
        let mut method = Method::GET;
        let mut form: Option<Vec<(String, String)>> = None;
        let mut trail = Vec::new();
        for _ in 0..20 {
            trail.push(current.clone());
            let mut req = self
                .client
                .request(method.clone(), current.clone())
                .header(ACCEPT, self.accept);
            if let Some(fields) = form.take() {
                req = req.form(&fields);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let headers = resp.headers().clone();
            if status.is_redirection() {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .expect("redirect without Location");
                current = current.join(location).expect("location");
                method = Method::GET;
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            if status == StatusCode::OK
                && let Some((action, fields)) = parse_auto_post_form(&body)
            {
                current = current.join(&action).expect("form action");
                method = Method::POST;
                form = Some(fields);
                continue;
            }
            return Landing {
                url: current,
                status,
                headers,
                body,
                trail,
            };
        }
        panic!("too many redirects: {trail:?}");
    }
}

/// Finds an auto-submitting POST form (a form_post response page) and its hidden fields.
pub fn parse_auto_post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let lower = html.to_ascii_lowercase();
    let form_start = lower.find("<form")?;
    let form_tag_end = form_start + lower[form_start..].find('>')?;
    let tag = &html[form_start..form_tag_end];
    if !tag.to_ascii_lowercase().contains("method=\"post\"") {
        return None;
    }
    let action = attr(tag, "action")?;
    let mut fields = Vec::new();
    let mut rest = &html[form_tag_end..];
    while let Some(pos) = rest.to_ascii_lowercase().find("<input") {
        let end = pos + rest[pos..].find('>')?;
        let input = &rest[pos..end];
        if let (Some(name), Some(value)) = (attr(input, "name"), attr(input, "value")) {
            fields.push((name, value));
        }
        rest = &rest[end..];
    }
    let auto_submits = lower.contains(".submit()");
    if auto_submits || fields.iter().any(|(n, _)| n == "code" || n == "error") {
        Some((action, fields))
    } else {
        None
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
}

/// Binds a loopback listener on a free port.
pub async fn bind_loopback() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Serves an axum router on a listener in the background.
pub fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

/// Whether a test that needs an external dependency must fail rather than skip.
pub fn require_all() -> bool {
    std::env::var("PORTCULLIS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips (loudly) or fails, depending on `PORTCULLIS_REQUIRE_ALL`.
pub fn skip_or_fail(what: &str) {
    if require_all() {
        panic!("PORTCULLIS_REQUIRE_ALL=1 but {what}");
    }
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what}");
    eprintln!("!!! Run scripts/test (it installs what is missing) to run this test.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}
