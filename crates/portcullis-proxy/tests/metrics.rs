//! The gate's `/metrics` carries the engine's series (feature `metrics` of
//! `portcullis`) next to its own: requests to the OP, JWKS fetches, session
//! cache lookups, store latency. The engine's login, logout and refresh
//! counters are left out, because the gate counts those itself. One test in
//! this binary: the Prometheus recorder is installed once per process.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;
use support::{Browser, start_gate, start_idp, start_upstream};

/// The value of the one sample of `name` whose labels include every one of
/// `labels` (`key="value"`), if there is exactly one.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let found: Vec<f64> = metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    match found[..] {
        [value] => Some(value),
        _ => None,
    }
}

/// A logout token whose header names a `kid` the OP never published.
fn token_with_unknown_kid(issuer: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "logout+jwt", "kid": "no-such-key"});
    let claims = json!({
        "iss": issuer, "aud": support::CLIENT_ID, "sub": "alice", "iat": now, "exp": now + 120,
        "jti": format!("jti-{now}"),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"not a signature"),
    )
}

#[tokio::test]
async fn the_engine_series_appear_on_the_gates_metrics_without_double_counting() {
    let upstream = start_upstream().await;
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_idp(std::slice::from_ref(&base), |c| c).await;
    let gate = start_gate(port, idp.issuer(), upstream, &[], "").await;
    let ops = gate.metrics_addr().expect("metrics listener");

    let browser = Browser::new();
    let echo = browser.sign_in(&base, idp.issuer(), "alice").await;
    assert_eq!(support::seen(&echo, "x-forwarded-user"), ["alice"]);
    for _ in 0..2 {
        let (_, status, _) = browser.navigate(&format!("{base}/whoami")).await;
        assert_eq!(status, StatusCode::OK);
    }
    // A logout token naming an unknown key makes the engine refetch the JWKS.
    let refused = reqwest::Client::new()
        .post(format!("{base}/oauth2/backchannel-logout"))
        .form(&[("logout_token", token_with_unknown_kid(idp.issuer()))])
        .send()
        .await
        .expect("back-channel logout");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let metrics = reqwest::get(format!("http://{ops}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |name: &str, labels: &[&str]| {
        sample(&metrics, name, labels)
            .unwrap_or_else(|| panic!("no single {name} {labels:?} in:\n{metrics}"))
    };

    // The engine's: the JWKS fetch at start (the recorder is installed
    // before the engine is built), the refetch, the calls to the OP, the caches.
    assert_eq!(
        value(
            "portcullis_jwks_fetches_total",
            &["trigger=\"startup\"", "outcome=\"success\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            "portcullis_jwks_fetches_total",
            &["trigger=\"unknown_kid\"", "outcome=\"success\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            "portcullis_jwks_unknown_kid_total",
            &["action=\"refetched\""]
        ),
        1.0
    );
    assert!(metrics.contains("# HELP portcullis_jwks_fetches_total"));
    assert_eq!(
        value(
            "portcullis_op_requests_total",
            &["endpoint=\"token\"", "status=\"2xx\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            "portcullis_op_request_duration_seconds_count",
            &["endpoint=\"jwks\""]
        ),
        // The fetch at start and the refetch for the unknown kid.
        2.0
    );
    // The landing page decrypted the new cookie; the two requests after it
    // were answered from the engine's cache.
    assert_eq!(
        value(
            "portcullis_session_cache_total",
            &["cache=\"session\"", "result=\"miss\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            "portcullis_session_cache_total",
            &["cache=\"session\"", "result=\"hit\""]
        ),
        2.0
    );
    // The gate's own, beside them.
    assert_eq!(
        value("portcullis_proxy_session_cache_total", &["result=\"hit\""]),
        3.0
    );
    assert_eq!(
        value("portcullis_proxy_logins_total", &["outcome=\"success\""]),
        1.0
    );
    assert_eq!(
        value(
            "portcullis_proxy_logouts_total",
            &["kind=\"backchannel\"", "outcome=\"failure\""]
        ),
        1.0
    );
    // Counted once: the engine's login, logout and refresh counters are not exported.
    for duplicate in portcullis_proxy::metrics::ENGINE_DUPLICATES {
        assert!(
            !metrics.lines().any(|line| line.contains(duplicate)),
            "{duplicate} is exported next to the gate's own count:\n{metrics}"
        );
    }
    // No user, session or token in any series.
    let cookie = browser.cookie(&format!("{base}/"));
    for secret in ["alice", cookie.as_str(), support::CLIENT_SECRET] {
        assert!(!metrics.contains(secret), "{secret:?} reached /metrics");
    }
}
