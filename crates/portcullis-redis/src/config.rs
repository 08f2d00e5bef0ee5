//! The store URL, the options and the configuration error.

use std::fmt;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "portcullis:";

/// Default [`RedisOptions::connect_timeout`]: 2 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default [`RedisOptions::command_timeout`]: 1 second.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Default [`RedisOptions::local_session_capacity`]: 10 000 sessions.
pub const DEFAULT_LOCAL_SESSION_CAPACITY: u64 = 10_000;

/// Default [`RedisOptions::local_marker_capacity`]: 100 000 markers.
pub const DEFAULT_LOCAL_MARKER_CAPACITY: u64 = 100_000;

const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Options of [`RedisStores::connect`](crate::RedisStores::connect). The
/// defaults suit most deployments; every setter returns the options.
///
/// ```
/// use std::time::Duration;
/// use portcullis_redis::RedisOptions;
///
/// let options = RedisOptions::default()
///     .key_prefix("myapp:auth:")
///     .command_timeout(Duration::from_millis(500));
/// assert_eq!(options.get_key_prefix(), "myapp:auth:");
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    pub(crate) key_prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) local_session_capacity: u64,
    pub(crate) local_marker_capacity: u64,
    pub(crate) tls_root_certificates: Option<Vec<u8>>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            local_session_capacity: DEFAULT_LOCAL_SESSION_CAPACITY,
            local_marker_capacity: DEFAULT_LOCAL_MARKER_CAPACITY,
            tls_root_certificates: None,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("local_session_capacity", &self.local_session_capacity)
            .field("local_marker_capacity", &self.local_marker_capacity)
            .field(
                "tls_root_certificates",
                &self.tls_root_certificates.as_ref().map(|_| "set"),
            )
            .finish()
    }
}

impl RedisOptions {
    /// The prefix of every key and of the invalidation channel (default
    /// `portcullis:`). Give applications that share a Redis different
    /// prefixes. Sessions live under `{prefix}s:{id}`, logout markers under
    /// `{prefix}m:{key}`, used logout-token ids under `{prefix}j:{key}`, and
    /// invalidations go to the channel `{prefix}invalidate` (for database 0;
    /// `{prefix}invalidate@{db}` for another, since channels are shared by
    /// all databases of a server).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long connecting (and each reconnection attempt) may take (default
    /// 2 s). [`RedisStores::connect`](crate::RedisStores::connect) fails when
    /// Redis does not answer within it.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest a store call waits for Redis (default 1 s), reconnection
    /// included. After it the call fails with
    /// [`StoreError::Unavailable`](portcullis_store::StoreError::Unavailable).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How many sessions the replica-local cache holds (default 10 000; the
    /// least used go first). `0` turns the local session cache off: every
    /// request then loads its session from Redis.
    pub fn local_session_capacity(mut self, capacity: u64) -> Self {
        self.local_session_capacity = capacity;
        self
    }

    /// How many logout markers (and known absences of markers) the
    /// replica-local cache holds (default 100 000). `0` turns it off.
    pub fn local_marker_capacity(mut self, capacity: u64) -> Self {
        self.local_marker_capacity = capacity;
        self
    }

    /// Trust these PEM root certificates for `rediss://` instead of the
    /// system's (for a Redis with a private CA). Without it the system roots
    /// are used (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured).
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificates = Some(pem.into());
        self
    }

    /// The key prefix.
    pub fn get_key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The connect timeout.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The command timeout.
    pub fn get_command_timeout(&self) -> Duration {
        self.command_timeout
    }

    pub(crate) fn validate(&self) -> Result<(), RedisConfigError> {
        if self
            .key_prefix
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(RedisConfigError::InvalidOption {
                reason: "the key prefix must not contain whitespace or control characters".into(),
            });
        }
        if self.command_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(RedisConfigError::InvalidOption {
                reason: "timeouts must be greater than zero".into(),
            });
        }
        Ok(())
    }
}

