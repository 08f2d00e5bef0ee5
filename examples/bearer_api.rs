//! Recipe: an API that protects itself with bearer tokens (resource-server
//! mode, no sign-in, no cookies): JWT access tokens (RFC 9068) checked with
//! the issuer's JWKS, per-route scopes and claim rules, RFC 6750 errors.
//!
//! ```text
//! ISSUER_BASE_URL=http://127.0.0.1:3001 API_AUDIENCE=https://api.example.com \
//! cargo run -p portcullis --example bearer_api
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/messages
//! ```
//!
//! - `GET /messages`: any valid token for `API_AUDIENCE` (and `API_SCOPE`, if set).
//! - `POST /messages`: also needs the scope `messages:write` (403
//!   `insufficient_scope` with `scope="messages:write"` otherwise).
//! - `GET /admin`: also needs `admins` in the token's `groups` claim.
//! - `GET /health`: public.
//!
//! Optional: `BEARER_INTROSPECTION_CLIENT_ID` / `BEARER_INTROSPECTION_CLIENT_SECRET`
//! to accept opaque tokens through RFC 7662 introspection, and
//! `BEARER_ACCEPT_UNTYPED_JWT=true` for OPs whose access tokens are not typed
//! `at+jwt`. With the dev OP: `portcullis idp`, then ask it for a token with
//! `resource=https://api.example.com` in the authorization request.

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use portcullis::bearer::{BearerRequirements, BearerVerifierBuilder};
use portcullis::{BearerAuth, BearerLayer};
use serde_json::{Value, json};

async fn messages(token: BearerAuth) -> Json<Value> {
    Json(json!({
        "owner": token.sub(),
        "issuer": token.iss(),
        "scope": token.scope(),
        "messages": ["hello"],
    }))
}

async fn post_message(token: BearerAuth) -> Json<Value> {
    Json(json!({"created_by": token.sub()}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let mut builder = BearerVerifierBuilder::from_env()?;
    if let (Ok(id), Ok(secret)) = (
        std::env::var("BEARER_INTROSPECTION_CLIENT_ID"),
        std::env::var("BEARER_INTROSPECTION_CLIENT_SECRET"),
    ) {
        builder = builder.introspection_client(id, secret);
    }
    if std::env::var("BEARER_ACCEPT_UNTYPED_JWT").is_ok_and(|v| v == "true") {
        builder = builder.accept_untyped_jwt(true);
    }
    let verifier = builder.build().await?;

    let reads = Router::new()
        .route("/messages", get(messages))
        .route(
            "/admin",
            get(|token: BearerAuth| async move { format!("hello admin {}", token.sub()) })
                .route_layer(
                    BearerLayer::new(verifier.clone())
                        .require(BearerRequirements::new().claim_includes("groups", ["admins"])),
                ),
        )
        .layer(BearerLayer::new(verifier.clone()));
    let writes = Router::new()
        .route("/messages", post(post_message))
        .layer(BearerLayer::new(verifier).require_scope("messages:write"));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(reads)
        .merge(writes);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("bearer_api example listening on port {port}");
    axum::serve(listener, app).await?;
    Ok(())
}
