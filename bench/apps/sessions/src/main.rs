//! Session benchmarks (not tests: they measure and print, nothing asserts).
//!
//! ```text
//! bench-sessions rss <n> [jwt|opaque] RSS of one basic instance holding n sessions (SESSION_STORE=memory),
//!                                    signed in with JWT access tokens (the dev OP's default) or opaque
//!                                    ones (oidc-provider's default shape)
//! bench-sessions redis-memory <n>    Redis memory per session against the bytes each holds
//! bench-sessions logout-latency <n>  time for a back-channel logout on replica B to end the session on A
//! ```
//!
//! Each command starts its own processes: the `basic` example from
//! `target/release/examples/basic`, a `redis-server` on a free port where
//! Redis is needed, and the dev OP in this process (auto-approving `alice`).
//! Logins are real authorization-code flows over HTTP.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_devidp::{DevClient, DevIdpConfig, RunningDevIdp};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use tokio::process::{Child, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "bench-sessions-cookie-secret-0123456789abcdef";

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// A browser-less sign-in: follows redirects by hand with a per-login cookie
/// jar keyed by host:port, and returns the Cookie header for `base`.
async fn sign_in(client: &reqwest::Client, base: &str) -> Result<String, Error> {
    let mut jar: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut url = url::Url::parse(&format!("{base}/login"))?;
    for _ in 0..10 {
        let origin = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let cookies = jar.entry(origin.clone()).or_default();
        let header = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = client.get(url.clone());
        if !header.is_empty() {
            request = request.header(COOKIE, header);
        }
        let response = request.send().await?;
        for value in response.headers().get_all(SET_COOKIE) {
            if let Ok(parsed) = cookie::Cookie::parse(value.to_str()?.to_owned()) {
                if parsed.max_age().is_some_and(|a| a.is_zero()) || parsed.value().is_empty() {
                    cookies.remove(parsed.name());
                } else {
                    cookies.insert(parsed.name().to_owned(), parsed.value().to_owned());
                }
            }
        }
        match response.status() {
            StatusCode::FOUND | StatusCode::SEE_OTHER => {
                let location = response.headers()[LOCATION].to_str()?.to_owned();
                url = url.join(&location)?;
            }
            status => {
                let app = url::Url::parse(base)?;
                let key = format!(
                    "{}:{}",
                    app.host_str().unwrap_or(""),
                    app.port_or_known_default().unwrap_or(0)
                );
                if status != StatusCode::OK {
                    return Err(format!("sign-in ended with {status} at {url}").into());
                }
                let cookies = jar.remove(&key).unwrap_or_default();
                return Ok(cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "));
            }
        }
    }
    Err("too many redirects".into())
}

async fn profile_status(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
) -> Result<StatusCode, Error> {
    Ok(client
        .get(format!("{base}/profile"))
        .header(COOKIE, cookie)
        .header("accept", "application/json")
        .send()
        .await?
        .status())
}

async fn dev_op(base: &str) -> Result<RunningDevIdp, Error> {
    dev_op_with(base, false).await
}

async fn dev_op_with(base: &str, opaque_access_tokens: bool) -> Result<RunningDevIdp, Error> {
    let client = DevClient::confidential("bench", "bench-secret", format!("{base}/callback"))
        .with_post_logout_redirect_uri(format!("{base}/"))
        .with_backchannel_logout_uri(format!("{base}/backchannel-logout"));
    Ok(portcullis_devidp::start(
        DevIdpConfig::new()
            .with_client(client)
            .with_auto_approve("alice")
            .with_opaque_access_tokens(opaque_access_tokens),
        "127.0.0.1:0".parse()?,
    )
    .await?)
}

fn basic(port: u16, base: &str, issuer: &str, stores: &[(&str, String)]) -> Result<Child, Error> {
    let binary = root().join("target/release/examples/basic");
    let mut command = Command::new(&binary);
    command
        .env("ISSUER_BASE_URL", issuer)
        .env("CLIENT_ID", "bench")
        .env("CLIENT_SECRET", "bench-secret")
        .env("BASE_URL", base)
        .env("SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("SESSION_STORE")
        .env_remove("LOGOUT_STORE")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in stores {
        command.env(name, value);
    }
    command.spawn().map_err(|e| {
        format!(
            "{}: {e} (cargo build --release -p portcullis --example basic)",
            binary.display()
        )
        .into()
    })
}

async fn wait_up(client: &reqwest::Client, url: &str) -> Result<(), Error> {
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{url} did not come up").into())
}

/// A redis-server of our own on a free port, killed on drop.
async fn redis_server() -> Result<(Child, u16), Error> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((child, port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("redis-server did not start".into())
}

fn redis_cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()?;
    Ok(String::from_utf8(out.stdout)?)
}

fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// Signs in `n` times with up to 32 logins in flight.
async fn sign_in_many(
    client: &reqwest::Client,
    base: &str,
    n: usize,
) -> Result<Vec<String>, Error> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(0..n)
        .map(|_| sign_in(client, base))
        .buffer_unordered(32)
        .try_collect()
        .await
}

fn client() -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()?)
}

