//! Command connections (single node, cluster, sentinel) and the pub/sub
//! connections of the subscriber.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, Pipeline, RedisError, RedisFuture,
    RedisResult, TlsCertificates, TlsMode, Value,
};

use crate::config::{NodeSettings, RedisConfigError, RedisOptions, Target};

/// A connection that commands can be sent on.
#[derive(Clone)]
pub(crate) enum Live {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Live {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Live::Manager(c) => c.req_packed_command(cmd),
            Live::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Live::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Live::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Live::Manager(c) => c.get_db(),
            Live::Cluster(c) => c.get_db(),
        }
    }
}

/// The master found through Sentinel, re-resolved after a failure.
pub(crate) struct SentinelConn {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<(ConnectionAddr, ConnectionManager)>>,
    config: ConnectionManagerConfig,
}

impl SentinelConn {
    async fn live(&self) -> RedisResult<ConnectionManager> {
        if let Some((_, manager)) = self.current_manager() {
            return Ok(manager);
        }
        let mut client = self.client.lock().await;
        if let Some((_, manager)) = self.current_manager() {
            return Ok(manager);
        }
        let master = client.async_get_client().await?;
        let addr = master.get_connection_info().addr().clone();
        let manager = ConnectionManager::new_lazy_with_config(master, self.config.clone())?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((addr, manager.clone()));
        Ok(manager)
    }

    fn current_manager(&self) -> Option<(ConnectionAddr, ConnectionManager)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forget the master: the next command asks the sentinels again.
    pub(crate) fn reset(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The master as the sentinels report it now. Commands that still go
    /// elsewhere are moved (closing the race where a resolution that began
    /// before a failover stored the old master after a reset).
    pub(crate) async fn resolve_master(&self) -> RedisResult<Client> {
        let master = self.client.lock().await.async_get_client().await?;
        let addr = master.get_connection_info().addr();
        if self
            .current_manager()
            .is_some_and(|(current, _)| &current != addr)
        {
            self.reset();
        }
        Ok(master)
    }
}

/// Where commands go.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelConn>),
}

impl Conn {
    pub(crate) async fn live(&self) -> RedisResult<Live> {
        match self {
            Conn::Single(m) => Ok(Live::Manager(m.clone())),
            Conn::Cluster(c) => Ok(Live::Cluster(c.clone())),
            Conn::Sentinel(s) => Ok(Live::Manager(s.live().await?)),
        }
    }

    /// Called with every command error: after a failover the old master
    /// refuses writes (`READONLY`) or is gone, so ask the sentinels again.
    pub(crate) fn failed(&self, err: &RedisError) {
        if let Conn::Sentinel(s) = self
            && (is_connection_error(err) || err.code() == Some("READONLY"))
        {
            s.reset();
        }
    }
}

/// Errors after which a retry on a fresh connection may succeed.
pub(crate) fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
        || err.code() == Some("READONLY")
        || err.kind() == ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
}

/// How the subscriber opens its pub/sub connections.
#[derive(Clone)]
pub(crate) enum PubSource {
    Single(Client),
    Cluster {
        conn: ClusterConnection,
        template: ConnectionInfo,
        settings: NodeSettings,
        certs: Option<Vec<u8>>,
    },
    Sentinel(Arc<SentinelConn>),
}

impl PubSource {
    /// The nodes to subscribe on, with a fingerprint of the topology: every
    /// master of a cluster (each delivers the messages its own scripts
    /// publish, so no message depends on the cluster bus), or the one master.
    pub(crate) async fn targets(&self) -> RedisResult<(Vec<Client>, Vec<String>)> {
        match self {
            PubSource::Single(client) => Ok((vec![client.clone()], Vec::new())),
            PubSource::Sentinel(s) => {
                let master = s.resolve_master().await?;
                let print = vec![addr_string(master.get_connection_info().addr())];
                Ok((vec![master], print))
            }
            PubSource::Cluster {
                conn,
                template,
                settings,
                certs,
            } => {
                let masters = cluster_masters(&mut conn.clone()).await?;
                let print = masters.iter().map(|(h, p)| format!("{h}:{p}")).collect();
                let clients = masters
                    .into_iter()
                    .map(|(host, port)| {
                        let info = settings.node_addr(template, host, port);
                        client_for(info, certs.as_deref())
                    })
                    .collect::<RedisResult<Vec<_>>>()?;
                Ok((clients, print))
            }
        }
    }

