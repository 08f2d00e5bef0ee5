//! The engine: the sign-in routes (login, callback, logout) and session
//! lookup, wiring the sans-IO rules of `portcullis-core` to HTTP and cookies.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::authorize::{
    AuthorizationParams, PendingAuthorization, build_authorization_request,
};
use portcullis_core::callback::{CallbackParams, validate_callback};
use portcullis_core::end_session::end_session_url;
use portcullis_core::id_token::{
    IdTokenClaims, IdTokenExpectations, validate_id_token, validate_refreshed_id_token,
};
use portcullis_core::return_to::sanitize_return_to;
use portcullis_core::token::{TokenError, TokenResponse, refresh_request, token_request};
use portcullis_core::userinfo::{merge_userinfo, userinfo_request};
use portcullis_core::{ClientConfig, HttpRequest, HttpResponse, ResponseMode};
use serde_json::value::RawValue;

use crate::clock::now_unix;
use crate::config::{ConfigError, Settings, join_base};
use crate::context::ActiveSession;
use crate::error::{OidcError, wants_html};
use crate::handle::{LoginOptions, LogoutOptions};
use crate::hooks::AfterCallbackContext;
use crate::http_client::HttpClient;
use crate::provider::Provider;
use crate::session::{
    CookieOptions, PresentCookies, SessionData, SessionKeys, TransactionStore, removal_cookies,
    replace_session_cookies, scan_session_cookie_bytes, scan_session_cookies,
};
use crate::session_cache::SessionCache;

/// The claims a refreshed ID token updates in the session.
const REFRESHED_PROTOCOL_CLAIMS: &[&str] = &["exp", "iat", "nbf"];

/// The largest callback body accepted (form_post), in bytes.
const MAX_CALLBACK_BODY: usize = 64 * 1024;

/// Which built-in route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Login,
    Callback,
    Logout,
}

/// The outcome of looking for a session in a request.
pub(crate) enum SessionLookup {
    /// A valid, unexpired session.
    Active(Arc<ActiveSession>),
    /// No session cookie.
    Absent,
    /// A session cookie that is expired, tampered with or unreadable; the
    /// cookies that clear it.
    Invalid(Vec<HeaderValue>),
}

/// The shared state behind every clone of the layer.
pub(crate) struct Engine {
    settings: Settings,
    client: ClientConfig,
    provider: Provider,
    keys: SessionKeys,
    session_cookie: CookieOptions,
    transaction_cookie: CookieOptions,
    cache: SessionCache,
}

impl Engine {
    /// Discovers the OP and prepares keys and cookie settings.
    pub(crate) async fn start(settings: Settings, now: u64) -> Result<Self, ConfigError> {
        let keys = SessionKeys::from_secret_list(settings.secret.expose()).map_err(|e| {
            ConfigError::Invalid {
                name: "SECRET",
                reason: e.to_string(),
            }
        })?;
        let http = HttpClient::new(settings.http_timeout).map_err(|e| ConfigError::Invalid {
            name: "http client",
            reason: e.to_string(),
        })?;
        let provider = Provider::discover(&settings.issuer, http, now)
            .await
            .map_err(|e| ConfigError::Discovery(e.to_string()))?;
        let client = ClientConfig {
            issuer: settings.issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            auth_method: settings.auth_method,
            redirect_uri: settings.redirect_uri()?,
            scope: settings.scope.clone(),
            response_mode: settings.response_mode,
            id_token_algs: settings.id_token_algs.clone(),
            clock_skew_secs: settings.clock_skew_secs,
        };
        // Cookies are scoped to the application's path, so two apps under
        // different prefixes of one host do not clobber each other's session.
        let cookie_path = match settings.base_url.path().trim_end_matches('/') {
            "" => "/".to_owned(),
            prefix => prefix.to_owned(),
        };
        let mut session_cookie = CookieOptions::for_session(settings.secure_cookies);
        session_cookie.path = cookie_path.clone();
        let mut transaction_cookie = CookieOptions::for_transaction(settings.secure_cookies);
        transaction_cookie.path = cookie_path;
        Ok(Self {
            cache: SessionCache::new(settings.session_cache_capacity),
            settings,
            client,
            provider,
            keys,
            session_cookie,
            transaction_cookie,
        })
    }

