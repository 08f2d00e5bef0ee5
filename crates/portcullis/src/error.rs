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
    /// The ID token does not match its access token or code (`at_hash`,
    /// `c_hash`), or lacks the `acr` requested as essential.
    #[error("the ID token was rejected")]
    IdTokenBinding(#[source] portcullis_core::token_binding::TokenBindingError),
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
    /// The OP could not be reached for a refresh, or said it is unavailable:
    /// a 503, and the session is kept.
    #[error("the identity provider is unavailable for a token refresh; try again in a moment")]
    RefreshUnavailable(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// Another replica's refresh of this session did not finish in time: a
    /// 503, and the session is kept.
    #[error("a token refresh of this session is still running; try again in a moment")]
    RefreshBusy,
    /// The refresh this request waited for (run by a concurrent request)
    /// failed with this error.
    #[error("the token refresh failed")]
    RefreshShared(#[source] std::sync::Arc<OidcError>),
    /// The refreshed ID token failed validation (Core §12.2).
    #[error("the refreshed ID token was rejected")]
    RefreshedIdToken(#[source] IdTokenError),
    /// The session's JWT access token did not verify (signature, issuer,
    /// audience, expiry or type).
    #[error("the access token was rejected")]
    AccessTokenClaims(#[source] portcullis_core::access_token::AccessTokenError),
    /// The session has no access token (for userinfo or token exchange).
    #[error("the session has no access token (the OP returned none at sign-in); sign in again")]
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
            | OidcError::IdTokenBinding(_)
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
            | OidcError::Userinfo(_)
            | OidcError::AccessTokenClaims(_) => StatusCode::BAD_GATEWAY,
            OidcError::StoreUnavailable(_)
            | OidcError::RefreshUnavailable(_)
            | OidcError::RefreshBusy => StatusCode::SERVICE_UNAVAILABLE,
            OidcError::RefreshShared(inner) => inner.status(),
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
            OidcError::IdToken(_) | OidcError::IdTokenBinding(_) => "invalid_id_token",
            OidcError::LoginRefused(_) => "login_refused",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::Session(_) => "session_error",
            OidcError::StoreUnavailable(_) => "session_store_unavailable",
            OidcError::NoRefreshToken => "no_refresh_token",
            OidcError::ReauthenticationRequired => "reauthentication_required",
            OidcError::Refresh(_) | OidcError::RefreshedIdToken(_) => "refresh_failed",
            OidcError::RefreshUnavailable(_) => "refresh_unavailable",
            OidcError::AccessTokenClaims(_) => "invalid_access_token",
            OidcError::RefreshBusy => "refresh_busy",
            OidcError::RefreshShared(inner) => inner.code(),
            OidcError::NoAccessToken => "no_access_token",
            OidcError::Userinfo(_) => "userinfo_failed",
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
        let links = PageLinks {
            home: home.to_owned(),
            login: None,
        };
        self.page(&links).to_response(None)
    }

    /// The browser page for this error: a human title, what happened, and
    /// the next action. Never contains a token, code or secret.
    pub fn page(&self, links: &PageLinks) -> ErrorPage {
        let sign_in_again = PageAction {
            label: "Sign in again",
            href: links.login.clone().unwrap_or_else(|| links.home.clone()),
        };
        let go_home = PageAction {
            label: "Go to the home page",
            href: links.home.clone(),
        };
        // A failure of our own infrastructure shows its message, not its
        // cause (an OS error or a backend's text is for the logs); what the
        // OP answered stays on the page, it is what the developer must fix.
        let detail = if matches!(self, OidcError::StoreUnavailable(_) | OidcError::Session(_)) {
            None
        } else {
            Some(self.describe())
        };
        let (status, title, message, action) = match self {
            OidcError::Unauthenticated => (
                self.status(),
                "Please sign in",
                "This page is only for signed-in users.".to_owned(),
                PageAction {
                    label: "Sign in",
                    ..sign_in_again
                },
            ),
            OidcError::ReauthenticationRequired => (
                self.status(),
                "Your session has expired",
                "Your sign-in can no longer be renewed. Sign in again to continue.".to_owned(),
                sign_in_again,
            ),
            OidcError::Forbidden { .. } => (
                self.status(),
                "You don't have access to this page",
                "You are signed in, but your account does not meet this page's requirement. \
                 Ask the site's administrator for access, or sign in with another account."
                    .to_owned(),
                go_home,
            ),
            OidcError::NoPendingLogin | OidcError::UnknownState => (
                self.status(),
                "This sign-in link has expired",
                "The sign-in took too long, was already completed, or was started in another \
                 browser or tab. Start it again from here."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::Provider { error, .. } if error == "access_denied" => (
                // The user said no at the OP: a normal outcome, not a bad request.
                StatusCode::OK,
                "Sign-in was cancelled",
                "You cancelled the sign-in, or the sign-in service did not allow it. Nothing \
                 was changed. You can sign in again whenever you like."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::Provider { error, .. } if error == "login_required" => (
                self.status(),
                "You are not signed in at the sign-in service",
                "A silent sign-in needs an existing session at the sign-in service. Sign in \
                 to continue."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::Provider { .. } => (
                self.status(),
                "The sign-in service reported a problem",
                "The sign-in service could not complete the sign-in. Try again; if it keeps \
                 happening, the details below help the site's developers."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::BadCallback(_)
            | OidcError::CallbackRejected(_)
            | OidcError::WrongResponseMode
            | OidcError::IdToken(_) => (
                self.status(),
                "This sign-in could not be accepted",
                "The answer from the sign-in service failed a security check, so you were not \
                 signed in. Start the sign-in again."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::InvalidReturnTo(_) => (
                self.status(),
                "That link points elsewhere",
                "The page to return to after signing in is not part of this site, so the \
                 sign-in was not started."
                    .to_owned(),
                go_home,
            ),
            OidcError::LoginRefused(message) => (
                self.status(),
                "Sign-in was refused",
                message.clone(),
                sign_in_again,
            ),
            OidcError::TokenExchange(_) | OidcError::NoIdToken => (
                self.status(),
                "Sign-in could not be completed",
                "The sign-in service did not accept this site's request. Try again in a \
                 moment; if it keeps happening, the site's configuration needs attention \
                 (its logs say what)."
                    .to_owned(),
                sign_in_again,
            ),
            OidcError::ProviderUnavailable(_) => (
                self.status(),
                "The sign-in service cannot be reached",
                "This site could not reach its sign-in service. Try again in a moment.".to_owned(),
                sign_in_again,
            ),
            OidcError::StoreUnavailable(_) => (
                self.status(),
                "Sign-in is briefly unavailable",
                "This site cannot reach its session store right now; nobody was signed out. \
                 Try again in a moment."
                    .to_owned(),
                PageAction {
                    label: "Try again",
                    href: String::new(),
                },
            ),
            OidcError::Session(_) => (
                self.status(),
                "Your session could not be saved",
                "Something went wrong on this site while signing you in. Try again; if it \
                 keeps happening, the site's logs say what."
                    .to_owned(),
                sign_in_again,
            ),
            _ => (
                self.status(),
                "Something went wrong",
                "This request could not be completed.".to_owned(),
                go_home,
            ),
        };
        ErrorPage {
            status,
            code: self.code(),
            title,
            message,
            detail: detail.filter(|d| d != &message_of(self)),
            action,
            home: links.home.clone(),
        }
    }
}

/// The message a page shows anyway, so the detail line does not repeat it.
fn message_of(error: &OidcError) -> String {
    match error {
        OidcError::LoginRefused(message) => message.clone(),
        _ => String::new(),
    }
}

/// Where an error page's links go.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PageLinks {
    /// The application's home (`BASE_URL`'s path).
    pub home: String,
    /// The login route (under `BASE_URL`'s path), when it is mounted.
    pub login: Option<String>,
}

impl PageLinks {
    /// Links to `home` and, when given, the login route.
    pub fn new(home: impl Into<String>, login: Option<String>) -> Self {
        Self {
            home: home.into(),
            login,
        }
    }
}

/// The next action an error page offers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageAction {
    /// The button's label ("Sign in again").
    pub label: &'static str,
    /// Where it goes (an app-relative URL; empty means "this page again").
    pub href: String,
}

/// A browser error page before rendering. The built-in renderer and an
/// application's [`ErrorRenderer`] get the same texts. All fields are plain
/// text: escape them (see [`escape_html`]) when writing HTML.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorPage {
    /// The page's HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code, as in the JSON body.
    pub code: &'static str,
    /// A human title ("Sign-in was cancelled").
    pub title: &'static str,
    /// What happened and what to do next, in a sentence or two.
    pub message: String,
    /// Technical detail for developers (what the OP said, which check
    /// failed). Never a token, code or secret.
    pub detail: Option<String>,
    /// The next action ("Sign in again").
    pub action: PageAction,
    /// The application's home.
    pub home: String,
}

impl ErrorPage {
    /// The built-in page as HTML: the look of the `portcullis demo` pages.
    pub fn to_html(&self) -> String {
        let detail = self
            .detail
            .as_deref()
            .map(|d| format!("<p class=\"detail\">{}</p>", escape_html(d)))
            .unwrap_or_default();
        let home = if self.action.href == self.home {
            String::new()
        } else {
            format!(
                " <a class=\"secondary\" href=\"{}\">Home</a>",
                escape_html(&self.home)
            )
        };
        // An empty href is this page again.
        let href = escape_html(&self.action.href);
        page_html(
            self.title,
            &format!(
                "<p>{message}</p><p class=\"actions\"><a id=\"next\" class=\"button\" \
                 href=\"{href}\">{label}</a>{home}</p>{detail}",
                message = escape_html(&self.message),
                label = escape_html(self.action.label),
            ),
        )
    }

    /// The page as a response: the given body (an application's renderer)
    /// or the built-in one, with `no-store` and `no-referrer`.
    pub fn to_response(&self, body: Option<String>) -> http::Response<Bytes> {
        let body = body.unwrap_or_else(|| self.to_html());
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = self.status;
        apply_error_headers(response.headers_mut(), "text/html; charset=utf-8");
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A page in the built-in look: `title` (plain text) as its heading, then
/// `inner` (HTML, already escaped).
pub(crate) fn page_html(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{PAGE_STYLE}</style></head>\
         <body><main><h1>{title}</h1>{inner}</main></body></html>",
        title = escape_html(title),
    )
}

/// Renders the browser error pages of an application (set it with
/// [`OidcLayerBuilder::error_renderer`](crate::OidcLayerBuilder::error_renderer)).
/// JSON answers to API clients are not affected.
///
/// Any `Fn(&ErrorPage, &OidcError) -> Option<String> + Send + Sync` is a
/// renderer. Return the page's HTML, or `None` to use the built-in page. The
/// status and headers (`Cache-Control: no-store`, `Referrer-Policy:
/// no-referrer`) stay Portcullis'. Never write the error's `Debug` form or a
/// token into the page.
pub trait ErrorRenderer: Send + Sync + 'static {
    /// The HTML body for `page`, or `None` for the built-in page.
    fn render(&self, page: &ErrorPage, error: &OidcError) -> Option<String>;
}

impl<F> ErrorRenderer for F
where
    F: Fn(&ErrorPage, &OidcError) -> Option<String> + Send + Sync + 'static,
{
    fn render(&self, page: &ErrorPage, error: &OidcError) -> Option<String> {
        self(page, error)
    }
}

/// The stylesheet of the built-in pages (error pages and the `portcullis
/// demo`): system fonts, a centred card, nothing loaded from elsewhere. Use it
/// to make your own pages match.
pub const PAGE_STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
background:#f6f7f9;color:#1d2430;margin:0;line-height:1.5}\
main{max-width:44rem;margin:8vh auto;padding:2rem 2.2rem;background:#fff;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:1.5rem;margin-top:0}h2{font-size:1.1rem;margin-top:1.8rem}\
a{color:#2456d6}pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}\
pre{background:#f3f5f8;padding:1rem;border-radius:6px;overflow:auto}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e6e9ee;vertical-align:top;overflow-wrap:anywhere}\
.button,button{display:inline-block;padding:.5rem 1rem;border-radius:6px;background:#2f5bd3;color:#fff;\
text-decoration:none;border:0;font:inherit;cursor:pointer;margin:0 .3rem .4rem 0}\
.button.secondary,button.secondary{background:#e8ecf4;color:#1d2430}\
a.secondary{margin-left:.6rem}.actions form{display:inline}\
.muted,.detail{color:#5b6675}.detail{font-size:.9rem;border-top:1px solid #e6e9ee;padding-top:.8rem;margin-top:1.5rem}";

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

/// Escapes text for an HTML body or attribute (`&`, `<`, `>`, `"`, `'`).
pub fn escape_html(text: &str) -> String {
    html_escape(text)
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
    fn a_session_without_an_access_token_is_not_reported_as_a_userinfo_failure() {
        let error = OidcError::NoAccessToken;
        assert_eq!(error.code(), "no_access_token");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(error.to_json().body()).expect("json");
        assert_eq!(body["error"], "no_access_token");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("sign in again")),
            "{body}"
        );
    }

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

    fn html_of(error: &OidcError, links: &PageLinks) -> (StatusCode, String) {
        let response = error.page(links).to_response(None);
        (
            response.status(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    #[test]
    fn an_expired_sign_in_has_a_human_title_and_a_sign_in_again_button() {
        let links = PageLinks::new("/app/", Some("/app/login".into()));
        for error in [OidcError::NoPendingLogin, OidcError::UnknownState] {
            let (status, body) = html_of(&error, &links);
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(
                body.contains("<h1>This sign-in link has expired</h1>"),
                "{body}"
            );
            assert!(
                body.contains("href=\"/app/login\">Sign in again</a>"),
                "{body}"
            );
            assert!(!body.contains("Bad Request"), "{body}");
        }
    }

    #[test]
    fn cancelling_at_the_op_is_a_normal_page_but_json_stays_as_it_was() {
        let error = OidcError::Provider {
            error: "access_denied".into(),
            description: Some("User cancelled".into()),
        };
        let (status, body) = html_of(&error, &PageLinks::new("/", Some("/login".into())));
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Sign-in was cancelled"), "{body}");
        assert!(body.contains("Sign in again"), "{body}");
        let json = error.to_json();
        assert_eq!(json.status(), StatusCode::BAD_REQUEST);
        let value: serde_json::Value = serde_json::from_slice(json.body()).expect("json");
        assert_eq!(value["error"], "provider_error");
        assert!(
            value["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("access_denied")),
            "{value}"
        );
    }

    #[test]
    fn forbidden_and_outage_pages_say_what_to_do_without_internal_causes() {
        let links = PageLinks::new("/", Some("/login".into()));
        let (status, body) = html_of(
            &OidcError::Forbidden {
                rule: "claim \"groups\" must include admin".into(),
            },
            &links,
        );
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body.contains("You don&#39;t have access to this page"),
            "{body}"
        );
        assert!(
            body.contains("must include admin"),
            "the rule is shown: {body}"
        );
        let outage = OidcError::StoreUnavailable(StoreError::unavailable(
            "redis session store",
            std::io::Error::other("secret-host:6379 refused"),
        ));
        let response = outage.page(&links).to_response(None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert!(body.contains("Try again"), "{body}");
        assert!(!body.contains("secret-host"), "no internal cause: {body}");
    }

    #[test]
    fn every_page_shares_the_stylesheet_and_escapes_its_texts() {
        let error = OidcError::LoginRefused("<b>verify</b> your email".into());
        let (status, body) = html_of(&error, &PageLinks::new("/", None));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains(PAGE_STYLE), "{body}");
        assert!(
            body.contains("&lt;b&gt;verify&lt;/b&gt; your email"),
            "{body}"
        );
        assert!(!body.contains("<b>verify"), "{body}");
    }

    #[test]
    fn a_custom_renderer_is_a_closure_over_the_same_page() {
        let renderer = |page: &ErrorPage, _: &OidcError| -> Option<String> {
            (page.code == "forbidden").then(|| format!("<p>custom {}</p>", page.title))
        };
        let forbidden = OidcError::Forbidden { rule: "x".into() };
        let page = forbidden.page(&PageLinks::new("/", None));
        assert_eq!(
            ErrorRenderer::render(&renderer, &page, &forbidden).as_deref(),
            Some("<p>custom You don't have access to this page</p>")
        );
        let other = OidcError::NoPendingLogin;
        let page = other.page(&PageLinks::new("/", None));
        assert_eq!(ErrorRenderer::render(&renderer, &page, &other), None);
    }

    #[test]
    fn escape_covers_all_markup_characters() {
        assert_eq!(
            html_escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
