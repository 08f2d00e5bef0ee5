//! TLS (rustls) on the gate's listener: HTTP/1.1 and h2 negotiated by
//! ALPN, `X-Forwarded-Proto: https` for the upstream. The certificate is
//! made for the test (rcgen).

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use support::*;
use tokio_rustls::rustls;

#[tokio::test]
async fn https_serves_http1_and_h2_and_tells_the_upstream_it_was_https() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = std::env::temp_dir().join(format!("portcullis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("write key");

    let upstream = start_upstream().await;
    let port = free_port();
    let base = format!("https://localhost:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let gate = start_gate(
        port,
        idp.issuer(),
        upstream,
        &[
            ("BASE_URL", base.as_str()),
            ("SKIP_AUTH", "^/public/"),
            ("TLS_CERT_FILE", cert_file.to_str().expect("path")),
            ("TLS_KEY_FILE", key_file.to_str().expect("path")),
        ],
        "",
    )
    .await;

    // HTTP/1.1 over TLS.
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("root"),
        )
        .resolve("localhost", gate.addr())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let echo: Value = client
        .get(format!("{base}/public/x"))
        .send()
        .await
        .expect("https request")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["https"]);
    // Cookies on https are Secure.
    let login = client
        .get(format!("{base}/oauth2/login"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("login");
    let set_cookie: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    assert!(
        !set_cookie.is_empty() && set_cookie.iter().all(|c| c.contains("Secure")),
        "{set_cookie:?}"
    );

    // h2 by ALPN.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(gate.addr())
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().expect("name"), tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let request = http::Request::get(format!("{base}/public/h2"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let echo: Value = serde_json::from_slice(&body).expect("echo");
    assert_eq!(echo["target"], "/public/h2");
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["https"]);
    assert_eq!(seen(&echo, "host"), [format!("localhost:{port}").as_str()]);
    gate.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
