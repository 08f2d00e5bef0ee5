//! The per-request context the middleware puts into request extensions: the
//! engine and the session, if any. Extractors and guards read it.

use std::sync::Arc;

use actix_web::HttpMessage;
use portcullis::{ActiveSession, Engine};

/// What [`OidcMiddleware`](crate::OidcMiddleware) attaches to every request
/// it passes on.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) engine: Arc<Engine>,
    pub(crate) session: Option<Arc<ActiveSession>>,
}

/// The context of a request, if the middleware ran.
pub(crate) fn context_of(request: &impl HttpMessage) -> Option<RequestContext> {
    request.extensions().get::<RequestContext>().cloned()
}

/// The path and query the application saw (actix-web's scopes do not strip
/// a prefix from the URI), for the return after login.
pub(crate) fn original_target(uri: &actix_web::http::Uri) -> &str {
    uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
}
