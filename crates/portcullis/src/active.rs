//! The active session: a decoded, unexpired session with its claims parsed
//! on first use.

use std::sync::{Mutex, OnceLock};

use http::HeaderValue;
use serde_json::{Map, Value};

use crate::session::SessionData;

/// A decrypted, unexpired session, with its claims parsed on first use only.
pub(crate) struct ActiveSession {
    pub(crate) data: SessionData,
    claims: OnceLock<Map<String, Value>>,
    /// The renewed cookie of a rolling session, shared by every request that
    /// still carries this (older) cookie value.
    renewal: Mutex<Option<Renewal>>,
}

/// A rolling-session renewal: when it was sealed and the `Set-Cookie` values.
#[derive(Clone)]
pub(crate) struct Renewal {
    pub(crate) refreshed_at: u64,
    pub(crate) cookies: Vec<HeaderValue>,
}

impl ActiveSession {
    pub(crate) fn new(data: SessionData) -> Self {
        Self {
            data,
            claims: OnceLock::new(),
            renewal: Mutex::new(None),
        }
    }

    /// The renewal sealed at most `max_age` seconds before `now`, if any.
    pub(crate) fn recent_renewal(&self, now: u64, max_age: u64) -> Option<Vec<HeaderValue>> {
        let renewal = self.renewal.lock().ok()?;
        renewal
            .as_ref()
            .filter(|r| now.saturating_sub(r.refreshed_at) < max_age)
            .map(|r| r.cookies.clone())
    }

    /// Remembers the renewal sealed at `refreshed_at`.
    pub(crate) fn remember_renewal(&self, refreshed_at: u64, cookies: &[HeaderValue]) {
        if let Ok(mut renewal) = self.renewal.lock() {
            *renewal = Some(Renewal {
                refreshed_at,
                cookies: cookies.to_vec(),
            });
        }
    }

    /// The claims as a JSON object (parsed lazily from the raw session JSON;
    /// an unparsable value yields an empty map).
    pub(crate) fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| serde_json::from_str(self.data.claims.get()).unwrap_or_default())
    }
}
