//! The per-request context the layer puts into request extensions: the engine
//! and the session, if any. Extractors and guards read it.

use std::sync::Arc;

use crate::active::ActiveSession;
use crate::engine::Engine;

/// What the layer attaches to every request it passes on.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) engine: Arc<Engine>,
    pub(crate) session: Option<Arc<ActiveSession>>,
}

/// The path and query the application saw before any `Router::nest`
/// stripped a prefix (axum's `OriginalUri`), for the return after login.
pub(crate) fn original_target<'a>(uri: &'a http::Uri, extensions: &'a http::Extensions) -> &'a str {
    let uri = extensions
        .get::<axum::extract::OriginalUri>()
        .map(|original| &original.0)
        .unwrap_or(uri);
    uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
}
