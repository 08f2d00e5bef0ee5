//! Back-Channel Logout 1.0 at the relying party, end to end: a real dev OP
//! delivers (or a test forges) logout tokens to `POST /backchannel-logout`
//! of a real axum app behind `OidcLayer`, and the browsers' sessions end —
//! or, for every invalid token, live on.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use portcullis::LogoutTokenInfo;
use portcullis::store::{LogoutStore, MemorySessionStore};
use portcullis_devidp::{DevClient, SigningAlg};
use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;
use serde_json::{Value, json};
use support::Agent;
use support::rp::*;

/// Where sessions live in a test.
#[derive(Clone, Copy, Debug)]
enum Sessions {
    Cookie,
    Memory,
}

fn with_bcl(client: DevClient, base: &str) -> DevClient {
    client.with_backchannel_logout_uri(format!("{base}/backchannel-logout"))
}

async fn bcl_env(sessions: Sessions) -> Env {
    start_env(with_bcl, |b| match sessions {
        Sessions::Cookie => b,
        Sessions::Memory => b.session_store(Arc::new(MemorySessionStore::default())),
    })
    .await
}

/// An RP (cookie sessions) with alice signed in.
async fn signed_in_env() -> (Env, Agent, SignedIn) {
    let env = bcl_env(Sessions::Cookie).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;
    (env, agent, alice)
}

// ------------------------------------------------------------ valid logouts

async fn a_backchannel_logout_from_the_op_ends_the_session(sessions: Sessions) {
    let env = bcl_env(sessions).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_signed_in(&env.base, &alice.cookie, "just signed in").await;

    // The OP ends alice's OP session and POSTs a logout token (sub + sid).
    let delivered = env.idp.end_sessions_of("alice").await;
    assert_eq!(
        delivered, 1,
        "the RP must answer the logout token with a 2xx"
    );

    // The browser's next request is unauthenticated: 401 JSON for API clients.
    let api = agent
        .request(
            reqwest::Method::GET,
            &env.url("/profile"),
            "application/json",
        )
        .await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: Value = api.json().await.expect("json");
    assert_eq!(body["error"], "unauthenticated");
    // And so is a copy of the cookie.
    assert_signed_out(&env.base, &alice.cookie, "after back-channel logout").await;
}

#[tokio::test]
async fn a_backchannel_logout_from_the_op_ends_a_cookie_session() {
    a_backchannel_logout_from_the_op_ends_the_session(Sessions::Cookie).await;
}

#[tokio::test]
async fn a_backchannel_logout_from_the_op_ends_a_server_side_session() {
    a_backchannel_logout_from_the_op_ends_the_session(Sessions::Memory).await;
}

