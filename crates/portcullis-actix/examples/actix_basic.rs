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
//! - `GET /api/me` accepts a signed-in session or `Authorization: Bearer
//!   <token>`: `200 {"sub", "via": "bearer" | "session", "scope"}`. Bearer
//!   tokens are JWTs from `ISSUER_BASE_URL` verified with audience
//!   `API_AUDIENCE`, carrying `API_SCOPE` when it is set; without
//!   `API_AUDIENCE`, bearer tokens are not accepted. Refusals follow RFC 6750;
//!   a browser without credentials is redirected to login.
//! - `HOST` (default `127.0.0.1`) and `PORT` (default 3000) are where it listens.
//!
//! This contract is the `basic` example's, and is checked by the same tests
//! (`crates/portcullis-actix/tests/contract.rs`).

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use portcullis::bearer::{BearerError, BearerRequirements, BearerVerifier, BearerVerifierBuilder};
use portcullis_actix::{
    Oidc, OidcError, OidcLayerBuilder, OidcMiddleware, User, http_headers, into_response,
    requires_auth,
};
use serde_json::json;

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

fn me(sub: &str, via: &str, scope: Option<String>) -> HttpResponse<Bytes> {
    let body = json!({ "sub": sub, "via": via, "scope": scope }).to_string();
    HttpResponse::with_body(actix_web::http::StatusCode::OK, Bytes::from(body)).map_body(
        |head, body| {
            head.headers_mut().insert(
                actix_web::http::header::CONTENT_TYPE,
                actix_web::http::header::HeaderValue::from_static("application/json"),
            );
            body
        },
    )
}

/// A session or a bearer token; a bearer token, when sent, decides.
async fn api_me(
    request: HttpRequest,
    oidc: Oidc,
    user: Option<User>,
    verifier: web::Data<Option<BearerVerifier>>,
) -> HttpResponse<Bytes> {
    let headers = http_headers(&request);
    match verifier.as_ref() {
        Some(verifier) => match verifier.token_from_request(&headers, None) {
            Err(error) => return into_response(error.to_response()),
            Ok(Some(_)) => {
                return match verifier
                    .authenticate(&headers, None, &BearerRequirements::default())
                    .await
                {
                    Ok(token) => me(token.sub(), "bearer", Some(token.scope())),
                    Err(error) => into_response(error.to_response()),
                };
            }
            Ok(None) => {}
        },
        None => {
            let bearer = headers
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .any(|v| {
                    v.as_bytes()
                        .get(..7)
                        .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
                });
            if bearer {
                return into_response(BearerError::NotAccepted.to_response());
            }
        }
    }
    if let Some(user) = user {
        return me(
            user.sub(),
            "session",
            user.session().scope().map(str::to_owned),
        );
    }
    if verifier.is_none() || portcullis::error::wants_html(&headers) {
        oidc.reject(&OidcError::Unauthenticated)
    } else {
        into_response(BearerError::MissingToken.to_response())
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // HOST (default 127.0.0.1) and PORT (default 3000), as in `basic`.
    let addr = portcullis::listen::listen_addr(3000)?;
    let builder = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .store_opener(Arc::new(portcullis_redis::RedisOpener::default()));
    let oidc = OidcMiddleware::from_builder(builder).await?;
    // Bearer tokens for /api/me only when API_AUDIENCE is set, verified
    // with the same engine's keys.
    let verifier = match BearerVerifierBuilder::api_from_env()? {
        Some(bearer) => Some(bearer.engine(oidc.engine().clone()).build().await?),
        None => None,
    };
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(oidc.clone())
            .app_data(verifier.clone())
            .route("/", web::get().to(home))
            .route("/api/me", web::get().to(api_me))
            .service(
                web::resource("/profile")
                    .wrap(requires_auth())
                    .route(web::get().to(profile)),
            )
    })
    .bind(addr)
    .map_err(|e| {
        format!(
            "cannot listen on {addr} ({e}): set PORT to a free port (or HOST to another address)"
        )
    })?;
    println!("actix_basic example listening on http://{addr}");
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
