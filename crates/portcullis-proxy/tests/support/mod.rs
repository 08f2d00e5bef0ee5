//! Test support for the gate: a real upstream that echoes what it received,
//! the dev OP, the gate itself (in-process, on loopback ports), a
//! browser-like client, and raw HTTP/1.1 requests that no client library
//! normalises.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use portcullis_proxy::{ProxyConfig, RunningProxy, Source};
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const SECRET: &str = "proxy-tests-cookie-secret-0123456789abcdef";
pub const CLIENT_ID: &str = "gate";
pub const CLIENT_SECRET: &str = "gate-secret";
pub const SESSION_COOKIE: &str = "portcullis.session";

type UpstreamBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> UpstreamBody {
    Full::new(bytes.into()).boxed()
}

/// A request body as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Data bytes read.
    pub bytes: u64,
    /// Whether the body ended cleanly (false: it broke off).
    pub complete: bool,
}

/// The bodies an upstream has read on `/upload` and `/early`, in order of completion.
pub type Uploads = std::sync::Arc<std::sync::Mutex<Vec<Received>>>;

/// Starts the echo upstream on a free loopback port:
/// - any path: 200 with JSON `{method, target, headers}`;
/// - `/slow`: the same after 1.5 s;
/// - `/upload`: reads the body as a stream, answers `{bytes, sha256,
///   transfer_encoding, content_length}`;
/// - `/early`: answers 200 at once, before reading the body, then streams a
///   line `read N` per data frame it reads and `done N` at the end;
/// - `/download?bytes=N`: streams N bytes;
/// - `/ws`: a WebSocket handshake, then echoes every byte.
pub async fn start_upstream() -> SocketAddr {
    start_recording_upstream().await.0
}

/// [`start_upstream`], with the record of the bodies it read.
pub async fn start_recording_upstream() -> (SocketAddr, Uploads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let uploads = Uploads::default();
    let record = uploads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| upstream(request, record.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, uploads)
}

