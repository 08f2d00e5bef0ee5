//! Logout token validation: OpenID Connect Back-Channel Logout 1.0 §2.4
//! and §2.6.
//!
//! The rules, in the order they are applied:
//!
//! 1. The JWS header rules and the signature, exactly as for ID tokens
//!    ([`crate::jose::verify_jws`]): never `none`; `alg` on the allowlist;
//!    `HS*` only with a client secret, keyed by it alone; keys only from the
//!    JWKS (`jwk`/`jku`/`x5u`/`x5c` rejected); any `crit` rejected. An
//!    unknown `kid` is [`LogoutTokenError::UnknownKid`], so the adapter can
//!    refetch the JWKS and retry once. Encrypted (JWE) logout tokens are not
//!    supported and fail as malformed.
//! 2. Explicit typing (BCL §2.3, RFC 8725 §3.11): a `typ` header, if
//!    present, is `logout+jwt` (with or without `application/`, any case).
//!    Plain `JWT` is tolerated, since many OPs still send it; the claim rules
//!    below tell such a token from an ID token. Any other `typ`, `at+jwt`
//!    included, is [`LogoutTokenError::WrongTokenType`].
//! 3. `events` is required: a JSON object with the member
//!    [`BACKCHANNEL_LOGOUT_EVENT`], whose value is a JSON object (usually
//!    `{}`). Other members are allowed.
//! 4. `nonce` must not be present, whatever its value: this is what stops an
//!    ID token from being replayed as a logout token.
//! 5. `iss`, `aud`/`azp`, `exp`, `iat` and `nbf` as for ID tokens: `iss`
//!    exactly equal to the issuer; `aud` contains `client_id` and nothing
//!    else (Portcullis trusts no other audience), `azp` required with several
//!    entries and equal to `client_id` if present; `exp` required and
//!    `now < exp + skew`; `iat` required, `iat <= now + skew` and no older
//!    than [`crate::id_token::MAX_IAT_AGE_SECS`] plus skew; `nbf`, if
//!    present, `<= now + skew`.
//! 6. `jti` is a required, non-empty string.
//! 7. `sub` or `sid` (or both) is present; each, when present, is a
//!    non-empty string.
//!
//! Claims of the wrong JSON type are rejected, never skipped.
//!
//! # Replay
//!
//! BCL §2.6 step 7 (reject a `jti` already seen) is **not** checked here:
//! it needs state, and the core has none. The caller must record
//! ([`LogoutTokenClaims::iss`], [`LogoutTokenClaims::jti`]) and reject a
//! pair it has already seen, keeping each pair at least until
//! [`LogoutTokenClaims::exp`] plus the clock skew (after that the token is
//! rejected as expired anyway). Matching `sub`/`sid` against the sessions
//! (§2.6 step 8) is also the caller's job.

use serde_json::{Map, Value};

use crate::config::ClientConfig;
use crate::id_token::MAX_IAT_AGE_SECS;
use crate::jose::claims::{self, ClaimError, CommonExpectations};
use crate::jose::{Algorithm, Jwks, JwsError, JwsPolicy, verify_jws};
use crate::secret::Secret;

/// The Back-Channel Logout event: the `events` member that marks a JWT as
/// a logout token (BCL §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token is validated against.
#[derive(Debug, Clone, Copy)]
pub struct LogoutTokenExpectations<'a> {
    /// The issuer, compared by exact string match.
    pub issuer: &'a str,
    /// This client's id: the required audience.
    pub client_id: &'a str,
    /// The client secret, the only key for `HS*` algorithms.
    pub client_secret: Option<&'a Secret>,
    /// Accepted signature algorithms (the OP signs logout tokens as it signs
    /// ID tokens).
    pub allowed_algs: &'a [Algorithm],
    /// The current time, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew_secs: u64,
}

impl<'a> LogoutTokenExpectations<'a> {
    /// Expectations for `config`'s issuer, client id, client secret, ID token
    /// algorithms and clock skew.
    pub fn for_client(config: &'a ClientConfig, now: u64) -> Self {
        Self {
            issuer: &config.issuer,
            client_id: &config.client_id,
            client_secret: config.client_secret.as_ref(),
            allowed_algs: &config.id_token_algs,
            now,
            skew_secs: config.clock_skew_secs,
        }
    }
}

