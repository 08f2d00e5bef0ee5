//! The stores on one Redis (the one running on 127.0.0.1:6379, with a fresh
//! key prefix per test).

mod common;

use std::time::{Duration, Instant};

use common::*;
use portcullis_redis::{RedisConfigError, RedisOptions, RedisStores};
use portcullis_store::{Cached, LogoutStore, SessionStore, StoreError};

async fn stores(test: &str) -> RedisStores {
    stores_with_prefix(&unique_prefix(test)).await
}

async fn stores_with_prefix(prefix: &str) -> RedisStores {
    let options = RedisOptions::default().key_prefix(prefix);
    let stores = RedisStores::connect(SHARED_REDIS, options)
        .await
        .expect("connect to the Redis on 127.0.0.1:6379");
    assert!(stores.wait_coherent(Duration::from_secs(2)).await);
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_saved_loaded_touched_destroyed_and_expire() {
    let stores = stores("sessions").await;
    let s = stores.session_store();
    let id = session_id();

    assert!(s.load(&id).await.expect("load").is_none());
    s.save(&id, record(b"sealed-1"), Duration::from_secs(60))
        .await
        .expect("save");
    let loaded = s.load(&id).await.expect("load").expect("saved");
    assert_eq!(loaded.as_bytes(), b"sealed-1");
    // The writer answers from its local copy.
    assert_eq!(hit_bytes(&s.cached(&id)).as_deref(), Some(&b"sealed-1"[..]));

    // Replace.
    s.save(&id, record(b"sealed-2"), Duration::from_secs(60))
        .await
        .expect("save");
    assert_eq!(
        s.load(&id).await.expect("load").expect("saved").as_bytes(),
        b"sealed-2"
    );

    // Touch extends a short-lived session past its first TTL.
    let short = session_id();
    s.save(&short, record(b"x"), Duration::from_millis(300))
        .await
        .expect("save");
    s.touch(&short, Duration::from_secs(60))
        .await
        .expect("touch");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s.load(&short).await.expect("load").is_some(), "touched");
    // Touching a missing session is not an error, and creates nothing.
    let missing = session_id();
    s.touch(&missing, Duration::from_secs(60))
        .await
        .expect("touch");
    assert!(s.load(&missing).await.expect("load").is_none());

    // Destroy.
    s.destroy(&id).await.expect("destroy");
    assert!(s.load(&id).await.expect("load").is_none());
    assert!(is_absent(&s.cached(&id)));
    s.destroy(&id).await.expect("destroying twice is fine");

    // Expiry, both in Redis and in the local copy.
    let brief = session_id();
    s.save(&brief, record(b"y"), Duration::from_millis(150))
        .await
        .expect("save");
    assert!(hit_bytes(&s.cached(&brief)).is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        hit_bytes(&s.cached(&brief)).is_none(),
        "the local copy expires with the key"
    );
    assert!(s.load(&brief).await.expect("load").is_none());

    // A zero TTL saves nothing.
    let zero = session_id();
    s.save(&zero, record(b"z"), Duration::ZERO)
        .await
        .expect("save");
    assert!(s.load(&zero).await.expect("load").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_keeps_the_latest_time_and_the_longest_ttl() {
    let stores = stores("markers").await;
    let l = stores.logout_store();
    let ttl = Duration::from_secs(60);

    l.mark("sub:alice", 2_000, ttl).await.expect("mark");
    l.mark("sub:alice", 1_000, ttl).await.expect("mark");
    assert_eq!(l.cached_marker("sub:alice"), Cached::Hit(2_000));
    l.mark("sid:s1", 5, Duration::from_millis(200))
        .await
        .expect("mark");
    // A later mark with a shorter TTL keeps the longer one.
    l.mark("sid:s1", 9, Duration::from_secs(60))
        .await
        .expect("mark");
    l.mark("sid:s1", 7, Duration::from_millis(100))
        .await
        .expect("mark");

    let keys = vec![
        "sub:alice".to_owned(),
        "sub:bob".to_owned(),
        "sid:s1".to_owned(),
    ];
    assert_eq!(
        l.markers(&keys).await.expect("markers"),
        vec![Some(2_000), None, Some(9)]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        l.markers(&keys).await.expect("markers"),
        vec![Some(2_000), None, Some(9)],
        "the longest TTL was kept"
    );
    // A lookup that found nothing is known locally.
    assert!(is_absent(&l.cached_marker("sub:bob")));
    // A key never looked up is unknown, not absent.
    assert!(is_unknown(&l.cached_marker("sub:carol")));
    assert_eq!(
        l.markers(&[]).await.expect("markers"),
        Vec::<Option<u64>>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_id_is_accepted_once_then_reported_as_a_replay() {
    let prefix = unique_prefix("jti");
    let stores = stores_with_prefix(&prefix).await;
    let l = stores.logout_store();
    let ttl = Duration::from_secs(60);
    assert!(l.remember_jti("jti:a", ttl).await.expect("jti"));
    assert!(!l.remember_jti("jti:a", ttl).await.expect("jti"));
    assert!(l.remember_jti("jti:b", ttl).await.expect("jti"));

    // Through another set of stores (another replica) too.
    let other = stores_with_prefix(&prefix).await;
    assert!(
        !other
            .logout_store()
            .remember_jti("jti:a", ttl)
            .await
            .expect("jti")
    );

    // After its TTL the id may be used again.
    assert!(
        l.remember_jti("jti:c", Duration::from_millis(100))
            .await
            .expect("jti")
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        l.remember_jti("jti:c", Duration::from_millis(100))
            .await
            .expect("jti")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_the_wrong_kind_is_reported_as_malformed_not_a_panic() {
    let prefix = unique_prefix("malformed");
    let stores = RedisStores::connect(SHARED_REDIS, RedisOptions::default().key_prefix(&prefix))
        .await
        .expect("connect");
    let mut admin = redis::Client::open(SHARED_REDIS)
        .expect("client")
        .get_connection()
        .expect("admin");
    redis::cmd("SET")
        .arg(format!("{prefix}m:k"))
        .arg("not-a-number")
        .arg("PX")
        .arg(60_000)
        .query::<()>(&mut admin)
        .expect("set");
    let err = stores
        .logout_store()
        .markers(&["k".to_owned()])
        .await
        .expect_err("malformed");
    assert!(matches!(err, StoreError::Malformed { .. }), "{err:?}");
    // A session key holding a list (wrong type) is malformed, not a panic.
    redis::cmd("RPUSH")
        .arg(format!("{prefix}s:listy"))
        .arg("x")
        .query::<()>(&mut admin)
        .expect("rpush");
    redis::cmd("PEXPIRE")
        .arg(format!("{prefix}s:listy"))
        .arg(60_000)
        .query::<()>(&mut admin)
        .expect("pexpire");
    let err = stores
        .session_store()
        .load("listy")
        .await
        .expect_err("wrong type");
    assert!(matches!(err, StoreError::Malformed { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_fast_when_nothing_listens() {
    let port = free_port(false);
    let started = Instant::now();
    let err = RedisStores::connect(
        &format!("redis://127.0.0.1:{port}"),
        RedisOptions::default().connect_timeout(Duration::from_millis(500)),
    )
    .await
    .expect_err("nothing listens");
    assert!(
        matches!(
            err,
            RedisConfigError::Connect { .. } | RedisConfigError::ConnectTimeout { .. }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_or_option_is_a_configuration_error() {
    for url in ["", "http://x", "redis+cluster://", "redis+sentinel://s:1"] {
        let err = RedisStores::connect(url, RedisOptions::default())
            .await
            .expect_err(url);
        assert!(
            matches!(err, RedisConfigError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
    let err = RedisStores::connect(SHARED_REDIS, RedisOptions::default().key_prefix("a b"))
        .await
        .expect_err("prefix");
    assert!(matches!(err, RedisConfigError::InvalidOption { .. }));
}

#[test]
fn connect_outside_a_runtime_is_an_error_not_a_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // `connect` polled by a non-Tokio executor: emulate with a runtime that
    // is not entered, by polling the future with futures' block_on.
    let fut = RedisStores::connect(SHARED_REDIS, RedisOptions::default());
    let result = futures_util::FutureExt::now_or_never(fut);
    drop(rt);
    match result {
        Some(Err(RedisConfigError::NoRuntime)) => {}
        other => panic!("expected NoRuntime, got {:?}", other.map(|r| r.map(|_| ()))),
    }
}
