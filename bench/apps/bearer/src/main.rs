//! Benchmark: the bare-axum ceiling's `/profile` handler (the same fixed
//! claims object) behind Portcullis' `BearerLayer`.
//!
//! It starts the dev OP in-process on a free port (the token's issuer; the
//! verifier discovers it and fetches its JWKS once, over HTTP), mints one
//! RS256 `at+jwt` access token with the OP's own key, prints
//! `TOKEN <jwt>` on stdout, and serves on 127.0.0.1:`PORT` (default 3105).
//! `TOKEN_CACHE=off` turns the verified-token cache off, so every request
//! pays the full verification (header rules, RS256 signature, claims).

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use portcullis::BearerLayer;
use portcullis::bearer::BearerVerifier;
use portcullis_devidp::{DevIdpConfig, SigningAlg};
use serde_json::json;
use serde_json::value::RawValue;

const API: &str = "https://api.bench.test";

/// The same claims as `bench/apps/bare-axum`.
const CLAIMS: &str = r#"{"iss":"http://127.0.0.1:9400","sub":"alice","aud":"bench-basic","exp":1893456000,"iat":1893455700,"auth_time":1893455700,"nonce":"0123456789abcdefghijklmnopqrstuvwxyzABCDEFG","at_hash":"tB6oZ8EvSCB3qUx2Qkx_Gw","sid":"7f3c2a51-3b9e-4d0a-9a6e-0c1d2e3f4a5b","name":"Alice Example","given_name":"Alice","family_name":"Example","preferred_username":"alice","email":"alice@example.com","email_verified":true,"locale":"en-GB","groups":["admin","users"]}"#;

async fn profile(State(claims): State<Arc<Box<RawValue>>>) -> Json<Box<RawValue>> {
    Json(claims.as_ref().to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3105);
    let cache = std::env::var("TOKEN_CACHE").map_or(true, |v| v != "off");
    let idp = portcullis_devidp::start(DevIdpConfig::new(), "127.0.0.1:0".parse()?).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let token = idp.sign_jws(
        SigningAlg::RS256,
        json!({"alg": "RS256", "typ": "at+jwt", "kid": idp.signing_kid(SigningAlg::RS256)}),
        json!({
            "iss": idp.issuer(), "sub": "alice", "aud": API, "client_id": "bench",
            "scope": "openid profile email", "iat": now, "exp": now + 86_400,
            "jti": "bench-token-1", "auth_time": now, "sid": "bench-sid",
        }),
    )?;
    let mut builder = BearerVerifier::builder().issuer(idp.issuer()).audience(API);
    if !cache {
        builder = builder.token_cache_capacity(0);
    }
    let verifier = builder.build().await?;
    let claims: Box<RawValue> = serde_json::from_str(CLAIMS)?;
    let app = Router::new()
        .route("/profile", get(profile))
        .layer(BearerLayer::new(verifier))
        .with_state(Arc::new(claims));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("TOKEN {token}");
    eprintln!(
        "bench-bearer (token cache {}) listening on 127.0.0.1:{port}",
        if cache { "on" } else { "off" }
    );
    axum::serve(listener, app).await?;
    drop(idp);
    Ok(())
}
