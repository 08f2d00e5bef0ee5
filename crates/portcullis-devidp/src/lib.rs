//! # portcullis-devidp — a development-only OpenID Provider
//!
//! **Never use this crate in production.** It has no passwords, keeps all state in
//! memory, generates fresh signing keys at every start, and signs anyone in as one of
//! a few sample users. It exists so Portcullis demos, documentation and tests run
//! offline with zero configuration.
//!
//! Within that scope it is a real OpenID Provider: authorization code flow with
//! PKCE S256 (RFC 7636), `query` and `form_post` response modes, the RFC 9207 `iss`
//! authorization response parameter, discovery, a JWKS with RS256, ES256 and EdDSA
//! keys, ID tokens signed with each client's configured algorithm, RFC 9068-style
//! JWT access tokens, userinfo, rotating refresh tokens, RFC 7009 revocation and
//! RP-Initiated Logout.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portcullis_devidp::DevIdpError> {
//! use portcullis_devidp::{DevClient, DevIdpConfig};
//! let config = DevIdpConfig::new().with_client(DevClient::confidential(
//!     "demo",
//!     "demo-secret",
//!     "http://127.0.0.1:3000/callback",
//! ));
//! let idp = portcullis_devidp::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("issuer: {}", idp.issuer());
//! idp.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Endpoints
//! Relative to the issuer: `/.well-known/openid-configuration`, `/jwks`,
//! `/authorize` (GET and POST), `/authorize/approve` and `/authorize/cancel` (the
//! sign-in page's forms), `/token`, `/userinfo` (GET and POST), `/logout` (the
//! `end_session_endpoint`, GET and POST) and `/revoke`.
//!
//! ## Behaviour worth knowing
//! - Authorization codes are single-use, live 60 s and are bound to the client,
//!   the `redirect_uri` and the PKCE challenge. Any redemption attempt consumes the code.
//! - With `refresh_tokens` on (the default), every token response carries a refresh
//!   token, whatever the scope. Refresh tokens rotate on every use and live 24 hours.
//! - Access tokens are RS256 JWTs (`typ` `at+jwt`) with `aud` set to the
//!   `audience` authorization parameter, or else the client id.
//! - The OP's browser session (`devidp.session` cookie) lasts 8 hours; `prompt=login`,
//!   `prompt=select_account` or an exceeded `max_age` ask again.
//! - Logout does not ask for confirmation.
//! - In-memory maps are capped at 10 000 entries each, and entries expire.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod html;
mod keys;
mod server;
mod store;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub use config::{AuthMethod, DevClient, DevIdpConfig, DevUser, SigningAlg};
pub use server::SESSION_COOKIE;

/// Errors from building or starting the dev OP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIdpError {
    /// The issuer is not an absolute http(s) URL without a trailing slash, query or fragment.
    #[error("invalid issuer {0}")]
    InvalidIssuer(String),
    /// The configuration is inconsistent (duplicate ids, a confidential client without a secret...).
    #[error("invalid dev IdP configuration: {0}")]
    InvalidConfig(String),
    /// `auto_approve` names a user that is not configured.
    #[error("auto_approve names unknown user {0:?}")]
    UnknownAutoApproveUser(String),
    /// Key generation or the random generator failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(&'static str),
    /// Signing a token failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// Binding the listening socket failed.
    #[error("cannot bind the dev IdP to {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Namespace for the dev OP's entry points; see [`start`] and [`router`].
#[derive(Debug, Clone, Copy)]
pub struct DevIdp;

impl DevIdp {
    /// Same as [`start`].
    pub async fn start(
        config: DevIdpConfig,
        bind: SocketAddr,
    ) -> Result<RunningDevIdp, DevIdpError> {
        start(config, bind).await
    }

    /// Same as [`router`].
    pub fn router(config: DevIdpConfig, issuer: String) -> Result<axum::Router, DevIdpError> {
        router(config, issuer)
    }
}

fn warn_dev_only(issuer: &str) {
    tracing::warn!(
        %issuer,
        "portcullis-devidp: Development OpenID Provider — not for production. \
         It signs anyone in as a sample user."
    );
}

/// Builds the dev OP's router for embedding under `issuer` (no trailing slash).
///
/// If `issuer` has a path (e.g. `http://127.0.0.1:3000/idp`), nest the router at that
/// path. Signing keys are generated here.
pub fn router(config: DevIdpConfig, issuer: String) -> Result<axum::Router, DevIdpError> {
    let shared = server::Shared::new(config, issuer.clone())?;
    warn_dev_only(&issuer);
    Ok(server::build_router(shared))
}

/// A dev OP serving in a background task. Dropping it signals a graceful shutdown.
#[derive(Debug)]
pub struct RunningDevIdp {
    issuer: String,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningDevIdp {
    /// The issuer, e.g. `http://127.0.0.1:3001` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The bound socket address (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (at most 5 s), and
    /// waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningDevIdp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `bind` (port 0 allowed) and serves the dev OP in a spawned task.
///
/// The issuer is `config.issuer`, or `http://{addr}` with the bound address (an
/// unspecified address such as `0.0.0.0` is shown as the loopback address).
pub async fn start(config: DevIdpConfig, bind: SocketAddr) -> Result<RunningDevIdp, DevIdpError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| DevIdpError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DevIdpError::Bind { addr: bind, source })?;
    let issuer = match &config.issuer {
        Some(issuer) => issuer.clone(),
        None => {
            let mut shown = addr;
            if shown.ip().is_unspecified() {
                shown.set_ip(match shown.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            format!("http://{shown}")
        }
    };
    let app = router(config, issuer.clone())?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "dev IdP server stopped");
        }
    });
    tracing::info!(%issuer, "dev IdP listening on {addr}");
    Ok(RunningDevIdp {
        issuer,
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}