async fn rss(n: usize, profile: &str) -> Result<(), Error> {
    let opaque = match profile {
        "jwt" => false,
        "opaque" => true,
        other => return Err(format!("unknown token profile {other:?}: jwt or opaque").into()),
    };
    let client = client()?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let idp = dev_op_with(&base, opaque).await?;
    let app = basic(
        port,
        &base,
        idp.issuer(),
        &[("SESSION_STORE", "memory".into())],
    )?;
    let pid = app.id().ok_or("no pid")?;
    wait_up(&client, &format!("{base}/")).await?;
    // One login first, so lazily built state is in the baseline.
    let first = sign_in(&client, &base).await?;
    let before = rss_kib(pid)?;
    let start = Instant::now();
    // n sessions in all, the store's default capacity: none is evicted.
    let cookies = sign_in_many(&client, &base, n.saturating_sub(1)).await?;
    let elapsed = start.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid)?;
    let alive = profile_status(&client, &base, &first).await? == StatusCode::OK
        && match cookies.last() {
            Some(last) => profile_status(&client, &base, last).await? == StatusCode::OK,
            None => true,
        };
    println!(
        "rss ({profile} access tokens): {n} sessions in SESSION_STORE=memory: RSS {:.1} MiB (baseline {:.1} MiB), {:.0} B per session; {} logins in {:.1} s; first and last sessions still valid: {alive}",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (after.saturating_sub(before) * 1024) as f64 / n as f64,
        n,
        elapsed.as_secs_f64()
    );
    Ok(())
}

async fn redis_memory(n: usize) -> Result<(), Error> {
    let client = client()?;
    let (_redis, redis_port) = redis_server().await?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let idp = dev_op(&base).await?;
    let _app = basic(
        port,
        &base,
        idp.issuer(),
        &[("SESSION_STORE", format!("redis://127.0.0.1:{redis_port}"))],
    )?;
    wait_up(&client, &format!("{base}/")).await?;
    sign_in(&client, &base).await?;
    let before =
        info_field(&redis_cli(redis_port, &["INFO", "memory"])?, "used_memory").ok_or("INFO")?;
    let keys_before = redis_cli(redis_port, &["DBSIZE"])?.trim().parse::<u64>()?;
    sign_in_many(&client, &base, n).await?;
    let after =
        info_field(&redis_cli(redis_port, &["INFO", "memory"])?, "used_memory").ok_or("INFO")?;
    let keys_after = redis_cli(redis_port, &["DBSIZE"])?.trim().parse::<u64>()?;
    let keys = redis_cli(redis_port, &["--scan", "--pattern", "portcullis:s:*"])?;
    let sample: Vec<&str> = keys.lines().take(200).collect();
    let mut value_bytes = 0u64;
    for key in &sample {
        value_bytes += redis_cli(redis_port, &["STRLEN", key])?
            .trim()
            .parse::<u64>()?;
    }
    let value = value_bytes as f64 / sample.len().max(1) as f64;
    let per_session =
        after.saturating_sub(before) as f64 / keys_after.saturating_sub(keys_before).max(1) as f64;
    println!(
        "redis-memory: {} new keys for {n} logins; used_memory +{:.0} B per session for a {:.0} B value (key {} B): overhead {:.0} B ({:.2}x the value)",
        keys_after - keys_before,
        per_session,
        value,
        sample.first().map_or(0, |k| k.len()),
        per_session - value,
        per_session / value
    );
    Ok(())
}

async fn logout_latency(n: usize, stores: &str) -> Result<(), Error> {
    let client = client()?;
    let (_redis, redis_port) = redis_server().await?;
    let redis = format!("redis://127.0.0.1:{redis_port}");
    let (port_a, port_b) = (free_port()?, free_port()?);
    let base = format!("http://127.0.0.1:{port_b}");
    let idp = Arc::new(dev_op(&base).await?);
    let env: Vec<(&str, String)> = match stores {
        "redis" => vec![("SESSION_STORE", redis.clone())],
        _ => vec![
            ("SESSION_STORE", "cookie".into()),
            ("LOGOUT_STORE", redis.clone()),
        ],
    };
    let _a = basic(port_a, &base, idp.issuer(), &env)?;
    let _b = basic(port_b, &base, idp.issuer(), &env)?;
    let on_a = format!("http://127.0.0.1:{port_a}");
    wait_up(&client, &format!("{on_a}/")).await?;
    wait_up(&client, &format!("{base}/")).await?;
    let mut after_ack = Vec::with_capacity(n);
    let mut total = Vec::with_capacity(n);
    for _ in 0..n {
        let cookie = sign_in(&client, &base).await?;
        if profile_status(&client, &on_a, &cookie).await? != StatusCode::OK {
            return Err("the session made on B does not work on A".into());
        }
        let start = Instant::now();
        let delivered = idp.end_sessions_of("alice").await;
        let acked = start.elapsed();
        if delivered != 1 {
            return Err(format!("{delivered} logout tokens delivered").into());
        }
        loop {
            if profile_status(&client, &on_a, &cookie).await? == StatusCode::UNAUTHORIZED {
                break;
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err("the session survived 5 s on A".into());
            }
        }
        let done = start.elapsed();
        total.push(done);
        after_ack.push(done.saturating_sub(acked));
    }
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(v[v.len() / 2]),
            ms(v[(v.len() * 99 / 100).min(v.len() - 1)]),
            ms(v[v.len() - 1])
        )
    };
    println!(
        "logout-latency ({}): {n} back-channel logouts to B; until A refuses the session: {} from the OP's call ({} after B acknowledged the logout token)",
        if stores == "redis" {
            "Redis sessions"
        } else {
            "cookie sessions, Redis logout store"
        },
        stats(&mut total),
        stats(&mut after_ack)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize, default: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("rss") => rss(n(1, 100_000), args.get(2).map_or("jwt", String::as_str)).await,
        Some("redis-memory") => redis_memory(n(1, 1_000)).await,
        Some("logout-latency") => {
            logout_latency(n(1, 200), "redis").await?;
            logout_latency(n(1, 200), "cookie").await
        }
        _ => Err("usage: bench-sessions rss [n] | redis-memory [n] | logout-latency [n]".into()),
    }
}