/// A validated logout token's claims. At least one of `sub` and `sid` is
/// present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: with `iss`, the user whose sessions end (all of them when
    /// there is no `sid`).
    pub sub: Option<String>,
    /// Session id: the OP session that ended.
    pub sid: Option<String>,
    /// The token's unique id. The caller must reject a (`iss`, `jti`) pair
    /// it has seen before (see the module docs).
    pub jti: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expiry, unix seconds: keep the `jti` until `exp` plus the skew.
    pub exp: u64,
    /// Audiences (always exactly `client_id`, possibly repeated).
    pub aud: Vec<String>,
}

/// Why a logout token was rejected: one variant per rule. The Display text
/// never includes the token. Every rejection is answered with HTTP 400
/// (BCL §2.8); [`LogoutTokenError::code`] gives a short stable string for
/// the `error_description` and for metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// The `kid` is not in the JWKS: refetch it (subject to
    /// [`crate::jose::JwksRefreshPolicy`]) and validate once more.
    #[error("logout token kid is not in the JWKS")]
    UnknownKid,
    /// The JWS header or signature was rejected (the cause says which rule).
    #[error("logout token signature or header rejected")]
    Jws(#[source] JwsError),
    /// The `typ` header marks another kind of token (`at+jwt`, …).
    #[error("token typ is not logout+jwt")]
    WrongTokenType,
    /// A required claim is missing.
    #[error("logout token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (including an `events` claim, or its
    /// back-channel logout member, that is not a JSON object).
    #[error("logout token claim {0} has the wrong JSON type")]
    WrongClaimType(&'static str),
    /// A required string claim (`jti`, `sub`, `sid`) is empty.
    #[error("logout token claim {0} is empty")]
    EmptyClaim(&'static str),
    /// `events` has no back-channel logout member.
    #[error("logout token events has no back-channel logout event")]
    MissingLogoutEvent,
    /// The token has a `nonce`, which a logout token must not have.
    #[error("logout token must not have a nonce")]
    NoncePresent,
    /// Neither `sub` nor `sid` is present.
    #[error("logout token has neither sub nor sid")]
    MissingSubjectAndSession,
    /// `iss` differs from the expected issuer.
    #[error("logout token iss {actual:?} does not equal the issuer {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The token's `iss` (shortened).
        actual: String,
    },
    /// `aud` does not contain `client_id`.
    #[error("logout token aud does not contain this client_id")]
    AudienceMismatch,
    /// `aud` has several entries and there is no `azp`.
    #[error("logout token has several audiences and no azp")]
    AzpRequired,
    /// `aud` contains an audience other than `client_id`.
    #[error("logout token aud contains an untrusted audience")]
    UntrustedAudience,
    /// `azp` differs from `client_id`.
    #[error("logout token azp does not equal this client_id")]
    AzpMismatch,
    /// `exp` is past (beyond the skew).
    #[error("logout token has expired")]
    Expired,
    /// `iat` is in the future (beyond the skew).
    #[error("logout token iat is in the future")]
    IssuedInFuture,
    /// `iat` is older than [`crate::id_token::MAX_IAT_AGE_SECS`] (plus skew).
    #[error("logout token iat is too far in the past")]
    IssuedTooLongAgo,
    /// `nbf` is in the future (beyond the skew).
    #[error("logout token is not valid yet (nbf)")]
    NotYetValid,
}

impl LogoutTokenError {
    /// True if refetching the JWKS might make the token valid.
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, LogoutTokenError::UnknownKid)
    }

    /// A short, stable, lowercase code for this rejection (for the
    /// `error_description` of the 400 answer, logs and metrics). It never
    /// contains token data. Codes may be added, but an existing code keeps
    /// its meaning.
    pub fn code(&self) -> &'static str {
        match self {
            LogoutTokenError::UnknownKid => "unknown_kid",
            LogoutTokenError::Jws(e) => jws_code(e),
            LogoutTokenError::WrongTokenType => "wrong_token_type",
            LogoutTokenError::MissingClaim(_) => "missing_claim",
            LogoutTokenError::WrongClaimType(_) => "wrong_claim_type",
            LogoutTokenError::EmptyClaim(_) => "empty_claim",
            LogoutTokenError::MissingLogoutEvent => "missing_logout_event",
            LogoutTokenError::NoncePresent => "nonce_present",
            LogoutTokenError::MissingSubjectAndSession => "missing_sub_and_sid",
            LogoutTokenError::IssuerMismatch { .. } => "invalid_issuer",
            LogoutTokenError::AudienceMismatch
            | LogoutTokenError::AzpRequired
            | LogoutTokenError::UntrustedAudience
            | LogoutTokenError::AzpMismatch => "invalid_audience",
            LogoutTokenError::Expired => "expired",
            LogoutTokenError::IssuedInFuture => "iat_in_future",
            LogoutTokenError::IssuedTooLongAgo => "iat_too_old",
            LogoutTokenError::NotYetValid => "not_yet_valid",
        }
    }
}

