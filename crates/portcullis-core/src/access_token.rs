//! Bearer access tokens for resource servers: the `Authorization` header
//! (RFC 6750 §2.1), JWT access tokens (RFC 9068) and the checks a route
//! adds (required scopes).
//!
//! # The `Authorization` header ([`bearer_token_from_headers`])
//!
//! - At most one `Authorization` header: two or more are
//!   [`BearerHeaderError::MultipleHeaders`] (answered `400 invalid_request`),
//!   never "take the first".
//! - The scheme is compared case-insensitively (`Bearer`, `bearer`,
//!   `BEARER`), and is followed by one or more spaces and exactly one
//!   `token68` (RFC 7235 §2.1: `A-Z a-z 0-9 - . _ ~ + /` then `=` padding).
//!   Anything after it is an error, as is an empty token.
//! - A header longer than [`MAX_AUTHORIZATION_LEN`] is rejected before it is
//!   parsed.
//! - Another scheme (`Basic …`) is not a bearer token: [`BearerHeader::OtherScheme`].
//!
//! Tokens in the query string (`access_token`, RFC 6750 §2.3) are read by
//! [`bearer_token_from_query`] only when an adapter enables it.
//!
//! # JWT access tokens ([`validate_access_token`])
//!
//! In order:
//!
//! 1. The JWS header rules and the signature, as for ID tokens
//!    ([`crate::jose::verify_jws`]): never `none`; `alg` on the allowlist and
//!    tied to its key type; keys only from the JWKS (`jwk`/`jku`/`x5u`/`x5c`
//!    rejected); any `crit` rejected. There is no client secret here, so
//!    `HS*` is always refused: an access token signed with the OP's public
//!    key as an HMAC secret fails. An unknown `kid` is
//!    [`AccessTokenError::UnknownKid`], so the adapter can refetch the JWKS
//!    and retry once.
//! 2. Explicit typing (RFC 9068 §2.1, §4): with [`TypPolicy::Strict`] (the
//!    default) the `typ` header must be `at+jwt` (or `application/at+jwt`,
//!    any case). [`TypPolicy::AllowJwt`] also accepts `JWT` or no `typ`, for
//!    OPs that do not type their access tokens; any other `typ`
//!    (`logout+jwt`, `id_token+jwt`, …) is refused in both modes.
//! 3. Cross-JWT confusion, whatever the `typ`: a token with a back-channel
//!    logout `events` claim is a logout token, and a token with `nonce`,
//!    `at_hash` or `c_hash` is an ID token; both are refused. Without the
//!    `at+jwt` type (lenient mode only), a token must also carry
//!    `client_id` or a scope (`scope` / `scp`), which ID tokens lack.
//! 4. `iss` is exactly the expected issuer.
//! 5. `aud` (a string or an array of strings) contains at least one of the
//!    API's audiences. Other entries are allowed: an access token may be
//!    meant for several resource servers (RFC 9068 §4).
//! 6. `exp` is required and `now < exp + skew`; `iat` is required and
//!    `iat <= now + skew`; `nbf`, if present, is `<= now + skew`.
//! 7. `sub` is a non-empty string. `client_id` and `jti`, when present, are
//!    strings; `scope` is a space-separated string, or `scp` a string or an
//!    array of strings (Okta, Azure AD).
//!
//! Claims of the wrong JSON type are rejected, never skipped.

use serde_json::{Map, Value};

use crate::jose::claims::{self, ClaimError};
use crate::jose::{Algorithm, Jwks, JwsError, JwsPolicy, decode_unverified, verify_jws};
use crate::logout_token::BACKCHANNEL_LOGOUT_EVENT;

/// The longest `Authorization` header value read, in bytes: the largest
/// JWS accepted plus room for the scheme.
pub const MAX_AUTHORIZATION_LEN: usize = crate::jose::MAX_JWS_LEN + 64;

/// What the `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerHeader<'a> {
    /// No `Authorization` header.
    Absent,
    /// An `Authorization` header of another scheme (`Basic`, `DPoP`, …).
    OtherScheme,
    /// A bearer token (syntax checked, not verified).
    Bearer(&'a str),
}

/// Why the `Authorization` header (or the query string) is not a usable
/// bearer credential. The Display text never includes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerHeaderError {
    /// More than one `Authorization` header (or `access_token` parameter).
    #[error("the request has more than one Authorization header; send exactly one")]
    MultipleHeaders,
    /// The header is longer than [`MAX_AUTHORIZATION_LEN`].
    #[error("the Authorization header is larger than {MAX_AUTHORIZATION_LEN} bytes")]
    TooLarge,
    /// `Bearer` with no token, several tokens, or characters outside token68.
    #[error(
        "the Authorization header is not `Bearer <token>` with exactly one token of token68 characters"
    )]
    Malformed,
    /// A token in the query string and in the `Authorization` header.
    #[error(
        "the request carries a bearer token in more than one place; send it only in the Authorization header"
    )]
    SeveralMethods,
}

