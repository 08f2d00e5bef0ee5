//! Token refresh that never races.
//!
//! Concurrent requests of one session that all find the access token
//! expired must spend the refresh token once: OPs that rotate refresh tokens
//! answer a second use with `invalid_grant` (and may revoke the whole grant
//! as a suspected replay, RFC 9700 §4.14.2).
//!
//! - In the process, refreshes are single-flight per refresh token: the first
//!   caller refreshes, the others await its outcome. The outcome is kept for
//!   [`RefreshSettings::keep`], so a request that still carries the old
//!   cookie a moment later gets the new tokens instead of spending the old
//!   refresh token again.
//! - Across replicas, a [`RefreshCoordinator`] (the Redis store has one) holds
//!   a lock per refresh token with a lease that the holder renews while the OP
//!   is slow, and publishes the outcome, sealed, for the replicas that wait.
//!
//! Flights and locks are keyed by a hash of the refresh token (with the
//! issuer and client), never by the token itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use tokio::sync::OnceCell;

use super::{Engine, Storage};
use crate::active::ActiveSession;
use crate::clock::{now_unix, now_unix_ms};
use crate::error::OidcError;
use crate::session::SessionData;
use crate::store::RefreshCoordinator;
use crate::telemetry::{self, Store};

/// How the engine refreshes tokens.
#[derive(Debug, Clone)]
pub(crate) struct RefreshSettings {
    /// Refresh automatically, before a request reaches the application, when
    /// the access token expires within [`before`](Self::before).
    pub auto: bool,
    /// How long before the access token's expiry an automatic refresh starts.
    pub before: Duration,
    /// The first lease of the cross-replica lock (renewed every third of it
    /// while the refresh runs).
    pub lease: Duration,
    /// How long a request waits for a refresh that another replica runs.
    pub wait: Duration,
    /// How long a successful outcome is kept for late requests.
    pub keep: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            auto: false,
            before: Duration::from_secs(60),
            lease: Duration::from_secs(5),
            wait: Duration::from_secs(30),
            keep: Duration::from_secs(30),
        }
    }
}

/// The outcome every caller of one flight shares.
type FlightOutcome = Result<Arc<ActiveSession>, Arc<OidcError>>;

type FlightKey = [u8; 32];

struct Flight {
    outcome: Arc<OnceCell<FlightOutcome>>,
    started: Instant,
}

/// The refreshes in flight (and just finished) in this process.
#[derive(Default)]
pub(crate) struct RefreshFlights {
    flights: Mutex<HashMap<FlightKey, Flight>>,
}

impl RefreshFlights {
    /// The flight for `key`, joined or started. Finished flights older than
    /// `keep`, and abandoned ones older than `abandon`, are dropped first.
    fn join(
        &self,
        key: FlightKey,
        keep: Duration,
        abandon: Duration,
    ) -> Arc<OnceCell<FlightOutcome>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        flights.retain(|_, flight| {
            let age = flight.started.elapsed();
            if flight.outcome.initialized() {
                age < keep
            } else {
                age < abandon
            }
        });
        flights
            .entry(key)
            .or_insert_with(|| Flight {
                outcome: Arc::new(OnceCell::new()),
                started: Instant::now(),
            })
            .outcome
            .clone()
    }

    /// Forgets the flight for `key` if it is still `outcome` (a failure that
    /// the next request should retry rather than reuse).
    fn forget(&self, key: &FlightKey, outcome: &Arc<OnceCell<FlightOutcome>>) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if flights
            .get(key)
            .is_some_and(|flight| Arc::ptr_eq(&flight.outcome, outcome))
        {
            flights.remove(key);
        }
    }

    /// How many flights are remembered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The published outcome that means "the OP refused the refresh token".
const OUTCOME_REAUTHENTICATE: &[u8] = b"reauthenticate";
/// The prefix of a published successful outcome (followed by sealed data).
const OUTCOME_SESSION: &[u8] = b"session:";

