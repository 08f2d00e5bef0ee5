//! Logout started by the OP: back-channel (a logout token POSTed to
//! `/backchannel-logout`, Back-Channel Logout 1.0) and front-channel (an
//! iframe of the OP loads `/frontchannel-logout?iss=…&sid=…`, Front-Channel
//! Logout 1.0).
//!
//! Both end the sessions they name through logout markers, which every
//! replica sharing the logout store reads: by `sid` (every session of that
//! OP session), or by `iss` + `sub` (every session of that user that started
//! before the logout). A later login is not affected.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use portcullis_core::logout_token::{LogoutTokenExpectations, validate_logout_token};
use serde_json::json;

use super::response::{EngineResponse, html_page, json, query_param};
use super::{Authentication, Engine, MAX_ROUTE_BODY, markers};
use crate::clock::{now_unix, now_unix_ms};
use crate::error::OidcError;
use crate::hooks::LogoutTokenInfo;
use crate::telemetry::{self, LogoutKind, LogoutOutcome, Store};

/// The shortest time a used logout token id is remembered.
const MIN_JTI_TTL_SECS: u64 = 60;

impl Engine {
    /// `POST /backchannel-logout`: validates the logout token by every rule of
    /// BCL §2.6, rejects a replayed `jti`, marks the sessions it names as
    /// signed out, and answers `200` with `Cache-Control: no-store`. Every
    /// failure is `400` with a JSON `error` (a store outage is `503`, so
    /// the OP retries).
    pub(crate) async fn backchannel_logout(&self, request: http::Request<Bytes>) -> EngineResponse {
        let result = self.try_backchannel_logout(request).await;
        telemetry::logout(
            LogoutKind::Backchannel,
            match &result {
                Ok(()) => LogoutOutcome::SignedOut,
                Err(error) => LogoutOutcome::Failed(error),
            },
        );
        match result {
            Ok(()) => {
                let mut response = http::Response::new(Bytes::new());
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(OidcError::StoreUnavailable(error)) => {
                tracing::warn!(%error, "back-channel logout could not be recorded");
                OidcError::StoreUnavailable(error).to_json()
            }
            Err(error) => {
                tracing::info!(error = %error.describe(), "back-channel logout rejected");
                json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_request", "error_description": error.describe()}),
                )
            }
        }
    }

