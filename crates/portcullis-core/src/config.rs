//! Client (relying party) configuration shared by every protocol step.

use crate::client_auth::AssertionSigningKey;
use crate::jose::Algorithm;
use crate::secret::Secret;
use url::Url;

/// How the client authenticates at the token endpoint (and every other
/// client-authenticated endpoint); see [`crate::client_auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A client assertion JWT signed with HMAC keyed by the client secret
    /// (RFC 7523, OpenID Connect Core §9).
    ClientSecretJwt,
    /// A client assertion JWT signed with the client's private key
    /// (RFC 7523, OpenID Connect Core §9).
    PrivateKeyJwt,
    /// A public client: `client_id` only, PKCE protects the code.
    None,
}

impl TokenEndpointAuthMethod {
    /// Every method, in the order of their registered names below.
    pub const ALL: [TokenEndpointAuthMethod; 5] = [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::ClientSecretJwt,
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::None,
    ];

    /// The registered name (`token_endpoint_auth_method` metadata value).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::ClientSecretJwt => "client_secret_jwt",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
            TokenEndpointAuthMethod::None => "none",
        }
    }

    /// The method with this registered name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
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
    /// The key that signs client assertions: the client's private key for
    /// `private_key_jwt`, the HMAC key made from the client secret for
    /// `client_secret_jwt`; `None` for the other methods.
    pub assertion_key: Option<AssertionSigningKey>,
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
