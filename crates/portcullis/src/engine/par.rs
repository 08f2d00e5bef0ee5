//! Pushed Authorization Requests (RFC 9126) at login: when configured
//! (`USE_PAR`) or required by the OP's metadata, the authorization
//! parameters are pushed to the OP and the browser is sent with only
//! `client_id` and `request_uri`.

use portcullis_core::discovery::ProviderMetadata;
use portcullis_core::par::{
    ParError, PushedAuthorization, par_authorization_url, par_required,
    pushed_authorization_request,
};
use url::Url;

use super::Engine;
use crate::config::ConfigError;
use crate::error::OidcError;
use crate::http_client::OpEndpoint;

impl Engine {
    /// Where the browser goes for the authorization request `url`: `url`
    /// itself, or, with PAR, the authorization endpoint with the
    /// `request_uri` the OP returned for the pushed parameters.
    pub(crate) async fn authorization_redirect(
        &self,
        url: Url,
        now: u64,
    ) -> Result<Url, OidcError> {
        let metadata = self.provider.metadata();
        if !par_required(metadata, self.settings.client_auth.use_par) {
            return Ok(url);
        }
        let request = pushed_authorization_request(metadata, &self.client, &url, now)
            .map_err(OidcError::PushedAuthorization)?;
        let response = self.send(OpEndpoint::Par, request).await?;
        let pushed = PushedAuthorization::from_response(&response)
            .map_err(OidcError::PushedAuthorization)?;
        Ok(par_authorization_url(metadata, &self.client, &pushed))
    }
}

/// At startup: PAR that is configured or required needs the OP's endpoint.
pub(crate) fn check_par(metadata: &ProviderMetadata, use_par: bool) -> Result<(), ConfigError> {
    if par_required(metadata, use_par) && metadata.pushed_authorization_request_endpoint.is_none() {
        return Err(ConfigError::Invalid {
            name: "USE_PAR",
            reason: if use_par {
                ParError::NoEndpoint.to_string()
            } else {
                "the provider requires pushed authorization requests but has no \
                 pushed_authorization_request_endpoint"
                    .into()
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(extra: serde_json::Value) -> ProviderMetadata {
        let mut doc = json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "token_endpoint": "https://op.example/token",
            "jwks_uri": "https://op.example/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            doc[k] = v.clone();
        }
        serde_json::from_value(doc).expect("metadata")
    }

    #[test]
    fn par_without_an_endpoint_is_a_startup_error_naming_use_par() {
        let plain = metadata(json!({}));
        assert!(check_par(&plain, false).is_ok());
        let err = check_par(&plain, true).unwrap_err().to_string();
        assert!(err.contains("USE_PAR"), "{err}");
        let required = metadata(json!({"require_pushed_authorization_requests": true}));
        let err = check_par(&required, false).unwrap_err().to_string();
        assert!(
            err.contains("requires pushed authorization requests"),
            "{err}"
        );
        let with_endpoint = metadata(json!({
            "require_pushed_authorization_requests": true,
            "pushed_authorization_request_endpoint": "https://op.example/par",
        }));
        assert!(check_par(&with_endpoint, false).is_ok());
        assert!(check_par(&with_endpoint, true).is_ok());
    }
}
