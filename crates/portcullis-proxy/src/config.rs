//! The gate's configuration: environment variables, optionally layered over
//! a TOML file (`portcullis proxy --config file.toml`).
//!
//! Every option has one name. In the environment it is upper case
//! (`UPSTREAM`); in the TOML file it may be written in either case
//! (`upstream = "http://127.0.0.1:8080"`). The environment wins over the file.
//! List options (`SKIP_AUTH`, `TRUSTED_PROXIES`, `ALLOWED_*`) are
//! comma-separated in the environment and strings or arrays in TOML.
//! Per-prefix authorization rules are `[[authorization]]` tables in TOML.
//! The library's own settings (`ISSUER_BASE_URL`, `CLIENT_ID`, `SECRET`,
//! `SESSION_STORE`, …) are read through the same lookup, so they can live in
//! the file too. `docs/proxy.md` has the table of every option.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use portcullis::{OidcLayerBuilder, Routes};
use serde::Deserialize;
use url::Url;

use crate::headers::IdentityHeaders;
use crate::rules::{AuthzRule, ClaimRule, SkipRule};

/// Why the gate's configuration is unusable. Each message names the option.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required option is missing.
    #[error("missing required setting {0}")]
    Missing(&'static str),
    /// An option has a value the gate cannot use.
    #[error("invalid value for {name}: {reason}")]
    Invalid {
        /// The option.
        name: String,
        /// What is wrong, and what to write instead.
        reason: String,
    },
    /// The TOML file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML file is not valid TOML, or has a table of the wrong shape.
    #[error("the configuration file {path} is not valid: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The library's part of the configuration is invalid.
    #[error(transparent)]
    Library(#[from] portcullis::ConfigError),
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object a line.
    Json,
}

/// TLS certificate and key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (`TLS_CERT_FILE`).
    pub cert: PathBuf,
    /// The private key (`TLS_KEY_FILE`).
    pub key: PathBuf,
}

/// Everything the gate runs with (the library's settings are in the
/// [`OidcLayerBuilder`] returned next to it by [`ProxyConfig::load`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Where requests go (`UPSTREAM`), `http://host:port` with an optional path prefix.
    pub upstream: Url,
    /// The prefix of the gate's own routes (`ROUTE_PREFIX`, default `/oauth2`; empty for none).
    pub route_prefix: String,
    /// Requests that need no sign-in (`SKIP_AUTH`).
    pub skip_auth: Vec<SkipRule>,
    /// Who may reach which path prefix.
    pub authorization: Vec<AuthzRule>,
    /// The identity headers sent upstream.
    pub identity: IdentityHeaders,
    /// Peers whose `X-Forwarded-*` headers are believed (`TRUSTED_PROXIES`; none by default).
    pub trusted_proxies: Vec<IpNet>,
    /// The gate's listen address (`LISTEN`, default `0.0.0.0:$PORT`, `PORT` default 4180).
    pub listen: SocketAddr,
    /// The metrics and health listener (`METRICS_LISTEN`, default `127.0.0.1:9180`; `off` disables).
    pub metrics_listen: Option<SocketAddr>,
    /// TLS for the gate's listener; plain http without it.
    pub tls: Option<TlsFiles>,
    /// Upstream TCP connect timeout (`UPSTREAM_CONNECT_TIMEOUT`, seconds, default 5).
    pub upstream_connect_timeout: Duration,
    /// Time the upstream has to send response headers (`UPSTREAM_TIMEOUT`, seconds, default 60).
    pub upstream_timeout: Duration,
    /// Time a client has to send its request headers (`CLIENT_HEADER_TIMEOUT`, seconds, default 10).
    pub client_header_timeout: Duration,
    /// How long in-flight requests may drain on SIGTERM (`SHUTDOWN_GRACE`, seconds, default 30).
    pub shutdown_grace: Duration,
    /// Largest request body forwarded upstream (`MAX_BODY_BYTES`, default 100 MiB).
    pub max_body_bytes: u64,
    /// Whether the client's `Host` is sent upstream (`PASS_HOST_HEADER`, default true);
    /// otherwise the upstream's own authority.
    pub pass_host_header: bool,
    /// Log format (`LOG_FORMAT`, `text` or `json`).
    pub log_format: LogFormat,
}

/// The `[[authorization]]` tables of the TOML file.
#[derive(Debug, Default, Deserialize)]
struct TomlRules {
    #[serde(default)]
    authorization: Vec<TomlRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRule {
    prefix: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    email_domains: Vec<String>,
    #[serde(default)]
    claims: toml::Table,
}

/// Reads one environment variable.
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where option values come from: the environment, then the TOML file.
pub struct Source {
    env: EnvLookup,
    file: toml::Table,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Source {
    /// The process environment, with the TOML file at `path` under it.
    pub fn from_env_and_file(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match path {
            None => toml::Table::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                parse_toml(&text, path)?
            }
        };
        Ok(Self {
            env: Box::new(|name| std::env::var(name).ok()),
            file,
        })
    }

