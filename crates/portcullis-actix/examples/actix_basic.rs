//! The `actix_basic` example: the `basic` example's contract, served by
//! actix-web through `portcullis-actix`, configured only by environment
//! variables.
//!
//! ```text
//! ISSUER_BASE_URL=http://localhost:3001 CLIENT_ID=... CLIENT_SECRET=... \
//! BASE_URL=http://localhost:3000 SECRET=$(openssl rand -hex 32) \
//! cargo run --release -p portcullis-actix --example actix_basic
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
//! - `PORT` (default 3000) is the port it listens on.
//!
//! This contract is the `basic` example's, and is checked by the same tests
//! (`crates/portcullis-actix/tests/contract.rs`).

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use portcullis_actix::{OidcLayerBuilder, OidcMiddleware, User, requires_auth};

async fn home(user: Option<User>) -> String {
    match user {
        Some(user) => format!("Signed in as {}", user.sub()),
        None => "Signed out".to_owned(),
    }
}

async fn profile(user: User) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(user.raw_claims().get().to_owned())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {port:?}"))?,
        Err(_) => 3000,
    };
    let builder = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .store_opener(Arc::new(portcullis_redis::RedisOpener::default()));
    let oidc = OidcMiddleware::from_builder(builder).await?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(oidc.clone())
            .route("/", web::get().to(home))
            .service(
                web::resource("/profile")
                    .wrap(requires_auth())
                    .route(web::get().to(profile)),
            )
    })
    .bind(("0.0.0.0", port))
    .map_err(|e| format!("cannot listen on port {port} ({e}): set PORT to a free port"))?;
    tracing::info!("actix_basic example listening on port {port}");
    server.run().await?;
    Ok(())
}

#[actix_web::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(error) = run().await {
        eprintln!("actix_basic: {error}");
        std::process::exit(1);
    }
}