/// Reads `body` to its end (or until it breaks off), recording it.
async fn read_body(path: &str, mut body: Incoming, record: &Uploads) -> (Received, String) {
    let mut bytes: u64 = 0;
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                    digest.update(data);
                }
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    let received = Received {
        path: path.to_owned(),
        bytes,
        complete,
    };
    record.lock().expect("record").push(received.clone());
    (received, hex(digest.finish().as_ref()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

async fn upstream(
    mut request: Request<Incoming>,
    record: Uploads,
) -> Result<Response<UpstreamBody>, Infallible> {
    let path = request.uri().path().to_owned();
    match path.as_str() {
        "/upload" => {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let transfer_encoding = header("transfer-encoding");
            let content_length = header("content-length");
            let (received, sha256) = read_body(&path, request.into_body(), &record).await;
            Ok(Response::new(full(
                json!({
                    "bytes": received.bytes,
                    "sha256": sha256,
                    "transfer_encoding": transfer_encoding,
                    "content_length": content_length,
                })
                .to_string(),
            )))
        }
        "/early" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
            tokio::spawn(async move {
                let mut body = request.into_body();
                let mut bytes: u64 = 0;
                let mut complete = true;
                while let Some(frame) = body.frame().await {
                    match frame {
                        Ok(frame) => {
                            if let Some(data) = frame.data_ref() {
                                bytes += data.len() as u64;
                                let _ = tx.send(Bytes::from(format!("read {bytes}\n"))).await;
                            }
                        }
                        Err(_) => {
                            complete = false;
                            break;
                        }
                    }
                }
                record.lock().expect("record").push(Received {
                    path,
                    bytes,
                    complete,
                });
                if complete {
                    let _ = tx.send(Bytes::from(format!("done {bytes}\n"))).await;
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                let line = rx.recv().await?;
                Some((Ok::<_, Infallible>(Frame::data(line)), rx))
            });
            Ok(Response::new(StreamBody::new(stream).boxed()))
        }
        "/download" => {
            let total: u64 = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("bytes="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_util::stream::unfold(total, move |left| {
                let chunk = chunk.clone();
                async move {
                    if left == 0 {
                        return None;
                    }
                    let n = left.min(chunk.len() as u64) as usize;
                    Some((
                        Ok::<_, Infallible>(Frame::data(chunk.slice(..n))),
                        left - n as u64,
                    ))
                }
            });
            Ok(Response::new(StreamBody::new(stream).boxed()))
        }
        "/ws" => {
            let key = request
                .headers()
                .get("sec-websocket-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let on_upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let mut io = TokioIo::new(upgraded);
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let mut response = Response::new(full(Bytes::new()));
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert("upgrade", "websocket".parse().expect("value"));
            headers.insert("connection", "Upgrade".parse().expect("value"));
            headers.insert(
                "sec-websocket-accept",
                websocket_accept(&key).parse().expect("value"),
            );
            Ok(response)
        }
        _ => {
            if path == "/slow" {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let mut headers = serde_json::Map::new();
            for (name, value) in request.headers() {
                let entry = headers
                    .entry(name.as_str().to_owned())
                    .or_insert_with(|| json!([]));
                if let Value::Array(values) = entry {
                    values.push(json!(String::from_utf8_lossy(value.as_bytes())));
                }
            }
            let body = json!({
                "method": request.method().as_str(),
                "target": request.uri().path_and_query().map(|p| p.as_str()),
                "headers": headers,
            });
            let mut response = Response::new(full(body.to_string()));
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().expect("value"));
            Ok(response)
        }
    }
}

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
pub fn websocket_accept(key: &str) -> String {
    use base64::Engine as _;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC11B85").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// A port nobody listens on (bound, then released).
pub async fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A free loopback port for the gate (so its BASE_URL is known before it
/// starts). It is taken below the kernel's ephemeral range (32768 and up on
/// Linux), where ports bound to `:0` come from: the dev OP, the upstreams and
/// the other tests of this binary, which bind `:0` in parallel, cannot take it
/// between this check and the gate's bind. Each port is handed out once per
/// process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let base = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = u16::try_from(FIRST + (base + offset) % SPAN).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

/// The dev OP with the gate's client registered for `bases` (callbacks
/// under `/oauth2`), sample users plus `extra_users`.
pub async fn start_idp(
    bases: &[String],
    configure: impl FnOnce(DevIdpConfig) -> DevIdpConfig,
) -> RunningDevIdp {
    let first = &bases[0];
    let mut client =
        DevClient::confidential(CLIENT_ID, CLIENT_SECRET, format!("{first}/oauth2/callback"))
            .with_post_logout_redirect_uri(format!("{first}/"));
    for base in &bases[1..] {
        client = client.with_redirect_uri(format!("{base}/oauth2/callback"));
    }
    let config = configure(DevIdpConfig::new().with_client(client));
    portcullis_devidp::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("dev idp")
}

/// Starts the gate on `port` with `env` on top of the defaults (issuer,
/// client, secret, upstream, base URL) and the TOML text `toml`.
pub async fn start_gate(
    port: u16,
    issuer: &str,
    upstream: SocketAddr,
    env: &[(&str, &str)],
    toml: &str,
) -> RunningProxy {
    let mut vars: Vec<(String, String)> = vec![
        ("ISSUER_BASE_URL".into(), issuer.into()),
        ("CLIENT_ID".into(), CLIENT_ID.into()),
        ("CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ("SECRET".into(), SECRET.into()),
        ("BASE_URL".into(), format!("http://127.0.0.1:{port}")),
        ("UPSTREAM".into(), format!("http://{upstream}")),
        ("LISTEN".into(), format!("127.0.0.1:{port}")),
        ("METRICS_LISTEN".into(), "127.0.0.1:0".into()),
        ("SHUTDOWN_GRACE".into(), "5".into()),
        ("SCOPE".into(), "openid profile email groups".into()),
    ];
    for (name, value) in env {
        vars.retain(|(n, _)| n != name);
        vars.push(((*name).into(), (*value).into()));
    }
    let source = Source::from_parts(
        move |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
        toml,
    )
    .expect("source");
    let (config, builder) = ProxyConfig::load(&source).expect("config");
    portcullis_proxy::start(config, builder)
        .await
        .expect("gate starts")
}

/// A browser stand-in: a cookie jar, no automatic redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar,
        }
    }

    /// Follows redirects (and auto-submitting POST forms, as a browser runs
    /// them) from `url` to the end (at most 20 hops).
    pub async fn navigate(&self, url: &str) -> (reqwest::Url, StatusCode, String) {
        let mut current = reqwest::Url::parse(url).expect("url");
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let request = match form.take() {
                Some(fields) => self.client.post(current.clone()).form(&fields),
                None => self.client.get(current.clone()),
            };
            let response = request
                .header("accept", "text/html")
                .send()
                .await
                .expect("request");
            if response.status().is_redirection() {
                let location = response.headers()[LOCATION].to_str().expect("location");
                current = current.join(location).expect("join");
                continue;
            }
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if status == StatusCode::OK
                && let Some((action, fields)) = auto_post_form(&body)
            {
                current = current.join(&action).expect("form action");
                form = Some(fields);
                continue;
            }
            return (current, status, body);
        }
        panic!("too many redirects");
    }

    /// Signs in at the gate `base` as `user` (picked on the dev OP's page),
    /// landing on `{base}/whoami` (the upstream's echo).
    pub async fn sign_in(&self, base: &str, issuer: &str, user: &str) -> Value {
        let (url, status, body) = self
            .navigate(&format!("{base}/oauth2/login?returnTo=%2Fwhoami"))
            .await;
        assert!(
            url.as_str().starts_with(issuer),
            "not at the OP: {url} {status}"
        );
        let handle = hidden_value(&body, "request").expect("the OP's sign-in page");
        let approved = self
            .client
            .post(format!("{issuer}/authorize/approve"))
            .form(&[("request", handle.as_str()), ("user", user)])
            .send()
            .await
            .expect("approve");
        assert!(approved.status().is_redirection(), "{}", approved.status());
        let location = approved.headers()[LOCATION]
            .to_str()
            .expect("loc")
            .to_owned();
        let (url, status, body) = self.navigate(&location).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert_eq!(url.path(), "/whoami");
        serde_json::from_str(&body).expect("echo json")
    }

    /// The `Cookie` header the browser sends to `url`.
    pub fn cookie(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&reqwest::Url::parse(url).expect("url"))
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .expect("cookies")
    }
}

/// A POST form that submits itself (`.submit()` in the page) and its fields.
fn auto_post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    if !html.contains(".submit()") {
        return None;
    }
    let start = html.find("<form")?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[start..tag_end];
    if !tag.to_ascii_lowercase().contains("method=\"post\"") {
        return None;
    }
    let action = attribute(tag, "action")?;
    let mut fields = Vec::new();
    let mut rest = &html[tag_end..];
    while let Some(at) = rest.find("<input") {
        let end = at + rest[at..].find('>')?;
        let input = &rest[at..end];
        if let (Some(name), Some(value)) = (attribute(input, "name"), attribute(input, "value")) {
            fields.push((name, value));
        }
        rest = &rest[end..];
    }
    Some((action, fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&#x2F;", "/")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// The values the upstream saw for header `name`.
pub fn seen<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What a raw HTTP/1.1 request got back.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `request_head` (without the final blank line) verbatim, with
/// `Connection: close`, and reads the whole answer. No client library
/// touches the path.
pub async fn raw(addr: SocketAddr, request_head: &str) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{request_head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Whether a dependency-gated test must fail rather than skip.
pub fn require_all() -> bool {
    std::env::var("PORTCULLIS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips loudly, or fails under `PORTCULLIS_REQUIRE_ALL=1`.
pub fn skip_or_fail(what: &str) {
    assert!(!require_all(), "PORTCULLIS_REQUIRE_ALL=1 but {what}");
    eprintln!(
        "\n!!! SKIPPED: {what}\n!!! Run scripts/test (it installs what is missing) to run this test.\n"
    );
}

/// The resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Builds a client request with a raw upgrade handshake; returns the open stream.
pub async fn websocket_handshake(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
) -> (tokio::net::TcpStream, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read");
        assert!(
            n == 1,
            "connection closed during handshake: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

/// A hyper client connection for tests that need exact control.
pub fn executor() -> TokioExecutor {
    TokioExecutor::new()
}
