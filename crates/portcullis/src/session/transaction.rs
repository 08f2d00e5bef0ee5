//! The per-flow transaction cookie: pending sign-in flows (state, nonce, PKCE
//! verifier, returnTo, …) kept encrypted in ONE cookie between `/login` and
//! `/callback`.
//!
//! The list is bounded ([`MAX_PENDING_FLOWS`]; when full, the oldest flow is dropped),
//! entries live at most [`TRANSACTION_MAX_AGE_SECS`], and [`TransactionStore::take`]
//! removes the flow it returns, so a `state` is accepted once. After `take`, the
//! caller must write the store back (or clear the cookie) on the response — see
//! [`TransactionStore::write_set_cookie`].
//!
//! The store is generic over the flow type `T` so it does not depend on the protocol
//! engine's types. Cookie attributes come from
//! [`CookieOptions::for_transaction`] (cross-site `form_post` callbacks need
//! `SameSite=None; Secure`).

use cookie::Cookie;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use http::HeaderValue;

use super::cookies::{CookieOptions, MAX_COOKIE_BYTES, read_cookie};
use super::keys::{CookiePurpose, SessionCodecError, SessionKeys};

/// The most sign-in flows pending at once per browser (several tabs). When a new flow
/// starts while this many are pending, the oldest is dropped.
pub const MAX_PENDING_FLOWS: usize = 5;

/// How long a pending flow stays valid, in seconds (15 minutes). Also the cookie's
/// `Max-Age`.
pub const TRANSACTION_MAX_AGE_SECS: u64 = 15 * 60;

/// Why the transaction cookie could not be read or written. Never contains the
/// cookie value, a state or a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// The value could not be decrypted (see [`SessionCodecError`]).
    #[error(transparent)]
    Codec(#[from] SessionCodecError),
    /// The decrypted value is not a list of pending flows.
    #[error("the transaction cookie holds malformed data")]
    Malformed,
    /// The flows could not be serialized (not expected to happen).
    #[error("the transaction cookie could not be serialized")]
    Serialize,
    /// Even a single pending flow does not fit in one cookie.
    #[error("the pending sign-in flow is too large for the transaction cookie")]
    TooLarge,
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    /// The `state` value the flow is keyed by.
    #[serde(rename = "s")]
    state: String,
    /// When the flow started, unix seconds.
    #[serde(rename = "t")]
    created_at: u64,
    /// The flow itself.
    #[serde(rename = "f")]
    flow: T,
}

/// The pending flows of one browser, as stored in the encrypted transaction cookie.
pub struct TransactionStore<T> {
    /// Oldest first.
    entries: Vec<Entry<T>>,
}