    /// Options from `env` (a stand-in for the environment) over the TOML text `toml`.
    pub fn from_parts(
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        toml: &str,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            env: Box::new(env),
            file: parse_toml(toml, Path::new("<inline>"))?,
        })
    }

    fn file_value(&self, name: &str) -> Option<&toml::Value> {
        self.file
            .get(name)
            .or_else(|| self.file.get(&name.to_ascii_lowercase()))
    }

    /// A scalar option as text (blank counts as unset). TOML arrays are
    /// joined with commas.
    pub fn text(&self, name: &str) -> Option<String> {
        if let Some(value) = (self.env)(name) {
            return Some(value);
        }
        match self.file_value(name)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Array(items) => {
                Some(items.iter().map(scalar_text).collect::<Vec<_>>().join(","))
            }
            other => Some(scalar_text(other)),
        }
    }

    /// Like [`text`](Self::text), but an option set to an empty string in
    /// the environment or the file is `Some("")` (for `ROUTE_PREFIX=`).
    fn text_keep_empty(&self, name: &str) -> Option<String> {
        self.text(name)
    }

    fn non_blank(&self, name: &str) -> Option<String> {
        self.text(name).filter(|v| !v.trim().is_empty())
    }

    /// A list option: comma-separated in the environment, an array (or a
    /// comma-separated string) in the file.
    pub fn list(&self, name: &str) -> Vec<String> {
        if let Some(value) = (self.env)(name) {
            return split_list(&value);
        }
        match self.file_value(name) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(scalar_text)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            Some(other) => split_list(&scalar_text(other)),
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.non_blank(name) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(invalid(name, format!("expected true or false, got {v:?}"))),
            },
        }
    }

    fn seconds(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        match self.non_blank(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0 * 365.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| invalid(name, format!("expected a number of seconds, got {v:?}"))),
        }
    }
}

fn scalar_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_toml(text: &str, path: &Path) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|source| ConfigError::Toml {
            path: path.to_owned(),
            source: Box::new(source),
        })
}

/// The default identity header names.
pub const DEFAULT_USER_HEADER: &str = "X-Forwarded-User";
/// See [`DEFAULT_USER_HEADER`].
pub const DEFAULT_EMAIL_HEADER: &str = "X-Forwarded-Email";
/// See [`DEFAULT_USER_HEADER`].
pub const DEFAULT_PREFERRED_USERNAME_HEADER: &str = "X-Forwarded-Preferred-Username";
/// See [`DEFAULT_USER_HEADER`].
pub const DEFAULT_GROUPS_HEADER: &str = "X-Forwarded-Groups";
/// See [`DEFAULT_USER_HEADER`].
pub const DEFAULT_ACCESS_TOKEN_HEADER: &str = "X-Forwarded-Access-Token";

impl ProxyConfig {
    /// Reads the gate's options and the library's from `source`. The
    /// builder has the routes under `ROUTE_PREFIX` and the Redis store opener.
    pub fn load(source: &Source) -> Result<(Self, OidcLayerBuilder), ConfigError> {
        let config = Self::from_source(source)?;
        let builder = OidcLayerBuilder::from_lookup(|name| source.text(name))?
            .routes(config.library_routes())
            // The gate decides per request (skip-auth rules), not the engine.
            .auth_required(false)
            .store_opener(std::sync::Arc::new(portcullis_redis::RedisOpener::default()));
        Ok((config, builder))
    }

