//! ID token validation: OpenID Connect Core §3.1.3.7 (with §2, §10.1 and
//! §12.2).
//!
//! The rules, in the order they are applied:
//!
//! 1. The JWS header rules and the signature, with an allowed `alg`
//!    ([`crate::jose::verify_jws`]): never `none`; `HS*` only when allowed and
//!    a client secret is given, keyed by it alone; keys only from the JWKS.
//!    An unknown `kid` is [`IdTokenError::UnknownKid`], so the adapter can
//!    refetch the JWKS and retry once.
//! 2. `iss` is a string exactly equal to the expected issuer (no
//!    normalisation: a trailing slash is a different issuer).
//! 3. `aud` (a string or an array of strings) contains `client_id`. With
//!    more than one entry `azp` is required. Portcullis trusts no audience
//!    but its own, so **any `aud` entry other than `client_id` is rejected**.
//!    `azp`, if present, equals `client_id`.
//! 4. `exp` is required and `now < exp + skew`. `iat` is required,
//!    `iat <= now + skew`, and it is not older than [`MAX_IAT_AGE_SECS`]
//!    (plus skew). `nbf`, if present, is `<= now + skew`.
//! 5. `sub` is a non-empty string.
//! 6. When a nonce was sent, `nonce` is required and equal (compared in
//!    constant time). When none was sent, a `nonce` claim is only type-checked.
//! 7. With `max_age`, `auth_time` is required and
//!    `auth_time + max_age + skew >= now`. Without it, `auth_time` is
//!    type-checked if present.
//!
//! 8. Cross-JWT confusion: a token whose `typ` is `logout+jwt` or `at+jwt`,
//!    or that carries a back-channel logout `events` claim, is rejected.
//!
//! Claims of the wrong JSON type (`exp: "9999999999"`, `aud: 5`, `sub: 1`, …)
//! are rejected, never skipped. `sid` is type-checked too. `at_hash`,
//! `c_hash` and an essential `acr` bind the token to the rest of its response
//! and are checked by [`crate::token_binding`]. The 255-character limit Core §2
//! puts on `sub` is not enforced: exceeding it is the OP's bug, and the value
//! is still a stable key.
//!
//! [`stored_id_token_claims`] reads back an ID token that was validated
//! earlier and kept in trusted storage, with the same claim parsing and none
//! of the signature or clock rules.

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::config::ClientConfig;
use crate::jose::claims::{
    self, ClaimError, CommonClaims, CommonExpectations, optional_numeric_date, optional_string,
};
use crate::jose::{Algorithm, Jwks, JwsError, JwsPolicy, decode_unverified, verify_jws};
use crate::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use crate::secret::Secret;

/// An `iat` older than this (24 hours, plus skew) is rejected as absurd: an
/// ID token is validated right after it is issued, by the code exchange or
/// a refresh.
pub const MAX_IAT_AGE_SECS: u64 = 24 * 60 * 60;

/// What an ID token is validated against.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenExpectations<'a> {
    /// The issuer, compared by exact string match.
    pub issuer: &'a str,
    /// This client's id: the required audience.
    pub client_id: &'a str,
    /// The client secret, the only key for `HS*` algorithms.
    pub client_secret: Option<&'a Secret>,
    /// Accepted signature algorithms.
    pub allowed_algs: &'a [Algorithm],
    /// The nonce sent in the authorization request. Portcullis always sends
    /// one; `None` skips the check (used for refreshed tokens).
    pub nonce: Option<&'a str>,
    /// The `max_age` sent in the authorization request, in seconds.
    pub max_age: Option<u64>,
    /// The current time, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew_secs: u64,
}

impl<'a> IdTokenExpectations<'a> {
    /// Expectations for `config`'s issuer, client id, client secret, allowed
    /// algorithms and clock skew.
    pub fn for_client(
        config: &'a ClientConfig,
        nonce: Option<&'a str>,
        max_age: Option<u64>,
        now: u64,
    ) -> Self {
        Self {
            issuer: &config.issuer,
            client_id: &config.client_id,
            client_secret: config.client_secret.as_ref(),
            allowed_algs: &config.id_token_algs,
            nonce,
            max_age,
            now,
            skew_secs: config.clock_skew_secs,
        }
    }
}

/// A validated ID token's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: with `iss`, the user's stable key.
    pub sub: String,
    /// Audiences (always exactly `client_id`, possibly repeated).
    pub aud: Vec<String>,
    /// Authorized party, if present.
    pub azp: Option<String>,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// The nonce, if present.
    pub nonce: Option<String>,
    /// Time of the end-user authentication, unix seconds, if present.
    pub auth_time: Option<u64>,
    /// Session id (for logout), if present.
    pub sid: Option<String>,
    /// The algorithm the token was signed with.
    pub alg: Algorithm,
    /// Every claim, including the ones above.
    pub claims: Map<String, Value>,
}

