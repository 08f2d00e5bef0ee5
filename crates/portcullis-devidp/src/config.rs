//! Configuration of the development OpenID Provider: clients, users and lifetimes.

use serde_json::{Map, Value, json};

/// The algorithm an OP uses to sign a client's ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit RSA key (the default).
    #[default]
    RS256,
    /// ECDSA over P-256 with SHA-256.
    ES256,
    /// Ed25519 (EdDSA).
    EdDSA,
}

impl SigningAlg {
    /// The JOSE `alg` name, e.g. `"RS256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// All algorithms the dev OP can sign with, in JWKS order.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];
}

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749 §2.3.1); the default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A client assertion JWT signed with HMAC keyed by the client secret (RFC 7523).
    ClientSecretJwt,
    /// A client assertion JWT signed with a private key of the client's
    /// registered [JWKS](DevClient::with_jwks) (RFC 7523).
    PrivateKeyJwt,
    /// A public client: only `client_id` in the form body, no secret (PKCE protects the code).
    None,
}

impl AuthMethod {
    /// The registered name, e.g. `"client_secret_basic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

/// A client (relying party) registered at the dev OP.
///
/// `Debug` never prints the client secret.
#[derive(Clone)]
pub struct DevClient {
    /// The `client_id`.
    pub client_id: String,
    /// The client secret; `None` makes a public client.
    pub client_secret: Option<String>,
    /// Redirect URIs, compared by exact string match.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, compared by exact string match.
    pub post_logout_redirect_uris: Vec<String>,
    /// The algorithm of this client's ID tokens.
    pub id_token_signed_response_alg: SigningAlg,
    /// How this client authenticates at `/token` and `/revoke`.
    pub token_endpoint_auth_method: AuthMethod,
    /// Back-Channel Logout 1.0: where the OP POSTs a logout token when an OP session
    /// this client signed into ends. An absolute http(s) URL without a fragment.
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: the page the OP's logged-out page loads in a hidden
    /// iframe, with `iss` and `sid` query parameters. An absolute http(s) URL without a
    /// fragment.
    pub frontchannel_logout_uri: Option<String>,
    /// When set, userinfo answers are JWTs signed with this algorithm
    /// (`application/jwt`, with `iss` and `aud`), as for a client registered
    /// with `userinfo_signed_response_alg`.
    pub userinfo_signed_response_alg: Option<SigningAlg>,
    /// The client's public keys (a JWK Set), for `private_key_jwt`.
    pub jwks: Option<Value>,
}

impl std::fmt::Debug for DevClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field(
                "id_token_signed_response_alg",
                &self.id_token_signed_response_alg,
            )
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("frontchannel_logout_uri", &self.frontchannel_logout_uri)
            .field(
                "userinfo_signed_response_alg",
                &self.userinfo_signed_response_alg,
            )
            .field("jwks", &self.jwks.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl DevClient {
    /// A confidential client using `client_secret_basic` and RS256 ID tokens.
    pub fn confidential(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        DevClient {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            redirect_uris: vec![redirect_uri.into()],
            post_logout_redirect_uris: Vec::new(),
            id_token_signed_response_alg: SigningAlg::RS256,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            userinfo_signed_response_alg: None,
            jwks: None,
        }
    }

    /// A public client (no secret, `token_endpoint_auth_method` `none`) with RS256 ID tokens.
    pub fn public(client_id: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        DevClient {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: vec![redirect_uri.into()],
            post_logout_redirect_uris: Vec::new(),
            id_token_signed_response_alg: SigningAlg::RS256,
            token_endpoint_auth_method: AuthMethod::None,
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            userinfo_signed_response_alg: None,
            jwks: None,
        }
    }

    /// Adds another redirect URI.
    pub fn with_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Adds a post-logout redirect URI.
    pub fn with_post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    /// Signs this client's userinfo answers with `alg`.
    pub fn with_signed_userinfo(mut self, alg: SigningAlg) -> Self {
        self.userinfo_signed_response_alg = Some(alg);
        self
    }

    /// Sets the ID token signing algorithm.
    pub fn with_id_token_alg(mut self, alg: SigningAlg) -> Self {
        self.id_token_signed_response_alg = alg;
        self
    }

    /// Sets the token endpoint authentication method.
    pub fn with_auth_method(mut self, method: AuthMethod) -> Self {
        self.token_endpoint_auth_method = method;
        self
    }

    /// A client that authenticates with `private_key_jwt`, verified with the
    /// public keys of `jwks` (a JWK Set, `{"keys": [...]}`).
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        jwks: Value,
        redirect_uri: impl Into<String>,
    ) -> Self {
        DevClient {
            client_secret: None,
            token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
            jwks: Some(jwks),
            ..DevClient::public(client_id, redirect_uri)
        }
    }

    /// Registers the client's public keys (a JWK Set) for `private_key_jwt`.
    pub fn with_jwks(mut self, jwks: Value) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// Sets the Back-Channel Logout URI (OpenID Back-Channel Logout 1.0 §2.2).
    ///
    /// When an OP session this client signed into ends, the OP POSTs a logout token
    /// (`logout_token=...`, form-encoded) here. It must be an absolute http(s) URL
    /// without a fragment; [`start`](crate::start) rejects anything else.
    pub fn with_backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// Sets the Front-Channel Logout URI (OpenID Front-Channel Logout 1.0 §2).
    ///
    /// The OP's logged-out page loads `{uri}?iss=...&sid=...` in a hidden iframe for
    /// each front-channel client the ended session signed into. It must be an absolute
    /// http(s) URL without a fragment; [`start`](crate::start) rejects anything else.
    pub fn with_frontchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.frontchannel_logout_uri = Some(uri.into());
        self
    }
}