async fn a_valid_logout_token_is_answered_200_no_store_and_ends_the_session(sessions: Sessions) {
    let env = bcl_env(sessions).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    let token =
        env.idp
            .sign_logout_token(logout_claims(env.issuer(), Some("alice"), Some(&alice.sid)));
    let response = post_logout_token(&env.base, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    assert_signed_out(&env.base, &alice.cookie, "after a direct logout token").await;
}

#[tokio::test]
async fn a_valid_logout_token_is_answered_200_no_store_and_ends_a_cookie_session() {
    a_valid_logout_token_is_answered_200_no_store_and_ends_the_session(Sessions::Cookie).await;
}

#[tokio::test]
async fn a_valid_logout_token_is_answered_200_no_store_and_ends_a_server_side_session() {
    a_valid_logout_token_is_answered_200_no_store_and_ends_the_session(Sessions::Memory).await;
}

async fn a_new_login_after_a_backchannel_logout_works(sessions: Sessions) {
    let env = bcl_env(sessions).await;
    let agent = Agent::browser();
    let first = sign_in(&agent, &env).await;
    assert_eq!(env.idp.end_sessions_of("alice").await, 1);
    assert_signed_out(&env.base, &first.cookie, "after back-channel logout").await;

    // The OP session is gone: alice signs in again, with a new sid.
    let second = sign_in(&agent, &env).await;
    assert_ne!(second.sid, first.sid);
    assert_signed_in(&env.base, &second.cookie, "a login after the logout").await;
    // The old cookie stays dead.
    assert_signed_out(&env.base, &first.cookie, "the old session").await;
}

#[tokio::test]
async fn a_new_login_after_a_backchannel_logout_works_with_cookie_sessions() {
    a_new_login_after_a_backchannel_logout_works(Sessions::Cookie).await;
}

#[tokio::test]
async fn a_new_login_after_a_backchannel_logout_works_with_server_side_sessions() {
    a_new_login_after_a_backchannel_logout_works(Sessions::Memory).await;
}

/// A `sub`-only marker ends the sessions that started before it, not a
/// login made after it, even one that reuses a live OP session (an OP
/// that signs the user out of this RP only).
#[tokio::test]
async fn a_new_login_after_a_sub_only_logout_is_not_killed_by_the_old_marker() {
    let env = bcl_env(Sessions::Cookie).await;
    let agent = Agent::browser();
    let first = sign_in(&agent, &env).await;

    let by_sub = env
        .idp
        .sign_logout_token(logout_claims(env.issuer(), Some("alice"), None));
    assert_eq!(
        post_logout_token(&env.base, &by_sub).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &first.cookie, "after a sub logout").await;

    // The OP session still exists (the token came from the test, not from
    // an ended OP session), so this login reuses it: new RP session.
    let second = sign_in(&agent, &env).await;
    assert_eq!(second.sid, first.sid);
    assert_signed_in(&env.base, &second.cookie, "a login after the sub marker").await;
    assert_signed_out(&env.base, &first.cookie, "the old session stays dead").await;
}

/// BCL §2.7: the RP logs out the sessions of the OP session `sid`. A code
/// issued in that OP session just before it ended, and redeemed just
/// after the logout token arrived, must not make a live RP session of a
/// dead OP session.
#[tokio::test]
async fn a_callback_completed_after_its_op_session_was_logged_out_gives_no_live_session() {
    let env = bcl_env(Sessions::Cookie).await;
    let agent = Agent::browser();
    // Sign in at the OP, but stop before the browser reaches the callback.
    let landing = agent.navigate(&env.url("/login?returnTo=%2Fsession")).await;
    assert!(
        landing.url.as_str().starts_with(env.issuer()),
        "sign-in page"
    );
    let handle = {
        let needle = "name=\"request\" value=\"";
        let start = landing.body.find(needle).expect("handle") + needle.len();
        landing.body[start..start + landing.body[start..].find('"').expect("quote")].to_owned()
    };
    let approved = agent
        .client
        .post(format!("{}/authorize/approve", env.issuer()))
        .form(&[("request", handle.as_str()), ("user", "alice")])
        .send()
        .await
        .expect("approve");
    let callback = approved.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(callback.starts_with(&env.url("/callback?")), "{callback}");

    // The OP session ends meanwhile; the RP is told by back-channel.
    assert_eq!(env.idp.end_sessions_of("alice").await, 1);

    // The browser arrives at the callback with the code of that OP session.
    let landing = agent.navigate(&callback).await;
    let cookie = agent.cookie_header(&env.url("/")).unwrap_or_default();
    assert!(
        landing.status != StatusCode::OK || landing.url.path() != "/session",
        "the callback signed in a session of an OP session that was already logged out"
    );
    assert_signed_out(&env.base, &cookie, "a session of a logged-out sid").await;
}

async fn a_sub_only_logout_ends_every_session_of_that_user_and_no_other(sessions: Sessions) {
    let env = bcl_env(sessions).await;
    let (laptop, phone, other) = (Agent::browser(), Agent::browser(), Agent::browser());
    let alice_laptop = sign_in_as(&laptop, &env.base, env.issuer(), "alice").await;
    let alice_phone = sign_in_as(&phone, &env.base, env.issuer(), "alice").await;
    let bob = sign_in_as(&other, &env.base, env.issuer(), "bob").await;
    assert_ne!(alice_laptop.sid, alice_phone.sid, "two OP sessions");

    let token = env
        .idp
        .sign_logout_token(logout_claims(env.issuer(), Some("alice"), None));
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &alice_laptop.cookie, "alice's first browser").await;
    assert_signed_out(&env.base, &alice_phone.cookie, "alice's second browser").await;
    assert_signed_in(&env.base, &bob.cookie, "bob was not named").await;
}

