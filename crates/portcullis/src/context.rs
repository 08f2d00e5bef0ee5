//! The per-request context the layer puts into request extensions: the engine
//! handle and the decrypted session, if any. Extractors and guards read it.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::engine::Engine;
use crate::session::SessionData;

/// A decrypted, unexpired session, with its claims parsed on first use only.
pub(crate) struct ActiveSession {
    pub(crate) data: SessionData,
    claims: OnceLock<Map<String, Value>>,
}

impl ActiveSession {
    pub(crate) fn new(data: SessionData) -> Self {
        Self {
            data,
            claims: OnceLock::new(),
        }
    }

    /// The claims as a JSON object (parsed lazily from the raw session JSON;
    /// an unparsable value yields an empty map).
    pub(crate) fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| serde_json::from_str(self.data.claims.get()).unwrap_or_default())
    }
}

/// What the layer attaches to every request it passes on.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) engine: Arc<Engine>,
    pub(crate) session: Option<Arc<ActiveSession>>,
}
