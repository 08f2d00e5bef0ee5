//! # portcullis
//!
//! OpenID Connect sign-in for axum and tower: one layer gives an app
//! `/login`, `/callback` and `/logout`, back- and front-channel logout,
//! encrypted cookie or server-side sessions, protected routes, the user's
//! claims and tokens as extractors, and claim guards. Authorization code flow
//! with PKCE S256 and `nonce` always, exact issuer matching, an algorithm
//! allowlist, no open redirects, no tokens in logs or error pages.
//!
//! ## A complete app
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis::{OidcLayerBuilder, User, claim_includes, requires_auth};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), portcullis::Report> {
//!     // Reads ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET, BASE_URL and SECRET;
//!     // discovers the OP and fetches its keys before returning.
//!     let oidc = OidcLayerBuilder::from_env()?
//!         .auth_required(false)
//!         .scope("openid profile email groups") // `groups` for claim_includes below
//!         .build()
//!         .await?;
//!     let app = Router::new()
//!         .route("/", get(|user: Option<User>| async move {
//!             user.map_or("Signed out".to_owned(), |u| format!("Hello {}", u.sub()))
//!         }))
//!         .route("/profile", get(|user: User| async move {
//!             axum::Json(user.claims().clone())
//!         }).route_layer(requires_auth()))
//!         .route("/admin", get(|| async { "admins only" })
//!             .route_layer(claim_includes("groups", ["admin"])))
//!         .layer(oidc);
//!     // HOST (default 127.0.0.1) and PORT (default 3000).
//!     let listener = portcullis::listen::bind_from_env(3000).await?;
//!     println!("listening on http://{}", listener.local_addr()?);
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! Returning [`Report`] from `main` prints a startup error as one readable
//! paragraph that names every missing or invalid setting and the likely fix,
//! and exits with status 1.
//!
//! ## Configuration
//!
//! | environment | builder | default |
//! | --- | --- | --- |
//! | `ISSUER_BASE_URL` | [`issuer_base_url`](OidcLayerBuilder::issuer_base_url) | required; must equal the OP's `issuer` exactly |
//! | `CLIENT_ID` | [`client_id`](OidcLayerBuilder::client_id) | required |
//! | `CLIENT_SECRET` | [`client_secret`](OidcLayerBuilder::client_secret) | none (a public client) |
//! | `BASE_URL` | [`base_url`](OidcLayerBuilder::base_url) | required; the redirect URI is `BASE_URL/callback` |
//! | `SECRET` | [`secret`](OidcLayerBuilder::secret) | required: cookie key material, comma-separated for rotation, newest first |
//! | `AUTH_REQUIRED` | [`auth_required`](OidcLayerBuilder::auth_required) | `true` |
//! | `IDP_LOGOUT` | [`idp_logout`](OidcLayerBuilder::idp_logout) | `false` |
//! | `SCOPE` | [`scope`](OidcLayerBuilder::scope) | `openid profile email` |
//! | `RESPONSE_MODE` | [`response_mode`](OidcLayerBuilder::response_mode) | `query` (or `form_post`) |
//! | `CLIENT_AUTH_METHOD` | [`token_endpoint_auth_method`](OidcLayerBuilder::token_endpoint_auth_method) | `client_secret_basic` (`none` without a secret) |
//! | `FETCH_USERINFO` | [`fetch_userinfo`](OidcLayerBuilder::fetch_userinfo) | `true` |
//! | `REVOKE_ON_LOGOUT` | [`revoke_on_logout`](OidcLayerBuilder::revoke_on_logout) | `false` |
//! | `SESSION_STORE` | [`session_storage`](OidcLayerBuilder::session_storage) | `cookie` (or `memory`, `redis://…` with `portcullis-redis`) |
//! | `LOGOUT_STORE` | [`logout_storage`](OidcLayerBuilder::logout_storage) | `memory`, or `SESSION_STORE`'s Redis |
//! | `HOST`, `PORT` | [`listen::bind_from_env`] | `127.0.0.1`, the port you pass |
//!
//! The builder has more: routes ([`Routes`]), hooks ([`hooks`]), durations,
//! algorithms, allowed `returnTo` origins, and
//! [`error_renderer`](OidcLayerBuilder::error_renderer) for browser error
//! pages in your app's look.
//!
//! ## Try it without an OP of your own
//!
//! The `portcullis` binary (crate `portcullis-cli`) runs a development
//! OpenID Provider: `portcullis idp --port 9400` registers the client `app` /
//! `app-secret` for `http://localhost:3000/callback`, prints its clients and
//! its sample users (alice, an admin with a verified email, and bob), and
//! signs in anyone who clicks a user. Point `ISSUER_BASE_URL` at
//! `http://127.0.0.1:9400`. `portcullis demo` runs that OP and a demo app
//! that shows every step of the sign-in.
//!
//! ## Recipes
//!
//! The repository's `examples/` hold one runnable app per common scenario:
//! `basic`, `require_auth_routes`, `custom_routes`, `access_token` (API calls,
//! refresh, userinfo), `claims_and_hooks`, `custom_session_store`,
//! `okta_style` (custom login page, moved callback, readiness),
//! `tokens_at_callback` and `logout_for_real` (here, at the OP, and
//! back-channel). Each is configured by the variables above.
//!
//! ## Underneath
//!
//! The [`Engine`] is framework-neutral (`http` types in and out, sessions
//! through the async [`store`] traits); the axum adapter (feature `axum`, on
//! by default) is a thin layer over it.
//!
//! ## Observability
//!
//! The engine emits `tracing` spans (`portcullis.route`, `portcullis.refresh`,
//! `portcullis.op_call`). With the `metrics` feature (off by default) it also
//! counts logins, logouts, refreshes, OP calls, JWKS fetches, session-cache
//! lookups and store latency through the `metrics` facade: the module
//! `metrics` lists the series and their labels.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod active;
#[cfg(feature = "axum")]
mod axum;
pub mod bearer;
mod clock;
pub mod config;
mod diagnose;
pub mod engine;
pub mod error;
pub mod hooks;
pub mod http_client;
pub mod listen;
#[cfg(feature = "metrics")]
pub mod metrics;
mod options;
mod provider;
mod report;
pub mod session;
mod session_cache;
pub mod store;
mod telemetry;

pub use active::{ActiveSession, SessionDecodeError};
#[cfg(feature = "axum")]
pub use axum::guard::{self, claim_check, claim_equals, claim_includes, requires_auth};
#[cfg(feature = "axum")]
pub use axum::{
    AccessToken, AuthRejection, Oidc, OidcFuture, OidcLayer, OidcService, SessionUpdate, Tokens,
    User,
};
#[cfg(feature = "axum")]
pub use axum::{BearerAuth, BearerFuture, BearerLayer, BearerService, Principal};
pub use bearer::{BearerError, BearerRequirements, BearerToken, BearerVerifier};
pub use config::{
    ConfigError, DEFAULT_SESSION_CACHE_CAPACITY, LogoutStorage, OidcLayerBuilder, Routes,
    SessionStorage,
};
pub use engine::{AccessRule, Authentication, Engine, EngineResponse, Route};
pub use error::OidcError;
pub use hooks::{AfterCallbackContext, LoginRefused, LogoutTokenInfo};
pub use options::{LoginOptions, LogoutOptions};
pub use portcullis_core::authorize::AuthorizationParams;
pub use portcullis_core::client_auth::{AssertionSigningKey, SigningKeyError};
pub use portcullis_core::jose::Algorithm;
pub use portcullis_core::token_exchange::{ExchangedToken, TokenExchangeParams};
pub use portcullis_core::{ResponseMode, TokenEndpointAuthMethod};
pub use report::Report;

/// The README's code blocks, compiled as doctests so they keep working as pasted.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The migration guides' code blocks, compiled as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/migrating-from-express-openid-connect.md")]
#[doc = include_str!("../../../docs/migrating-from-okta-oidc-middleware.md")]
pub struct MigrationGuideDoctests;