    /// Whether every route requires a signed-in user.
    pub(crate) fn auth_required(&self) -> bool {
        self.settings.auth_required
    }

    /// The built-in route this request is for, if any.
    pub(crate) fn route_for(&self, path: &str) -> Option<RouteKind> {
        let routes = &self.settings.routes;
        if routes.callback.as_deref() == Some(path) {
            Some(RouteKind::Callback)
        } else if routes.login.as_deref() == Some(path) {
            Some(RouteKind::Login)
        } else if routes.logout.as_deref() == Some(path) {
            Some(RouteKind::Logout)
        } else {
            None
        }
    }

    /// Serves a built-in route.
    pub(crate) async fn handle_route(&self, route: RouteKind, request: Request) -> Response {
        let method = request.method().clone();
        let allowed = match route {
            RouteKind::Login => method == Method::GET,
            RouteKind::Callback | RouteKind::Logout => {
                method == Method::GET || method == Method::POST
            }
        };
        if !allowed {
            let allow = match route {
                RouteKind::Login => "GET",
                RouteKind::Callback | RouteKind::Logout => "GET, POST",
            };
            let mut response =
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        match route {
            RouteKind::Login => {
                let (parts, _body) = request.into_parts();
                let options = LoginOptions {
                    return_to: query_param(&parts.uri, "returnTo"),
                    ..LoginOptions::default()
                };
                self.login(&parts, options).await
            }
            RouteKind::Callback => self.callback(request).await,
            RouteKind::Logout => {
                let options = LogoutOptions {
                    return_to: query_param(request.uri(), "returnTo"),
                    idp_logout: None,
                };
                let session = match self.lookup_session(request.headers(), now_unix()) {
                    SessionLookup::Active(s) => Some(s),
                    _ => None,
                };
                self.logout(request.headers(), session.as_deref(), options)
            }
        }
    }

    /// The answer to an unauthenticated request to a protected route: a
    /// redirect to login that comes back to the same URL for browsers, else 401 JSON.
    ///
    /// The `returnTo` is the URL the application saw before any `Router::nest`
    /// stripped a prefix (axum's `OriginalUri`), relative to `BASE_URL`.
    pub(crate) fn reject_unauthenticated(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
    ) -> Response {
        if let (true, Some(login)) = (wants_html(headers), &self.settings.routes.login) {
            let uri = extensions
                .get::<axum::extract::OriginalUri>()
                .map(|original| &original.0)
                .unwrap_or(uri);
            let target = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
            let mut location = join_base(&self.settings.base_url, login)
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|_| login.clone());
            location.push_str("?returnTo=");
            location.push_str(&urlencode(target));
            return redirect(&location);
        }
        OidcError::Unauthenticated.into_response_for(headers)
    }

    /// Reads and decrypts the session cookie (the one cookie decrypt a request pays).
    pub(crate) fn lookup_session(&self, headers: &HeaderMap, now: u64) -> SessionLookup {
        let name = &self.settings.session_cookie;
        let scan = scan_session_cookie_bytes(headers.get_all(header::COOKIE), name);
        if scan.present.is_empty() {
            return SessionLookup::Absent;
        }
        let Some(sealed) = scan.value else {
            return SessionLookup::Invalid(self.removal_for(&scan.present));
        };
        let session = match self.cache.get(&sealed) {
            Some(cached) => cached,
            None => match std::str::from_utf8(&sealed)
                .map_err(|_| ())
                .and_then(|text| SessionData::open(&self.keys, name, text).map_err(|_| ()))
            {
                Ok(data) => {
                    let session = Arc::new(ActiveSession::new(data));
                    self.cache.insert(&sealed, session.clone());
                    session
                }
                Err(_) => return SessionLookup::Invalid(self.removal_for(&scan.present)),
            },
        };
        if session.data.is_expired(now, &self.settings.durations) {
            self.cache.remove(&sealed);
            return SessionLookup::Invalid(self.removal_for(&scan.present));
        }
        SessionLookup::Active(session)
    }

