//! Where the engine records its metrics (the names and label values are in
//! `crate::metrics`). With the `metrics` feature off, every function here
//! has an empty body and [`store_op`] hands back the very future it was
//! given: nothing is timed, counted or allocated.

use std::future::Future;
use std::time::Duration;

use portcullis_core::HttpResponse;

use crate::error::OidcError;
use crate::http_client::{HttpError, OpEndpoint};
use crate::provider::ProviderError;

#[cfg(feature = "metrics")]
use crate::metrics as names;

/// Which logout a [`logout`] is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogoutKind {
    /// The logout route, or `Engine::logout`.
    Rp,
    /// `Engine::logout_local`.
    Local,
    /// A logout token from the OP.
    Backchannel,
    /// The OP's front-channel iframe.
    Frontchannel,
}

/// How a logout ended.
#[derive(Debug, Clone, Copy)]
// The error is read only to label the series.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum LogoutOutcome<'a> {
    /// Sessions were ended.
    SignedOut,
    /// Nobody was signed in.
    NoSession,
    /// A cross-site request got the confirmation page.
    Confirmation,
    /// It failed with this error.
    Failed(&'a OidcError),
}

/// What started a JWKS fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JwksTrigger {
    /// Discovery, when the engine is built.
    Startup,
    /// The periodic refresh.
    Periodic,
    /// A token named a `kid` the key set lacked.
    UnknownKid,
}

/// What followed a token's unknown `kid`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UnknownKid {
    /// The keys were fetched for it.
    Refetched,
    /// Keys fetched by another check since were used.
    NewerKeys,
    /// The rate limit allowed no fetch.
    RateLimited,
    /// The fetch failed; the old keys stay.
    RefetchFailed,
}

/// Which in-memory cache a lookup asked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cache {
    /// Decrypted sessions by sealed value.
    Session,
    /// Session ids by sealed id cookie.
    SessionId,
    /// The session store's coherent local copy.
    Store,
}

/// Which store an operation went to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Store {
    /// The session store.
    Session,
    /// The logout store.
    Logout,
    /// The refresh coordinator.
    Refresh,
}

/// A callback created a session.
#[inline]
pub(crate) fn login_succeeded() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(names::LOGINS, "outcome" => "success").increment(1);
}

/// A `prompt=none` callback went back anonymously.
#[inline]
pub(crate) fn login_interaction_required() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(names::LOGINS, "outcome" => "interaction_required").increment(1);
}

/// A callback failed with `error`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn login_failed(error: &OidcError) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(names::LOGINS, "outcome" => error.code()).increment(1);
}

/// A logout of `kind` ended with `outcome`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn logout(kind: LogoutKind, outcome: LogoutOutcome<'_>) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        names::LOGOUTS,
        "kind" => kind.label(),
        "outcome" => outcome.label(),
    )
    .increment(1);
}

/// A call of `Engine::refresh` ended with `result`; `spent_here` when this
/// call itself used the refresh token at the OP.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn refresh<T>(result: &Result<T, OidcError>, spent_here: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(names::REFRESHES, "outcome" => refresh_label(result, spent_here))
        .increment(1);
}

/// A request to the OP's `endpoint` ended with `result` after `elapsed`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn op_call(
    endpoint: OpEndpoint,
    result: &Result<HttpResponse, HttpError>,
    elapsed: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let endpoint = endpoint.as_str();
        ::metrics::counter!(names::OP_REQUESTS, "endpoint" => endpoint, "status" => status_label(result))
            .increment(1);
        ::metrics::histogram!(names::OP_REQUEST_DURATION, "endpoint" => endpoint)
            .record(elapsed.as_secs_f64());
    }
}

/// A JWKS fetch started by `trigger` ended with `result`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn jwks_fetch(trigger: JwksTrigger, result: Result<(), &ProviderError>) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        names::JWKS_FETCHES,
        "trigger" => trigger.label(),
        "outcome" => jwks_outcome(result),
    )
    .increment(1);
}

/// A token's unknown `kid` led to `action`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn unknown_kid(action: UnknownKid) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(names::JWKS_UNKNOWN_KID, "action" => action.label()).increment(1);
}