    /// The current topology fingerprint (see [`PubSource::targets`]). A
    /// change means the subscriber must resubscribe and resynchronise.
    pub(crate) async fn fingerprint(&self) -> RedisResult<Vec<String>> {
        match self {
            PubSource::Single(_) => Ok(Vec::new()),
            PubSource::Sentinel(s) => {
                let master = s.resolve_master().await?;
                Ok(vec![addr_string(master.get_connection_info().addr())])
            }
            PubSource::Cluster { conn, .. } => Ok(cluster_masters(&mut conn.clone())
                .await?
                .into_iter()
                .map(|(h, p)| format!("{h}:{p}"))
                .collect()),
        }
    }

    /// Every how many heartbeats the topology is rechecked, if it can change
    /// under a running subscription: the sentinel master every other
    /// heartbeat (a cheap `SENTINEL get-master-addr-by-name`; commands follow
    /// a failover within about half a second), the cluster masters every
    /// eighth (`CLUSTER SLOTS`; a master that fails is noticed sooner by its
    /// dropped connection).
    pub(crate) fn topology_check_every(&self) -> Option<u32> {
        match self {
            PubSource::Single(_) => None,
            PubSource::Sentinel(_) => Some(2),
            PubSource::Cluster { .. } => Some(8),
        }
    }

    /// The topology changed: make the command connection follow it.
    pub(crate) fn topology_changed(&self) {
        if let PubSource::Sentinel(s) = self {
            s.reset();
        }
    }
}

/// Opens a pub/sub connection to `client` and subscribes to `channel`.
pub(crate) async fn subscribe(client: &Client, channel: &str) -> RedisResult<PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

pub(crate) fn addr_string(addr: &ConnectionAddr) -> String {
    match addr {
        ConnectionAddr::Tcp(h, p)
        | ConnectionAddr::TcpTls {
            host: h, port: p, ..
        } => {
            format!("{h}:{p}")
        }
        ConnectionAddr::Unix(p) => p.display().to_string(),
        _ => String::from("?"),
    }
}

/// The master addresses, from `CLUSTER SLOTS`.
async fn cluster_masters(conn: &mut ClusterConnection) -> RedisResult<BTreeSet<(String, u16)>> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let value = conn
        .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
        .await?;
    let bad = || RedisError::from((ErrorKind::Parse, "unexpected CLUSTER SLOTS answer"));
    let Value::Array(ranges) = value else {
        return Err(bad());
    };
    let mut masters = BTreeSet::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(bad());
        };
        let Some(Value::Array(master)) = fields.get(2) else {
            return Err(bad());
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8(b.clone()).map_err(|_| bad())?,
            Some(Value::SimpleString(s)) => s.clone(),
            _ => return Err(bad()),
        };
        let port = match master.get(1) {
            Some(Value::Int(p)) => u16::try_from(*p).map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        masters.insert((host, port));
    }
    if masters.is_empty() {
        return Err(RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
            "the cluster reports no slots",
        )));
    }
    Ok(masters)
}

fn certificates(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

fn client_for(info: ConnectionInfo, certs: Option<&[u8]>) -> RedisResult<Client> {
    let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    match certs {
        Some(pem) if tls => Client::build_with_tls(info, certificates(pem)),
        _ => Client::open(info),
    }
}

/// Reconnection is tried once more after a failed attempt (every store call
/// retries once itself): with Redis down a call fails in well under the
/// command timeout instead of waiting out a long backoff.
fn manager_config(options: &RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.command_timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(25))
        .set_max_delay(Duration::from_millis(200))
}

