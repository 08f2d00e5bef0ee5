//! `portcullis demo`: the development OpenID Provider plus a demo app
//! protected by Portcullis. No configuration: it prints the URL to open and
//! the sample users.
//!
//! The app teaches what happened: the claims with readable times, the ID
//! token decoded, the access and refresh tokens' state, the steps of the
//! code flow, and buttons for each way to sign out (here only, here and at
//! the OP, and at the OP by back-channel logout).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portcullis::{LogoutOptions, Oidc, OidcLayer, Tokens, User, requires_auth};
use portcullis_devidp::{DevClient, DevIdpConfig, DevIdpHandle};

use crate::pages::{escape, page, readable_time};

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

/// What the demo's handlers share: the dev OP (to end sessions there) and its issuer.
#[derive(Clone)]
struct Demo {
    idp: DevIdpHandle,
}

pub(crate) async fn run(args: DemoArgs) -> Result<(), crate::CliError> {
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
    .with_post_logout_redirect_uri(format!("{base_url}/signed-out?where=op"))
    .with_backchannel_logout_uri(format!("{base_url}/backchannel-logout"));
    let idp_config = DevIdpConfig::new()
        .with_issuer(issuer.clone())
        .with_client(client);
    let users: Vec<(String, String)> = idp_config
        .users
        .iter()
        .map(|u| (u.id.clone(), u.display_name().to_owned()))
        .collect();
    // The app's port is checked first: a busy one is reported before the OP starts.
    let app_addr = SocketAddr::new(loopback, args.port);
    let listener = tokio::net::TcpListener::bind(app_addr)
        .await
        .map_err(|e| crate::CliError::port(app_addr, e, "--port"))?;
    let idp = portcullis_devidp::start(idp_config, SocketAddr::new(loopback, args.idp_port))
        .await
        .map_err(|e| crate::CliError::idp(e, "--idp-port"))?;

    let oidc = OidcLayer::builder()
        .issuer_base_url(issuer.clone())
        .client_id("portcullis-demo")
        .client_secret(client_secret)
        .base_url(base_url.clone())
        .secret(random_hex()?)
        .scope("openid profile email groups offline_access")
        .auth_required(false)
        .idp_logout(true)
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/profile", get(profile).route_layer(requires_auth()))
        .route("/refresh", post(refresh))
        .route("/logout-here", post(logout_here))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/end-at-op", post(end_at_op))
        .route("/signed-out", get(signed_out))
        .with_state(Demo { idp: idp.handle() })
        .layer(oidc);

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
        .await
        .map_err(crate::CliError::Serve)?;
    idp.shutdown().await;
    Ok(())
}

