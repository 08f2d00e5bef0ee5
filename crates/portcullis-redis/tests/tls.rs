//! `rediss://` against a redis-server with TLS only, its certificate from a
//! CA generated here.

mod common;

use std::time::Duration;

use common::*;
use portcullis_redis::{RedisConfigError, RedisOptions, RedisStores};
use portcullis_store::{Cached, LogoutStore, SessionStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const TTL: Duration = Duration::from_secs(60);

struct TlsRedis {
    server: RedisServer,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

/// Whether this redis-server was built with TLS.
fn redis_has_tls(dir: &std::path::Path) -> bool {
    // Without TLS support the option is unknown and the server exits with
    // "Bad directive"; with it, it complains about the missing certificate.
    let out = std::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", "1", "--dir"])
        .arg(dir)
        .output();
    match out {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            !text.contains("Bad directive") && !text.contains("not compiled")
        }
        Err(_) => false,
    }
}

fn start_tls_redis() -> Option<TlsRedis> {
    let dir = tempfile::tempdir().expect("tempdir");
    if !redis_has_tls(dir.path()) {
        assert!(
            !require_all(),
            "redis-server has no TLS support and PORTCULLIS_REQUIRE_ALL=1"
        );
        loud("SKIPPED TLS tests: redis-server was built without TLS");
        return None;
    }
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "portcullis-redis test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).expect("server cert");

    let ca_path = dir.path().join("ca.pem");
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");

    let port = free_port(false);
    let port_s = port.to_string();
    let (ca_s, cert_s, key_s) = (
        ca_path.display().to_string(),
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let server = RedisServer::spawn(
        port,
        dir.path(),
        &[
            // TLS only: the plain port is off.
            "--port",
            "0",
            "--tls-port",
            &port_s,
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
            "--tls-ca-cert-file",
            &ca_s,
            "--tls-auth-clients",
            "no",
        ],
        false,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(
            std::time::Instant::now() < deadline,
            "TLS redis did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(TlsRedis {
        server,
        ca_pem: ca_cert.pem(),
        _dir: dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_stores_work_with_a_private_ca_and_refuse_an_untrusted_certificate() {
    if !have(
        "redis-server",
        "rediss_stores_work_with_a_private_ca_and_refuse_an_untrusted_certificate",
    ) {
        return;
    }
    let Some(tls) = start_tls_redis() else { return };
    let url = format!("rediss://localhost:{}", tls.server.port);

    // Without the CA the certificate is not trusted: a startup error.
    let err = RedisStores::connect(
        &url,
        RedisOptions::default().connect_timeout(Duration::from_secs(1)),
    )
    .await
    .expect_err("untrusted certificate");
    assert!(
        matches!(
            err,
            RedisConfigError::Connect { .. } | RedisConfigError::ConnectTimeout { .. }
        ),
        "{err:?}"
    );

    let options = RedisOptions::default()
        .key_prefix("tls:")
        .tls_root_certificates(tls.ca_pem.as_bytes());
    let a = RedisStores::connect(&url, options.clone())
        .await
        .expect("connect over TLS");
    let b = RedisStores::connect(&url, options)
        .await
        .expect("connect over TLS");
    assert!(
        a.wait_coherent(Duration::from_secs(3)).await,
        "TLS subscription"
    );
    assert!(
        b.wait_coherent(Duration::from_secs(3)).await,
        "TLS subscription"
    );

    let (sa, sb) = (a.session_store(), b.session_store());
    let id = session_id();
    sa.save(&id, record(b"over-tls"), TTL).await.expect("save");
    assert_eq!(load_until_cached(&sb, &id).await, b"over-tls");
    sa.destroy(&id).await.expect("destroy");
    assert!(
        eventually(Duration::from_secs(1), || hit_bytes(&sb.cached(&id))
            .is_none())
        .await
    );
    assert!(sb.load(&id).await.expect("load").is_none());

    let (la, lb) = (a.logout_store(), b.logout_store());
    la.mark("sid:t", 9, TTL).await.expect("mark");
    assert!(
        eventually(Duration::from_secs(1), || lb.cached_marker("sid:t")
            == Cached::Hit(9))
        .await
    );
    assert!(lb.remember_jti("jti:t", TTL).await.expect("jti"));
    assert!(!la.remember_jti("jti:t", TTL).await.expect("jti"));
}
