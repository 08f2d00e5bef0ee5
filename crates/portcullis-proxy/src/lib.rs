//! # portcullis-proxy
//!
//! `portcullis proxy`: the Portcullis engine as a gate in front of any
//! application, as a reverse proxy or as an `auth_request` endpoint
//! (nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`).
//!
//! It reuses the framework-neutral [`portcullis::Engine`] (login, callback,
//! logout, back- and front-channel logout, sessions and stores) and adds
//! only what a gate needs:
//! - [`config`]: options from the environment and a TOML file;
//! - [`path`]: the normalised path the rules see;
//! - [`rules`]: skip-auth and authorization rules;
//! - [`headers`]: identity headers (stripped inbound, set from the session)
//!   and hop-by-hop headers;
//! - [`forwarded`]: `X-Forwarded-*`, believed only from trusted proxies;
//! - [`forward`]: the streaming upstream client with WebSocket pass-through;
//! - [`limit`]: the request-body limit for bodies of any framing;
//! - [`gate`]: one request in, one response out;
//! - [`server`]: hyper 1 listeners, TLS, graceful shutdown;
//! - [`ops`] and [`metrics`]: health, readiness and Prometheus metrics.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod forward;
pub mod forwarded;
pub mod gate;
pub mod headers;
pub mod limit;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod path;
pub mod rules;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis::OidcLayerBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{ConfigError, ProxyConfig, Source};
pub use gate::Gate;

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine could not start (discovery, stores, settings).
    #[error(transparent)]
    Engine(#[from] portcullis::ConfigError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] server::TlsError),
    /// The upstream URL could not be used.
    #[error("invalid value for UPSTREAM: {0}")]
    Upstream(String),
    /// The metrics recorder could not be installed.
    #[error("metrics could not be enabled: {0}")]
    Metrics(String),
}

/// A running gate.
#[derive(Debug)]
pub struct RunningProxy {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    gate: Arc<Gate>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningProxy {
    /// The gate's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operations listener's address (health, readiness, metrics).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The gate.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Stops accepting, lets in-flight requests drain (up to
    /// `SHUTDOWN_GRACE`), and returns when every listener is done.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until `signal` resolves, then [`shutdown`](Self::shutdown)s.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

/// Starts the gate: builds the engine (discovery, stores), binds the
/// listeners, and serves.
pub async fn start(
    config: ProxyConfig,
    builder: OidcLayerBuilder,
) -> Result<RunningProxy, StartError> {
    // The recorder first, so the engine's start-up (discovery, the first
    // JWKS fetch) is counted too.
    if config.metrics_listen.is_some() {
        metrics::install().map_err(StartError::Metrics)?;
    }
    let engine = Arc::new(builder.build_engine().await?);
    let config = Arc::new(config);
    let tls = match &config.tls {
        Some(files) => Some(server::tls_acceptor(files)?),
        None => None,
    };
    let gate = Arc::new(Gate::new(engine.clone(), config.clone()).map_err(StartError::Upstream)?);
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let listener = bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let signal = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut tasks = Vec::new();
    let mut metrics_addr = None;
    if let Some(ops_addr) = config.metrics_listen {
        let ops = bind(ops_addr).await?;
        metrics_addr = ops.local_addr().ok();
        tasks.push(tokio::spawn(server::serve_ops(
            engine.clone(),
            ops,
            signal(stopped.clone()),
        )));
    }
    let options = server::ServeOptions {
        tls,
        header_timeout: config.client_header_timeout,
        grace: config.shutdown_grace,
    };
    tasks.push(tokio::spawn(server::serve_gate(
        gate.clone(),
        listener,
        options,
        signal(stopped),
    )));
    tracing::info!(%addr, upstream = %config.upstream, "portcullis proxy listening");
    Ok(RunningProxy {
        addr,
        metrics_addr,
        gate,
        stop,
        tasks,
    })
}
