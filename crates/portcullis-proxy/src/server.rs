//! Listening: hyper 1 connections (HTTP/1.1 with upgrades, and h2), rustls
//! when a certificate is configured, a client header timeout, and graceful
//! shutdown that lets in-flight requests drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::config::TlsFiles;
use crate::gate::{Connection, Gate};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read as PEM.
    #[error("cannot read the certificate chain {path}: {source}")]
    Cert {
        /// The file.
        path: String,
        /// The PEM error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The key file could not be read as PEM.
    #[error("cannot read the private key {path}: {source}")]
    Key {
        /// The file.
        path: String,
        /// The PEM error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate and key.
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// A TLS acceptor for `files`, offering h2 and http/1.1 by ALPN.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: files.cert.display().to_string(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Key {
        path: files.key.display().to_string(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How a listener serves connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS, or plain http.
    pub tls: Option<TlsAcceptor>,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// How long in-flight requests may drain at shutdown.
    pub grace: Duration,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("tls", &self.tls.is_some())
            .field("header_timeout", &self.header_timeout)
            .field("grace", &self.grace)
            .finish()
    }
}

fn builder(header_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves the gate on `listener` until `shutdown` resolves, then stops
/// accepting and waits (at most `grace`) for in-flight requests.
pub async fn serve_gate(
    gate: Arc<Gate>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let tls = options.tls.is_some();
    serve(listener, options, shutdown, move |peer| {
        let gate = gate.clone();
        let conn = Connection { peer, tls };
        service_fn(move |request: hyper::Request<Incoming>| {
            let gate = gate.clone();
            async move { Ok::<_, Infallible>(gate.handle(request, conn).await) }
        })
    })
    .await;
}

/// Serves the operations endpoints (`/healthz`, `/readyz`, `/metrics`).
pub async fn serve_ops(
    engine: Arc<portcullis::Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let options = ServeOptions {
        tls: None,
        header_timeout: Duration::from_secs(10),
        grace: Duration::from_secs(1),
    };
    serve(listener, options, shutdown, move |_peer| {
        let engine = engine.clone();
        service_fn(move |request: hyper::Request<Incoming>| {
            let engine = engine.clone();
            async move { Ok::<_, Infallible>(crate::ops::handle(engine, request).await) }
        })
    })
    .await;
}

async fn serve<S, F>(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: F,
    make_service: impl Fn(SocketAddr) -> S,
) where
    S: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<crate::pages::ProxyBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    F: Future<Output = ()>,
{
    let builder = Arc::new(builder(options.header_timeout));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = make_service(peer);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = options.tls.clone();
        let handshake_timeout = options.header_timeout;
        tokio::spawn(async move {
            match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(error) = watcher.watch(conn).await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(error) = watcher.watch(conn).await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(options.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?options.grace, "in-flight requests did not finish in time");
    }
}
