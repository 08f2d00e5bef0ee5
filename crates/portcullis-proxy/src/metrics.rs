//! The gate's Prometheus metrics (through the `metrics` facade; nothing is
//! recorded until [`install`] sets the exporter's recorder).
//!
//! `/metrics` shows two families:
//! - the gate's own, `portcullis_proxy_*` (the constants below): requests by
//!   status and their latency, logins, logouts and refreshes as the gate
//!   sees them, whether a request was authenticated without I/O
//!   ([`SESSION_CACHE`]) and how long the lookups that asked a store took
//!   ([`STORE_LATENCY`]), upstream failures;
//! - the engine's, `portcullis_*` (the `metrics` feature of `portcullis`,
//!   listed in `portcullis::metrics`): requests to the OP by endpoint and
//!   status with their latency, JWKS fetches by trigger and outcome, unknown
//!   `kid`s, lookups of the engine's caches (decrypted sessions, session ids,
//!   the store's local copy), and each store operation's latency.
//!
//! The engine also counts logins, logouts and refreshes; those three are
//! left out here ([`ENGINE_DUPLICATES`]), so that each event is counted once,
//! under the gate's names.

use std::sync::OnceLock;
use std::time::Duration;

use http::StatusCode;
use metrics::{Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::{FilterLayer, Layer};
use portcullis::Route;

/// Requests answered, by status code.
pub const REQUESTS: &str = "portcullis_proxy_requests_total";
/// Request latency (seconds).
pub const REQUEST_DURATION: &str = "portcullis_proxy_request_duration_seconds";
/// Logins (callbacks) by outcome.
pub const LOGINS: &str = "portcullis_proxy_logins_total";
/// Logouts by kind and outcome.
pub const LOGOUTS: &str = "portcullis_proxy_logouts_total";
/// Token refreshes by outcome.
pub const REFRESHES: &str = "portcullis_proxy_refreshes_total";
/// Session lookups answered from memory (`hit`) or by the stores (`miss`).
pub const SESSION_CACHE: &str = "portcullis_proxy_session_cache_total";
/// Latency of session lookups that asked a store (seconds).
pub const STORE_LATENCY: &str = "portcullis_proxy_store_lookup_duration_seconds";
/// Upstream failures by kind.
pub const UPSTREAM_ERRORS: &str = "portcullis_proxy_upstream_errors_total";

/// The engine's series that the gate counts itself ([`LOGINS`],
/// [`LOGOUTS`], [`REFRESHES`]): not exported, so nothing is counted twice.
pub const ENGINE_DUPLICATES: [&str; 3] = [
    portcullis::metrics::LOGINS,
    portcullis::metrics::LOGOUTS,
    portcullis::metrics::REFRESHES,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let recorder = PrometheusBuilder::new()
        .set_buckets(&buckets)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    let recorder = FilterLayer::from_patterns(ENGINE_DUPLICATES).layer(recorder);
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    describe();
    portcullis::metrics::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The help texts of the gate's own series.
fn describe() {
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "Requests answered by the gate, by status code"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Latency of the gate's answers"
    );
    describe_counter!(
        LOGINS,
        Unit::Count,
        "Sign-in callbacks served by the gate, by outcome"
    );
    describe_counter!(
        LOGOUTS,
        Unit::Count,
        "Logouts served by the gate, by kind and outcome"
    );
    describe_counter!(
        REFRESHES,
        Unit::Count,
        "Token refreshes the gate started to pass a fresh access token upstream, by outcome"
    );
    describe_counter!(
        SESSION_CACHE,
        Unit::Count,
        "Requests authenticated from memory (hit) or by asking the stores (miss)"
    );
    describe_histogram!(
        STORE_LATENCY,
        Unit::Seconds,
        "Latency of the authentications that asked the stores"
    );
    describe_counter!(UPSTREAM_ERRORS, Unit::Count, "Upstream failures by kind");
}

/// The installed handle, if any.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

pub(crate) fn request(status: u16, elapsed: Duration) {
    metrics::counter!(REQUESTS, "status" => status.to_string()).increment(1);
    metrics::histogram!(REQUEST_DURATION).record(elapsed.as_secs_f64());
}

pub(crate) fn route_outcome(route: Route, status: StatusCode) {
    let outcome = if status.is_client_error() || status.is_server_error() {
        "failure"
    } else {
        "success"
    };
    match route {
        Route::Callback => metrics::counter!(LOGINS, "outcome" => outcome).increment(1),
        Route::Logout => {
            metrics::counter!(LOGOUTS, "kind" => "rp", "outcome" => outcome).increment(1)
        }
        Route::BackchannelLogout => {
            metrics::counter!(LOGOUTS, "kind" => "backchannel", "outcome" => outcome).increment(1)
        }
        Route::FrontchannelLogout => {
            metrics::counter!(LOGOUTS, "kind" => "frontchannel", "outcome" => outcome).increment(1)
        }
        _ => {}
    }
}

pub(crate) fn refresh(outcome: &'static str) {
    metrics::counter!(REFRESHES, "outcome" => outcome).increment(1);
}

pub(crate) fn session_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(SESSION_CACHE, "result" => result).increment(1);
}

pub(crate) fn store_lookup(elapsed: Duration) {
    metrics::histogram!(STORE_LATENCY).record(elapsed.as_secs_f64());
}

pub(crate) fn upstream_error(kind: &'static str) {
    metrics::counter!(UPSTREAM_ERRORS, "kind" => kind).increment(1);
}
