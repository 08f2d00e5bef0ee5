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
//! JWT access tokens, userinfo, rotating refresh tokens, RFC 7009 revocation,
//! RP-Initiated Logout, Back-Channel Logout and Front-Channel Logout (OP side),
//! client authentication by secret (`client_secret_basic`, `client_secret_post`),
//! by JWT assertion (`client_secret_jwt`, `private_key_jwt` with the client's
//! registered JWKS; `aud` must be the issuer or the token endpoint, `jti`
//! replays are refused), Pushed Authorization Requests (RFC 9126, optionally
//! required) and the RFC 8693 token exchange grant.
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
//! `end_session_endpoint`, GET and POST), `/revoke`, `/par` (the
//! `pushed_authorization_request_endpoint`) and `/introspect` (RFC 7662,
//! client-authenticated).
//!
//! `POST /dev/end-session` (form or query parameter `sub`) is a **dev-only** extra:
//! it ends every OP session of that user and delivers back-channel logout tokens,
//! without a browser. It is not protected; anyone who can reach the dev OP can call it.
//! It answers JSON (`{"sub", "sessions_ended", "logout_tokens_delivered"}`) when the
//! request accepts `application/json`, and a small HTML page otherwise.
//!
//! ## Behaviour worth knowing
//! - Authorization codes are single-use, live 60 s and are bound to the client,
//!   the `redirect_uri` and the PKCE challenge. Any redemption attempt consumes the code.
//! - With `refresh_tokens` on (the default), every token response carries a refresh
//!   token, whatever the scope. Refresh tokens rotate on every use and live 24 hours.
//! - Access tokens are RS256 JWTs (`typ` `at+jwt`) with `aud` set to the RFC 8707
//!   `resource` (or `audience`) authorization parameter, or else the client id; with
//!   [`DevIdpConfig::with_opaque_access_tokens`] they are opaque strings instead, which
//!   `/introspect`, `/userinfo` and `/revoke` accept.
//! - Token exchange takes an access token this OP issued to the same client
//!   (`subject_token_type` `…:access_token`) and issues one with the requested
//!   `audience` (or `resource`), a scope no wider than the subject token's, an
//!   `act` claim naming the client, and no longer lifetime than the subject's.
//! - A `request_uri` from `/par` lives 60 s and works once, for the client that
//!   pushed it.
//! - The OP's browser session (`devidp.session` cookie) lasts 8 hours; `prompt=login`,
//!   `prompt=select_account` or an exceeded `max_age` ask again.
//! - Logout does not ask for confirmation.
//! - Every ID token and access token carries the OP session's `sid`; each sign-in
//!   (including a new one after logout) starts a new session with a new `sid`.
//! - When an OP session ends (at the `end_session_endpoint`, or through
//!   [`RunningDevIdp::end_sessions_of`] or `POST /dev/end-session`), every client
//!   the session signed into that has a
//!   [back-channel logout URI](DevClient::with_backchannel_logout_uri) receives a
//!   logout token (signed like that client's ID tokens, `typ` `logout+jwt`, with
//!   `iss`, `aud`, `iat`, `exp` = `iat` + 120, `jti`, `sub`, `sid` and `events`).
//!   Deliveries run concurrently, follow no redirects and time out after 5 s; the
//!   end_session response waits for them, and failures are logged, never fatal.
//! - At the `end_session_endpoint`, clients with a
//!   [front-channel logout URI](DevClient::with_frontchannel_logout_uri) get a hidden
//!   `<iframe src="{uri}?iss=...&sid=...">` on the logged-out page, which then moves
//!   on to the `post_logout_redirect_uri` once the iframes have loaded (after 5 s at
//!   most; without JavaScript, through a link). Sessions that merely expire send
//!   nothing.
//! - In-memory maps are capped at 10 000 entries each, and entries expire.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client_auth;
mod config;
mod html;
mod introspect;
mod keys;
mod logout;
mod par;
mod server;
mod store;
mod token_exchange;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
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
    /// The HTTP client for back-channel logout could not be built.
    #[error("cannot build the back-channel logout HTTP client: {0}")]
    HttpClient(String),
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
    router_with_handle(config, issuer).map(|(router, _)| router)
}

