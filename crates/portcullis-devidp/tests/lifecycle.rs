//! Starting, stopping and embedding the dev OP.
mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn shutdown_stops_the_server_even_with_idle_keep_alive_connections() {
    let f = fixture(config()).await;
    let addr = f.idp.addr();
    // Leave a pooled keep-alive connection open.
    let resp = f.http.get(f.url("/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(Duration::from_secs(3), f.idp.shutdown())
        .await
        .expect("graceful shutdown finishes promptly");
    let fresh = reqwest::Client::new();
    assert!(
        fresh
            .get(format!("http://{addr}/jwks"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let idp = portcullis_devidp::start(config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = idp.addr();
    drop(idp);
    let client = reqwest::Client::new();
    let mut stopped = false;
    for _ in 0..50 {
        if client
            .get(format!("http://{addr}/jwks"))
            .send()
            .await
            .is_err()
        {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped);
}

#[tokio::test]
async fn start_fails_cleanly_when_the_port_is_taken() {
    let first = fixture(config()).await;
    let err = portcullis_devidp::start(config(), first.idp.addr())
        .await
        .unwrap_err();
    assert!(matches!(err, portcullis_devidp::DevIdpError::Bind { .. }));
}

#[tokio::test]
async fn router_nests_under_an_issuer_with_a_path() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}/idp");
    let idp = portcullis_devidp::router(config(), issuer.clone()).unwrap();
    let app = axum::Router::new().nest("/idp", idp);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let d: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], issuer);
    assert_eq!(d["authorization_endpoint"], format!("{issuer}/authorize"));

    let (_, challenge) = pkce();
    let mut url = url::Url::parse(&format!("{issuer}/authorize")).unwrap();
    url.query_pairs_mut()
        .extend_pairs(auth_params("web", &challenge));
    let html = http
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, inputs) = parse_form(&html);
    assert_eq!(action, "/idp/authorize/approve");
    let resp = http
        .post(format!("http://{addr}{action}"))
        .form(&form(&[("request", &inputs["request"]), ("user", "alice")]))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Path=/idp;"));
    let p = location_params(&resp, RP);
    assert_eq!(p["iss"], issuer);
    server.abort();
}

#[test]
fn client_debug_output_redacts_the_secret() {
    let client = portcullis_devidp::DevClient::confidential("c", "hunter2", RP);
    let debug = format!("{client:?}");
    assert!(!debug.contains("hunter2"));
    assert!(debug.contains("redacted"));
    let config = config().with_client(client);
    assert!(!format!("{config:?}").contains("hunter2"));
}
