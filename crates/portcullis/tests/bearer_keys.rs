//! Bearer verification and the JWKS: an unknown-`kid` storm refetches a
//! bounded number of times, a rotated key is accepted after one refetch,
//! several issuers each have their own keys, and a verifier on the sign-in
//! engine shares its key cache. The OP is a small loopback server whose
//! JWKS can rotate and counts its fetches.

mod bearer_support;

use std::sync::Arc;

use bearer_support::{
    API, EdKey, MiniOp, assert_invalid_token, get_with_token, random_kid, serve_api,
};
use portcullis::OidcLayer;
use portcullis::bearer::BearerVerifier;
use serde_json::json;

async fn verifier(issuers: &[&str]) -> BearerVerifier {
    let mut builder = BearerVerifier::builder().audience(API);
    for issuer in issuers {
        builder = builder.issuer(*issuer);
    }
    builder.build().await.expect("verifier")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_storm_refetches_the_jwks_at_most_once_a_minute() {
    let key = EdKey::new("k1");
    let op = MiniOp::start(&key).await;
    let base = serve_api(verifier(&[op.issuer()]).await).await;
    assert_eq!(op.jwks_fetches(), 1, "one fetch at startup");
    for round in 0..2 {
        let requests = (0..50).map(|_| {
            let token = key.sign_naming(&random_kid(), &op.claims("alice"));
            let url = format!("{base}/me");
            async move {
                let response = get_with_token(&url, &token).await;
                (response.status().as_u16(), token)
            }
        });
        for (status, _) in futures_util::future::join_all(requests).await {
            assert_eq!(status, 401, "round {round}");
        }
        assert_eq!(
            op.jwks_fetches(),
            2,
            "100 unknown kids caused one refetch in all (round {round})"
        );
    }
    // The real key still works, without another fetch.
    let token = key.sign(&op.claims("alice"));
    assert_eq!(
        get_with_token(&format!("{base}/me"), &token).await.status(),
        200
    );
    assert_eq!(op.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let (old, new) = (EdKey::new("k1"), EdKey::new("k2"));
    let op = MiniOp::start(&old).await;
    let base = serve_api(verifier(&[op.issuer()]).await).await;
    let url = format!("{base}/me");
    assert_eq!(
        get_with_token(&url, &old.sign(&op.claims("alice")))
            .await
            .status(),
        200
    );
    assert_eq!(op.jwks_fetches(), 1);

    op.publish(&[&new]);
    let rotated = new.sign(&op.claims("alice"));
    assert_eq!(get_with_token(&url, &rotated).await.status(), 200);
    assert_eq!(op.jwks_fetches(), 2, "exactly one refetch for the rotation");
    for _ in 0..5 {
        let token = new.sign(&op.claims("bob"));
        assert_eq!(get_with_token(&url, &token).await.status(), 200);
    }
    assert_eq!(op.jwks_fetches(), 2, "no fetch once the new key is known");
    // A token signed by a key the OP never published, under the new kid, fails.
    let impostor = EdKey::new("k2").sign(&op.claims("mallory"));
    assert_invalid_token(get_with_token(&url, &impostor).await, &impostor, "impostor").await;
}

#[tokio::test]
async fn several_issuers_each_verify_with_their_own_keys() {
    let (key_a, key_b) = (EdKey::new("a1"), EdKey::new("b1"));
    let (a, b) = (MiniOp::start(&key_a).await, MiniOp::start(&key_b).await);
    let base = serve_api(verifier(&[a.issuer(), b.issuer()]).await).await;
    let url = format!("{base}/me");
    for (key, op) in [(&key_a, &a), (&key_b, &b)] {
        let response = get_with_token(&url, &key.sign(&op.claims("alice"))).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["iss"], op.issuer());
    }
    // Issuer B's claims signed with issuer A's key (and kid): B's keys decide.
    let cross = key_a.sign(&b.claims("alice"));
    assert_invalid_token(get_with_token(&url, &cross).await, &cross, "cross-issuer").await;
    // A key id that both could know does not help either.
    let same_kid = key_a.sign_naming("b1", &b.claims("alice"));
    assert_invalid_token(get_with_token(&url, &same_kid).await, &same_kid, "kid of B").await;
    // An issuer nobody trusts.
    let mut claims = a.claims("alice");
    claims["iss"] = json!("https://untrusted.example");
    let untrusted = key_a.sign(&claims);
    assert_invalid_token(
        get_with_token(&url, &untrusted).await,
        &untrusted,
        "untrusted",
    )
    .await;
    assert_eq!(a.jwks_fetches(), 1, "issuer A's keys were never refetched");
}

#[tokio::test]
async fn a_verifier_on_the_engine_shares_its_discovery_and_jwks_cache() {
    let (old, new) = (EdKey::new("k1"), EdKey::new("k2"));
    let op = MiniOp::start(&old).await;
    let layer = OidcLayer::builder()
        .issuer_base_url(op.issuer())
        .client_id("rp")
        .client_secret("rp-secret")
        .base_url("http://127.0.0.1:9")
        .secret("bearer-keys-test-cookie-secret-0123456789")
        .id_token_signing_algs(vec![portcullis::Algorithm::EdDSA])
        .build()
        .await
        .expect("layer");
    assert_eq!(op.jwks_fetches(), 1);
    let verifier = BearerVerifier::builder()
        .engine(Arc::clone(layer.engine()))
        .audience(API)
        .build()
        .await
        .expect("verifier");
    assert_eq!(
        op.jwks_fetches(),
        1,
        "no discovery or JWKS fetch of its own"
    );
    let base = serve_api(verifier).await;
    let url = format!("{base}/me");
    assert_eq!(
        get_with_token(&url, &old.sign(&op.claims("alice")))
            .await
            .status(),
        200
    );
    op.publish(&[&new]);
    assert_eq!(
        get_with_token(&url, &new.sign(&op.claims("alice")))
            .await
            .status(),
        200
    );
    assert_eq!(
        op.jwks_fetches(),
        2,
        "the engine's cache followed the rotation"
    );
}
