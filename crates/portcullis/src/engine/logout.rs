//! Signing out: RP-initiated logout (with a checked `state`), local logout,
//! logout CSRF protection, and optional token revocation.
//!
//! Every logout ends the session itself, before the redirect: a server-side
//! session is destroyed, a cookie session gets a logout marker, so a copy of
//! the old cookie is refused afterwards.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use portcullis_core::end_session::end_session_url;
use portcullis_core::token::revocation_request;
use serde::{Deserialize, Serialize};

use super::response::{EngineResponse, append_cookies, html_page, query_param, redirect};
use super::{Authentication, Engine, MAX_ROUTE_BODY};
use crate::active::ActiveSession;
use crate::clock::{now_unix, now_unix_ms};
use crate::error::{OidcError, SessionWriteError, html_escape};
use crate::http_client::OpEndpoint;
use crate::options::LogoutOptions;
use crate::session::{CookiePurpose, read_cookie};
use crate::telemetry::{self, LogoutKind, LogoutOutcome};

/// How long the browser may take at the OP before coming back from an
/// RP-initiated logout, in seconds.
const LOGOUT_STATE_MAX_AGE_SECS: u64 = 10 * 60;

/// What travels through the OP during an RP-initiated logout, sealed in a
/// short-lived cookie: the `state` sent and the target to come back to.
#[derive(Serialize, Deserialize)]
struct PendingLogout {
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "t")]
    target: String,
    #[serde(rename = "c")]
    created_at: u64,
}

impl Engine {
    fn logout_cookie_name(&self) -> String {
        format!("{}.logout", self.settings.session_cookie)
    }

    /// The built-in logout route. A cross-site request (judged by
    /// `Sec-Fetch-Site`, else by `Origin` or `Referer`) gets a confirmation
    /// page with a POST button instead of signing the user out.
    pub(crate) async fn logout_route(&self, request: http::Request<Bytes>) -> EngineResponse {
        let (parts, body) = request.into_parts();
        let return_to = if parts.method == Method::POST {
            if body.len() > MAX_ROUTE_BODY {
                None
            } else {
                url::form_urlencoded::parse(&body)
                    .find(|(k, _)| k == "returnTo")
                    .map(|(_, v)| v.into_owned())
            }
        } else {
            query_param(parts.uri.query(), "returnTo")
        };
        if self.is_cross_site(&parts.headers) {
            telemetry::logout(LogoutKind::Rp, LogoutOutcome::Confirmation);
            return self.logout_confirmation(return_to.as_deref());
        }
        let session = match self.authenticate(&parts.headers, now_unix()).await {
            Authentication::Active { session, .. } => Some(session),
            Authentication::Anonymous { .. } => None,
            Authentication::Unavailable(error) => {
                telemetry::logout(LogoutKind::Rp, LogoutOutcome::Failed(&error));
                return self.error_response(&error, &parts.headers);
            }
        };
        self.logout(
            &parts.headers,
            session.as_deref(),
            LogoutOptions {
                return_to,
                idp_logout: None,
            },
        )
        .await
    }

    /// Whether the request comes from another site.
    pub(crate) fn is_cross_site(&self, headers: &HeaderMap) -> bool {
        if let Some(site) = headers.get("sec-fetch-site") {
            // `none`: typed or bookmarked by the user; `same-site` is a
            // sibling subdomain, which is not this application.
            return !matches!(site.as_bytes(), b"same-origin" | b"none");
        }
        let own_origin = self.settings.base_url.origin().ascii_serialization();
        if let Some(origin) = headers.get(header::ORIGIN) {
            return origin.as_bytes() != own_origin.as_bytes();
        }
        if let Some(referer) = headers.get(header::REFERER) {
            return referer
                .to_str()
                .ok()
                .and_then(|r| url::Url::parse(r).ok())
                .is_none_or(|r| r.origin().ascii_serialization() != own_origin);
        }
        // No browser signal at all: a non-browser client, which cannot be
        // forged into sending this request by another site.
        false
    }