    /// Reads the gate's own options.
    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let upstream = source
            .non_blank("UPSTREAM")
            .ok_or(ConfigError::Missing("UPSTREAM"))?;
        let upstream = parse_upstream(&upstream)?;
        let route_prefix = parse_prefix(source.text_keep_empty("ROUTE_PREFIX"))?;
        let skip_auth = source
            .list("SKIP_AUTH")
            .iter()
            .map(|rule| SkipRule::parse(rule).map_err(|reason| invalid("SKIP_AUTH", reason)))
            .collect::<Result<Vec<_>, _>>()?;
        let authorization = authorization_rules(source)?;
        let identity = IdentityHeaders {
            user: header_name(source, "USER_HEADER", DEFAULT_USER_HEADER)?,
            email: header_name(source, "EMAIL_HEADER", DEFAULT_EMAIL_HEADER)?,
            preferred_username: header_name(
                source,
                "PREFERRED_USERNAME_HEADER",
                DEFAULT_PREFERRED_USERNAME_HEADER,
            )?,
            groups: header_name(source, "GROUPS_HEADER", DEFAULT_GROUPS_HEADER)?,
            access_token: header_name(source, "ACCESS_TOKEN_HEADER", DEFAULT_ACCESS_TOKEN_HEADER)?,
            groups_claim: source
                .non_blank("GROUPS_CLAIM")
                .unwrap_or_else(|| "groups".to_owned()),
            pass_access_token: source.bool("PASS_ACCESS_TOKEN", false)?,
            pass_authorization: source.bool("PASS_AUTHORIZATION_HEADER", false)?,
        };
        let trusted_proxies = source
            .list("TRUSTED_PROXIES")
            .iter()
            .map(|net| parse_net(net))
            .collect::<Result<Vec<_>, _>>()?;
        let port = match source.non_blank("PORT") {
            None => 4180,
            Some(p) => p
                .trim()
                .parse::<u16>()
                .map_err(|_| invalid("PORT", format!("expected a port number, got {p:?}")))?,
        };
        let listen = match source.non_blank("LISTEN") {
            None => SocketAddr::from(([0, 0, 0, 0], port)),
            Some(addr) => parse_addr("LISTEN", &addr)?,
        };
        let metrics_listen = match source.non_blank("METRICS_LISTEN") {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9180))),
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            Some(addr) => Some(parse_addr("METRICS_LISTEN", &addr)?),
        };
        let tls = match (
            source.non_blank("TLS_CERT_FILE"),
            source.non_blank("TLS_KEY_FILE"),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (Some(_), None) => return Err(ConfigError::Missing("TLS_KEY_FILE")),
            (None, Some(_)) => return Err(ConfigError::Missing("TLS_CERT_FILE")),
        };
        let max_body_bytes = match source.non_blank("MAX_BODY_BYTES") {
            None => 100 * 1024 * 1024,
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                invalid(
                    "MAX_BODY_BYTES",
                    format!("expected a number of bytes, got {v:?}"),
                )
            })?,
        };
        let log_format = match source.non_blank("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("expected text or json, got {other:?}"),
                ));
            }
        };
        Ok(Self {
            upstream,
            route_prefix,
            skip_auth,
            authorization,
            identity,
            trusted_proxies,
            listen,
            metrics_listen,
            tls,
            upstream_connect_timeout: source.seconds("UPSTREAM_CONNECT_TIMEOUT", 5)?,
            upstream_timeout: source.seconds("UPSTREAM_TIMEOUT", 60)?,
            client_header_timeout: source.seconds("CLIENT_HEADER_TIMEOUT", 10)?,
            shutdown_grace: source.seconds("SHUTDOWN_GRACE", 30)?,
            max_body_bytes,
            pass_host_header: source.bool("PASS_HOST_HEADER", true)?,
            log_format,
        })
    }

    /// The path of one of the gate's routes: `{prefix}{path}`.
    pub fn route(&self, path: &str) -> String {
        format!("{}{path}", self.route_prefix)
    }

    /// The library's routes, under the prefix.
    pub fn library_routes(&self) -> Routes {
        Routes {
            login: Some(self.route("/login")),
            callback: Some(self.route("/callback")),
            logout: Some(self.route("/logout")),
            backchannel_logout: Some(self.route("/backchannel-logout")),
            frontchannel_logout: Some(self.route("/frontchannel-logout")),
            post_logout_redirect: "/".to_owned(),
        }
    }
}

fn parse_upstream(value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|e| invalid("UPSTREAM", format!("{e}: write http://host:port")))?;
    if url.scheme() != "http" {
        return Err(invalid(
            "UPSTREAM",
            format!(
                "only http:// upstreams are supported (got {}://); keep the upstream on a private network or loopback",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid("UPSTREAM", "the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "UPSTREAM",
            "write only scheme, host, port and an optional path prefix",
        ));
    }
    Ok(url)
}

fn parse_prefix(value: Option<String>) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok("/oauth2".to_owned());
    };
    let value = value.trim().trim_end_matches('/');
    if value.is_empty() {
        return Ok(String::new());
    }
    let valid = value.starts_with('/')
        && !value.contains("//")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
        && !value.split('/').any(|s| s == "." || s == "..");
    if !valid {
        return Err(invalid(
            "ROUTE_PREFIX",
            format!("expected a path such as /oauth2 (or empty), got {value:?}"),
        ));
    }
    Ok(value.to_owned())
}

fn header_name(source: &Source, option: &str, default: &str) -> Result<String, ConfigError> {
    let name = source
        .non_blank(option)
        .unwrap_or_else(|| default.to_owned());
    let name = name.trim().to_owned();
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(option, format!("{name:?} is not a header name")))?;
    Ok(name)
}

fn parse_net(value: &str) -> Result<IpNet, ConfigError> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid(
                "TRUSTED_PROXIES",
                format!("expected IP addresses or CIDR ranges such as 10.0.0.0/8, got {value:?}"),
            )
        })
}

