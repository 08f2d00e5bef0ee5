//! The relying party against a scripted hostile OpenID Provider.
//!
//! Each test makes the OP (see `hostile/mod.rs`) lie in one way taken from the
//! OpenID RP certification test plans and from the CVEs of peer libraries, then
//! runs a real browser-less login and checks that Portcullis refuses it with
//! the exact status, creates no session (`GET /profile` stays 401), and shows
//! no code, token or client secret in the error page. A few positive controls
//! prove the scripted OP itself is correct, so that a rejection means the
//! rule fired and not that the OP was broken.

mod hostile;
mod support;

use std::time::{Duration, Instant};

use portcullis::Algorithm as RpAlgorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use hostile::{
    AuthorizeReply, CLIENT_ID, CLIENT_SECRET, DiscoveryReply, IssParam, ONE_MIB, OpKey, Rp,
    SUBJECT, Script, ScriptedOp, Signer, TokenReply, now,
};
use support::Agent;

/// Starts an OP with the default (correct) script changed by `change`, and an
/// RP with default settings.
async fn op_and_rp(change: impl FnOnce(&mut Script)) -> (ScriptedOp, Rp) {
    let mut script = Script::default();
    change(&mut script);
    let op = ScriptedOp::start(script).await;
    let rp = Rp::start(&op).await;
    (op, rp)
}

/// One login that must fail at the callback with `status`; the error body
/// must mention `reason` (case-insensitive). Returns the error body.
async fn assert_login_rejected(
    change: impl FnOnce(&mut Script),
    status: StatusCode,
    reason: &str,
) -> String {
    let (_op, rp) = op_and_rp(change).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, status).await;
    assert!(
        landing
            .body
            .to_ascii_lowercase()
            .contains(&reason.to_ascii_lowercase()),
        "the error should mention {reason:?}: {}",
        landing.body
    );
    landing.body
}

// ---------------------------------------------------------------------------
// Positive controls: the scripted OP is a correct OP unless told otherwise.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn login_succeeds_against_the_scripted_op_with_es256() {
    let (op, rp) = op_and_rp(|_| {}).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["iss"], op.issuer());
    assert_eq!(ScriptedOp::count(&op.hits().token), 1);
    assert_eq!(ScriptedOp::count(&op.hits().userinfo), 1);
}

#[tokio::test]
async fn login_succeeds_against_the_scripted_op_with_eddsa() {
    let op = ScriptedOp::start(Script::signing_with(OpKey::ed25519("ed-1"))).await;
    let rp = Rp::start(&op).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(claims["sub"], SUBJECT);
}

// ---------------------------------------------------------------------------
// ID token (Core §3.1.3.7)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rejects_id_token_with_wrong_nonce() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"nonce": "not-the-nonce-that-was-sent"}),
        StatusCode::BAD_REQUEST,
        "nonce",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_without_nonce() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"nonce": null}),
        StatusCode::BAD_REQUEST,
        "nonce",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_wrong_iss() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"iss": "https://evil.example"}),
        StatusCode::BAD_REQUEST,
        "iss",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_whose_aud_lacks_the_client_id() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"aud": "some-other-client"}),
        StatusCode::BAD_REQUEST,
        "aud",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_an_extra_untrusted_audience() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"aud": [CLIENT_ID, "untrusted-client"], "azp": CLIENT_ID}),
        StatusCode::BAD_REQUEST,
        "untrusted audience",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_when_azp_differs_from_client_id() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"azp": "some-other-client"}),
        StatusCode::BAD_REQUEST,
        "azp",
    )
    .await;
}

