//! Client authentication, for every call the client authenticates: the
//! token endpoint (code, refresh and token-exchange grants), revocation,
//! pushed authorization requests and introspection.
//!
//! [`ClientConfig::auth_method`] picks the method:
//! - `client_secret_basic`: `Authorization: Basic base64(urlencode(id) ":"
//!   urlencode(secret))` (RFC 6749 §2.3.1, each part form-urlencoded first);
//! - `client_secret_post`: `client_id` and `client_secret` in the body;
//! - `client_secret_jwt` and `private_key_jwt` (RFC 7523 §2.2, OpenID
//!   Connect Core §9): `client_assertion_type` and a fresh
//!   `client_assertion` signed with [`ClientConfig::assertion_key`] (HMAC
//!   keyed by the client secret, or the client's private key), plus
//!   `client_id`;
//! - `none`: `client_id` only (public clients; PKCE protects the code).
//!
//! The assertion follows current guidance (draft-ietf-oauth-rfc7523bis,
//! OpenID Connect Core errata): `aud` is the issuer identifier as a single
//! string (never an endpoint URL, which an attacker-controlled "OP" could
//! have the client sign for), `iss` = `sub` = `client_id`, `iat` = now,
//! `exp` = now + [`ASSERTION_LIFETIME_SECS`], and a random `jti` of
//! [`JTI_BYTES`] bytes, new for every request, so an OP can refuse a replay.

mod signing_key;

pub use signing_key::{AssertionSigningKey, MIN_HMAC_SECRET_BYTES, SigningKeyError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

use crate::config::{ClientConfig, TokenEndpointAuthMethod};
use crate::http::{HttpRequest, Method};
use crate::random::random_token;
use crate::secret::Secret;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid: `exp` = `iat` + 60 seconds.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;

/// Random bytes in an assertion's `jti` (256 bits, 43 base64url characters).
pub const JTI_BYTES: usize = 32;

/// Why the client could not authenticate a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// The method needs a client secret and none (or an empty one) is configured.
    #[error("client authentication {0} needs a client secret, but none is configured")]
    MissingClientSecret(&'static str),
    /// The method needs an assertion signing key and none is configured.
    #[error(
        "client authentication {0} needs a client assertion signing key, but none is configured"
    )]
    MissingSigningKey(&'static str),
    /// The configured key is of the wrong kind for the method (an HMAC key
    /// for `private_key_jwt`, or a private key for `client_secret_jwt`).
    #[error("client authentication {0} cannot use the configured key: {1}")]
    WrongKeyKind(&'static str, &'static str),
    /// The assertion could not be signed.
    #[error("the client assertion could not be signed: {0}")]
    Signing(#[source] SigningKeyError),
}

/// Checks that `client` has what its method needs; run it once at
/// startup so a misconfiguration fails there and not at the first login.
pub fn check_client_auth(client: &ClientConfig) -> Result<(), ClientAuthError> {
    let method = client.auth_method;
    match method {
        TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost => {
            client_secret(client, method).map(|_| ())
        }
        TokenEndpointAuthMethod::ClientSecretJwt | TokenEndpointAuthMethod::PrivateKeyJwt => {
            assertion_key(client, method).map(|_| ())
        }
        TokenEndpointAuthMethod::None => Ok(()),
    }
}

/// The method to use when none is configured: `private_key_jwt` when a
/// signing key is given, else the first of `client_secret_basic`,
/// `client_secret_post` and `client_secret_jwt` that the OP supports when a
/// secret is given (`client_secret_basic` when the OP does not say, the
/// default of RFC 8414 §2), else `none`.
///
/// Returns `Err` with the methods the OP supports when it lists some and
/// none of them fits the credentials.
pub fn choose_auth_method(
    supported: Option<&[String]>,
    has_secret: bool,
    has_signing_key: bool,
) -> Result<TokenEndpointAuthMethod, String> {
    let offers = |method: TokenEndpointAuthMethod| {
        supported.is_none_or(|list| list.iter().any(|m| m == method.as_str()))
    };
    let candidates: &[TokenEndpointAuthMethod] = if has_signing_key {
        &[TokenEndpointAuthMethod::PrivateKeyJwt]
    } else if has_secret {
        &[
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::ClientSecretJwt,
        ]
    } else {
        &[TokenEndpointAuthMethod::None]
    };
    candidates
        .iter()
        .copied()
        .find(|m| offers(*m))
        .ok_or_else(|| supported.map(|list| list.join(", ")).unwrap_or_default())
}

/// A `POST` of `body` (form-urlencoded) to `url`, authenticated as
/// `client` at `now` (unix seconds): the request every client-authenticated
/// endpoint takes.
pub fn authenticated_form_post(
    url: &Url,
    client: &ClientConfig,
    now: u64,
    mut body: Serializer<'_, String>,
) -> Result<HttpRequest, ClientAuthError> {
    let mut headers = vec![
        ("accept", "application/json".to_owned()),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let method = client.auth_method;
    match method {
        TokenEndpointAuthMethod::ClientSecretBasic => {
            let secret = client_secret(client, method)?;
            headers.push((
                "authorization",
                basic_auth_header(&client.client_id, secret.expose()),
            ));
        }
        TokenEndpointAuthMethod::ClientSecretPost => {
            let secret = client_secret(client, method)?;
            body.append_pair("client_id", &client.client_id)
                .append_pair("client_secret", secret.expose());
        }
        TokenEndpointAuthMethod::ClientSecretJwt | TokenEndpointAuthMethod::PrivateKeyJwt => {
            let assertion = client_assertion(client, now)?;
            body.append_pair("client_id", &client.client_id)
                .append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE)
                .append_pair("client_assertion", &assertion);
        }
        TokenEndpointAuthMethod::None => {
            body.append_pair("client_id", &client.client_id);
        }
    }
    Ok(HttpRequest {
        method: Method::Post,
        url: url.clone(),
        headers,
        body: Some(body.finish()),
    })
}

/// A fresh client assertion for `client` at `now`: the claims of
/// [`assertion_claims`] with a new random `jti`, signed with the client's
/// assertion key.
pub fn client_assertion(client: &ClientConfig, now: u64) -> Result<String, ClientAuthError> {
    let key = assertion_key(client, client.auth_method)?;
    let claims = assertion_claims(
        &client.client_id,
        &client.issuer,
        now,
        &random_token(JTI_BYTES),
    );
    key.sign_jwt(&claims).map_err(ClientAuthError::Signing)
}

/// The claims of a client assertion: `iss` = `sub` = `client_id`, `aud` =
/// the issuer (one string), `jti`, `iat` = `now` and `exp` = `now` +
/// [`ASSERTION_LIFETIME_SECS`].
pub fn assertion_claims(client_id: &str, issuer: &str, now: u64, jti: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(client_id));
    claims.insert("sub".into(), json!(client_id));
    claims.insert("aud".into(), json!(issuer));
    claims.insert("jti".into(), json!(jti));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now.saturating_add(ASSERTION_LIFETIME_SECS)),
    );
    claims
}