/// 32 bytes from the system CSPRNG, hex-encoded.
fn random_hex() -> Result<String, crate::CliError> {
    use std::fmt::Write;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| crate::CliError::Random)?;
    Ok(bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

async fn home(user: Option<User>) -> Html<String> {
    match user {
        Some(user) => page(
            "Portcullis demo",
            &format!(
                "<p id=\"status\">Signed in as <strong>{}</strong>.</p>\
                 <p class=\"actions\"><a id=\"profile\" class=\"button\" href=\"/profile\">See what Portcullis knows</a> \
                 <a id=\"logout\" class=\"button secondary\" href=\"/logout?returnTo=%2Fsigned-out%3Fwhere%3Dop\">Sign out</a></p>",
                escape(user.claim_str("name").unwrap_or(user.sub()))
            ),
        ),
        None => page(
            "Portcullis demo",
            "<p id=\"status\">Signed out.</p>\
             <p class=\"actions\"><a id=\"login\" class=\"button\" href=\"/login?returnTo=%2Fprofile\">Sign in</a></p>\
             <p class=\"muted\">You will sign in at the built-in development OpenID Provider: pick \
             <code>alice</code> (an admin with a verified email) or <code>bob</code>. No password.</p>",
        ),
    }
}

#[derive(serde::Deserialize)]
struct ProfileQuery {
    refreshed: Option<String>,
}

async fn profile(
    user: User,
    tokens: Tokens,
    State(demo): State<Demo>,
    Query(query): Query<ProfileQuery>,
) -> Html<String> {
    let now = now_unix();
    let name = user.claim_str("name").unwrap_or(user.sub());
    let claims = serde_json::to_string_pretty(user.claims()).unwrap_or_default();
    let notice = if query.refreshed.is_some() {
        "<p id=\"refreshed\" class=\"notice\">The tokens were refreshed just now: the OP \
         issued a new access token (and rotated the refresh token), Portcullis checked the new \
         ID token against the old one, and rewrote the session cookie.</p>"
    } else {
        ""
    };
    let body = format!(
        "{notice}<p>Signed in as <strong>{name}</strong> (sub <code>{sub}</code>, issuer \
         <code>{iss}</code>). Users are keyed by issuer and sub, never by email.</p>\
         {actions}\
         <h2>Your claims</h2>{claims_table}\
         <details open><summary>As JSON (what <code>User::claims()</code> returns)</summary>\
         <pre id=\"claims\">{claims_json}</pre></details>\
         <h2>The ID token, decoded</h2>{id_token}\
         <h2>The access and refresh tokens</h2>{token_table}\
         <h2>What just happened</h2>{steps}\
         <h2>Next</h2>{next}",
        name = escape(name),
        sub = escape(user.sub()),
        iss = escape(user.iss()),
        actions = ACTIONS,
        claims_table = claims_table(user.claims(), now),
        claims_json = escape(&claims),
        id_token = decoded_id_token(tokens.id_token()),
        token_table = token_table(&tokens, now),
        steps = steps(demo.idp.issuer()),
        next = NEXT_STEPS,
    );
    page("What Portcullis knows about you", &body)
}

/// The buttons: refresh, and the three ways to sign out.
const ACTIONS: &str = "<div class=\"actions\">\
<form method=\"post\" action=\"/refresh\"><button id=\"refresh\">Refresh the tokens now</button></form>\
<form method=\"post\" action=\"/logout-here\"><button id=\"logout-here\" class=\"secondary\">Sign out here only</button></form>\
<form method=\"post\" action=\"/logout-everywhere\"><button id=\"logout-everywhere\" class=\"secondary\">Sign out here and at the OP</button></form>\
<form method=\"post\" action=\"/end-at-op\"><button id=\"end-at-op\" class=\"secondary\">End my session at the OP (back-channel)</button></form>\
<a id=\"logout\" class=\"secondary\" href=\"/logout?returnTo=%2Fsigned-out%3Fwhere%3Dop\">Sign out</a>\
</div>";

const NEXT_STEPS: &str = "<ul>\
<li>Add Portcullis to your own axum app: the README's <em>Quickstart</em> (one layer, five \
environment variables).</li>\
<li>Run a recipe against the dev OP: <code>cargo run -- idp --port 9400 --client \
app:app-secret:http://localhost:3000/callback</code>, then <code>cargo run -p portcullis \
--example basic</code> with the variables of the README's <em>run it against the dev OP</em> \
block. Every scenario has one in <code>examples/</code> (the README's recipe table).</li>\
<li>Moving from Express: <code>docs/migrating-from-express-openid-connect.md</code> and \
<code>docs/migrating-from-okta-oidc-middleware.md</code>; real providers: \
<code>docs/providers/</code>.</li></ul>";

fn steps(issuer: &str) -> String {
    let issuer = escape(issuer);
    format!(
        "<ol class=\"steps\">\
         <li>At startup Portcullis read the OP's <a href=\"{issuer}/.well-known/openid-configuration\">discovery \
         document</a> (its issuer must equal <code>ISSUER_BASE_URL</code> exactly) and its \
         <a href=\"{issuer}/jwks\">signing keys</a>.</li>\
         <li><code>/login</code> made a random <code>state</code>, a <code>nonce</code> and a PKCE \
         <code>code_verifier</code>, sealed them in an encrypted, short-lived transaction cookie, \
         and sent your browser to the OP with only the verifier's SHA-256 hash \
         (<code>code_challenge</code>, method <code>S256</code>).</li>\
         <li>You picked a user at the OP, which sent your browser back to <code>/callback</code> \
         with a one-time <code>code</code>, the same <code>state</code> and its <code>iss</code> \
         (RFC 9207).</li>\
         <li>Portcullis checked <code>state</code> and <code>iss</code>, then exchanged the code at \
         the token endpoint, authenticated with the client secret and proving with the \
         <code>code_verifier</code> that it started this flow: a stolen code is useless.</li>\
         <li>It validated the ID token: signature with an allowed algorithm and a key of the OP, \
         issuer, audience, expiry, and the <code>nonce</code>. It merged the userinfo claims \
         (same <code>sub</code> only).</li>\
         <li>It started a brand-new session (AES-256-GCM sealed cookie) and sent you to the \
         page you asked for.</li></ol>"
    )
}

fn claims_table(claims: &serde_json::Map<String, serde_json::Value>, now: u64) -> String {
    let mut rows = String::new();
    for (name, value) in claims {
        let shown = match (TIME_CLAIMS.contains(&name.as_str()), value.as_u64()) {
            (true, Some(secs)) => format!(
                "{} <span class=\"muted\">({secs})</span>",
                escape(&readable_time(secs, now))
            ),
            _ => match value {
                serde_json::Value::String(text) => escape(text),
                other => format!("<code>{}</code>", escape(&other.to_string())),
            },
        };
        let about = CLAIM_NOTES
            .iter()
            .find(|(claim, _)| *claim == name)
            .map(|(_, note)| *note)
            .unwrap_or("");
        rows.push_str(&format!(
            "<tr><th><code>{}</code></th><td>{shown}</td><td class=\"muted\">{about}</td></tr>",
            escape(name)
        ));
    }
    format!("<table id=\"claims-table\">{rows}</table>")
}

/// Claims that are unix times.
const TIME_CLAIMS: &[&str] = &["exp", "iat", "nbf", "auth_time", "updated_at"];

const CLAIM_NOTES: &[(&str, &str)] = &[
    ("sub", "who you are at this OP (stable, never reassigned)"),
    ("iss", "the OP that vouches for it"),
    ("aud", "the client the ID token was issued to"),
    (
        "exp",
        "when the ID token expires (the session lasts longer)",
    ),
    ("iat", "when the ID token was issued"),
    ("auth_time", "when you authenticated at the OP"),
    ("nonce", "ties the ID token to this browser's login"),
    ("sid", "the OP's session id, used by back-channel logout"),
    ("groups", "try claim_includes(\"groups\", [\"admin\"])"),
    (
        "email_verified",
        "check it before trusting the email (see the claims_and_hooks example)",
    ),
];

/// The ID token's header and payload, decoded (the signature is not shown).
fn decoded_id_token(id_token: &str) -> String {
    let mut parts = id_token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return "<p class=\"muted\">The ID token is not a JWS.</p>".to_owned();
    };
    let pretty = |segment: &str| -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or_else(|| "(not JSON)".to_owned())
    };
    format!(
        "<p class=\"muted\">A compact JWS of {len} bytes: header, payload and signature. The \
         header names the algorithm and the key (<code>kid</code>) of the OP's JWKS that signed it.</p>\
         <h3>Header</h3><pre id=\"id-token-header\">{}</pre>\
         <h3>Payload</h3><pre id=\"id-token-payload\">{}</pre>",
        escape(&pretty(header)),
        escape(&pretty(payload)),
        len = id_token.len(),
    )
}

