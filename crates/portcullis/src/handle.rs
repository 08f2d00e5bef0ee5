//! The [`Oidc`] extractor: call login, logout and the callback from your own
//! handlers, like express-openid-connect's `res.oidc.login({ returnTo,
//! authorizationParams })`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use portcullis_core::authorize::AuthorizationParams;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::OidcError;
use crate::extract::{AuthRejection, Tokens, User};

/// Options for [`Oidc::login`].
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Where to send the user after login: an app-relative path (put under
    /// `BASE_URL`'s path) or a URL of an allowed origin. Default: the
    /// application's root. (The built-in login route fills it from its
    /// `returnTo` query parameter.)
    pub return_to: Option<String>,
    /// Authorization parameters for this login. Set fields override the
    /// layer's defaults; unset fields keep them.
    pub authorization_params: AuthorizationParams,
}

/// Options for [`Oidc::logout`].
#[derive(Debug, Clone, Default)]
pub struct LogoutOptions {
    /// Where to send the user after logout. Default: the layer's
    /// `post_logout_redirect` route.
    pub return_to: Option<String>,
    /// Override the layer's `idp_logout` setting for this logout.
    pub idp_logout: Option<bool>,
}

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
    /// transaction cookie.
    pub async fn login(&self, options: LoginOptions) -> Response {
        self.ctx.engine.login(&self.parts, options).await
    }

    /// Signs out: clears the session and redirects (through the OP's
    /// end-session endpoint when IdP logout is on).
    pub async fn logout(&self, options: LogoutOptions) -> Response {
        self.ctx
            .engine
            .logout(&self.parts.headers, self.ctx.session.as_deref(), options)
    }

    /// Refreshes the tokens with the session's refresh token (like
    /// express-openid-connect's `req.oidc.accessToken.refresh()`). Return the
    /// [`SessionUpdate`] as part of your response: it carries the rewritten
    /// session cookie.
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
    ///             let fresh = update.tokens().access_token().unwrap_or_default().len();
    ///             (update, format!("new access token of {fresh} bytes")).into_response()
    ///         }
    ///         Err(error) => error.into_response(),
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
            tokens: Tokens::from_session(Arc::new(session)),
            cookies,
        })
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

    /// Handles an authorization response on a route of your own (for when the
    /// built-in callback route is turned off). Pass the whole request.
    pub async fn callback(&self, request: Request) -> Response {
        self.ctx.engine.callback(request).await
    }
}

/// The result of [`Oidc::refresh`]: the new tokens, and the session cookie
/// that stores them. Put it in your response (it implements
/// `IntoResponseParts`), or the browser keeps the old tokens.
pub struct SessionUpdate {
    tokens: Tokens,
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
    /// The refreshed tokens.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
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
            .ok_or_else(|| AuthRejection::from(OidcError::LayerMissing.into_response()))?;
        let mut copy = Parts::clone(parts);
        copy.extensions = Default::default();
        Ok(Oidc {
            ctx,
            parts: Arc::new(copy),
        })
    }
}
