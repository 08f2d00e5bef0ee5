//! Forwarding to the upstream: hyper-util's pooled client, bodies streamed
//! both ways (never buffered whole), a body-size limit, a timeout for the
//! upstream's response headers, and WebSocket (HTTP/1.1 `Upgrade`)
//! pass-through.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use url::Url;

use crate::headers::{remove_hop_by_hop, wants_upgrade};
use crate::limit::{BodyTooLarge, CappedBody};
use crate::pages::{self, BoxError, ProxyBody};

/// The upstream and the client that reaches it.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, ProxyBody>,
    scheme_authority: String,
    authority: HeaderValue,
    path_prefix: String,
    response_timeout: Duration,
    max_body_bytes: u64,
    pass_host_header: bool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("upstream", &self.scheme_authority)
            .finish_non_exhaustive()
    }
}

/// Why forwarding failed (each becomes a 502 or 504 page).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The upstream could not be reached or broke the connection.
    #[error("the upstream is unreachable")]
    Unreachable(#[source] hyper_util::client::legacy::Error),
    /// The upstream did not answer in time.
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be turned into an upstream request.
    #[error("the request target cannot be forwarded")]
    BadTarget(#[source] http::Error),
    /// The request body (without a `Content-Length` that said so up front)
    /// grew past the limit before the upstream answered (a 413).
    #[error(transparent)]
    TooLarge(#[from] BodyTooLarge),
}

impl Upstream {
    /// A client for `upstream` (an `http://` URL, optionally with a path prefix).
    pub fn new(
        upstream: &Url,
        connect_timeout: Duration,
        response_timeout: Duration,
        max_body_bytes: u64,
        pass_host_header: bool,
    ) -> Result<Self, String> {
        let host = upstream.host_str().ok_or("the upstream has no host")?;
        let authority = match upstream.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self {
            client,
            scheme_authority: format!("{}://{authority}", upstream.scheme()),
            authority: HeaderValue::from_str(&authority).map_err(|e| e.to_string())?,
            path_prefix: upstream.path().trim_end_matches('/').to_owned(),
            response_timeout,
            max_body_bytes,
            pass_host_header,
        })
    }

    /// The most a request body may hold.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// Whether a declared `Content-Length` is over the limit.
    pub fn too_large<B>(&self, request: &Request<B>) -> bool {
        request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|len| len > self.max_body_bytes)
    }

    /// Sends `request` (headers already prepared by the gate) and answers
    /// with the upstream's response, streaming. A `101 Switching Protocols`
    /// is bridged: both upgraded connections are joined in the background.
    pub async fn forward<B>(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<ProxyBody>, ForwardError>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let upgrade = request.version() == Version::HTTP_11 && wants_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        remove_hop_by_hop(&mut parts.headers, upgrade);
        if !self.pass_host_header || !parts.headers.contains_key(header::HOST) {
            let host = if self.pass_host_header {
                parts
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                    .unwrap_or_else(|| self.authority.clone())
            } else {
                self.authority.clone()
            };
            parts.headers.insert(header::HOST, host);
        }
        let path = parts
            .uri
            .path_and_query()
            .map(PathAndQuery::as_str)
            .unwrap_or("/");
        parts.uri = format!("{}{}{path}", self.scheme_authority, self.path_prefix)
            .parse::<Uri>()
            .map_err(|e| ForwardError::BadTarget(e.into()))?;
        parts.version = Version::HTTP_11;
        let (body, mut overflow) = CappedBody::new(body, self.max_body_bytes);
        let upstream_request = Request::from_parts(parts, body.boxed_unsync());
        let sent =
            tokio::time::timeout(self.response_timeout, self.client.request(upstream_request))
                .await;
        // The body outgrew the limit before the upstream answered: that, not
        // the upstream, is why the request failed. Keep reading what the
        // client still sends for a moment, so it sees the 413.
        if let Ok(rest) = overflow.try_recv() {
            tokio::spawn(crate::limit::drain(rest));
            return Err(ForwardError::TooLarge(BodyTooLarge {
                limit: self.max_body_bytes,
            }));
        }
        // From here on an overflow (the upstream answered first) aborts both
        // connections: the upstream sees an unfinished body and the client an
        // unfinished response, never a complete-looking one.
        drop(overflow);
        let response = sent
            .map_err(|_| ForwardError::Timeout(self.response_timeout))?
            .map_err(ForwardError::Unreachable)?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            return Ok(bridge(response, client_upgrade));
        }
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers, false);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync(),
        ))
    }
}

/// Answers the client's 101 and joins both upgraded connections.
fn bridge(
    mut upstream: Response<hyper::body::Incoming>,
    client: hyper::upgrade::OnUpgrade,
) -> Response<ProxyBody> {
    let upstream_upgrade = hyper::upgrade::on(&mut upstream);
    tokio::spawn(async move {
        match tokio::try_join!(client, upstream_upgrade) {
            Ok((client, upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                {
                    tracing::debug!(%error, "upgraded connection ended");
                }
            }
            Err(error) => tracing::debug!(%error, "protocol upgrade failed"),
        }
    });
    let (parts, _body) = upstream.into_parts();
    Response::from_parts(parts, pages::full(bytes::Bytes::new()))
}
