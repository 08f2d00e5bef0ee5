//! One test per rule of the module docs, with real keys.

use serde_json::{Value, json};

use super::*;
use crate::jose::test_keys::{b64url, key_for, p256, rsa, rsa2, sign_raw, standard_jwks};

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://op.example.com";
const API: &str = "https://api.example.com";
const SKEW: u64 = 60;

fn audiences() -> Vec<String> {
    vec![API.to_owned()]
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": API, "client_id": "app",
        "scope": "openid read:messages", "iat": NOW - 10, "exp": NOW + 300, "jti": "j1",
    })
}

fn header(alg: Algorithm, typ: Option<&str>) -> Value {
    let (_, kid) = key_for(alg);
    let mut h = json!({"alg": alg.as_str(), "kid": kid});
    if let Some(typ) = typ {
        h["typ"] = json!(typ);
    }
    h
}

fn token_with(header: &Value, claims: &Value, alg: Algorithm) -> String {
    let (key, _) = key_for(alg);
    sign_raw(header, claims.to_string().as_bytes(), &key.encoding, alg)
}

fn at(claims: &Value) -> String {
    token_with(
        &header(Algorithm::RS256, Some("at+jwt")),
        claims,
        Algorithm::RS256,
    )
}

fn validate_with(token: &str, typ: TypPolicy) -> Result<AccessTokenClaims, AccessTokenError> {
    let aud = audiences();
    validate_access_token(
        token,
        &standard_jwks(),
        &AccessTokenExpectations {
            issuer: ISSUER,
            audiences: &aud,
            allowed_algs: &Algorithm::ASYMMETRIC,
            typ,
            now: NOW,
            skew_secs: SKEW,
        },
    )
}