/// A lookup in `cache` hit or missed. Every request makes one or more
/// lookups, so the labels are literals: the facade builds their key
/// statically, without an allocation.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn session_cache(cache: Cache, hit: bool) {
    #[cfg(feature = "metrics")]
    {
        use ::metrics::counter;
        use names::SESSION_CACHE as NAME;
        let counter = match (cache, hit) {
            (Cache::Session, true) => counter!(NAME, "cache" => "session", "result" => "hit"),
            (Cache::Session, false) => counter!(NAME, "cache" => "session", "result" => "miss"),
            (Cache::SessionId, true) => counter!(NAME, "cache" => "session_id", "result" => "hit"),
            (Cache::SessionId, false) => {
                counter!(NAME, "cache" => "session_id", "result" => "miss")
            }
            (Cache::Store, true) => counter!(NAME, "cache" => "store", "result" => "hit"),
            (Cache::Store, false) => counter!(NAME, "cache" => "store", "result" => "miss"),
        };
        counter.increment(1);
    }
}

/// `future`, a store operation, timed by store, operation and outcome.
#[cfg(feature = "metrics")]
pub(crate) async fn store_op<T, E, F>(
    store: Store,
    operation: &'static str,
    future: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let started = std::time::Instant::now();
    let result = future.await;
    ::metrics::histogram!(
        names::STORE_OPERATION_DURATION,
        "store" => store.label(),
        "operation" => operation,
        "outcome" => if result.is_ok() { "ok" } else { "error" },
    )
    .record(started.elapsed().as_secs_f64());
    result
}

/// `future` itself (the `metrics` feature is off).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn store_op<T, E, F>(
    _store: Store,
    _operation: &'static str,
    future: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    future
}

#[cfg(feature = "metrics")]
impl LogoutKind {
    fn label(self) -> &'static str {
        match self {
            LogoutKind::Rp => "rp",
            LogoutKind::Local => "local",
            LogoutKind::Backchannel => "backchannel",
            LogoutKind::Frontchannel => "frontchannel",
        }
    }
}

#[cfg(feature = "metrics")]
impl LogoutOutcome<'_> {
    fn label(self) -> &'static str {
        match self {
            LogoutOutcome::SignedOut => "success",
            LogoutOutcome::NoSession => "no_session",
            LogoutOutcome::Confirmation => "confirmation",
            LogoutOutcome::Failed(error) => error.code(),
        }
    }
}

#[cfg(feature = "metrics")]
impl JwksTrigger {
    fn label(self) -> &'static str {
        match self {
            JwksTrigger::Startup => "startup",
            JwksTrigger::Periodic => "periodic",
            JwksTrigger::UnknownKid => "unknown_kid",
        }
    }
}

#[cfg(feature = "metrics")]
impl UnknownKid {
    fn label(self) -> &'static str {
        match self {
            UnknownKid::Refetched => "refetched",
            UnknownKid::NewerKeys => "newer_keys",
            UnknownKid::RateLimited => "rate_limited",
            UnknownKid::RefetchFailed => "refetch_failed",
        }
    }
}

#[cfg(feature = "metrics")]
impl Store {
    fn label(self) -> &'static str {
        match self {
            Store::Session => "session",
            Store::Logout => "logout",
            Store::Refresh => "refresh",
        }
    }
}

/// The refresh `outcome` label of `result`.
#[cfg(feature = "metrics")]
fn refresh_label<T>(result: &Result<T, OidcError>, spent_here: bool) -> &'static str {
    match result {
        Ok(_) if spent_here => "refreshed",
        Ok(_) => "shared",
        Err(error) => refresh_failure(error),
    }
}

#[cfg(feature = "metrics")]
fn refresh_failure(error: &OidcError) -> &'static str {
    match error {
        OidcError::ReauthenticationRequired => "invalid_grant",
        OidcError::RefreshUnavailable(_)
        | OidcError::RefreshBusy
        | OidcError::StoreUnavailable(_)
        | OidcError::ProviderUnavailable(_) => "unavailable",
        OidcError::RefreshShared(shared) => refresh_failure(shared),
        _ => "failed",
    }
}

