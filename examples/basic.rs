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
//! - `GET /api/me` accepts a signed-in session or `Authorization: Bearer
//!   <token>`: `200 {"sub", "via": "bearer" | "session", "scope"}`. Bearer
//!   tokens are JWT access tokens from `ISSUER_BASE_URL` for the audience
//!   `API_AUDIENCE`, carrying `API_SCOPE` when it is set; without
//!   `API_AUDIENCE`, bearer tokens are not accepted. Refusals follow RFC 6750
//!   (401 with a `Bearer` challenge, 401 `invalid_token`, 403
//!   `insufficient_scope`); a browser without credentials is redirected to
//!   login, as on `/profile`.
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
use portcullis::bearer::BearerVerifierBuilder;
use portcullis::{BearerLayer, OidcLayerBuilder, Principal, User, requires_auth};
use serde_json::value::RawValue;
use serde_json::{Value, json};

async fn home(user: Option<User>) -> String {
    match user {
        Some(user) => format!("Signed in as {}", user.sub()),
        None => "Signed out".to_owned(),
    }
}

async fn profile(user: User) -> Json<Box<RawValue>> {
    Json(user.raw_claims().to_owned())
}

async fn api_me(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.sub(),
        "via": principal.via(),
        "scope": principal.scope(),
    }))
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
    // Bearer tokens for /api/me only when API_AUDIENCE is set, verified
    // with the sign-in engine's JWKS cache.
    let mut api = Router::new().route("/api/me", get(api_me));
    if let Some(bearer) = BearerVerifierBuilder::api_from_env()? {
        let verifier = bearer.engine(oidc.engine().clone()).build().await?;
        api = api.route_layer(BearerLayer::new(verifier).optional());
    }
    let app = Router::new()
        .route("/", get(home))
        .route("/profile", get(profile).route_layer(requires_auth()))
        .merge(api)
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
