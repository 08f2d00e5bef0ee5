//! Recipe: public pages plus a few protected ones (express-openid-connect's
//! "Require authentication for specific routes").
//!
//! Same environment as `basic`. `/` and `/about` are public; everything under
//! `/account` needs a signed-in user.

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, User, requires_auth};

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
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
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "require_auth_routes example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
