//! Interop: client authentication and PAR against panva's `oidc-provider`
//! (interop/op.mjs): `private_key_jwt` with RSA (PEM), EC (JWK) and Ed25519
//! keys, `client_secret_jwt`, and logins through pushed authorization
//! requests, configured and required by the OP (`--require-par`). Each login
//! also refreshes, so two client-authenticated grants run per test.
//!
//! oidc-provider 9 has no RFC 8693 token exchange grant built in: token
//! exchange is tested against the dev OP (`client_auth_devidp.rs`,
//! `token_exchange_against_dev_op_*`).
//!
//! Needs `node` and `interop/node_modules` (`scripts/test` installs them). It
//! skips loudly when they are missing, and fails under `PORTCULLIS_REQUIRE_ALL=1`.

mod support;

use std::process::Stdio;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis::{AssertionSigningKey, Oidc, OidcLayer, OidcLayerBuilder, User};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Agent, bind_loopback, serve, skip_or_fail, workspace_root};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../portcullis-core/tests/fixtures/keys/"
);
const HMAC_SECRET: &str = "interop-client-secret-for-hs256-0123456789abcdef";

struct Op {
    issuer: String,
    _child: Child,
}

/// Starts `interop/op.mjs` (see interop_oidc_provider.rs for the contract),
/// or returns None after a loud skip when Node or the packages are missing.
async fn start_op(clients: Value, extra_args: &[&str]) -> Option<Op> {
    let interop = workspace_root().join("interop");
    if !interop.join("node_modules/oidc-provider").is_dir() {
        skip_or_fail("interop/node_modules is missing (run `npm ci` in interop/)");
        return None;
    }
    let mut child = match Command::new("node")
        .arg(interop.join("op.mjs"))
        .args(["--port", "0", "--clients"])
        .arg(clients.to_string())
        .args(extra_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            skip_or_fail(&format!("node could not be started: {error}"));
            return None;
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("oidc-provider did not start within 30 s")
    .expect("read stdout")
    .expect("oidc-provider exited before READY");
    let issuer = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .to_owned();
    Some(Op {
        issuer,
        _child: child,
    })
}

fn public_jwks(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}{file}")).expect("fixture");
    let key = AssertionSigningKey::parse(&text).expect("fixture key");
    json!({"keys": [key.public_jwk().expect("asymmetric")]})
}

fn app() -> Router {
    Router::new()
        .route(
            "/profile",
            get(|user: User| async move { axum::Json(json!({"sub": user.sub()})) }),
        )
        .route(
            "/refresh",
            get(|oidc: Oidc| async move {
                match oidc.refresh().await {
                    Ok(update) => (update, "Refreshed").into_response(),
                    Err(error) => error.into_response(),
                }
            }),
        )
}

/// Registers `client` (plus redirect URI and id) at oidc-provider, signs in
/// with the RP `configure` makes, and refreshes. Returns the URLs the
/// browser visited, or None when skipped.
async fn login_and_refresh(
    client: Value,
    op_args: &[&str],
    configure: impl FnOnce(OidcLayerBuilder) -> OidcLayerBuilder,
) -> Option<Vec<url::Url>> {
    let (listener, addr) = bind_loopback().await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let mut client = client;
    client["client_id"] = json!("portcullis");
    client["redirect_uris"] = json!([format!("{base}/callback")]);
    let op = start_op(json!([client]), op_args).await?;
    let builder = OidcLayer::builder()
        .issuer_base_url(op.issuer.clone())
        .client_id("portcullis")
        .base_url(base.clone())
        .secret("interop-cookie-secret-0123456789abcdef");
    let layer = configure(builder)
        .build()
        .await
        .expect("discovery against oidc-provider");
    serve(listener, app().layer(layer));
    let agent = Agent::browser();
    let landing = agent.navigate(&format!("{base}/profile")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(
        landing.body.contains("\"sub\":\"alice\""),
        "{}",
        landing.body
    );
    let refreshed = agent.navigate(&format!("{base}/refresh")).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(refreshed.body, "Refreshed");
    Some(landing.trail)
}

fn private_key_jwt_client(file: &str) -> Value {
    json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": public_jwks(file),
    })
}

#[tokio::test]
async fn oidc_provider_private_key_jwt_with_rsa_pem_key() {
    login_and_refresh(private_key_jwt_client("rsa.pem"), &[], |b| {
        b.client_assertion_signing_key(format!("{FIXTURES}rsa.pem"))
    })
    .await;
}

#[tokio::test]
async fn oidc_provider_private_key_jwt_with_ec_jwk_key() {
    login_and_refresh(private_key_jwt_client("ec-p256.jwk.json"), &[], |b| {
        b.client_assertion_signing_key(format!("{FIXTURES}ec-p256.jwk.json"))
    })
    .await;
}

#[tokio::test]
async fn oidc_provider_private_key_jwt_with_ed25519_key() {
    login_and_refresh(private_key_jwt_client("ed25519.pem"), &[], |b| {
        b.client_assertion_signing_key(format!("{FIXTURES}ed25519.pem"))
    })
    .await;
}

#[tokio::test]
async fn oidc_provider_client_secret_jwt() {
    let client = json!({
        "token_endpoint_auth_method": "client_secret_jwt",
        "client_secret": HMAC_SECRET,
    });
    login_and_refresh(client, &[], |b| {
        b.client_secret(HMAC_SECRET)
            .token_endpoint_auth_method(portcullis::TokenEndpointAuthMethod::ClientSecretJwt)
    })
    .await;
}

fn authorize_names(trail: &[url::Url]) -> Vec<String> {
    trail
        .iter()
        .find(|u| u.path() == "/auth")
        .expect("went through the authorization endpoint")
        .query_pairs()
        .map(|(n, _)| n.into_owned())
        .collect()
}

#[tokio::test]
async fn oidc_provider_par_when_configured_with_private_key_jwt() {
    let Some(trail) = login_and_refresh(private_key_jwt_client("rsa.pem"), &[], |b| {
        b.client_assertion_signing_key(format!("{FIXTURES}rsa.pem"))
            .use_par(true)
    })
    .await
    else {
        return;
    };
    assert_eq!(authorize_names(&trail), ["client_id", "request_uri"]);
}

#[tokio::test]
async fn oidc_provider_par_when_required_by_its_metadata() {
    let client = json!({"client_secret": "interop-secret-0123456789"});
    let Some(trail) = login_and_refresh(client, &["--require-par"], |b| {
        b.client_secret("interop-secret-0123456789")
    })
    .await
    else {
        return;
    };
    assert_eq!(authorize_names(&trail), ["client_id", "request_uri"]);
}
