//! Recipe: a logout that really ends the session, here and at the OP (the
//! forum thread where `req.logout()` was undefined and signing out left the
//! user signed in), plus back-channel logout (express-openid-connect's
//! "Back-Channel Logout").
//!
//! - `POST /logout` (or a same-site `GET`): ends this application's session
//!   (a copy of the old cookie is refused afterwards, on every replica that
//!   shares the logout store), then, with IdP logout on (the default here),
//!   ends the OP session through its `end_session_endpoint` and comes back
//!   to `/` (register `BASE_URL/` as a post-logout redirect URI). Signing in
//!   again asks who you are.
//! - `POST /sign-out-here`: this application only (`oidc.logout_local()`).
//! - `POST /backchannel-logout`: the OP ends the session without the
//!   browser (an admin action, a password change, a logout elsewhere); the
//!   `on_logout_token` hook sees each valid logout token. Register
//!   `BASE_URL/backchannel-logout` as the client's `backchannel_logout_uri`.
//!
//! Same environment as `basic`; `IDP_LOGOUT=false` turns the OP logout off.

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portcullis::{LogoutOptions, Oidc, OidcLayerBuilder, User, requires_auth};

async fn home(user: Option<User>) -> Html<String> {
    let body = match user {
        Some(user) => format!(
            "<p id=\"status\">Signed in as {}</p>\
             <form method=\"post\" action=\"/logout\"><button>Sign out everywhere</button></form>\
             <form method=\"post\" action=\"/sign-out-here\"><button>Sign out of this app only</button></form>",
            portcullis::error::escape_html(user.sub())
        ),
        None => "<p id=\"status\">Signed out</p><a href=\"/login\">Sign in</a>".to_owned(),
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Logout</title>\
         <style>{}</style></head><body><main>{body}</main></body></html>",
        portcullis::error::PAGE_STYLE
    ))
}

async fn sign_out_here(oidc: Oidc) -> Response {
    match oidc.logout_local().await {
        Ok(update) => (update, Redirect::to("/")).into_response(),
        Err(error) => error.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let builder = OidcLayerBuilder::from_env()?.auth_required(false);
    // IdP logout unless IDP_LOGOUT says otherwise.
    let idp_logout = !matches!(
        std::env::var("IDP_LOGOUT")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("false" | "0" | "no" | "off")
    );
    let oidc = builder
        .idp_logout(idp_logout)
        .on_logout_token(|token| async move {
            // The sessions it names are already refused when this runs.
            println!(
                "back-channel logout: sub {:?}, sid {:?}",
                token.sub, token.sid
            );
        })
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(home))
        .route(
            "/profile",
            get(|user: User| async move { format!("Profile of {}", user.sub()) })
                .route_layer(requires_auth()),
        )
        .route("/sign-out-here", post(sign_out_here))
        // Your own logout route, if you want one: the same as the built-in.
        .route(
            "/sign-out",
            get(|oidc: Oidc| async move { oidc.logout(LogoutOptions::default()).await }),
        )
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "logout_for_real example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
