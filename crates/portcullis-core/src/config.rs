//! Client (relying party) configuration shared by every protocol step.

use crate::jose::Algorithm;
use crate::secret::Secret;
use url::Url;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` only, PKCE protects the code.
    None,
}

/// How the OP returns the authorization response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// Parameters in the redirect's query string (the default).
    #[default]
    Query,
    /// Parameters in an auto-submitted HTML form POST.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// Everything the engine needs to know about this client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The issuer identifier, compared by exact string match.
    pub issuer: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret, if the client is confidential.
    pub client_secret: Option<Secret>,
    /// Token endpoint authentication method.
    pub auth_method: TokenEndpointAuthMethod,
    /// The redirect URI registered at the OP (`BASE_URL` + callback path).
    pub redirect_uri: Url,
    /// Space-separated scopes; always contains `openid`.
    pub scope: String,
    /// Default response mode.
    pub response_mode: ResponseMode,
    /// Algorithms accepted for ID token signatures. `HS*` only works when a
    /// client secret is configured; `none` is never accepted.
    pub id_token_algs: Vec<Algorithm>,
    /// Allowed clock skew in seconds (default 60).
    pub clock_skew_secs: u64,
}

impl ClientConfig {
    /// The default scope: `openid profile email`.
    pub const DEFAULT_SCOPE: &'static str = "openid profile email";
    /// The default clock skew: 60 seconds.
    pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;
}