fn parse_addr(name: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        invalid(
            name,
            format!("expected an address such as 0.0.0.0:4180, got {value:?}"),
        )
    })
}

fn authorization_rules(source: &Source) -> Result<Vec<AuthzRule>, ConfigError> {
    let mut rules = Vec::new();
    let allow_unverified = source.bool("ALLOW_UNVERIFIED_EMAIL", false)?;
    let groups = source.list("ALLOWED_GROUPS");
    let emails = source.list("ALLOWED_EMAILS");
    let domains = source.list("ALLOWED_EMAIL_DOMAINS");
    if !(groups.is_empty() && emails.is_empty() && domains.is_empty()) {
        rules.push(
            AuthzRule::new("/", groups, emails, domains, Vec::new(), allow_unverified)
                .map_err(|reason| invalid("ALLOWED_EMAIL_DOMAINS", reason))?,
        );
    }
    let tables: TomlRules = toml::Value::Table(source.file.clone())
        .try_into()
        .map_err(|e: toml::de::Error| invalid("authorization", e.to_string()))?;
    for table in tables.authorization {
        let claims = table
            .claims
            .iter()
            .map(|(name, value)| {
                let value: serde_json::Value = value
                    .clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| invalid("authorization.claims", e.to_string()))?;
                Ok(ClaimRule::new(name.clone(), value))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if !table.prefix.starts_with('/') {
            return Err(invalid(
                "authorization.prefix",
                format!("expected a path starting with /, got {:?}", table.prefix),
            ));
        }
        rules.push(
            AuthzRule::new(
                &table.prefix,
                table.groups,
                table.emails,
                table.email_domains,
                claims,
                allow_unverified,
            )
            .map_err(|reason| invalid("authorization", reason))?,
        );
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(env: &'static [(&'static str, &'static str)], toml: &str) -> Source {
        Source::from_parts(
            move |name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            toml,
        )
        .expect("source")
    }

    #[test]
    fn the_environment_wins_over_the_file_and_file_keys_may_be_lower_case() {
        let s = source(
            &[("UPSTREAM", "http://127.0.0.1:1")],
            "upstream = 'http://127.0.0.1:2'\nroute_prefix = '/auth'\nskip_auth = ['GET=^/$', '^/public/']",
        );
        let c = ProxyConfig::from_source(&s).expect("config");
        assert_eq!(c.upstream.as_str(), "http://127.0.0.1:1/");
        assert_eq!(c.route_prefix, "/auth");
        assert_eq!(c.skip_auth.len(), 2);
    }

    #[test]
    fn route_prefix_defaults_to_oauth2_and_empty_means_none() {
        let c = ProxyConfig::from_source(&source(&[("UPSTREAM", "http://a:1")], "")).expect("c");
        assert_eq!(c.route("/auth"), "/oauth2/auth");
        let c = ProxyConfig::from_source(&source(
            &[("UPSTREAM", "http://a:1"), ("ROUTE_PREFIX", "")],
            "",
        ))
        .expect("c");
        assert_eq!(c.route("/login"), "/login");
        assert_eq!(c.library_routes().callback.as_deref(), Some("/callback"));
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        for (env, name) in [
            (&[("UPSTREAM", "ftp://x")][..], "UPSTREAM"),
            (
                &[("UPSTREAM", "http://a:1"), ("ROUTE_PREFIX", "/a/../b")][..],
                "ROUTE_PREFIX",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("TRUSTED_PROXIES", "nope")][..],
                "TRUSTED_PROXIES",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("SKIP_AUTH", "public")][..],
                "SKIP_AUTH",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("USER_HEADER", "bad header")][..],
                "USER_HEADER",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("UPSTREAM_TIMEOUT", "-1")][..],
                "UPSTREAM_TIMEOUT",
            ),
        ] {
            let env: &'static [(&'static str, &'static str)] =
                Box::leak(env.to_vec().into_boxed_slice());
            let error = ProxyConfig::from_source(&source(env, "")).expect_err(name);
            assert!(error.to_string().contains(name), "{error}");
        }
        let error = ProxyConfig::from_source(&source(&[], "")).expect_err("missing");
        assert!(matches!(error, ConfigError::Missing("UPSTREAM")));
    }

    #[test]
    fn authorization_tables_become_rules() {
        let s = source(
            &[
                ("UPSTREAM", "http://a:1"),
                ("ALLOWED_EMAIL_DOMAINS", "example.com"),
            ],
            "[[authorization]]\nprefix = '/admin'\ngroups = ['admin']\nclaims = { department = 'eng' }\n",
        );
        let c = ProxyConfig::from_source(&s).expect("config");
        assert_eq!(c.authorization.len(), 2);
        assert_eq!(c.authorization[1].prefix(), "/admin");
    }
}
