//! What to do when the OpenID Provider cannot be used at startup: an
//! unreachable OP, a refused connection, a TLS failure and an issuer mismatch
//! each get their own sentence.

use portcullis_core::discovery::DiscoveryError;

use portcullis_core::token::TokenError;

use crate::error::OidcError;
use crate::http_client::{HttpError, TransportFailure};
use crate::provider::ProviderError;

/// The likely fix for a failed discovery of `issuer`, as one or two sentences.
pub(crate) fn discovery_hint(issuer: &str, error: &ProviderError, timeout_secs: u64) -> String {
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| issuer.to_owned());
    match error {
        ProviderError::Http(HttpError::Transport { kind, .. }) => match kind {
            TransportFailure::Refused => format!(
                "Nothing accepts connections at {host}: is the OP running at {issuer}? \
                 (For a local try, start one with `portcullis idp --port <port>`.)"
            ),
            TransportFailure::Dns => format!(
                "The host name in ISSUER_BASE_URL does not resolve: check {issuer} for \
                 typos, and this machine's DNS."
            ),
            TransportFailure::Tls => format!(
                "The TLS handshake with {host} failed: the OP's certificate is not trusted \
                 here or is not valid for that name, or the OP speaks plain http (then use \
                 http:// in ISSUER_BASE_URL)."
            ),
            TransportFailure::Timeout => format!(
                "The OP did not answer within {timeout_secs} s: is {host} reachable from \
                 this machine (firewall, proxy, VPN)?"
            ),
            _ => format!(
                "Check that {host} is reachable from this machine and that ISSUER_BASE_URL \
                 is right."
            ),
        },
        ProviderError::Http(_) => {
            "The OP's discovery document is larger than Portcullis accepts: check that \
             ISSUER_BASE_URL points at the OP, not at another service."
                .to_owned()
        }
        ProviderError::Discovery(DiscoveryError::IssuerMismatch { configured, actual }) => {
            issuer_mismatch_hint(configured, actual)
        }
        ProviderError::Discovery(DiscoveryError::Status(404)) => format!(
            "There is no discovery document at {}/.well-known/openid-configuration: \
             ISSUER_BASE_URL must be the issuer itself, with its path (Okta: \
             https://<org>.okta.com/oauth2/default; Keycloak: https://<host>/realms/<realm>; \
             Entra ID: https://login.microsoftonline.com/<tenant>/v2.0).",
            issuer.trim_end_matches('/')
        ),
        ProviderError::Discovery(DiscoveryError::Status(_)) => {
            "The OP answered with an error: check ISSUER_BASE_URL and the OP's logs.".to_owned()
        }
        ProviderError::Discovery(DiscoveryError::InvalidJson(_)) => {
            "The answer is not an OpenID Provider's metadata: check that ISSUER_BASE_URL \
             points at the OP (its issuer), not at an application or a login page."
                .to_owned()
        }
        ProviderError::Discovery(DiscoveryError::InvalidIssuer { .. }) => {
            "Set ISSUER_BASE_URL to the OP's issuer: an https URL (http only for localhost), \
             without a query or fragment."
                .to_owned()
        }
        ProviderError::Discovery(_) => {
            "The OP's metadata does not allow a safe authorization code flow with PKCE: \
             check the OP's configuration."
                .to_owned()
        }
        ProviderError::JwksStatus(_) | ProviderError::JwksDocument(_) => {
            "The OP's signing keys (its jwks_uri) could not be read: check the OP's logs."
                .to_owned()
        }
    }
}

/// The operator's fix for a callback failure that is a configuration
/// problem (logged at WARN with it); `None` for what a user or an attacker
/// can cause (logged at INFO).
pub(crate) fn callback_hint(error: &OidcError) -> Option<&'static str> {
    match error {
        OidcError::TokenExchange(TokenError::Provider { error, .. }) => match error.as_str() {
            "invalid_client" => Some(
                "the OP refused the client's credentials: check CLIENT_SECRET (and CLIENT_ID, \
                 and CLIENT_AUTH_METHOD against the method registered at the OP)",
            ),
            "unauthorized_client" => Some(
                "the OP does not allow this client the authorization code grant: enable it \
                 in the client's registration",
            ),
            "invalid_grant" => Some(
                "the OP refused the code: check that BASE_URL/callback is registered exactly as \
                 the client's redirect URI, and that this machine's clock is right",
            ),
            _ => Some("check the client's registration at the OP and the OP's logs"),
        },
        OidcError::TokenExchange(TokenError::ClientAuth(_)) => Some(
            "set CLIENT_SECRET (or CLIENT_ASSERTION_SIGNING_KEY for private_key_jwt), or \
             CLIENT_AUTH_METHOD=none for a public client",
        ),
        OidcError::TokenExchange(_) | OidcError::NoIdToken => {
            Some("the OP's token endpoint answered unexpectedly: check the OP's logs")
        }
        OidcError::LoginRequest(_) => {
            Some("the login request could not be built: check authorization_params")
        }
        OidcError::ProviderUnavailable(_) => Some(
            "the OP could not be reached from this server: check ISSUER_BASE_URL and the network",
        ),
        OidcError::Provider { error, .. }
            if error == "unauthorized_client" || error == "invalid_client" =>
        {
            Some("the OP refused the client: check CLIENT_ID and its registration at the OP")
        }
        OidcError::Provider { error, .. }
            if error == "invalid_request" || error == "invalid_scope" =>
        {
            Some(
                "the OP refused the authorization request: check SCOPE and the client's redirect URI",
            )
        }
        _ => None,
    }
}

