//! The background task that holds the invalidation subscription and keeps
//! the local copy coherent.
//!
//! Messages on `{prefix}invalidate` (published by the write scripts in the
//! same atomic step as the write):
//! - `s{origin}{id}`: session `id` was saved, touched or destroyed: evict it.
//! - `m{origin}{at}:{ttl_ms}:{key}`: marker `key` now holds `at` for `ttl_ms`.
//!
//! `origin` is 16 hex digits naming the [`RedisStores`](crate::RedisStores)
//! that wrote; a replica skips its own messages (it updated its copy itself).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream, StreamExt};
use redis::{Msg, Value};
use tokio::sync::oneshot;

use crate::coherence::{Coherence, HEARTBEAT, LEASE};
use crate::conn::{PubSource, subscribe};

/// The shortest wait before resubscribing after a working subscription
/// dropped (spreads the reconnections of many replicas).
const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// The longest wait between attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The message announcing a change of session `id`.
pub(crate) fn session_message(origin: &str, id: &str) -> String {
    format!("s{origin}{id}")
}

/// The start of a marker message; the mark script appends `{at}:{ttl}:{key}`.
pub(crate) fn marker_message_prefix(origin: &str) -> String {
    format!("m{origin}")
}

/// What a message asks for.
#[derive(Debug, PartialEq, Eq)]
enum Message<'a> {
    Own,
    Session(&'a str),
    Marker {
        key: &'a str,
        at: u64,
        ttl: Duration,
    },
    Unreadable,
}

fn parse<'a>(payload: &'a [u8], origin: &str) -> Message<'a> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Message::Unreadable;
    };
    let (Some(kind), Some(from), Some(rest)) = (text.get(..1), text.get(1..17), text.get(17..))
    else {
        return Message::Unreadable;
    };
    if from == origin {
        return Message::Own;
    }
    match kind {
        "s" if !rest.is_empty() => Message::Session(rest),
        "m" => {
            let mut parts = rest.splitn(3, ':');
            let (Some(at), Some(ttl), Some(key)) = (parts.next(), parts.next(), parts.next())
            else {
                return Message::Unreadable;
            };
            match (at.parse::<u64>(), ttl.parse::<u64>()) {
                (Ok(at), Ok(ttl)) if !key.is_empty() => Message::Marker {
                    key,
                    at,
                    ttl: Duration::from_millis(ttl),
                },
                _ => Message::Unreadable,
            }
        }
        _ => Message::Unreadable,
    }
}

fn apply(coherence: &Coherence, msg: &Msg, origin: &str) {
    match parse(msg.get_payload_bytes(), origin) {
        Message::Own => {}
        Message::Session(id) => coherence.remote_session(id),
        Message::Marker { key, at, ttl } => coherence.remote_marker(key, at, ttl),
        Message::Unreadable => {
            tracing::warn!(
                "portcullis-redis: unreadable invalidation message; dropping the local cache"
            );
            coherence.flush();
        }
    }
}

/// A small pseudo-random jitter (0..=range) without a random-number crate.
fn jitter(range: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let n = RandomState::new().hash_one(Instant::now());
    let ms = u64::try_from(range.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(n % (ms + 1))
}

fn backoff(failures: u32) -> Duration {
    let base = MIN_RECONNECT_DELAY.saturating_mul(1 << failures.saturating_sub(1).min(5));
    let base = base.min(MAX_RECONNECT_DELAY);
    base + jitter(base / 2)
}

type MsgStream = Pin<Box<dyn Stream<Item = Option<Msg>> + Send>>;

/// Runs until aborted. `ready` is told after the first resynchronisation.
pub(crate) async fn run(
    source: PubSource,
    channel: String,
    origin: String,
    coherence: Arc<Coherence>,
    connect_timeout: Duration,
    mut ready: Option<oneshot::Sender<()>>,
) {
    let mut failures: u32 = 0;
    loop {
        coherence.lost();
        if failures > 0 {
            tokio::time::sleep(backoff(failures)).await;
        }
        let started = Instant::now();
        let established = tokio::time::timeout(connect_timeout, async {
            let (clients, print) = source.targets().await?;
            let mut subs = Vec::with_capacity(clients.len());
            for client in &clients {
                subs.push(subscribe(client, &channel).await?);
            }
            redis::RedisResult::Ok((subs, print))
        })
        .await;
        let (subs, print) = match established {
            Ok(Ok(ok)) => ok,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "portcullis-redis: invalidation subscription failed; serving from Redis only");
                failures = failures.saturating_add(1);
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    "portcullis-redis: invalidation subscription timed out; serving from Redis only"
                );
                failures = failures.saturating_add(1);
                continue;
            }
        };
        // Every message published after the SUBSCRIBEs is delivered; anything
        // earlier is in Redis itself. Drop the copy and serve again.
        coherence.resynchronised(started);
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        tracing::debug!(
            nodes = subs.len(),
            "portcullis-redis: invalidation subscription up"
        );
        let reason = serve(subs, &print, &source, &origin, &coherence).await;
        coherence.lost();
        tracing::warn!(
            reason,
            "portcullis-redis: invalidation subscription lost; serving from Redis only until resubscribed"
        );
        failures = 1;
    }
}

