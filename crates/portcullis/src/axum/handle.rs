//! The [`Oidc`] extractor: call login, logout, refresh, userinfo and the
//! callback from your own handlers, like express-openid-connect's
//! `res.oidc.login({ returnTo, authorizationParams })`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use portcullis_core::token_exchange::{ExchangedToken, TokenExchangeParams};
use serde_json::{Map, Value};

use super::context::RequestContext;
use super::extract::{AuthRejection, Tokens, User};
use super::into_axum;
use crate::engine::MAX_ROUTE_BODY;
use crate::error::OidcError;
use crate::options::{LoginOptions, LogoutOptions};

/// A handle on the sign-in engine for the current request.
#[derive(Clone)]
pub struct Oidc {
    ctx: RequestContext,
    parts: Arc<Parts>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("authenticated", &self.is_authenticated())
            .finish()
    }
}

impl Oidc {
    /// True when the request carries a valid session.
    pub fn is_authenticated(&self) -> bool {
        self.ctx.session.is_some()
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<User> {
        self.ctx.session.clone().map(User::from_session)
    }

    /// Starts a login: answers with the redirect to the OP and the encrypted
    /// transaction cookie. The `login_state` hook sees this request's
    /// headers, URI and extensions, as it does through the login route.
    pub async fn login(&self, options: LoginOptions) -> Response {
        into_axum(self.ctx.engine.login(&self.parts, options).await)
    }

    /// Signs out: ends the session (so a copy of its cookie is refused) and
    /// redirects (through the OP's end-session endpoint when IdP logout is on).
    pub async fn logout(&self, options: LogoutOptions) -> Response {
        into_axum(
            self.ctx
                .engine
                .logout(&self.parts.headers, self.ctx.session.as_deref(), options)
                .await,
        )
    }

    /// Signs out of this application only, without a redirect (like Okta's
    /// `req.logout()`). Return the [`SessionUpdate`] with your response: it
    /// clears the session cookie.
    pub async fn logout_local(&self) -> Result<SessionUpdate, OidcError> {
        let cookies = self
            .ctx
            .engine
            .logout_local(&self.parts.headers, self.ctx.session.as_deref())
            .await?;
        Ok(SessionUpdate {
            tokens: None,
            cookies,
        })
    }

    /// Refreshes the tokens with the session's refresh token (like
    /// express-openid-connect's `req.oidc.accessToken.refresh()`). Return the
    /// [`SessionUpdate`] as part of your response: it carries the rewritten
    /// session cookie. Concurrent refreshes of one session (in this process,
    /// and across replicas with a shared store) reach the OP once; render an
    /// error with [`reject`](Self::reject).
    ///
    /// ```no_run
    /// # use portcullis::{Oidc, Tokens};
    /// # use axum::response::IntoResponse;
    /// async fn call_api(oidc: Oidc, tokens: Tokens) -> axum::response::Response {
    ///     let now = std::time::SystemTime::now()
    ///         .duration_since(std::time::UNIX_EPOCH)
    ///         .map(|d| d.as_secs())
    ///         .unwrap_or(0);
    ///     if !tokens.access_token_expired(now) {
    ///         return "token still fresh".into_response();
    ///     }
    ///     match oidc.refresh().await {
    ///         Ok(update) => {
    ///             let fresh = update.tokens().and_then(|t| t.access_token()).unwrap_or_default().len();
    ///             (update, format!("new access token of {fresh} bytes")).into_response()
    ///         }
    ///         // Login for an ended session, a 503 for an OP outage.
    ///         Err(error) => oidc.reject(error),
    ///     }
    /// }
    /// ```
    pub async fn refresh(&self) -> Result<SessionUpdate, OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        let (session, cookies) = self
            .ctx
            .engine
            .refresh(session, &self.parts.headers)
            .await?;
        Ok(SessionUpdate {
            tokens: Some(Tokens::from_session(session)),
            cookies,
        })
    }