    /// True when `response` already sets (or clears) the session cookie or one
    /// of its chunks.
    pub(crate) fn sets_session_cookie(&self, response: &Response) -> bool {
        let name = self.settings.session_cookie.as_bytes();
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|value| {
                value
                    .as_bytes()
                    .strip_prefix(name)
                    .is_some_and(|rest| match rest {
                        [b'=', ..] => true,
                        // A chunk (`name.0=`), not another cookie such as `name.txn`.
                        [b'.', digit, ..] => digit.is_ascii_digit(),
                        _ => false,
                    })
            })
    }

    /// Re-sealed session cookies when a rolling session is due for renewal.
    pub(crate) fn touch_cookies(
        &self,
        session: &ActiveSession,
        headers: &HeaderMap,
        now: u64,
    ) -> Option<Vec<HeaderValue>> {
        if !session.data.needs_touch(now, &self.settings.durations) {
            return None;
        }
        // Requests that still carry this cookie (in flight while the browser
        // stores the renewed one, or a client that ignores Set-Cookie) reuse
        // the renewal instead of sealing again.
        let interval = self.settings.durations.touch_interval().unwrap_or(0).max(1);
        if let Some(cookies) = session.recent_renewal(now, interval) {
            return Some(cookies);
        }
        let mut data = session.data.clone();
        data.touch(now);
        match self.session_set_cookies(&data, headers, now) {
            Ok(cookies) => {
                session.remember_renewal(now, &cookies);
                Some(cookies)
            }
            Err(error) => {
                tracing::warn!(%error, "could not renew the rolling session cookie");
                None
            }
        }
    }

    /// Starts a login.
    pub(crate) async fn login(&self, parts: &Parts, options: LoginOptions) -> Response {
        match self.try_login(parts, options) {
            Ok(response) => response,
            Err(error) => error.into_response_for(&parts.headers),
        }
    }

    fn try_login(&self, parts: &Parts, options: LoginOptions) -> Result<Response, OidcError> {
        let now = now_unix();
        let return_to = match options.return_to {
            Some(target) => self.safe_return_to(&target)?,
            // The application's root (relative targets are resolved against
            // `BASE_URL`'s path when the user is sent there).
            None => "/".to_owned(),
        };
        let params = merge_params(
            &self.settings.authorization_params,
            options.authorization_params,
        );
        let (url, mut pending) =
            build_authorization_request(self.provider.metadata(), &self.client, &params, now)
                .map_err(|e| OidcError::LoginRequest(e.to_string()))?;
        pending.return_to = return_to;
        pending.app_state = self
            .settings
            .login_state
            .as_ref()
            .and_then(|hook| hook(parts));
        let mut store = self.read_transactions(&parts.headers, now);
        store.push(pending.state.clone(), pending, now);
        let cookie = self.transaction_cookie(&mut store)?;
        let mut response = redirect(url.as_str());
        append_all(&mut response, vec![cookie]);
        Ok(response)
    }

    /// Handles the authorization response (GET query or form_post).
    pub(crate) async fn callback(&self, request: Request) -> Response {
        let headers = request.headers().clone();
        let mut response = match self.try_callback(request).await {
            Ok(response) => response,
            Err((error, txn_cookies)) => {
                tracing::info!(error = %error, "sign-in callback rejected");
                let mut response = error.into_response_for(&headers);
                append_all(&mut response, txn_cookies);
                response
            }
        };
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }

    async fn try_callback(
        &self,
        request: Request,
    ) -> Result<Response, (OidcError, Vec<HeaderValue>)> {
        let now = now_unix();
        let (parts, body) = request.into_parts();
        let pairs = callback_pairs(&parts, body)
            .await
            .map_err(|e| (e, Vec::new()))?;
        let params = CallbackParams::from_pairs(pairs)
            .map_err(|e| (OidcError::BadCallback(e.to_string()), Vec::new()))?;
        let mut store = self.read_transactions(&parts.headers, now);
        if store.is_empty() {
            return Err((OidcError::NoPendingLogin, Vec::new()));
        }
        let state = params.state().unwrap_or_default().to_owned();
        // The state is single-use: the flow leaves the cookie whatever happens next.
        let Some(pending) = store.take(&state, now) else {
            return Err((
                OidcError::CallbackRejected(
                    "the state parameter does not match any login in progress".into(),
                ),
                Vec::new(),
            ));
        };
        let txn_cookies = vec![
            self.transaction_cookie(&mut store)
                .map_err(|e| (e, Vec::new()))?,
        ];
        if pending.response_mode == ResponseMode::FormPost && parts.method != Method::POST {
            // A form_post flow answered in the URL: the code leaked into
            // history and logs, so it is not redeemed.
            return Err((
                OidcError::CallbackRejected(
                    "this login expected a form_post response but got a query response".into(),
                ),
                txn_cookies,
            ));
        }
        match self
            .complete_login(&params, pending, &parts.headers, now)
            .await
        {
            Ok(mut response) => {
                append_all(&mut response, txn_cookies);
                Ok(response)
            }
            Err(error) => Err((error, txn_cookies)),
        }
    }

    async fn complete_login(
        &self,
        params: &CallbackParams,
        pending: PendingAuthorization,
        request_headers: &HeaderMap,
        now: u64,
    ) -> Result<Response, OidcError> {
        let metadata = self.provider.metadata();
        let code = validate_callback(params, &pending, metadata, now).map_err(|e| match e {
            portcullis_core::callback::CallbackError::Provider { error, description } => {
                OidcError::Provider { error, description }
            }
            other => OidcError::CallbackRejected(other.to_string()),
        })?;
        let request = token_request(metadata, &self.client, &code, &pending)
            .map_err(|e| OidcError::TokenExchange(e.to_string()))?;
        let response = self.send(request).await?;
        let tokens = TokenResponse::from_response(&response, now)
            .map_err(|e| OidcError::TokenExchange(e.to_string()))?;
        let id_token = tokens
            .id_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .ok_or_else(|| OidcError::TokenExchange("the token response has no id_token".into()))?;
        let claims = self.validate_id_token(&id_token, &pending, now).await?;
        let mut merged = claims.claims.clone();
        if self.settings.fetch_userinfo
            && metadata.userinfo_endpoint.is_some()
            && let Ok(request) = userinfo_request(metadata, tokens.access_token.expose())
        {
            match self.send(request).await {
                Ok(response) => match merge_userinfo(&claims.claims, &response) {
                    Ok(with_userinfo) => merged = with_userinfo,
                    Err(error) => tracing::warn!(%error, "userinfo discarded"),
                },
                Err(error) => tracing::warn!(%error, "userinfo request failed"),
            }
        }
        let mut context = AfterCallbackContext {
            claims: merged,
            session_extra: Default::default(),
            id_token,
            access_token: Some(tokens.access_token.expose().to_owned()),
            refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()),
            app_state: pending.app_state.clone(),
            return_to: pending.return_to.clone(),
        };
        if let Some(hook) = &self.settings.after_callback {
            context = hook(context)
                .await
                .map_err(|refusal| OidcError::LoginRefused(refusal.message))?;
        }
        let claims_json = raw_claims(&context.claims)?;
        let data = SessionData {
            created_at: now,
            refreshed_at: now,
            claims: claims_json,
            id_token: context.id_token,
            access_token: context.access_token,
            token_type: Some(tokens.token_type.clone()),
            expires_at: tokens.expires_at,
            refresh_token: context.refresh_token,
            scope: tokens.scope.clone(),
            extra: context.session_extra,
            iss: claims.iss.clone(),
            sub: claims.sub.clone(),
            sid: claims.sid.clone(),
        };
        // A brand-new sealed session replaces whatever the browser had (no fixation).
        let cookies = self
            .session_set_cookies(&data, request_headers, now)
            .map_err(|e| OidcError::Session(e.to_string()))?;
        // The hook may have changed the target: it gets the same checks.
        let target = self
            .safe_return_to(&context.return_to)
            .unwrap_or_else(|_| "/".to_owned());
        let mut response = redirect(&self.app_target(&target));
        append_all(&mut response, cookies);
        Ok(response)
    }

    async fn validate_id_token(
        &self,
        token: &str,
        pending: &PendingAuthorization,
        now: u64,
    ) -> Result<portcullis_core::id_token::IdTokenClaims, OidcError> {
        let expectations = IdTokenExpectations {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            client_secret: self.settings.client_secret.as_ref(),
            allowed_algs: &self.settings.id_token_algs,
            nonce: Some(pending.nonce.as_str()),
            max_age: pending.max_age,
            now,
            skew_secs: self.settings.clock_skew_secs,
        };
        let keys = self.provider.keys(now).await;
        match validate_id_token(token, &keys, &expectations) {
            Err(error) if error.is_unknown_kid() => {
                let Some(fresh) = self.provider.keys_after_unknown_kid(now).await else {
                    return Err(OidcError::IdToken(
                        "signed with a key the provider does not publish".into(),
                    ));
                };
                validate_id_token(token, &fresh, &expectations)
                    .map_err(|e| OidcError::IdToken(e.to_string()))
            }
            other => other.map_err(|e| OidcError::IdToken(e.to_string())),
        }
    }

    /// Uses the session's refresh token: new access token (and refresh token
    /// when the OP rotates it), a validated refreshed ID token when the OP
    /// sends one (same `iss`, `sub`, `aud` and `azp`, Core §12.2). Returns the
    /// updated session and the cookies that store it.
    pub(crate) async fn refresh(
        &self,
        session: &ActiveSession,
        request_headers: &HeaderMap,
    ) -> Result<(ActiveSession, Vec<HeaderValue>), OidcError> {
        let now = now_unix();
        let refresh_token = session
            .data
            .refresh_token
            .as_deref()
            .ok_or(OidcError::NoRefreshToken)?;
        let metadata = self.provider.metadata();
        let request = refresh_request(metadata, &self.client, refresh_token, None)
            .map_err(|e| OidcError::Refresh(e.to_string()))?;
        let response = self.send(request).await?;
        let tokens = TokenResponse::from_response(&response, now).map_err(|e| match e {
            TokenError::Provider { error, .. } if error == "invalid_grant" => {
                OidcError::ReauthenticationRequired
            }
            other => OidcError::Refresh(other.to_string()),
        })?;
        let mut data = session.data.clone();
        if let Some(id_token) = &tokens.id_token {
            let original = stored_id_token_claims(&session.data.id_token)
                .ok_or_else(|| OidcError::Refresh("the stored ID token is unreadable".into()))?;
            let expectations = IdTokenExpectations {
                issuer: &self.settings.issuer,
                client_id: &self.settings.client_id,
                client_secret: self.settings.client_secret.as_ref(),
                allowed_algs: &self.settings.id_token_algs,
                nonce: None,
                max_age: None,
                now,
                skew_secs: self.settings.clock_skew_secs,
            };
            let mut keys = self.provider.keys(now).await;
            let mut result =
                validate_refreshed_id_token(id_token.expose(), &keys, &expectations, &original);
            if matches!(&result, Err(e) if e.is_unknown_kid())
                && let Some(fresh) = self.provider.keys_after_unknown_kid(now).await
            {
                keys = fresh;
                result =
                    validate_refreshed_id_token(id_token.expose(), &keys, &expectations, &original);
            }
            let refreshed = result.map_err(|e| OidcError::Refresh(e.to_string()))?;
            // Only the time-bound protocol claims move forward: the user's
            // claims stay as the login (and its after_callback hook) left them.
            let mut claims = session.claims().clone();
            for name in REFRESHED_PROTOCOL_CLAIMS {
                if let Some(value) = refreshed.claims.get(*name) {
                    claims.insert((*name).to_owned(), value.clone());
                }
            }
            data.claims = raw_claims(&claims)?;
            data.id_token = id_token.expose().to_owned();
        }
        data.access_token = Some(tokens.access_token.expose().to_owned());
        data.token_type = Some(tokens.token_type.clone());
        data.expires_at = tokens.expires_at;
        if let Some(rotated) = &tokens.refresh_token {
            data.refresh_token = Some(rotated.expose().to_owned());
        }
        if tokens.scope.is_some() {
            data.scope = tokens.scope.clone();
        }
        data.touch(now);
        let cookies = self.session_set_cookies(&data, request_headers, now)?;
        Ok((ActiveSession::new(data), cookies))
    }

    /// Calls the userinfo endpoint with the session's access token. The
    /// answer is returned only when its `sub` equals the session's.
    pub(crate) async fn fetch_userinfo(
        &self,
        session: &ActiveSession,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let access_token = session
            .data
            .access_token
            .as_deref()
            .ok_or_else(|| OidcError::Userinfo("the session has no access token".into()))?;
        let request = userinfo_request(self.provider.metadata(), access_token)
            .map_err(|e| OidcError::Userinfo(e.to_string()))?;
        let response = self.send(request).await?;
        let mut subject = serde_json::Map::new();
        subject.insert("sub".into(), session.data.sub.clone().into());
        let merged =
            merge_userinfo(&subject, &response).map_err(|e| OidcError::Userinfo(e.to_string()))?;
        Ok(merged)
    }

    /// Signs out locally, and at the OP when IdP logout is on.
    pub(crate) fn logout(
        &self,
        headers: &HeaderMap,
        session: Option<&ActiveSession>,
        options: LogoutOptions,
    ) -> Response {
        // A bad target never keeps the user signed in: the logout happens and
        // the default target is used instead.
        let return_to = options
            .return_to
            .and_then(|target| self.safe_return_to(&target).ok())
            .unwrap_or_else(|| self.settings.routes.post_logout_redirect.clone());
        let clear = self.clear_session_cookies(headers);
        let idp_logout = options.idp_logout.unwrap_or(self.settings.idp_logout);
        let target = match (idp_logout, session) {
            (true, Some(session)) => {
                let absolute = if return_to.starts_with('/') {
                    join_base(&self.settings.base_url, &return_to).ok()
                } else {
                    url::Url::parse(&return_to).ok()
                };
                end_session_url(
                    self.provider.metadata(),
                    &self.settings.client_id,
                    Some(&session.data.id_token),
                    absolute.as_ref(),
                    None,
                )
                .map(|u| u.to_string())
                .unwrap_or_else(|| self.app_target(&return_to))
            }
            _ => self.app_target(&return_to),
        };
        let mut response = redirect(&target);
        append_all(&mut response, clear);
        response
    }

    /// Where to send the browser for a checked target: an app-relative path is
    /// put under `BASE_URL`'s path (the prefix a proxy strips before the app
    /// sees the request); an absolute URL is used as it is.
    fn app_target(&self, target: &str) -> String {
        if target.starts_with('/') {
            let prefix = self.settings.base_url.path().trim_end_matches('/');
            format!("{prefix}{target}")
        } else {
            target.to_owned()
        }
    }

    fn safe_return_to(&self, target: &str) -> Result<String, OidcError> {
        sanitize_return_to(
            target,
            &self.settings.base_url,
            &self.settings.allowed_return_origins,
        )
        .map_err(|e| OidcError::InvalidReturnTo(e.to_string()))
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, OidcError> {
        self.provider
            .http()
            .execute(request)
            .await
            .map_err(|e| OidcError::ProviderUnavailable(e.to_string()))
    }

    /// Seals `data` into session cookies, clearing chunks the request had
    /// that the new value does not use.
    fn session_set_cookies(
        &self,
        data: &SessionData,
        request_headers: &HeaderMap,
        now: u64,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        let name = &self.settings.session_cookie;
        let sealed = data
            .seal(&self.keys, name)
            .map_err(|e| OidcError::Session(e.to_string()))?;
        let present = scan_session_cookies(request_headers.get_all(header::COOKIE), name).present;
        let max_age = data.cookie_max_age(now, &self.settings.durations);
        let cookies =
            replace_session_cookies(name, &sealed, &present, &self.session_cookie, max_age)
                .map_err(|e| OidcError::Session(e.to_string()))?;
        Ok(to_header_values(cookies))
    }

    fn clear_session_cookies(&self, headers: &HeaderMap) -> Vec<HeaderValue> {
        let scan = scan_session_cookies(
            headers.get_all(header::COOKIE),
            &self.settings.session_cookie,
        );
        self.removal_for(&scan.present)
    }

    fn removal_for(&self, present: &PresentCookies) -> Vec<HeaderValue> {
        to_header_values(removal_cookies(
            &self.settings.session_cookie,
            present,
            &self.session_cookie,
        ))
    }

    fn read_transactions(
        &self,
        headers: &HeaderMap,
        now: u64,
    ) -> TransactionStore<PendingAuthorization> {
        TransactionStore::from_headers(
            headers.get_all(header::COOKIE),
            &self.keys,
            &self.settings.transaction_cookie,
            now,
        )
    }

    /// The `Set-Cookie` value that stores the pending flows (or removes the
    /// cookie when none is left).
    fn transaction_cookie(
        &self,
        store: &mut TransactionStore<PendingAuthorization>,
    ) -> Result<HeaderValue, OidcError> {
        // Only a form_post answer is a cross-site POST that needs SameSite=None;
        // query-mode flows keep the stricter Lax.
        let needs_cross_site = store
            .iter()
            .any(|(_, flow)| flow.response_mode == ResponseMode::FormPost);
        let options = if needs_cross_site {
            &self.transaction_cookie
        } else {
            &self.session_cookie
        };
        let cookie = store
            .to_set_cookie(&self.keys, &self.settings.transaction_cookie, options)
            .map_err(|e| OidcError::Session(e.to_string()))?;
        HeaderValue::from_str(&cookie.encoded().to_string())
            .map_err(|_| OidcError::Session("the transaction cookie is not a valid header".into()))
    }
}