/// Why an ID token was rejected: one variant per rule. The Display text
/// never includes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// The `kid` is not in the JWKS: refetch it (subject to
    /// [`crate::jose::JwksRefreshPolicy`]) and validate once more.
    #[error("ID token kid is not in the JWKS")]
    UnknownKid,
    /// The JWS header or signature was rejected.
    #[error("ID token rejected: {0}")]
    Jws(JwsError),
    /// The token is a logout token or an access token, not an ID token
    /// (`typ` `logout+jwt`/`at+jwt`, or a back-channel logout `events` claim).
    #[error("token is not an ID token")]
    WrongTokenType,
    /// A required claim is missing.
    #[error("ID token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    #[error("ID token claim {0} has the wrong JSON type")]
    WrongClaimType(&'static str),
    /// `iss` differs from the expected issuer.
    #[error("ID token iss {actual:?} does not equal the issuer {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The token's `iss` (shortened).
        actual: String,
    },
    /// `aud` does not contain `client_id`.
    #[error("ID token aud does not contain this client_id")]
    AudienceMismatch,
    /// `aud` has several entries and there is no `azp`.
    #[error("ID token has several audiences and no azp")]
    AzpRequired,
    /// `aud` contains an audience other than `client_id`.
    #[error("ID token aud contains an untrusted audience")]
    UntrustedAudience,
    /// `azp` differs from `client_id`.
    #[error("ID token azp does not equal this client_id")]
    AzpMismatch,
    /// `exp` is past (beyond the skew).
    #[error("ID token has expired")]
    Expired,
    /// `iat` is in the future (beyond the skew).
    #[error("ID token iat is in the future")]
    IssuedInFuture,
    /// `iat` is older than [`MAX_IAT_AGE_SECS`] (plus skew).
    #[error("ID token iat is too far in the past")]
    IssuedTooLongAgo,
    /// `nbf` is in the future (beyond the skew).
    #[error("ID token is not valid yet (nbf)")]
    NotYetValid,
    /// `sub` is an empty string.
    #[error("ID token sub is empty")]
    EmptySubject,
    /// A nonce was sent and the token has none.
    #[error("ID token has no nonce, and one was sent")]
    NonceMissing,
    /// The token's nonce differs from the one sent.
    #[error("ID token nonce does not match the one sent")]
    NonceMismatch,
    /// `max_age` was sent and the token has no `auth_time`.
    #[error("ID token has no auth_time, and max_age was sent")]
    AuthTimeMissing,
    /// `auth_time` is older than `max_age` (plus skew).
    #[error("ID token auth_time is older than max_age")]
    AuthTooOld,
    /// A refreshed token's `iss` differs from the original's.
    #[error("refreshed ID token iss differs from the original")]
    RefreshedIssuerChanged,
    /// A refreshed token's `sub` differs from the original's.
    #[error("refreshed ID token sub differs from the original")]
    RefreshedSubjectChanged,
    /// A refreshed token's `aud` differs from the original's.
    #[error("refreshed ID token aud differs from the original")]
    RefreshedAudienceChanged,
    /// A refreshed token's `azp` differs from the original's (including
    /// appearing or disappearing).
    #[error("refreshed ID token azp differs from the original")]
    RefreshedAzpChanged,
    /// A refreshed token carries a nonce other than the original's.
    #[error("refreshed ID token carries an unexpected nonce")]
    RefreshedUnexpectedNonce,
    /// A refreshed token's `auth_time` differs from the original's.
    #[error("refreshed ID token auth_time differs from the original")]
    RefreshedAuthTimeChanged,
}

impl IdTokenError {
    /// True if refetching the JWKS might make the token valid.
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, IdTokenError::UnknownKid)
    }
}

impl From<JwsError> for IdTokenError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::UnknownKid => IdTokenError::UnknownKid,
            other => IdTokenError::Jws(other),
        }
    }
}

fn from_claim_error(e: ClaimError) -> IdTokenError {
    match e {
        ClaimError::Missing(name) => IdTokenError::MissingClaim(name),
        ClaimError::WrongType(name) => IdTokenError::WrongClaimType(name),
        ClaimError::IssuerMismatch { expected, actual } => {
            IdTokenError::IssuerMismatch { expected, actual }
        }
        ClaimError::AudienceMismatch => IdTokenError::AudienceMismatch,
        ClaimError::AzpRequired => IdTokenError::AzpRequired,
        ClaimError::UntrustedAudience => IdTokenError::UntrustedAudience,
        ClaimError::AzpMismatch => IdTokenError::AzpMismatch,
        ClaimError::Expired => IdTokenError::Expired,
        ClaimError::IssuedInFuture => IdTokenError::IssuedInFuture,
        ClaimError::IssuedTooLongAgo => IdTokenError::IssuedTooLongAgo,
        ClaimError::NotYetValid => IdTokenError::NotYetValid,
    }
}