/// Reads the bearer token from the request's `Authorization` header values
/// (in the order received; see the module docs for the rules).
///
/// ```
/// use portcullis_core::access_token::{bearer_token_from_headers, BearerHeader};
/// let values: [&[u8]; 1] = [b"bearer eyJhbGciOi.eyJzdWIiOi.c2ln"];
/// assert_eq!(
///     bearer_token_from_headers(values),
///     Ok(BearerHeader::Bearer("eyJhbGciOi.eyJzdWIiOi.c2ln"))
/// );
/// ```
pub fn bearer_token_from_headers<'a, I>(values: I) -> Result<BearerHeader<'a>, BearerHeaderError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = values.into_iter();
    let Some(value) = values.next() else {
        return Ok(BearerHeader::Absent);
    };
    if values.next().is_some() {
        return Err(BearerHeaderError::MultipleHeaders);
    }
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(BearerHeaderError::TooLarge);
    }
    // Header values may hold obs-text; a bearer credential never does.
    let Ok(value) = std::str::from_utf8(value) else {
        return Err(BearerHeaderError::Malformed);
    };
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = match value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(BearerHeader::OtherScheme);
    }
    let token = rest.trim_start_matches(' ');
    if is_token68(token) {
        Ok(BearerHeader::Bearer(token))
    } else {
        Err(BearerHeaderError::Malformed)
    }
}

/// Reads an `access_token` query parameter (RFC 6750 §2.3), percent-decoded.
/// Only for adapters that enabled query tokens; two parameters are an error.
pub fn bearer_token_from_query(query: &str) -> Result<Option<String>, BearerHeaderError> {
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "access_token" {
            if found.is_some() {
                return Err(BearerHeaderError::MultipleHeaders);
            }
            if value.len() > crate::jose::MAX_JWS_LEN {
                return Err(BearerHeaderError::TooLarge);
            }
            if !is_token68(&value) {
                return Err(BearerHeaderError::Malformed);
            }
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// True if the query string names an `access_token` parameter (to refuse it
/// with a clear error when query tokens are off).
pub fn query_has_access_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token")
}

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// How strictly the `typ` header of a JWT access token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// `typ` must be `at+jwt` (RFC 9068). The default.
    #[default]
    Strict,
    /// Also accept `typ` `JWT` or no `typ`, for OPs that do not type their
    /// access tokens. Such a token must then carry `client_id` or a scope.
    AllowJwt,
}

/// What a JWT access token is validated against.
#[derive(Debug, Clone, Copy)]
pub struct AccessTokenExpectations<'a> {
    /// The issuer, compared by exact string match.
    pub issuer: &'a str,
    /// The API's identifiers: `aud` must contain at least one of them.
    pub audiences: &'a [String],
    /// Accepted signature algorithms (asymmetric only; `HS*` never verifies).
    pub allowed_algs: &'a [Algorithm],
    /// How the `typ` header is checked.
    pub typ: TypPolicy,
    /// The current time, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew_secs: u64,
}

/// A validated access token's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client itself for `client_credentials`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// The client the token was issued to, if the token says.
    pub client_id: Option<String>,
    /// The granted scopes (from `scope`, or `scp`).
    pub scopes: Vec<String>,
    /// The token's unique id, if any.
    pub jti: Option<String>,
    /// Every claim, as a JSON object (for groups, roles and other claims).
    pub claims: Map<String, Value>,
}

impl AccessTokenClaims {
    /// True if the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes as one space-separated string (as in a `scope` claim).
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The scopes of `required` that the token lacks, in order.
    pub fn missing_scopes<'r>(&self, required: &'r [String]) -> Vec<&'r str> {
        required
            .iter()
            .filter(|r| !self.has_scope(r))
            .map(String::as_str)
            .collect()
    }
}

