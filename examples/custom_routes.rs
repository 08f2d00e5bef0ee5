//! Recipe: route customization (express-openid-connect's "Route
//! customization"): the login route moves to `/sign-in`, the callback to
//! `/auth/callback` (register `BASE_URL/auth/callback` at your OP), and the
//! built-in logout is replaced by a handler of our own that signs out at the
//! OP too and comes back to `/goodbye`.

use axum::Router;
use axum::routing::get;
use portcullis::{
    AuthorizationParams, LoginOptions, LogoutOptions, Oidc, OidcLayerBuilder, Routes, User,
};

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .routes(Routes {
            login: Some("/sign-in".into()),
            callback: Some("/auth/callback".into()),
            logout: None,
            ..Routes::default()
        })
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/",
            get(|user: Option<User>| async move {
                user.map_or("Signed out".to_owned(), |u| format!("Hello {}", u.sub()))
            }),
        )
        // A second login route that always asks the OP to show its login page.
        .route(
            "/sign-in-again",
            get(|oidc: Oidc| async move {
                oidc.login(LoginOptions {
                    return_to: Some("/".into()),
                    authorization_params: AuthorizationParams::new().prompt("login"),
                })
                .await
            }),
        )
        .route(
            "/sign-out",
            get(|oidc: Oidc| async move {
                oidc.logout(LogoutOptions {
                    return_to: Some("/goodbye".into()),
                    idp_logout: Some(true),
                })
                .await
            }),
        )
        .route("/goodbye", get(|| async { "You are signed out." }))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "custom_routes example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
