//! Benchmark peer: the `/profile` route protected by axum-oidc 0.6 (crates.io),
//! with tower-sessions' in-memory store, as in axum-oidc's own example.
//!
//! Environment: ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET, BASE_URL, PORT.
//! axum-oidc uses the protected URL itself as redirect URI, so the OP must
//! accept `BASE_URL/profile`.

use axum::{
    Json, Router, error_handling::HandleErrorLayer, http::Uri, response::IntoResponse,
    routing::get,
};
use axum_oidc::{
    EmptyAdditionalClaims, OidcAuthLayer, OidcClaims, OidcLoginLayer, error::MiddlewareError,
};
use tower::ServiceBuilder;
use tower_sessions::{
    Expiry, MemoryStore, SessionManagerLayer,
    cookie::{SameSite, time::Duration},
};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("missing environment variable {name}"))
}

async fn profile(claims: OidcClaims<EmptyAdditionalClaims>) -> impl IntoResponse {
    Json(claims.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env("ISSUER_BASE_URL")?;
    let client_id = env("CLIENT_ID")?;
    let client_secret = env("CLIENT_SECRET")?;
    let base_url = env("BASE_URL")?;
    let port: u16 = std::env::var("PORT").unwrap_or_else(|_| "3003".into()).parse()?;

    let session_layer = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(Duration::hours(1)));

    let login = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(OidcLoginLayer::<EmptyAdditionalClaims>::new());
    let auth = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(
            OidcAuthLayer::<EmptyAdditionalClaims>::discover_client(
                Uri::from_maybe_shared(base_url)?,
                issuer,
                client_id,
                Some(client_secret),
                vec!["profile".into(), "email".into()],
            )
            .await?,
        );

    let app = Router::new()
        .route("/profile", get(profile))
        .layer(login)
        .route("/", get(|| async { "axum-oidc bench app" }))
        .layer(auth)
        .layer(session_layer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bench-axum-oidc listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