/// Why an access token was rejected: one variant per rule. The Display text
/// never includes the token (nor attacker-chosen claim values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// The `kid` is not in the JWKS: refetch it (rate-limited) and try once more.
    #[error("the token's kid is not in the issuer's JWKS")]
    UnknownKid,
    /// The JWS header or signature was rejected (the cause says which rule).
    #[error("the token's signature or header was rejected")]
    Jws(#[source] JwsError),
    /// The `typ` header is not `at+jwt` (or, in lenient mode, `JWT`).
    #[error("the token is not typed as an access token (typ at+jwt)")]
    WrongTokenType,
    /// The token is an ID token (`nonce`, `at_hash` or `c_hash`, or, in
    /// lenient mode, neither `client_id` nor a scope).
    #[error("an ID token is not an access token")]
    IdToken,
    /// The token is a logout token (`events` claim).
    #[error("a logout token is not an access token")]
    LogoutToken,
    /// A required claim is missing.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    #[error("the token's {0} claim has the wrong JSON type")]
    WrongClaimType(&'static str),
    /// `sub` is empty.
    #[error("the token's sub claim is empty")]
    EmptySubject,
    /// `iss` is not the expected issuer (or, for several issuers, none of them).
    #[error("the token's issuer is not trusted by this API")]
    IssuerMismatch,
    /// `aud` holds none of the API's audiences.
    #[error("the token's audience is not this API")]
    AudienceMismatch,
    /// `exp` is past (beyond the skew).
    #[error("the token has expired")]
    Expired,
    /// `iat` is in the future (beyond the skew).
    #[error("the token's iat is in the future")]
    IssuedInFuture,
    /// `nbf` is in the future (beyond the skew).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
}

impl AccessTokenError {
    /// True if refetching the JWKS might make the token valid.
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, AccessTokenError::UnknownKid)
    }

    /// A short, stable, lowercase code for this rejection (for the
    /// `error_description`, logs and metrics). It never contains token data.
    pub fn code(&self) -> &'static str {
        match self {
            AccessTokenError::UnknownKid => "unknown_kid",
            AccessTokenError::Jws(e) => match e {
                JwsError::TooLarge => "too_large",
                JwsError::Malformed | JwsError::InvalidBase64(_) | JwsError::InvalidPayload => {
                    "malformed"
                }
                JwsError::AlgNone => "alg_none",
                JwsError::MissingAlg
                | JwsError::UnsupportedAlg
                | JwsError::AlgNotAllowed(_)
                | JwsError::HmacWithoutSecret(_) => "alg_not_allowed",
                JwsError::EmbeddedKey(_) => "embedded_key",
                JwsError::UnknownKid => "unknown_kid",
                JwsError::NoCompatibleKey(_) | JwsError::TooManyCandidateKeys => "no_usable_key",
                JwsError::InvalidSignature => "invalid_signature",
                _ => "invalid_header",
            },
            AccessTokenError::WrongTokenType => "wrong_token_type",
            AccessTokenError::IdToken => "id_token",
            AccessTokenError::LogoutToken => "logout_token",
            AccessTokenError::MissingClaim(_) => "missing_claim",
            AccessTokenError::WrongClaimType(_) => "wrong_claim_type",
            AccessTokenError::EmptySubject => "empty_sub",
            AccessTokenError::IssuerMismatch => "invalid_issuer",
            AccessTokenError::AudienceMismatch => "invalid_audience",
            AccessTokenError::Expired => "expired",
            AccessTokenError::IssuedInFuture => "iat_in_future",
            AccessTokenError::NotYetValid => "not_yet_valid",
        }
    }
}

impl From<JwsError> for AccessTokenError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::UnknownKid => AccessTokenError::UnknownKid,
            other => AccessTokenError::Jws(other),
        }
    }
}

impl From<ClaimError> for AccessTokenError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Missing(name) => AccessTokenError::MissingClaim(name),
            ClaimError::WrongType(name) => AccessTokenError::WrongClaimType(name),
            ClaimError::IssuerMismatch { .. } => AccessTokenError::IssuerMismatch,
            ClaimError::Expired => AccessTokenError::Expired,
            ClaimError::IssuedInFuture => AccessTokenError::IssuedInFuture,
            ClaimError::NotYetValid => AccessTokenError::NotYetValid,
            ClaimError::AudienceMismatch
            | ClaimError::AzpRequired
            | ClaimError::UntrustedAudience
            | ClaimError::AzpMismatch => AccessTokenError::AudienceMismatch,
            ClaimError::IssuedTooLongAgo => AccessTokenError::Expired,
        }
    }
}

/// True if `token` has the shape of a compact JWS (three dot-separated
/// segments), so it is verified locally rather than introspected.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The `iss` claim of a JWT **without verifying anything**: only to choose
/// which issuer's keys and rules [`validate_access_token`] then applies (an
/// API that trusts several issuers). Never use the value for anything else.
pub fn unverified_issuer(token: &str) -> Result<String, AccessTokenError> {
    let (_, claims) = decode_unverified(token)?;
    Ok(claims::required_string(&claims, "iss")?)
}

