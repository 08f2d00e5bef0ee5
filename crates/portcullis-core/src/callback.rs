//! The authorization response at the redirect URI (OpenID Connect Core
//! §3.1.2.5-7, RFC 9207), for both `query` and `form_post`.
//!
//! Checks run in this order, and the first failure wins:
//! 1. `state` is present and equals the pending flow's state (constant time).
//!    A response that does not carry our state is not ours: even an error
//!    response is then reported only as a state mismatch, so a third party
//!    cannot inject provider error messages into a user's browser (CSRF).
//! 2. The pending flow has not expired.
//! 3. RFC 9207 `iss`: equal to the issuer when present, required when the
//!    provider advertises `authorization_response_iss_parameter_supported`.
//!    This runs before the error check because RFC 9207 covers error
//!    responses too: an error from another provider (mix-up) is not surfaced.
//! 4. A provider error (`error`) becomes [`CallbackError::Provider`].
//! 5. `code` is present and non-empty.
//!
//! The state is single-use: after validation (successful or not) the adapter
//! must delete the pending flow.

use crate::authorize::PendingAuthorization;
use crate::discovery::{ProviderMetadata, truncate};
use crate::secret::Secret;
use std::collections::HashSet;
use std::fmt;
use subtle::ConstantTimeEq;

/// The most parameters an authorization response may carry.
pub const MAX_CALLBACK_PARAMS: usize = 64;
/// Longest provider `error` code kept, in characters.
const MAX_ERROR_CHARS: usize = 128;
/// Longest provider `error_description` kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 512;

/// Why an authorization response was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// A parameter appears more than once (RFC 6749 §3.1). Only the names
    /// of the parameters this module reads are shown; any other is "an
    /// unrecognised parameter" (its name is the sender's choice, not ours).
    #[error("the authorization response repeats {0}")]
    DuplicateParameter(&'static str),
    /// More than [`MAX_CALLBACK_PARAMS`] parameters.
    #[error("the authorization response has too many parameters")]
    TooManyParameters,
    /// No `state` parameter.
    #[error("the authorization response has no state")]
    MissingState,
    /// `state` does not match the pending flow.
    #[error("the authorization response state does not match this login attempt")]
    StateMismatch,
    /// The pending flow is too old.
    #[error("the login attempt expired; please sign in again")]
    Expired,
    /// RFC 9207: the provider advertises `iss` but the response lacks it.
    #[error("the authorization response has no `iss` although the provider advertises it")]
    MissingIssuer,
    /// RFC 9207: `iss` differs from the issuer.
    #[error("the authorization response comes from issuer {actual:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The expected issuer.
        expected: String,
        /// The `iss` received (sanitized).
        actual: String,
    },
    /// The provider returned an error response.
    #[error("the OpenID Provider returned an error: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        /// The `error` code (sanitized).
        error: String,
        /// The `error_description` (sanitized).
        description: Option<String>,
    },
    /// No `code`, or an empty one.
    #[error("the authorization response has no code")]
    MissingCode,
}

/// An authorization code. `Debug` and `Display` are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode(Secret);

impl AuthorizationCode {
    /// Wraps a code.
    pub fn new(code: impl Into<String>) -> Self {
        Self(Secret::new(code.into()))
    }

    /// The code, for the token request only.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// The parameters of an authorization response.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    code: Option<Secret>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("state", &self.state.as_ref().map(|_| "<redacted>"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// How a repeated parameter is named in errors.
fn known_name(name: &str) -> &'static str {
    match name {
        "code" => "the parameter `code`",
        "state" => "the parameter `state`",
        "iss" => "the parameter `iss`",
        "error" => "the parameter `error`",
        "error_description" => "the parameter `error_description`",
        "error_uri" => "the parameter `error_uri`",
        _ => "an unrecognised parameter",
    }
}

impl CallbackParams {
    /// Collects decoded name/value pairs from a query string or a
    /// `form_post` body. Any repeated parameter is rejected; unknown
    /// parameters are ignored.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, CallbackError> {
        let mut seen = HashSet::new();
        let mut params = Self::default();
        for (name, value) in pairs {
            if seen.len() >= MAX_CALLBACK_PARAMS {
                return Err(CallbackError::TooManyParameters);
            }
            if !seen.insert(name.clone()) {
                return Err(CallbackError::DuplicateParameter(known_name(&name)));
            }
            match name.as_str() {
                "code" => params.code = Some(Secret::new(value)),
                "state" => params.state = Some(value),
                "iss" => params.iss = Some(value),
                "error" => params.error = Some(value),
                "error_description" => params.error_description = Some(value),
                "error_uri" => params.error_uri = Some(value),
                _ => {}
            }
        }
        Ok(params)
    }

    /// The `state` parameter, to find the pending flow.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The RFC 9207 `iss` parameter.
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// Whether this is an error response (an `error` parameter is present).
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

