//! Client authentication and PAR settings: `CLIENT_AUTH_METHOD`,
//! `CLIENT_ASSERTION_SIGNING_KEY`, `CLIENT_ASSERTION_SIGNING_ALG`,
//! `CLIENT_ASSERTION_KEY_ID` and `USE_PAR`, and their builder methods.
//!
//! Keys are read and validated once, when the settings are built: a bad
//! key is a startup error naming the setting, never a failed login later.
//! When no method is configured it is chosen from the OP's
//! `token_endpoint_auth_methods_supported` at startup
//! ([`portcullis_core::client_auth::choose_auth_method`]).

use std::path::Path;

use portcullis_core::client_auth::{AssertionSigningKey, choose_auth_method};
use portcullis_core::discovery::ProviderMetadata;
use portcullis_core::jose::Algorithm;
use portcullis_core::{Secret, TokenEndpointAuthMethod};

use super::{ConfigError, OidcLayerBuilder, setting, setting_bool};

const METHOD: &str = "CLIENT_AUTH_METHOD";
const KEY: &str = "CLIENT_ASSERTION_SIGNING_KEY";
const ALG: &str = "CLIENT_ASSERTION_SIGNING_ALG";
const KID: &str = "CLIENT_ASSERTION_KEY_ID";

/// The largest key file read for `CLIENT_ASSERTION_SIGNING_KEY` (64 KiB).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Where the assertion signing key comes from.
#[derive(Clone)]
enum KeySource {
    /// PEM text, JWK text, or a file path holding either.
    Text(String),
    /// A key parsed by the application.
    Key(AssertionSigningKey),
}

/// The builder's client authentication options, as given.
#[derive(Clone, Default)]
pub(super) struct ClientAuthOptions {
    method: Option<TokenEndpointAuthMethod>,
    key: Option<KeySource>,
    alg: Option<Algorithm>,
    kid: Option<String>,
    use_par: bool,
}

/// Resolved client authentication settings.
#[derive(Clone, Debug)]
pub(crate) struct ClientAuthSettings {
    /// The configured method; `None` chooses one from the OP's metadata.
    pub method: Option<TokenEndpointAuthMethod>,
    /// The private key for `private_key_jwt`.
    pub private_key: Option<AssertionSigningKey>,
    /// The HMAC algorithm for `client_secret_jwt`.
    pub hmac_alg: Algorithm,
    /// Whether every login uses a pushed authorization request.
    pub use_par: bool,
}

impl ClientAuthOptions {
    /// The options from `lookup` (the environment, or another source).
    pub(super) fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env_var = |name: &str| setting(lookup, name);
        let env_bool = |name: &'static str| setting_bool(lookup, name);
        let mut options = Self::default();
        if let Some(method) = env_var(METHOD) {
            options.method = Some(parse_method(&method)?);
        }
        options.key = env_var(KEY).map(KeySource::Text);
        if let Some(alg) = env_var(ALG) {
            options.alg = Some(alg.trim().parse().map_err(|_| ConfigError::Invalid {
                name: ALG,
                reason: format!(
                    "expected RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, \
                     HS256, HS384 or HS512, got {:?}",
                    alg.trim()
                ),
            })?);
        }
        options.kid = env_var(KID);
        options.use_par = env_bool("USE_PAR")?.unwrap_or(false);
        Ok(options)
    }

    /// Validates the options against the configured client secret.
    pub(super) fn resolve(
        self,
        client_secret: Option<&Secret>,
    ) -> Result<ClientAuthSettings, ConfigError> {
        let private_key = match self.key {
            None => None,
            Some(KeySource::Key(key)) => Some(key),
            Some(KeySource::Text(text)) => Some(load_key(&text)?),
        };
        let private_key = match private_key {
            Some(mut key) => {
                if let Some(alg) = self.alg {
                    key = key.with_alg(alg).map_err(|e| invalid(ALG, e.to_string()))?;
                }
                if let Some(kid) = self.kid {
                    key = key.with_kid(kid);
                }
                Some(key)
            }
            None => None,
        };
        let hmac_alg = match (self.alg, &private_key) {
            (Some(alg), None) if alg.is_symmetric() => alg,
            (Some(alg), None) if self.method == Some(TokenEndpointAuthMethod::ClientSecretJwt) => {
                return Err(invalid(
                    ALG,
                    format!("client_secret_jwt signs with HS256, HS384 or HS512, not {alg}"),
                ));
            }
            _ => Algorithm::HS256,
        };
        let has_secret = client_secret.is_some_and(|s| !s.expose().is_empty());
        use TokenEndpointAuthMethod as M;
        match self.method {
            Some(M::ClientSecretBasic | M::ClientSecretPost | M::ClientSecretJwt)
                if !has_secret =>
            {
                return Err(ConfigError::Missing(
                    "CLIENT_SECRET (required by the token endpoint auth method)",
                ));
            }
            Some(M::PrivateKeyJwt) if private_key.is_none() => {
                return Err(ConfigError::Missing(
                    "CLIENT_ASSERTION_SIGNING_KEY (required by private_key_jwt)",
                ));
            }
            Some(method) if method != M::PrivateKeyJwt && private_key.is_some() => {
                return Err(invalid(
                    KEY,
                    format!(
                        "a signing key is configured but {METHOD} is {}; set it to \
                         private_key_jwt or remove the key",
                        method.as_str()
                    ),
                ));
            }
            _ => {}
        }
        if self.method == Some(M::ClientSecretJwt)
            && let Some(secret) = client_secret
        {
            // Checks the secret is long enough now, not at the first login.
            AssertionSigningKey::from_client_secret(secret, hmac_alg)
                .map_err(|e| invalid("CLIENT_SECRET", e.to_string()))?;
        }
        Ok(ClientAuthSettings {
            method: self.method,
            private_key,
            hmac_alg,
            use_par: self.use_par,
        })
    }
}