    async fn try_backchannel_logout(&self, request: http::Request<Bytes>) -> Result<(), OidcError> {
        let (parts, body) = request.into_parts();
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(super::response::is_form_content_type);
        if !form {
            return Err(OidcError::InvalidLogoutRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        if body.len() > MAX_ROUTE_BODY {
            return Err(OidcError::InvalidLogoutRequest(
                "the body is too large".into(),
            ));
        }
        let mut tokens = url::form_urlencoded::parse(&body)
            .filter(|(name, _)| name == "logout_token")
            .map(|(_, value)| value);
        let token = match (tokens.next(), tokens.next()) {
            (Some(token), None) if !token.is_empty() => token.into_owned(),
            (Some(_), Some(_)) => {
                return Err(OidcError::InvalidLogoutRequest(
                    "logout_token is repeated".into(),
                ));
            }
            _ => {
                return Err(OidcError::InvalidLogoutRequest(
                    "the request has no logout_token".into(),
                ));
            }
        };
        let now = now_unix();
        let expectations = LogoutTokenExpectations {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            client_secret: self.settings.client_secret.as_ref(),
            allowed_algs: &self.settings.id_token_algs,
            now,
            skew_secs: self.settings.clock_skew_secs,
        };
        let claims = self
            .with_keys(
                now,
                |keys| validate_logout_token(&token, keys, &expectations),
                |e| e.is_unknown_kid(),
            )
            .await
            // The stable code tells an operator which rule refused (alg none,
            // bad signature, embedded key…) where the message stays general.
            .map_err(|e| OidcError::InvalidLogoutRequest(format!("{e} ({})", e.code())))?;
        let key = match (&claims.sid, &claims.sub) {
            (Some(sid), _) => markers::sid_key(&claims.iss, sid),
            (None, Some(sub)) => markers::sub_key(&claims.iss, sub),
            (None, None) => {
                return Err(OidcError::InvalidLogoutRequest(
                    "the logout token names neither sub nor sid".into(),
                ));
            }
        };
        // The marker's time comes from the token, capped at now: a session
        // that started before the OP issued the token (allowing for clock
        // skew) ends, and a replay of the same token can never move the
        // marker past that time, so it cannot end a later login. This lets
        // the marker be written before the jti is recorded: when the write
        // fails (503), the OP's retry is not refused as a replay.
        let at_ms = now_unix_ms().min(
            claims
                .iat
                .saturating_add(self.settings.clock_skew_secs)
                .saturating_mul(1000),
        );
        self.mark_at(&key, at_ms).await?;
        let jti_ttl = Duration::from_secs(
            claims
                .exp
                .saturating_sub(now)
                .saturating_add(self.settings.clock_skew_secs)
                .max(MIN_JTI_TTL_SECS),
        );
        let jti_key = markers::jti_key(&claims.iss, &claims.jti);
        let first_use = telemetry::store_op(
            Store::Logout,
            "remember_jti",
            self.logouts.remember_jti(&jti_key, jti_ttl),
        )
        .await?;
        if !first_use {
            return Err(OidcError::InvalidLogoutRequest(
                "this logout token was already used (replayed jti)".into(),
            ));
        }
        tracing::info!(
            by_sid = claims.sid.is_some(),
            "back-channel logout recorded"
        );
        if let Some(hook) = &self.settings.on_logout_token {
            hook(LogoutTokenInfo {
                iss: claims.iss,
                sub: claims.sub,
                sid: claims.sid,
            })
            .await;
        }
        Ok(())
    }

    /// Records a marker at `at_ms` that lasts as long as any session it
    /// names could.
    async fn mark_at(&self, key: &str, at_ms: u64) -> Result<(), OidcError> {
        let ttl = Duration::from_secs(self.settings.durations.absolute.max(1));
        telemetry::store_op(Store::Logout, "mark", self.logouts.mark(key, at_ms, ttl)).await?;
        Ok(())
    }

    /// `GET /frontchannel-logout?iss=…&sid=…`: marks the OP session `sid` as
    /// signed out (every replica), or, without `sid`, signs out the session
    /// whose cookie the request carries. Only the OP may frame the answer
    /// (CSP `frame-ancestors`), and it is never cached.
    pub(crate) async fn frontchannel_logout(
        &self,
        request: http::Request<Bytes>,
    ) -> EngineResponse {
        let (parts, _) = request.into_parts();
        let query = parts.uri.query();
        let iss = query_param(query, "iss");
        let sid = query_param(query, "sid");
        let result = match (iss, sid) {
            (Some(iss), _) if iss != self.settings.issuer => Err(OidcError::InvalidLogoutRequest(
                "iss is not this application's issuer".into(),
            )),
            (Some(iss), Some(sid)) if !sid.is_empty() => self
                .mark_at(&markers::sid_key(&iss, &sid), now_unix_ms())
                .await
                .map(|()| (Vec::new(), LogoutOutcome::SignedOut)),
            (None, Some(_)) => Err(OidcError::InvalidLogoutRequest(
                "sid was sent without iss".into(),
            )),
            _ => match self.authenticate(&parts.headers, now_unix()).await {
                Authentication::Active { session, .. } => self
                    .end_session(&parts.headers, Some(&session), now_unix_ms())
                    .await
                    .map(|clear| (clear, LogoutOutcome::SignedOut)),
                Authentication::Anonymous { .. } => Ok((Vec::new(), LogoutOutcome::NoSession)),
                Authentication::Unavailable(error) => Err(error),
            },
        };
        telemetry::logout(
            LogoutKind::Frontchannel,
            match &result {
                Ok((_, outcome)) => *outcome,
                Err(error) => LogoutOutcome::Failed(error),
            },
        );
        let mut response = match result {
            Ok((clear, _)) => {
                let mut response = html_page(
                    StatusCode::OK,
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed out</title></head>\
                     <body>Signed out.</body></html>"
                        .to_owned(),
                );
                super::response::append_cookies(response.headers_mut(), clear);
                response
            }
            Err(error) => {
                tracing::info!(error = %error.describe(), "front-channel logout rejected");
                html_page(
                    error.status(),
                    format!(
                        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Logout failed</title></head>\
                     <body>{}</body></html>",
                        crate::error::html_escape(&error.describe())
                    ),
                )
            }
        };
        // The OP's logout page is what frames this one.
        let metadata = self.provider.metadata();
        let op_origin = metadata
            .end_session_endpoint
            .as_ref()
            .unwrap_or(&metadata.authorization_endpoint)
            .origin()
            .ascii_serialization();
        if let Ok(csp) = HeaderValue::from_str(&format!("frame-ancestors {op_origin}")) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}