/// Validates an authorization response against its pending flow, in the
/// order documented on this module, and returns the authorization code.
pub fn validate_callback(
    params: &CallbackParams,
    pending: &PendingAuthorization,
    metadata: &ProviderMetadata,
    now: u64,
) -> Result<AuthorizationCode, CallbackError> {
    let state = params.state.as_deref().ok_or(CallbackError::MissingState)?;
    if !ct_eq(state, &pending.state) {
        return Err(CallbackError::StateMismatch);
    }
    if pending.is_expired(now) {
        return Err(CallbackError::Expired);
    }
    match params.iss.as_deref() {
        Some(iss) if iss != metadata.issuer => {
            return Err(CallbackError::IssuerMismatch {
                expected: truncate(&metadata.issuer),
                actual: sanitize(iss, MAX_DESCRIPTION_CHARS),
            });
        }
        None if metadata.authorization_response_iss_parameter_supported => {
            return Err(CallbackError::MissingIssuer);
        }
        _ => {}
    }
    if let Some(error) = &params.error {
        return Err(provider_error(error, params.error_description.as_deref()));
    }
    match &params.code {
        Some(code) if !code.expose().is_empty() => Ok(AuthorizationCode(code.clone())),
        _ => Err(CallbackError::MissingCode),
    }
}

