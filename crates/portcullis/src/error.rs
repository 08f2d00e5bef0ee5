//! The layer's typed error and how it is shown: an HTML page for browsers, a
//! JSON body for everything else. Neither ever contains a token, code or secret.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the sign-in routes and guards.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The request is not signed in and the route requires it (JSON clients).
    #[error("authentication required")]
    Unauthenticated,
    /// Signed in, but a claim guard refused the request.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The `returnTo` target is not a same-origin path or an allowed origin.
    #[error("invalid returnTo: {0}")]
    InvalidReturnTo(String),
    /// The authorization request could not be built (a configuration or
    /// application error, for example a custom parameter that would override
    /// a protected one).
    #[error("the login request could not be built: {0}")]
    LoginRequest(String),
    /// No login is pending for this browser (the transaction cookie is
    /// missing, expired or unreadable).
    #[error(
        "no login is in progress for this browser (the sign-in transaction cookie is missing or expired); start again at the login page"
    )]
    NoPendingLogin,
    /// The callback request is malformed (duplicate or oversized parameters, bad body).
    #[error("invalid callback request: {0}")]
    BadCallback(String),
    /// The authorization response failed validation (state, iss, code).
    #[error("the sign-in response was rejected: {0}")]
    CallbackRejected(String),
    /// The OpenID Provider answered the authorization request with an error.
    #[error("the identity provider returned an error: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        /// The OAuth error code, e.g. `access_denied`.
        error: String,
        /// The provider's description, sanitized.
        description: Option<String>,
    },
    /// The code exchange failed.
    #[error("the token exchange failed: {0}")]
    TokenExchange(String),
    /// The ID token failed validation.
    #[error("the ID token was rejected: {0}")]
    IdToken(String),
    /// The application's after_callback hook refused the login.
    #[error("{0}")]
    LoginRefused(String),
    /// The identity provider could not be reached or answered garbage.
    #[error("the identity provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The session could not be written (for example it is too large for cookies).
    #[error("the session could not be saved: {0}")]
    Session(String),
    /// The OP refused the refresh token (`invalid_grant`: expired or
    /// revoked); the user has to sign in again.
    #[error("the session can no longer be refreshed; sign in again")]
    ReauthenticationRequired,
    /// The session has no refresh token to refresh with.
    #[error(
        "the session has no refresh token (ask for the offline_access scope, or sign in again)"
    )]
    NoRefreshToken,
    /// The refresh grant or the refreshed ID token failed.
    #[error("the token refresh failed: {0}")]
    Refresh(String),
    /// The userinfo request failed.
    #[error("the userinfo request failed: {0}")]
    Userinfo(String),
    /// A guard or extractor ran on a route that `OidcLayer` does not wrap.
    #[error("server misconfiguration: OidcLayer is not installed on this route")]
    LayerMissing,
}

impl OidcError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            OidcError::Unauthenticated | OidcError::ReauthenticationRequired => {
                StatusCode::UNAUTHORIZED
            }
            OidcError::Forbidden(_) | OidcError::LoginRefused(_) => StatusCode::FORBIDDEN,
            OidcError::InvalidReturnTo(_)
            | OidcError::NoPendingLogin
            | OidcError::BadCallback(_)
            | OidcError::CallbackRejected(_)
            | OidcError::Provider { .. }
            | OidcError::IdToken(_)
            | OidcError::NoRefreshToken => StatusCode::BAD_REQUEST,
            OidcError::TokenExchange(_)
            | OidcError::ProviderUnavailable(_)
            | OidcError::Refresh(_)
            | OidcError::Userinfo(_) => StatusCode::BAD_GATEWAY,
            OidcError::Session(_) | OidcError::LayerMissing | OidcError::LoginRequest(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// A stable machine-readable code for JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Unauthenticated => "unauthenticated",
            OidcError::Forbidden(_) => "forbidden",
            OidcError::InvalidReturnTo(_) => "invalid_return_to",
            OidcError::NoPendingLogin => "no_pending_login",
            OidcError::LoginRequest(_) => "login_request_invalid",
            OidcError::BadCallback(_) => "invalid_callback",
            OidcError::CallbackRejected(_) => "callback_rejected",
            OidcError::Provider { .. } => "provider_error",
            OidcError::TokenExchange(_) => "token_exchange_failed",
            OidcError::IdToken(_) => "invalid_id_token",
            OidcError::LoginRefused(_) => "login_refused",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::Session(_) => "session_error",
            OidcError::NoRefreshToken => "no_refresh_token",
            OidcError::ReauthenticationRequired => "reauthentication_required",
            OidcError::Refresh(_) => "refresh_failed",
            OidcError::Userinfo(_) => "userinfo_failed",
            OidcError::LayerMissing => "layer_missing",
        }
    }

    /// Renders the error for a request with the given headers: HTML when the
    /// client accepts `text/html`, JSON otherwise.
    pub fn into_response_for(self, request_headers: &HeaderMap) -> Response {
        if wants_html(request_headers) {
            self.into_html()
        } else {
            self.into_response()
        }
    }

    fn into_html(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p><p><a href=\"/\">Home</a></p></body></html>",
            html_escape(&self.to_string())
        );
        let mut response = (status, body).into_response();
        apply_error_headers(&mut response, "text/html; charset=utf-8");
        response
    }
}

impl IntoResponse for OidcError {
    /// The JSON rendering: `{"error": code, "error_description": message}`.
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let mut response = (status, body.to_string()).into_response();
        apply_error_headers(&mut response, "application/json");
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn apply_error_headers(response: &mut Response, content_type: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// True when the request's `Accept` header asks for HTML (a browser navigation).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// Escapes text for an HTML body or attribute.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_error_page_escapes_markup() {
        let err = OidcError::Provider {
            error: "<script>".into(),
            description: Some("\"x\"".into()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let response = err.into_response_for(&headers);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn json_error_for_non_browser_clients() {
        let response = OidcError::Unauthenticated.into_response_for(&HeaderMap::new());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn escape_covers_all_markup_characters() {
        assert_eq!(
            html_escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