/// Why [`RedisStores::connect`](crate::RedisStores::connect) failed. Never
/// contains the password of the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL is not one of the documented forms.
    #[error("invalid Redis store URL: {reason}")]
    InvalidUrl {
        /// What is wrong (the URL itself is not repeated: it may hold a password).
        reason: String,
    },
    /// An option is out of range.
    #[error("invalid Redis store option: {reason}")]
    InvalidOption {
        /// What is wrong.
        reason: String,
    },
    /// The Redis client could not be built from the URL and options (for
    /// example unreadable TLS root certificates).
    #[error("could not set up the Redis client")]
    Client {
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis did not answer within the connect timeout.
    #[error("Redis did not answer within {timeout:?}")]
    ConnectTimeout {
        /// The connect timeout.
        timeout: Duration,
    },
    /// Connecting to Redis failed.
    #[error("could not connect to Redis")]
    Connect {
        /// The connection error.
        #[source]
        source: redis::RedisError,
    },
    /// [`RedisStores::connect`](crate::RedisStores::connect) was called
    /// outside a Tokio runtime (the stores run a background task).
    #[error("the Redis stores need a Tokio runtime")]
    NoRuntime,
}

/// Credentials and transport shared by every node of a multi-host URL.
#[derive(Clone)]
pub(crate) struct NodeSettings {
    pub(crate) tls: bool,
    /// Still percent-encoded, as in the URL (`user:pass@`), or empty.
    pub(crate) userinfo: String,
}

impl NodeSettings {
    /// The single-node URL of `host` (`host:port`, IPv6 in brackets).
    pub(crate) fn node_url(&self, host: &str, db: i64) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}{host}/{db}", self.userinfo)
    }

    /// The connection info of one node.
    pub(crate) fn node_info(
        &self,
        host: &str,
        db: i64,
    ) -> Result<ConnectionInfo, RedisConfigError> {
        self.node_url(host, db)
            .into_connection_info()
            .map_err(|_| invalid(format!("the host `{}` is not valid", redact_host(host))))
    }

    /// The connection info of a node reported by the cluster itself.
    pub(crate) fn node_addr(
        &self,
        template: &ConnectionInfo,
        host: String,
        port: u16,
    ) -> ConnectionInfo {
        let addr = if self.tls {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        template.clone().set_addr(addr)
    }
}

/// Where the stores connect, parsed from the URL.
#[derive(Clone)]
pub(crate) enum Target {
    /// One Redis (`redis://`, `rediss://`, `redis+unix://`, `unix://`).
    Single { info: ConnectionInfo, tls: bool },
    /// A Redis Cluster, from its seed nodes.
    Cluster {
        seeds: Vec<ConnectionInfo>,
        settings: NodeSettings,
    },
    /// A master found through Redis Sentinel.
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master: String,
        db: i64,
        settings: NodeSettings,
        data_username: Option<String>,
        data_password: Option<String>,
        sentinel_username: Option<String>,
        sentinel_password: Option<String>,
    },
}

impl Target {
    /// The database the keys live in (pub/sub channels are shared by all
    /// databases, so the channel name carries it).
    pub(crate) fn db(&self) -> i64 {
        match self {
            Target::Single { info, .. } => info.redis_settings().db(),
            Target::Cluster { .. } => 0,
            Target::Sentinel { db, .. } => *db,
        }
    }

    pub(crate) fn uses_tls(&self) -> bool {
        match self {
            Target::Single { tls, .. } => *tls,
            Target::Cluster { settings, .. } | Target::Sentinel { settings, .. } => settings.tls,
        }
    }
}

fn invalid(reason: impl Into<String>) -> RedisConfigError {
    RedisConfigError::InvalidUrl {
        reason: reason.into(),
    }
}

/// A host for an error message: at most 64 characters, no `@`.
fn redact_host(host: &str) -> String {
    host.chars().filter(|c| *c != '@').take(64).collect()
}