/// Picks the pending flow whose state equals the response's `state`, among
/// several concurrent flows. Every candidate is compared in constant time.
pub fn find_pending(params: &CallbackParams, pendings: &[PendingAuthorization]) -> Option<usize> {
    let state = params.state.as_deref()?;
    let mut found = None;
    for (i, p) in pendings.iter().enumerate() {
        if ct_eq(state, &p.state) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn provider_error(error: &str, description: Option<&str>) -> CallbackError {
    let (error, description) = sanitize_error(error, description);
    CallbackError::Provider { error, description }
}

/// Makes provider-supplied text safe to show: C0/C1 control characters
/// (CR, LF, TAB, NUL, ESC...) and Unicode bidirectional overrides are removed,
/// and the length is capped at `max_chars` characters. HTML escaping is still
/// the renderer's job.
pub(crate) fn sanitize(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(max_chars)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Sanitizes an OAuth `error` / `error_description` pair (shared with the
/// token module). An empty description becomes `None`.
pub(crate) fn sanitize_error(error: &str, description: Option<&str>) -> (String, Option<String>) {
    (
        sanitize(error, MAX_ERROR_CHARS),
        description
            .map(|d| sanitize(d, MAX_DESCRIPTION_CHARS))
            .filter(|d| !d.is_empty()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::PENDING_AUTHORIZATION_TTL_SECS;
    use crate::authorize::test_support::pending;
    use crate::discovery::test_support::{ISSUER, metadata, metadata_with};

    const NOW: u64 = 1_700_000_000;

    fn params(pairs: &[(&str, &str)]) -> CallbackParams {
        CallbackParams::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap()
    }

    fn validate(pairs: &[(&str, &str)]) -> Result<AuthorizationCode, CallbackError> {
        validate_callback(&params(pairs), &pending(NOW), &metadata(), NOW + 5)
    }

    fn iss_required() -> ProviderMetadata {
        metadata_with(|d| d["authorization_response_iss_parameter_supported"] = true.into())
    }

    #[test]
    fn accepts_matching_state_and_returns_code() {
        let code = validate(&[("code", "abc"), ("state", "state-123")]).unwrap();
        assert_eq!(code.expose(), "abc");
    }

    #[test]
    fn accepts_matching_iss_parameter() {
        let code = validate(&[("code", "abc"), ("state", "state-123"), ("iss", ISSUER)]).unwrap();
        assert_eq!(code.expose(), "abc");
    }

    #[test]
    fn rejects_duplicate_parameters() {
        let r = CallbackParams::from_pairs(vec![
            ("code".to_string(), "a".to_string()),
            ("state".to_string(), "state-123".to_string()),
            ("code".to_string(), "b".to_string()),
        ]);
        assert_eq!(
            r.unwrap_err(),
            CallbackError::DuplicateParameter("the parameter `code`")
        );
    }

    #[test]
    fn rejects_duplicate_unknown_parameters_too() {
        let r = CallbackParams::from_pairs(vec![
            ("<script>x".to_string(), "1".to_string()),
            ("<script>x".to_string(), "1".to_string()),
        ]);
        let err = r.unwrap_err();
        assert_eq!(
            err,
            CallbackError::DuplicateParameter("an unrecognised parameter")
        );
        // The sender chose that name: the message never echoes it.
        assert!(!err.to_string().contains("script"), "{err}");
    }

    #[test]
    fn rejects_too_many_parameters() {
        let pairs = (0..=MAX_CALLBACK_PARAMS).map(|i| (format!("p{i}"), String::new()));
        assert_eq!(
            CallbackParams::from_pairs(pairs).unwrap_err(),
            CallbackError::TooManyParameters
        );
    }

    #[test]
    fn rejects_missing_state() {
        assert_eq!(
            validate(&[("code", "abc")]).unwrap_err(),
            CallbackError::MissingState
        );
    }

    #[test]
    fn rejects_state_mismatch() {
        assert_eq!(
            validate(&[("code", "abc"), ("state", "state-124")]).unwrap_err(),
            CallbackError::StateMismatch
        );
        assert_eq!(
            validate(&[("code", "abc"), ("state", "")]).unwrap_err(),
            CallbackError::StateMismatch
        );
    }

    #[test]
    fn does_not_surface_provider_error_when_state_mismatches() {
        assert_eq!(
            validate(&[("error", "access_denied"), ("state", "forged")]).unwrap_err(),
            CallbackError::StateMismatch
        );
    }

    #[test]
    fn surfaces_provider_access_denied_error() {
        let err = validate(&[
            ("error", "access_denied"),
            ("error_description", "The user cancelled"),
            ("error_uri", "https://evil.example/phish"),
            ("state", "state-123"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            CallbackError::Provider {
                error: "access_denied".into(),
                description: Some("The user cancelled".into()),
            }
        );
        assert_eq!(
            err.to_string(),
            "the OpenID Provider returned an error: access_denied (The user cancelled)"
        );
    }

    #[test]
    fn sanitizes_provider_error_text() {
        let long = "x".repeat(5000);
        let err = validate(&[
            ("error", "bad\r\nSet-Cookie: a=b\0\u{202E}"),
            ("error_description", &long),
            ("state", "state-123"),
        ])
        .unwrap_err();
        let CallbackError::Provider { error, description } = err else {
            panic!("expected a provider error");
        };
        assert_eq!(error, "badSet-Cookie: a=b");
        assert_eq!(description.unwrap().chars().count(), MAX_DESCRIPTION_CHARS);
    }

    #[test]
    fn rejects_expired_pending_authorization() {
        let r = validate_callback(
            &params(&[("code", "abc"), ("state", "state-123")]),
            &pending(NOW),
            &metadata(),
            NOW + PENDING_AUTHORIZATION_TTL_SECS + 1,
        );
        assert_eq!(r.unwrap_err(), CallbackError::Expired);
    }

    #[test]
    fn rejects_iss_parameter_that_differs_from_issuer() {
        let err = validate(&[
            ("code", "abc"),
            ("state", "state-123"),
            ("iss", "https://op.example.com/"),
        ])
        .unwrap_err();
        assert!(matches!(err, CallbackError::IssuerMismatch { .. }));
    }

    #[test]
    fn rejects_missing_iss_when_provider_advertises_rfc9207() {
        let r = validate_callback(
            &params(&[("code", "abc"), ("state", "state-123")]),
            &pending(NOW),
            &iss_required(),
            NOW,
        );
        assert_eq!(r.unwrap_err(), CallbackError::MissingIssuer);
    }

    #[test]
    fn accepts_present_iss_when_provider_advertises_rfc9207() {
        let r = validate_callback(
            &params(&[("code", "abc"), ("state", "state-123"), ("iss", ISSUER)]),
            &pending(NOW),
            &iss_required(),
            NOW,
        );
        assert!(r.is_ok());
    }

    #[test]
    fn checks_iss_before_surfacing_provider_error() {
        let err = validate(&[
            ("error", "access_denied"),
            ("state", "state-123"),
            ("iss", "https://attacker.example"),
        ])
        .unwrap_err();
        assert!(matches!(err, CallbackError::IssuerMismatch { .. }));
    }

    #[test]
    fn rejects_missing_code() {
        assert_eq!(
            validate(&[("state", "state-123")]).unwrap_err(),
            CallbackError::MissingCode
        );
    }

    #[test]
    fn rejects_empty_code() {
        assert_eq!(
            validate(&[("code", ""), ("state", "state-123")]).unwrap_err(),
            CallbackError::MissingCode
        );
    }

    #[test]
    fn find_pending_picks_flow_by_state() {
        let mut a = pending(NOW);
        a.state = "aaa".into();
        let mut b = pending(NOW);
        b.state = "bbb".into();
        let flows = [a, b];
        assert_eq!(find_pending(&params(&[("state", "bbb")]), &flows), Some(1));
        assert_eq!(find_pending(&params(&[("state", "aaa")]), &flows), Some(0));
        assert_eq!(find_pending(&params(&[("state", "ccc")]), &flows), None);
        assert_eq!(find_pending(&params(&[("code", "x")]), &flows), None);
    }

    #[test]
    fn debug_of_callback_params_and_code_redacts_secrets() {
        let p = params(&[("code", "the-code"), ("state", "the-state")]);
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("the-code"));
        assert!(!dbg.contains("the-state"));
        let code = AuthorizationCode::new("the-code");
        assert!(!format!("{code:?}").contains("the-code"));
    }
}