    fn logout_confirmation(&self, return_to: Option<&str>) -> EngineResponse {
        let action = self
            .settings
            .routes
            .logout
            .as_deref()
            .map(|route| self.app_target(route))
            .unwrap_or_else(|| self.home.clone());
        let hidden = return_to
            .and_then(|target| self.safe_return_to(target).ok())
            .map(|target| {
                format!(
                    "<input type=\"hidden\" name=\"returnTo\" value=\"{}\">",
                    html_escape(&target)
                )
            })
            .unwrap_or_default();
        let body = crate::error::page_html(
            "Sign out?",
            &format!(
                "<p>Another site asked to sign you out of this application.</p>\
                 <div class=\"actions\"><form method=\"post\" action=\"{}\">{hidden}\
                 <button type=\"submit\">Sign out</button></form>\
                 <a class=\"secondary\" href=\"{}\">Stay signed in</a></div>",
                html_escape(&action),
                html_escape(&self.home),
            ),
        );
        let mut response = html_page(StatusCode::OK, body);
        // The button must not be clickjacked.
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }

    /// Signs out: ends the session (destroyed, or marked), optionally revokes
    /// its tokens, and redirects (through the OP's end-session endpoint when
    /// IdP logout is on). A store outage is a 503 and nobody is signed out.
    pub async fn logout(
        &self,
        headers: &HeaderMap,
        session: Option<&ActiveSession>,
        options: LogoutOptions,
    ) -> EngineResponse {
        match self.try_logout(headers, session, options).await {
            Ok(response) => {
                telemetry::logout(LogoutKind::Rp, ended(session));
                response
            }
            Err(error) => {
                telemetry::logout(LogoutKind::Rp, LogoutOutcome::Failed(&error));
                self.error_response(&error, headers)
            }
        }
    }

    async fn try_logout(
        &self,
        headers: &HeaderMap,
        session: Option<&ActiveSession>,
        options: LogoutOptions,
    ) -> Result<EngineResponse, OidcError> {
        // A bad target never keeps the user signed in: the logout happens and
        // the default target is used instead.
        let return_to = options
            .return_to
            .and_then(|target| self.safe_return_to(&target).ok())
            .unwrap_or_else(|| self.settings.routes.post_logout_redirect.clone());
        let clear = self.end_session(headers, session, now_unix_ms()).await?;
        if let Some(session) = session {
            self.revoke_tokens(session).await;
        }
        let idp_logout = options.idp_logout.unwrap_or(self.settings.idp_logout);
        let mut extra_cookies = Vec::new();
        let target = match (idp_logout, session) {
            (true, Some(session)) => match self.end_session_redirect(session, &return_to)? {
                Some((url, cookie)) => {
                    extra_cookies.push(cookie);
                    url
                }
                None => {
                    tracing::info!(
                        "the OP has no end_session_endpoint: signed out of this application only"
                    );
                    self.app_target(&return_to)
                }
            },
            _ => self.app_target(&return_to),
        };
        let mut response = redirect(&target)?;
        append_cookies(response.headers_mut(), clear);
        append_cookies(response.headers_mut(), extra_cookies);
        Ok(response)
    }

    /// The OP's end-session URL with `id_token_hint`, `post_logout_redirect_uri`
    /// and a fresh `state`, and the cookie that remembers the state.
    fn end_session_redirect(
        &self,
        session: &ActiveSession,
        return_to: &str,
    ) -> Result<Option<(String, HeaderValue)>, OidcError> {
        let Some(absolute) = self.absolute_target(return_to) else {
            return Ok(None);
        };
        let state = portcullis_core::random::random_state();
        let Some(url) = end_session_url(
            self.provider.metadata(),
            &self.settings.client_id,
            Some(session.id_token()),
            Some(&absolute),
            Some(&state),
        ) else {
            return Ok(None);
        };
        let pending = PendingLogout {
            state,
            target: absolute.to_string(),
            created_at: now_unix(),
        };
        let json = serde_json::to_vec(&pending)
            .map_err(|e| OidcError::Session(SessionWriteError::Claims(e)))?;
        let name = self.logout_cookie_name();
        let sealed = self
            .keys
            .seal(CookiePurpose::Transaction, &name, &json)
            .map_err(|e| SessionWriteError::from(crate::session::SessionDataError::from(e)))?;
        let cookie =
            self.session_cookie
                .build_cookie(name, sealed, Some(LOGOUT_STATE_MAX_AGE_SECS));
        let cookie = HeaderValue::from_str(&cookie.encoded().to_string())
            .map_err(|e| OidcError::Session(SessionWriteError::Header(e)))?;
        Ok(Some((url.to_string(), cookie)))
    }

