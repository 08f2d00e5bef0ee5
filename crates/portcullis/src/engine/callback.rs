//! The authorization response: state, code exchange, ID token, userinfo,
//! the after-callback hook, and the new session.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, header};
use portcullis_core::ResponseMode;
use portcullis_core::authorize::PendingAuthorization;
use portcullis_core::callback::{CallbackError, CallbackParams, validate_callback};
use portcullis_core::id_token::{IdTokenClaims, IdTokenExpectations, validate_id_token};
use portcullis_core::token::{TokenResponse, token_request};
use portcullis_core::token_binding::{check_acr, check_token_hashes};
use portcullis_core::userinfo::userinfo_request;

use super::response::{EngineResponse, append_cookies, redirect};
use super::{Authentication, Engine, MAX_ROUTE_BODY};
use crate::clock::{now_unix, now_unix_ms};
use crate::error::OidcError;
use crate::hooks::AfterCallbackContext;
use crate::http_client::OpEndpoint;
use crate::telemetry;

impl Engine {
    /// Handles an authorization response (GET query, or POST form_post with
    /// the form body, at most [`MAX_ROUTE_BODY`] bytes).
    pub async fn callback(&self, request: http::Request<Bytes>) -> EngineResponse {
        let (parts, body) = request.into_parts();
        let mut response = match self.try_callback(&parts, &body).await {
            Ok(response) => response,
            Err((error, txn_cookies)) => {
                telemetry::login_failed(&error);
                let mut response = self.callback_failure(&error, &parts.headers).await;
                append_cookies(response.headers_mut(), txn_cookies);
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

    /// A failed callback. Reloading the callback (or going back to it) while
    /// signed in is not an error: the user goes on to the application.
    async fn callback_failure(&self, error: &OidcError, headers: &HeaderMap) -> EngineResponse {
        if matches!(error, OidcError::NoPendingLogin | OidcError::UnknownState)
            && let Authentication::Active { .. } = self.authenticate(headers, now_unix()).await
            && let Ok(home) = redirect(&self.home)
        {
            return home;
        }
        match crate::diagnose::callback_hint(error) {
            Some(hint) => tracing::warn!(error = %error.describe(), hint, "sign-in failed"),
            None => tracing::info!(error = %error.describe(), "sign-in callback rejected"),
        }
        self.error_response(error, headers)
    }

    async fn try_callback(
        &self,
        parts: &Parts,
        body: &[u8],
    ) -> Result<EngineResponse, (OidcError, Vec<HeaderValue>)> {
        let now = now_unix();
        let pairs = callback_pairs(parts, body).map_err(|e| (e, Vec::new()))?;
        let params = CallbackParams::from_pairs(pairs)
            .map_err(|e| (OidcError::CallbackRejected(e), Vec::new()))?;
        let mut store = self.read_transactions(&parts.headers, now);
        if store.is_empty() {
            return Err((OidcError::NoPendingLogin, Vec::new()));
        }
        let state = params.state().unwrap_or_default().to_owned();
        // The state is single-use: the flow leaves the cookie whatever happens next.
        let Some(pending) = store.take(&state, now) else {
            return Err((OidcError::UnknownState, Vec::new()));
        };
        let txn_cookies = vec![
            self.transaction_cookie(&mut store)
                .map_err(|e| (e, Vec::new()))?,
        ];
        if pending.response_mode == ResponseMode::FormPost && parts.method != Method::POST {
            // A form_post flow answered in the URL: the code leaked into
            // history and logs, so it is not redeemed.
            return Err((OidcError::WrongResponseMode, txn_cookies));
        }
        match self
            .complete_login(&params, pending, &parts.headers, now)
            .await
        {
            Ok(mut response) => {
                append_cookies(response.headers_mut(), txn_cookies);
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
    ) -> Result<EngineResponse, OidcError> {
        let metadata = self.provider.metadata();
        let code = match validate_callback(params, &pending, metadata, now) {
            Ok(code) => code,
            // A prompt=none login the OP cannot complete without the user:
            // back to the page, anonymously (silent login falls back).
            Err(CallbackError::Provider { error, .. })
                if pending.silent && super::silent::needs_interaction(&error) =>
            {
                let target = self
                    .safe_return_to(&pending.return_to)
                    .unwrap_or_else(|_| "/".to_owned());
                let response = redirect(&self.app_target(&target))?;
                telemetry::login_interaction_required();
                return Ok(response);
            }
            Err(CallbackError::Provider { error, description }) => {
                return Err(OidcError::Provider { error, description });
            }
            Err(other) => return Err(OidcError::CallbackRejected(other)),
        };
        let request = token_request(metadata, &self.client, &code, &pending, now)
            .map_err(OidcError::TokenExchange)?;
        let response = self.send(OpEndpoint::Token, request).await?;
        let tokens =
            TokenResponse::from_response(&response, now).map_err(OidcError::TokenExchange)?;
        let id_token = tokens
            .id_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .ok_or(OidcError::NoIdToken)?;
        let claims = self.validate_id_token(&id_token, &pending, now).await?;
        check_token_hashes(
            &claims,
            Some(tokens.access_token.expose()),
            Some(code.expose()),
        )
        .and_then(|()| check_acr(&claims, &pending.required_acr))
        .map_err(OidcError::IdTokenBinding)?;
        let issued_id_token = id_token.clone();
        let mut merged = claims.claims.clone();
        if self.settings.fetch_userinfo
            && metadata.userinfo_endpoint.is_some()
            && let Ok(request) = userinfo_request(metadata, tokens.access_token.expose())
        {
            match self.send(OpEndpoint::Userinfo, request).await {
                Ok(response) => match self.userinfo_claims(&response, &claims.claims, now).await {
                    Ok(with_userinfo) => merged = with_userinfo,
                    Err(error) => tracing::warn!(%error, "userinfo discarded"),
                },
                Err(error) => tracing::warn!(%error, "userinfo request failed"),
            }
        }
        // `email_verified: "true"` (Cognito, older Google tokens, mapped attributes) is a boolean.
        portcullis_core::quirks::normalize_claims(&mut merged);
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
        // The hook may have replaced the ID token: the stored claims are a
        // delta against the token that is stored.
        let id_token_claims = if context.id_token == issued_id_token {
            claims.claims.clone()
        } else {
            portcullis_core::id_token::stored_id_token_claims(&context.id_token)
                .map_err(OidcError::IdToken)?
                .claims
        };
        let mut data = self.new_session_data(
            now,
            now_unix_ms(),
            context.id_token,
            &id_token_claims,
            &context.claims,
            (claims.iss.clone(), claims.sub.clone(), claims.sid.clone()),
        )?;
        data.access_token = context.access_token;
        data.token_type = Some(tokens.token_type.clone());
        data.expires_at = tokens.expires_at;
        data.refresh_token = context.refresh_token;
        data.scope = tokens.scope.clone();
        data.extra = context.session_extra;
        // A brand-new session (new id, new cookie) replaces whatever the
        // browser had (no fixation); with a store it is saved before the redirect.
        let (session, cookies) = self.write_session(data, request_headers, now).await?;
        if let Some(hook) = &self.settings.on_login {
            hook(session).await;
        }
        // The hook may have changed the target: it gets the same checks.
        let target = self
            .safe_return_to(&context.return_to)
            .unwrap_or_else(|_| "/".to_owned());
        let mut response = redirect(&self.app_target(&target))?;
        append_cookies(response.headers_mut(), cookies);
        telemetry::login_succeeded();
        Ok(response)
    }

    async fn validate_id_token(
        &self,
        token: &str,
        pending: &PendingAuthorization,
        now: u64,
    ) -> Result<IdTokenClaims, OidcError> {
        let expectations = IdTokenExpectations {
            nonce: Some(pending.nonce.as_str()),
            max_age: pending.max_age,
            ..self.id_token_expectations(now)
        };
        self.with_keys(
            now,
            |keys| validate_id_token(token, keys, &expectations),
            |e| e.is_unknown_kid(),
        )
        .await
        .map_err(OidcError::IdToken)
    }

    /// The expectations every ID token of this client is validated against.
    pub(crate) fn id_token_expectations(&self, now: u64) -> IdTokenExpectations<'_> {
        IdTokenExpectations::for_client(&self.client, None, None, now)
    }
}

/// The callback parameters from the query (GET) or the form body (POST).
fn callback_pairs(parts: &Parts, body: &[u8]) -> Result<Vec<(String, String)>, OidcError> {
    if parts.method == Method::POST {
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(super::response::is_form_content_type);
        if !form {
            return Err(OidcError::BadCallback(
                "a POST callback must be application/x-www-form-urlencoded",
            ));
        }
        if body.len() > MAX_ROUTE_BODY {
            return Err(OidcError::BadCallback("the callback body is too large"));
        }
        Ok(url::form_urlencoded::parse(body).into_owned().collect())
    } else {
        let query = parts.uri.query().unwrap_or("");
        if query.len() > MAX_ROUTE_BODY {
            return Err(OidcError::BadCallback("the callback query is too large"));
        }
        Ok(url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect())
    }
}
