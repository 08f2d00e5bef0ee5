//! `portcullis demo`: the development OpenID Provider plus a demo app
//! protected by Portcullis. No configuration: it prints the URL to open and
//! the sample users.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use portcullis::{OidcLayer, Tokens, User, requires_auth};
use portcullis_devidp::{DevClient, DevIdpConfig};

/// Options of `portcullis demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Port of the demo app.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Port of the development OpenID Provider.
    #[arg(long, default_value_t = 3001)]
    idp_port: u16,
    /// Host name used in the URLs (both servers listen on loopback).
    #[arg(long, default_value = "localhost")]
    host: String,
}

pub(crate) async fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let base_url = format!("http://{}:{}", args.host, args.port);
    let issuer = format!("http://{}:{}", args.host, args.idp_port);
    // Both sides run in this process: a fresh random client secret and cookie
    // secret each start, never printed.
    let client_secret = random_hex()?;
    let client = DevClient::confidential(
        "portcullis-demo",
        client_secret.clone(),
        format!("{base_url}/callback"),
    )
    .with_post_logout_redirect_uri(format!("{base_url}/"))
    .with_backchannel_logout_uri(format!("{base_url}/backchannel-logout"));
    let idp_config = DevIdpConfig::new()
        .with_issuer(issuer.clone())
        .with_client(client);
    let users: Vec<(String, String)> = idp_config
        .users
        .iter()
        .map(|u| (u.id.clone(), u.display_name().to_owned()))
        .collect();
    let idp =
        portcullis_devidp::start(idp_config, SocketAddr::new(loopback, args.idp_port)).await?;

    let oidc = OidcLayer::builder()
        .issuer_base_url(issuer.clone())
        .client_id("portcullis-demo")
        .client_secret(client_secret)
        .base_url(base_url.clone())
        .secret(random_hex()?)
        .auth_required(false)
        .idp_logout(true)
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/profile", get(profile).route_layer(requires_auth()))
        .layer(oidc);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(loopback, args.port)).await?;

    println!();
    println!("  Portcullis demo");
    println!("  Open {base_url}/ in your browser and sign in.");
    println!("  Development OpenID Provider (dev-only): {issuer}");
    println!("  Sample users (click one on the sign-in page, no password):");
    for (id, name) in &users {
        println!("    - {id}: {name}");
    }
    println!("  Press Ctrl-C to stop.");
    println!();

    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    idp.shutdown().await;
    Ok(())
}

/// 32 bytes from the system CSPRNG, hex-encoded.
fn random_hex() -> Result<String, &'static str> {
    use std::fmt::Write;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the system random number generator failed")?;
    Ok(bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1d2430}\
pre{background:#f3f5f8;padding:1rem;border-radius:6px;overflow:auto}\
a.button{display:inline-block;padding:.5rem 1rem;border-radius:6px;background:#2f5bd3;color:#fff;text-decoration:none}\
.muted{color:#5b6675}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
    ))
}

async fn home(user: Option<User>) -> Html<String> {
    match user {
        Some(user) => page(
            "Portcullis demo",
            &format!(
                "<p id=\"status\">Signed in as <strong>{}</strong>.</p>\
                 <p><a id=\"profile\" class=\"button\" href=\"/profile\">See your claims</a> \
                 <a id=\"logout\" href=\"/logout\">Sign out</a></p>",
                escape(user.claim_str("name").unwrap_or(user.sub()))
            ),
        ),
        None => page(
            "Portcullis demo",
            "<p id=\"status\">Signed out.</p>\
             <p><a id=\"login\" class=\"button\" href=\"/login?returnTo=%2Fprofile\">Sign in</a></p>\
             <p class=\"muted\">You will sign in at the built-in development OpenID Provider.</p>",
        ),
    }
}

async fn profile(user: User, tokens: Tokens) -> Html<String> {
    let claims = serde_json::to_string_pretty(user.claims()).unwrap_or_default();
    let access = if tokens.access_token().is_some() {
        "an access token"
    } else {
        "no access token"
    };
    let refresh = if tokens.refresh_token().is_some() {
        "a refresh token"
    } else {
        "no refresh token"
    };
    page(
        "Your claims",
        &format!(
            "<p>Signed in as <strong>{}</strong> (sub <code>{}</code>). The session also holds {access} and {refresh}.</p>\
             <pre id=\"claims\">{}</pre>\
             <p><a href=\"/\">Home</a> · <a id=\"logout\" class=\"button\" href=\"/logout\">Sign out</a></p>",
            escape(user.claim_str("name").unwrap_or(user.sub())),
            escape(user.sub()),
            escape(&claims)
        ),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
