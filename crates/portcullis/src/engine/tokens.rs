//! Tokens after login: refresh (Core §12) and userinfo.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use portcullis_core::id_token::{stored_id_token_claims, validate_refreshed_id_token};
use portcullis_core::token::{TokenError, TokenResponse, refresh_request};
use portcullis_core::userinfo::{merge_userinfo, userinfo_request};
use serde_json::{Map, Value};

use super::Engine;
use crate::active::{ActiveSession, claims_delta};
use crate::clock::now_unix;
use crate::error::{OidcError, SessionWriteError};

/// The claims a refreshed ID token updates in the session.
const REFRESHED_PROTOCOL_CLAIMS: &[&str] = &["exp", "iat", "nbf"];

impl Engine {
    /// Uses the session's refresh token: a new access token (and refresh
    /// token when the OP rotates it), and a validated refreshed ID token when
    /// the OP sends one (same `iss`, `sub`, `aud` and `azp`, Core §12.2).
    /// Returns the updated session and the cookies that carry it; with a
    /// store, the session is saved (under the same id) before this returns.
    pub async fn refresh(
        &self,
        session: &ActiveSession,
        request_headers: &HeaderMap,
    ) -> Result<(Arc<ActiveSession>, Vec<HeaderValue>), OidcError> {
        let now = now_unix();
        let refresh_token = session.refresh_token().ok_or(OidcError::NoRefreshToken)?;
        let metadata = self.provider.metadata();
        let request = refresh_request(metadata, &self.client, refresh_token, None, now)
            .map_err(OidcError::Refresh)?;
        let response = self.send(request).await?;
        let tokens = TokenResponse::from_response(&response, now).map_err(|e| match e {
            TokenError::Provider { ref error, .. } if error == "invalid_grant" => {
                OidcError::ReauthenticationRequired
            }
            other => OidcError::Refresh(other),
        })?;
        let mut data = session.data().clone();
        if let Some(id_token) = &tokens.id_token {
            let original =
                stored_id_token_claims(session.id_token()).map_err(OidcError::RefreshedIdToken)?;
            let expectations = self.id_token_expectations(now);
            let refreshed = self
                .with_keys(
                    now,
                    |keys| {
                        validate_refreshed_id_token(
                            id_token.expose(),
                            keys,
                            &expectations,
                            &original,
                        )
                    },
                    |e| e.is_unknown_kid(),
                )
                .await
                .map_err(OidcError::RefreshedIdToken)?;
            // Only the time-bound protocol claims move forward: the user's
            // claims stay as the login (and its after_callback hook) left them.
            let mut claims: Map<String, Value> = session.claims().clone();
            for name in REFRESHED_PROTOCOL_CLAIMS {
                if let Some(value) = refreshed.claims.get(*name) {
                    claims.insert((*name).to_owned(), value.clone());
                }
            }
            let (additions, removed) = claims_delta(&refreshed.claims, &claims);
            data.claims = serde_json::value::to_raw_value(&additions)
                .map_err(|e| OidcError::Session(SessionWriteError::Claims(e)))?;
            data.removed_claims = removed;
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
        self.write_session(data, request_headers, now).await
    }

    /// Calls the userinfo endpoint with the session's access token. The
    /// answer is returned only when its `sub` equals the session's.
    pub async fn fetch_userinfo(
        &self,
        session: &ActiveSession,
    ) -> Result<Map<String, Value>, OidcError> {
        let access_token = session.access_token().ok_or(OidcError::NoAccessToken)?;
        let request = userinfo_request(self.provider.metadata(), access_token)
            .map_err(OidcError::Userinfo)?;
        let response = self.send(request).await?;
        let mut subject = Map::new();
        subject.insert("sub".into(), session.sub().into());
        merge_userinfo(&subject, &response).map_err(OidcError::Userinfo)
    }
}