/// A sample user. `id` is the `sub`; `claims` are released per scope.
#[derive(Debug, Clone, PartialEq)]
pub struct DevUser {
    /// The subject identifier (`sub`) and the value of the sign-in button.
    pub id: String,
    /// Standard and custom claims (`name`, `email`, `email_verified`, `groups`, ...).
    pub claims: Map<String, Value>,
}

impl DevUser {
    /// A user with the given id and claims (any `sub` in `claims` is ignored).
    pub fn new(id: impl Into<String>, claims: Map<String, Value>) -> Self {
        DevUser {
            id: id.into(),
            claims,
        }
    }

    /// The display name: the `name` claim, else the id.
    pub fn display_name(&self) -> &str {
        self.claims
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&self.id)
    }

    /// Alice: an email-verified admin.
    pub fn alice() -> Self {
        DevUser::new(
            "alice",
            object(json!({
                "name": "Alice Example",
                "given_name": "Alice",
                "family_name": "Example",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "email_verified": true,
                "locale": "en-GB",
                "groups": ["admin", "users"],
            })),
        )
    }

    /// Bob: a plain user whose email is not verified.
    pub fn bob() -> Self {
        DevUser::new(
            "bob",
            object(json!({
                "name": "Bob Example",
                "given_name": "Bob",
                "family_name": "Example",
                "preferred_username": "bob",
                "email": "bob@example.org",
                "email_verified": false,
                "locale": "en-US",
                "groups": ["users"],
            })),
        )
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Configuration of the development OP.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    /// The issuer (no trailing slash). `None` means `http://127.0.0.1:{port}` after binding.
    pub issuer: Option<String>,
    /// Registered clients.
    pub clients: Vec<DevClient>,
    /// Sample users shown on the sign-in page.
    pub users: Vec<DevUser>,
    /// Sign in as this user id without showing the sign-in page (for tests and benchmarks).
    pub auto_approve: Option<String>,
    /// ID token lifetime in seconds (default 300).
    pub id_token_ttl_secs: u64,
    /// Access token lifetime in seconds (default 300).
    pub access_token_ttl_secs: u64,
    /// Issue a refresh token with every token response (default `true`).
    ///
    /// When enabled, a refresh token is issued on every code exchange regardless of the
    /// `offline_access` scope, because that is what a development RP usually wants to
    /// exercise. Refresh tokens rotate on every use and live 24 hours.
    pub refresh_tokens: bool,
    /// How long the token endpoint waits before it answers a refresh grant
    /// (default none): for tests of refreshes slower than a lock's lease.
    pub refresh_delay: std::time::Duration,
    /// RFC 9126: accept authorization requests only as pushed authorization
    /// requests (advertised as `require_pushed_authorization_requests`).
    /// Default `false`.
    pub require_pushed_authorization_requests: bool,
    /// Issue opaque access tokens, verifiable only by introspection at
    /// `/introspect` (RFC 7662), instead of JWTs (default `false`).
    pub opaque_access_tokens: bool,
}

impl Default for DevIdpConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl DevIdpConfig {
    /// Sample users alice and bob, no clients, 5-minute tokens, refresh tokens on.
    pub fn new() -> Self {
        DevIdpConfig {
            issuer: None,
            clients: Vec::new(),
            users: vec![DevUser::alice(), DevUser::bob()],
            auto_approve: None,
            id_token_ttl_secs: 300,
            access_token_ttl_secs: 300,
            refresh_tokens: true,
            refresh_delay: std::time::Duration::ZERO,
            require_pushed_authorization_requests: false,
            opaque_access_tokens: false,
        }
    }

    /// Registers a client.
    pub fn with_client(mut self, client: DevClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Adds a user (replacing one with the same id).
    pub fn with_user(mut self, user: DevUser) -> Self {
        self.users.retain(|u| u.id != user.id);
        self.users.push(user);
        self
    }

    /// Replaces all users.
    pub fn with_users(mut self, users: Vec<DevUser>) -> Self {
        self.users = users;
        self
    }

    /// Sets the issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Signs in as `user_id` without showing the sign-in page.
    pub fn with_auto_approve(mut self, user_id: impl Into<String>) -> Self {
        self.auto_approve = Some(user_id.into());
        self
    }

    /// Sets the ID token lifetime.
    pub fn with_id_token_ttl_secs(mut self, secs: u64) -> Self {
        self.id_token_ttl_secs = secs;
        self
    }

    /// Sets the access token lifetime.
    pub fn with_access_token_ttl_secs(mut self, secs: u64) -> Self {
        self.access_token_ttl_secs = secs;
        self
    }

    /// Delays every answer to a refresh grant by `delay`.
    pub fn with_refresh_delay(mut self, delay: std::time::Duration) -> Self {
        self.refresh_delay = delay;
        self
    }

    /// Requires pushed authorization requests (RFC 9126) for every login.
    pub fn with_required_par(mut self, required: bool) -> Self {
        self.require_pushed_authorization_requests = required;
        self
    }

    /// Issues opaque access tokens (verifiable by introspection) instead of JWTs.
    pub fn with_opaque_access_tokens(mut self, enabled: bool) -> Self {
        self.opaque_access_tokens = enabled;
        self
    }

    /// Turns refresh tokens on or off.
    pub fn with_refresh_tokens(mut self, enabled: bool) -> Self {
        self.refresh_tokens = enabled;
        self
    }
}
