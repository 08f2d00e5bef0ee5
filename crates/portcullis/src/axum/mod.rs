//! The axum/tower adapter: [`OidcLayer`], the extractors ([`User`],
//! [`Tokens`], [`Oidc`]) and the guards. It only translates between axum and
//! the framework-neutral [`Engine`](crate::Engine); every rule lives there.

pub(crate) mod bearer;
mod context;
mod extract;
pub mod guard;
mod handle;
mod layer;

pub use bearer::{BearerAuth, BearerFuture, BearerLayer, BearerService, Principal};
pub use extract::{AccessToken, AuthRejection, Tokens, User};
pub use handle::{Oidc, SessionUpdate};
pub use layer::{OidcFuture, OidcLayer, OidcService};

use crate::engine::EngineResponse;

/// An engine response as an axum response.
pub(crate) fn into_axum(response: EngineResponse) -> axum::response::Response {
    response.map(axum::body::Body::from)
}

impl axum::response::IntoResponse for crate::OidcError {
    /// The JSON rendering: `{"error": code, "error_description": message}`.
    fn into_response(self) -> axum::response::Response {
        into_axum(self.to_json())
    }
}

impl crate::OidcError {
    /// Renders the error for a request with the given headers: HTML when the
    /// client asks for HTML, JSON otherwise.
    pub fn into_response_for(self, request_headers: &http::HeaderMap) -> axum::response::Response {
        into_axum(self.to_response(request_headers, "/"))
    }
}