fn validate(token: &str) -> Result<AccessTokenClaims, AccessTokenError> {
    validate_with(token, TypPolicy::Strict)
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn accepts_a_valid_at_jwt_with_every_asymmetric_algorithm() {
    for alg in Algorithm::ASYMMETRIC {
        let token = token_with(&header(alg, Some("at+jwt")), &claims(), alg);
        let c = validate(&token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(c.sub, "alice");
        assert_eq!(c.client_id.as_deref(), Some("app"));
        assert_eq!(c.scopes, ["openid", "read:messages"]);
        assert!(c.has_scope("read:messages"));
        assert_eq!(c.scope(), "openid read:messages");
        assert_eq!(c.exp, NOW + 300);
    }
}

#[test]
fn typ_application_at_jwt_in_any_case_is_accepted() {
    for typ in ["application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let token = token_with(
            &header(Algorithm::ES256, Some(typ)),
            &claims(),
            Algorithm::ES256,
        );
        assert!(validate(&token).is_ok(), "{typ}");
    }
}

#[test]
fn strict_mode_refuses_typ_jwt_and_a_missing_typ() {
    for typ in [Some("JWT"), None] {
        let token = token_with(&header(Algorithm::RS256, typ), &claims(), Algorithm::RS256);
        assert_eq!(
            validate(&token),
            Err(AccessTokenError::WrongTokenType),
            "{typ:?}"
        );
    }
}

#[test]
fn lenient_mode_accepts_typ_jwt_or_none_with_client_id_or_scope() {
    for typ in [Some("JWT"), None] {
        let token = token_with(&header(Algorithm::RS256, typ), &claims(), Algorithm::RS256);
        assert!(
            validate_with(&token, TypPolicy::AllowJwt).is_ok(),
            "{typ:?}"
        );
        let only_scp = with(json!({"client_id": null, "scope": null, "scp": ["read"]}));
        let token = token_with(&header(Algorithm::RS256, typ), &only_scp, Algorithm::RS256);
        let c = validate_with(&token, TypPolicy::AllowJwt).unwrap();
        assert_eq!(c.scopes, ["read"]);
    }
}

#[test]
fn both_modes_refuse_other_typ_values() {
    for typ in ["logout+jwt", "id_token+jwt", "secevent+jwt", "at+jwt2", ""] {
        let token = token_with(
            &header(Algorithm::RS256, Some(typ)),
            &claims(),
            Algorithm::RS256,
        );
        for policy in [TypPolicy::Strict, TypPolicy::AllowJwt] {
            assert_eq!(
                validate_with(&token, policy),
                Err(AccessTokenError::WrongTokenType),
                "{typ} {policy:?}"
            );
        }
    }
}

#[test]
fn an_id_token_is_never_an_access_token() {
    // A typical ID token: typ JWT, aud = the client, nonce, no client_id, no scope.
    let id_token = json!({
        "iss": ISSUER, "sub": "alice", "aud": API, "azp": API, "nonce": "n-1",
        "iat": NOW - 10, "exp": NOW + 300, "auth_time": NOW - 20,
    });
    let token = token_with(
        &header(Algorithm::RS256, Some("JWT")),
        &id_token,
        Algorithm::RS256,
    );
    assert_eq!(validate(&token), Err(AccessTokenError::WrongTokenType));
    assert_eq!(
        validate_with(&token, TypPolicy::AllowJwt),
        Err(AccessTokenError::IdToken)
    );
    // Without a nonce, lenient mode still refuses it: no client_id, no scope.
    let no_nonce = with(json!({"client_id": null, "scope": null}));
    let token = token_with(
        &header(Algorithm::RS256, Some("JWT")),
        &no_nonce,
        Algorithm::RS256,
    );
    assert_eq!(
        validate_with(&token, TypPolicy::AllowJwt),
        Err(AccessTokenError::IdToken)
    );
    // ID-token-only claims are refused even under the at+jwt type.
    for claim in ["nonce", "at_hash", "c_hash"] {
        let token = at(&with(json!({ claim: "x" })));
        assert_eq!(validate(&token), Err(AccessTokenError::IdToken), "{claim}");
    }
}

#[test]
fn a_logout_token_is_never_an_access_token() {
    let events = json!({ BACKCHANNEL_LOGOUT_EVENT: {} });
    for typ in [Some("at+jwt"), Some("JWT"), None] {
        let token = token_with(
            &header(Algorithm::RS256, typ),
            &with(json!({"events": events})),
            Algorithm::RS256,
        );
        assert_eq!(
            validate_with(&token, TypPolicy::AllowJwt),
            Err(AccessTokenError::LogoutToken),
            "{typ:?}"
        );
    }
}

#[test]
fn rejects_a_wrong_issuer_exactly_compared() {
    for iss in [
        "https://evil.example.com",
        "https://op.example.com/",
        "HTTPS://op.example.com",
    ] {
        assert_eq!(
            validate(&at(&with(json!({ "iss": iss })))),
            Err(AccessTokenError::IssuerMismatch),
            "{iss}"
        );
    }
    assert_eq!(
        validate(&at(&with(json!({"iss": null})))),
        Err(AccessTokenError::MissingClaim("iss"))
    );
}

#[test]
fn audience_must_contain_one_of_the_apis_and_may_contain_others() {
    assert_eq!(
        validate(&at(&with(json!({"aud": "https://other.example.com"})))),
        Err(AccessTokenError::AudienceMismatch)
    );
    assert_eq!(
        validate(&at(&with(json!({"aud": "app"})))),
        Err(AccessTokenError::AudienceMismatch),
        "the client id is not the API"
    );
    assert!(
        validate(&at(&with(
            json!({"aud": ["https://other.example.com", API]})
        )))
        .is_ok()
    );
    assert_eq!(
        validate(&at(&with(json!({"aud": [API, 5]})))),
        Err(AccessTokenError::WrongClaimType("aud"))
    );
    assert_eq!(
        validate(&at(&with(json!({"aud": null})))),
        Err(AccessTokenError::MissingClaim("aud"))
    );
    assert_eq!(
        validate(&at(&with(json!({"aud": []})))),
        Err(AccessTokenError::AudienceMismatch)
    );
}

#[test]
fn expiry_is_required_and_enforced_with_skew() {
    assert_eq!(
        validate(&at(&with(json!({"exp": NOW - SKEW})))),
        Err(AccessTokenError::Expired)
    );
    assert!(validate(&at(&with(json!({"exp": NOW - SKEW + 1})))).is_ok());
    assert_eq!(
        validate(&at(&with(json!({"exp": null})))),
        Err(AccessTokenError::MissingClaim("exp"))
    );
    assert_eq!(
        validate(&at(&with(json!({"exp": "9999999999"})))),
        Err(AccessTokenError::WrongClaimType("exp"))
    );
}

#[test]
fn nbf_and_iat_in_the_future_are_rejected_beyond_the_skew() {
    assert_eq!(
        validate(&at(&with(json!({"nbf": NOW + SKEW + 1})))),
        Err(AccessTokenError::NotYetValid)
    );
    assert!(validate(&at(&with(json!({"nbf": NOW + SKEW})))).is_ok());
    assert_eq!(
        validate(&at(&with(json!({"nbf": "soon"})))),
        Err(AccessTokenError::WrongClaimType("nbf"))
    );
    assert_eq!(
        validate(&at(&with(json!({"iat": NOW + SKEW + 1})))),
        Err(AccessTokenError::IssuedInFuture)
    );
    assert_eq!(
        validate(&at(&with(json!({"iat": null})))),
        Err(AccessTokenError::MissingClaim("iat"))
    );
}

#[test]
fn sub_is_a_required_non_empty_string() {
    assert_eq!(
        validate(&at(&with(json!({"sub": ""})))),
        Err(AccessTokenError::EmptySubject)
    );
    assert_eq!(
        validate(&at(&with(json!({"sub": 7})))),
        Err(AccessTokenError::WrongClaimType("sub"))
    );
    assert_eq!(
        validate(&at(&with(json!({"sub": null})))),
        Err(AccessTokenError::MissingClaim("sub"))
    );
}

#[test]
fn scope_client_id_and_jti_of_the_wrong_type_are_rejected() {
    for (claim, value) in [
        ("scope", json!(["read"])),
        ("client_id", json!(1)),
        ("jti", json!({})),
        ("scp", json!(5)),
    ] {
        let mut c = with(json!({ claim: value }));
        if claim == "scp" {
            c.as_object_mut().unwrap().remove("scope");
        }
        assert_eq!(
            validate(&at(&c)),
            Err(AccessTokenError::WrongClaimType(claim)),
            "{claim}"
        );
    }
}

#[test]
fn missing_scopes_lists_what_the_token_lacks() {
    let c = validate(&at(&claims())).unwrap();
    let required = vec!["read:messages".to_owned(), "write:messages".to_owned()];
    assert_eq!(c.missing_scopes(&required), ["write:messages"]);
    assert!(c.missing_scopes(&required[..1]).is_empty());
}

#[test]
fn alg_none_and_hs256_keyed_by_the_public_key_are_refused() {
    let none = format!(
        "{}.{}.",
        b64url(
            json!({"alg": "none", "typ": "at+jwt"})
                .to_string()
                .as_bytes()
        ),
        b64url(claims().to_string().as_bytes())
    );
    assert_eq!(
        validate(&none),
        Err(AccessTokenError::Jws(JwsError::AlgNone))
    );
    let forged = sign_raw(
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa1"}),
        claims().to_string().as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(&rsa().public_bytes),
        Algorithm::HS256,
    );
    // Even if a caller put HS256 on the allowlist, there is no secret to key it.
    let aud = audiences();
    let algs = [Algorithm::RS256, Algorithm::HS256];
    let result = validate_access_token(
        &forged,
        &standard_jwks(),
        &AccessTokenExpectations {
            issuer: ISSUER,
            audiences: &aud,
            allowed_algs: &algs,
            typ: TypPolicy::Strict,
            now: NOW,
            skew_secs: SKEW,
        },
    );
    assert_eq!(
        result,
        Err(AccessTokenError::Jws(JwsError::HmacWithoutSecret(
            Algorithm::HS256
        )))
    );
    assert_eq!(
        validate(&forged),
        Err(AccessTokenError::Jws(JwsError::AlgNotAllowed(
            Algorithm::HS256
        )))
    );
}

#[test]
fn embedded_keys_are_refused() {
    for (param, value) in [
        ("jwk", p256().jwk(None, json!({}))),
        ("jku", json!("https://attacker.example/jwks")),
        ("x5c", json!(["MIIB"])),
        ("x5u", json!("https://attacker.example/cert")),
    ] {
        let mut h = header(Algorithm::RS256, Some("at+jwt"));
        h[param] = value;
        let token = token_with(&h, &claims(), Algorithm::RS256);
        assert_eq!(
            validate(&token),
            Err(AccessTokenError::Jws(JwsError::EmbeddedKey(param))),
            "{param}"
        );
    }
}

#[test]
fn an_unknown_kid_asks_for_a_refetch_and_a_foreign_key_fails() {
    let mut h = header(Algorithm::RS256, Some("at+jwt"));
    h["kid"] = json!("rotated");
    let token = token_with(&h, &claims(), Algorithm::RS256);
    let err = validate(&token).unwrap_err();
    assert!(err.is_unknown_kid());
    assert_eq!(err.code(), "unknown_kid");
    let forged = sign_raw(
        &header(Algorithm::RS256, Some("at+jwt")),
        claims().to_string().as_bytes(),
        &rsa2().encoding,
        Algorithm::RS256,
    );
    assert_eq!(
        validate(&forged),
        Err(AccessTokenError::Jws(JwsError::InvalidSignature))
    );
}

#[test]
fn error_text_never_includes_the_token_or_claim_values() {
    let token = at(&with(json!({"iss": "https://evil.example/SECRETISS"})));
    let err = validate(&token).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRETISS"));
    for part in token.split('.') {
        assert!(!shown.contains(part));
    }
}

#[test]
fn unverified_issuer_reads_iss_for_routing_only() {
    assert_eq!(unverified_issuer(&at(&claims())).as_deref(), Ok(ISSUER));
    assert_eq!(
        unverified_issuer(&at(&with(json!({"iss": 3})))),
        Err(AccessTokenError::WrongClaimType("iss"))
    );
    assert!(unverified_issuer("not-a-jwt").is_err());
}

#[test]
fn authorization_header_scheme_is_case_insensitive_and_one_token68() {
    for value in [
        "Bearer abc.def.ghi",
        "bearer abc.def.ghi",
        "BEARER   abc.def.ghi",
        " Bearer abc.def.ghi ",
    ] {
        assert_eq!(
            bearer_token_from_headers([value.as_bytes()]),
            Ok(BearerHeader::Bearer("abc.def.ghi")),
            "{value:?}"
        );
    }
    assert_eq!(
        bearer_token_from_headers([&b"Bearer dG9rZW4="[..]]),
        Ok(BearerHeader::Bearer("dG9rZW4="))
    );
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a,b",
        "Bearer a\tb",
        "Bearer ===",
        "Bearer a=b",
        "Bearer \"quoted\"",
        "Bearer tok\u{e9}n",
    ] {
        assert_eq!(
            bearer_token_from_headers([bad.as_bytes()]),
            Err(BearerHeaderError::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(
        bearer_token_from_headers([&[b'B', b'e', b'a', b'r', b'e', b'r', b' ', 0xff][..]]),
        Err(BearerHeaderError::Malformed)
    );
}

#[test]
fn authorization_header_other_schemes_absent_several_and_oversized() {
    assert_eq!(
        bearer_token_from_headers([&b"Basic dXNlcjpwYXNz"[..]]),
        Ok(BearerHeader::OtherScheme)
    );
    assert_eq!(
        bearer_token_from_headers([&b"Bearerx abc"[..]]),
        Ok(BearerHeader::OtherScheme)
    );
    assert_eq!(
        bearer_token_from_headers(std::iter::empty::<&[u8]>()),
        Ok(BearerHeader::Absent)
    );
    assert_eq!(
        bearer_token_from_headers([&b"Bearer a"[..], &b"Bearer a"[..]]),
        Err(BearerHeaderError::MultipleHeaders)
    );
    let huge = format!("Bearer {}", "a".repeat(100 * 1024));
    assert_eq!(
        bearer_token_from_headers([huge.as_bytes()]),
        Err(BearerHeaderError::TooLarge)
    );
}

#[test]
fn query_tokens_are_decoded_once_and_never_twice() {
    assert_eq!(
        bearer_token_from_query("a=1&access_token=abc.def%2Eghi"),
        Ok(Some("abc.def.ghi".to_owned()))
    );
    assert_eq!(bearer_token_from_query("a=1"), Ok(None));
    assert_eq!(
        bearer_token_from_query("access_token=a&access_token=b"),
        Err(BearerHeaderError::MultipleHeaders)
    );
    assert_eq!(
        bearer_token_from_query("access_token=a%20b"),
        Err(BearerHeaderError::Malformed)
    );
    assert!(query_has_access_token("x=1&access_token="));
    assert!(!query_has_access_token("x=access_token"));
}

#[test]
fn looks_like_jwt_counts_segments() {
    assert!(looks_like_jwt("a.b.c"));
    assert!(!looks_like_jwt("opaque-token"));
    assert!(!looks_like_jwt("a.b.c.d.e"));
}
