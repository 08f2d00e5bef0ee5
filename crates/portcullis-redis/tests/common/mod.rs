//! Test harness: real `redis-server` processes, killed on drop.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_store::{Cached, SessionRecord};

/// The Redis that is always running on this machine.
pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";

/// True when every test must run (`PORTCULLIS_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var("PORTCULLIS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Whether `binary` runs. When it does not: panics under
/// `PORTCULLIS_REQUIRE_ALL=1`, otherwise prints a loud notice and returns
/// false (the caller returns, skipping the test).
pub fn have(binary: &str, test: &str) -> bool {
    let ok = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !require_all(),
            "{test}: `{binary}` is not on PATH and PORTCULLIS_REQUIRE_ALL=1"
        );
        loud(&format!("SKIPPED {test}: `{binary}` is not on PATH"));
    }
    ok
}

/// Writes straight to stderr, past the test harness's output capture, so a
/// skipped test is seen even when it "passes".
pub fn loud(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!!!! {message} !!!!!\n");
}

/// A key prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A session id like the engine's (URL-safe, unique).
pub fn session_id() -> String {
    unique_prefix("sid").replace(':', "-")
}

pub fn record(bytes: &[u8]) -> SessionRecord {
    SessionRecord::from_bytes(bytes.to_vec())
}

/// The bytes of a cached hit, `None` for `Absent`/`Unknown`.
pub fn hit_bytes(c: &Cached<SessionRecord>) -> Option<Vec<u8>> {
    match c {
        Cached::Hit(r) => Some(r.as_bytes().to_vec()),
        _ => None,
    }
}

pub fn is_unknown<T>(c: &Cached<T>) -> bool {
    matches!(c, Cached::Unknown)
}

pub fn is_absent<T>(c: &Cached<T>) -> bool {
    matches!(c, Cached::Absent)
}

/// Polls `f` every millisecond until it is true or `within` passes.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A free TCP port (and, for cluster nodes, `port + 10000` free too).
pub fn free_port(with_bus: bool) -> u16 {
    for _ in 0..200 {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        let port = addr.port();
        if with_bus {
            if port > 55_000 {
                continue;
            }
            if TcpListener::bind(("127.0.0.1", port + 10_000)).is_err() {
                continue;
            }
        }
        return port;
    }
    panic!("no free port");
}

/// A `redis-server` process, killed (and waited for) on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// A throwaway server without persistence.
    pub fn start(extra: &[&str]) -> RedisServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let port = free_port(false);
        let mut server = Self::spawn(port, &dir, extra, true);
        server._tmp = Some(tmp);
        server
    }

    /// A server persisting with an append-only file (fsync on every write)
    /// in `dir`.
    pub fn start_persistent(dir: &Path) -> RedisServer {
        let port = free_port(false);
        Self::spawn(
            port,
            dir,
            &["--appendonly", "yes", "--appendfsync", "always"],
            true,
        )
    }

    /// A server on `port` with exactly these arguments (plus port and dir),
    /// not waited for.
    pub fn spawn(port: u16, dir: &Path, extra: &[&str], wait: bool) -> RedisServer {
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--dir".into(),
            dir.display().to_string(),
            "--daemonize".into(),
            "no".into(),
            "--loglevel".into(),
            "warning".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = RedisServer {
            child: None,
            port,
            args,
            dir: dir.to_path_buf(),
            _tmp: None,
        };
        server.launch();
        if wait {
            server.wait_ready();
        }
        server
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("redis-{}.log", self.port)))
            .expect("log file");
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut con) = self
                .client()
                .get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// A plain admin connection.
    pub fn admin(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("admin connection")
    }

    /// Kills the process (SIGKILL: like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, arguments and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
        self.wait_ready();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sum of `calls` in `INFO commandstats`, skipping the commands named.
pub fn command_calls(con: &mut redis::Connection, skip: &[&str]) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(con)
        .expect("info");
    let mut total = 0;
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        if skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        let calls = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        total += calls;
    }
    total
}

/// Whether something listens on `port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(100),
    )
    .is_ok()
}

/// Loads `id` until the store keeps it locally: a load that raced an
/// invalidation (say, of the write just before it) is rightly not kept.
pub async fn load_until_cached(store: &impl portcullis_store::SessionStore, id: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let loaded = store
            .load(id)
            .await
            .expect("load")
            .map(|r| r.as_bytes().to_vec());
        if let Some(bytes) = hit_bytes(&store.cached(id)) {
            assert_eq!(Some(&bytes), loaded.as_ref());
            return bytes;
        }
        assert!(Instant::now() < deadline, "the load was never kept locally");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Looks `keys` up until the store knows each of them locally.
pub async fn markers_until_cached(
    store: &impl portcullis_store::LogoutStore,
    keys: &[String],
) -> Vec<Option<u64>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = store.markers(keys).await.expect("markers");
        if keys.iter().all(|k| !is_unknown(&store.cached_marker(k))) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "the lookup was never kept locally"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A `redis-server --sentinel` process, killed on drop.
pub struct Sentinel {
    child: Child,
    pub port: u16,
}

impl Sentinel {
    /// Starts a sentinel monitoring `master_port` as `name` (quorum 1),
    /// with its config in `dir`.
    pub fn start(dir: &Path, name: &str, master_port: u16) -> Sentinel {
        let port = free_port(false);
        let conf = dir.join(format!("sentinel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {name} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {name} 2000\n\
                 sentinel failover-timeout {name} 10000\n",
                dir = dir.display()
            ),
        )
        .expect("sentinel conf");
        let log = std::fs::File::create(dir.join(format!("sentinel-{port}.log"))).expect("log");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn redis-server --sentinel");
        let sentinel = Sentinel { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if sentinel.master_port(name).is_some() {
                return sentinel;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the sentinel did not start");
    }

    pub fn admin(&self) -> Option<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port))
            .ok()?
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()
    }

    /// The master's port as this sentinel reports it.
    pub fn master_port(&self, name: &str) -> Option<u16> {
        let mut con = self.admin()?;
        let (_, port): (String, String) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(name)
            .query(&mut con)
            .ok()?;
        port.parse().ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