#[tokio::test]
async fn a_sub_only_logout_ends_every_cookie_session_of_that_user_and_no_other() {
    a_sub_only_logout_ends_every_session_of_that_user_and_no_other(Sessions::Cookie).await;
}

#[tokio::test]
async fn a_sub_only_logout_ends_every_server_side_session_of_that_user_and_no_other() {
    a_sub_only_logout_ends_every_session_of_that_user_and_no_other(Sessions::Memory).await;
}

#[tokio::test]
async fn a_sid_logout_ends_only_the_sessions_of_that_op_session() {
    let env = bcl_env(Sessions::Cookie).await;
    let (laptop, phone) = (Agent::browser(), Agent::browser());
    let first = sign_in(&laptop, &env).await;
    let second = sign_in(&phone, &env).await;
    let token =
        env.idp
            .sign_logout_token(logout_claims(env.issuer(), Some("alice"), Some(&first.sid)));
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &first.cookie, "its sid was named").await;
    assert_signed_in(&env.base, &second.cookie, "another OP session of alice").await;
}

#[tokio::test]
async fn the_on_logout_token_hook_sees_the_iss_sub_and_sid() {
    let seen: Arc<Mutex<Vec<LogoutTokenInfo>>> = Arc::default();
    let recorder = seen.clone();
    let env = start_env(with_bcl, move |b| {
        b.on_logout_token(move |info| {
            let recorder = recorder.clone();
            async move { recorder.lock().expect("lock").push(info) }
        })
    })
    .await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_eq!(env.idp.end_sessions_of("alice").await, 1);
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].iss, env.issuer());
        assert_eq!(seen[0].sub.as_deref(), Some("alice"));
        assert_eq!(seen[0].sid.as_deref(), Some(alice.sid.as_str()));
    }

    // A sub-only token: sid is None. A rejected token: no call.
    let token = env
        .idp
        .sign_logout_token(logout_claims(env.issuer(), Some("bob"), None));
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::BAD_REQUEST,
        "replay"
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].sub.as_deref(), Some("bob"));
    assert_eq!(seen[1].sid, None);
}

// ------------------------------------------------------------ invalid tokens

/// POSTs `token` and asserts a 400 with a JSON `error` whose description
/// names the rule (`rule`), and that alice's session is still alive
/// afterwards.
async fn assert_rejected(env: &Env, alice: &SignedIn, token: &str, rule: &str) {
    let response = post_logout_token(&env.base, token).await;
    assert_rejection(response, rule).await;
    assert_signed_in(&env.base, &alice.cookie, rule).await;
}

async fn assert_rejection(response: reqwest::Response, rule: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{rule}");
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{rule}: not JSON: {e}"));
    assert_eq!(body["error"], "invalid_request", "{rule}: {body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(rule),
        "the rejection should be for {rule:?}: {body}"
    );
}

/// Valid claims naming alice's session: a token accepted with them would
/// end it.
fn alice_claims(env: &Env, alice: &SignedIn) -> Value {
    logout_claims(env.issuer(), Some("alice"), Some(&alice.sid))
}

fn b64(value: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_logout_token_with_alg_none_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let header = json!({"alg": "none", "typ": "logout+jwt"});
    let token = format!("{}.{}.", b64(&header), b64(&alice_claims(&env, &alice)));
    assert_rejected(&env, &alice, &token, "signature or header rejected").await;
}