impl Engine {
    /// Uses the session's refresh token: a new access token (and refresh
    /// token when the OP rotates it), and a validated refreshed ID token when
    /// the OP sends one (same `iss`, `sub`, `aud` and `azp`, Core §12.2).
    ///
    /// Concurrent calls for one session refresh once (in this process, and
    /// across replicas with a shared store); every caller gets the new
    /// session. Returns it with the cookies that carry it for this request;
    /// with a store, the session is saved (under the same id) before this
    /// returns.
    ///
    /// Errors: [`OidcError::ReauthenticationRequired`] when the OP refused the
    /// refresh token (the session is ended: a copy of its cookie is refused
    /// from now on), [`OidcError::RefreshUnavailable`] when the OP could not
    /// be reached or another replica's refresh did not finish in time (the
    /// session is kept; try again).
    pub async fn refresh(
        &self,
        session: &ActiveSession,
        request_headers: &HeaderMap,
    ) -> Result<(Arc<ActiveSession>, Vec<HeaderValue>), OidcError> {
        let spent_here = AtomicBool::new(false);
        let result = self
            .refresh_inner(session, request_headers, &spent_here)
            .await;
        telemetry::refresh(&result, spent_here.load(Ordering::Relaxed));
        result
    }

    /// [`refresh`](Self::refresh) without its count; `spent_here` is set
    /// when this call (not a concurrent one, nor another replica) used the
    /// refresh token.
    async fn refresh_inner(
        &self,
        session: &ActiveSession,
        request_headers: &HeaderMap,
        spent_here: &AtomicBool,
    ) -> Result<(Arc<ActiveSession>, Vec<HeaderValue>), OidcError> {
        let refresh_token = session.refresh_token().ok_or(OidcError::NoRefreshToken)?;
        let key = self.flight_key(refresh_token);
        let settings = &self.settings.refresh;
        let flight = self
            .flights
            .join(key, settings.keep, settings.wait.saturating_mul(2));
        let span = tracing::info_span!("portcullis.refresh");
        let outcome = tracing::Instrument::instrument(
            flight.get_or_init(|| async {
                self.refresh_coordinated(session, &key)
                    .await
                    .map(|(fresh, spent)| {
                        spent_here.store(spent, Ordering::Relaxed);
                        fresh
                    })
                    .map_err(Arc::new)
            }),
            span,
        )
        .await
        .clone();
        let fresh = match outcome {
            Ok(fresh) => fresh,
            Err(error) => {
                let reauthenticate = matches!(*error, OidcError::ReauthenticationRequired);
                if !reauthenticate {
                    // A failure is not reused: the next request tries again.
                    self.flights.forget(&key, &flight);
                }
                return Err(owned_error(error));
            }
        };
        if fresh.data().id != session.data().id || fresh.sub() != session.sub() {
            // Another session holding the same refresh token: a copied grant.
            tracing::warn!("a refresh outcome belongs to another session; refused");
            return Err(OidcError::ReauthenticationRequired);
        }
        let cookies = match &self.storage {
            Storage::Cookie => {
                self.seal_cookie_session(fresh.data(), request_headers, now_unix())?
            }
            // The id in the cookie is unchanged; the store has the new record.
            Storage::Server(_) => Vec::new(),
        };
        Ok((fresh, cookies))
    }

    /// Whether an automatic refresh is due for `session` at `now`.
    pub(crate) fn auto_refresh_due(&self, session: &ActiveSession, now: u64) -> bool {
        let settings = &self.settings.refresh;
        settings.auto
            && session.refresh_token().is_some()
            && session
                .data()
                .expires_at
                .is_some_and(|expires| now.saturating_add(settings.before.as_secs()) >= expires)
    }

