//! Application hooks into the sign-in flow.
//!
//! - [`AfterCallback`]: runs after the ID token is validated and before the
//!   session is written. It sees the tokens, may change the claims and the
//!   session's application data, or refuse the login with a message the user sees.
//! - [`LoginState`]: computes application data at login that travels through
//!   the flow (inside the encrypted transaction cookie) and is handed to
//!   [`AfterCallback`] as [`AfterCallbackContext::app_state`].
//! - [`OnLogin`]: runs after a new session is created (like
//!   express-openid-connect's `afterCallback` side effects or `onLogin`).
//! - [`OnLogoutToken`]: sees every valid back-channel logout token after the
//!   sessions it names are marked as signed out (clean up application state).
//! - [`IsLoggedOut`]: an extra per-request check after the logout markers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use serde_json::{Map, Value};

/// What the after-callback hook sees and may change.
pub struct AfterCallbackContext {
    /// The merged user claims (ID token plus userinfo). The hook may edit them.
    pub claims: Map<String, Value>,
    /// Application data stored in the session next to the claims. The hook may edit it.
    pub session_extra: Map<String, Value>,
    /// The raw ID token.
    pub id_token: String,
    /// The access token, if one was issued.
    pub access_token: Option<String>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// The data returned by the [`LoginState`] hook at login, if any.
    pub app_state: Option<Value>,
    /// Where the user will be sent after the login.
    pub return_to: String,
}

impl std::fmt::Debug for AfterCallbackContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterCallbackContext")
            .field("claims", &self.claims)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// A refusal from the after-callback hook: the login is aborted and the user
/// sees `message` on a 403 page.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LoginRefused {
    /// The message shown to the user. Do not put secrets in it.
    pub message: String,
}

impl LoginRefused {
    /// Refuses the login with a message for the user.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The boxed future an [`AfterCallback`] returns.
pub type AfterCallbackFuture =
    Pin<Box<dyn Future<Output = Result<AfterCallbackContext, LoginRefused>> + Send>>;

/// The after-callback hook: takes the context, returns it (possibly changed) or a refusal.
pub type AfterCallback = Arc<dyn Fn(AfterCallbackContext) -> AfterCallbackFuture + Send + Sync>;

/// The login-state hook: given the login request, returns data to carry through the flow.
pub type LoginState = Arc<dyn Fn(&Parts) -> Option<Value> + Send + Sync>;

/// The boxed future the notification hooks return.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The on-login hook: sees the new session.
pub type OnLogin = Arc<dyn Fn(Arc<crate::ActiveSession>) -> HookFuture + Send + Sync>;

/// What a back-channel logout named, as the [`OnLogoutToken`] hook sees it.
#[derive(Debug, Clone)]
pub struct LogoutTokenInfo {
    /// The issuer.
    pub iss: String,
    /// The subject, when the token named one.
    pub sub: Option<String>,
    /// The OP session id, when the token named one.
    pub sid: Option<String>,
}

/// The on-logout-token hook.
pub type OnLogoutToken = Arc<dyn Fn(LogoutTokenInfo) -> HookFuture + Send + Sync>;

/// The is-logged-out hook: `true` treats the session as signed out.
pub type IsLoggedOut = Arc<dyn Fn(&crate::ActiveSession) -> bool + Send + Sync>;