/// The stable code of a JWS rejection, grouped by what the operator can do
/// about it.
fn jws_code(e: &JwsError) -> &'static str {
    match e {
        JwsError::UnknownKid => "unknown_kid",
        JwsError::TooLarge
        | JwsError::Malformed
        | JwsError::InvalidBase64(_)
        | JwsError::InvalidPayload => "malformed",
        JwsError::AlgNone => "alg_none",
        JwsError::MissingAlg
        | JwsError::UnsupportedAlg
        | JwsError::AlgNotAllowed(_)
        | JwsError::HmacWithoutSecret(_) => "alg_not_allowed",
        JwsError::EmbeddedKey(_) => "embedded_key",
        JwsError::InvalidHeader
        | JwsError::CritHeader
        | JwsError::UnencodedPayload
        | JwsError::InvalidKid
        | JwsError::InvalidTyp => "invalid_header",
        JwsError::NoCompatibleKey(_) | JwsError::TooManyCandidateKeys => "no_usable_key",
        JwsError::InvalidSignature => "invalid_signature",
    }
}

impl From<JwsError> for LogoutTokenError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::UnknownKid => LogoutTokenError::UnknownKid,
            other => LogoutTokenError::Jws(other),
        }
    }
}

impl From<ClaimError> for LogoutTokenError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Missing(name) => LogoutTokenError::MissingClaim(name),
            ClaimError::WrongType(name) => LogoutTokenError::WrongClaimType(name),
            ClaimError::IssuerMismatch { expected, actual } => {
                LogoutTokenError::IssuerMismatch { expected, actual }
            }
            ClaimError::AudienceMismatch => LogoutTokenError::AudienceMismatch,
            ClaimError::AzpRequired => LogoutTokenError::AzpRequired,
            ClaimError::UntrustedAudience => LogoutTokenError::UntrustedAudience,
            ClaimError::AzpMismatch => LogoutTokenError::AzpMismatch,
            ClaimError::Expired => LogoutTokenError::Expired,
            ClaimError::IssuedInFuture => LogoutTokenError::IssuedInFuture,
            ClaimError::IssuedTooLongAgo => LogoutTokenError::IssuedTooLongAgo,
            ClaimError::NotYetValid => LogoutTokenError::NotYetValid,
        }
    }
}

/// Validates a logout token (the `logout_token` form parameter of a
/// back-channel logout request; see the module docs for every rule) and
/// returns its claims.
///
/// The caller must still reject a replayed `jti` (see the module docs).
///
/// ```no_run
/// use portcullis_core::jose::{Algorithm, Jwks};
/// use portcullis_core::logout_token::{validate_logout_token, LogoutTokenExpectations};
/// # let (logout_token, jwks_bytes, now): (&str, &[u8], u64) = ("", b"", 0);
/// let jwks = Jwks::from_json(jwks_bytes)?;
/// let expectations = LogoutTokenExpectations {
///     issuer: "https://op.example.com",
///     client_id: "my-client",
///     client_secret: None,
///     allowed_algs: &Algorithm::ASYMMETRIC,
///     now,
///     skew_secs: 60,
/// };
/// match validate_logout_token(logout_token, &jwks, &expectations) {
///     // Check (iss, jti) for replay, then end the sessions of sub / sid.
///     Ok(claims) => println!("logout of {:?} / {:?}", claims.sub, claims.sid),
///     // Refetch the JWKS (if the refresh policy allows) and try once more.
///     Err(e) if e.is_unknown_kid() => {}
///     // Answer 400 {"error": "invalid_request", "error_description": e.code()}.
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_logout_token(
    token: &str,
    jwks: &Jwks,
    expectations: &LogoutTokenExpectations<'_>,
) -> Result<LogoutTokenClaims, LogoutTokenError> {
    let policy = JwsPolicy {
        allowed_algs: expectations.allowed_algs,
        client_secret: expectations.client_secret,
    };
    let verified = verify_jws(token, jwks, &policy)?;
    if verified
        .typ
        .as_deref()
        .is_some_and(|t| !is_acceptable_typ(t))
    {
        return Err(LogoutTokenError::WrongTokenType);
    }
    let claims = verified.claims;

    check_events(&claims)?;
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::NoncePresent);
    }

    let common = claims::check_common_claims(
        &claims,
        &CommonExpectations {
            issuer: expectations.issuer,
            client_id: expectations.client_id,
            now: expectations.now,
            skew_secs: expectations.skew_secs,
            max_iat_age_secs: MAX_IAT_AGE_SECS,
        },
    )?;

    let jti = non_empty(claims::required_string(&claims, "jti")?, "jti")?;
    let sub = claims::optional_string(&claims, "sub")?
        .map(|s| non_empty(s, "sub"))
        .transpose()?;
    let sid = claims::optional_string(&claims, "sid")?
        .map(|s| non_empty(s, "sid"))
        .transpose()?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::MissingSubjectAndSession);
    }

    Ok(LogoutTokenClaims {
        iss: common.iss,
        sub,
        sid,
        jti,
        iat: common.iat,
        exp: common.exp,
        aud: common.aud,
    })
}

