//! Sessions are bound to their application: two relying parties that share
//! a `SECRET` (a copy-pasted config, one secret for a whole cluster) cannot
//! open each other's session cookies, whether they differ by client id or
//! by issuer. Otherwise a session at one would be a session at the other,
//! and signing out of one would leave a way into the other.

mod support;

use std::sync::Arc;

use portcullis::store::{MemorySessionStore, SessionStore};
use portcullis_devidp::DevIdpConfig;
use support::Agent;
use support::rp::*;

/// One RP: its base URL and an agent signed in there, with the cookie.
struct Signed {
    base: String,
    alice: SignedIn,
}

/// Only the session cookie pairs of a `Cookie` header (the dev OP's own
/// cookie is on the same host and would be sent along otherwise).
fn session_pairs(cookie: &str) -> String {
    cookie
        .split("; ")
        .filter(|pair| pair.starts_with(SESSION_COOKIE))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn sign_in_at(base: &str, issuer: &str) -> Signed {
    let agent = Agent::browser();
    let mut alice = sign_in_as(&agent, base, issuer, "alice").await;
    alice.cookie = session_pairs(&alice.cookie);
    assert!(!alice.cookie.is_empty());
    Signed {
        base: base.to_owned(),
        alice,
    }
}

async fn assert_not_interchangeable(a: &Signed, b: &Signed) {
    assert_signed_in(&a.base, &a.alice.cookie, "A's cookie at A").await;
    assert_signed_in(&b.base, &b.alice.cookie, "B's cookie at B").await;
    // Same SECRET, same cookie name, same user: still no session elsewhere.
    assert_signed_out(&b.base, &a.alice.cookie, "A's cookie at B").await;
    assert_signed_out(&a.base, &b.alice.cookie, "B's cookie at A").await;
}

/// Two RPs at one OP, as clients `rp-a` and `rp-b`, with the same SECRET.
async fn two_clients_of_one_op(
    store: Option<Arc<dyn SessionStore>>,
) -> (Signed, Signed, portcullis_devidp::RunningDevIdp) {
    let (site_a, site_b) = (site().await, site().await);
    let idp = start_idp(
        DevIdpConfig::new()
            .with_client(dev_client("rp-a", &site_a.base))
            .with_client(dev_client("rp-b", &site_b.base)),
    )
    .await;
    let (base_a, base_b) = (site_a.base.clone(), site_b.base.clone());
    let with_store = |b: portcullis::OidcLayerBuilder| match &store {
        Some(store) => b.session_store(store.clone()),
        None => b,
    };
    serve_rp(
        site_a,
        with_store(rp_builder(idp.issuer(), &base_a, "rp-a")),
    )
    .await;
    serve_rp(
        site_b,
        with_store(rp_builder(idp.issuer(), &base_b, "rp-b")),
    )
    .await;
    let a = sign_in_at(&base_a, idp.issuer()).await;
    let b = sign_in_at(&base_b, idp.issuer()).await;
    (a, b, idp)
}

#[tokio::test]
async fn a_session_cookie_of_one_client_is_refused_by_another_client_with_the_same_secret() {
    let (a, b, _idp) = two_clients_of_one_op(None).await;
    assert_not_interchangeable(&a, &b).await;
}

#[tokio::test]
async fn a_stored_session_of_one_client_is_refused_by_another_client_sharing_the_store_and_secret()
{
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::default());
    let (a, b, _idp) = two_clients_of_one_op(Some(store)).await;
    assert_not_interchangeable(&a, &b).await;
}

#[tokio::test]
async fn a_session_cookie_of_one_issuer_is_refused_by_an_rp_of_another_issuer_with_the_same_secret()
{
    let (site_a, site_b) = (site().await, site().await);
    // Same client id and secret at two OPs: only the issuer differs.
    let idp_a =
        start_idp(DevIdpConfig::new().with_client(dev_client(CLIENT_ID, &site_a.base))).await;
    let idp_b =
        start_idp(DevIdpConfig::new().with_client(dev_client(CLIENT_ID, &site_b.base))).await;
    let (base_a, base_b) = (site_a.base.clone(), site_b.base.clone());
    serve_rp(site_a, rp_builder(idp_a.issuer(), &base_a, CLIENT_ID)).await;
    serve_rp(site_b, rp_builder(idp_b.issuer(), &base_b, CLIENT_ID)).await;
    let a = sign_in_at(&base_a, idp_a.issuer()).await;
    let b = sign_in_at(&base_b, idp_b.issuer()).await;
    assert_not_interchangeable(&a, &b).await;
}