async fn serve(
    subs: Vec<redis::aio::PubSub>,
    print: &[String],
    source: &PubSource,
    origin: &str,
    coherence: &Coherence,
) -> &'static str {
    let mut sinks = Vec::with_capacity(subs.len());
    let mut streams: Vec<MsgStream> = Vec::with_capacity(subs.len());
    for sub in subs {
        let (sink, stream) = sub.split();
        sinks.push(sink);
        // `None` marks the end of one connection's stream.
        streams.push(Box::pin(
            stream.map(Some).chain(stream::once(async { None })),
        ));
    }
    let mut messages = stream::select_all(streams);

    let reader = async {
        while let Some(item) = messages.next().await {
            match item {
                Some(msg) => apply(coherence, &msg, origin),
                None => return "a subscription connection closed",
            }
        }
        "the subscription connections closed"
    };

    let heartbeat = async {
        let mut interval = tokio::time::interval(HEARTBEAT);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u32 = 0;
        loop {
            interval.tick().await;
            let sent = Instant::now();
            let pings =
                futures_util::future::join_all(sinks.iter_mut().map(|sink| sink.ping::<Value>()));
            match tokio::time::timeout(LEASE, pings).await {
                Ok(results) if results.iter().all(Result::is_ok) => coherence.extend_lease(sent),
                Ok(_) => return "a PING on the subscription failed",
                Err(_) => return "a PING on the subscription timed out",
            }
            ticks = ticks.wrapping_add(1);
            if source
                .topology_check_every()
                .is_some_and(|every| ticks.is_multiple_of(every))
            {
                match tokio::time::timeout(LEASE, source.fingerprint()).await {
                    Ok(Ok(now)) if now.as_slice() == print => {}
                    Ok(Ok(_)) => {
                        source.topology_changed();
                        return "the topology changed";
                    }
                    // The subscription itself answers PINGs: keep it.
                    Ok(Err(err)) => {
                        tracing::debug!(error = %err, "portcullis-redis: topology check failed");
                    }
                    Err(_) => tracing::debug!("portcullis-redis: topology check timed out"),
                }
            }
        }
    };

    tokio::select! {
        reason = reader => reason,
        reason = heartbeat => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "00000000000000aa";
    const OTHER: &str = "00000000000000bb";

    #[test]
    fn messages_round_trip() {
        let s = session_message(OTHER, "abc:def");
        assert_eq!(parse(s.as_bytes(), ME), Message::Session("abc:def"));
        let m = format!(
            "{}{}:{}:{}",
            marker_message_prefix(OTHER),
            17,
            2500,
            "sid:x:y"
        );
        assert_eq!(
            parse(m.as_bytes(), ME),
            Message::Marker {
                key: "sid:x:y",
                at: 17,
                ttl: Duration::from_millis(2500)
            }
        );
    }

    #[test]
    fn own_messages_are_skipped() {
        let s = session_message(ME, "abc");
        assert_eq!(parse(s.as_bytes(), ME), Message::Own);
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        for payload in [
            &b""[..],
            b"s",
            b"x0000000000000000abc",
            b"m00000000000000bb1:2",
            b"m00000000000000bbx:2:k",
            b"s00000000000000bb",
            &[0xff, 0xfe, 0x00],
            "s\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".as_bytes(),
        ] {
            assert_eq!(parse(payload, ME), Message::Unreadable, "{payload:?}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= MIN_RECONNECT_DELAY);
        assert!(backoff(30) <= MAX_RECONNECT_DELAY + MAX_RECONNECT_DELAY / 2);
    }
}
