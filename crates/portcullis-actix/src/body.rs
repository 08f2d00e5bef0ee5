//! Reading a built-in route's request body, at most
//! [`MAX_ROUTE_BODY`](portcullis::engine::MAX_ROUTE_BODY) bytes.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than the limit (announced or actual).
    TooLarge,
    /// The connection broke or the body was malformed.
    Unreadable,
}

impl BodyError {
    /// The answer to send: 413 or 400, plain text.
    pub(crate) fn response(self) -> actix_web::HttpResponse<Bytes> {
        let (status, text) = match self {
            BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            BodyError::Unreadable => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ),
        };
        let mut response =
            actix_web::HttpResponse::with_body(status, Bytes::from_static(text.as_bytes()));
        response.headers_mut().insert(
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// Reads the whole body, refusing one longer than `limit` bytes (a
/// `Content-Length` over the limit is refused before anything is read).
pub(crate) async fn read_limited(
    content_length: Option<u64>,
    payload: &mut Payload,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if content_length.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's `Content-Length`, when it has a valid one.
pub(crate) fn content_length(headers: &actix_web::http::header::HeaderMap) -> Option<u64> {
    headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload_of(chunks: Vec<Result<Bytes, actix_web::error::PayloadError>>) -> Payload {
        let stream = futures_util::stream::iter(chunks);
        Payload::from(Box::pin(stream) as std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>>)
    }

    #[actix_web::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let mut payload = payload_of(vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ]);
        assert_eq!(
            read_limited(None, &mut payload, 4).await,
            Ok(Bytes::from_static(b"abcd"))
        );
    }

    #[actix_web::test]
    async fn a_body_over_the_limit_is_refused_even_without_a_content_length() {
        let mut payload = payload_of(vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"de")),
        ]);
        assert_eq!(
            read_limited(None, &mut payload, 4).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            BodyError::TooLarge.response().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[actix_web::test]
    async fn an_announced_length_over_the_limit_is_refused_before_reading() {
        let mut payload = payload_of(vec![]);
        assert_eq!(
            read_limited(Some(5), &mut payload, 4).await,
            Err(BodyError::TooLarge)
        );
    }

    #[actix_web::test]
    async fn a_broken_body_is_a_400_not_a_panic() {
        let mut payload = payload_of(vec![
            Ok(Bytes::from_static(b"a")),
            Err(actix_web::error::PayloadError::Incomplete(None)),
        ]);
        assert_eq!(
            read_limited(None, &mut payload, 4).await,
            Err(BodyError::Unreadable)
        );
        assert_eq!(
            BodyError::Unreadable.response().status(),
            StatusCode::BAD_REQUEST
        );
    }
}
