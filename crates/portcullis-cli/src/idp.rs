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
    #[arg(long = "client", value_parser = parse_client)]
    clients: Vec<DevClient>,
}

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

pub(crate) async fn run(args: IdpArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = DevIdpConfig::new();
    for client in args.clients {
        config = config.with_client(client);
    }
    if let Some(user) = args.auto_approve {
        config = config.with_auto_approve(user);
    }
    if let Some(issuer) = args.issuer {
        config = config.with_issuer(issuer);
    }
    let idp = portcullis_devidp::start(config, SocketAddr::new(args.bind, args.port)).await?;
    println!(
        "Development OpenID Provider (NOT for production) at {}",
        idp.issuer()
    );
    crate::shutdown_signal().await;
    idp.shutdown().await;
    Ok(())
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
    fn rejects_client_without_redirect_uri() {
        assert!(parse_client("app:secret:").is_err());
        assert!(parse_client("app").is_err());
        assert!(parse_client(":x:http://a/cb").is_err());
        assert!(parse_client("app:secret:not a url").is_err());
    }
}
