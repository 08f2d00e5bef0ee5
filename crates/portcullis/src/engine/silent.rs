//! Silent login (like express-openid-connect's `attemptSilentLogin`): an
//! anonymous browser navigation tries `prompt=none` once, so a user already
//! signed in at the OP is signed in here without seeing a page.
//!
//! No loops: the attempt sets a browser-session cookie (`{session}.silent`)
//! first, and no second attempt is made while it is there. A `prompt=none`
//! login that the OP answers with `login_required`, `consent_required`,
//! `interaction_required` or `account_selection_required` brings the user
//! back to the page anonymously instead of to an error page. Logout sets the
//! cookie too, so a user who signed out is not signed straight back in.
//! Only top-level `GET` navigations that accept HTML try (never API calls,
//! `fetch`es or frames).

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, header};
use portcullis_core::authorize::AuthorizationParams;

use super::Engine;
use super::response::EngineResponse;
use crate::error::wants_html;
use crate::options::LoginOptions;

/// The OP errors that mean "the user would have to interact" (Core §3.1.2.6).
const INTERACTION_NEEDED: &[&str] = &[
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
];

/// Whether `error` answers a `prompt=none` request with "interaction needed".
pub(crate) fn needs_interaction(error: &str) -> bool {
    INTERACTION_NEEDED.contains(&error)
}

impl Engine {
    fn silent_cookie_name(&self) -> String {
        format!("{}.silent", self.settings.session_cookie)
    }

    /// Whether an anonymous request should try a silent login now.
    pub fn silent_login_due(&self, method: &Method, headers: &HeaderMap) -> bool {
        if !self.settings.attempt_silent_login || method != Method::GET || !wants_html(headers) {
            return false;
        }
        // A `fetch`, an iframe or an image never navigates to the OP.
        let navigating = headers
            .get("sec-fetch-mode")
            .is_none_or(|mode| mode.as_bytes() == b"navigate");
        let framed = headers
            .get("sec-fetch-dest")
            .is_some_and(|dest| dest.as_bytes() != b"document");
        navigating && !framed && !self.attempted_silent_login(headers)
    }

    fn attempted_silent_login(&self, headers: &HeaderMap) -> bool {
        let name = self.silent_cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .any(|(key, _)| key.trim() == name)
    }

    /// The silent login for an anonymous request whose
    /// [`silent_login_due`](Self::silent_login_due) is true: a redirect to the
    /// OP with `prompt=none`, coming back to the requested page, with the
    /// cookie that prevents a second attempt.
    pub async fn silent_login(&self, parts: &Parts, original_target: &str) -> EngineResponse {
        let options = LoginOptions {
            return_to: Some(original_target.to_owned()),
            authorization_params: AuthorizationParams::new().prompt("none"),
        };
        let mut response = self.login(parts, options).await;
        if let Some(cookie) = self.silent_attempt_cookie() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// The browser-session cookie that says "a silent login was attempted
    /// (or the user signed out): do not try again".
    pub(crate) fn silent_attempt_cookie(&self) -> Option<HeaderValue> {
        if !self.settings.attempt_silent_login {
            return None;
        }
        let options = &self.session_cookie;
        let mut cookie = cookie::Cookie::build((self.silent_cookie_name(), "1"))
            .path(options.path.clone())
            .http_only(true)
            .secure(options.secure)
            .same_site(cookie::SameSite::Lax)
            .build();
        if let Some(domain) = &options.domain {
            cookie.set_domain(domain.clone());
        }
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_interaction_errors_fall_back_silently() {
        for error in INTERACTION_NEEDED {
            assert!(needs_interaction(error));
        }
        for error in ["access_denied", "invalid_request", "server_error", ""] {
            assert!(!needs_interaction(error), "{error}");
        }
    }
}