impl<T> std::fmt::Debug for TransactionStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionStore")
            .field("pending", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<T> Default for TransactionStore<T> {
    fn default() -> Self {
        TransactionStore {
            entries: Vec::new(),
        }
    }
}

impl<T: Serialize + DeserializeOwned> TransactionStore<T> {
    /// An empty store.
    #[cfg(any(test, feature = "internals"))]
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the sealed cookie value; flows older than [`TRANSACTION_MAX_AGE_SECS`]
    /// (or dated in the future) are dropped.
    pub fn open(
        keys: &SessionKeys,
        cookie_name: &str,
        sealed: &str,
        now: u64,
    ) -> Result<Self, TransactionError> {
        let mut entries =
            keys.open_with(CookiePurpose::Transaction, cookie_name, sealed, |p| {
                serde_json::from_slice::<Vec<Entry<T>>>(p).map_err(|_| TransactionError::Malformed)
            })??;
        // A hostile-but-authentic value cannot exist (it is encrypted by us), but keep
        // the bound anyway.
        if entries.len() > MAX_PENDING_FLOWS {
            let excess = entries.len() - MAX_PENDING_FLOWS;
            entries.drain(..excess);
        }
        let mut store = TransactionStore { entries };
        store.prune(now);
        Ok(store)
    }

    /// Like [`open`](Self::open), but treats a missing or unreadable cookie as an
    /// empty store (what `/login` wants: start fresh rather than fail).
    pub fn open_or_empty(
        keys: &SessionKeys,
        cookie_name: &str,
        sealed: Option<&str>,
        now: u64,
    ) -> Self {
        sealed
            .and_then(|s| Self::open(keys, cookie_name, s, now).ok())
            .unwrap_or_default()
    }

    /// Reads the transaction cookie `cookie_name` from the request's `Cookie` header
    /// values (e.g. `headers.get_all(COOKIE)`), as [`open_or_empty`](Self::open_or_empty).
    pub fn from_headers<'a>(
        cookie_headers: impl IntoIterator<Item = &'a HeaderValue>,
        keys: &SessionKeys,
        cookie_name: &str,
        now: u64,
    ) -> Self {
        Self::open_or_empty(
            keys,
            cookie_name,
            read_cookie(cookie_headers, cookie_name),
            now,
        )
    }

    /// The pending flows with their states, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|e| (e.state.as_str(), &e.flow))
    }

    fn prune(&mut self, now: u64) {
        self.entries
            .retain(|e| e.created_at <= now && now - e.created_at < TRANSACTION_MAX_AGE_SECS);
    }

    /// Adds a pending flow keyed by `state`, started at `now`. Expired flows are
    /// dropped, a flow with the same state is replaced, and when
    /// [`MAX_PENDING_FLOWS`] are pending the oldest is dropped.
    pub fn push(&mut self, state: impl Into<String>, flow: T, now: u64) {
        let state = state.into();
        self.prune(now);
        self.entries
            .retain(|e| !bool::from(e.state.as_bytes().ct_eq(state.as_bytes())));
        while self.entries.len() >= MAX_PENDING_FLOWS {
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            state,
            created_at: now,
            flow,
        });
    }

    /// Removes and returns the flow for `state`, if it is pending and not expired at
    /// `now`. A second call with the same state returns `None` once the caller has
    /// written the store back. The comparison is constant-time.
    pub fn take(&mut self, state: &str, now: u64) -> Option<T> {
        self.prune(now);
        let mut found = None;
        for (i, e) in self.entries.iter().enumerate() {
            if bool::from(e.state.as_bytes().ct_eq(state.as_bytes())) {
                found = Some(i);
            }
        }
        found.map(|i| self.entries.remove(i).flow)
    }

    /// The number of pending flows.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no flow is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serializes and seals the pending flows for the cookie `cookie_name`.
    pub fn seal(&self, keys: &SessionKeys, cookie_name: &str) -> Result<String, TransactionError> {
        let json = serde_json::to_vec(&self.entries).map_err(|_| TransactionError::Serialize)?;
        Ok(keys.seal(CookiePurpose::Transaction, cookie_name, &json)?)
    }

    /// The `Set-Cookie` to send: the sealed flows with `Max-Age` =
    /// [`TRANSACTION_MAX_AGE_SECS`], or a removal cookie when no flow is pending.
    ///
    /// The transaction cookie is never chunked: if the flows do not fit in one cookie
    /// (about [`MAX_COOKIE_BYTES`]), the oldest are dropped until they do; if even the
    /// newest alone does not fit, [`TransactionError::TooLarge`].
    pub fn write_set_cookie(
        &mut self,
        keys: &SessionKeys,
        cookie_name: &str,
        options: &CookieOptions,
    ) -> Result<Cookie<'static>, TransactionError> {
        loop {
            if self.entries.is_empty() {
                return Ok(options.removal_cookie(cookie_name.to_owned()));
            }
            let sealed = self.seal(keys, cookie_name)?;
            let cookie = options.build_cookie(
                cookie_name.to_owned(),
                sealed,
                Some(TRANSACTION_MAX_AGE_SECS),
            );
            if cookie.to_string().len() <= MAX_COOKIE_BYTES {
                return Ok(cookie);
            }
            if self.entries.len() == 1 {
                return Err(TransactionError::TooLarge);
            }
            self.entries.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Flow {
        nonce: String,
        verifier: String,
        return_to: String,
    }

    fn flow(n: usize) -> Flow {
        Flow {
            nonce: format!("nonce-{n}"),
            verifier: format!("verifier-{n}-0123456789abcdefghijklmnopqrstuvwxyz"),
            return_to: format!("/page/{n}"),
        }
    }

    const NAME: &str = "portcullis.session.txn";

    fn keys() -> SessionKeys {
        SessionKeys::from_secrets(&["transaction-test-secret-0123456789"]).unwrap()
    }

    fn reopen(store: &mut TransactionStore<Flow>, now: u64) -> TransactionStore<Flow> {
        let k = keys();
        let cookie = store
            .write_set_cookie(&k, NAME, &CookieOptions::for_transaction(true))
            .unwrap();
        let header =
            http::HeaderValue::from_str(&format!("{}={}", cookie.name(), cookie.value())).unwrap();
        TransactionStore::from_headers([&header], &k, NAME, now)
    }

    #[test]
    fn round_trips_pending_flow_through_cookie() {
        let mut store = TransactionStore::new();
        store.push("state-1", flow(1), 1000);
        let mut back = reopen(&mut store, 1010);
        assert_eq!(back.len(), 1);
        assert_eq!(back.take("state-1", 1010), Some(flow(1)));
    }

    #[test]
    fn drops_oldest_flow_when_cap_is_reached() {
        let mut store = TransactionStore::new();
        for i in 0..=MAX_PENDING_FLOWS {
            store.push(format!("state-{i}"), flow(i), 1000 + i as u64);
        }
        assert_eq!(store.len(), MAX_PENDING_FLOWS);
        let states: Vec<&str> = store.iter().map(|(s, _)| s).collect();
        assert_eq!(
            states,
            ["state-1", "state-2", "state-3", "state-4", "state-5"]
        );
        let mut back = reopen(&mut store, 1010);
        assert_eq!(back.take("state-0", 1010), None);
        for i in 1..=MAX_PENDING_FLOWS {
            assert_eq!(back.take(&format!("state-{i}"), 1010), Some(flow(i)));
        }
    }

    #[test]
    fn state_can_be_taken_only_once() {
        let mut store = TransactionStore::new();
        store.push("s1", flow(1), 1000);
        store.push("s2", flow(2), 1000);
        assert_eq!(store.take("s1", 1001), Some(flow(1)));
        assert_eq!(store.take("s1", 1001), None);
        // Written back after take: the used state stays gone, the other remains.
        let mut back = reopen(&mut store, 1002);
        assert_eq!(back.take("s1", 1002), None);
        assert_eq!(back.take("s2", 1002), Some(flow(2)));
    }

    #[test]
    fn rejects_expired_flow() {
        let mut store = TransactionStore::new();
        store.push("s1", flow(1), 1000);
        let mut late = reopen(&mut store, 1000 + TRANSACTION_MAX_AGE_SECS);
        assert!(late.is_empty());
        assert_eq!(late.take("s1", 1000 + TRANSACTION_MAX_AGE_SECS), None);
        let mut store = TransactionStore::new();
        store.push("s1", flow(1), 1000);
        assert_eq!(store.take("s1", 1000 + TRANSACTION_MAX_AGE_SECS), None);
    }

    #[test]
    fn rejects_flow_dated_in_the_future() {
        let mut store = TransactionStore::new();
        store.push("s1", flow(1), 5000);
        assert_eq!(store.take("s1", 4000), None);
    }

    #[test]
    fn rejects_unknown_or_prefix_state() {
        let mut store = TransactionStore::new();
        store.push("state-abc", flow(1), 1000);
        assert_eq!(store.take("state-ab", 1000), None);
        assert_eq!(store.take("state-abcd", 1000), None);
        assert_eq!(store.take("", 1000), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn push_with_same_state_replaces_the_flow() {
        let mut store = TransactionStore::new();
        store.push("s", flow(1), 1000);
        store.push("s", flow(2), 1001);
        assert_eq!(store.len(), 1);
        assert_eq!(store.take("s", 1002), Some(flow(2)));
    }

    #[test]
    fn empty_store_writes_a_removal_cookie() {
        let mut store: TransactionStore<Flow> = TransactionStore::new();
        let c = store
            .write_set_cookie(&keys(), NAME, &CookieOptions::for_transaction(false))
            .unwrap();
        assert_eq!(c.value(), "");
        assert_eq!(c.max_age(), Some(cookie::time::Duration::ZERO));
    }

    #[test]
    fn transaction_cookie_has_form_post_attributes_and_short_max_age() {
        let mut store = TransactionStore::new();
        store.push("s", flow(1), 1000);
        let c = store
            .write_set_cookie(&keys(), NAME, &CookieOptions::for_transaction(true))
            .unwrap()
            .to_string();
        assert!(c.contains("SameSite=None"));
        assert!(c.contains("; Secure"));
        assert!(c.contains("HttpOnly"));
        assert!(c.contains("Max-Age=900"));
    }

    #[test]
    fn drops_oldest_flows_until_cookie_fits() {
        let big = |n: usize| Flow {
            nonce: "n".into(),
            verifier: "v".into(),
            return_to: format!("/{}/{n}", "p".repeat(1200)),
        };
        let mut store = TransactionStore::new();
        for i in 0..4 {
            store.push(format!("s{i}"), big(i), 1000);
        }
        let mut back = reopen(&mut store, 1000);
        assert!(back.len() < 4 && !back.is_empty());
        assert_eq!(back.take("s3", 1000), Some(big(3)));
        assert_eq!(back.take("s0", 1000), None);

        let mut huge = TransactionStore::new();
        huge.push(
            "s",
            Flow {
                nonce: "n".into(),
                verifier: "v".into(),
                return_to: "x".repeat(5000),
            },
            1,
        );
        assert_eq!(
            huge.write_set_cookie(&keys(), NAME, &CookieOptions::for_transaction(true))
                .unwrap_err(),
            TransactionError::TooLarge
        );
    }

    #[test]
    fn unreadable_cookie_is_an_empty_store() {
        let k = keys();
        for bad in [
            "",
            "garbage",
            "%%%",
            "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(TransactionStore::<Flow>::open_or_empty(&k, NAME, Some(bad), 1).is_empty());
            assert!(TransactionStore::<Flow>::open(&k, NAME, bad, 1).is_err());
        }
        // A session-purpose value is not a transaction cookie.
        let sealed = k.seal(CookiePurpose::Session, NAME, b"[]").unwrap();
        assert_eq!(
            TransactionStore::<Flow>::open(&k, NAME, &sealed, 1).unwrap_err(),
            TransactionError::Codec(SessionCodecError::Decrypt)
        );
        // Authentic but wrong shape.
        let sealed = k
            .seal(CookiePurpose::Transaction, NAME, b"{\"x\":1}")
            .unwrap();
        assert_eq!(
            TransactionStore::<Flow>::open(&k, NAME, &sealed, 1).unwrap_err(),
            TransactionError::Malformed
        );
    }

    #[test]
    fn debug_does_not_show_flows() {
        let mut store = TransactionStore::new();
        store.push("secret-state", flow(1), 1);
        let dbg = format!("{store:?}");
        assert!(!dbg.contains("secret-state"));
        assert!(!dbg.contains("verifier"));
    }
}
