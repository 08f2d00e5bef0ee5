//! Benchmark ceiling: the `basic` example's `/profile` handler in bare axum,
//! with no authentication. It returns a fixed claims object, shaped like the
//! one the `basic` example returns for the dev OP's user `alice`, copied into
//! each response exactly as `basic` copies the session's raw claims.
//!
//! `PORT` (default 3001) selects the port; it listens on 127.0.0.1.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use serde_json::value::RawValue;

/// Claims of a typical dev-OP login (ID token claims merged with userinfo).
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
        .unwrap_or(3001);
    let claims: Box<RawValue> = serde_json::from_str(CLAIMS)?;
    let app = Router::new()
        .route(
            "/",
            get(|| async { "bare axum bench app: no authentication" }),
        )
        .route("/profile", get(profile))
        .with_state(Arc::new(claims));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bench-bare-axum listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