/// Shows the two issuers side by side and names the smallest fix.
fn issuer_mismatch_hint(configured: &str, actual: &str) -> String {
    if actual.contains("{tenantid}") {
        // Entra ID's /common, /organizations and /consumers metadata name a
        // template, not an issuer: every tenant signs with its own.
        return format!(
            "ISSUER_BASE_URL is {configured:?}, a Microsoft Entra ID multi-tenant endpoint whose \
             metadata names the template {actual:?}, not an issuer. Portcullis checks one issuer \
             exactly: use your tenant's, ISSUER_BASE_URL=https://login.microsoftonline.com/<tenant \
             id>/v2.0 (see docs/providers/entra.md)."
        );
    }
    let fix = if configured.trim_end_matches('/') == actual.trim_end_matches('/') {
        if configured.ends_with('/') {
            "remove the trailing slash".to_owned()
        } else {
            "add the trailing slash".to_owned()
        }
    } else if configured.eq_ignore_ascii_case(actual) {
        "match the provider's letter case".to_owned()
    } else {
        "use the provider's issuer".to_owned()
    };
    format!(
        "The issuer must match exactly. ISSUER_BASE_URL is {configured:?}, the provider \
         says {actual:?}: {fix}, that is ISSUER_BASE_URL={actual}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(kind: TransportFailure) -> ProviderError {
        ProviderError::Http(HttpError::Transport {
            url: "https://op.example/.well-known/openid-configuration".into(),
            reason: "x".into(),
            kind,
        })
    }

    #[test]
    fn refused_dns_tls_and_timeout_each_get_their_own_fix() {
        let issuer = "https://op.example";
        let refused = discovery_hint(issuer, &transport(TransportFailure::Refused), 5);
        assert!(
            refused.contains("is the OP running at https://op.example"),
            "{refused}"
        );
        let dns = discovery_hint(issuer, &transport(TransportFailure::Dns), 5);
        assert!(dns.contains("does not resolve"), "{dns}");
        let tls = discovery_hint(issuer, &transport(TransportFailure::Tls), 5);
        assert!(tls.contains("TLS handshake"), "{tls}");
        let timeout = discovery_hint(issuer, &transport(TransportFailure::Timeout), 5);
        assert!(timeout.contains("within 5 s"), "{timeout}");
        let all = [&refused, &dns, &tls, &timeout];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_trailing_slash_mismatch_says_remove_it_and_shows_both() {
        let error = ProviderError::Discovery(DiscoveryError::IssuerMismatch {
            configured: "https://op.example/".into(),
            actual: "https://op.example".into(),
        });
        let hint = discovery_hint("https://op.example/", &error, 5);
        assert!(hint.contains("remove the trailing slash"), "{hint}");
        assert!(hint.contains("\"https://op.example/\""), "{hint}");
        assert!(
            hint.contains("ISSUER_BASE_URL=https://op.example."),
            "{hint}"
        );
    }

    #[test]
    fn entra_multi_tenant_metadata_points_at_the_tenant_issuer() {
        let hint = issuer_mismatch_hint(
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        );
        assert!(hint.contains("multi-tenant"), "{hint}");
        assert!(
            hint.contains("ISSUER_BASE_URL=https://login.microsoftonline.com/<tenant id>/v2.0"),
            "{hint}"
        );
        assert!(!hint.contains("use the provider's issuer"), "{hint}");
    }

    #[test]
    fn a_missing_trailing_slash_says_add_it() {
        // Auth0's issuer ends with a slash.
        assert!(
            issuer_mismatch_hint("https://t.auth0.com", "https://t.auth0.com/")
                .contains("add the trailing slash")
        );
        assert!(
            issuer_mismatch_hint("https://a.example", "https://b.example")
                .contains("use the provider's issuer")
        );
    }

    #[test]
    fn invalid_client_at_the_callback_points_at_client_secret() {
        let error = OidcError::TokenExchange(TokenError::Provider {
            error: "invalid_client".into(),
            description: None,
        });
        assert!(callback_hint(&error).is_some_and(|h| h.contains("check CLIENT_SECRET")));
        // What a user or attacker can cause is no configuration problem.
        assert!(callback_hint(&OidcError::UnknownState).is_none());
        let cancelled = OidcError::Provider {
            error: "access_denied".into(),
            description: None,
        };
        assert!(callback_hint(&cancelled).is_none());
    }

    #[test]
    fn a_missing_discovery_document_names_the_well_known_url() {
        let hint = discovery_hint(
            "https://op.example/",
            &ProviderError::Discovery(DiscoveryError::Status(404)),
            5,
        );
        assert!(
            hint.contains("https://op.example/.well-known/openid-configuration"),
            "{hint}"
        );
    }
}