/// The claims as the raw JSON stored in the session.
fn raw_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<Box<RawValue>, OidcError> {
    serde_json::to_string(claims)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .ok_or_else(|| OidcError::Session("claims could not be serialized".into()))
}

/// The claims of the ID token kept in the session. It was fully validated at
/// login and has lived only inside the encrypted session since, so its
/// payload is read without a second signature check.
fn stored_id_token_claims(token: &str) -> Option<IdTokenClaims> {
    use base64::Engine as _;
    let decode = |segment: &str| -> Option<serde_json::Map<String, serde_json::Value>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let mut segments = token.split('.');
    let header = decode(segments.next()?)?;
    let claims = decode(segments.next()?)?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let aud = match claims.get("aud")? {
        serde_json::Value::String(one) => vec![one.clone()],
        serde_json::Value::Array(many) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return None,
    };
    Some(IdTokenClaims {
        iss: text("iss")?,
        sub: text("sub")?,
        aud,
        azp: text("azp"),
        exp: numeric_date(claims.get("exp")?)?,
        iat: numeric_date(claims.get("iat")?)?,
        nonce: text("nonce"),
        auth_time: claims.get("auth_time").and_then(numeric_date),
        sid: text("sid"),
        alg: header.get("alg")?.as_str()?.parse().ok()?,
        claims,
    })
}