#[tokio::test]
async fn a_logout_token_signed_hs256_with_the_client_secret_is_rejected_when_hs_is_not_allowed() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("logout+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &alice_claims(&env, &alice),
        &jsonwebtoken::EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
    )
    .expect("HS256");
    assert_rejected(&env, &alice, &token, "signature or header rejected").await;

    // Control: an RP that does allow HS256 (keyed by the client secret)
    // accepts that very token, so the allowlist was the only fault.
    let hs_env = start_env(with_bcl, |b| {
        b.id_token_signing_algs(vec![
            portcullis::Algorithm::RS256,
            portcullis::Algorithm::HS256,
        ])
    })
    .await;
    let agent = Agent::browser();
    let hs_alice = sign_in(&agent, &hs_env).await;
    let mut claims = logout_claims(hs_env.issuer(), Some("alice"), Some(&hs_alice.sid));
    claims["aud"] = json!(CLIENT_ID);
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
    )
    .expect("HS256");
    assert_eq!(
        post_logout_token(&hs_env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&hs_env.base, &hs_alice.cookie, "HS256 allowed").await;
}

#[tokio::test]
async fn a_logout_token_whose_header_claims_hs256_over_an_rsa_signature_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let kid = env.idp.signing_kid(SigningAlg::RS256).expect("kid");
    let token = env
        .idp
        .sign_jws(
            SigningAlg::RS256,
            json!({"alg": "HS256", "typ": "logout+jwt", "kid": kid}),
            alice_claims(&env, &alice),
        )
        .expect("sign");
    assert_rejected(&env, &alice, &token, "signature or header rejected").await;
}

#[tokio::test]
async fn a_logout_token_with_a_bad_signature_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));
    // Flip a character in the middle of the signature (the last one may
    // only carry padding bits).
    let sig_start = token.rfind('.').expect("jws") + 1;
    let at = sig_start + (token.len() - sig_start) / 2;
    let original = token.clone();
    let mut bytes = token.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).expect("ascii");
    assert_rejected(&env, &alice, &flipped, "signature or header rejected").await;
    // The unflipped token is accepted: the flip was the only fault.
    assert_eq!(
        post_logout_token(&env.base, &original).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &alice.cookie, "the original token").await;
}

#[tokio::test]
async fn a_logout_token_without_events_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims.as_object_mut().expect("object").remove("events");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "has no events claim").await;
}

#[tokio::test]
async fn a_logout_token_with_the_wrong_event_member_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims["events"] = json!({"http://schemas.openid.net/event/something-else": {}});
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "no back-channel logout event").await;
}

#[tokio::test]
async fn a_logout_token_with_a_nonce_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims["nonce"] = json!("n-0S6_WzA2Mj");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "must not have a nonce").await;
}

#[tokio::test]
async fn a_logout_token_for_another_audience_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims["aud"] = json!("another-client");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "aud does not contain this client_id").await;
    // Nor is this client one of several audiences without azp.
    let mut claims = alice_claims(&env, &alice);
    claims["aud"] = json!([CLIENT_ID, "another-client"]);
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "several audiences and no azp").await;
}

#[tokio::test]
async fn a_logout_token_from_another_issuer_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    for iss in [
        "https://evil.example".to_owned(),
        format!("{}/", env.issuer()),
    ] {
        let mut claims = alice_claims(&env, &alice);
        claims["iss"] = json!(iss);
        let token = env.idp.sign_logout_token(claims);
        assert_rejected(&env, &alice, &token, "does not equal the issuer").await;
    }
}

#[tokio::test]
async fn a_logout_token_without_sub_and_sid_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let token = env
        .idp
        .sign_logout_token(logout_claims(env.issuer(), None, None));
    assert_rejected(&env, &alice, &token, "neither sub nor sid").await;
}

#[tokio::test]
async fn an_expired_logout_token_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    let now = now();
    // Beyond the 60 s clock skew.
    claims["iat"] = json!(now - 600);
    claims["exp"] = json!(now - 300);
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "has expired").await;
}

#[tokio::test]
async fn a_logout_token_without_jti_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims.as_object_mut().expect("object").remove("jti");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "has no jti claim").await;
}

#[tokio::test]
async fn a_logout_token_without_iat_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims.as_object_mut().expect("object").remove("iat");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "has no iat claim").await;
}

