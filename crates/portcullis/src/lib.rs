//! # portcullis
//!
//! OpenID Connect sign-in for axum and tower services: one layer gives you
//! `/login`, `/callback` and `/logout`, encrypted cookie sessions, protected
//! routes, the user's claims and tokens as extractors, and claim guards.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis::{OidcLayer, User};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET, BASE_URL and SECRET from the environment.
//! let app: Router = Router::new()
//!     .route("/", get(|user: User| async move { format!("Hello {}", user.sub()) }))
//!     .layer(OidcLayer::from_env().await?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod active;
mod clock;
pub mod config;
mod context;
mod engine;
pub mod error;
mod extract;
pub mod guard;
mod handle;
pub mod hooks;
pub mod http_client;
mod layer;
mod provider;
pub mod session;
mod session_cache;
pub mod store;

pub use config::{ConfigError, OidcLayerBuilder, Routes};
pub use error::OidcError;
pub use extract::{AuthRejection, Tokens, User};
pub use guard::{claim_check, claim_equals, claim_includes, requires_auth};
pub use handle::{LoginOptions, LogoutOptions, Oidc, SessionUpdate};
pub use hooks::{AfterCallbackContext, LoginRefused};
pub use layer::{OidcFuture, OidcLayer, OidcService};
pub use portcullis_core::authorize::AuthorizationParams;
pub use portcullis_core::jose::Algorithm;
pub use portcullis_core::{ResponseMode, TokenEndpointAuthMethod};