/// A NumericDate as the core reads it: a non-negative number, fractions dropped.
fn numeric_date(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Extracts the callback parameters from the query (GET) or the form body (POST).
async fn callback_pairs(parts: &Parts, body: Body) -> Result<Vec<(String, String)>, OidcError> {
    if parts.method == Method::POST {
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(OidcError::BadCallback(
                "a POST callback must be application/x-www-form-urlencoded".into(),
            ));
        }
        let bytes = axum::body::to_bytes(body, MAX_CALLBACK_BODY)
            .await
            .map_err(|_| OidcError::BadCallback("the callback body is too large".into()))?;
        Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
    } else {
        let query = parts.uri.query().unwrap_or("");
        if query.len() > MAX_CALLBACK_BODY {
            return Err(OidcError::BadCallback(
                "the callback query is too large".into(),
            ));
        }
        Ok(url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect())
    }
}

/// Per-login parameters override the layer's defaults field by field; custom
/// parameters are combined, a per-login value replacing a default of the same name.
fn merge_params(
    defaults: &AuthorizationParams,
    overrides: AuthorizationParams,
) -> AuthorizationParams {
    let mut extra: Vec<(String, String)> = defaults
        .extra
        .iter()
        .filter(|(name, _)| !overrides.extra.iter().any(|(n, _)| n == name))
        .cloned()
        .collect();
    extra.extend(overrides.extra);
    AuthorizationParams {
        scope: overrides.scope.or_else(|| defaults.scope.clone()),
        response_mode: overrides.response_mode.or(defaults.response_mode),
        prompt: overrides.prompt.or_else(|| defaults.prompt.clone()),
        login_hint: overrides.login_hint.or_else(|| defaults.login_hint.clone()),
        max_age: overrides.max_age.or(defaults.max_age),
        acr_values: overrides.acr_values.or_else(|| defaults.acr_values.clone()),
        audience: overrides.audience.or_else(|| defaults.audience.clone()),
        ui_locales: overrides.ui_locales.or_else(|| defaults.ui_locales.clone()),
        extra,
    }
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A 302 with `Cache-Control: no-store`.
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn append_all(response: &mut Response, cookies: Vec<HeaderValue>) {
    let headers = response.headers_mut();
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

fn to_header_values(cookies: Vec<cookie::Cookie<'static>>) -> Vec<HeaderValue> {
    cookies
        .into_iter()
        .filter_map(|c| HeaderValue::from_str(&c.encoded().to_string()).ok())
        .collect()
}
