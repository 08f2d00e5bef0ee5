//! The outbound HTTP client that performs the engine's requests.
//!
//! reqwest with rustls, no redirects followed, a timeout on every request and a
//! cap on the response size. It never logs bodies or credentials.

use std::time::Duration;

use portcullis_core::http::MAX_RESPONSE_BYTES;
use portcullis_core::{HttpRequest, HttpResponse, Method};

/// Why an outbound request failed. Displays never contain bodies or headers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be sent or timed out.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL without its query (which may carry a token).
        url: String,
        /// What went wrong.
        reason: String,
        /// What kind of failure it was (refused, DNS, TLS, timeout...).
        kind: TransportFailure,
    },
    /// The response body exceeded the size cap.
    #[error("response from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL without its query.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
}

/// What kind of transport failure a request met: each has its own fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailure {
    /// Nothing listens at that host and port (connection refused).
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed (untrusted or mismatched certificate, or a
    /// plain-http server behind an `https` URL).
    Tls,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed in another way (unreachable network, reset).
    Connect,
    /// The request or the response body failed otherwise.
    Other,
}

impl TransportFailure {
    /// Classifies a reqwest error by its kind and the errors it wraps.
    fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            return TransportFailure::Timeout;
        }
        let mut texts = String::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return TransportFailure::Refused,
                    std::io::ErrorKind::TimedOut => return TransportFailure::Timeout,
                    _ => {}
                }
            }
            texts.push_str(&current.to_string().to_ascii_lowercase());
            texts.push('\n');
            cause = current.source();
        }
        // hyper-util and rustls name these failures only in their messages.
        if texts.contains("dns error") || texts.contains("failed to lookup address") {
            TransportFailure::Dns
        } else if texts.contains("certificate")
            || texts.contains("tls")
            || texts.contains("handshake")
            || texts.contains("invalidcontenttype")
            || texts.contains("corrupt message")
        {
            TransportFailure::Tls
        } else if error.is_connect() {
            TransportFailure::Connect
        } else {
            TransportFailure::Other
        }
    }
}

/// Which endpoint of the OP a request goes to: a field of the
/// `portcullis.op_call` span and a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpEndpoint {
    /// The discovery document.
    Discovery,
    /// The key set.
    Jwks,
    /// The token endpoint (code, refresh and token-exchange grants).
    Token,
    /// The userinfo endpoint.
    Userinfo,
    /// Token introspection (RFC 7662).
    Introspection,
    /// Token revocation (RFC 7009).
    Revocation,
    /// Pushed authorization requests (RFC 9126).
    Par,
    /// A request through [`HttpClient::execute`].
    Other,
}

impl OpEndpoint {
    /// The label: `discovery`, `jwks`, `token`, ...
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OpEndpoint::Discovery => "discovery",
            OpEndpoint::Jwks => "jwks",
            OpEndpoint::Token => "token",
            OpEndpoint::Userinfo => "userinfo",
            OpEndpoint::Introspection => "introspection",
            OpEndpoint::Revocation => "revocation",
            OpEndpoint::Par => "par",
            OpEndpoint::Other => "other",
        }
    }
}

/// A cloneable HTTP client for talking to the OpenID Provider.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    max_body: usize,
}

impl HttpClient {
    /// Builds a client with the given timeout (connect and whole request).
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                reason: e.to_string(),
                kind: TransportFailure::Other,
            })?;
        Ok(Self {
            inner,
            max_body: MAX_RESPONSE_BYTES,
        })
    }

    /// Performs `request` and returns the response, body capped.
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.execute_for(OpEndpoint::Other, request).await
    }

    /// Performs `request` to the OP's `endpoint` (traced and, with the
    /// `metrics` feature, counted and timed under that name).
    pub(crate) async fn execute_for(
        &self,
        endpoint: OpEndpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpError> {
        let safe_url = redacted_url(&request.url);
        let method = request.method;
        let span = tracing::debug_span!(
            "portcullis.op_call",
            method = ?method,
            url = %safe_url,
            endpoint = endpoint.as_str()
        );
        let started = std::time::Instant::now();
        let result =
            tracing::Instrument::instrument(self.execute_inner(request, safe_url), span.clone())
                .await;
        let elapsed = started.elapsed();
        crate::telemetry::op_call(endpoint, &result, elapsed);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        span.in_scope(|| match &result {
            Ok(response) => {
                tracing::debug!(status = response.status, latency_ms, "OP call answered")
            }
            Err(error) => tracing::debug!(%error, latency_ms, "OP call failed"),
        });
        result
    }

    async fn execute_inner(
        &self,
        request: HttpRequest,
        safe_url: String,
    ) -> Result<HttpResponse, HttpError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.inner.request(method, request.url);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let transport = |e: reqwest::Error| HttpError::Transport {
            url: safe_url.clone(),
            reason: describe(&e),
            kind: TransportFailure::of(&e),
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body as u64)
        {
            return Err(HttpError::TooLarge {
                url: safe_url,
                limit: self.max_body,
            });
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(HttpError::TooLarge {
                    url: safe_url,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}

/// The URL without query and fragment, safe to show in errors and logs.
fn redacted_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A short reason for a reqwest error, without its URL (which may carry a query).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        match TransportFailure::of(error) {
            TransportFailure::Refused => "connection refused".to_owned(),
            TransportFailure::Dns => "the host name does not resolve".to_owned(),
            TransportFailure::Tls => "the TLS handshake failed".to_owned(),
            _ => "connection failed".to_owned(),
        }
    } else if error.is_body() || error.is_decode() {
        "invalid response body".to_owned()
    } else if error.is_builder() {
        "invalid request".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: url::Url::parse(url).expect("url"),
            headers: Vec::new(),
            body: None,
        }
    }

    async fn failure(url: &str) -> TransportFailure {
        let client = HttpClient::new(Duration::from_secs(3)).expect("client");
        match client.execute(get(url)).await {
            Err(HttpError::Transport { kind, .. }) => kind,
            other => panic!("expected a transport error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_connection() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let kind = failure(&format!("http://127.0.0.1:{port}/x")).await;
        assert_eq!(kind, TransportFailure::Refused);
    }

    #[tokio::test]
    async fn https_to_a_plain_http_server_is_a_tls_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let kind = failure(&format!("https://127.0.0.1:{port}/x")).await;
        assert_eq!(kind, TransportFailure::Tls);
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = HttpClient::new(Duration::from_millis(300)).expect("client");
        match client
            .execute(get(&format!("http://127.0.0.1:{port}/x")))
            .await
        {
            Err(HttpError::Transport { kind, .. }) => assert_eq!(kind, TransportFailure::Timeout),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}
