//! The [`Oidc`] extractor: call login, logout and the callback from your own
//! handlers, like express-openid-connect's `res.oidc.login({ returnTo,
//! authorizationParams })`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_core::authorize::AuthorizationParams;

use crate::context::RequestContext;
use crate::error::OidcError;
use crate::extract::{AuthRejection, User};

/// Options for [`Oidc::login`].
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Where to send the user after login: a same-origin path (or an allowed
    /// origin). Default: the login route's `returnTo` query parameter, else `/`.
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

    /// Handles an authorization response on a route of your own (for when the
    /// built-in callback route is turned off). Pass the whole request.
    pub async fn callback(&self, request: Request) -> Response {
        self.ctx.engine.callback(request).await
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
