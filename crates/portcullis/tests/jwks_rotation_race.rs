//! JWKS refetch on an unknown `kid` under concurrency, end to end: real
//! logins through `OidcLayer` against the scripted OP of `hostile/mod.rs`
//! (a real HTTP server that counts its JWKS hits).
//!
//! DESIGN.md: "JWKS is refetched on an unknown `kid`, at most once a minute".
//! Both halves must hold when many callbacks arrive at once: a rotation is
//! followed by every concurrent callback after a single shared refetch, and
//! a burst of unknown kids still costs at most one refetch.

#[allow(dead_code)]
mod hostile;
mod support;

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;
use url::Url;

use hostile::{OpKey, Rp, SUBJECT, Script, ScriptedOp};
use support::{Agent, Landing};

/// How many callbacks race for the refetch (the review's reproduction used 12).
const CONCURRENT_CALLBACKS: usize = 16;

/// Takes `browser` through `/login` and the OP's `/authorize` and returns the
/// callback URL without requesting it (the code is exchanged only when the
/// callback is requested, so the ID token is signed at that moment).
async fn callback_url(rp: &Rp, browser: &Agent) -> Url {
    let mut current = Url::parse(&format!("{}/login", rp.base)).expect("login url");
    for _ in 0..2 {
        let response = browser
            .request(Method::GET, current.as_str(), browser.accept)
            .await;
        assert_eq!(response.status(), StatusCode::FOUND, "at {current}");
        let location = response.headers()["location"]
            .to_str()
            .expect("ascii location")
            .to_owned();
        current = current.join(&location).expect("location");
    }
    assert_eq!(
        current.path(),
        "/callback",
        "expected the callback: {current}"
    );
    current
}

/// Prepares `CONCURRENT_CALLBACKS` browsers up to their callback, then lets
/// all callbacks go at the same instant and follows each to its end.
async fn concurrent_callbacks(rp: &Rp) -> Vec<(Agent, Landing)> {
    let mut prepared = Vec::new();
    for _ in 0..CONCURRENT_CALLBACKS {
        let browser = Agent::browser();
        let url = callback_url(rp, &browser).await;
        prepared.push((browser, url));
    }
    let barrier = Arc::new(Barrier::new(CONCURRENT_CALLBACKS));
    let tasks: Vec<_> = prepared
        .into_iter()
        .map(|(browser, url)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let landing = browser.navigate(url.as_str()).await;
                (browser, landing)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("callback task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callbacks_after_a_rotation_all_succeed_with_one_shared_refetch() {
    let op = ScriptedOp::start(Script::default()).await;
    let rp = Rp::start(&op).await;
    assert_eq!(ScriptedOp::count(&op.hits().jwks), 1, "fetched at startup");

    op.rotate_to(OpKey::es256("op-key-2"));
    let results = concurrent_callbacks(&rp).await;

    let mut failures = Vec::new();
    for (browser, landing) in &results {
        if landing.status != StatusCode::OK || landing.url.path() != "/" {
            failures.push(format!(
                "{} {}: {}",
                landing.status, landing.url, landing.body
            ));
            continue;
        }
        let claims = rp.assert_signed_in(browser, landing).await;
        assert_eq!(claims["sub"], SUBJECT);
    }
    assert!(
        failures.is_empty(),
        "{} of {CONCURRENT_CALLBACKS} concurrent callbacks failed after the rotation: {failures:#?}",
        failures.len()
    );
    assert_eq!(
        ScriptedOp::count(&op.hits().jwks),
        2,
        "the rotation costs exactly one refetch, shared by every callback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callbacks_with_an_unknown_kid_cost_at_most_one_refetch() {
    let op = ScriptedOp::start(Script::default()).await;
    let rp = Rp::start(&op).await;
    assert_eq!(ScriptedOp::count(&op.hits().jwks), 1, "fetched at startup");

    // Signed by the published key but naming a kid the JWKS never has.
    op.script(|s| s.header_patch = json!({"kid": hostile::random_token("unknown")}));
    let results = concurrent_callbacks(&rp).await;

    for (browser, landing) in &results {
        rp.assert_rejected(browser, landing, StatusCode::BAD_REQUEST)
            .await;
    }
    assert!(
        ScriptedOp::count(&op.hits().jwks) <= 2,
        "a burst of unknown kids refetched {} times",
        ScriptedOp::count(&op.hits().jwks) - 1
    );
}
