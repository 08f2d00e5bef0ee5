//! Extractors: the signed-in user's claims and tokens, and the [`Oidc`] handle
//! for calling login and logout from your own handlers.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::context::{RequestContext, original_target};
use super::into_axum;
use crate::active::ActiveSession;
use crate::error::OidcError;

fn context(parts: &Parts) -> Result<&RequestContext, OidcError> {
    parts
        .extensions
        .get::<RequestContext>()
        .ok_or(OidcError::LayerMissing)
}

/// The rejection of the required extractors: a redirect to login for browsers,
/// a 401 JSON body otherwise (or a 500 when `OidcLayer` is missing).
#[derive(Debug)]
pub struct AuthRejection(Response);

impl From<Response> for AuthRejection {
    fn from(response: Response) -> Self {
        Self(response)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0
    }
}

// The rejection is a whole `Response`, built only on the cold (signed-out) path.
#[allow(clippy::result_large_err)]
fn signed_in(parts: &Parts) -> Result<Arc<ActiveSession>, AuthRejection> {
    let ctx = context(parts).map_err(|e| AuthRejection(e.into_response_for(&parts.headers)))?;
    match &ctx.session {
        Some(session) => Ok(session.clone()),
        None => Err(AuthRejection(into_axum(ctx.engine.reject_unauthenticated(
            original_target(&parts.uri, &parts.extensions),
            &parts.headers,
        )))),
    }
}

/// The signed-in user. Required: without a session the request is redirected
/// to login (browsers) or answered 401 JSON. Use `Option<User>` for optional.
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
    /// The claims of the ID token alone (no userinfo, no hook edits), like
    /// express-openid-connect's `idTokenClaims`.
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
    /// The access token with its type, expiry and scopes, if the OP issued one.
    pub fn access(&self) -> Option<AccessToken<'_>> {
        let value = self.session.access_token()?;
        Some(AccessToken {
            value,
            token_type: self.session.token_type().unwrap_or("Bearer"),
            expires_at: self.session.expires_at(),
            scope: self.session.scope(),
        })
    }
    /// The claims of the ID token alone (no userinfo, no hook edits), like
    /// express-openid-connect's `idTokenClaims`.
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        self.session.id_token_claims()
    }
    /// Whether the session holds a refresh token (the token itself stays
    /// with the engine: call [`Oidc::refresh`](crate::Oidc::refresh)).
    pub fn has_refresh_token(&self) -> bool {
        self.session.refresh_token().is_some()
    }
}

/// The session's access token: value, type, expiry and scopes. Its `Debug`
/// redacts the value.
#[derive(Clone, Copy)]
pub struct AccessToken<'a> {
    value: &'a str,
    token_type: &'a str,
    expires_at: Option<u64>,
    scope: Option<&'a str>,
}

impl std::fmt::Debug for AccessToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<'a> AccessToken<'a> {
    /// The token, for an `Authorization: Bearer` header to an API.
    pub fn value(&self) -> &'a str {
        self.value
    }
    /// The token type (`Bearer`).
    pub fn token_type(&self) -> &'a str {
        self.token_type
    }
    /// When it expires (unix seconds), when the OP said (`expires_in`).
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
    /// How long it is still valid, by the layer's clock (zero once expired;
    /// `None` when the OP did not say).
    pub fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_at
            .map(|at| std::time::Duration::from_secs(at.saturating_sub(crate::clock::now_unix())))
    }
    /// Whether it has expired, by the layer's clock. A token without a
    /// known expiry is not considered expired.
    pub fn is_expired(&self) -> bool {
        self.expires_at
            .is_some_and(|at| at <= crate::clock::now_unix())
    }
    /// The granted scopes (from the token response's `scope`), in order.
    pub fn scopes(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization_header(&self) -> String {
        format!("Bearer {}", self.value)
    }
}

/// The session, if any; a rejection only when `OidcLayer` is missing.
#[allow(clippy::result_large_err)]
fn maybe_signed_in(parts: &Parts) -> Result<Option<Arc<ActiveSession>>, AuthRejection> {
    let ctx = context(parts).map_err(|e| AuthRejection(e.into_response_for(&parts.headers)))?;
    Ok(ctx.session.clone())
}

/// Implements the required (`T`) and optional (`Option<T>`) extractors for a
/// view of the session.
macro_rules! session_extractor {
    ($view:ident) => {
        impl<S: Send + Sync> FromRequestParts<S> for $view {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                signed_in(parts).map(|session| $view { session })
            }
        }

        impl<S: Send + Sync> OptionalFromRequestParts<S> for $view {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                maybe_signed_in(parts).map(|session| session.map(|session| $view { session }))
            }
        }
    };
}

session_extractor!(User);
session_extractor!(Tokens);