/// Validates an ID token from the code exchange (see the module docs for
/// every rule) and returns its claims.
///
/// ```no_run
/// use portcullis_core::id_token::{validate_id_token, IdTokenExpectations};
/// use portcullis_core::jose::{Algorithm, Jwks};
/// # let (id_token, jwks_bytes, nonce, now): (&str, &[u8], &str, u64) = ("", b"", "", 0);
/// let jwks = Jwks::from_json(jwks_bytes)?;
/// let expectations = IdTokenExpectations {
///     issuer: "https://op.example.com",
///     client_id: "my-client",
///     client_secret: None,
///     allowed_algs: &Algorithm::ASYMMETRIC,
///     nonce: Some(nonce),
///     max_age: None,
///     now,
///     skew_secs: 60,
/// };
/// match validate_id_token(id_token, &jwks, &expectations) {
///     Ok(claims) => println!("signed in: ({}, {})", claims.iss, claims.sub),
///     // Refetch the JWKS (if the refresh policy allows) and try once more.
///     Err(e) if e.is_unknown_kid() => {}
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_id_token(
    token: &str,
    jwks: &Jwks,
    exp: &IdTokenExpectations<'_>,
) -> Result<IdTokenClaims, IdTokenError> {
    let policy = JwsPolicy {
        allowed_algs: exp.allowed_algs,
        client_secret: exp.client_secret,
    };
    let verified = verify_jws(token, jwks, &policy)?;
    if verified.typ.as_deref().is_some_and(is_other_token_type) {
        return Err(IdTokenError::WrongTokenType);
    }
    let claims = verified.claims;
    if claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT))
    {
        return Err(IdTokenError::WrongTokenType);
    }

    let common = claims::check_common_claims(
        &claims,
        &CommonExpectations {
            issuer: exp.issuer,
            client_id: exp.client_id,
            now: exp.now,
            skew_secs: exp.skew_secs,
            max_iat_age_secs: MAX_IAT_AGE_SECS,
        },
    )
    .map_err(from_claim_error)?;

    let claims = id_token_claims(claims, verified.alg, common)?;

    if let Some(expected) = exp.nonce {
        let actual = claims.nonce.as_deref().ok_or(IdTokenError::NonceMissing)?;
        if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(IdTokenError::NonceMismatch);
        }
    }
    if let Some(max_age) = exp.max_age {
        let auth_time = claims.auth_time.ok_or(IdTokenError::AuthTimeMissing)?;
        if auth_time
            .saturating_add(max_age)
            .saturating_add(exp.skew_secs)
            < exp.now
        {
            return Err(IdTokenError::AuthTooOld);
        }
    }
    Ok(claims)
}

/// Reads the claims of an ID token that [`validate_id_token`] (or
/// [`validate_refreshed_id_token`]) **already accepted** and that has been
/// kept since in storage nobody else can write, such as Portcullis's
/// encrypted session. The engine uses it to recover the original ID token's
/// claims when it checks a refreshed one (Core §12.2).
///
/// The signature is **not** verified again and no rule that depends on an
/// expectation or on the clock is applied (`iss`/`aud` comparison, `exp`,
/// `iat`, `nbf`, nonce, `max_age`): a stored token is expected to have
/// expired. What is still checked is the shape, with the same parsing code
/// as [`validate_id_token`]: three base64url segments within
/// [`crate::jose::MAX_JWS_LEN`], a known `alg` that is not `none`, and every
/// claim of the right JSON type (`iss`, `sub`, `aud`, `exp` and `iat`
/// required, `sub` non-empty).
///
/// **Never call it on a token from the network**: it would accept a forged
/// one. Use [`validate_id_token`] for those.
///
/// ```
/// use portcullis_core::id_token::stored_id_token_claims;
/// // Not a JWS at all: rejected, never a panic.
/// assert!(stored_id_token_claims("not-a-token").is_err());
/// ```
pub fn stored_id_token_claims(token: &str) -> Result<IdTokenClaims, IdTokenError> {
    let (alg, claims) = decode_unverified(token)?;
    let common = claims::parse_common_claims(&claims).map_err(from_claim_error)?;
    id_token_claims(claims, alg, common)
}

/// The ID-token-specific claims, type-checked, on top of the common ones:
/// `sub` (required, non-empty), `nonce`, `auth_time` and `sid`. Shared by
/// [`validate_id_token`] and [`stored_id_token_claims`] so both read a token
/// the same way.
fn id_token_claims(
    claims: Map<String, Value>,
    alg: Algorithm,
    common: CommonClaims,
) -> Result<IdTokenClaims, IdTokenError> {
    let sub = claims::required_string(&claims, "sub").map_err(from_claim_error)?;
    if sub.is_empty() {
        return Err(IdTokenError::EmptySubject);
    }
    let nonce = optional_string(&claims, "nonce").map_err(from_claim_error)?;
    let auth_time = optional_numeric_date(&claims, "auth_time").map_err(from_claim_error)?;
    let sid = optional_string(&claims, "sid").map_err(from_claim_error)?;
    Ok(IdTokenClaims {
        iss: common.iss,
        sub,
        aud: common.aud,
        azp: common.azp,
        exp: common.exp,
        iat: common.iat,
        nonce,
        auth_time,
        sid,
        alg,
        claims,
    })
}