#[tokio::test]
async fn a_logout_token_without_exp_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims.as_object_mut().expect("object").remove("exp");
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "has no exp claim").await;
}

#[tokio::test]
async fn a_replayed_logout_token_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    // A valid token for another OP session: accepted once, and alice's
    // session is not touched by it.
    let token = env.idp.sign_logout_token(logout_claims(
        env.issuer(),
        Some("carol"),
        Some("another-op-session"),
    ));
    let first = post_logout_token(&env.base, &token).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_rejected(&env, &alice, &token, "replayed jti").await;
}

#[tokio::test]
async fn an_id_token_sent_as_a_logout_token_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let claims = jwt_payload(&alice.id_token);
    assert_eq!(claims["sid"], alice.sid.as_str(), "it names the session");
    assert_rejected(&env, &alice, &alice.id_token, "has no events claim").await;
}

#[tokio::test]
async fn an_access_token_sent_as_a_logout_token_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let access_token = alice.access_token.clone().expect("an access token");
    assert_rejected(&env, &alice, &access_token, "typ is not logout+jwt").await;
}

#[tokio::test]
async fn a_logout_token_with_an_unknown_kid_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let token = env
        .idp
        .sign_jws(
            SigningAlg::RS256,
            json!({"alg": "RS256", "typ": "logout+jwt", "kid": "no-such-key"}),
            alice_claims(&env, &alice),
        )
        .expect("sign");
    assert_rejected(&env, &alice, &token, "kid is not in the JWKS").await;
}

#[tokio::test]
async fn a_logout_token_naming_its_own_key_or_a_critical_extension_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let kid = env
        .idp
        .signing_kid(SigningAlg::RS256)
        .expect("kid")
        .to_owned();
    for (extra, value) in [
        ("jku", json!("https://evil.example/jwks")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("crit", json!(["urn:example:unknown"])),
    ] {
        let mut header = json!({"alg": "RS256", "typ": "logout+jwt", "kid": kid});
        header[extra] = value;
        if extra == "crit" {
            header["urn:example:unknown"] = json!(true);
        }
        // The signature itself is good: it is made with the JWKS key.
        let token = env
            .idp
            .sign_jws(SigningAlg::RS256, header, alice_claims(&env, &alice))
            .expect("sign");
        assert_rejected(&env, &alice, &token, "signature or header rejected").await;
    }
}

#[tokio::test]
async fn a_logout_token_issued_in_the_future_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let mut claims = alice_claims(&env, &alice);
    claims["iat"] = json!(now() + 600);
    claims["exp"] = json!(now() + 900);
    let token = env.idp.sign_logout_token(claims);
    assert_rejected(&env, &alice, &token, "iat is in the future").await;
}

#[tokio::test]
async fn a_logout_token_with_claims_of_the_wrong_type_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    for (name, value) in [
        ("sub", json!(42)),
        ("sid", json!(["a", "b"])),
        ("events", json!([BCL_EVENT])),
        ("exp", json!(format!("{}", now() + 120))),
    ] {
        let mut claims = alice_claims(&env, &alice);
        claims[name] = value;
        let token = env.idp.sign_logout_token(claims);
        assert_rejected(&env, &alice, &token, "has the wrong JSON type").await;
    }
}

#[tokio::test]
async fn a_backchannel_logout_with_two_logout_tokens_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));
    let response = bare_client()
        .post(env.url("/backchannel-logout"))
        .form(&[("logout_token", token.as_str()), ("logout_token", "x")])
        .send()
        .await
        .expect("request");
    assert_rejection(response, "logout_token is repeated").await;
    assert_signed_in(&env.base, &alice.cookie, "two logout tokens").await;
}

#[tokio::test]
async fn a_backchannel_logout_without_a_logout_token_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    let response = bare_client()
        .post(env.url("/backchannel-logout"))
        .form(&[("not_a_logout_token", "x")])
        .send()
        .await
        .expect("request");
    assert_rejection(response, "has no logout_token").await;
    let response = post_logout_token(&env.base, "").await;
    assert_rejection(response, "has no logout_token").await;
    assert_signed_in(&env.base, &alice.cookie, "no token was sent").await;
}