/// Same as [`router`], plus a [`DevIdpHandle`] on the same OP (to end sessions or sign
/// test tokens while the router serves).
pub fn router_with_handle(
    config: DevIdpConfig,
    issuer: String,
) -> Result<(axum::Router, DevIdpHandle), DevIdpError> {
    let shared = Arc::new(server::Shared::new(config, issuer.clone())?);
    warn_dev_only(&issuer);
    Ok((
        server::build_router(shared.clone()),
        DevIdpHandle { shared },
    ))
}

/// A cheap, cloneable handle on a dev OP's state: ends OP sessions (with back-channel
/// logout) and signs tokens with the OP's keys. Get one from
/// [`RunningDevIdp::handle`] or [`router_with_handle`].
#[derive(Clone)]
pub struct DevIdpHandle {
    shared: Arc<server::Shared>,
}

impl std::fmt::Debug for DevIdpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdpHandle")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl DevIdpHandle {
    /// The issuer (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Ends every OP session of user `sub` and delivers a back-channel logout token to
    /// each client with a back-channel logout URI that those sessions signed into.
    ///
    /// Waits for the deliveries (each times out after 5 s) and returns how many were
    /// answered with a 2xx status. Failures are logged. The browsers' session cookies
    /// stop working at once; front-channel logout needs a browser, so it does not
    /// happen here.
    pub async fn end_sessions_of(&self, sub: &str) -> usize {
        logout::end_sessions_of(&self.shared, sub).await.delivered
    }

    /// Signs arbitrary `claims` with the OP's RS256 key, under the header
    /// `{"alg":"RS256","typ":"logout+jwt","kid":<the RS256 key's kid>}`.
    ///
    /// For tests that need hostile logout tokens (missing `events`, a `nonce`, a wrong
    /// `aud`...): nothing in `claims` is checked or added.
    ///
    /// # Panics
    /// Only if the crypto backend fails to sign, which no `claims` value can cause.
    pub fn sign_logout_token(&self, claims: serde_json::Value) -> String {
        self.shared
            .keys
            .sign(SigningAlg::RS256, "logout+jwt", &claims)
            .expect("signing with the OP's RS256 key")
    }

    /// Signs `claims` with the OP's key for `key`, under `header` taken verbatim.
    ///
    /// The header's `alg`, `kid` and `typ` are not checked against the key, so tests
    /// can build a header that lies (`"alg": "HS256"`, no `kid`, a foreign `kid`, a
    /// `crit` the RP cannot know...). The signature is always made with `key`'s own
    /// algorithm. [`signing_kid`](Self::signing_kid) gives the honest `kid`.
    pub fn sign_jws(
        &self,
        key: SigningAlg,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> Result<String, DevIdpError> {
        self.shared.keys.sign_with_header(key, &header, &claims)
    }

    /// The `kid` of the OP's key for `alg`, as published in its JWKS.
    pub fn signing_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.shared.keys.kid(alg)
    }

    /// How many refresh grants the token endpoint has received.
    pub fn refresh_grants(&self) -> u64 {
        self.shared
            .refresh_grants
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A dev OP serving in a background task. Dropping it signals a graceful shutdown.
#[derive(Debug)]
pub struct RunningDevIdp {
    issuer: String,
    addr: SocketAddr,
    handle: DevIdpHandle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningDevIdp {
    /// The issuer, e.g. `http://127.0.0.1:3001` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A cloneable handle on this OP's state, usable after the `RunningDevIdp` is moved.
    pub fn handle(&self) -> DevIdpHandle {
        self.handle.clone()
    }

    /// Same as [`DevIdpHandle::end_sessions_of`]: ends every OP session of `sub`,
    /// delivers back-channel logout tokens, and returns how many got a 2xx answer.
    pub async fn end_sessions_of(&self, sub: &str) -> usize {
        self.handle.end_sessions_of(sub).await
    }

    /// Same as [`DevIdpHandle::sign_logout_token`].
    ///
    /// # Panics
    /// Only if the crypto backend fails to sign, which no `claims` value can cause.
    pub fn sign_logout_token(&self, claims: serde_json::Value) -> String {
        self.handle.sign_logout_token(claims)
    }

    /// Same as [`DevIdpHandle::sign_jws`].
    pub fn sign_jws(
        &self,
        key: SigningAlg,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> Result<String, DevIdpError> {
        self.handle.sign_jws(key, header, claims)
    }

    /// Same as [`DevIdpHandle::signing_kid`].
    pub fn signing_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.handle.signing_kid(alg)
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
    let (app, handle) = router_with_handle(config, issuer.clone())?;
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
        handle,
        shutdown: Some(tx),
        task: Some(task),
    })
}