/// Makes sure rustls has a crypto provider before the first TLS handshake
/// (rustls panics without one when several are compiled in).
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Builds the command connection and the pub/sub source for `target`, and
/// checks that Redis answers.
pub(crate) async fn open(
    target: &Target,
    options: &RedisOptions,
) -> Result<(Conn, PubSource), RedisConfigError> {
    if target.uses_tls() {
        ensure_crypto_provider();
    }
    let certs = options.tls_root_certificates.as_deref();
    let client_err = |source| RedisConfigError::Client { source };
    let (conn, source) = match target {
        Target::Single { info, .. } => {
            let client = client_for(info.clone(), certs).map_err(client_err)?;
            let manager =
                ConnectionManager::new_lazy_with_config(client.clone(), manager_config(options))
                    .map_err(client_err)?;
            (Conn::Single(manager), PubSource::Single(client))
        }
        Target::Cluster { seeds, settings } => {
            let mut builder = ClusterClientBuilder::new(seeds.clone())
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.command_timeout)
                .retries(2)
                .min_retry_wait(50)
                .max_retry_wait(500);
            if settings.tls {
                builder = builder.tls(TlsMode::Secure);
                if let Some(pem) = certs {
                    builder = builder.certs(certificates(pem));
                }
            }
            let client = builder.build().map_err(client_err)?;
            let conn = with_timeout(options.connect_timeout, client.get_async_connection()).await?;
            let template = seeds
                .first()
                .cloned()
                .ok_or_else(|| RedisConfigError::InvalidUrl {
                    reason: "no cluster node".into(),
                })?;
            (
                Conn::Cluster(conn.clone()),
                PubSource::Cluster {
                    conn,
                    template,
                    settings: settings.clone(),
                    certs: certs.map(<[u8]>::to_vec),
                },
            )
        }
        Target::Sentinel {
            sentinels,
            master,
            db,
            settings,
            data_username,
            data_password,
            sentinel_username,
            sentinel_password,
        } => {
            let addrs = sentinels.iter().map(|s| s.addr().clone());
            let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
                .map_err(client_err)?
                .set_client_to_redis_db(*db);
            if let Some(u) = data_username {
                builder = builder.set_client_to_redis_username(u);
            }
            if let Some(p) = data_password {
                builder = builder.set_client_to_redis_password(p);
            }
            if let Some(u) = sentinel_username {
                builder = builder.set_client_to_sentinel_username(u);
            }
            if let Some(p) = sentinel_password {
                builder = builder.set_client_to_sentinel_password(p);
            }
            if settings.tls {
                builder = builder
                    .set_client_to_redis_tls_mode(TlsMode::Secure)
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                if let Some(pem) = certs {
                    builder = builder
                        .set_client_to_redis_certificates(certificates(pem))
                        .set_client_to_sentinel_certificates(certificates(pem));
                }
            }
            let client = builder.build().map_err(client_err)?;
            let sentinel = Arc::new(SentinelConn {
                client: tokio::sync::Mutex::new(client),
                current: Mutex::new(None),
                config: manager_config(options),
            });
            (
                Conn::Sentinel(sentinel.clone()),
                PubSource::Sentinel(sentinel),
            )
        }
    };
    // Redis must answer now: a wrong URL is a startup error, not a 503 later.
    let ping = async {
        let mut live = conn.live().await?;
        redis::cmd("PING").query_async::<()>(&mut live).await
    };
    with_timeout(options.connect_timeout, ping).await?;
    Ok((conn, source))
}

async fn with_timeout<T>(
    timeout: Duration,
    fut: impl Future<Output = RedisResult<T>>,
) -> Result<T, RedisConfigError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(RedisConfigError::Connect { source }),
        Err(_) => Err(RedisConfigError::ConnectTimeout { timeout }),
    }
}
