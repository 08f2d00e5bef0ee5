//! Per-call options for starting a login and signing out.

use portcullis_core::authorize::AuthorizationParams;

/// Options for a login started by the application (`oidc.login(..)`).
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

impl LoginOptions {
    /// Options that come back to `return_to` after login.
    pub fn returning_to(return_to: impl Into<String>) -> Self {
        Self {
            return_to: Some(return_to.into()),
            ..Self::default()
        }
    }

    /// These options with `params` as the authorization parameters.
    pub fn with_authorization_params(mut self, params: AuthorizationParams) -> Self {
        self.authorization_params = params;
        self
    }
}

/// Options for a logout started by the application (`oidc.logout(..)`).
#[derive(Debug, Clone, Default)]
pub struct LogoutOptions {
    /// Where to send the user after logout. Default: the layer's
    /// `post_logout_redirect` route.
    pub return_to: Option<String>,
    /// Override the layer's `idp_logout` setting for this logout.
    pub idp_logout: Option<bool>,
}

impl LogoutOptions {
    /// Options that come back to `return_to` after logout.
    pub fn returning_to(return_to: impl Into<String>) -> Self {
        Self {
            return_to: Some(return_to.into()),
            ..Self::default()
        }
    }

    /// These options with IdP logout turned on or off for this logout.
    pub fn with_idp_logout(mut self, enabled: bool) -> Self {
        self.idp_logout = Some(enabled);
        self
    }
}
