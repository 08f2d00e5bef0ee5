//! Provider quirks handled at login: `email_verified` sent as the string
//! `"true"` (Cognito, some Okta and Auth0 setups) reaches the application,
//! its hooks and its claim guards as a boolean.

mod support;

use portcullis_devidp::{DevIdpConfig, DevUser};
use serde_json::json;
use support::Agent;
use support::rp::{CLIENT_ID, dev_client, rp_builder, serve_rp, sign_in_as, site, start_idp};

#[tokio::test]
async fn a_string_email_verified_becomes_a_boolean() {
    let site = site().await;
    let base = site.base.clone();
    let carol = DevUser::new(
        "carol",
        serde_json::from_value(json!({
            "name": "Carol Quirk",
            "email": "carol@example.com",
            "email_verified": "true",
        }))
        .expect("claims"),
    );
    let idp = start_idp(
        DevIdpConfig::new()
            .with_users(vec![carol])
            .with_client(dev_client(CLIENT_ID, &base)),
    )
    .await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_by_hook = seen.clone();
    let builder = rp_builder(idp.issuer(), &base, CLIENT_ID).after_callback(move |ctx| {
        let seen = seen_by_hook.clone();
        async move {
            *seen.lock().expect("lock") = ctx.claims.get("email_verified").cloned();
            Ok(ctx)
        }
    });
    serve_rp(site, builder).await;
    let agent = Agent::browser();
    sign_in_as(&agent, &base, idp.issuer(), "carol").await;
    assert_eq!(
        *seen.lock().expect("lock"),
        Some(json!(true)),
        "the hook sees a boolean"
    );
    let profile = agent.navigate(&format!("{base}/profile")).await;
    let claims: serde_json::Value = serde_json::from_str(&profile.body).expect("claims");
    assert_eq!(claims["email_verified"], json!(true), "{claims}");
}
