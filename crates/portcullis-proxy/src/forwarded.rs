//! `X-Forwarded-*`: believed only from trusted proxies (none by default),
//! set correctly for the upstream.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// The forwarded-header names the gate reads or writes.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";
/// The original URI an `auth_request` proxy asks about.
pub const X_FORWARDED_URI: &str = "x-forwarded-uri";
/// The original method an `auth_request` proxy asks about.
pub const X_FORWARDED_METHOD: &str = "x-forwarded-method";

/// What the gate knows about the client after the forwarded headers were
/// sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The connecting peer is a trusted proxy.
    pub trusted_peer: bool,
    /// The client's address (the peer's, unless a trusted proxy said otherwise).
    pub client_ip: IpAddr,
    /// `http` or `https` as the client used it.
    pub proto: String,
    /// The host the client asked for.
    pub host: Option<String>,
}

/// Whether a header is one a client could use to pose as a proxy: every
/// `X-Forwarded-*`, `Forwarded`, `X-Real-IP` and `X-Original-*`, in any
/// case and `_`/`-` spelling.
fn is_forwarding_header(name: &str) -> bool {
    use crate::headers::{canonical_eq, canonical_starts_with};
    canonical_starts_with(name, "x-forwarded-")
        || canonical_eq(name, "forwarded")
        || canonical_eq(name, "x-real-ip")
        || canonical_starts_with(name, "x-original-")
}

/// Sanitises the forwarded headers of a request from `peer` and sets them for
/// the upstream. From an untrusted peer every forwarding header is dropped
/// and replaced by what the gate saw. From a trusted peer the
/// canonically-spelled ones are kept and the peer is appended to
/// `X-Forwarded-For`; `_` spellings are dropped even then.
pub fn apply(headers: &mut HeaderMap, peer: IpAddr, trusted: &[IpNet], tls: bool) -> Forwarded {
    let trusted_peer = trusted.iter().any(|net| net.contains(&peer));
    let doomed = |name: &HeaderName| {
        is_forwarding_header(name.as_str()) && (!trusted_peer || name.as_str().contains('_'))
    };
    if headers.keys().any(doomed) {
        let doomed: Vec<HeaderName> = headers.keys().filter(|n| doomed(n)).cloned().collect();
        for name in doomed {
            headers.remove(name);
        }
    }
    let own_proto = if tls { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (client_ip, proto, host) = if trusted_peer {
        let chain: Vec<IpAddr> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse().ok())
            .collect();
        // The right-most address that is not a trusted proxy is the client.
        let client = chain
            .iter()
            .rev()
            .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
            .or(chain.first())
            .copied()
            .unwrap_or(peer);
        let proto = headers
            .get(X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| p == "http" || p == "https")
            .unwrap_or_else(|| own_proto.to_owned());
        let forwarded_host = headers
            .get(X_FORWARDED_HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(host);
        (client, proto, forwarded_host)
    } else {
        (peer, own_proto.to_owned(), host)
    };
    let mut xff: Vec<String> = if trusted_peer {
        headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    xff.push(peer.to_string());
    if let Ok(value) = HeaderValue::from_str(&xff.join(", ")) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if let Ok(value) = HeaderValue::from_str(&proto) {
        headers.insert(X_FORWARDED_PROTO, value);
    }
    match host.as_deref().map(HeaderValue::from_str) {
        Some(Ok(value)) => {
            headers.insert(X_FORWARDED_HOST, value);
        }
        _ => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
    Forwarded {
        trusted_peer,
        client_ip,
        proto,
        host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoofed() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("app.example"));
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        headers.insert(X_FORWARDED_HOST, HeaderValue::from_static("evil.example"));
        headers.insert(X_FORWARDED_URI, HeaderValue::from_static("/public/"));
        headers.insert("x_forwarded_method", HeaderValue::from_static("GET"));
        headers.insert("x-real-ip", HeaderValue::from_static("6.6.6.6"));
        headers.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
        headers
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_any_forwarded_header() {
        let mut headers = spoofed();
        let peer: IpAddr = "192.0.2.1".parse().expect("ip");
        let f = apply(&mut headers, peer, &[], false);
        assert!(!f.trusted_peer);
        assert_eq!(f.client_ip, peer);
        assert_eq!(headers[X_FORWARDED_FOR], "192.0.2.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
        assert_eq!(headers[X_FORWARDED_HOST], "app.example");
        for gone in [
            X_FORWARDED_URI,
            "x_forwarded_method",
            "x-real-ip",
            "forwarded",
        ] {
            assert!(!headers.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn a_trusted_peer_is_believed_and_appended() {
        let mut headers = spoofed();
        let peer: IpAddr = "10.0.0.5".parse().expect("ip");
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        let f = apply(&mut headers, peer, &trusted, false);
        assert!(f.trusted_peer);
        assert_eq!(f.client_ip, "6.6.6.6".parse::<IpAddr>().expect("ip"));
        assert_eq!(f.proto, "https");
        assert_eq!(headers[X_FORWARDED_FOR], "6.6.6.6, 10.0.0.5");
        assert_eq!(headers[X_FORWARDED_URI], "/public/");
        assert!(!headers.contains_key("x_forwarded_method"));
    }
}
