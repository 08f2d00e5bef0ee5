//! The request-body limit, for bodies of any framing.
//!
//! A declared `Content-Length` over the limit is refused before the upstream
//! is called ([`Upstream::too_large`](crate::forward::Upstream::too_large)).
//! A body without one (`Transfer-Encoding: chunked`, or h2 without
//! `content-length`) is counted as it streams by [`CappedBody`]: the frame
//! that would cross the limit is never forwarded, the body to the upstream
//! ends with [`BodyTooLarge`], and the client's own body is handed back
//! through a one-shot channel, so that the gate knows the limit was the cause
//! (a `413`, not a `502`) and can [`drain`] what the client is still sending
//! while it reads the answer.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::pages::BoxError;

/// How long the gate keeps reading (and discarding) a refused body after
/// answering `413`, so the client sees the answer instead of a connection
/// reset (what nginx calls a lingering close).
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The most the gate reads (and discards) of a refused body after answering `413`.
pub const DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// The error that ends a body sent to the upstream when the client's body
/// grew past the limit.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body is larger than {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: u64,
}

/// A client's request body, boxed so it can be handed back unpinned.
pub type Overflow<B> = Pin<Box<B>>;

/// A body that passes at most `limit` bytes of data through, then ends with
/// [`BodyTooLarge`] and sends the rest of the client's body on its channel.
pub struct CappedBody<B> {
    inner: Option<Overflow<B>>,
    seen: u64,
    limit: u64,
    overflow: Option<oneshot::Sender<Overflow<B>>>,
}

impl<B> std::fmt::Debug for CappedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedBody")
            .field("seen", &self.seen)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<B> CappedBody<B> {
    /// Caps `body` at `limit` bytes; the receiver gets the client's body
    /// back if, and only if, it went over.
    pub fn new(body: B, limit: u64) -> (Self, oneshot::Receiver<Overflow<B>>) {
        let (tx, rx) = oneshot::channel();
        let capped = Self {
            inner: Some(Box::pin(body)),
            seen: 0,
            limit,
            overflow: Some(tx),
        };
        (capped, rx)
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let limit = this.limit;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Some(Err(Box::new(BodyTooLarge { limit }))));
        };
        match ready!(inner.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > limit {
                        if let (Some(tx), Some(body)) = (this.overflow.take(), this.inner.take()) {
                            // Nobody listening (the upstream already
                            // answered): the body is simply dropped.
                            let _ = tx.send(body);
                        }
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge { limit }))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => Poll::Ready(Some(Err(error.into()))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        // After an overflow the body still has an error to report.
        self.inner
            .as_ref()
            .is_some_and(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => {
                let hint = inner.size_hint();
                let mut capped = SizeHint::new();
                capped.set_lower(hint.lower().min(self.limit.saturating_add(1)));
                if let Some(upper) = hint.upper() {
                    capped.set_upper(upper.max(capped.lower()));
                }
                capped
            }
            None => SizeHint::default(),
        }
    }
}

/// Reads and discards what is left of a refused body, for at most
/// [`DRAIN_TIME`] and [`DRAIN_BYTES`], then drops it (closing the
/// connection when the client is still sending).
pub async fn drain<B>(mut body: Overflow<B>)
where
    B: Body<Data = Bytes>,
{
    use http_body_util::BodyExt;
    let mut read: u64 = 0;
    let reading = async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                read = read.saturating_add(data.len() as u64);
                if read > DRAIN_BYTES {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A body of data frames, one per poll.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn chunks(sizes: &[usize]) -> Chunks {
        Chunks(sizes.iter().map(|&n| Bytes::from(vec![b'a'; n])).collect())
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_whole_and_nothing_is_handed_back() {
        let (body, mut overflow) = CappedBody::new(chunks(&[400, 600]), 1000);
        let bytes = body.collect().await.expect("within the limit").to_bytes();
        assert_eq!(bytes.len(), 1000);
        assert!(overflow.try_recv().is_err());
    }

    #[tokio::test]
    async fn the_frame_that_crosses_the_limit_is_withheld_and_the_rest_handed_back() {
        let (mut body, mut overflow) = CappedBody::new(chunks(&[600, 600, 600]), 1000);
        let first = body.frame().await.expect("frame").expect("ok");
        assert_eq!(first.data_ref().map(Bytes::len), Some(600));
        let error = body.frame().await.expect("frame").expect_err("over");
        assert!(error.downcast_ref::<BodyTooLarge>().is_some(), "{error}");
        // Polled again, it keeps failing rather than ending cleanly.
        assert!(body.frame().await.expect("frame").is_err());
        let mut rest = overflow
            .try_recv()
            .expect("the client's body is handed back");
        let last = rest.frame().await.expect("frame").expect("ok");
        assert_eq!(last.data_ref().map(Bytes::len), Some(600));
        assert!(rest.frame().await.is_none());
    }
}
