//! Redis goes away and comes back: calls fail fast with `Unavailable`, the
//! local copy stops answering, and after the restart the same session loads
//! again (persisted with an append-only file; the connection manager
//! reconnected).

mod common;

use std::time::{Duration, Instant};

use common::*;
use portcullis_redis::{RedisOptions, RedisStores};
use portcullis_store::{LogoutStore, SessionStore, StoreError};

const TTL: Duration = Duration::from_secs(300);

fn unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_gives_unavailable_within_the_timeout_and_data_survives_a_restart() {
    if !have(
        "redis-server",
        "a_stopped_redis_gives_unavailable_within_the_timeout_and_data_survives_a_restart",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = RedisServer::start_persistent(dir.path());
    let timeout = Duration::from_secs(1);
    let stores = RedisStores::connect(
        &server.url(),
        RedisOptions::default()
            .command_timeout(timeout)
            .connect_timeout(Duration::from_millis(500)),
    )
    .await
    .expect("connect");
    assert!(stores.wait_coherent(Duration::from_secs(2)).await);
    let (s, l) = (stores.session_store(), stores.logout_store());
    let id = session_id();
    s.save(&id, record(b"survivor"), TTL).await.expect("save");
    l.mark("sub:alice", 1_234, TTL).await.expect("mark");
    assert!(hit_bytes(&s.cached(&id)).is_some());

    server.kill();

    // The local copy stops answering as soon as the subscription drops.
    assert!(
        eventually(Duration::from_secs(1), || is_unknown(&s.cached(&id))).await,
        "the copy kept answering with Redis down"
    );
    assert!(is_unknown(&l.cached_marker("sub:alice")));

    // Every call fails with Unavailable, within the timeout (plus slack for
    // a loaded machine), and none hangs.
    let bound = timeout + Duration::from_millis(500);
    for _ in 0..2 {
        let round = Instant::now();
        let started = Instant::now();
        assert!(unavailable(s.load(&id).await));
        assert!(
            started.elapsed() < bound,
            "load took {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        assert!(unavailable(s.save(&id, record(b"lost"), TTL).await));
        assert!(
            started.elapsed() < bound,
            "save took {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        assert!(unavailable(s.touch(&id, TTL).await));
        assert!(unavailable(s.destroy("other").await));
        assert!(unavailable(l.mark("sub:bob", 1, TTL).await));
        assert!(unavailable(l.markers(&["sub:alice".to_owned()]).await));
        assert!(unavailable(l.remember_jti("jti:x", TTL).await));
        assert!(
            started.elapsed() < bound * 5,
            "five calls took {:?}",
            started.elapsed()
        );
        eprintln!("seven failing calls took {:?}", round.elapsed());
    }
    assert!(!stores.is_coherent());

    // Same port, same data directory.
    server.restart();

    let started = Instant::now();
    let loaded = loop {
        match s.load(&id).await {
            Ok(found) => break found,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("no reconnection after the restart: {err}"),
        }
    };
    eprintln!("reconnected {:?} after the restart", started.elapsed());
    assert_eq!(
        loaded.expect("the session survived the restart").as_bytes(),
        b"survivor"
    );
    assert_eq!(
        l.markers(&["sub:alice".to_owned()]).await.expect("markers"),
        vec![Some(1_234)]
    );
    assert!(
        stores.wait_coherent(Duration::from_secs(5)).await,
        "the subscription came back"
    );
    // And the local copy works again.
    assert_eq!(load_until_cached(&s, &id).await, b"survivor");
    // Writes work too (the restarted server lost its script cache: the
    // scripts are loaded again).
    s.save(&id, record(b"rewritten"), TTL)
        .await
        .expect("save after restart");
    l.mark("sub:alice", 5_000, TTL)
        .await
        .expect("mark after restart");
    assert_eq!(
        s.load(&id).await.expect("load").expect("saved").as_bytes(),
        b"rewritten"
    );
}