/// Parses a store URL. See the crate documentation for the forms.
pub(crate) fn parse_url(url: &str) -> Result<Target, RedisConfigError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "expected `redis://…`, `rediss://…`, `redis+cluster://…` or `redis+sentinel://…`",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys" | "valkey+unix" => {
            let info = url
                .into_connection_info()
                .map_err(|_| invalid("the URL could not be parsed"))?;
            let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
            Ok(Target::Single { info, tls })
        }
        "redis+cluster" | "rediss+cluster" => {
            let parts = split_multi(rest)?;
            if !parts.query.is_empty() {
                return Err(invalid(format!(
                    "unknown query parameter `{}` in a cluster URL",
                    parts.query[0].0
                )));
            }
            match parts.path.as_slice() {
                [] => {}
                [db] if db == "0" => {}
                _ => {
                    return Err(invalid(
                        "a cluster URL has no path (Redis Cluster has only database 0)",
                    ));
                }
            }
            let settings = NodeSettings {
                tls: scheme.starts_with("rediss"),
                userinfo: parts.userinfo,
            };
            let seeds = parts
                .hosts
                .iter()
                .map(|h| settings.node_info(&with_port(h, DEFAULT_PORT), 0))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Target::Cluster { seeds, settings })
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let parts = split_multi(rest)?;
            let (master, db) = match parts.path.as_slice() {
                [master] => (master.clone(), 0),
                [master, db] => {
                    let db = db
                        .parse::<i64>()
                        .ok()
                        .filter(|db| *db >= 0)
                        .ok_or_else(|| invalid("the database must be a number"))?;
                    (master.clone(), db)
                }
                _ => {
                    return Err(invalid(
                        "a sentinel URL needs the master name as its path: `redis+sentinel://host:26379/mymaster[/db]`",
                    ));
                }
            };
            if master.is_empty() {
                return Err(invalid("the sentinel master name is empty"));
            }
            let mut sentinel_username = None;
            let mut sentinel_password = None;
            for (name, value) in parts.query {
                match name.as_str() {
                    "sentinel_username" => sentinel_username = Some(value),
                    "sentinel_password" => sentinel_password = Some(value),
                    other => {
                        return Err(invalid(format!(
                            "unknown query parameter `{}` in a sentinel URL (known: sentinel_username, sentinel_password)",
                            redact_host(other)
                        )));
                    }
                }
            }
            let settings = NodeSettings {
                tls: scheme.starts_with("rediss"),
                userinfo: parts.userinfo,
            };
            // The data-node credentials, decoded by the client's own parser.
            let probe = settings.node_info("localhost", 0)?;
            let data_username = probe.redis_settings().username().map(str::to_owned);
            let data_password = probe.redis_settings().password().map(str::to_owned);
            // The sentinels themselves get only the sentinel credentials.
            let sentinel_settings = NodeSettings {
                tls: settings.tls,
                userinfo: String::new(),
            };
            let sentinels = parts
                .hosts
                .iter()
                .map(|h| sentinel_settings.node_info(&with_port(h, DEFAULT_SENTINEL_PORT), 0))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Target::Sentinel {
                sentinels,
                master,
                db,
                settings,
                data_username,
                data_password,
                sentinel_username,
                sentinel_password,
            })
        }
        _ => Err(invalid(format!(
            "unknown scheme `{}` (expected redis, rediss, redis+cluster, rediss+cluster, redis+sentinel or rediss+sentinel)",
            redact_host(&scheme)
        ))),
    }
}

struct MultiParts {
    userinfo: String,
    hosts: Vec<String>,
    path: Vec<String>,
    query: Vec<(String, String)>,
}

/// Splits `[userinfo@]host[:port][,host[:port]…][/path…][?query]`.
fn split_multi(rest: &str) -> Result<MultiParts, RedisConfigError> {
    if rest.contains('#') {
        return Err(invalid("fragments are not supported in multi-host URLs"));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (format!("{}@", &authority[..i]), &authority[i + 1..]),
        None => (String::new(), authority),
    };
    let hosts: Vec<String> = hosts.split(',').map(str::trim).map(str::to_owned).collect();
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(invalid("empty host in the host list"));
    }
    for host in &hosts {
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '?')
        {
            return Err(invalid(format!(
                "the host `{}` is not valid",
                redact_host(host)
            )));
        }
    }
    let path = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).ok_or_else(|| invalid("bad percent-encoding in the path")))
        .collect::<Result<Vec<_>, _>>()?;
    let query = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (percent_decode(name), percent_decode(value)) {
                (Some(n), Some(v)) => Ok((n, v)),
                _ => Err(invalid("bad percent-encoding in the query")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MultiParts {
        userinfo,
        hosts,
        path,
        query,
    })
}

