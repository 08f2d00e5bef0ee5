//! The per-request context the layer puts into request extensions: the engine
//! handle and the decrypted session, if any. Extractors and guards read it.

use std::sync::Arc;

pub(crate) use crate::active::ActiveSession;
use crate::engine::Engine;

/// What the layer attaches to every request it passes on.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) engine: Arc<Engine>,
    pub(crate) session: Option<Arc<ActiveSession>>,
}
