//! Extractors: the signed-in user's claims ([`User`]) and tokens
//! ([`Tokens`]). Both are required: without a session a browser is
//! redirected to login and an API client gets 401 JSON. Take
//! `Option<User>` for a route that serves both.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{Ready, ready};
use portcullis::{ActiveSession, OidcError};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::context::{RequestContext, original_target};
use crate::convert::{into_actix, request_headers};

/// The answer to a request that the middleware did not see (it is not
/// wrapped around this route): a 500 that says so.
pub(crate) fn layer_missing(request: &HttpRequest) -> actix_web::Error {
    let headers = request_headers(request.headers());
    let response = into_actix(OidcError::LayerMissing.to_response(&headers, "/"));
    InternalError::from_response("OidcMiddleware is missing", response.map_into_boxed_body()).into()
}

/// The session of a signed-in request; otherwise the engine's answer to an
/// unauthenticated one, as the extractor's error.
fn signed_in(request: &HttpRequest) -> Result<Arc<ActiveSession>, actix_web::Error> {
    let extensions = request.extensions();
    let ctx = extensions
        .get::<RequestContext>()
        .ok_or_else(|| layer_missing(request))?;
    match &ctx.session {
        Some(session) => Ok(session.clone()),
        None => {
            let headers = request_headers(request.headers());
            let rejection = ctx
                .engine
                .reject_unauthenticated(original_target(request.uri()), &headers);
            Err(InternalError::from_response(
                "not signed in",
                into_actix(rejection).map_into_boxed_body(),
            )
            .into())
        }
    }
}

/// The signed-in user. Required: without a session the request is
/// redirected to login (browsers) or answered 401 JSON. Use
/// `Option<User>` for optional.
#[derive(Clone)]
pub struct User {
    session: Arc<ActiveSession>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("iss", &self.iss())
            .field("sub", &self.sub())
            .finish()
    }
}

impl User {
    pub(crate) fn from_session(session: Arc<ActiveSession>) -> Self {
        Self { session }
    }

    /// The subject identifier. Key users by ([`User::iss`], `sub`), never by email.
    pub fn sub(&self) -> &str {
        self.session.sub()
    }
    /// The issuer that vouched for this user.
    pub fn iss(&self) -> &str {
        self.session.iss()
    }
    /// All claims (ID token merged with userinfo) as a JSON object.
    pub fn claims(&self) -> &Map<String, Value> {
        self.session.claims()
    }
    /// The claims of the ID token alone (no userinfo, no hook edits).
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        self.session.id_token_claims()
    }
    /// The claims as JSON text (serialized once per session).
    pub fn raw_claims(&self) -> &RawValue {
        self.session.raw_claims()
    }
    /// The whole session.
    pub fn session(&self) -> &ActiveSession {
        &self.session
    }
    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }
    /// A string claim by name.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claim(name).and_then(Value::as_str)
    }
    /// Application data stored in the session by the after-callback hook.
    pub fn session_extra(&self) -> &Map<String, Value> {
        self.session.extra()
    }
}

/// The signed-in user's tokens. Required, like [`User`]. Its `Debug` redacts them.
#[derive(Clone)]
pub struct Tokens {
    session: Arc<ActiveSession>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn from_session(session: Arc<ActiveSession>) -> Self {
        Self { session }
    }

    /// The ID token (a JWT).
    pub fn id_token(&self) -> &str {
        self.session.id_token()
    }
    /// The access token, if the OP issued one.
    pub fn access_token(&self) -> Option<&str> {
        self.session.access_token()
    }
    /// The access token type (normally `Bearer`).
    pub fn token_type(&self) -> Option<&str> {
        self.session.token_type()
    }
    /// When the access token expires (unix seconds), if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.session.expires_at()
    }
    /// True when the access token's expiry has passed at `now` (unix seconds).
    pub fn access_token_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
    /// The refresh token, if the OP issued one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.session.refresh_token()
    }
    /// The granted scopes, if the OP said.
    pub fn scope(&self) -> Option<&str> {
        self.session.scope()
    }
}

impl FromRequest for User {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request).map(User::from_session))
    }
}

impl FromRequest for Tokens {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request).map(Tokens::from_session))
    }
}