    /// The browser coming back from the OP's end-session endpoint: when the
    /// request carries the pending-logout cookie and a `state`, the state is
    /// checked. A match redirects to the clean target; a wrong or missing
    /// state is ignored (the user is already signed out here) and only the
    /// cookie is cleared. `None` for every other request.
    pub fn post_logout_return(
        &self,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<PostLogoutReturn> {
        let query = uri.query()?;
        if !query.contains("state=") {
            return None;
        }
        let name = self.logout_cookie_name();
        let sealed = read_cookie(headers.get_all(header::COOKIE), &name)?;
        let removal = HeaderValue::from_str(
            &self
                .session_cookie
                .removal_cookie(name.clone())
                .encoded()
                .to_string(),
        )
        .ok()?;
        let pending: Option<PendingLogout> = self
            .keys
            .open(CookiePurpose::Transaction, &name, sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .filter(|p: &PendingLogout| {
                now_unix().saturating_sub(p.created_at) < LOGOUT_STATE_MAX_AGE_SECS
            });
        let state = query_param(Some(query), "state");
        match (pending, state) {
            (Some(pending), Some(state))
                if bool::from(subtle::ConstantTimeEq::ct_eq(
                    pending.state.as_bytes(),
                    state.as_bytes(),
                )) =>
            {
                let mut response = match redirect(&pending.target) {
                    Ok(response) => response,
                    Err(_) => return Some(PostLogoutReturn::Mismatch(removal)),
                };
                response.headers_mut().append(header::SET_COOKIE, removal);
                Some(PostLogoutReturn::Done(response))
            }
            _ => {
                tracing::info!("a post-logout redirect carried a wrong or missing state; ignored");
                Some(PostLogoutReturn::Mismatch(removal))
            }
        }
    }

    /// Signs out of this application only (no redirect, no OP logout), like
    /// Okta's `req.logout()`: ends the session and returns the cookies that
    /// clear it. Put them in your response.
    pub async fn logout_local(
        &self,
        headers: &HeaderMap,
        session: Option<&ActiveSession>,
    ) -> Result<Vec<HeaderValue>, OidcError> {
        let clear = match self.end_session(headers, session, now_unix_ms()).await {
            Ok(clear) => clear,
            Err(error) => {
                telemetry::logout(LogoutKind::Local, LogoutOutcome::Failed(&error));
                return Err(error);
            }
        };
        telemetry::logout(LogoutKind::Local, ended(session));
        if let Some(session) = session {
            self.revoke_tokens(session).await;
        }
        Ok(clear)
    }

    /// Revokes the session's refresh and access tokens (RFC 7009) when
    /// configured and the OP has a revocation endpoint. Failures are logged:
    /// the local logout has already happened.
    async fn revoke_tokens(&self, session: &ActiveSession) {
        if !self.settings.revoke_on_logout || self.provider.metadata().revocation_endpoint.is_none()
        {
            return;
        }
        let tokens = [
            (session.refresh_token(), "refresh_token"),
            (session.access_token(), "access_token"),
        ];
        for (token, hint) in tokens {
            let Some(token) = token else { continue };
            let now = crate::clock::now_unix();
            let metadata = self.provider.metadata();
            let request = match revocation_request(metadata, &self.client, token, Some(hint), now) {
                Ok(request) => request,
                Err(error) => {
                    tracing::warn!(%error, "token revocation request could not be built");
                    continue;
                }
            };
            match self.send(OpEndpoint::Revocation, request).await {
                Ok(response) if (200..300).contains(&response.status) => {}
                Ok(response) => {
                    tracing::warn!(
                        status = response.status,
                        hint,
                        "the OP refused a token revocation"
                    );
                }
                Err(error) => {
                    tracing::warn!(error = %error.describe(), hint, "token revocation failed")
                }
            }
        }
    }
}

/// A logout that succeeded: whether it had a session to end.
fn ended(session: Option<&ActiveSession>) -> LogoutOutcome<'static> {
    match session {
        Some(_) => LogoutOutcome::SignedOut,
        None => LogoutOutcome::NoSession,
    }
}

/// The outcome of [`Engine::post_logout_return`].
#[derive(Debug)]
#[non_exhaustive]
pub enum PostLogoutReturn {
    /// The state matched: answer with this redirect.
    Done(EngineResponse),
    /// The state did not match: serve the request as usual, appending this
    /// cookie (it clears the pending-logout cookie).
    Mismatch(HeaderValue),
}
