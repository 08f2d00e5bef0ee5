//! Typed access to JWT claims and the checks shared by ID tokens and logout
//! tokens: `iss`, `aud`/`azp`, `exp`, `iat` and `nbf`.
//!
//! Every getter rejects a claim of the wrong JSON type instead of skipping
//! it (an `exp` of `"9999999999"` is an error, not "no exp").

use serde_json::{Map, Value};

/// The longest a claim value is echoed in an error message.
const MAX_ECHO_LEN: usize = 200;

/// A failed claim check, mapped by each token module onto its own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimError {
    Missing(&'static str),
    WrongType(&'static str),
    IssuerMismatch { expected: String, actual: String },
    AudienceMismatch,
    AzpRequired,
    UntrustedAudience,
    AzpMismatch,
    Expired,
    IssuedInFuture,
    IssuedTooLongAgo,
    NotYetValid,
}

/// What the shared checks compare against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommonExpectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: u64,
    pub skew_secs: u64,
    /// `iat` older than this (plus skew) is rejected.
    pub max_iat_age_secs: u64,
}

/// The claims the shared checks read (and, through
/// [`check_common_claims`], validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommonClaims {
    pub iss: String,
    pub aud: Vec<String>,
    pub azp: Option<String>,
    pub exp: u64,
    pub iat: u64,
    pub nbf: Option<u64>,
}

/// Reads `iss`, `aud`, `azp`, `exp`, `iat` and `nbf` with their JSON types
/// checked, and nothing else: no comparison with an expected value, no
/// clock. `iss`, `aud`, `exp` and `iat` are required.
///
/// [`check_common_claims`] is this plus the rules; a token already
/// validated and kept in trusted storage is read with this alone.
pub(crate) fn parse_common_claims(claims: &Map<String, Value>) -> Result<CommonClaims, ClaimError> {
    Ok(CommonClaims {
        iss: required_string(claims, "iss")?,
        aud: audiences(claims)?,
        azp: optional_string(claims, "azp")?,
        exp: required_numeric_date(claims, "exp")?,
        iat: required_numeric_date(claims, "iat")?,
        nbf: optional_numeric_date(claims, "nbf")?,
    })
}

/// Checks `iss`, `aud`, `azp`, `exp`, `iat` and `nbf`. Every type is
/// checked first ([`parse_common_claims`]), then:
///
/// - `iss` is exactly equal to the expected issuer;
/// - `aud` contains `client_id`;
/// - with more than one `aud` entry, `azp` is required;
/// - every `aud` entry equals `client_id`: Portcullis trusts no other
///   audience, so a token also meant for someone else is rejected;
/// - `azp`, if present, equals `client_id`;
/// - `now < exp + skew`;
/// - `iat <= now + skew` and `now <= iat + max_iat_age + skew`;
/// - `nbf`, if present, is `<= now + skew`.
pub(crate) fn check_common_claims(
    claims: &Map<String, Value>,
    exp: &CommonExpectations<'_>,
) -> Result<CommonClaims, ClaimError> {
    let common = parse_common_claims(claims)?;
    if common.iss != exp.issuer {
        return Err(ClaimError::IssuerMismatch {
            expected: exp.issuer.to_owned(),
            actual: truncate_for_echo(&common.iss),
        });
    }

    let aud = &common.aud;
    if !aud.iter().any(|a| a == exp.client_id) {
        return Err(ClaimError::AudienceMismatch);
    }
    if aud.len() > 1 && common.azp.is_none() {
        return Err(ClaimError::AzpRequired);
    }
    if aud.iter().any(|a| a != exp.client_id) {
        return Err(ClaimError::UntrustedAudience);
    }
    if common
        .azp
        .as_deref()
        .is_some_and(|azp| azp != exp.client_id)
    {
        return Err(ClaimError::AzpMismatch);
    }

    let late = exp.now.saturating_add(exp.skew_secs);
    if exp.now >= common.exp.saturating_add(exp.skew_secs) {
        return Err(ClaimError::Expired);
    }
    if common.iat > late {
        return Err(ClaimError::IssuedInFuture);
    }
    if exp.now
        > common
            .iat
            .saturating_add(exp.max_iat_age_secs)
            .saturating_add(exp.skew_secs)
    {
        return Err(ClaimError::IssuedTooLongAgo);
    }
    if common.nbf.is_some_and(|nbf| nbf > late) {
        return Err(ClaimError::NotYetValid);
    }
    Ok(common)
}

/// A string claim that must be present.
pub(crate) fn required_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<String, ClaimError> {
    optional_string(claims, name)?.ok_or(ClaimError::Missing(name))
}

/// A string claim that may be absent (`null` counts as the wrong type).
pub(crate) fn optional_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ClaimError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ClaimError::WrongType(name)),
    }
}

/// A NumericDate claim that must be present.
pub(crate) fn required_numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<u64, ClaimError> {
    optional_numeric_date(claims, name)?.ok_or(ClaimError::Missing(name))
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch.
/// Non-integer values are truncated; negative, non-finite and non-number
/// values are the wrong type.
pub(crate) fn optional_numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, ClaimError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                return Ok(Some(v));
            }
            match n.as_f64() {
                // The range check makes the cast exact in its integer part.
                Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
                _ => Err(ClaimError::WrongType(name)),
            }
        }
        Some(_) => Err(ClaimError::WrongType(name)),
    }
}

/// `aud`: a string, or an array of strings (RFC 7519 §4.1.3).
pub(crate) fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, ClaimError> {
    match claims.get("aud") {
        None => Err(ClaimError::Missing("aud")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(ClaimError::WrongType("aud"))
            })
            .collect(),
        Some(_) => Err(ClaimError::WrongType("aud")),
    }
}

/// Shortens an attacker-influenced value before it goes into an error.
pub(crate) fn truncate_for_echo(value: &str) -> String {
    let mut end = value.len().min(MAX_ECHO_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = value[..end].chars().filter(|c| !c.is_control()).collect();
    if end < value.len() {
        out.push('…');
    }
    out
}
