//! # portcullis-actix
//!
//! OpenID Connect sign-in for [actix-web](https://actix.rs) 4: one middleware
//! gives an app `/login`, `/callback` and `/logout`, back- and front-channel
//! logout, encrypted cookie or server-side sessions, protected routes, the
//! user's claims and tokens as extractors, and claim guards.
//!
//! It is a thin adapter over the framework-neutral [`portcullis::Engine`],
//! the same engine as the axum layer's: the same routes, rules, defaults,
//! configuration ([`OidcLayerBuilder`](portcullis::OidcLayerBuilder) and the
//! environment) and error pages. Only the translation between actix-web's
//! types and the engine's lives here.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use portcullis_actix::{OidcMiddleware, User, claim_includes, requires_auth};
//!
//! async fn home(user: Option<User>) -> String {
//!     match user {
//!         Some(user) => format!("Signed in as {}", user.sub()),
//!         None => "Signed out".to_owned(),
//!     }
//! }
//!
//! async fn profile(user: User) -> HttpResponse {
//!     HttpResponse::Ok().json(user.claims())
//! }
//!
//! async fn admin(user: User) -> String {
//!     format!("Welcome, administrator {}", user.sub())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET, BASE_URL and SECRET from
//!     // the environment; every route public unless guarded.
//!     let builder = portcullis::OidcLayerBuilder::from_env()?.auth_required(false);
//!     let oidc = OidcMiddleware::from_builder(builder).await?;
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(oidc.clone())
//!             .route("/", web::get().to(home))
//!             .service(web::resource("/profile").wrap(requires_auth()).route(web::get().to(profile)))
//!             .service(
//!                 web::resource("/admin")
//!                     .wrap(claim_includes("groups", ["admin"]))
//!                     .route(web::get().to(admin)),
//!             )
//!     })
//!     .bind(("127.0.0.1", 3000))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! | environment | meaning |
//! | --- | --- |
//! | `ISSUER_BASE_URL` | the OP's issuer (discovery at `/.well-known/openid-configuration`) |
//! | `CLIENT_ID`, `CLIENT_SECRET` | the client registered at the OP |
//! | `BASE_URL` | where the app is reached; the redirect URI is `BASE_URL` + `/callback` |
//! | `SECRET` | cookie key material (comma-separated for rotation, newest first) |
//! | `SESSION_STORE` | `cookie` (default), `memory`, or a Redis URL (with `portcullis-redis`) |
//! | `LOGOUT_STORE` | `memory` (default) or a Redis URL, to share logouts between replicas |
//!
//! - [`OidcMiddleware`]: `App::wrap` it. It serves the built-in routes,
//!   authenticates every request once, and enforces `auth_required`.
//! - Extractors: [`User`] and [`Tokens`] (required; `Option<User>` for
//!   optional), and [`Oidc`] for login, logout, refresh and userinfo from
//!   your handlers.
//! - Guards, as middleware for a resource or scope: [`requires_auth`],
//!   [`claim_equals`], [`claim_includes`], [`claim_check`].
//! - [`Error`]: an engine error as an actix-web error (JSON).
//!
//! Try it offline against the built-in development OP: `portcullis idp`
//! (see the workspace README), and the `actix_basic` example
//! (`cargo run --release -p portcullis-actix --example actix_basic`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod context;
mod convert;
mod error;
mod extract;
pub mod guard;
mod handle;
mod middleware;

pub use error::Error;
pub use extract::{Tokens, User};
pub use guard::{GuardMiddleware, claim_check, claim_equals, claim_includes, requires_auth};
pub use handle::{Oidc, SessionUpdate};
pub use middleware::{OidcFuture, OidcMiddleware, OidcResponse, OidcService};
pub use portcullis::{AccessRule, LoginOptions, LogoutOptions, OidcError, OidcLayerBuilder};

/// The request's headers as `http` 1 headers, for the framework-neutral
/// parts of Portcullis (for example `portcullis::bearer::BearerVerifier`).
pub fn http_headers(request: &actix_web::HttpRequest) -> http::HeaderMap {
    convert::request_headers(request.headers())
}

/// An `http` 1 response (an engine response, or a
/// `portcullis::bearer::BearerError::to_response`) as an actix-web response,
/// every header kept.
pub fn into_response(
    response: http::Response<bytes::Bytes>,
) -> actix_web::HttpResponse<bytes::Bytes> {
    convert::into_actix(response)
}

/// The README's code blocks, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
