//! Recipe: call an API with the user's access token, refreshing it when it
//! has expired, and read the OP's userinfo (express-openid-connect's
//! "Obtaining access tokens to call external APIs", "Obtaining and using
//! refresh tokens" and "Calling userinfo").
//!
//! Same environment as `basic`, plus `API_AUDIENCE` if your OP needs an
//! `audience` parameter to issue an access token for your API. Ask for
//! `offline_access` if your OP only issues refresh tokens with it.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis::{AuthorizationParams, Oidc, OidcLayerBuilder, Tokens};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Shows how the token would be used; a real app sends it to its API as
/// `Authorization: Bearer <token>`.
async fn call_api(oidc: Oidc, tokens: Tokens) -> Response {
    if !tokens.access_token_expired(now()) {
        let len = tokens.access_token().map_or(0, str::len);
        return format!("calling the API with the current access token ({len} bytes)")
            .into_response();
    }
    match oidc.refresh().await {
        // Returning the update stores the refreshed tokens in the session cookie.
        Ok(update) => {
            let len = update
                .tokens()
                .and_then(|t| t.access_token())
                .map_or(0, str::len);
            (
                update,
                format!("refreshed; calling the API with the new token ({len} bytes)"),
            )
                .into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn userinfo(oidc: Oidc) -> Response {
    match oidc.fetch_userinfo().await {
        Ok(claims) => axum::Json(claims).into_response(),
        Err(error) => error.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let mut params = AuthorizationParams::new();
    if let Ok(audience) = std::env::var("API_AUDIENCE") {
        params = params.audience(audience);
    }
    let oidc = OidcLayerBuilder::from_env()?
        .scope("openid profile email offline_access")
        .authorization_params(params)
        .build()
        .await?;
    let app = Router::new()
        .route("/api-call", get(call_api))
        .route("/userinfo", get(userinfo))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "access_token example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
