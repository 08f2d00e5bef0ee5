//! The `basic` example: an axum app configured only by environment variables.
//!
//! ```text
//! ISSUER_BASE_URL=http://localhost:3001 CLIENT_ID=... CLIENT_SECRET=... \
//! BASE_URL=http://localhost:3000 SECRET=$(openssl rand -hex 32) \
//! cargo run --release -p portcullis --example basic
//! ```
//!
//! - `GET /` is public and says whether you are signed in.
//! - `GET /profile` is protected: the user's claims as JSON when signed in; a
//!   302 to login for browsers and a 401 JSON body for API clients otherwise.
//! - `/login`, `/callback` and `/logout` are the middleware's routes, with
//!   `POST /backchannel-logout` and `GET /frontchannel-logout` for logout
//!   started by the OP (back-channel logout works on its own: the logout
//!   markers are kept in memory).
//! - `SESSION_STORE` (`cookie` by default, `memory`, or `redis://…`,
//!   `redis+cluster://…`, `redis+sentinel://…`) and `LOGOUT_STORE`
//!   (`memory` by default, or a Redis URL; with Redis sessions the markers go
//!   to the same Redis) let several replicas share sessions and logouts.
//!
//! - It listens on `HOST` (default `127.0.0.1`) and `PORT` (default 3000),
//!   and prints the URL; a startup error is one readable paragraph on stderr
//!   and the exit status is 1.
//!
//! This contract is stable: other tools (benchmarks, interop scripts) drive it.

use std::io::IsTerminal;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, User, requires_auth};
use serde_json::value::RawValue;

async fn home(user: Option<User>) -> String {
    match user {
        Some(user) => format!("Signed in as {}", user.sub()),
        None => "Signed out".to_owned(),
    }
}

async fn profile(user: User) -> Json<Box<RawValue>> {
    Json(user.raw_claims().to_owned())
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    // Colour only on a terminal: piped or collected logs stay plain text.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .store_opener(Arc::new(portcullis_redis::RedisOpener::default()))
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/profile", get(profile).route_layer(requires_auth()))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "basic example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
