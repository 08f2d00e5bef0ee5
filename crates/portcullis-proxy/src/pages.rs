//! The gate's own answers: 403, 413, 502, 504 (a small page for browsers,
//! JSON otherwise), and the conversion of engine responses.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

/// A boxed error from a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gate sends (streamed from the upstream, or built here).
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An engine response as a gate response.
pub fn from_engine(response: portcullis::EngineResponse) -> Response<ProxyBody> {
    response.map(full)
}

/// Whether the client prefers HTML (a browser), honouring `q=0`.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim();
            let zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            !zero
                && (media.eq_ignore_ascii_case("text/html")
                    || media.eq_ignore_ascii_case("application/xhtml+xml"))
        })
}

/// An error answer: `error` is a short code, `message` says what went
/// wrong and what to do next (never a token, cookie or secret).
pub fn error(
    status: StatusCode,
    error: &str,
    message: &str,
    request: &HeaderMap,
) -> Response<ProxyBody> {
    let (content_type, body) = if wants_html(request) {
        let title = status.canonical_reason().unwrap_or("Error");
        (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width\">\
                 <title>{code} {title}</title>\
                 <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}\
                 h1{{font-size:1.4rem}}code{{background:#eee;padding:0 .2rem}}</style></head>\
                 <body><h1>{code} {title}</h1><p>{message}</p></body></html>",
                code = status.as_u16(),
                title = escape(title),
                message = escape(message),
            ),
        )
    } else {
        (
            "application/json",
            serde_json::json!({ "error": error, "error_description": message }).to_string(),
        )
    };
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// HTML-escapes text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_html_unless_they_refuse_it_with_q0() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,*/*;q=0.8"),
        );
        assert!(wants_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html;q=0, application/json"),
        );
        assert!(!wants_html(&h));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn messages_are_escaped_in_pages() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let r = error(StatusCode::FORBIDDEN, "forbidden", "<script>", &h);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
