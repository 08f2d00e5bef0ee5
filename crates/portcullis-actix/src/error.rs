//! [`Error`]: a [`portcullis::OidcError`] as an actix-web error, so handlers
//! can use `?` on the [`Oidc`](crate::Oidc) handle's results.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use portcullis::OidcError;

use crate::convert::into_actix;

/// An engine error returned from a handler. It renders as JSON,
/// `{"error": code, "error_description": message}`, with the error's status;
/// [`Oidc::error_response`](crate::Oidc::error_response) renders an HTML page
/// for browsers instead.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub OidcError);

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_actix(self.0.to_json()).map_into_boxed_body()
    }
}
