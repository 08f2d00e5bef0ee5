//! Where an application listens: `HOST` (default `127.0.0.1`) and `PORT`.
//!
//! The examples and the `portcullis` binary bind loopback unless told
//! otherwise, and a busy port is reported with its number and the fix.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::ConfigError;

/// The address to listen on: `HOST` (an IP address or `localhost`; default
/// `127.0.0.1`) and `PORT` (default `default_port`). An invalid value is a
/// [`ConfigError::Settings`] naming it.
pub fn listen_addr(default_port: u16) -> Result<SocketAddr, ConfigError> {
    let host = std::env::var("HOST").ok();
    let port = std::env::var("PORT").ok();
    parse_listen_addr(host.as_deref(), port.as_deref(), default_port)
}

fn parse_listen_addr(
    host: Option<&str>,
    port: Option<&str>,
    default_port: u16,
) -> Result<SocketAddr, ConfigError> {
    let mut problems = Vec::new();
    let ip = match host.map(str::trim).filter(|h| !h.is_empty()) {
        None | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(text) => text.parse().unwrap_or_else(|_| {
            problems.push(ConfigError::Invalid {
                name: "HOST",
                reason: format!(
                    "expected an IP address to listen on (127.0.0.1, 0.0.0.0, ::), got {text:?}"
                ),
            });
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }),
    };
    let port = match port.map(str::trim).filter(|p| !p.is_empty()) {
        None => default_port,
        Some(text) => text.parse().unwrap_or_else(|_| {
            problems.push(ConfigError::Invalid {
                name: "PORT",
                reason: format!("expected a port number from 0 to 65535, got {text:?}"),
            });
            default_port
        }),
    };
    if problems.is_empty() {
        Ok(SocketAddr::new(ip, port))
    } else {
        Err(ConfigError::Settings(problems))
    }
}

/// Binds [`listen_addr`]: a busy port or a refused address is a
/// [`ConfigError::Listen`] that names the port and what to do.
pub async fn bind_from_env(default_port: u16) -> Result<tokio::net::TcpListener, ConfigError> {
    bind(listen_addr(default_port)?).await
}

/// Binds `addr`, reporting failure as a [`ConfigError::Listen`].
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ConfigError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConfigError::Listen { addr, source })
}

/// The paragraph for [`ConfigError::Listen`].
pub(crate) fn describe_bind_error(addr: SocketAddr, error: &std::io::Error) -> String {
    let port = addr.port();
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr}: port {port} is already in use by another program. \
             Stop that program, or pick a free port (set PORT, or pass --port to the \
             `portcullis` binary)."
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {addr}: permission denied (ports below 1024 need privileges). \
             Pick a port of 1024 or more (set PORT, or pass --port)."
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {addr}: this machine has no such address. Set HOST to one of \
             its addresses (127.0.0.1 for this machine only, 0.0.0.0 for every interface)."
        ),
        _ => format!("cannot listen on {addr}: {error}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_the_default_port_unless_told_otherwise() {
        let addr = parse_listen_addr(None, None, 3000).expect("valid");
        assert_eq!(addr, "127.0.0.1:3000".parse().expect("addr"));
        let addr = parse_listen_addr(Some("0.0.0.0"), Some("8080"), 3000).expect("valid");
        assert_eq!(addr, "0.0.0.0:8080".parse().expect("addr"));
        let addr = parse_listen_addr(Some("localhost"), Some(""), 3000).expect("valid");
        assert_eq!(addr.port(), 3000);
    }

    #[test]
    fn invalid_host_and_port_are_both_named() {
        let error = parse_listen_addr(Some("my-laptop"), Some("80a"), 3000)
            .expect_err("invalid")
            .to_string();
        assert!(
            error.contains("HOST") && error.contains("my-laptop"),
            "{error}"
        );
        assert!(error.contains("PORT") && error.contains("80a"), "{error}");
    }

    #[tokio::test]
    async fn a_busy_port_names_the_port_and_the_fix() {
        let taken = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = taken.local_addr().expect("addr");
        let error = bind(addr).await.expect_err("port in use").to_string();
        assert!(error.contains(&format!("port {}", addr.port())), "{error}");
        assert!(error.contains("already in use"), "{error}");
        assert!(
            error.contains("--port") && error.contains("PORT"),
            "{error}"
        );
    }
}