impl ClientAuthSettings {
    /// The method and assertion key to run with against this OP: the
    /// configured method, else one chosen from its metadata.
    pub(crate) fn for_provider(
        &self,
        metadata: &ProviderMetadata,
        client_secret: Option<&Secret>,
    ) -> Result<(TokenEndpointAuthMethod, Option<AssertionSigningKey>), ConfigError> {
        let has_secret = client_secret.is_some_and(|s| !s.expose().is_empty());
        let method = match self.method {
            Some(method) => {
                if let Some(supported) = &metadata.token_endpoint_auth_methods_supported
                    && !supported.iter().any(|m| m == method.as_str())
                {
                    tracing::warn!(
                        method = method.as_str(),
                        supported = %supported.join(", "),
                        "the OP does not advertise the configured client authentication method"
                    );
                }
                method
            }
            None => choose_auth_method(
                metadata.token_endpoint_auth_methods_supported.as_deref(),
                has_secret,
                self.private_key.is_some(),
            )
            .map_err(|supported| {
                invalid(
                    METHOD,
                    format!(
                        "no client authentication method fits both the configured credentials \
                         and the OP, which supports: {supported}; configure a client secret or \
                         CLIENT_ASSERTION_SIGNING_KEY that fits"
                    ),
                )
            })?,
        };
        let key = match method {
            TokenEndpointAuthMethod::PrivateKeyJwt => self.private_key.clone(),
            TokenEndpointAuthMethod::ClientSecretJwt => match client_secret {
                Some(secret) => Some(
                    AssertionSigningKey::from_client_secret(secret, self.hmac_alg)
                        .map_err(|e| invalid("CLIENT_SECRET", e.to_string()))?,
                ),
                None => None,
            },
            _ => None,
        };
        Ok((method, key))
    }
}

impl OidcLayerBuilder {
    /// How the client authenticates at the token endpoint and every other
    /// client-authenticated endpoint (`CLIENT_AUTH_METHOD`). Default: chosen
    /// from the OP's `token_endpoint_auth_methods_supported` and the
    /// credentials given: `private_key_jwt` with a signing key,
    /// `client_secret_basic` (or the first secret method the OP supports)
    /// with a client secret, `none` without either.
    pub fn token_endpoint_auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.client_auth.method = Some(method);
        self
    }

    /// The private key that signs `private_key_jwt` assertions
    /// (`CLIENT_ASSERTION_SIGNING_KEY`): PEM text (PKCS#8, PKCS#1 or SEC1),
    /// a private JWK (its `kid` and `alg` are used), or the path of a file
    /// holding either. RSA, EC P-256/P-384 and Ed25519 keys are accepted.
    pub fn client_assertion_signing_key(mut self, key: impl Into<String>) -> Self {
        self.client_auth.key = Some(KeySource::Text(key.into()));
        self
    }

    /// A signing key already parsed by the application (for example read
    /// from a secret store).
    pub fn client_assertion_key(mut self, key: AssertionSigningKey) -> Self {
        self.client_auth.key = Some(KeySource::Key(key));
        self
    }

    /// The assertion algorithm (`CLIENT_ASSERTION_SIGNING_ALG`). Default:
    /// the JWK's `alg`, else RS256 for RSA, ES256/ES384 for EC, EdDSA for
    /// Ed25519, and HS256 for `client_secret_jwt`.
    pub fn client_assertion_signing_alg(mut self, alg: Algorithm) -> Self {
        self.client_auth.alg = Some(alg);
        self
    }

    /// The `kid` of assertion headers (`CLIENT_ASSERTION_KEY_ID`), for PEM
    /// keys or to override a JWK's.
    pub fn client_assertion_key_id(mut self, kid: impl Into<String>) -> Self {
        self.client_auth.kid = Some(kid.into());
        self
    }

    /// Sends every authorization request as a pushed authorization request
    /// (RFC 9126; `USE_PAR`). Default `false`; PAR is used anyway when the
    /// OP's metadata sets `require_pushed_authorization_requests`.
    pub fn use_par(mut self, enabled: bool) -> Self {
        self.client_auth.use_par = enabled;
        self
    }
}

