//! The [`Oidc`] extractor: call login, logout, refresh, userinfo and the
//! callback from your own handlers, like express-openid-connect's
//! `res.oidc.login({ returnTo, authorizationParams })`.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::future::{Ready, ready};
use portcullis::engine::MAX_ROUTE_BODY;
use portcullis::{LoginOptions, LogoutOptions, OidcError};
use serde_json::{Map, Value};

use crate::body::{content_length, read_limited};
use crate::context::{RequestContext, context_of};
use crate::convert::{append_set_cookies, engine_request, into_actix, request_parts};
use crate::extract::{Tokens, User, layer_missing};

/// A handle on the sign-in engine for the current request.
#[derive(Clone)]
pub struct Oidc {
    ctx: RequestContext,
    parts: Arc<http::request::Parts>,
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

    /// The signed-in user's tokens, if any.
    pub fn tokens(&self) -> Option<Tokens> {
        self.ctx.session.clone().map(Tokens::from_session)
    }

    /// Starts a login: answers with the redirect to the OP and the encrypted
    /// transaction cookie. The `login_state` hook sees this request's method,
    /// URI and headers (actix-web's extensions are of another type and are
    /// not passed on).
    pub async fn login(&self, options: LoginOptions) -> HttpResponse<Bytes> {
        into_actix(self.ctx.engine.login(&self.parts, options).await)
    }

    /// Signs out: ends the session (so a copy of its cookie is refused) and
    /// redirects (through the OP's end-session endpoint when IdP logout is on).
    pub async fn logout(&self, options: LogoutOptions) -> HttpResponse<Bytes> {
        into_actix(
            self.ctx
                .engine
                .logout(&self.parts.headers, self.ctx.session.as_deref(), options)
                .await,
        )
    }

    /// Signs out of this application only, without a redirect (like Okta's
    /// `req.logout()`). Apply the [`SessionUpdate`] to your response: it
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

    /// Refreshes the tokens with the session's refresh token. Apply the
    /// [`SessionUpdate`] to your response: it carries the rewritten session
    /// cookie.
    ///
    /// ```no_run
    /// use actix_web::HttpResponse;
    /// use portcullis_actix::{Error, Oidc};
    ///
    /// async fn refresh(oidc: Oidc) -> Result<HttpResponse, Error> {
    ///     let update = oidc.refresh().await?;
    ///     let fresh = update.tokens().and_then(|t| t.access_token()).map_or(0, str::len);
    ///     let mut response = HttpResponse::Ok().body(format!("new access token of {fresh} bytes"));
    ///     update.apply_to(&mut response);
    ///     Ok(response)
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

    /// Calls the OP's userinfo endpoint with the session's access token. The
    /// answer is returned only when its `sub` equals the signed-in user's.
    pub async fn fetch_userinfo(&self) -> Result<Map<String, Value>, OidcError> {
        let session = self
            .ctx
            .session
            .as_ref()
            .ok_or(OidcError::Unauthenticated)?;
        self.ctx.engine.fetch_userinfo(session).await
    }

    /// Handles an authorization response on a route of your own (for when
    /// the built-in callback route is turned off): pass the request and its
    /// payload (at most [`MAX_ROUTE_BODY`] bytes are read).
    pub async fn callback(
        &self,
        request: &HttpRequest,
        payload: actix_web::web::Payload,
    ) -> HttpResponse<Bytes> {
        let length = content_length(request.headers());
        let mut inner = payload.into_inner();
        let body = match read_limited(length, &mut inner, MAX_ROUTE_BODY).await {
            Ok(body) => body,
            Err(error) => return error.response(),
        };
        into_actix(
            self.ctx
                .engine
                .callback(engine_request(request, body))
                .await,
        )
    }

    /// Renders an error of [`refresh`](Self::refresh) (or any other handle
    /// method) for this request. A session that can no longer be refreshed
    /// or used sends browsers to login (coming back here) and API clients a
    /// 401, and clears the session cookie; every other error is
    /// [`error_response`](Self::error_response)'s page or JSON body.
    pub fn reject(&self, error: &OidcError) -> HttpResponse<Bytes> {
        let target = self
            .parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str());
        into_actix(self.ctx.engine.reject(error, target, &self.parts.headers))
    }

    /// Renders an error for this request: an HTML page for browsers (with a
    /// link home to `BASE_URL`'s path), JSON otherwise.
    pub fn error_response(&self, error: &OidcError) -> HttpResponse<Bytes> {
        into_actix(self.ctx.engine.error_response(error, &self.parts.headers))
    }
}

/// The result of [`Oidc::refresh`] and [`Oidc::logout_local`]: the cookies
/// that store (or clear) the session, and the refreshed tokens. Apply it to
/// your response ([`SessionUpdate::apply_to`]), or the browser keeps the old
/// session.
pub struct SessionUpdate {
    tokens: Option<Tokens>,
    cookies: Vec<http::HeaderValue>,
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

    /// Appends the session cookies to `response`.
    pub fn apply_to<B>(self, response: &mut HttpResponse<B>) {
        append_set_cookies(response.headers_mut(), self.cookies);
    }
}

impl FromRequest for Oidc {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match context_of(request) {
            Some(ctx) => Ok(Oidc {
                ctx,
                parts: Arc::new(request_parts(request)),
            }),
            None => Err(layer_missing(request)),
        })
    }
}