/// The `Authorization: Basic` value for a client id and secret (RFC 6749 §2.3.1).
pub fn basic_auth_header(client_id: &str, client_secret: &str) -> String {
    let id: String = byte_serialize(client_id.as_bytes()).collect();
    let secret: String = byte_serialize(client_secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn client_secret(
    client: &ClientConfig,
    method: TokenEndpointAuthMethod,
) -> Result<&Secret, ClientAuthError> {
    client
        .client_secret
        .as_ref()
        .filter(|s| !s.expose().is_empty())
        .ok_or(ClientAuthError::MissingClientSecret(method.as_str()))
}

fn assertion_key(
    client: &ClientConfig,
    method: TokenEndpointAuthMethod,
) -> Result<&AssertionSigningKey, ClientAuthError> {
    let key = client
        .assertion_key
        .as_ref()
        .ok_or(ClientAuthError::MissingSigningKey(method.as_str()))?;
    match (method, key.is_symmetric()) {
        (TokenEndpointAuthMethod::PrivateKeyJwt, true) => Err(ClientAuthError::WrongKeyKind(
            method.as_str(),
            "it is an HMAC key; give a private key",
        )),
        (TokenEndpointAuthMethod::ClientSecretJwt, false) => Err(ClientAuthError::WrongKeyKind(
            method.as_str(),
            "it is a private key; client_secret_jwt signs with the client secret",
        )),
        _ => Ok(key),
    }
}

#[cfg(test)]
mod tests;
