//! Token exchange (RFC 8693) with the session's access token, like
//! express-openid-connect's `customTokenExchange`: the result goes to the
//! caller and is stored in the session only when asked.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use portcullis_core::token::TokenError;
use portcullis_core::token_exchange::{
    ACCESS_TOKEN_TYPE, ExchangedToken, TokenExchangeParams, token_exchange_request,
};

use super::Engine;
use crate::active::ActiveSession;
use crate::clock::now_unix;
use crate::error::OidcError;
use crate::http_client::OpEndpoint;

impl Engine {
    /// Exchanges the session's access token for a token with the audience,
    /// resource or scope of `params` (extra parameters pass through). The
    /// session is left as it is. The OP's `error` and `error_description`
    /// surface as [`OidcError::TokenExchangeGrant`] holding
    /// [`TokenError::Provider`].
    pub async fn exchange_token(
        &self,
        session: &ActiveSession,
        params: &TokenExchangeParams,
    ) -> Result<ExchangedToken, OidcError> {
        let now = now_unix();
        let subject = session.access_token().ok_or(OidcError::NoAccessToken)?;
        let request = token_exchange_request(
            self.provider.metadata(),
            &self.client,
            subject,
            ACCESS_TOKEN_TYPE,
            params,
            now,
        )
        .map_err(OidcError::TokenExchangeGrant)?;
        let response = self.send(OpEndpoint::Token, request).await?;
        ExchangedToken::from_response(&response, now).map_err(OidcError::TokenExchangeGrant)
    }

    /// Like [`Engine::exchange_token`], and then stores the new access
    /// token (its expiry and scope, and a refresh token when one was
    /// issued) in the session, through the usual session write. Returns the
    /// token, the updated session and the cookies that carry it. Only a
    /// `Bearer` access token can take the session's access token's place.
    pub async fn exchange_token_into_session(
        &self,
        session: &ActiveSession,
        params: &TokenExchangeParams,
        request_headers: &HeaderMap,
    ) -> Result<(ExchangedToken, Arc<ActiveSession>, Vec<HeaderValue>), OidcError> {
        let exchanged = self.exchange_token(session, params).await?;
        if exchanged.issued_token_type != ACCESS_TOKEN_TYPE
            || !exchanged.token_type.eq_ignore_ascii_case("bearer")
        {
            return Err(OidcError::TokenExchangeGrant(
                TokenError::UnsupportedTokenType(format!(
                    "{} ({}); only a Bearer access token can be stored in the session",
                    exchanged.issued_token_type, exchanged.token_type
                )),
            ));
        }
        let now = now_unix();
        let mut data = session.data().clone();
        data.access_token = Some(exchanged.token.expose().to_owned());
        data.token_type = Some(exchanged.token_type.clone());
        data.expires_at = exchanged.expires_at;
        data.scope = exchanged.scope.clone();
        if let Some(refresh) = &exchanged.refresh_token {
            data.refresh_token = Some(refresh.expose().to_owned());
        }
        data.touch(now);
        let (session, cookies) = self.write_session(data, request_headers, now).await?;
        Ok((exchanged, session, cookies))
    }
}