/// The OP call `status` label of `result`.
#[cfg(feature = "metrics")]
fn status_label(result: &Result<HttpResponse, HttpError>) -> &'static str {
    use crate::http_client::TransportFailure;
    match result {
        Ok(response) => match response.status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            5 => "5xx",
            _ => "error",
        },
        Err(HttpError::Transport {
            kind: TransportFailure::Timeout,
            ..
        }) => "timeout",
        Err(_) => "error",
    }
}

/// The JWKS fetch `outcome` label of `result`.
#[cfg(feature = "metrics")]
fn jwks_outcome(result: Result<(), &ProviderError>) -> &'static str {
    match result {
        Ok(()) => "success",
        Err(ProviderError::Http(_) | ProviderError::JwksStatus(_)) => "unavailable",
        Err(ProviderError::JwksDocument(_) | ProviderError::Discovery(_)) => "invalid",
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::http_client::TransportFailure;

    fn answered(status: u16) -> Result<HttpResponse, HttpError> {
        Ok(HttpResponse {
            status,
            content_type: None,
            body: Vec::new(),
        })
    }

    #[test]
    fn op_calls_are_labelled_by_status_class_and_timeouts_apart_from_other_failures() {
        assert_eq!(status_label(&answered(200)), "2xx");
        assert_eq!(status_label(&answered(204)), "2xx");
        assert_eq!(status_label(&answered(302)), "3xx");
        assert_eq!(status_label(&answered(400)), "4xx");
        assert_eq!(status_label(&answered(503)), "5xx");
        assert_eq!(status_label(&answered(99)), "error");
        let failed = |kind| {
            Err(HttpError::Transport {
                url: "https://op.example/token".into(),
                reason: "x".into(),
                kind,
            })
        };
        assert_eq!(status_label(&failed(TransportFailure::Timeout)), "timeout");
        assert_eq!(status_label(&failed(TransportFailure::Refused)), "error");
        let too_large = Err(HttpError::TooLarge {
            url: "https://op.example/jwks".into(),
            limit: 1,
        });
        assert_eq!(status_label(&too_large), "error");
    }

    #[test]
    fn refresh_outcomes_separate_a_refused_grant_from_an_outage_and_see_through_sharing() {
        let ok: Result<(), OidcError> = Ok(());
        assert_eq!(refresh_label(&ok, true), "refreshed");
        assert_eq!(refresh_label(&ok, false), "shared");
        let err = |e| -> Result<(), OidcError> { Err(e) };
        assert_eq!(
            refresh_label(&err(OidcError::ReauthenticationRequired), true),
            "invalid_grant"
        );
        assert_eq!(
            refresh_label(&err(OidcError::RefreshBusy), false),
            "unavailable"
        );
        assert_eq!(
            refresh_label(&err(OidcError::RefreshUnavailable("down".into())), true),
            "unavailable"
        );
        assert_eq!(
            refresh_label(&err(OidcError::NoRefreshToken), false),
            "failed"
        );
        let shared =
            OidcError::RefreshShared(Arc::new(OidcError::RefreshUnavailable("down".into())));
        assert_eq!(refresh_label(&err(shared), false), "unavailable");
    }

    #[test]
    fn jwks_fetch_failures_say_whether_the_op_answered_badly_or_not_at_all() {
        assert_eq!(jwks_outcome(Ok(())), "success");
        assert_eq!(
            jwks_outcome(Err(&ProviderError::JwksStatus(503))),
            "unavailable"
        );
        let document = portcullis_core::jose::Jwks::from_json(b"not json")
            .expect_err("a broken document is refused");
        assert_eq!(
            jwks_outcome(Err(&ProviderError::JwksDocument(document))),
            "invalid"
        );
    }

    #[test]
    fn logout_outcomes_use_the_error_code_for_failures() {
        assert_eq!(LogoutOutcome::SignedOut.label(), "success");
        assert_eq!(LogoutOutcome::NoSession.label(), "no_session");
        assert_eq!(LogoutOutcome::Confirmation.label(), "confirmation");
        let error = OidcError::InvalidLogoutRequest("x".into());
        assert_eq!(LogoutOutcome::Failed(&error).label(), "invalid_request");
    }
}