fn token_table(tokens: &Tokens, now: u64) -> String {
    let access = match (tokens.access_token(), tokens.expires_at()) {
        (None, _) => "none".to_owned(),
        (Some(token), Some(at)) => format!(
            "{} bytes, {}; expires {}",
            token.len(),
            escape(tokens.token_type().unwrap_or("Bearer")),
            escape(&readable_time(at, now))
        ),
        (Some(token), None) => format!("{} bytes, no expiry given", token.len()),
    };
    let scopes = tokens
        .scope()
        .map(|s| {
            s.split_whitespace()
                .map(|scope| format!("<code>{}</code>", escape(scope)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "not stated by the OP".to_owned());
    let refresh = if tokens.refresh_token().is_some() {
        "present (the <code>offline_access</code> scope asked for one): <em>Refresh the tokens \
         now</em> uses it"
    } else {
        "none: ask for the <code>offline_access</code> scope to get one"
    };
    format!(
        "<table id=\"tokens\"><tr><th>access token</th><td id=\"access-token\">{access}</td></tr>\
         <tr><th>scopes granted</th><td id=\"scopes\">{scopes}</td></tr>\
         <tr><th>refresh token</th><td id=\"refresh-token\">{refresh}</td></tr></table>\
         <p class=\"muted\">Token values are never shown, logged or put in error pages; a \
         handler gets them from the <code>Tokens</code> extractor.</p>"
    )
}

async fn refresh(oidc: Oidc) -> Response {
    match oidc.refresh().await {
        Ok(update) => (update, Redirect::to("/profile?refreshed=1")).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn logout_here(oidc: Oidc) -> Response {
    match oidc.logout_local().await {
        Ok(update) => (update, Redirect::to("/signed-out?where=here")).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn logout_everywhere(oidc: Oidc) -> Response {
    oidc.logout(LogoutOptions::returning_to("/signed-out?where=op").with_idp_logout(true))
        .await
}

/// Ends the user's sessions at the dev OP, which tells this app through
/// back-channel logout; the session cookie the browser still holds is then refused.
async fn end_at_op(State(demo): State<Demo>, user: Option<User>) -> Response {
    let Some(user) = user else {
        return Redirect::to("/signed-out?where=nowhere").into_response();
    };
    let delivered = demo.idp.end_sessions_of(user.sub()).await;
    Redirect::to(&format!(
        "/signed-out?where=backchannel&delivered={delivered}"
    ))
    .into_response()
}

#[derive(serde::Deserialize)]
struct SignedOutQuery {
    #[serde(rename = "where")]
    place: Option<String>,
    delivered: Option<u32>,
}

async fn signed_out(user: Option<User>, Query(query): Query<SignedOutQuery>) -> Html<String> {
    let state = match &user {
        Some(user) => format!(
            "<p id=\"status\">Still signed in here as <strong>{}</strong>.</p>",
            escape(user.sub())
        ),
        None => "<p id=\"status\">Signed out of this application.</p>".to_owned(),
    };
    let explanation = match query.place.as_deref() {
        Some("here") => "<p id=\"where\">You were signed out <strong>here only</strong>: this \
             application ended its session (a copy of the old cookie is refused too). Your session \
             at the OP is still alive, so <em>Sign in</em> lets you straight back in without \
             asking who you are (Okta's <code>req.logout()</code>).</p>"
            .to_owned(),
        Some("op") => "<p id=\"where\">You were signed out <strong>here and at the OP</strong>: \
             this application ended its session, then sent your browser to the OP's \
             <code>end_session_endpoint</code> with <code>id_token_hint</code>; the OP ended its \
             session and sent you back here (the <code>state</code> was checked). <em>Sign in</em> \
             asks who you are again.</p>"
            .to_owned(),
        Some("backchannel") => format!(
            "<p id=\"where\">Your session was ended <strong>at the OP</strong>, without your \
             browser: the OP posted a signed logout token to this application's \
             <code>/backchannel-logout</code> ({} delivered), Portcullis validated it and marked \
             the session as signed out. Your browser still holds the old session cookie, and it \
             is refused now: the line above says so.</p>",
            query.delivered.unwrap_or(0)
        ),
        _ => "<p id=\"where\">You are not signed in.</p>".to_owned(),
    };
    page(
        "Signed out",
        &format!(
            "{state}{explanation}<p class=\"actions\"><a id=\"login\" class=\"button\" \
             href=\"/login?returnTo=%2Fprofile\">Sign in again</a> \
             <a class=\"secondary\" href=\"/\">Home</a></p>"
        ),
    )
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
