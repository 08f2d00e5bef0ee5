//! Tokens after login: refresh (Core §12) and userinfo.

use portcullis_core::access_token::{
    AccessTokenExpectations, TypPolicy, looks_like_jwt, validate_access_token,
};
use portcullis_core::http::HttpResponse;
use portcullis_core::id_token::{stored_id_token_claims, validate_refreshed_id_token};
use portcullis_core::token::{TokenError, TokenResponse, refresh_request};
use portcullis_core::userinfo::{
    SignedUserinfoExpectations, UserinfoBody, merge_userinfo_claims, userinfo_body,
    userinfo_request, verify_signed_userinfo,
};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Engine;
use crate::active::{ActiveSession, claims_delta};
use crate::clock::now_unix;
use crate::error::{OidcError, SessionWriteError};
use crate::http_client::OpEndpoint;
use crate::session::SessionData;

/// The claims a refreshed ID token updates in the session.
const REFRESHED_PROTOCOL_CLAIMS: &[&str] = &["exp", "iat", "nbf"];

impl Engine {
    /// One refresh grant at the OP for `session` (no single-flight, no
    /// write: [`Engine::refresh`] does both): the session's data with the new
    /// tokens, and the claims of a validated refreshed ID token.
    pub(super) async fn refresh_tokens(
        &self,
        session: &ActiveSession,
    ) -> Result<SessionData, OidcError> {
        let now = now_unix();
        let refresh_token = session.refresh_token().ok_or(OidcError::NoRefreshToken)?;
        let metadata = self.provider.metadata();
        let request = refresh_request(metadata, &self.client, refresh_token, None, now)
            .map_err(OidcError::Refresh)?;
        let response = match self.send(OpEndpoint::Token, request).await {
            Ok(response) => response,
            Err(OidcError::ProviderUnavailable(error)) => {
                return Err(OidcError::RefreshUnavailable(Box::new(error)));
            }
            Err(other) => return Err(other),
        };
        let tokens = TokenResponse::from_response(&response, now).map_err(|e| match e {
            TokenError::Provider { ref error, .. } if error == "invalid_grant" => {
                OidcError::ReauthenticationRequired
            }
            // The OP is down or overloaded: nobody is signed out by it.
            TokenError::Provider { ref error, .. }
                if error == "temporarily_unavailable" || error == "server_error" =>
            {
                OidcError::RefreshUnavailable(Box::new(e))
            }
            TokenError::Status(status) if status >= 500 => {
                OidcError::RefreshUnavailable(Box::new(e))
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
            portcullis_core::token_binding::check_token_hashes(
                &refreshed,
                Some(tokens.access_token.expose()),
                None,
            )
            .map_err(OidcError::IdTokenBinding)?;
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
        Ok(data)
    }

    /// Calls the userinfo endpoint with the session's access token. The
    /// answer is returned only when its `sub` equals the session's; signed
    /// userinfo (`application/jwt`) is verified with the OP's keys first.
    /// With [`userinfo_cache`](crate::OidcLayerBuilder::userinfo_cache) on,
    /// an answer is reused for the same access token until the cache's TTL
    /// or the token's expiry, whichever comes first.
    pub async fn fetch_userinfo(
        &self,
        session: &ActiveSession,
    ) -> Result<Map<String, Value>, OidcError> {
        let access_token = session.access_token().ok_or(OidcError::NoAccessToken)?;
        let now = now_unix();
        let cache_key = self.userinfo_cache.as_ref().map(|cache| {
            let key = userinfo_cache_key(access_token);
            (cache, key)
        });
        if let Some((cache, key)) = &cache_key
            && let Some(cached) = cache.get(key)
            && cached.valid_until > now
        {
            return Ok((*cached.claims).clone());
        }
        let request = userinfo_request(self.provider.metadata(), access_token)
            .map_err(OidcError::Userinfo)?;
        let response = self.send(OpEndpoint::Userinfo, request).await?;
        let mut subject = Map::new();
        subject.insert("sub".into(), session.sub().into());
        let claims = self.userinfo_claims(&response, &subject, now).await?;
        if let Some((cache, key)) = cache_key {
            let valid_until = session.expires_at().unwrap_or(u64::MAX);
            cache.insert(
                key,
                Arc::new(CachedUserinfo {
                    claims: Arc::new(claims.clone()),
                    valid_until,
                }),
            );
        }
        Ok(claims)
    }

    /// The claims of the session's access token when it is a JWT signed by
    /// the issuer (groups, roles and the like, for authorization decisions),
    /// verified with the same keys: signature, `iss`, `exp`/`nbf`/`iat` with
    /// skew, an audience of this client or of the configured `audience`
    /// parameter, and never an ID token. `Ok(None)` for an opaque token (or
    /// none). Verified once per session; an expired token is an error
    /// (refresh first).
    pub async fn access_token_claims(
        &self,
        session: &ActiveSession,
    ) -> Result<Option<Arc<Map<String, Value>>>, OidcError> {
        let now = now_unix();
        if let Some((claims, exp)) = session.access_token_claims.get() {
            // Verified earlier; still bound by its expiry.
            if now < exp.saturating_add(self.client.clock_skew_secs) {
                return Ok(Some(claims.clone()));
            }
            return Err(OidcError::AccessTokenClaims(
                portcullis_core::access_token::AccessTokenError::Expired,
            ));
        }
        let Some(token) = session.access_token() else {
            return Ok(None);
        };
        if !looks_like_jwt(token) {
            return Ok(None);
        }
        let mut audiences = vec![self.client.client_id.clone()];
        audiences.extend(self.settings.authorization_params.audience.clone());
        let expectations = AccessTokenExpectations {
            issuer: &self.client.issuer,
            audiences: &audiences,
            allowed_algs: &self.client.id_token_algs,
            // The token came straight from the token endpoint: an OP that
            // types it `JWT` (or not at all) is accepted here.
            typ: TypPolicy::AllowJwt,
            now,
            skew_secs: self.client.clock_skew_secs,
        };
        let verified = self
            .with_keys(
                now,
                |keys| validate_access_token(token, keys, &expectations),
                |e| e.is_unknown_kid(),
            )
            .await
            .map_err(OidcError::AccessTokenClaims)?;
        let exp = verified.exp;
        let (claims, _) = session
            .access_token_claims
            .get_or_init(|| (Arc::new(verified.claims), exp));
        Ok(Some(claims.clone()))
    }

    /// Reads a userinfo response (verifying it when signed) and merges it
    /// over `base` when the subjects match.
    pub(crate) async fn userinfo_claims(
        &self,
        response: &HttpResponse,
        base: &Map<String, Value>,
        now: u64,
    ) -> Result<Map<String, Value>, OidcError> {
        let userinfo = match userinfo_body(response).map_err(OidcError::Userinfo)? {
            UserinfoBody::Json(claims) => claims,
            UserinfoBody::Signed(token) => {
                let expectations = SignedUserinfoExpectations {
                    issuer: &self.client.issuer,
                    client_id: &self.client.client_id,
                    client_secret: self.client.client_secret.as_ref(),
                    allowed_algs: &self.client.id_token_algs,
                    now,
                    skew_secs: self.client.clock_skew_secs,
                };
                self.with_keys(
                    now,
                    |keys| verify_signed_userinfo(&token, keys, &expectations),
                    |e| e.is_unknown_kid(),
                )
                .await
                .map_err(OidcError::Userinfo)?
            }
        };
        merge_userinfo_claims(base, userinfo).map_err(OidcError::Userinfo)
    }
}

/// A userinfo answer kept for one access token.
pub(crate) struct CachedUserinfo {
    claims: Arc<Map<String, Value>>,
    /// The access token's expiry: the answer is not used after it.
    valid_until: u64,
}

/// The userinfo cache's key: a hash of the access token, never the token.
pub(crate) type UserinfoCacheKey = [u8; 32];

fn userinfo_cache_key(access_token: &str) -> UserinfoCacheKey {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// A bounded cache of userinfo answers with `ttl`.
pub(crate) fn userinfo_cache(
    ttl: std::time::Duration,
) -> moka::sync::Cache<UserinfoCacheKey, Arc<CachedUserinfo>> {
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(ttl)
        .build()
}
