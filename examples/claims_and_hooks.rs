//! Recipe: protect routes by claims, validate claims before a login is
//! accepted, and sign out at the OP too (express-openid-connect's "Protect a
//! route based on specific claims", "Validate claims from an ID token before
//! logging a user in" and "Logout from Identity Provider").
//!
//! Same environment as `basic`.

use axum::Router;
use axum::routing::get;
use portcullis::{LoginRefused, OidcLayerBuilder, User, claim_check, claim_equals, claim_includes};

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let oidc = OidcLayerBuilder::from_env()?
        // The dev OP (like Okta) releases `groups` with the `groups` scope.
        .scope("openid profile email groups")
        .idp_logout(true)
        // Runs after the ID token is validated and before the session exists.
        .after_callback(|mut ctx| async move {
            if ctx.claims.get("email_verified") != Some(&serde_json::Value::Bool(true)) {
                return Err(LoginRefused::new("Please verify your email address first."));
            }
            // Keep application data next to the claims in the session.
            ctx.session_extra.insert("plan".into(), "free".into());
            Ok(ctx)
        })
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/",
            get(|user: User| async move { format!("Hello {}", user.sub()) }),
        )
        // The dev OP's alice is in the groups admin and users; bob only in users.
        .route(
            "/admin",
            get(|| async { "admins only" }).route_layer(claim_includes("groups", ["admin"])),
        )
        .route(
            "/verified",
            get(|| async { "verified emails only" })
                .route_layer(claim_equals("email_verified", true)),
        )
        .route(
            "/example-org",
            get(|| async { "example.org accounts only" }).route_layer(claim_check(
                "email must end in @example.org",
                |claims| {
                    claims
                        .get("email")
                        .and_then(|e| e.as_str())
                        .is_some_and(|e| e.ends_with("@example.org"))
                },
            )),
        )
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "claims_and_hooks example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