#[tokio::test]
async fn a_backchannel_logout_with_the_wrong_content_type_is_rejected() {
    let (env, _agent, alice) = signed_in_env().await;
    // A token that would be accepted if it came as a form.
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));
    for content_type in ["application/json", "text/plain"] {
        let body = if content_type == "application/json" {
            json!({ "logout_token": token }).to_string()
        } else {
            format!("logout_token={token}")
        };
        let response = bare_client()
            .post(env.url("/backchannel-logout"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        assert_rejection(response, "application/x-www-form-urlencoded").await;
    }
    assert_signed_in(&env.base, &alice.cookie, "wrong content types").await;
    // The same token as a form is accepted: the rejections were about the
    // content type.
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &alice.cookie, "the form was accepted").await;
}

// ------------------------------------------------------------ store outages

async fn flaky_env() -> (Env, Arc<FlakyLogouts>, SignedIn) {
    let logouts = Arc::new(FlakyLogouts::default());
    let store: Arc<dyn LogoutStore> = logouts.clone();
    let env = start_env(with_bcl, move |b| b.logout_store(store)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    (env, logouts, alice)
}

async fn assert_store_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "session_store_unavailable", "{body}");
}

#[tokio::test]
async fn a_logout_store_outage_answers_503_so_the_op_retries_and_the_retry_ends_the_session() {
    let (env, logouts, alice) = flaky_env().await;
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));

    logouts.all.store(true, Ordering::SeqCst);
    assert_store_unavailable(post_logout_token(&env.base, &token).await).await;
    logouts.all.store(false, Ordering::SeqCst);
    assert_signed_in(&env.base, &alice.cookie, "nothing was recorded").await;

    // The OP delivers the same token again.
    assert_eq!(
        post_logout_token(&env.base, &token).await.status(),
        StatusCode::OK
    );
    assert_signed_out(&env.base, &alice.cookie, "the retry was recorded").await;
}

#[tokio::test]
async fn a_logout_token_whose_marker_could_not_be_written_is_accepted_when_the_op_retries() {
    let (env, logouts, alice) = flaky_env().await;
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));

    // The jti can be recorded, the marker cannot: the RP answers 503, which
    // tells the OP to deliver the token again.
    logouts.marks.store(true, Ordering::SeqCst);
    assert_store_unavailable(post_logout_token(&env.base, &token).await).await;
    logouts.marks.store(false, Ordering::SeqCst);
    assert_signed_in(&env.base, &alice.cookie, "no marker was written").await;

    let retry = post_logout_token(&env.base, &token).await;
    let status = retry.status();
    let body = retry.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "the retry must be accepted: {body}");
    assert_signed_out(&env.base, &alice.cookie, "the retry was recorded").await;
}

/// Media types are case-insensitive (RFC 9110 §8.3.1): an OP that writes
/// `Application/X-WWW-Form-Urlencoded` sends a form all the same.
#[tokio::test]
async fn a_logout_token_form_with_a_mixed_case_content_type_is_accepted() {
    let (env, _agent, alice) = signed_in_env().await;
    let token = env.idp.sign_logout_token(alice_claims(&env, &alice));
    let response = bare_client()
        .post(env.url("/backchannel-logout"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_signed_out(&env.base, &alice.cookie, "a form is a form").await;
}

/// The OP's POST carries no session: with `auth_required` (the default) it
/// must still reach the route, not be sent to login.
#[tokio::test]
async fn a_backchannel_logout_reaches_an_app_that_requires_auth_on_every_route() {
    let env = start_env(with_bcl, |b| b.auth_required(true)).await;
    let agent = Agent::browser();
    let alice = sign_in(&agent, &env).await;
    assert_eq!(env.idp.end_sessions_of("alice").await, 1);
    assert_signed_out(&env.base, &alice.cookie, "auth_required app").await;
}
