//! Recipe: one route that accepts either a browser session or a bearer
//! token, so the same `/api/me` serves the web page's `fetch()` (cookie) and
//! a mobile app or a script (`Authorization: Bearer`).
//!
//! Same environment as `basic` (`ISSUER_BASE_URL`, `CLIENT_ID`,
//! `CLIENT_SECRET`, `BASE_URL`, `SECRET`), plus `API_AUDIENCE` (the
//! audience bearer tokens must carry) and optionally `API_SCOPE`.
//!
//! - `GET /api/me`: `{"sub", "via": "session" | "bearer", "scope"}`; a
//!   browser without credentials goes to login, an API client gets 401 with
//!   a `Bearer` challenge; a bad token is refused even when a session
//!   cookie is there too.
//! - `GET /api/reports`: a session, or a token with the scope `reports:read`.
//!
//! The bearer verifier is built on the sign-in engine: one discovery, one
//! JWKS cache, one clock skew for ID tokens and access tokens.

use axum::Json;
use axum::Router;
use axum::routing::get;
use portcullis::bearer::{BearerVerifier, BearerVerifierBuilder};
use portcullis::{BearerLayer, OidcLayerBuilder, Principal};
use serde_json::{Value, json};

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.sub(),
        "via": principal.via(),
        "scope": principal.scope(),
    }))
}

async fn reports(principal: Principal) -> Json<Value> {
    Json(json!({"reports": [], "for": principal.sub()}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .build()
        .await?;
    let verifier: BearerVerifier = BearerVerifierBuilder::api_from_env()?
        .ok_or("set API_AUDIENCE to the audience of your API's access tokens")?
        .engine(oidc.engine().clone())
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/api/me",
            get(me).route_layer(BearerLayer::new(verifier.clone()).optional()),
        )
        .route(
            "/api/reports",
            get(reports).route_layer(
                BearerLayer::new(verifier)
                    .optional()
                    .require_scope("reports:read"),
            ),
        )
        .layer(oidc);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
