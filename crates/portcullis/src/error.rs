//! The engine's typed error and how it is shown: an HTML page for browsers, a
//! JSON body for everything else. Neither ever contains a token, code or secret.
//!
//! Rendering is framework-neutral ([`OidcError::to_response`] builds an
//! `http::Response<Bytes>`); the axum adapter implements `IntoResponse` on top.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::http_client::HttpError;
use crate::store::StoreError;
use portcullis_core::authorize::AuthorizeError;
use portcullis_core::callback::CallbackError;
use portcullis_core::id_token::IdTokenError;
use portcullis_core::par::ParError;
use portcullis_core::token::TokenError;
use portcullis_core::userinfo::UserinfoError;

/// Everything that can go wrong in the sign-in routes, guards and handles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The request is not signed in and the route requires it.
    #[error("authentication required")]
    Unauthenticated,
    /// Signed in, but a claim guard refused the request.
    #[error("access denied: {rule}")]
    Forbidden {
        /// The rule that refused (never the claim's value).
        rule: String,
    },
    /// The `returnTo` target is not a same-origin path or an allowed origin.
    #[error("invalid returnTo target")]
    InvalidReturnTo(#[source] portcullis_core::return_to::ReturnToError),
    /// The authorization request could not be built (a configuration or
    /// application error, for example a custom parameter that would override
    /// a protected one).
    #[error("the login request could not be built")]
    LoginRequest(#[source] AuthorizeError),
    /// No login is pending for this browser (the transaction cookie is
    /// missing, expired or unreadable).
    #[error(
        "no login is in progress for this browser (the sign-in transaction cookie is missing or expired); start again at the login page"
    )]
    NoPendingLogin,
    /// The callback request is malformed (duplicate or oversized parameters, bad body).
    #[error("invalid callback request: {0}")]
    BadCallback(&'static str),
    /// The authorization response failed validation (state, iss, code).
    #[error("the sign-in response was rejected")]
    CallbackRejected(#[source] CallbackError),
    /// The state parameter matches no login in progress.
    #[error("the state parameter does not match any login in progress")]
    UnknownState,
    /// A form_post login was answered in the URL (the code leaked into history).
    #[error("this login expected a form_post response but got a query response")]
    WrongResponseMode,
    /// The OpenID Provider answered the authorization request with an error.
    #[error("the identity provider returned an error: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        /// The OAuth error code, e.g. `access_denied`.
        error: String,
        /// The provider's description, sanitized.
        description: Option<String>,
    },
    /// The code exchange failed.
    #[error("the token exchange failed")]
    TokenExchange(#[source] TokenError),
    /// The pushed authorization request (RFC 9126) failed or was refused.
    #[error("the pushed authorization request failed")]
    PushedAuthorization(#[source] ParError),
    /// The token exchange grant (RFC 8693) failed; an OP refusal is
    /// [`TokenError::Provider`] with its `error` and `error_description`.
    #[error("the token exchange (RFC 8693) failed")]
    TokenExchangeGrant(#[source] TokenError),
    /// The token response has no ID token.
    #[error("the token response has no id_token")]
    NoIdToken,
    /// The ID token failed validation.
    #[error("the ID token was rejected")]
    IdToken(#[source] IdTokenError),
    /// The application's after_callback hook refused the login.
    #[error("{0}")]
    LoginRefused(String),
    /// The identity provider could not be reached or answered garbage.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable(#[source] HttpError),
    /// The session could not be written (for example it is too large for cookies).
    #[error("the session could not be saved")]
    Session(#[source] SessionWriteError),
    /// The session store could not be reached: the request is answered 503 and
    /// nobody is signed out by it.
    #[error("the session store is unavailable; try again in a moment")]
    StoreUnavailable(#[source] StoreError),
    /// The OP refused the refresh token (`invalid_grant`: expired or
    /// revoked); the user has to sign in again.
    #[error("the session can no longer be refreshed; sign in again")]
    ReauthenticationRequired,
    /// The session has no refresh token to refresh with.
    #[error(
        "the session has no refresh token (ask for the offline_access scope, or sign in again)"
    )]
    NoRefreshToken,
    /// The refresh grant failed.
    #[error("the token refresh failed")]
    Refresh(#[source] TokenError),
    /// The refreshed ID token failed validation (Core §12.2).
    #[error("the refreshed ID token was rejected")]
    RefreshedIdToken(#[source] IdTokenError),
    /// The session has no access token to call userinfo with.
    #[error("the session has no access token")]
    NoAccessToken,
    /// The userinfo request failed.
    #[error("the userinfo request failed")]
    Userinfo(#[source] UserinfoError),
    /// The back-channel logout request or its logout token was rejected.
    #[error("the logout request was rejected: {0}")]
    InvalidLogoutRequest(String),
    /// A guard or extractor ran on a route that the layer does not wrap.
    #[error("server misconfiguration: OidcLayer is not installed on this route")]
    LayerMissing,
}

/// Why a session could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionWriteError {
    /// The session could not be sealed or serialized.
    #[error(transparent)]
    Data(#[from] crate::session::SessionDataError),
    /// The sealed value does not fit in the session cookies.
    #[error(transparent)]
    Cookie(#[from] crate::session::SessionCookieError),
    /// The transaction cookie could not be written.
    #[error(transparent)]
    Transaction(#[from] crate::session::TransactionError),
    /// The claims could not be serialized.
    #[error("the claims could not be serialized")]
    Claims(#[source] serde_json::Error),
    /// A session just written could not be read back (not expected to happen).
    #[error("the new session could not be read back")]
    Unreadable,
    /// A cookie is not a valid header value.
    #[error("a cookie is not a valid header value")]
    Header(#[source] http::header::InvalidHeaderValue),
}

impl From<SessionWriteError> for OidcError {
    fn from(error: SessionWriteError) -> Self {
        OidcError::Session(error)
    }
}

impl From<StoreError> for OidcError {
    fn from(error: StoreError) -> Self {
        OidcError::StoreUnavailable(error)
    }
}

impl OidcError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            OidcError::Unauthenticated | OidcError::ReauthenticationRequired => {
                StatusCode::UNAUTHORIZED
            }
            OidcError::Forbidden { .. } | OidcError::LoginRefused(_) => StatusCode::FORBIDDEN,
            OidcError::InvalidReturnTo(_)
            | OidcError::NoPendingLogin
            | OidcError::BadCallback(_)
            | OidcError::CallbackRejected(_)
            | OidcError::UnknownState
            | OidcError::WrongResponseMode
            | OidcError::Provider { .. }
            | OidcError::IdToken(_)
            | OidcError::NoRefreshToken
            | OidcError::NoAccessToken
            | OidcError::InvalidLogoutRequest(_) => StatusCode::BAD_REQUEST,
            OidcError::TokenExchange(_)
            | OidcError::PushedAuthorization(_)
            | OidcError::TokenExchangeGrant(_)
            | OidcError::NoIdToken
            | OidcError::ProviderUnavailable(_)
            | OidcError::Refresh(_)
            | OidcError::RefreshedIdToken(_)
            | OidcError::Userinfo(_) => StatusCode::BAD_GATEWAY,
            OidcError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OidcError::Session(_) | OidcError::LayerMissing | OidcError::LoginRequest(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// A stable machine-readable code for JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Unauthenticated => "unauthenticated",
            OidcError::Forbidden { .. } => "forbidden",
            OidcError::InvalidReturnTo(_) => "invalid_return_to",
            OidcError::NoPendingLogin => "no_pending_login",
            OidcError::LoginRequest(_) => "login_request_invalid",
            OidcError::BadCallback(_) => "invalid_callback",
            OidcError::CallbackRejected(_)
            | OidcError::UnknownState
            | OidcError::WrongResponseMode => "callback_rejected",
            OidcError::Provider { .. } => "provider_error",
            OidcError::TokenExchange(_) | OidcError::NoIdToken => "token_exchange_failed",
            OidcError::PushedAuthorization(_) => "pushed_authorization_failed",
            OidcError::TokenExchangeGrant(_) => "token_exchange_grant_failed",
            OidcError::IdToken(_) => "invalid_id_token",
            OidcError::LoginRefused(_) => "login_refused",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::Session(_) => "session_error",
            OidcError::StoreUnavailable(_) => "session_store_unavailable",
            OidcError::NoRefreshToken => "no_refresh_token",
            OidcError::ReauthenticationRequired => "reauthentication_required",
            OidcError::Refresh(_) | OidcError::RefreshedIdToken(_) => "refresh_failed",
            OidcError::NoAccessToken | OidcError::Userinfo(_) => "userinfo_failed",
            OidcError::InvalidLogoutRequest(_) => "invalid_request",
            OidcError::LayerMissing => "layer_missing",
        }
    }

    /// The message and its causes, joined: what error pages and JSON bodies
    /// show. Causes never carry tokens, codes or secrets.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            let more = error.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = error.source();
        }
        text
    }

    /// Renders the error for a request with the given headers: an HTML page
    /// when the client asks for HTML (its "home" link goes to `home`), JSON
    /// otherwise.
    pub fn to_response(&self, request_headers: &HeaderMap, home: &str) -> http::Response<Bytes> {
        if wants_html(request_headers) {
            self.to_html(home)
        } else {
            self.to_json()
        }
    }

    /// The JSON rendering: `{"error": code, "error_description": message}`.
    pub fn to_json(&self) -> http::Response<Bytes> {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.describe(),
        });
        let mut response = http::Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status();
        apply_error_headers(response.headers_mut(), "application/json");
        if self.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }

    fn to_html(&self, home: &str) -> http::Response<Bytes> {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        // A failure of our own infrastructure shows its message, not its
        // cause (an OS error or a backend's text is for the logs); what the
        // OP answered stays on the page, it is what the developer must fix.
        let message = if matches!(self, OidcError::StoreUnavailable(_) | OidcError::Session(_)) {
            self.to_string()
        } else {
            self.describe()
        };
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{ERROR_PAGE_STYLE}</style></head>\
             <body><main><h1>{title}</h1><p>{}</p><p><a href=\"{}\">Home</a></p></main></body></html>",
            html_escape(&message),
            html_escape(home),
        );
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = status;
        apply_error_headers(response.headers_mut(), "text/html; charset=utf-8");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The error pages' look: readable, centred, nothing loaded from elsewhere.
const ERROR_PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1d2430;margin:0}\
main{max-width:32rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:1.4rem;margin-top:0}\
a{color:#2456d6}";

fn apply_error_headers(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// True when the request's `Accept` header asks for HTML (a browser
/// navigation): a `text/html` media range whose quality is not zero.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(accepts_html)
}

fn accepts_html(range: &str) -> bool {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/html") {
        return false;
    }
    for param in parts {
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            return value.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
        }
    }
    true
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

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn html_error_page_escapes_markup_and_links_home() {
        let err = OidcError::Provider {
            error: "<script>".into(),
            description: Some("\"x\"".into()),
        };
        let response = err.to_response(&accept("text/html"), "/app/");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("href=\"/app/\""), "{body}");
    }

    #[test]
    fn json_error_for_non_browser_clients() {
        let response = OidcError::Unauthenticated.to_response(&HeaderMap::new(), "/");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn store_outage_is_503_with_retry_after() {
        let error = OidcError::StoreUnavailable(StoreError::unavailable(
            "test store",
            std::io::Error::other("down"),
        ));
        let response = error.to_response(&HeaderMap::new(), "/");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert!(body.contains("session_store_unavailable"), "{body}");
    }

    #[test]
    fn wants_html_honours_a_zero_quality() {
        assert!(wants_html(&accept("text/html")));
        assert!(wants_html(&accept("application/json, text/html;q=0.5")));
        assert!(wants_html(&accept("TEXT/HTML; q=1")));
        assert!(!wants_html(&accept("text/html;q=0")));
        assert!(!wants_html(&accept("text/html; q=0.0, application/json")));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("text/htmlx")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn describe_joins_the_causes() {
        let error = OidcError::StoreUnavailable(StoreError::unavailable(
            "redis session store",
            std::io::Error::other("connection refused"),
        ));
        let text = error.describe();
        assert!(text.contains("redis session store"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }

    #[test]
    fn escape_covers_all_markup_characters() {
        assert_eq!(
            html_escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
