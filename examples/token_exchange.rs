//! Recipe: token exchange (RFC 8693), like express-openid-connect's
//! `customTokenExchange`: swap the signed-in user's access token for one
//! meant for another API (another `audience` or `resource`) or with a
//! narrower scope, and call that API with it.
//!
//! Same environment as `basic`, plus `EXCHANGE_AUDIENCE` (default
//! `downstream-api`), the audience to ask for. `GET /exchange` returns the
//! exchanged token's audience and scope without changing the session;
//! `GET /exchange?store=true` also stores the new access token in the
//! session. An OP refusal is answered with its `error` and
//! `error_description` (never a token).

use axum::Router;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use portcullis::{Oidc, OidcLayerBuilder, TokenExchangeParams, requires_auth};
use serde::Deserialize;

#[derive(Deserialize)]
struct ExchangeQuery {
    scope: Option<String>,
    #[serde(default)]
    store: bool,
}

/// The claims of a JWT access token, for display only (the API that
/// receives the token verifies it).
fn audience_of(token: &str) -> serde_json::Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c.get("aud").cloned())
        .unwrap_or(serde_json::Value::Null)
}

async fn exchange(oidc: Oidc, Query(q): Query<ExchangeQuery>) -> Response {
    let audience = std::env::var("EXCHANGE_AUDIENCE").unwrap_or_else(|_| "downstream-api".into());
    let mut params = TokenExchangeParams::new().audience(audience);
    if let Some(scope) = q.scope {
        params = params.scope(scope);
    }
    if q.store {
        return match oidc.exchange_token_into_session(&params).await {
            // Returning the update writes the session with the new token.
            Ok((token, update)) => (
                update,
                axum::Json(serde_json::json!({
                    "stored": true,
                    "aud": audience_of(token.token.expose()),
                    "scope": token.scope,
                })),
            )
                .into_response(),
            Err(error) => error.into_response(),
        };
    }
    match oidc.exchange_token(&params).await {
        // A real app sends `token.token.expose()` to the downstream API as
        // `Authorization: Bearer …`.
        Ok(token) => axum::Json(serde_json::json!({
            "stored": false,
            "aud": audience_of(token.token.expose()),
            "scope": token.scope,
            "issued_token_type": token.issued_token_type,
            "expires_at": token.expires_at,
        }))
        .into_response(),
        Err(error) => error.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/",
            get(|| async { "token exchange example: visit /exchange" }),
        )
        .route("/exchange", get(exchange).route_layer(requires_auth()))
        .layer(oidc);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
