//! Recipe: public pages plus a few protected ones (express-openid-connect's
//! "Require authentication for specific routes").
//!
//! Same environment as `basic`. `/` and `/about` are public; everything under
//! `/account` needs a signed-in user.

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, User, requires_auth};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .build()
        .await?;
    let account = Router::new()
        .route(
            "/",
            get(|user: User| async move { format!("Account of {}", user.sub()) }),
        )
        .route(
            "/settings",
            get(|user: User| async move { format!("Settings of {}", user.sub()) }),
        )
        .route_layer(requires_auth());
    let app = Router::new()
        .route("/", get(|| async { "Public home" }))
        .route("/about", get(|| async { "Public about page" }))
        .nest("/account", account)
        .layer(oidc);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
