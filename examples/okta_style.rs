//! Recipe: `@okta/oidc-middleware`'s scenarios, the Portcullis way.
//!
//! | Okta (`ExpressOIDC`)                         | here                                          |
//! | -------------------------------------------- | --------------------------------------------- |
//! | `oidc.ensureAuthenticated()`                 | `requires_auth()` on `/protected`             |
//! | `ensureAuthenticated({ redirectTo: '/login' })` | the `login_page_first` middleware on `/account` |
//! | `req.userContext`                            | the `User` extractor (`/`)                    |
//! | `routes.login.viewHandler` (custom login page) | `GET /login`: this app's page, its button starts the flow |
//! | `routes.loginCallback.path = '/authorization-code/callback'` | `Routes { callback: … }` |
//! | `oidc.on('ready')` / `oidc.on('error')`      | `build().await?`: discovery and keys are checked before the server listens; a bad setting or an unreachable OP stops the start with a readable message |
//! | `req.logout()`                               | `oidc.logout_local()` (`POST /local-logout`)  |
//! | `POST /logout`                               | the built-in `POST /logout` (`IDP_LOGOUT=true` to end the OP session too) |
//!
//! Same environment as `basic`; register `BASE_URL/authorization-code/callback`
//! as the redirect URI at your OP.

use axum::Router;
use axum::extract::{Query, Request};
use axum::middleware::{Next, from_fn};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portcullis::error::escape_html;
use portcullis::{Oidc, OidcLayerBuilder, Routes, User, requires_auth};

/// `req.userContext`: the signed-in user, if any.
async fn home(user: Option<User>) -> String {
    match user {
        Some(user) => format!(
            "Hello {} ({})",
            user.claim_str("name").unwrap_or(user.sub()),
            user.claim_str("email").unwrap_or("no email")
        ),
        None => "Not signed in: open /login".to_owned(),
    }
}

#[derive(serde::Deserialize)]
struct ReturnTo {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// The custom login page (Okta's `routes.login.viewHandler`). Its button goes
/// to the built-in login route, which checks `returnTo` (same-origin only).
async fn login_page(Query(query): Query<ReturnTo>) -> Html<String> {
    let return_to = query.return_to.unwrap_or_else(|| "/".to_owned());
    let start = format!(
        "/authorization-code/login?returnTo={}",
        url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    );
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title>\
         <style>{}</style></head><body><main><h1>Welcome back</h1>\
         <p>Sign in with your company account.</p>\
         <p><a id=\"sign-in\" class=\"button\" href=\"{}\">Sign in</a></p></main></body></html>",
        portcullis::error::PAGE_STYLE,
        escape_html(&start)
    ))
}

/// `ensureAuthenticated({ redirectTo: '/login' })`: a browser that is not
/// signed in sees this app's login page first; API clients get a 401.
async fn login_page_first(user: Option<User>, request: Request, next: Next) -> Response {
    if user.is_some() {
        return next.run(request).await;
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let wants_html = portcullis::error::wants_html(request.headers());
    if wants_html {
        let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        Redirect::to(&format!("/login?returnTo={encoded}")).into_response()
    } else {
        (axum::http::StatusCode::UNAUTHORIZED, "sign in first").into_response()
    }
}

/// `req.logout()`: this application only; the OP session stays.
async fn local_logout(oidc: Oidc) -> Response {
    match oidc.logout_local().await {
        Ok(update) => (update, Redirect::to("/")).into_response(),
        Err(error) => error.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .routes(Routes {
            login: Some("/authorization-code/login".into()),
            callback: Some("/authorization-code/callback".into()),
            ..Routes::default()
        })
        // `oidc.on('ready')`: this returns once the OP's discovery document
        // and keys are fetched and checked; any problem is the error here.
        .build()
        .await?;
    println!("okta_style example ready: the OP's metadata and keys are loaded");
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login_page))
        .route(
            "/protected",
            get(|user: User| async move { format!("Protected page of {}", user.sub()) })
                .route_layer(requires_auth()),
        )
        .route(
            "/account",
            get(|user: User| async move { format!("Account of {}", user.sub()) })
                .route_layer(from_fn(login_page_first)),
        )
        .route("/local-logout", post(local_logout))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "okta_style example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