    /// One refresh per refresh token across replicas (when a coordinator is
    /// configured), else in this process only. The flag says whether this
    /// call spent the refresh token (`false`: another replica's outcome).
    async fn refresh_coordinated(
        &self,
        session: &ActiveSession,
        key: &FlightKey,
    ) -> Result<(Arc<ActiveSession>, bool), OidcError> {
        let Some(coordinator) = self.refresh_coordinator.clone() else {
            return self
                .refresh_and_store(session)
                .await
                .map(|fresh| (fresh, true));
        };
        let name = hex(key);
        let settings = &self.settings.refresh;
        let owner = portcullis_core::random::random_token(16);
        let deadline = Instant::now() + settings.wait;
        let mut pause = Duration::from_millis(20);
        loop {
            let published =
                telemetry::store_op(Store::Refresh, "outcome", coordinator.outcome(&name)).await?;
            if let Some(published) = published {
                return self
                    .adopt_outcome(session, &name, &published)
                    .map(|fresh| (fresh, false));
            }
            let locked = telemetry::store_op(
                Store::Refresh,
                "try_lock",
                coordinator.try_lock(&name, &owner, settings.lease),
            )
            .await?;
            if locked {
                // A refresh may have finished between the look and the lock.
                let published =
                    telemetry::store_op(Store::Refresh, "outcome", coordinator.outcome(&name))
                        .await?;
                if let Some(published) = published {
                    release(&*coordinator, &name, &owner).await;
                    return self
                        .adopt_outcome(session, &name, &published)
                        .map(|fresh| (fresh, false));
                }
                return self
                    .refresh_holding_lock(session, coordinator, &name, &owner)
                    .await
                    .map(|fresh| (fresh, true));
            }
            if Instant::now() >= deadline {
                tracing::warn!("gave up waiting for another replica's token refresh");
                return Err(OidcError::RefreshBusy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Refreshes while holding the lock `name`: the lease is renewed until the
    /// refresh ends, then the outcome is published and the lock released.
    async fn refresh_holding_lock(
        &self,
        session: &ActiveSession,
        coordinator: Arc<dyn RefreshCoordinator>,
        name: &str,
        owner: &str,
    ) -> Result<Arc<ActiveSession>, OidcError> {
        let lease = self.settings.refresh.lease;
        let renewal = {
            let (coordinator, name, owner) =
                (coordinator.clone(), name.to_owned(), owner.to_owned());
            tokio::spawn(async move {
                let every = (lease / 3).max(Duration::from_millis(10));
                loop {
                    tokio::time::sleep(every).await;
                    let renewed = coordinator.renew(&name, &owner, lease);
                    match telemetry::store_op(Store::Refresh, "renew", renewed).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("the refresh lock was lost while refreshing");
                            return;
                        }
                        Err(error) => tracing::warn!(%error, "could not renew the refresh lock"),
                    }
                }
            })
        };
        let result = self.refresh_and_store(session).await;
        renewal.abort();
        let published = match &result {
            Ok(fresh) => self
                .seal_outcome(name, fresh.data())
                .map(|sealed| [OUTCOME_SESSION, sealed.as_bytes()].concat()),
            Err(OidcError::ReauthenticationRequired) => Some(OUTCOME_REAUTHENTICATE.to_vec()),
            // An outage is not published: a waiter takes the lock and tries.
            Err(_) => None,
        };
        if let Some(published) = published
            && let Err(error) = telemetry::store_op(
                Store::Refresh,
                "publish",
                coordinator.publish(name, &published, self.settings.refresh.keep),
            )
            .await
        {
            tracing::warn!(%error, "could not publish the refresh outcome to other replicas");
        }
        release(&*coordinator, name, owner).await;
        result
    }

    /// The refresh itself, and the session's new state persisted; when the
    /// OP refuses the refresh token, the session is ended for good.
    async fn refresh_and_store(
        &self,
        session: &ActiveSession,
    ) -> Result<Arc<ActiveSession>, OidcError> {
        let started = Instant::now();
        match self.refresh_tokens(session).await {
            Ok(data) => {
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "tokens refreshed"
                );
                let (fresh, _cookies) = self
                    .write_session(data, &HeaderMap::new(), now_unix())
                    .await?;
                Ok(fresh)
            }
            Err(OidcError::ReauthenticationRequired) => {
                tracing::info!("the OP refused the refresh token; the session ends");
                self.end_session(&HeaderMap::new(), Some(session), now_unix_ms())
                    .await?;
                Err(OidcError::ReauthenticationRequired)
            }
            Err(error) => Err(error),
        }
    }

    /// A session from another replica's published outcome.
    fn adopt_outcome(
        &self,
        session: &ActiveSession,
        name: &str,
        published: &[u8],
    ) -> Result<Arc<ActiveSession>, OidcError> {
        if published == OUTCOME_REAUTHENTICATE {
            return Err(OidcError::ReauthenticationRequired);
        }
        let data = published
            .strip_prefix(OUTCOME_SESSION)
            .and_then(|sealed| std::str::from_utf8(sealed).ok())
            .and_then(|sealed| SessionData::open(&self.keys, &outcome_aad(name), sealed).ok())
            .ok_or(OidcError::RefreshBusy)?;
        if data.id != session.data().id {
            return Err(OidcError::ReauthenticationRequired);
        }
        self.decode_session(data)
            .map(Arc::new)
            .ok_or(OidcError::RefreshBusy)
    }

    fn seal_outcome(&self, name: &str, data: &SessionData) -> Option<String> {
        data.seal(&self.keys, &outcome_aad(name))
            .inspect_err(|error| tracing::warn!(%error, "could not seal the refresh outcome"))
            .ok()
    }

    /// The flight key of a refresh token: a hash bound to the issuer and client.
    fn flight_key(&self, refresh_token: &str) -> FlightKey {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [
            self.settings.issuer.as_bytes(),
            self.settings.client_id.as_bytes(),
            refresh_token.as_bytes(),
        ] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        key
    }
}

/// Releases the lock, logging (not failing) when the store cannot: the
/// lease expires on its own.
async fn release(coordinator: &dyn RefreshCoordinator, name: &str, owner: &str) {
    if let Err(error) =
        telemetry::store_op(Store::Refresh, "unlock", coordinator.unlock(name, owner)).await
    {
        tracing::warn!(%error, "could not release the refresh lock (it expires with its lease)");
    }
}

/// The associated data of a published outcome: bound to its refresh.
fn outcome_aad(name: &str) -> String {
    format!("refresh:{name}")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The error a caller of a shared flight gets.
fn owned_error(error: Arc<OidcError>) -> OidcError {
    match Arc::try_unwrap(error) {
        Ok(error) => error,
        Err(shared) => match *shared {
            OidcError::ReauthenticationRequired => OidcError::ReauthenticationRequired,
            OidcError::RefreshBusy => OidcError::RefreshBusy,
            _ => OidcError::RefreshShared(shared),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flight_is_shared_by_key_and_finished_ones_expire() {
        let flights = RefreshFlights::default();
        let keep = Duration::from_millis(30);
        let a = flights.join([1; 32], keep, Duration::from_secs(60));
        let again = flights.join([1; 32], keep, Duration::from_secs(60));
        assert!(Arc::ptr_eq(&a, &again), "one key, one flight");
        let b = flights.join([2; 32], keep, Duration::from_secs(60));
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(a.set(Err(Arc::new(OidcError::RefreshBusy))).is_ok());
        std::thread::sleep(Duration::from_millis(40));
        // The finished flight is dropped; the unfinished one is kept.
        let fresh = flights.join([1; 32], keep, Duration::from_secs(60));
        assert!(!Arc::ptr_eq(&a, &fresh));
        assert_eq!(flights.len(), 2);
        flights.forget(&[1; 32], &a);
        assert_eq!(flights.len(), 2, "forget leaves a newer flight alone");
        flights.forget(&[1; 32], &fresh);
        assert_eq!(flights.len(), 1);
    }

    #[test]
    fn abandoned_flights_are_dropped() {
        let flights = RefreshFlights::default();
        let _ = flights.join([1; 32], Duration::from_secs(60), Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(20));
        let _ = flights.join([2; 32], Duration::from_secs(60), Duration::from_millis(10));
        assert_eq!(flights.len(), 1);
    }

    #[test]
    fn shared_errors_keep_their_meaning() {
        let shared = Arc::new(OidcError::ReauthenticationRequired);
        let _other = shared.clone();
        assert!(matches!(
            owned_error(shared),
            OidcError::ReauthenticationRequired
        ));
        let sole = Arc::new(OidcError::NoRefreshToken);
        assert!(matches!(owned_error(sole), OidcError::NoRefreshToken));
        let shared = Arc::new(OidcError::NoAccessToken);
        let _other = shared.clone();
        let owned = owned_error(shared);
        assert_eq!(owned.status(), OidcError::NoAccessToken.status());
        assert_eq!(owned.code(), OidcError::NoAccessToken.code());
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
    }
}