#[tokio::test]
async fn rejects_expired_id_token() {
    let t = now();
    assert_login_rejected(
        |s| s.claims_patch = json!({"exp": t - 3600, "iat": t - 7200}),
        StatusCode::BAD_REQUEST,
        "expired",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_iat_far_in_the_future() {
    let t = now();
    assert_login_rejected(
        |s| s.claims_patch = json!({"iat": t + 3600, "exp": t + 7200}),
        StatusCode::BAD_REQUEST,
        "iat",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_exp_of_the_wrong_json_type() {
    // CVE-2026-25537 (jsonwebtoken < 10.3): a string `exp` skipped validation.
    let t = now();
    assert_login_rejected(
        |s| s.claims_patch = json!({"exp": (t - 3600).to_string()}),
        StatusCode::BAD_REQUEST,
        "exp",
    )
    .await;
}

#[tokio::test]
async fn rejects_unsigned_id_token_with_alg_none() {
    assert_login_rejected(
        |s| s.signer = Signer::Unsigned,
        StatusCode::BAD_REQUEST,
        "alg none",
    )
    .await;
}

#[tokio::test]
async fn rejects_hs256_id_token_signed_with_the_client_secret_when_only_asymmetric_algs_are_allowed()
 {
    assert_login_rejected(
        |s| s.signer = Signer::Hs256(CLIENT_SECRET.as_bytes().to_vec()),
        StatusCode::BAD_REQUEST,
        "HS256",
    )
    .await;
}

/// Control for the test above: the same token passes once HS256 is allowed,
/// so the rejection came from the allowlist.
#[tokio::test]
async fn accepts_hs256_id_token_signed_with_the_client_secret_when_explicitly_allowed() {
    let script = Script {
        signer: Signer::Hs256(CLIENT_SECRET.as_bytes().to_vec()),
        ..Script::default()
    };
    let op = ScriptedOp::start(script).await;
    let rp = Rp::start_with(&op, |b| {
        b.id_token_signing_algs(vec![RpAlgorithm::ES256, RpAlgorithm::HS256])
    })
    .await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(claims["sub"], SUBJECT);
}

#[tokio::test]
async fn rejects_id_token_signed_by_the_key_in_its_embedded_jwk_header() {
    // CVE-2018-0114 style: the attacker signs with their own key, names the
    // OP's kid and embeds their public key in the header.
    let attacker = OpKey::ed25519("op-key-1");
    let jwk = attacker.public_jwk.clone();
    assert_login_rejected(
        |s| {
            s.signer = Signer::Key(attacker);
            s.header_patch = json!({"jwk": jwk});
        },
        StatusCode::BAD_REQUEST,
        "jwk",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_jwk_header_even_when_signed_by_a_published_key() {
    let mut script = Script::default();
    let Signer::Key(key) = script.signer.clone() else {
        unreachable!("the default script signs with a key")
    };
    script.header_patch = json!({"jwk": key.public_jwk});
    let op = ScriptedOp::start(script).await;
    let rp = Rp::start(&op).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert!(landing.body.contains("jwk"), "{}", landing.body);
}

#[tokio::test]
async fn rejects_id_token_with_crit_header() {
    assert_login_rejected(
        |s| s.header_patch = json!({"crit": ["exp"], "exp": 1}),
        StatusCode::BAD_REQUEST,
        "crit",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_signed_by_a_key_not_in_the_jwks() {
    let (op, rp) = op_and_rp(|s| s.signer = Signer::Key(OpKey::es256("ghost-key"))).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    // The refetch (if the rate limit allowed one) does not make the key appear.
    assert!(ScriptedOp::count(&op.hits().jwks) <= 2);
}

/// DESIGN.md: "JWKS is refetched on an unknown `kid`, at most once a minute".
/// The OP rotates its key right after the RP started: the first login with
/// the new kid refetches the JWKS once and succeeds; a second rotation in the
/// same minute does not trigger another fetch.
/// (Regression: the limit used to count from the startup fetch, so a
/// rotation in the first minute after `build()` failed every login.)
#[tokio::test]
async fn refetches_jwks_once_when_the_op_rotates_keys_after_startup() {
    let op = ScriptedOp::start(Script::default()).await;
    let rp = Rp::start(&op).await;
    assert_eq!(ScriptedOp::count(&op.hits().jwks), 1, "fetched at startup");

    op.rotate_to(OpKey::es256("op-key-2"));
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(
        ScriptedOp::count(&op.hits().jwks),
        2,
        "exactly one refetch for the new kid"
    );

    op.rotate_to(OpKey::es256("op-key-3"));
    let second = Agent::browser();
    let landing = rp.login(&second).await;
    rp.assert_rejected(&second, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(
        ScriptedOp::count(&op.hits().jwks),
        2,
        "no second refetch within a minute"
    );
}

/// The rate-limit half of the rotation rule, which holds today: two logins
/// with unknown kids in the same minute cost at most one JWKS refetch, and the
/// second one none at all.
#[tokio::test]
async fn second_unknown_kid_within_a_minute_does_not_refetch_jwks() {
    let op = ScriptedOp::start(Script::default()).await;
    let rp = Rp::start(&op).await;
    assert_eq!(ScriptedOp::count(&op.hits().jwks), 1, "fetched at startup");

    op.rotate_to(OpKey::es256("op-key-2"));
    let first = Agent::browser();
    let _ = rp.login(&first).await;
    let after_first = ScriptedOp::count(&op.hits().jwks);
    assert!(after_first <= 2, "at most one refetch, got {after_first}");

    op.rotate_to(OpKey::es256("op-key-3"));
    let second = Agent::browser();
    let landing = rp.login(&second).await;
    rp.assert_rejected(&second, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(
        ScriptedOp::count(&op.hits().jwks),
        after_first,
        "a second unknown kid within 60 s must not refetch"
    );
}

// ---------------------------------------------------------------------------
// Authorization response (RFC 9207, RFC 6749 §4.1.2)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rejects_authorization_response_without_iss_when_the_op_advertises_it() {
    let (op, rp) = op_and_rp(|s| s.authorize_iss = IssParam::Missing).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert!(landing.body.contains("iss"), "{}", landing.body);
    assert_eq!(ScriptedOp::count(&op.hits().token), 0, "code not redeemed");
}

/// Control: without the discovery flag, a response without `iss` is fine.
#[tokio::test]
async fn accepts_authorization_response_without_iss_when_the_op_does_not_advertise_it() {
    let (_op, rp) = op_and_rp(|s| {
        s.advertise_iss_parameter = false;
        s.authorize_iss = IssParam::Missing;
    })
    .await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_signed_in(&browser, &landing).await;
}

#[tokio::test]
async fn rejects_authorization_response_with_iss_of_another_issuer() {
    let (op, rp) =
        op_and_rp(|s| s.authorize_iss = IssParam::Other("https://attacker.example".into())).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert!(
        landing.body.contains("attacker.example"),
        "{}",
        landing.body
    );
    assert_eq!(ScriptedOp::count(&op.hits().token), 0, "code not redeemed");
}

#[tokio::test]
async fn shows_op_error_response_with_its_description_html_escaped() {
    let body = assert_login_rejected(
        |s| {
            s.authorize = AuthorizeReply::Error {
                error: "access_denied".into(),
                description: "<script>alert(1)</script> said no".into(),
            }
        },
        // Cancelling at the OP is a normal outcome: a page, not a 400.
        StatusCode::OK,
        "access_denied",
    )
    .await;
    assert!(!body.contains("<script>"), "unescaped markup: {body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt; said no"),
        "the description should be shown, escaped: {body}"
    );
}

#[tokio::test]
async fn rejects_authorization_response_with_duplicated_code() {
    let (op, rp) = op_and_rp(|s| s.authorize = AuthorizeReply::DuplicateCode).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert!(landing.body.contains("code"), "{}", landing.body);
    assert_eq!(ScriptedOp::count(&op.hits().token), 0, "no code redeemed");
}

// ---------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn does_not_follow_a_redirect_from_the_token_endpoint() {
    let (op, rp) = op_and_rp(|s| s.token = TokenReply::Redirect).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_GATEWAY)
        .await;
    assert_eq!(ScriptedOp::count(&op.hits().token), 1);
    assert_eq!(
        ScriptedOp::count(&op.hits().elsewhere),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn rejects_token_response_larger_than_1_mib() {
    assert_login_rejected(
        |s| s.token = TokenReply::Oversized { streamed: false },
        StatusCode::BAD_GATEWAY,
        &ONE_MIB.to_string(),
    )
    .await;
}

#[tokio::test]
async fn rejects_streamed_token_response_larger_than_1_mib_without_content_length() {
    assert_login_rejected(
        |s| s.token = TokenReply::Oversized { streamed: true },
        StatusCode::BAD_GATEWAY,
        &ONE_MIB.to_string(),
    )
    .await;
}

#[tokio::test]
async fn times_out_a_token_endpoint_slower_than_http_timeout() {
    let script = Script {
        token: TokenReply::Delay(Duration::from_secs(5)),
        ..Script::default()
    };
    let op = ScriptedOp::start(script).await;
    let rp = Rp::start_with(&op, |b| b.http_timeout(Duration::from_millis(500))).await;
    let browser = Agent::browser();
    let started = Instant::now();
    let landing = rp.login(&browser).await;
    let elapsed = started.elapsed();
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_GATEWAY)
        .await;
    assert!(landing.body.contains("timed out"), "{}", landing.body);
    assert!(
        elapsed < Duration::from_millis(2500),
        "the login took {elapsed:?} with a 500 ms timeout"
    );
}

#[tokio::test]
async fn rejects_token_response_with_token_type_mac() {
    assert_login_rejected(
        |s| s.token_type = "mac".into(),
        StatusCode::BAD_GATEWAY,
        "token type",
    )
    .await;
}

#[tokio::test]
async fn rejects_token_response_without_id_token() {
    assert_login_rejected(
        |s| s.include_id_token = false,
        StatusCode::BAD_GATEWAY,
        "id_token",
    )
    .await;
}

#[tokio::test]
async fn reports_the_token_endpoint_oauth_error() {
    assert_login_rejected(
        |s| {
            s.token = TokenReply::Raw(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_grant", "error_description": "the code was already used"}),
            )
        },
        StatusCode::BAD_GATEWAY,
        "invalid_grant",
    )
    .await;
}

// ---------------------------------------------------------------------------
// Userinfo (Core §5.3.2)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn discards_userinfo_whose_sub_differs_from_the_id_token() {
    let (op, rp) = op_and_rp(|s| {
        s.userinfo = Some(json!({
            "sub": "mallory",
            "role": "admin",
            "email": "mallory@evil.example",
        }))
    })
    .await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(ScriptedOp::count(&op.hits().userinfo), 1);
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["email"], "alice@example.com");
    assert!(
        !claims.contains_key("role"),
        "a claim from the hostile userinfo was merged: {claims:?}"
    );
}

/// Control: userinfo with the right `sub` is merged.
#[tokio::test]
async fn merges_userinfo_whose_sub_matches_the_id_token() {
    let (_op, rp) =
        op_and_rp(|s| s.userinfo = Some(json!({"sub": SUBJECT, "role": "staff"}))).await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    let claims = rp.assert_signed_in(&browser, &landing).await;
    assert_eq!(claims["role"], "staff");
}

// ---------------------------------------------------------------------------
// Discovery and JWKS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn build_fails_when_the_discovered_issuer_differs_by_a_trailing_slash() {
    let op = ScriptedOp::start(Script::default()).await;
    let with_slash = format!("{}/", op.issuer());
    op.script(|s| s.discovery = DiscoveryReply::IssuerOverride(with_slash.clone()));
    let error = Rp::try_start(&op, |b| b)
        .await
        .err()
        .expect("build must fail");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{:?}", op.issuer())),
        "names the configured issuer: {message}"
    );
    assert!(
        message.contains(&format!("{with_slash:?}")),
        "names the discovered issuer: {message}"
    );
}

#[tokio::test]
async fn build_fails_when_discovery_redirects() {
    let op = ScriptedOp::start(Script {
        discovery: DiscoveryReply::Redirect,
        ..Script::default()
    })
    .await;
    let error = Rp::try_start(&op, |b| b)
        .await
        .err()
        .expect("build must fail");
    assert!(error.to_string().contains("302"), "{error}");
    assert_eq!(ScriptedOp::count(&op.hits().discovery), 1);
    assert_eq!(
        ScriptedOp::count(&op.hits().moved_discovery),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn logins_fail_without_panicking_when_the_jwks_has_only_an_oct_key() {
    let (op, rp) = op_and_rp(|s| {
        s.jwks_document = Some(json!({"keys": [
            {"kty": "oct", "kid": "op-key-1", "alg": "HS256", "k": "c2VjcmV0LWtleS1ieXRlcw"}
        ]}))
    })
    .await;
    for _ in 0..2 {
        let browser = Agent::browser();
        let landing = rp.login(&browser).await;
        rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
            .await;
    }
    // The RP is still serving.
    assert_eq!(ScriptedOp::count(&op.hits().token), 2);
}

/// HMAC keys come only from the client secret, never from the JWKS: even
/// with HS256 allowed, a token keyed by a published `oct` key is refused.
#[tokio::test]
async fn rejects_hs256_token_keyed_by_a_jwks_oct_key_even_when_hs256_is_allowed() {
    let oct_key = b"secret-key-bytes".to_vec();
    let script = Script {
        jwks_document: Some(json!({"keys": [
            {"kty": "oct", "alg": "HS256", "k": "c2VjcmV0LWtleS1ieXRlcw"}
        ]})),
        signer: Signer::Hs256(oct_key),
        ..Script::default()
    };
    let op = ScriptedOp::start(script).await;
    let rp = Rp::start_with(&op, |b| {
        b.id_token_signing_algs(vec![RpAlgorithm::ES256, RpAlgorithm::HS256])
    })
    .await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    rp.assert_rejected(&browser, &landing, StatusCode::BAD_REQUEST)
        .await;
    assert!(landing.body.contains("signature"), "{}", landing.body);
}

// ---------------------------------------------------------------------------
// What binds the ID token to its response (Core §3.1.3.8, §3.3.2.11) and to
// what was asked (an essential acr, Core §5.5.1.1)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rejects_id_token_whose_at_hash_does_not_match_the_access_token() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}),
        StatusCode::BAD_REQUEST,
        "at_hash",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_whose_c_hash_does_not_match_the_code() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"c_hash": "AAAAAAAAAAAAAAAAAAAAAA"}),
        StatusCode::BAD_REQUEST,
        "c_hash",
    )
    .await;
}

#[tokio::test]
async fn rejects_id_token_with_a_non_string_at_hash() {
    assert_login_rejected(
        |s| s.claims_patch = json!({"at_hash": 12}),
        StatusCode::BAD_REQUEST,
        "at_hash",
    )
    .await;
}

/// An RP that asks for `urn:mfa` as an essential acr, against an OP whose
/// ID token claims `acr`.
async fn essential_acr_login(acr: Value) -> (StatusCode, String) {
    let op = ScriptedOp::start(Script {
        claims_patch: json!({ "acr": acr }),
        ..Script::default()
    })
    .await;
    let rp = Rp::start_with(&op, |b| {
        b.authorization_params(
            portcullis::AuthorizationParams::new()
                .acr_values("urn:mfa")
                .require_acr(),
        )
    })
    .await;
    let browser = Agent::browser();
    let landing = rp.login(&browser).await;
    (landing.status, landing.body)
}

#[tokio::test]
async fn an_essential_acr_that_the_op_did_not_satisfy_is_rejected() {
    let (status, body) = essential_acr_login(json!("urn:password")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("acr"), "{body}");
    let (status, body) = essential_acr_login(Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing acr: {body}");
    // The control: the required acr signs in.
    let (status, body) = essential_acr_login(json!("urn:mfa")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
