//! Recipe: automatic refresh. With `auto_refresh(true)` (or
//! `AUTO_REFRESH=true`) the layer refreshes the tokens before the request
//! reaches the handler when the access token expires within a minute, so
//! handlers always see a usable token. Concurrent requests of one session
//! refresh once (across replicas too, with a shared store); a refused
//! refresh token ends the session (login for browsers, 401 for APIs), an OP
//! outage keeps it and answers 503 once the token has expired.
//!
//! Same environment as `basic`. `GET /token` shows the token's expiry and
//! scopes (never the token itself).

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, Tokens};
use serde_json::json;

async fn token(tokens: Tokens) -> axum::Json<serde_json::Value> {
    let access = tokens.access();
    axum::Json(json!({
        "expired": access.map(|a| a.is_expired()),
        "expires_in_secs": access.and_then(|a| a.expires_in()).map(|d| d.as_secs()),
        "scopes": access.map(|a| a.scopes().collect::<Vec<_>>()),
        // A fingerprint, to see the token change after a refresh.
        "token_length": access.map(|a| a.value().len()),
        "token_tail": access.map(|a| a.value().chars().rev().take(8).collect::<String>()),
    }))
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let oidc = OidcLayerBuilder::from_env()?
        .scope("openid profile email offline_access")
        .auto_refresh(true)
        .build()
        .await?;
    let app = Router::new().route("/token", get(token)).layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "auto_refresh example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
