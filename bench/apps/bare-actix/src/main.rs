//! Benchmark ceiling: the `actix_basic` example's `/profile` handler in bare
//! actix-web, with no authentication. It returns a fixed claims object,
//! shaped like the one `actix_basic` returns for the dev OP's user `alice`,
//! copied into each response exactly as `actix_basic` copies the session's
//! raw claims. Same worker count as `actix_basic` (one per core).
//!
//! `PORT` (default 3001) selects the port; it listens on 127.0.0.1.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::value::RawValue;

/// Claims of a typical dev-OP login (ID token claims merged with userinfo);
/// the same object as `bench-bare-axum`'s.
const CLAIMS: &str = r#"{"iss":"http://127.0.0.1:9400","sub":"alice","aud":"bench-basic","exp":1893456000,"iat":1893455700,"auth_time":1893455700,"nonce":"0123456789abcdefghijklmnopqrstuvwxyzABCDEFG","at_hash":"tB6oZ8EvSCB3qUx2Qkx_Gw","sid":"7f3c2a51-3b9e-4d0a-9a6e-0c1d2e3f4a5b","name":"Alice Example","given_name":"Alice","family_name":"Example","preferred_username":"alice","email":"alice@example.com","email_verified":true,"locale":"en-GB","groups":["admin","users"]}"#;

async fn profile(claims: web::Data<Box<RawValue>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(claims.get().to_owned())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3001);
    let claims: Box<RawValue> = serde_json::from_str(CLAIMS)?;
    let claims = web::Data::new(claims);
    eprintln!("bench-bare-actix listening on 127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new()
            .app_data(claims.clone())
            .route(
                "/",
                web::get().to(|| async { "bare actix-web bench app: no authentication" }),
            )
            .route("/profile", web::get().to(profile))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
