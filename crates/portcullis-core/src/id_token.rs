//! ID token validation: OpenID Connect Core §3.1.3.7 (with §2, §10.1 and
//! §12.2), as listed in DESIGN.md.
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
//! Claims of the wrong JSON type (`exp: "9999999999"`, `aud: 5`, `sub: 1`, …)
//! are rejected, never skipped. `sid` is type-checked too. `acr` and
//! `at_hash` are not checked here (Portcullis requests no `acr`, and
//! `at_hash` is optional in the code flow).

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::config::ClientConfig;
use crate::jose::claims::{
    self, ClaimError, CommonExpectations, optional_numeric_date, optional_string,
};
use crate::jose::{Algorithm, Jwks, JwsError, JwsPolicy, verify_jws};
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
    let claims = verified.claims;

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

    let sub = claims::required_string(&claims, "sub").map_err(from_claim_error)?;
    if sub.is_empty() {
        return Err(IdTokenError::EmptySubject);
    }

    let nonce = optional_string(&claims, "nonce").map_err(from_claim_error)?;
    if let Some(expected) = exp.nonce {
        let actual = nonce.as_deref().ok_or(IdTokenError::NonceMissing)?;
        if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(IdTokenError::NonceMismatch);
        }
    }

    let auth_time = optional_numeric_date(&claims, "auth_time").map_err(from_claim_error)?;
    if let Some(max_age) = exp.max_age {
        let auth_time = auth_time.ok_or(IdTokenError::AuthTimeMissing)?;
        if auth_time
            .saturating_add(max_age)
            .saturating_add(exp.skew_secs)
            < exp.now
        {
            return Err(IdTokenError::AuthTooOld);
        }
    }

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
        alg: verified.alg,
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

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}
