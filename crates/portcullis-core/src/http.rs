//! Sans-IO HTTP descriptions: the requests the engine wants made and the
//! responses it is handed back. The adapter (`portcullis`) performs the I/O.

use url::Url;

/// HTTP method of an outbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

/// An outbound HTTP request the engine asks the adapter to perform.
///
/// The adapter must not follow redirects, must apply a timeout and must cap the
/// response size (see [`MAX_RESPONSE_BYTES`]).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method to use.
    pub method: Method,
    /// Absolute URL to call.
    pub url: Url,
    /// Header name/value pairs (names are lowercase).
    pub headers: Vec<(&'static str, String)>,
    /// Body, already encoded (`application/x-www-form-urlencoded` for POSTs).
    pub body: Option<String>,
}

impl std::fmt::Debug for HttpRequest {
    /// Prints method and URL only: headers and bodies carry credentials and codes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The response to an [`HttpRequest`], as handed back by the adapter.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body bytes (at most [`MAX_RESPONSE_BYTES`]).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    /// Prints status and size only: bodies carry tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpResponse {
    /// True when the content type is JSON (`application/json` or `+json`).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
        })
    }
}

/// The largest response body the adapter may hand to the engine (1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
