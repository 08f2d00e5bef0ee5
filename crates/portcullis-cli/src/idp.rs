//! `portcullis idp`: the development OpenID Provider on its own.

use std::net::{IpAddr, SocketAddr};

use portcullis_devidp::{DevClient, DevIdpConfig};

/// Options of `portcullis idp`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdpArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 9400)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Issuer URL (default `http://<bind>:<port>`).
    #[arg(long)]
    issuer: Option<String>,
    /// Sign every authorization request in as this user, without a page (tests, benchmarks).
    #[arg(long)]
    auto_approve: Option<String>,
    /// A client as `id:secret:redirect_uri[,redirect_uri...]` (repeatable).
    /// An empty secret makes a public client. The root of each redirect URI's
    /// origin (`http://host:port/`) is registered as a post-logout redirect URI.
    /// Without any, the default client `app:app-secret` for
    /// `http://localhost:3000/callback` is registered (and printed).
    #[arg(long = "client", value_parser = parse_client)]
    clients: Vec<DevClient>,
}

/// The client registered when `--client` is not given: the one the README's
/// "run it against the dev OP" block and the examples use.
pub(crate) const DEFAULT_CLIENT: &str =
    "app:app-secret:http://localhost:3000/callback,http://127.0.0.1:3000/callback";

/// Parses `id:secret:uri1,uri2`. The redirect URIs contain ':' themselves, so
/// only the first two separators split.
fn parse_client(value: &str) -> Result<DevClient, String> {
    let mut parts = value.splitn(3, ':');
    let (Some(id), Some(secret), Some(uris)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected id:secret:redirect_uri[,redirect_uri...]".into());
    };
    if id.is_empty() {
        return Err("the client id is empty".into());
    }
    let mut uris = uris.split(',').filter(|u| !u.is_empty());
    let first = uris.next().ok_or("at least one redirect URI is required")?;
    let mut client = if secret.is_empty() {
        DevClient::public(id, first)
    } else {
        DevClient::confidential(id, secret, first)
    };
    for uri in uris {
        client = client.with_redirect_uri(uri);
    }
    let mut roots: Vec<String> = Vec::new();
    for uri in &client.redirect_uris {
        let parsed =
            url::Url::parse(uri).map_err(|e| format!("invalid redirect URI {uri:?}: {e}"))?;
        let root = format!("{}/", parsed.origin().ascii_serialization());
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    for root in roots {
        client = client.with_post_logout_redirect_uri(root);
    }
    // Portcullis mounts /backchannel-logout next to /callback: register it so
    // ending a session at the dev OP reaches the application.
    let backchannel = match first.strip_suffix("/callback") {
        Some(base) => format!("{base}/backchannel-logout"),
        None => url::Url::parse(first)
            .map(|u| format!("{}/backchannel-logout", u.origin().ascii_serialization()))
            .map_err(|e| format!("invalid redirect URI {first:?}: {e}"))?,
    };
    client = client.with_backchannel_logout_uri(backchannel);
    Ok(client)
}

pub(crate) async fn run(args: IdpArgs) -> Result<(), crate::CliError> {
    let mut config = DevIdpConfig::new();
    let defaulted = args.clients.is_empty();
    let clients = if defaulted {
        vec![parse_client(DEFAULT_CLIENT).map_err(crate::CliError::BadDefault)?]
    } else {
        args.clients
    };
    for client in clients {
        config = config.with_client(client);
    }
    if let Some(user) = args.auto_approve {
        config = config.with_auto_approve(user);
    }
    if let Some(issuer) = args.issuer {
        config = config.with_issuer(issuer);
    }
    let summary = describe(&config, defaulted);
    let idp = portcullis_devidp::start(config, SocketAddr::new(args.bind, args.port))
        .await
        .map_err(|e| crate::CliError::idp(e, "--port"))?;
    println!(
        "Development OpenID Provider (NOT for production) at {}",
        idp.issuer()
    );
    print!("{summary}");
    println!("Press Ctrl-C to stop.");
    crate::shutdown_signal().await;
    idp.shutdown().await;
    Ok(())
}

/// The clients and users, as printed at startup. Secrets are shown: they are
/// the dev OP's own, given on its command line (or the documented default).
fn describe(config: &DevIdpConfig, defaulted: bool) -> String {
    let mut text = String::new();
    if defaulted {
        text.push_str(
            "No --client given: registered the default client below (pass \
             --client id:secret:redirect_uri to register your own).\n",
        );
    }
    text.push_str("Clients:\n");
    for client in &config.clients {
        let secret = match client.client_secret.as_deref() {
            Some(secret) => format!("secret {secret}"),
            None => "public client (PKCE, no secret)".to_owned(),
        };
        text.push_str(&format!(
            "  - {} ({secret})\n      redirect URIs: {}\n",
            client.client_id,
            client.redirect_uris.join(", ")
        ));
    }
    text.push_str("Users (pick one on the sign-in page, no password):\n");
    for user in &config.users {
        let groups = user
            .claims
            .get("groups")
            .and_then(|g| g.as_array())
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let email = user
            .claims
            .get("email")
            .and_then(|e| e.as_str())
            .unwrap_or("no email");
        let verified = if user.claims.get("email_verified") == Some(&serde_json::Value::Bool(true))
        {
            "verified"
        } else {
            "not verified"
        };
        text.push_str(&format!(
            "  - {}: {} <{email}, {verified}>, groups [{groups}]\n",
            user.id,
            user.display_name()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_with_several_redirect_uris() {
        let client = parse_client(
            "app:s3cret:http://127.0.0.1:3000/callback,http://localhost:3000/callback",
        )
        .expect("valid");
        assert_eq!(client.client_id, "app");
        assert_eq!(client.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(client.redirect_uris.len(), 2);
        assert_eq!(
            client.post_logout_redirect_uris,
            vec!["http://127.0.0.1:3000/", "http://localhost:3000/"]
        );
    }

    #[test]
    fn without_a_client_the_printed_default_is_registered() {
        let client = parse_client(DEFAULT_CLIENT).expect("the default parses");
        assert_eq!(client.client_id, "app");
        assert_eq!(client.client_secret.as_deref(), Some("app-secret"));
        let config = DevIdpConfig::new().with_client(client);
        let text = describe(&config, true);
        assert!(text.contains("No --client given"), "{text}");
        assert!(text.contains("app (secret app-secret)"), "{text}");
        assert!(text.contains("http://localhost:3000/callback"), "{text}");
        assert!(text.contains("alice: Alice Example"), "{text}");
        assert!(text.contains("groups [admin, users]"), "{text}");
        assert!(text.contains("bob"), "{text}");
        assert!(!describe(&config, false).contains("No --client given"));
    }

    #[test]
    fn rejects_client_without_redirect_uri() {
        assert!(parse_client("app:secret:").is_err());
        assert!(parse_client("app").is_err());
        assert!(parse_client(":x:http://a/cb").is_err());
        assert!(parse_client("app:secret:not a url").is_err());
    }
}
