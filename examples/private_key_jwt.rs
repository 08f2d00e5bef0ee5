//! Recipe: sign in with `private_key_jwt` (RFC 7523, OpenID Connect Core §9):
//! the client proves itself with a short-lived JWT signed by its private
//! key instead of sending a client secret.
//!
//! Same environment as `basic`, without `CLIENT_SECRET`, plus
//! `CLIENT_ASSERTION_SIGNING_KEY`: the private key as PEM (PKCS#8, PKCS#1
//! or SEC1) or as a private JWK, or the path of a file holding either. RSA,
//! EC P-256/P-384 and Ed25519 keys work. Register the public half at the OP
//! (`GET /jwk` prints it as a JWK Set). Optional: `CLIENT_ASSERTION_SIGNING_ALG`
//! (default from the key), `CLIENT_ASSERTION_KEY_ID` (the `kid`, for PEM
//! keys), `USE_PAR=true` to push authorization requests (RFC 9126).
//! `CLIENT_AUTH_METHOD` may stay unset: a signing key selects
//! `private_key_jwt`.

use axum::Router;
use axum::routing::get;
use portcullis::{OidcLayerBuilder, User, requires_auth};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    // Read the key once more only to show its public half; the layer has
    // already validated it (a bad key stops the app at startup).
    let public_jwks = match std::env::var("CLIENT_ASSERTION_SIGNING_KEY") {
        Ok(value) => {
            let text = if value.trim_start().starts_with('{') || value.contains("-----BEGIN") {
                value
            } else {
                std::fs::read_to_string(value.trim())?
            };
            let key = portcullis::AssertionSigningKey::parse(&text)?;
            serde_json::json!({"keys": [key.public_jwk()]})
        }
        Err(_) => return Err("set CLIENT_ASSERTION_SIGNING_KEY (PEM, JWK or a file path)".into()),
    };
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/",
            get(|| async { "private_key_jwt example: visit /profile" }),
        )
        .route(
            "/profile",
            get(|user: User| async move { axum::Json(user.claims().clone()) })
                .route_layer(requires_auth()),
        )
        .route("/jwk", get(move || async move { axum::Json(public_jwks) }))
        .layer(oidc);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