/// Validates a JWT access token (see the module docs for every rule) and
/// returns its claims. Required scopes are checked afterwards, per route,
/// with [`AccessTokenClaims::missing_scopes`].
///
/// ```no_run
/// use portcullis_core::access_token::{validate_access_token, AccessTokenExpectations, TypPolicy};
/// use portcullis_core::jose::{Algorithm, Jwks};
/// # let (token, jwks_bytes, now): (&str, &[u8], u64) = ("", b"", 0);
/// let jwks = Jwks::from_json(jwks_bytes)?;
/// let audiences = ["https://api.example.com".to_owned()];
/// let expectations = AccessTokenExpectations {
///     issuer: "https://op.example.com",
///     audiences: &audiences,
///     allowed_algs: &Algorithm::ASYMMETRIC,
///     typ: TypPolicy::Strict,
///     now,
///     skew_secs: 60,
/// };
/// let claims = validate_access_token(token, &jwks, &expectations)?;
/// if !claims.has_scope("read:messages") {
///     // answer 403 insufficient_scope
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_access_token(
    token: &str,
    jwks: &Jwks,
    expectations: &AccessTokenExpectations<'_>,
) -> Result<AccessTokenClaims, AccessTokenError> {
    let policy = JwsPolicy {
        allowed_algs: expectations.allowed_algs,
        client_secret: None,
    };
    let verified = verify_jws(token, jwks, &policy)?;
    let typed = check_typ(verified.typ.as_deref(), expectations.typ)?;
    validate_access_token_claims(verified.claims, typed, expectations)
}

/// Whether the `typ` header says `at+jwt`; an error if it is not allowed.
fn check_typ(typ: Option<&str>, policy: TypPolicy) -> Result<bool, AccessTokenError> {
    let normalized = typ.map(|t| {
        let lower = t.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    });
    match (normalized.as_deref(), policy) {
        (Some("at+jwt"), _) => Ok(true),
        (None | Some("jwt"), TypPolicy::AllowJwt) => Ok(false),
        _ => Err(AccessTokenError::WrongTokenType),
    }
}

/// The claim rules (steps 3 to 7 of the module docs) for a payload whose
/// signature verified. `typed` is true when the header said `at+jwt`.
fn validate_access_token_claims(
    claims: Map<String, Value>,
    typed: bool,
    expectations: &AccessTokenExpectations<'_>,
) -> Result<AccessTokenClaims, AccessTokenError> {
    if claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT))
    {
        return Err(AccessTokenError::LogoutToken);
    }
    if ["nonce", "at_hash", "c_hash"]
        .iter()
        .any(|name| claims.contains_key(*name))
    {
        return Err(AccessTokenError::IdToken);
    }
    let client_id = claims::optional_string(&claims, "client_id")?;
    let scopes = scopes(&claims)?;
    if !typed && client_id.is_none() && scopes.is_none() {
        return Err(AccessTokenError::IdToken);
    }

    let iss = claims::required_string(&claims, "iss")?;
    if iss != expectations.issuer {
        return Err(AccessTokenError::IssuerMismatch);
    }
    let aud = claims::audiences(&claims)?;
    if !aud.iter().any(|a| expectations.audiences.contains(a)) {
        return Err(AccessTokenError::AudienceMismatch);
    }

    let exp = claims::required_numeric_date(&claims, "exp")?;
    let iat = claims::required_numeric_date(&claims, "iat")?;
    let nbf = claims::optional_numeric_date(&claims, "nbf")?;
    let now = expectations.now;
    let late = now.saturating_add(expectations.skew_secs);
    if now >= exp.saturating_add(expectations.skew_secs) {
        return Err(AccessTokenError::Expired);
    }
    if iat > late {
        return Err(AccessTokenError::IssuedInFuture);
    }
    if nbf.is_some_and(|nbf| nbf > late) {
        return Err(AccessTokenError::NotYetValid);
    }

    let sub = claims::required_string(&claims, "sub")?;
    if sub.is_empty() {
        return Err(AccessTokenError::EmptySubject);
    }
    let jti = claims::optional_string(&claims, "jti")?;
    Ok(AccessTokenClaims {
        iss,
        sub,
        aud,
        exp,
        iat,
        client_id,
        scopes: scopes.unwrap_or_default(),
        jti,
        claims,
    })
}

/// The granted scopes: `scope` (a space-separated string), else `scp` (a
/// string or an array of strings); `None` when the token has neither.
pub fn scopes(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, AccessTokenError> {
    let split = |s: &str| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match claims.get("scope") {
        Some(Value::String(s)) => return Ok(Some(split(s))),
        Some(_) => return Err(AccessTokenError::WrongClaimType("scope")),
        None => {}
    }
    match claims.get("scp") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(split(s))),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(AccessTokenError::WrongClaimType("scp"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(AccessTokenError::WrongClaimType("scp")),
    }
}

#[cfg(test)]
mod tests;