/// Reads `CLIENT_ASSERTION_SIGNING_KEY`: PEM or JWK text, else a file path.
fn load_key(text: &str) -> Result<AssertionSigningKey, ConfigError> {
    let trimmed = text.trim();
    let inline = trimmed.starts_with('{') || trimmed.starts_with("-----BEGIN");
    let content = if inline {
        trimmed.to_owned()
    } else {
        read_key_file(Path::new(trimmed))?
    };
    AssertionSigningKey::parse(&content).map_err(|e| {
        let origin = if inline {
            String::new()
        } else {
            format!(" (read from {trimmed})")
        };
        invalid(KEY, format!("{e}{origin}"))
    })
}

fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        invalid(
            KEY,
            format!(
                "expected PEM or JWK text, or the path of a key file; {shown} cannot be read: {e}"
            ),
        )
    })?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(invalid(
            KEY,
            format!("{shown} is not a key file (a regular file of at most 64 KiB)"),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| invalid(KEY, format!("{shown} cannot be read: {e}")))
}

fn parse_method(value: &str) -> Result<TokenEndpointAuthMethod, ConfigError> {
    TokenEndpointAuthMethod::from_name(value.trim()).ok_or_else(|| {
        invalid(
            METHOD,
            format!(
                "expected client_secret_basic, client_secret_post, client_secret_jwt, \
                 private_key_jwt or none, got {:?}",
                value.trim()
            ),
        )
    })
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_PEM: &str = include_str!("../../../portcullis-core/tests/fixtures/keys/ec-p256.pem");
    const ED_JWK: &str =
        include_str!("../../../portcullis-core/tests/fixtures/keys/ed25519.jwk.json");
    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portcullis-core/tests/fixtures/keys/"
    );

    fn options() -> ClientAuthOptions {
        ClientAuthOptions::default()
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn signing_key_is_read_from_pem_text_jwk_text_or_a_file() {
        let mut o = options();
        o.key = Some(KeySource::Text(EC_PEM.into()));
        let s = o.resolve(None).unwrap();
        assert_eq!(s.private_key.unwrap().alg(), Algorithm::ES256);
        let mut o = options();
        o.key = Some(KeySource::Text(ED_JWK.into()));
        let key = o.resolve(None).unwrap().private_key.unwrap();
        assert_eq!((key.alg(), key.kid()), (Algorithm::EdDSA, Some("ed-1")));
        let mut o = options();
        o.key = Some(KeySource::Text(format!("{FIXTURES}rsa.pem")));
        assert_eq!(
            o.resolve(None).unwrap().private_key.unwrap().alg(),
            Algorithm::RS256
        );
    }

    #[test]
    fn a_bad_key_is_a_startup_error_naming_the_setting() {
        for text in [
            format!("{FIXTURES}does-not-exist.pem"),
            format!("{FIXTURES}rsa-public.pem"),
            format!("{FIXTURES}ec-p256-encrypted.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".to_owned(),
            "{\"kty\":\"EC\"}".to_owned(),
            FIXTURES.to_owned(), // a directory
        ] {
            let mut o = options();
            o.key = Some(KeySource::Text(text.clone()));
            let err = o.resolve(None).expect_err("must fail").to_string();
            assert!(err.contains(KEY), "{text}: {err}");
        }
    }

    #[test]
    fn key_errors_do_not_echo_the_key() {
        let mut o = options();
        let mut jwk: serde_json::Value = serde_json::from_str(ED_JWK).unwrap();
        jwk["x"] = serde_json::json!("AAAA");
        let d = jwk["d"].as_str().unwrap().to_owned();
        o.key = Some(KeySource::Text(jwk.to_string()));
        let err = o.resolve(None).expect_err("must fail").to_string();
        assert!(!err.contains(&d), "{err}");
    }

    #[test]
    fn alg_and_kid_settings_apply_to_the_key() {
        let mut o = options();
        o.key = Some(KeySource::Text(format!("{FIXTURES}rsa.pem")));
        o.alg = Some(Algorithm::PS256);
        o.kid = Some("k1".into());
        let key = o.resolve(None).unwrap().private_key.unwrap();
        assert_eq!((key.alg(), key.kid()), (Algorithm::PS256, Some("k1")));
        let mut o = options();
        o.key = Some(KeySource::Text(EC_PEM.into()));
        o.alg = Some(Algorithm::RS256);
        let err = o.resolve(None).unwrap_err().to_string();
        assert!(err.contains(ALG), "{err}");
    }

    #[test]
    fn each_method_demands_its_credential() {
        use TokenEndpointAuthMethod as M;
        let mut o = options();
        o.method = Some(M::PrivateKeyJwt);
        let err = o.resolve(Some(&secret("s"))).unwrap_err().to_string();
        assert!(err.contains(KEY), "{err}");
        for method in [
            M::ClientSecretBasic,
            M::ClientSecretPost,
            M::ClientSecretJwt,
        ] {
            let mut o = options();
            o.method = Some(method);
            let err = o.resolve(None).unwrap_err().to_string();
            assert!(err.contains("CLIENT_SECRET"), "{err}");
        }
        let mut o = options();
        o.method = Some(M::ClientSecretJwt);
        let err = o
            .resolve(Some(&secret("too-short")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLIENT_SECRET") && err.contains("32"), "{err}");
        let mut o = options();
        o.method = Some(M::ClientSecretBasic);
        o.key = Some(KeySource::Text(EC_PEM.into()));
        let err = o.resolve(Some(&secret("s"))).unwrap_err().to_string();
        assert!(err.contains("private_key_jwt"), "{err}");
        let mut o = options();
        o.method = Some(M::ClientSecretJwt);
        o.alg = Some(Algorithm::ES256);
        assert!(o.resolve(Some(&secret(&"x".repeat(32)))).is_err());
    }

    #[test]
    fn unknown_method_names_are_refused_with_the_choices() {
        let err = parse_method("tls_client_auth").unwrap_err().to_string();
        assert!(err.contains("private_key_jwt"), "{err}");
        assert_eq!(
            parse_method(" private_key_jwt ").unwrap(),
            TokenEndpointAuthMethod::PrivateKeyJwt
        );
    }

    fn metadata(methods: Option<&[&str]>) -> ProviderMetadata {
        let mut doc = serde_json::json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "token_endpoint": "https://op.example/token",
            "jwks_uri": "https://op.example/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        if let Some(methods) = methods {
            doc["token_endpoint_auth_methods_supported"] = serde_json::json!(methods);
        }
        serde_json::from_value(doc).expect("metadata")
    }

    #[test]
    fn an_unset_method_is_chosen_from_the_op_metadata() {
        use TokenEndpointAuthMethod as M;
        let long = secret(&"s".repeat(40));
        let settings = options().resolve(Some(&long)).unwrap();
        let post_only = metadata(Some(&["client_secret_post"]));
        let (method, key) = settings.for_provider(&post_only, Some(&long)).unwrap();
        assert_eq!((method, key.is_none()), (M::ClientSecretPost, true));
        let jwt_only = metadata(Some(&["client_secret_jwt"]));
        let (method, key) = settings.for_provider(&jwt_only, Some(&long)).unwrap();
        assert_eq!(method, M::ClientSecretJwt);
        assert!(key.expect("an HMAC key").is_symmetric());
        let (method, _) = settings.for_provider(&metadata(None), Some(&long)).unwrap();
        assert_eq!(method, M::ClientSecretBasic);
        // A key selects private_key_jwt, unless the OP cannot take it.
        let mut o = options();
        o.key = Some(KeySource::Text(EC_PEM.into()));
        let settings = o.resolve(None).unwrap();
        let (method, key) = settings.for_provider(&metadata(None), None).unwrap();
        assert_eq!(
            (method, key.map(|k| k.alg())),
            (M::PrivateKeyJwt, Some(Algorithm::ES256))
        );
        let err = settings
            .for_provider(&post_only, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(METHOD) && err.contains("client_secret_post"),
            "{err}"
        );
    }
}