/// `host` with `:default` appended when it has no port.
fn with_port(host: &str, default: u16) -> String {
    let has_port = match host.rfind(']') {
        // IPv6 literal: a port follows the bracket.
        Some(i) => host[i..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:{default}")
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(info: &ConnectionInfo) -> String {
        match info.addr() {
            ConnectionAddr::Tcp(h, p) => format!("{h}:{p}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("tls:{host}:{port}"),
            ConnectionAddr::Unix(p) => format!("unix:{}", p.display()),
            _ => "other".into(),
        }
    }

    #[test]
    fn a_single_node_url_keeps_host_port_and_database() {
        let Target::Single { info, tls } = parse_url("redis://127.0.0.1:6380/3").expect("url")
        else {
            panic!("not single");
        };
        assert!(!tls);
        assert_eq!(addr(&info), "127.0.0.1:6380");
        assert_eq!(info.redis_settings().db(), 3);
    }

    #[test]
    fn rediss_selects_tls() {
        let target = parse_url("rediss://cache.example:6380").expect("url");
        assert!(target.uses_tls());
    }

    #[test]
    fn a_cluster_url_lists_its_seeds_with_default_ports_and_shared_credentials() {
        let Target::Cluster { seeds, settings } =
            parse_url("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002").expect("url")
        else {
            panic!("not cluster");
        };
        let addrs: Vec<String> = seeds.iter().map(addr).collect();
        assert_eq!(addrs, ["10.0.0.1:7000", "10.0.0.2:6379", "::1:7002"]);
        assert!(!settings.tls);
        for seed in &seeds {
            assert_eq!(seed.redis_settings().username(), Some("u"));
            assert_eq!(seed.redis_settings().password(), Some("p@ss"));
        }
    }

    #[test]
    fn a_cluster_url_rejects_a_database_and_unknown_parameters() {
        assert!(parse_url("redis+cluster://a:1,b:2/3").is_err());
        assert!(parse_url("redis+cluster://a:1,b:2?foo=bar").is_err());
        assert!(parse_url("redis+cluster://a:1,,b:2").is_err());
        assert!(parse_url("redis+cluster://a:1,b:2/0").is_ok());
    }

    #[test]
    fn a_sentinel_url_names_its_master_and_database() {
        let Target::Sentinel {
            sentinels,
            master,
            db,
            data_password,
            sentinel_password,
            ..
        } = parse_url("redis+sentinel://:secret@s1,s2:26380/mymaster/2?sentinel_password=sp")
            .expect("url")
        else {
            panic!("not sentinel");
        };
        let addrs: Vec<String> = sentinels.iter().map(addr).collect();
        assert_eq!(addrs, ["s1:26379", "s2:26380"]);
        assert_eq!(master, "mymaster");
        assert_eq!(db, 2);
        assert_eq!(data_password.as_deref(), Some("secret"));
        assert_eq!(sentinel_password.as_deref(), Some("sp"));
        // The sentinels do not get the data-node password.
        assert_eq!(sentinels[0].redis_settings().password(), None);
    }

    #[test]
    fn a_sentinel_url_needs_a_master_name() {
        assert!(parse_url("redis+sentinel://s1:26379").is_err());
        assert!(parse_url("redis+sentinel://s1:26379/m/x").is_err());
        assert!(parse_url("redis+sentinel://s1:26379/m/1/2").is_err());
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for url in [
            "redis+cluster://user:hunter2@a b:1",
            "redis+sentinel://user:hunter2@s1/m?nope=1",
            "redis://user:hunter2@[::1",
            "memcached://user:hunter2@x",
            "hunter2",
        ] {
            let message = match parse_url(url) {
                Err(e) => e.to_string(),
                Ok(_) => continue,
            };
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn unknown_schemes_are_rejected() {
        assert!(parse_url("memcached://x").is_err());
        assert!(parse_url("localhost:6379").is_err());
    }
}
