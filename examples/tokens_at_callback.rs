//! Recipe: the access token and the ID token at callback time (Passport's
//! `verify(issuer, profile, accessToken, refreshToken, done)` callback of
//! `passport-openidconnect`).
//!
//! The `after_callback` hook runs once per login, after the ID token is
//! validated and before the session exists. It gets the tokens and the
//! merged claims, and may store application data in the session (here: what
//! it saw), edit the claims, or refuse the login. Later requests read the
//! tokens with the `Tokens` extractor, as Passport apps read them from
//! `req.user`.
//!
//! Same environment as `basic`.

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, Tokens, User, requires_auth};
use serde_json::json;

/// What the hook stored: the page shows it.
async fn home(user: Option<User>) -> String {
    let Some(user) = user else {
        return "Signed out: open /login".to_owned();
    };
    let seen = &user.session_extra()["seen_at_callback"];
    format!(
        "Signed in as {}. At callback time the app saw an ID token for sub {} ({} bytes) and {} \
         access token ({} bytes, token type {}).",
        user.sub(),
        seen["id_token_sub"].as_str().unwrap_or("?"),
        seen["id_token_bytes"],
        if seen["access_token_bytes"].as_u64().unwrap_or(0) > 0 {
            "an"
        } else {
            "no"
        },
        seen["access_token_bytes"],
        seen["token_type"].as_str().unwrap_or("?"),
    )
}

/// The tokens on any later request.
async fn tokens(tokens: Tokens) -> axum::Json<serde_json::Value> {
    axum::Json(json!({
        "id_token_bytes": tokens.id_token().len(),
        "access_token_bytes": tokens.access_token().map_or(0, str::len),
        "expires_at": tokens.expires_at(),
        "has_refresh_token": tokens.refresh_token().is_some(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .after_callback(|mut ctx| async move {
            // A real app would look the user up by (iss, sub) here, or call
            // an API with the access token. Never log the tokens themselves.
            let seen = json!({
                "id_token_sub": ctx.claims.get("sub"),
                "id_token_bytes": ctx.id_token.len(),
                "access_token_bytes": ctx.access_token.as_ref().map_or(0, String::len),
                "token_type": "Bearer",
            });
            ctx.session_extra.insert("seen_at_callback".into(), seen);
            Ok(ctx)
        })
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/tokens", get(tokens).route_layer(requires_auth()))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "tokens_at_callback example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