/// Validates an ID token from a refresh response (Core §12.2) against the
/// ID token of the original authentication.
///
/// Every rule of [`validate_id_token`] applies, except that `exp.nonce` is
/// ignored; instead:
/// - `iss`, `sub` and the `aud` set equal the original's;
/// - `azp` equals the original's, and is absent if the original had none;
/// - `nonce` may be absent (refresh responses usually omit it); if present it
///   must equal the original's nonce, and a nonce when the original had none
///   is rejected as unexpected;
/// - `auth_time`, if present, equals the original's (it is the time of the
///   original authentication).
///
/// `exp.max_age` is applied as given; pass `None` unless the caller really
/// wants a refresh to fail once the original authentication is too old.
pub fn validate_refreshed_id_token(
    token: &str,
    jwks: &Jwks,
    exp: &IdTokenExpectations<'_>,
    original: &IdTokenClaims,
) -> Result<IdTokenClaims, IdTokenError> {
    let without_nonce = IdTokenExpectations {
        nonce: None,
        ..*exp
    };
    let refreshed = validate_id_token(token, jwks, &without_nonce)?;

    if refreshed.iss != original.iss {
        return Err(IdTokenError::RefreshedIssuerChanged);
    }
    if refreshed.sub != original.sub {
        return Err(IdTokenError::RefreshedSubjectChanged);
    }
    if !same_set(&refreshed.aud, &original.aud) {
        return Err(IdTokenError::RefreshedAudienceChanged);
    }
    if refreshed.azp != original.azp {
        return Err(IdTokenError::RefreshedAzpChanged);
    }
    if let Some(nonce) = refreshed.nonce.as_deref() {
        let matches = original
            .nonce
            .as_deref()
            .is_some_and(|orig| bool::from(nonce.as_bytes().ct_eq(orig.as_bytes())));
        if !matches {
            return Err(IdTokenError::RefreshedUnexpectedNonce);
        }
    }
    if refreshed.auth_time.is_some() && refreshed.auth_time != original.auth_time {
        return Err(IdTokenError::RefreshedAuthTimeChanged);
    }
    Ok(refreshed)
}