/// `events` is a JSON object whose back-channel logout member is a JSON
/// object.
fn check_events(claims: &Map<String, Value>) -> Result<(), LogoutTokenError> {
    let events = match claims.get("events") {
        None => return Err(LogoutTokenError::MissingClaim("events")),
        Some(Value::Object(events)) => events,
        Some(_) => return Err(LogoutTokenError::WrongClaimType("events")),
    };
    match events.get(BACKCHANNEL_LOGOUT_EVENT) {
        None => Err(LogoutTokenError::MissingLogoutEvent),
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(LogoutTokenError::WrongClaimType("events")),
    }
}

fn non_empty(value: String, name: &'static str) -> Result<String, LogoutTokenError> {
    if value.is_empty() {
        Err(LogoutTokenError::EmptyClaim(name))
    } else {
        Ok(value)
    }
}

/// `logout+jwt` (the explicit type, with or without `application/`), or the
/// generic `JWT` many OPs still send; media types compare case-insensitively.
fn is_acceptable_typ(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    matches!(typ, "logout+jwt" | "jwt")
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    use super::*;
    use crate::jose::test_keys::{b64url, key_for, rsa, rsa2, sign, sign_raw, standard_jwks};

    const NOW: u64 = 1_700_000_000;
    const ISSUER: &str = "https://op.example.com";
    const CLIENT: &str = "client-1";
    const SKEW: u64 = 60;

    fn base_claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": CLIENT,
            "iat": NOW,
            "exp": NOW + 120,
            "jti": "jti-1",
            "sub": "alice",
            "sid": "session-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    /// `base_claims` with members replaced, or removed where the value is null.
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

    fn expectations() -> LogoutTokenExpectations<'static> {
        LogoutTokenExpectations {
            issuer: ISSUER,
            client_id: CLIENT,
            client_secret: None,
            allowed_algs: &Algorithm::ASYMMETRIC,
            now: NOW,
            skew_secs: SKEW,
        }
    }

    /// Signed RS256 with the standard key, header `{"alg","kid","typ"}`.
    fn signed(claims: &Value, typ: Option<&str>) -> String {
        let mut h = json!({"alg": "RS256", "kid": "rsa1"});
        if let Some(typ) = typ {
            h["typ"] = json!(typ);
        }
        sign_raw(
            &h,
            claims.to_string().as_bytes(),
            &rsa().encoding,
            Algorithm::RS256,
        )
    }

    fn check(claims: &Value) -> Result<LogoutTokenClaims, LogoutTokenError> {
        validate_logout_token(
            &signed(claims, Some("logout+jwt")),
            &standard_jwks(),
            &expectations(),
        )
    }

    // Happy paths.

    #[test]
    fn accepts_a_logout_token_with_sub_only() {
        let c = check(&with(json!({"sid": null}))).unwrap();
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.sid, None);
    }

    #[test]
    fn accepts_a_logout_token_with_sid_only() {
        let c = check(&with(json!({"sub": null}))).unwrap();
        assert_eq!(c.sub, None);
        assert_eq!(c.sid.as_deref(), Some("session-1"));
    }

    #[test]
    fn accepts_a_logout_token_with_sub_and_sid_and_exposes_its_claims() {
        let c = check(&base_claims()).unwrap();
        assert_eq!(
            c,
            LogoutTokenClaims {
                iss: ISSUER.into(),
                sub: Some("alice".into()),
                sid: Some("session-1".into()),
                jti: "jti-1".into(),
                iat: NOW,
                exp: NOW + 120,
                aud: vec![CLIENT.into()],
            }
        );
    }

    #[test]
    fn accepts_every_allowed_algorithm_and_hs256_with_a_client_secret() {
        let jwks = standard_jwks();
        for alg in Algorithm::ASYMMETRIC {
            let (key, kid) = key_for(alg);
            let token = sign(&base_claims(), &key.encoding, alg, Some(kid));
            validate_logout_token(&token, &jwks, &expectations())
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        }
        let secret = Secret::new("a-client-secret-of-thirty-two-bytes");
        let token = sign(
            &base_claims(),
            &EncodingKey::from_secret(secret.expose().as_bytes()),
            Algorithm::HS256,
            None,
        );
        let exp = LogoutTokenExpectations {
            client_secret: Some(&secret),
            allowed_algs: &[Algorithm::HS256],
            ..expectations()
        };
        assert!(validate_logout_token(&token, &jwks, &exp).is_ok());
    }

    #[test]
    fn accepts_typ_logout_jwt_in_any_spelling_jwt_or_absent() {
        for typ in [
            Some("logout+jwt"),
            Some("application/logout+jwt"),
            Some("Logout+JWT"),
            Some("JWT"),
            None,
        ] {
            let token = signed(&base_claims(), typ);
            assert!(
                validate_logout_token(&token, &standard_jwks(), &expectations()).is_ok(),
                "{typ:?}"
            );
        }
    }

    #[test]
    fn accepts_other_events_next_to_the_logout_event() {
        let c = with(json!({"events": {
            BACKCHANNEL_LOGOUT_EVENT: {},
            "https://example.com/other-event": {"x": 1},
        }}));
        assert!(check(&c).is_ok());
    }

    #[test]
    fn accepts_a_logout_token_within_the_clock_skew() {
        assert!(check(&with(json!({"exp": NOW - 59, "iat": NOW - 200}))).is_ok());
        assert!(check(&with(json!({"iat": NOW + 60}))).is_ok());
    }

    // Signature and header (verify_jws).

    #[test]
    fn rejects_logout_token_with_alg_none() {
        let token = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none","typ":"logout+jwt"}"#),
            b64url(base_claims().to_string().as_bytes())
        );
        let err = validate_logout_token(&token, &standard_jwks(), &expectations()).unwrap_err();
        assert_eq!(err, LogoutTokenError::Jws(JwsError::AlgNone));
        assert_eq!(err.code(), "alg_none");
    }

    #[test]
    fn rejects_logout_token_with_alg_not_on_the_allowlist() {
        let exp = LogoutTokenExpectations {
            allowed_algs: &[Algorithm::ES256],
            ..expectations()
        };
        let err = validate_logout_token(&signed(&base_claims(), None), &standard_jwks(), &exp)
            .unwrap_err();
        assert_eq!(
            err,
            LogoutTokenError::Jws(JwsError::AlgNotAllowed(Algorithm::RS256))
        );
        assert_eq!(err.code(), "alg_not_allowed");
    }

    #[test]
    fn rejects_logout_token_with_a_bad_signature() {
        // Signed by another key under the standard key's kid.
        let forged = sign(
            &base_claims(),
            &rsa2().encoding,
            Algorithm::RS256,
            Some("rsa1"),
        );
        let err = validate_logout_token(&forged, &standard_jwks(), &expectations()).unwrap_err();
        assert_eq!(err, LogoutTokenError::Jws(JwsError::InvalidSignature));
        assert_eq!(err.code(), "invalid_signature");
        // A genuine signature over a different payload.
        let genuine = signed(&base_claims(), None);
        let parts: Vec<&str> = genuine.split('.').collect();
        let evil = b64url(with(json!({"sub": "bob"})).to_string().as_bytes());
        let tampered = format!("{}.{evil}.{}", parts[0], parts[2]);
        assert_eq!(
            validate_logout_token(&tampered, &standard_jwks(), &expectations()),
            Err(LogoutTokenError::Jws(JwsError::InvalidSignature))
        );
    }

    #[test]
    fn reports_an_unknown_kid_as_its_own_error_for_jwks_refetch() {
        let token = sign(
            &base_claims(),
            &rsa().encoding,
            Algorithm::RS256,
            Some("rotated-key"),
        );
        let err = validate_logout_token(&token, &standard_jwks(), &expectations()).unwrap_err();
        assert_eq!(err, LogoutTokenError::UnknownKid);
        assert!(err.is_unknown_kid());
        assert_eq!(err.code(), "unknown_kid");
        assert!(!LogoutTokenError::Expired.is_unknown_kid());
        assert!(!LogoutTokenError::Jws(JwsError::InvalidSignature).is_unknown_kid());
    }

    #[test]
    fn rejects_hs256_logout_token_without_a_client_secret() {
        let token = sign(
            &base_claims(),
            &EncodingKey::from_secret(b"guessed"),
            Algorithm::HS256,
            None,
        );
        let algs = [Algorithm::RS256, Algorithm::HS256];
        let exp = LogoutTokenExpectations {
            allowed_algs: &algs,
            ..expectations()
        };
        assert_eq!(
            validate_logout_token(&token, &standard_jwks(), &exp),
            Err(LogoutTokenError::Jws(JwsError::HmacWithoutSecret(
                Algorithm::HS256
            )))
        );
    }

    #[test]
    fn rejects_logout_token_with_typ_at_jwt() {
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "secevent+jwt"] {
            let token = signed(&base_claims(), Some(typ));
            let err = validate_logout_token(&token, &standard_jwks(), &expectations()).unwrap_err();
            assert_eq!(err, LogoutTokenError::WrongTokenType, "{typ}");
            assert_eq!(err.code(), "wrong_token_type");
        }
    }

    // Token type: events and nonce.

    #[test]
    fn rejects_logout_token_without_events() {
        assert_eq!(
            check(&with(json!({"events": null}))),
            Err(LogoutTokenError::MissingClaim("events"))
        );
    }

    #[test]
    fn rejects_logout_token_without_the_backchannel_logout_event_member() {
        for events in [
            json!({}),
            json!({"http://schemas.openid.net/event/backchannel-logout/": {}}),
            json!({"https://schemas.openid.net/event/backchannel-logout": {}}),
            json!({"http://schemas.openid.net/event/frontchannel-logout": {}}),
        ] {
            let err = check(&with(json!({ "events": events }))).unwrap_err();
            assert_eq!(err, LogoutTokenError::MissingLogoutEvent, "{events}");
            assert_eq!(err.code(), "missing_logout_event");
        }
    }

    #[test]
    fn rejects_logout_token_whose_events_is_not_an_object() {
        for events in [
            json!([BACKCHANNEL_LOGOUT_EVENT]),
            json!(BACKCHANNEL_LOGOUT_EVENT),
            json!(true),
            json!(1),
        ] {
            assert_eq!(
                check(&with(json!({ "events": events }))),
                Err(LogoutTokenError::WrongClaimType("events")),
                "{events}"
            );
        }
        // events explicitly null is the wrong type, not "absent".
        let mut c = base_claims();
        c["events"] = Value::Null;
        assert_eq!(check(&c), Err(LogoutTokenError::WrongClaimType("events")));
    }

    #[test]
    fn rejects_logout_token_whose_logout_event_is_not_an_object() {
        for value in [json!(null), json!("logout"), json!(true), json!([])] {
            let c = with(json!({"events": { BACKCHANNEL_LOGOUT_EVENT: value }}));
            assert_eq!(
                check(&c),
                Err(LogoutTokenError::WrongClaimType("events")),
                "{value}"
            );
        }
    }

    #[test]
    fn rejects_logout_token_with_a_nonce() {
        for nonce in [json!("n-0S6_WzA2Mj"), json!(""), json!(null), json!(1)] {
            let mut c = base_claims();
            c["nonce"] = nonce.clone();
            let err = check(&c).unwrap_err();
            assert_eq!(err, LogoutTokenError::NoncePresent, "{nonce}");
            assert_eq!(err.code(), "nonce_present");
        }
    }

    #[test]
    fn rejects_an_id_token_presented_as_a_logout_token() {
        // A real ID token: typ JWT, a nonce, no events.
        let id_token = json!({
            "iss": ISSUER, "sub": "alice", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
            "nonce": "n-0S6_WzA2Mj", "sid": "session-1", "auth_time": NOW - 10,
        });
        let token = sign(&id_token, &rsa().encoding, Algorithm::RS256, Some("rsa1"));
        assert_eq!(
            validate_logout_token(&token, &standard_jwks(), &expectations()),
            Err(LogoutTokenError::MissingClaim("events"))
        );
        // Even with a jti it has no events; and one that gained an events
        // claim is still rejected for its nonce.
        let mut with_events = id_token.clone();
        with_events["jti"] = json!("j");
        with_events["events"] = json!({ BACKCHANNEL_LOGOUT_EVENT: {} });
        let token = sign(
            &with_events,
            &rsa().encoding,
            Algorithm::RS256,
            Some("rsa1"),
        );
        assert_eq!(
            validate_logout_token(&token, &standard_jwks(), &expectations()),
            Err(LogoutTokenError::NoncePresent)
        );
    }

    // iss and aud.

    #[test]
    fn rejects_logout_token_when_iss_differs() {
        for iss in [
            "https://op.example.com/",
            "https://OP.example.com",
            "https://evil.example",
        ] {
            let err = check(&with(json!({ "iss": iss }))).unwrap_err();
            assert_eq!(
                err,
                LogoutTokenError::IssuerMismatch {
                    expected: ISSUER.into(),
                    actual: iss.into(),
                }
            );
            assert_eq!(err.code(), "invalid_issuer");
        }
        assert_eq!(
            check(&with(json!({"iss": null}))),
            Err(LogoutTokenError::MissingClaim("iss"))
        );
        assert_eq!(
            check(&with(json!({"iss": [ISSUER]}))),
            Err(LogoutTokenError::WrongClaimType("iss"))
        );
    }

    #[test]
    fn rejects_logout_token_when_aud_does_not_contain_client_id() {
        for aud in [json!("other-client"), json!([]), json!(["other-client"])] {
            let err = check(&with(json!({ "aud": aud }))).unwrap_err();
            assert_eq!(err, LogoutTokenError::AudienceMismatch, "{aud}");
            assert_eq!(err.code(), "invalid_audience");
        }
        assert_eq!(
            check(&with(json!({"aud": null}))),
            Err(LogoutTokenError::MissingClaim("aud"))
        );
        assert_eq!(
            check(&with(json!({"aud": 5}))),
            Err(LogoutTokenError::WrongClaimType("aud"))
        );
    }

    #[test]
    fn rejects_logout_token_with_an_extra_untrusted_audience() {
        let c = with(json!({"aud": [CLIENT, "https://api.example"], "azp": CLIENT}));
        assert_eq!(check(&c), Err(LogoutTokenError::UntrustedAudience));
        let c = with(json!({"aud": [CLIENT, "https://api.example"]}));
        assert_eq!(check(&c), Err(LogoutTokenError::AzpRequired));
        assert_eq!(
            check(&with(json!({"azp": "other"}))),
            Err(LogoutTokenError::AzpMismatch)
        );
    }

    // Times.

    #[test]
    fn rejects_expired_logout_token() {
        let err = check(&with(json!({"exp": NOW - SKEW, "iat": NOW - 200}))).unwrap_err();
        assert_eq!(err, LogoutTokenError::Expired);
        assert_eq!(err.code(), "expired");
    }

    #[test]
    fn rejects_logout_token_without_exp_or_with_exp_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"exp": null}))),
            Err(LogoutTokenError::MissingClaim("exp"))
        );
        for bad in [json!("9999999999"), json!(-1), json!(true)] {
            assert_eq!(
                check(&with(json!({ "exp": bad }))),
                Err(LogoutTokenError::WrongClaimType("exp")),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_logout_token_without_iat_or_with_iat_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"iat": null}))),
            Err(LogoutTokenError::MissingClaim("iat"))
        );
        assert_eq!(
            check(&with(json!({"iat": NOW.to_string()}))),
            Err(LogoutTokenError::WrongClaimType("iat"))
        );
    }

    #[test]
    fn rejects_logout_token_with_iat_in_the_future() {
        let err = check(&with(json!({"iat": NOW + SKEW + 1}))).unwrap_err();
        assert_eq!(err, LogoutTokenError::IssuedInFuture);
        assert_eq!(err.code(), "iat_in_future");
    }

    #[test]
    fn rejects_logout_token_with_an_absurdly_old_iat() {
        let old = NOW - MAX_IAT_AGE_SECS - SKEW - 1;
        assert_eq!(
            check(&with(json!({ "iat": old }))),
            Err(LogoutTokenError::IssuedTooLongAgo)
        );
    }

    #[test]
    fn rejects_logout_token_with_nbf_in_the_future() {
        assert_eq!(
            check(&with(json!({"nbf": NOW + SKEW + 1}))),
            Err(LogoutTokenError::NotYetValid)
        );
    }

    // jti, sub and sid.

    #[test]
    fn rejects_logout_token_without_jti() {
        let err = check(&with(json!({"jti": null}))).unwrap_err();
        assert_eq!(err, LogoutTokenError::MissingClaim("jti"));
        assert_eq!(err.code(), "missing_claim");
        assert_eq!(
            check(&with(json!({"jti": ""}))),
            Err(LogoutTokenError::EmptyClaim("jti"))
        );
        assert_eq!(
            check(&with(json!({"jti": 42}))),
            Err(LogoutTokenError::WrongClaimType("jti"))
        );
    }

    #[test]
    fn rejects_logout_token_with_neither_sub_nor_sid() {
        let err = check(&with(json!({"sub": null, "sid": null}))).unwrap_err();
        assert_eq!(err, LogoutTokenError::MissingSubjectAndSession);
        assert_eq!(err.code(), "missing_sub_and_sid");
    }

    #[test]
    fn rejects_logout_token_with_sub_or_sid_empty_or_of_the_wrong_type() {
        assert_eq!(
            check(&with(json!({"sub": ""}))),
            Err(LogoutTokenError::EmptyClaim("sub"))
        );
        assert_eq!(
            check(&with(json!({"sid": ""}))),
            Err(LogoutTokenError::EmptyClaim("sid"))
        );
        // A wrong-typed sub is rejected even though sid alone would do.
        assert_eq!(
            check(&with(json!({"sub": 1234}))),
            Err(LogoutTokenError::WrongClaimType("sub"))
        );
        assert_eq!(
            check(&with(json!({"sid": {"id": 1}}))),
            Err(LogoutTokenError::WrongClaimType("sid"))
        );
        let mut c = with(json!({"sub": null}));
        c["sid"] = Value::Null;
        assert_eq!(check(&c), Err(LogoutTokenError::WrongClaimType("sid")));
    }

    // Plumbing.

    #[test]
    fn validation_uses_the_injected_clock() {
        let token = signed(&base_claims(), None);
        let at = |now| {
            let exp = LogoutTokenExpectations {
                now,
                ..expectations()
            };
            validate_logout_token(&token, &standard_jwks(), &exp)
        };
        assert!(at(NOW).is_ok());
        assert_eq!(at(NOW + 3_600), Err(LogoutTokenError::Expired));
        assert_eq!(at(NOW - 3_600), Err(LogoutTokenError::IssuedInFuture));
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
        let exp = LogoutTokenExpectations::for_client(&config, NOW);
        assert_eq!((exp.issuer, exp.client_id), (ISSUER, CLIENT));
        assert_eq!(exp.client_secret.map(Secret::expose), Some("s"));
        assert_eq!(exp.allowed_algs, [Algorithm::RS256]);
        assert_eq!((exp.now, exp.skew_secs), (NOW, 30));
    }

    #[test]
    fn errors_never_include_the_token_and_keep_the_jws_cause() {
        let forged = sign(
            &with(json!({"sid": "very-secret-session-id"})),
            &rsa2().encoding,
            Algorithm::RS256,
            Some("rsa1"),
        );
        let err = validate_logout_token(&forged, &standard_jwks(), &expectations()).unwrap_err();
        let shown = format!("{err} {err:?} {}", err.code());
        for part in forged.split('.') {
            assert!(!shown.contains(part));
        }
        let source = std::error::Error::source(&err).expect("the JwsError is the source");
        assert_eq!(source.to_string(), JwsError::InvalidSignature.to_string());

        let err = check(&with(json!({"nonce": "secret-nonce"}))).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("secret-nonce"));
    }

    #[test]
    fn never_panics_on_garbage() {
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d.e",
            "\u{0}",
            "eyJhbGciOiJSUzI1NiJ9..",
            "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
        ] {
            assert!(validate_logout_token(token, &standard_jwks(), &expectations()).is_err());
        }
    }
}
