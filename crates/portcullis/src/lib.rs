//! # portcullis
//!
//! OpenID Connect sign-in for Rust web services: one layer gives an axum app
//! `/login`, `/callback` and `/logout`, back- and front-channel logout,
//! encrypted cookie or server-side sessions, protected routes, the user's
//! claims and tokens as extractors, and claim guards.
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
//!
//! The [`Engine`] underneath is framework-neutral (`http` types in and out,
//! sessions through the async [`store`] traits); the axum adapter (feature
//! `axum`, on by default) is a thin layer over it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod active;
#[cfg(feature = "axum")]
mod axum;
pub mod bearer;
mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod hooks;
pub mod http_client;
mod options;
mod provider;
pub mod session;
mod session_cache;
pub mod store;

pub use active::{ActiveSession, SessionDecodeError};
#[cfg(feature = "axum")]
pub use axum::guard::{self, claim_check, claim_equals, claim_includes, requires_auth};
#[cfg(feature = "axum")]
pub use axum::{
    AuthRejection, Oidc, OidcFuture, OidcLayer, OidcService, SessionUpdate, Tokens, User,
};
#[cfg(feature = "axum")]
pub use axum::{BearerAuth, BearerFuture, BearerLayer, BearerService, Principal};
pub use bearer::{BearerError, BearerRequirements, BearerToken, BearerVerifier};
pub use config::{ConfigError, LogoutStorage, OidcLayerBuilder, Routes, SessionStorage};
pub use engine::{Authentication, Engine, EngineResponse, Route};
pub use error::OidcError;
pub use hooks::{AfterCallbackContext, LoginRefused, LogoutTokenInfo};
pub use options::{LoginOptions, LogoutOptions};
pub use portcullis_core::authorize::AuthorizationParams;
pub use portcullis_core::jose::Algorithm;
pub use portcullis_core::{ResponseMode, TokenEndpointAuthMethod};
