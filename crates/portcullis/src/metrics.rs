//! The engine's metrics (feature `metrics`, off by default), recorded
//! through the [`metrics`](https://docs.rs/metrics/0.24) facade.
//!
//! Nothing is recorded until the application installs a recorder (for
//! example `metrics-exporter-prometheus`); [`describe`] registers the help
//! texts below with it. The names are stable. Every label value comes from a
//! fixed set listed here: never a user, a session, a token, a URL or its
//! query, or a claim.
//!
//! | series | kind | labels |
//! | --- | --- | --- |
//! | [`LOGINS`] | counter | `outcome` |
//! | [`LOGOUTS`] | counter | `kind`, `outcome` |
//! | [`REFRESHES`] | counter | `outcome` |
//! | [`OP_REQUESTS`] | counter | `endpoint`, `status` |
//! | [`OP_REQUEST_DURATION`] | histogram (seconds) | `endpoint` |
//! | [`JWKS_FETCHES`] | counter | `trigger`, `outcome` |
//! | [`JWKS_UNKNOWN_KID`] | counter | `action` |
//! | [`SESSION_CACHE`] | counter | `cache`, `result` |
//! | [`STORE_OPERATION_DURATION`] | histogram (seconds) | `store`, `operation`, `outcome` |
//!
//! Label values:
//! - logins `outcome`: `success` (a session was created),
//!   `interaction_required` (a `prompt=none` login the OP could not complete
//!   silently; the user goes back anonymously), or the failure's
//!   [`OidcError::code`](crate::OidcError::code) (`no_pending_login`,
//!   `callback_rejected`, `provider_error`, `token_exchange_failed`,
//!   `invalid_id_token`, `login_refused`, `provider_unavailable`,
//!   `session_error`, `session_store_unavailable`, ...).
//! - logouts `kind`: `rp` (the logout route and [`Engine::logout`](crate::Engine::logout)),
//!   `local` ([`Engine::logout_local`](crate::Engine::logout_local)),
//!   `backchannel`, `frontchannel`; `outcome`: `success` (a session, or the
//!   sessions a logout token or `sid` names, were ended), `no_session`
//!   (nobody was signed in), `confirmation` (a cross-site logout request was
//!   answered with a confirmation page), or the failure's code
//!   (`invalid_request`, `session_store_unavailable`, ...).
//! - refreshes `outcome`: `refreshed` (this call spent the refresh token),
//!   `shared` (it got the outcome of a refresh run by a concurrent request,
//!   or by another replica), `invalid_grant` (the OP refused the refresh
//!   token; the session ended), `unavailable` (the OP or a store could not
//!   answer, or another replica's refresh did not finish; the session is
//!   kept), `failed` (any other failure: no refresh token, a rejected
//!   refreshed ID token, an OP error other than `invalid_grant`).
//! - OP calls `endpoint`: `discovery`, `jwks`, `token` (code exchange,
//!   refresh and token exchange), `userinfo`, `introspection`, `revocation`,
//!   `par`, `other` (a request sent through [`HttpClient::execute`](crate::http_client::HttpClient::execute)
//!   by other code); `status`: `1xx` to `5xx`, `timeout`, or `error` (no
//!   answer: refused, DNS, TLS, a body over the size cap).
//! - JWKS fetches `trigger`: `startup`, `periodic`, `unknown_kid`; `outcome`:
//!   `success`, `unavailable` (no answer or a non-2xx status), `invalid` (the
//!   document was refused). An unknown `kid` `action`: `refetched` (this
//!   token's check fetched the keys), `newer_keys` (keys fetched by another
//!   check since were used), `rate_limited` (no fetch allowed yet: the token
//!   is refused with the keys at hand), `refetch_failed`.
//! - session cache `cache`: `session` (decrypted sessions, keyed by the
//!   sealed cookie or record), `session_id` (sealed session-id cookies of
//!   server-side sessions), `store` (the session store's coherent local copy,
//!   such as the Redis store's invalidation-backed cache); `result`: `hit` or
//!   `miss`. These count lookups: a request whose session must be read from
//!   the store is looked up once without I/O and once more with it.
//! - store `store`: `session`, `logout`, `refresh` (the cross-replica
//!   refresh coordinator); `operation`: `load`, `save`, `destroy`, `touch`
//!   (sessions), `mark`, `markers`, `remember_jti` (logout markers),
//!   `try_lock`, `renew`, `unlock`, `publish`, `outcome` (refresh
//!   coordination); `outcome`: `ok` or `error`.

/// Callbacks by outcome.
pub const LOGINS: &str = "portcullis_logins_total";
/// Logouts by kind and outcome.
pub const LOGOUTS: &str = "portcullis_logouts_total";
/// Calls of [`Engine::refresh`](crate::Engine::refresh) (including automatic refreshes) by outcome.
pub const REFRESHES: &str = "portcullis_refreshes_total";
/// Requests to the OpenID Provider by endpoint and status class.
pub const OP_REQUESTS: &str = "portcullis_op_requests_total";
/// Latency of requests to the OpenID Provider by endpoint (seconds).
pub const OP_REQUEST_DURATION: &str = "portcullis_op_request_duration_seconds";
/// JWKS fetches by trigger and outcome.
pub const JWKS_FETCHES: &str = "portcullis_jwks_fetches_total";
/// Tokens that named a `kid` the key set lacked, by what followed.
pub const JWKS_UNKNOWN_KID: &str = "portcullis_jwks_unknown_kid_total";
/// Session-cache lookups by cache and result.
pub const SESSION_CACHE: &str = "portcullis_session_cache_total";
/// Latency of session, logout and refresh-coordination store operations
/// by store, operation and outcome (seconds).
pub const STORE_OPERATION_DURATION: &str = "portcullis_store_operation_duration_seconds";

/// Registers the help text and unit of every series above with the
/// installed recorder (call it once, after installing the recorder).
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        LOGINS,
        Unit::Count,
        "Sign-in callbacks by outcome (success, interaction_required, or the error code)"
    );
    describe_counter!(
        LOGOUTS,
        Unit::Count,
        "Logouts by kind (rp, local, backchannel, frontchannel) and outcome"
    );
    describe_counter!(
        REFRESHES,
        Unit::Count,
        "Token refreshes by outcome (refreshed, shared, invalid_grant, unavailable, failed)"
    );
    describe_counter!(
        OP_REQUESTS,
        Unit::Count,
        "Requests to the OpenID Provider by endpoint and status class"
    );
    describe_histogram!(
        OP_REQUEST_DURATION,
        Unit::Seconds,
        "Latency of requests to the OpenID Provider by endpoint"
    );
    describe_counter!(
        JWKS_FETCHES,
        Unit::Count,
        "JWKS fetches by trigger (startup, periodic, unknown_kid) and outcome"
    );
    describe_counter!(
        JWKS_UNKNOWN_KID,
        Unit::Count,
        "Tokens naming an unknown kid, by action (refetched, newer_keys, rate_limited, refetch_failed)"
    );
    describe_counter!(
        SESSION_CACHE,
        Unit::Count,
        "Session-cache lookups by cache (session, session_id, store) and result (hit, miss)"
    );
    describe_histogram!(
        STORE_OPERATION_DURATION,
        Unit::Seconds,
        "Latency of store operations by store, operation and outcome"
    );
}