    /// Renders an error of [`refresh`](Self::refresh) (or any other handle
    /// method) for this request. A session that can no longer be refreshed
    /// has been ended: browsers are sent to login (coming back here), API
    /// clients get a 401, and the session cookie is cleared. Every other
    /// error is the usual page or JSON body (a 503 for an OP outage, which
    /// signs nobody out).
    ///
    /// ```no_run
    /// # use portcullis::Oidc;
    /// # use axum::response::{IntoResponse, Response};
    /// async fn refresh_now(oidc: Oidc) -> Response {
    ///     match oidc.refresh().await {
    ///         Ok(update) => (update, "refreshed").into_response(),
    ///         Err(error) => oidc.reject(error),
    ///     }
    /// }
    /// ```
    pub fn reject(&self, error: OidcError) -> Response {
        let target = super::context::original_target(&self.parts.uri, &self.parts.extensions);
        into_axum(self.ctx.engine.reject(&error, target, &self.parts.headers))
    }

    /// Calls the OP's userinfo endpoint with the session's access token (like
    /// `req.oidc.fetchUserInfo()`). The answer is returned only when its `sub`
    /// equals the signed-in user's.
    pub async fn fetch_userinfo(&self) -> Result<Map<String, Value>, OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        self.ctx.engine.fetch_userinfo(session).await
    }

    /// Exchanges the session's access token (RFC 8693) for one with another
    /// audience, resource or scope, like express-openid-connect's
    /// `customTokenExchange`. Extra parameters in `params` pass through.
    /// The session is not changed; see
    /// [`Oidc::exchange_token_into_session`] to keep the result. An OP
    /// refusal is [`OidcError::TokenExchangeGrant`] holding
    /// [`portcullis_core::token::TokenError::Provider`] with the OP's
    /// `error` and `error_description`.
    pub async fn exchange_token(
        &self,
        params: &TokenExchangeParams,
    ) -> Result<ExchangedToken, OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        self.ctx.engine.exchange_token(session, params).await
    }

    /// Like [`Oidc::exchange_token`], and stores the new access token in
    /// the session. Return the [`SessionUpdate`] with your response: it
    /// carries the rewritten session cookie.
    pub async fn exchange_token_into_session(
        &self,
        params: &TokenExchangeParams,
    ) -> Result<(ExchangedToken, SessionUpdate), OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        let (exchanged, session, cookies) = self
            .ctx
            .engine
            .exchange_token_into_session(session, params, &self.parts.headers)
            .await?;
        Ok((
            exchanged,
            SessionUpdate {
                tokens: Some(Tokens::from_session(session)),
                cookies,
            },
        ))
    }

    /// The claims of the session's access token when it is a JWT from the
    /// issuer (groups, roles), verified with the OP's keys; `None` for an
    /// opaque token. See [`Engine::access_token_claims`](crate::Engine::access_token_claims).
    pub async fn access_token_claims(&self) -> Result<Option<Arc<Map<String, Value>>>, OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        self.ctx.engine.access_token_claims(session).await
    }

    /// Handles an authorization response on a route of your own (for when the
    /// built-in callback route is turned off). Pass the whole request.
    pub async fn callback(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let Ok(body) = axum::body::to_bytes(body, MAX_ROUTE_BODY).await else {
            return into_axum(self.ctx.engine.error_response(
                &OidcError::BadCallback("the callback body is too large"),
                &parts.headers,
            ));
        };
        into_axum(
            self.ctx
                .engine
                .callback(http::Request::from_parts(parts, body))
                .await,
        )
    }
}

/// The result of [`Oidc::refresh`], [`Oidc::logout_local`] and
/// [`Oidc::exchange_token_into_session`]: the cookies
/// that store (or clear) the session, and the refreshed tokens. Put it in
/// your response (it implements `IntoResponseParts`), or the browser keeps
/// the old session.
pub struct SessionUpdate {
    tokens: Option<Tokens>,
    cookies: Vec<HeaderValue>,
}

impl std::fmt::Debug for SessionUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUpdate")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl SessionUpdate {
    /// The refreshed tokens (none after a local logout).
    pub fn tokens(&self) -> Option<&Tokens> {
        self.tokens.as_ref()
    }
}

impl IntoResponseParts for SessionUpdate {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        for cookie in self.cookies {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Oidc {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| {
                AuthRejection::from(OidcError::LayerMissing.into_response_for(&parts.headers))
            })?;
        // The extensions are kept: the login_state hook reads them.
        Ok(Oidc {
            ctx,
            parts: Arc::new(Parts::clone(parts)),
        })
    }
}
