//! # portcullis-core
//!
//! The sans-IO OpenID Connect relying-party engine behind Portcullis. It has no
//! web framework, no sockets and no clock: callers pass data, HTTP responses and
//! the current time in, and get decisions and the HTTP requests to make out.
//!
//! - [`discovery`]: provider metadata, fetched by the adapter and validated here.
//! - [`jose`]: algorithms, JWKS parsing and key selection, JWS verification.
//! - [`id_token`]: ID token validation (OpenID Connect Core §3.1.3.7).
//! - [`logout_token`]: logout token validation (Back-Channel Logout 1.0
//!   §2.6).
//! - [`authorize`], [`pkce`], [`callback`], [`token`], [`userinfo`],
//!   [`end_session`]: the authorization code flow, step by step.
//! - [`client_auth`]: client authentication for every authenticated call
//!   (secrets, `client_secret_jwt`, `private_key_jwt`).
//! - [`par`]: pushed authorization requests (RFC 9126); [`token_exchange`]:
//!   RFC 8693 token exchange.
//! - [`return_to`]: open-redirect-proof `returnTo` handling.
//! - [`access_token`]: bearer tokens for resource servers: the
//!   `Authorization` header (RFC 6750) and JWT access tokens (RFC 9068);
//!   [`introspection`]: opaque tokens through RFC 7662.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access_token;
pub mod authorize;
pub mod callback;
pub mod client_auth;
pub mod config;
pub mod discovery;
pub mod end_session;
pub mod http;
pub mod id_token;
pub mod introspection;
pub mod jose;
pub mod logout_token;
pub mod par;
pub mod pkce;
pub mod quirks;
pub mod random;
pub mod return_to;
pub mod secret;
pub mod token;
pub mod token_binding;
pub mod token_exchange;
pub mod userinfo;

pub use config::{ClientConfig, ResponseMode, TokenEndpointAuthMethod};
pub use http::{HttpRequest, HttpResponse, Method};
pub use secret::Secret;