/// True for a `typ` that marks a token as something other than an ID token:
/// a logout token (`logout+jwt`) or a JWT access token (`at+jwt`, RFC 9068),
/// with or without the `application/` prefix.
fn is_other_token_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    matches!(typ, "logout+jwt" | "at+jwt")
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jose::test_keys::{b64url, key_for, rsa, sign, sign_raw, standard_jwks};

    const NOW: u64 = 1_700_000_000;
    const ISSUER: &str = "https://op.example.com";
    const CLIENT: &str = "client-1";
    const NONCE: &str = "nonce-abc";
    const SKEW: u64 = 60;

    fn base_claims() -> Value {
        json!({
            "iss": ISSUER,
            "sub": "alice",
            "aud": CLIENT,
            "exp": NOW + 300,
            "iat": NOW,
            "nonce": NONCE,
            "auth_time": NOW - 100,
            "sid": "session-1",
            "email": "alice@example.com",
        })
    }

    fn with(changes: Value) -> Value {
        let mut c = base_claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn expectations() -> IdTokenExpectations<'static> {
        IdTokenExpectations {
            issuer: ISSUER,
            client_id: CLIENT,
            client_secret: None,
            allowed_algs: &Algorithm::ASYMMETRIC,
            nonce: Some(NONCE),
            max_age: None,
            now: NOW,
            skew_secs: SKEW,
        }
    }

    fn rs256(claims: &Value) -> String {
        sign(claims, &rsa().encoding, Algorithm::RS256, Some("rsa1"))
    }

    fn check(claims: &Value) -> Result<IdTokenClaims, IdTokenError> {
        validate_id_token(&rs256(claims), &standard_jwks(), &expectations())
    }

    fn check_at(claims: &Value, now: u64) -> Result<IdTokenClaims, IdTokenError> {
        let exp = IdTokenExpectations {
            now,
            ..expectations()
        };
        validate_id_token(&rs256(claims), &standard_jwks(), &exp)
    }

    #[test]
    fn accepts_a_valid_id_token_and_exposes_its_claims() {
        let c = check(&base_claims()).unwrap();
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.sub, "alice");
        assert_eq!(c.aud, [CLIENT]);
        assert_eq!(c.azp, None);
        assert_eq!(c.exp, NOW + 300);
        assert_eq!(c.iat, NOW);
        assert_eq!(c.nonce.as_deref(), Some(NONCE));
        assert_eq!(c.auth_time, Some(NOW - 100));
        assert_eq!(c.sid.as_deref(), Some("session-1"));
        assert_eq!(c.alg, Algorithm::RS256);
        assert_eq!(c.claims["email"], "alice@example.com");
    }

    #[test]
    fn accepts_every_allowed_algorithm() {
        let jwks = standard_jwks();
        for alg in Algorithm::ASYMMETRIC {
            let (key, kid) = key_for(alg);
            let token = sign(&base_claims(), &key.encoding, alg, Some(kid));
            let c = validate_id_token(&token, &jwks, &expectations())
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(c.alg, alg);
        }
        let secret = Secret::new("a-client-secret-of-thirty-two-bytes");
        let algs = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        for alg in algs {
            let token = sign(
                &base_claims(),
                &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
                alg,
                None,
            );
            let exp = IdTokenExpectations {
                client_secret: Some(&secret),
                allowed_algs: &algs,
                ..expectations()
            };
            assert_eq!(validate_id_token(&token, &jwks, &exp).unwrap().alg, alg);
        }
    }

    #[test]
    fn rejects_id_token_with_alg_none() {
        let token = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none"}"#),
            b64url(base_claims().to_string().as_bytes())
        );
        assert_eq!(
            validate_id_token(&token, &standard_jwks(), &expectations()),
            Err(IdTokenError::Jws(JwsError::AlgNone))
        );
    }

    #[test]
    fn rejects_id_token_with_alg_not_on_the_allowlist() {
        let exp = IdTokenExpectations {
            allowed_algs: &[Algorithm::ES256],
            ..expectations()
        };
        assert_eq!(
            validate_id_token(&rs256(&base_claims()), &standard_jwks(), &exp),
            Err(IdTokenError::Jws(JwsError::AlgNotAllowed(Algorithm::RS256)))
        );
    }

    #[test]
    fn rejects_hs256_id_token_without_a_client_secret() {
        let token = sign(
            &base_claims(),
            &jsonwebtoken::EncodingKey::from_secret(b"guessed"),
            Algorithm::HS256,
            None,
        );
        let algs = [Algorithm::RS256, Algorithm::HS256];
        let exp = IdTokenExpectations {
            allowed_algs: &algs,
            ..expectations()
        };
        assert_eq!(
            validate_id_token(&token, &standard_jwks(), &exp),
            Err(IdTokenError::Jws(JwsError::HmacWithoutSecret(
                Algorithm::HS256
            )))
        );
    }

    #[test]
    fn reports_an_unknown_kid_as_its_own_error_for_jwks_refetch() {
        let token = sign(
            &base_claims(),
            &rsa().encoding,
            Algorithm::RS256,
            Some("new-key"),
        );
        let err = validate_id_token(&token, &standard_jwks(), &expectations()).unwrap_err();
        assert_eq!(err, IdTokenError::UnknownKid);
        assert!(err.is_unknown_kid());
        assert!(!IdTokenError::Expired.is_unknown_kid());
    }

    #[test]
    fn rejects_a_logout_token_or_access_token_presented_as_id_token() {
        for typ in ["logout+jwt", "application/logout+jwt", "at+JWT"] {
            let h = json!({"alg": "RS256", "kid": "rsa1", "typ": typ});
            let token = sign_raw(
                &h,
                base_claims().to_string().as_bytes(),
                &rsa().encoding,
                Algorithm::RS256,
            );
            assert_eq!(
                validate_id_token(&token, &standard_jwks(), &expectations()),
                Err(IdTokenError::WrongTokenType),
                "{typ}"
            );
        }
        let logout = with(json!({"events": {BACKCHANNEL_LOGOUT_EVENT: {}}}));
        assert_eq!(check(&logout), Err(IdTokenError::WrongTokenType));
    }

    #[test]
    fn rejects_id_token_when_iss_differs() {
        for iss in [
            "https://op.example.com/",
            "https://OP.example.com",
            "https://evil.example",
        ] {
            let err = check(&with(json!({ "iss": iss }))).unwrap_err();
            assert_eq!(
                err,
                IdTokenError::IssuerMismatch {
                    expected: ISSUER.into(),
                    actual: iss.into()
                }
            );
        }
    }

    #[test]
    fn rejects_id_token_when_iss_is_missing_or_not_a_string() {
        assert_eq!(
            check(&with(json!({"iss": null}))),
            Err(IdTokenError::MissingClaim("iss"))
        );
        assert_eq!(
            check(&with(json!({"iss": [ISSUER]}))),
            Err(IdTokenError::WrongClaimType("iss"))
        );
    }

    #[test]
    fn rejects_id_token_when_aud_does_not_contain_client_id() {
        assert_eq!(
            check(&with(json!({"aud": "other-client"}))),
            Err(IdTokenError::AudienceMismatch)
        );
        assert_eq!(
            check(&with(json!({"aud": []}))),
            Err(IdTokenError::AudienceMismatch)
        );
        assert_eq!(
            check(&with(json!({"aud": null}))),
            Err(IdTokenError::MissingClaim("aud"))
        );
    }

    #[test]
    fn accepts_aud_as_an_array_with_only_client_id() {
        assert_eq!(
            check(&with(json!({"aud": [CLIENT]}))).unwrap().aud,
            [CLIENT]
        );
    }

    #[test]
    fn rejects_id_token_with_an_extra_untrusted_audience() {
        let c = with(json!({"aud": [CLIENT, "https://api.example"], "azp": CLIENT}));
        assert_eq!(check(&c), Err(IdTokenError::UntrustedAudience));
    }

    #[test]
    fn rejects_id_token_with_multiple_audiences_and_no_azp() {
        let c = with(json!({"aud": [CLIENT, "https://api.example"]}));
        assert_eq!(check(&c), Err(IdTokenError::AzpRequired));
        let dup = with(json!({"aud": [CLIENT, CLIENT]}));
        assert_eq!(check(&dup), Err(IdTokenError::AzpRequired));
        let dup_with_azp = with(json!({"aud": [CLIENT, CLIENT], "azp": CLIENT}));
        assert!(check(&dup_with_azp).is_ok());
    }

    #[test]
    fn rejects_id_token_when_azp_differs_from_client_id() {
        assert_eq!(
            check(&with(json!({"azp": "other"}))),
            Err(IdTokenError::AzpMismatch)
        );
        assert_eq!(
            check(&with(json!({"azp": CLIENT}))).unwrap().azp.as_deref(),
            Some(CLIENT)
        );
    }

    #[test]
    fn rejects_id_token_with_aud_or_azp_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"aud": 42}))),
            Err(IdTokenError::WrongClaimType("aud"))
        );
        assert_eq!(
            check(&with(json!({"aud": [CLIENT, 42]}))),
            Err(IdTokenError::WrongClaimType("aud"))
        );
        assert_eq!(
            check(&with(json!({"aud": {"client": CLIENT}}))),
            Err(IdTokenError::WrongClaimType("aud"))
        );
        assert_eq!(
            check(&with(json!({"azp": 1}))),
            Err(IdTokenError::WrongClaimType("azp"))
        );
    }

    #[test]
    fn rejects_expired_id_token() {
        let c = with(json!({"exp": NOW - 61, "iat": NOW - 400}));
        assert_eq!(check(&c), Err(IdTokenError::Expired));
        // Exactly at exp + skew is already expired.
        let c = with(json!({"exp": NOW - 60, "iat": NOW - 400}));
        assert_eq!(check(&c), Err(IdTokenError::Expired));
    }

    #[test]
    fn accepts_expired_id_token_within_the_clock_skew() {
        let c = with(json!({"exp": NOW - 59, "iat": NOW - 400}));
        assert!(check(&c).is_ok());
    }

    #[test]
    fn rejects_id_token_without_exp_or_with_exp_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"exp": null}))),
            Err(IdTokenError::MissingClaim("exp"))
        );
        for bad in [
            json!("9999999999"),
            json!(-1),
            json!(true),
            json!([NOW + 300]),
        ] {
            assert_eq!(
                check(&with(json!({ "exp": bad }))),
                Err(IdTokenError::WrongClaimType("exp")),
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_a_fractional_numeric_date() {
        assert!(check(&with(json!({"exp": (NOW + 300) as f64 + 0.5}))).is_ok());
    }

    #[test]
    fn rejects_id_token_with_iat_in_the_future() {
        assert_eq!(
            check(&with(json!({"iat": NOW + 61}))),
            Err(IdTokenError::IssuedInFuture)
        );
        assert!(check(&with(json!({"iat": NOW + 60}))).is_ok());
    }

    #[test]
    fn rejects_id_token_without_iat_or_with_iat_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"iat": null}))),
            Err(IdTokenError::MissingClaim("iat"))
        );
        assert_eq!(
            check(&with(json!({"iat": NOW.to_string()}))),
            Err(IdTokenError::WrongClaimType("iat"))
        );
    }

    #[test]
    fn rejects_id_token_with_an_absurdly_old_iat() {
        let old = NOW - MAX_IAT_AGE_SECS - SKEW - 1;
        assert_eq!(
            check(&with(json!({"iat": old, "auth_time": old}))),
            Err(IdTokenError::IssuedTooLongAgo)
        );
        let oldest_ok = NOW - MAX_IAT_AGE_SECS - SKEW;
        assert!(check(&with(json!({"iat": oldest_ok, "auth_time": oldest_ok}))).is_ok());
    }

    #[test]
    fn rejects_id_token_with_nbf_in_the_future() {
        assert_eq!(
            check(&with(json!({"nbf": NOW + 61}))),
            Err(IdTokenError::NotYetValid)
        );
        assert!(check(&with(json!({"nbf": NOW + 60}))).is_ok());
        assert_eq!(
            check(&with(json!({"nbf": "0"}))),
            Err(IdTokenError::WrongClaimType("nbf"))
        );
    }

    #[test]
    fn rejects_id_token_when_sub_is_missing_empty_or_not_a_string() {
        assert_eq!(
            check(&with(json!({"sub": null}))),
            Err(IdTokenError::MissingClaim("sub"))
        );
        assert_eq!(
            check(&with(json!({"sub": ""}))),
            Err(IdTokenError::EmptySubject)
        );
        assert_eq!(
            check(&with(json!({"sub": 1234}))),
            Err(IdTokenError::WrongClaimType("sub"))
        );
    }

    #[test]
    fn rejects_id_token_when_nonce_is_missing() {
        assert_eq!(
            check(&with(json!({"nonce": null}))),
            Err(IdTokenError::NonceMissing)
        );
    }

    #[test]
    fn rejects_id_token_when_nonce_differs() {
        for bad in ["nonce-abd", "nonce-ab", "", "NONCE-ABC"] {
            assert_eq!(
                check(&with(json!({ "nonce": bad }))),
                Err(IdTokenError::NonceMismatch)
            );
        }
        assert_eq!(
            check(&with(json!({"nonce": 42}))),
            Err(IdTokenError::WrongClaimType("nonce"))
        );
    }

    #[test]
    fn skips_the_nonce_comparison_only_when_none_was_sent() {
        let exp = IdTokenExpectations {
            nonce: None,
            ..expectations()
        };
        let token = rs256(&with(json!({"nonce": null})));
        assert!(validate_id_token(&token, &standard_jwks(), &exp).is_ok());
    }

    #[test]
    fn rejects_id_token_when_max_age_is_exceeded() {
        let exp = IdTokenExpectations {
            max_age: Some(300),
            ..expectations()
        };
        let too_old = rs256(&with(json!({"auth_time": NOW - 300 - SKEW - 1})));
        assert_eq!(
            validate_id_token(&too_old, &standard_jwks(), &exp),
            Err(IdTokenError::AuthTooOld)
        );
        let just_ok = rs256(&with(json!({"auth_time": NOW - 300 - SKEW})));
        assert!(validate_id_token(&just_ok, &standard_jwks(), &exp).is_ok());
    }

    #[test]
    fn rejects_id_token_without_auth_time_when_max_age_was_sent() {
        let exp = IdTokenExpectations {
            max_age: Some(300),
            ..expectations()
        };
        let token = rs256(&with(json!({"auth_time": null})));
        assert_eq!(
            validate_id_token(&token, &standard_jwks(), &exp),
            Err(IdTokenError::AuthTimeMissing)
        );
        // Without max_age, auth_time is optional.
        assert!(check(&with(json!({"auth_time": null}))).is_ok());
    }

    #[test]
    fn rejects_id_token_with_auth_time_or_sid_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"auth_time": "1700000000"}))),
            Err(IdTokenError::WrongClaimType("auth_time"))
        );
        assert_eq!(
            check(&with(json!({"sid": {"id": 1}}))),
            Err(IdTokenError::WrongClaimType("sid"))
        );
    }

    #[test]
    fn validation_uses_the_injected_clock() {
        // Valid now, expired an hour later, "issued in the future" an hour earlier.
        assert!(check_at(&base_claims(), NOW).is_ok());
        assert_eq!(
            check_at(&base_claims(), NOW + 3_600),
            Err(IdTokenError::Expired)
        );
        assert_eq!(
            check_at(&base_claims(), NOW - 3_600),
            Err(IdTokenError::IssuedInFuture)
        );
    }

    #[test]
    fn builds_expectations_from_the_client_config() {
        let config = ClientConfig {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            client_secret: Some(Secret::new("s")),
            auth_method: Default::default(),
            assertion_key: None,
            redirect_uri: "https://app.example/callback".parse().unwrap(),
            scope: ClientConfig::DEFAULT_SCOPE.into(),
            response_mode: Default::default(),
            id_token_algs: vec![Algorithm::RS256],
            clock_skew_secs: 30,
        };
        let exp = IdTokenExpectations::for_client(&config, Some(NONCE), Some(10), NOW);
        assert_eq!(exp.issuer, ISSUER);
        assert_eq!(exp.client_id, CLIENT);
        assert_eq!(exp.client_secret.map(Secret::expose), Some("s"));
        assert_eq!(exp.allowed_algs, [Algorithm::RS256]);
        assert_eq!(
            (exp.nonce, exp.max_age, exp.now, exp.skew_secs),
            (Some(NONCE), Some(10), NOW, 30)
        );
    }

    #[test]
    fn errors_never_include_the_token() {
        let token = rs256(&with(json!({"nonce": "wrong"})));
        let err = validate_id_token(&token, &standard_jwks(), &expectations()).unwrap_err();
        let shown = format!("{err} {err:?}");
        for part in token.split('.') {
            assert!(!shown.contains(part));
        }
    }

    #[test]
    fn issuer_mismatch_error_shortens_a_huge_iss() {
        let huge = "x".repeat(5_000);
        let Err(IdTokenError::IssuerMismatch { actual, .. }) = check(&with(json!({ "iss": huge })))
        else {
            panic!("expected IssuerMismatch");
        };
        assert!(actual.len() < 300);
    }

    // Refreshed ID tokens (Core §12.2).

    fn original() -> IdTokenClaims {
        check(&base_claims()).unwrap()
    }

    fn refresh(changes: Value) -> Result<IdTokenClaims, IdTokenError> {
        let mut claims = with(json!({"iat": NOW + 10, "exp": NOW + 600, "nonce": null}));
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        validate_refreshed_id_token(
            &rs256(&claims),
            &standard_jwks(),
            &expectations(),
            &original(),
        )
    }

    #[test]
    fn accepts_a_refreshed_id_token_with_the_same_identity() {
        let c = refresh(json!({})).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.iat, NOW + 10);
        // auth_time may be omitted on refresh.
        assert!(refresh(json!({"auth_time": null})).is_ok());
    }

    #[test]
    fn rejects_refreshed_id_token_with_a_different_sub() {
        assert_eq!(
            refresh(json!({"sub": "mallory"})),
            Err(IdTokenError::RefreshedSubjectChanged)
        );
    }

    #[test]
    fn rejects_refreshed_id_token_with_a_different_iss() {
        // Against the configured issuer it fails the normal iss rule...
        assert!(matches!(
            refresh(json!({"iss": "https://other.example"})),
            Err(IdTokenError::IssuerMismatch { .. })
        ));
        // ...and an original from another issuer never matches a refresh.
        let mut orig = original();
        orig.iss = "https://old-issuer.example".into();
        let token = rs256(&with(json!({"nonce": null})));
        assert_eq!(
            validate_refreshed_id_token(&token, &standard_jwks(), &expectations(), &orig),
            Err(IdTokenError::RefreshedIssuerChanged)
        );
    }

    #[test]
    fn rejects_refreshed_id_token_with_a_different_aud() {
        let mut orig = original();
        orig.aud = vec![CLIENT.into(), CLIENT.into(), "legacy".into()];
        let token = rs256(&with(json!({"nonce": null})));
        assert_eq!(
            validate_refreshed_id_token(&token, &standard_jwks(), &expectations(), &orig),
            Err(IdTokenError::RefreshedAudienceChanged)
        );
        assert_eq!(
            refresh(json!({"aud": "other"})),
            Err(IdTokenError::AudienceMismatch)
        );
    }

    #[test]
    fn rejects_refreshed_id_token_with_a_different_azp() {
        // azp appears where the original had none.
        assert_eq!(
            refresh(json!({"azp": CLIENT})),
            Err(IdTokenError::RefreshedAzpChanged)
        );
        // azp disappears.
        let mut orig = original();
        orig.azp = Some(CLIENT.into());
        let token = rs256(&with(json!({"nonce": null})));
        assert_eq!(
            validate_refreshed_id_token(&token, &standard_jwks(), &expectations(), &orig),
            Err(IdTokenError::RefreshedAzpChanged)
        );
    }

    #[test]
    fn rejects_refreshed_id_token_with_an_unexpected_nonce() {
        assert_eq!(
            refresh(json!({"nonce": "fresh-nonce"})),
            Err(IdTokenError::RefreshedUnexpectedNonce)
        );
        // The original's nonce repeated is allowed.
        assert!(refresh(json!({"nonce": NONCE})).is_ok());
        // A nonce when the original had none is unexpected.
        let mut orig = original();
        orig.nonce = None;
        let token = rs256(&with(json!({})));
        assert_eq!(
            validate_refreshed_id_token(&token, &standard_jwks(), &expectations(), &orig),
            Err(IdTokenError::RefreshedUnexpectedNonce)
        );
    }

    #[test]
    fn rejects_refreshed_id_token_with_a_different_auth_time() {
        assert_eq!(
            refresh(json!({"auth_time": NOW + 10})),
            Err(IdTokenError::RefreshedAuthTimeChanged)
        );
    }

    #[test]
    fn refreshed_id_token_still_gets_every_normal_rule() {
        assert_eq!(
            refresh(json!({"exp": NOW - 100, "iat": NOW - 400})),
            Err(IdTokenError::Expired)
        );
        assert_eq!(
            refresh(json!({"sub": 5})),
            Err(IdTokenError::WrongClaimType("sub"))
        );
    }

    // Stored ID tokens (re-read from the encrypted session).

    #[test]
    fn stored_id_token_claims_round_trip_a_validated_token() {
        let token = rs256(&base_claims());
        let validated = validate_id_token(&token, &standard_jwks(), &expectations()).unwrap();
        assert_eq!(stored_id_token_claims(&token), Ok(validated.clone()));
        // No clock: the same claims long after the token has expired.
        assert_eq!(
            check_at(&base_claims(), NOW + 365 * 24 * 3_600),
            Err(IdTokenError::Expired)
        );
        assert_eq!(stored_id_token_claims(&token).unwrap().exp, validated.exp);

        // An HS256 token keeps its alg.
        let secret = Secret::new("a-client-secret-of-thirty-two-bytes");
        let token = sign(
            &base_claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
            Algorithm::HS256,
            None,
        );
        let exp = IdTokenExpectations {
            client_secret: Some(&secret),
            allowed_algs: &[Algorithm::HS256],
            ..expectations()
        };
        let validated = validate_id_token(&token, &standard_jwks(), &exp).unwrap();
        assert_eq!(stored_id_token_claims(&token), Ok(validated));
    }

    #[test]
    fn stored_id_token_claims_reject_garbage() {
        let payload = b64url(base_claims().to_string().as_bytes());
        let rs_header = b64url(br#"{"alg":"RS256"}"#);
        for (token, expected) in [
            (String::new(), IdTokenError::Jws(JwsError::Malformed)),
            ("not-a-token".into(), IdTokenError::Jws(JwsError::Malformed)),
            ("a.b".into(), IdTokenError::Jws(JwsError::Malformed)),
            ("a.b.c.d.e".into(), IdTokenError::Jws(JwsError::Malformed)),
            (
                "!!.b.c".into(),
                IdTokenError::Jws(JwsError::InvalidBase64("header")),
            ),
            (
                format!("{}.{payload}.", b64url(b"not json")),
                IdTokenError::Jws(JwsError::InvalidHeader),
            ),
            (
                format!("{}.{payload}.", b64url(br#"{"alg":"none"}"#)),
                IdTokenError::Jws(JwsError::AlgNone),
            ),
            (
                format!("{}.{payload}.", b64url(br#"{"alg":"XS256"}"#)),
                IdTokenError::Jws(JwsError::UnsupportedAlg),
            ),
            (
                format!("{rs_header}.{}.", b64url(b"[1]")),
                IdTokenError::Jws(JwsError::InvalidPayload),
            ),
            (
                format!(
                    "{rs_header}.{}.",
                    b64url(&with(json!({"sub": null})).to_string().into_bytes())
                ),
                IdTokenError::MissingClaim("sub"),
            ),
            (
                format!(
                    "{rs_header}.{}.",
                    b64url(&with(json!({"sub": ""})).to_string().into_bytes())
                ),
                IdTokenError::EmptySubject,
            ),
            (
                format!(
                    "{rs_header}.{}.",
                    b64url(&with(json!({"exp": "soon"})).to_string().into_bytes())
                ),
                IdTokenError::WrongClaimType("exp"),
            ),
            (
                format!(
                    "{rs_header}.{}.",
                    b64url(&with(json!({"aud": [CLIENT, 7]})).to_string().into_bytes())
                ),
                IdTokenError::WrongClaimType("aud"),
            ),
            (
                format!("{}.{payload}.", "x".repeat(crate::jose::MAX_JWS_LEN)),
                IdTokenError::Jws(JwsError::TooLarge),
            ),
        ] {
            assert_eq!(stored_id_token_claims(&token), Err(expected), "{token:.60}");
        }
    }
}
