//! Two replicas on one Redis: invalidation through the channel, local
//! answers without a round trip, and the fail-closed fallback when the
//! subscription is down.

mod common;

use std::time::Duration;

use common::*;
use portcullis_redis::{RedisOptions, RedisStores};
use portcullis_store::{Cached, LogoutStore, SessionStore};

async fn replicas(url: &str, prefix: &str) -> (RedisStores, RedisStores) {
    let options = RedisOptions::default().key_prefix(prefix);
    let a = RedisStores::connect(url, options.clone())
        .await
        .expect("replica A");
    let b = RedisStores::connect(url, options).await.expect("replica B");
    assert!(a.wait_coherent(Duration::from_secs(2)).await, "A coherent");
    assert!(b.wait_coherent(Duration::from_secs(2)).await, "B coherent");
    (a, b)
}

const SECOND: Duration = Duration::from_secs(1);
const TTL: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_reaches_the_other_replicas_cache_within_a_second() {
    let (a, b) = replicas(SHARED_REDIS, &unique_prefix("invalidate")).await;
    let (sa, sb) = (a.session_store(), b.session_store());
    let (la, lb) = (a.logout_store(), b.logout_store());
    let id = session_id();

    // B loads the session once and then knows it.
    sa.save(&id, record(b"v1"), TTL).await.expect("save");
    assert!(is_unknown(&sb.cached(&id)), "never seen by B");
    assert_eq!(load_until_cached(&sb, &id).await, b"v1");

    // A replaces it: B's copy goes within a second, and B loads the new one.
    sa.save(&id, record(b"v2"), TTL).await.expect("save");
    assert!(
        eventually(SECOND, || hit_bytes(&sb.cached(&id)).as_deref()
            != Some(b"v1"))
        .await,
        "B still serves v1"
    );
    assert_eq!(load_until_cached(&sb, &id).await, b"v2");

    // A touches it: B forgets its copy (its TTL changed).
    sa.touch(&id, TTL).await.expect("touch");
    assert!(eventually(SECOND, || is_unknown(&sb.cached(&id))).await);
    sb.load(&id).await.expect("load");

    // A destroys it: B's copy goes, and B then knows it is absent.
    sa.destroy(&id).await.expect("destroy");
    assert!(
        eventually(SECOND, || hit_bytes(&sb.cached(&id)).is_none()).await,
        "B still serves the destroyed session"
    );
    while !is_absent(&sb.cached(&id)) {
        assert!(sb.load(&id).await.expect("load").is_none());
    }

    // Markers: B knows "no marker" after one lookup; A's mark arrives with
    // its time (no reload needed), and a lower time does not lower it.
    let key = "sub:https://op.example|alice".to_owned();
    assert_eq!(
        markers_until_cached(&lb, std::slice::from_ref(&key)).await,
        vec![None]
    );
    assert!(is_absent(&lb.cached_marker(&key)));
    la.mark(&key, 1_000, TTL).await.expect("mark");
    assert!(
        eventually(SECOND, || lb.cached_marker(&key) == Cached::Hit(1_000)).await,
        "B did not see A's marker: {:?}",
        lb.cached_marker(&key)
    );
    la.mark(&key, 500, TTL).await.expect("mark");
    la.mark(&key, 3_000, TTL).await.expect("mark");
    assert!(eventually(SECOND, || lb.cached_marker(&key) == Cached::Hit(3_000)).await);
    // A marker for a key B never looked up is known from the message alone.
    la.mark("sid:fresh", 42, TTL).await.expect("mark");
    assert!(
        eventually(SECOND, || lb.cached_marker("sid:fresh") == Cached::Hit(42)).await,
        "B: {:?}, coherent {}",
        lb.cached_marker("sid:fresh"),
        b.is_coherent()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_cost_no_redis_command() {
    if !have("redis-server", "cached_answers_cost_no_redis_command") {
        return;
    }
    // A Redis of its own, so that no other test's commands are counted.
    let server = RedisServer::start(&[]);
    let (a, b) = replicas(&server.url(), "p:").await;
    let (sa, sb) = (a.session_store(), b.session_store());
    let lb = b.logout_store();
    let id = session_id();
    sa.save(&id, record(b"sealed"), TTL).await.expect("save");
    a.logout_store().mark("sid:1", 7, TTL).await.expect("mark");
    load_until_cached(&sb, &id).await;
    let keys = ["sid:1".to_owned(), "sub:none".to_owned()];
    assert_eq!(markers_until_cached(&lb, &keys).await, vec![Some(7), None]);

    let mut admin = server.admin();
    // PING is the subscription heartbeat; INFO is this test asking.
    let skip = ["ping", "info"];
    let before = command_calls(&mut admin, &skip);
    for _ in 0..100 {
        assert_eq!(hit_bytes(&sb.cached(&id)).as_deref(), Some(&b"sealed"[..]));
        assert_eq!(lb.cached_marker("sid:1"), Cached::Hit(7));
        assert!(is_absent(&lb.cached_marker("sub:none")));
    }
    let after = command_calls(&mut admin, &skip);
    assert_eq!(before, after, "300 cached answers sent commands to Redis");
    // The counter does count: one load is at least one more command.
    sb.load(&id).await.expect("load");
    assert!(command_calls(&mut admin, &skip) > after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscription_answers_unknown_until_resynchronised_and_never_stale() {
    if !have(
        "redis-server",
        "a_killed_subscription_answers_unknown_until_resynchronised_and_never_stale",
    ) {
        return;
    }
    let server = RedisServer::start(&[]);
    let (a, b) = replicas(&server.url(), "p:").await;
    let (sa, sb) = (a.session_store(), b.session_store());
    let (la, lb) = (a.logout_store(), b.logout_store());
    let id = session_id();
    sa.save(&id, record(b"v1"), TTL).await.expect("save");
    load_until_cached(&sb, &id).await;
    let key = "sid:k".to_owned();
    markers_until_cached(&lb, std::slice::from_ref(&key)).await;
    assert!(is_absent(&lb.cached_marker(&key)));

    // Kill every subscription connection (A's and B's), and keep B from
    // resubscribing (SUBSCRIBE is refused) until the writes below are done,
    // so their messages are really lost for B whatever the machine's load.
    let mut admin = server.admin();
    let acl = |rule: &str, admin: &mut redis::Connection| {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg(rule)
            .query::<()>(admin)
            .expect("acl setuser");
    };
    acl("-subscribe", &mut admin);
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query::<i64>(&mut admin)
        .expect("client kill");
    assert!(
        eventually(SECOND, || is_unknown(&sb.cached(&id))).await,
        "B kept answering after its subscription died"
    );
    assert!(!b.is_coherent());
    assert!(
        is_unknown(&lb.cached_marker(&key)),
        "absence is not claimed either"
    );

    // Writes while B is unsubscribed: their messages are lost for B.
    sa.save(&id, record(b"v2"), TTL).await.expect("save");
    la.mark(&key, 99, TTL).await.expect("mark");

    // Until B is resynchronised it answers Unknown, and its loads are fresh.
    for _ in 0..20 {
        assert!(
            !b.is_coherent(),
            "B resubscribed while SUBSCRIBE is refused"
        );
        assert!(is_unknown(&sb.cached(&id)));
        assert!(is_unknown(&lb.cached_marker(&key)));
        assert_eq!(
            sb.load(&id).await.expect("load").expect("saved").as_bytes(),
            b"v2"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    acl("+subscribe", &mut admin);
    assert!(
        b.wait_coherent(Duration::from_secs(5)).await,
        "B resubscribed"
    );
    // The copy was cleared on resubscription: nothing stale survives.
    assert!(hit_bytes(&sb.cached(&id)).as_deref() != Some(b"v1"));
    assert_eq!(load_until_cached(&sb, &id).await, b"v2");
    assert!(!is_absent(&lb.cached_marker(&key)));
    assert_eq!(
        markers_until_cached(&lb, std::slice::from_ref(&key)).await,
        vec![Some(99)]
    );
    assert_eq!(lb.cached_marker(&key), Cached::Hit(99));

    // And invalidation works again on the new subscription.
    assert!(a.wait_coherent(Duration::from_secs(3)).await);
    sa.save(&id, record(b"v3"), TTL).await.expect("save");
    assert!(
        eventually(SECOND, || hit_bytes(&sb.cached(&id)).as_deref()
            != Some(b"v2"))
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_stops_local_answers_within_the_lease() {
    if !have(
        "redis-server",
        "a_paused_redis_stops_local_answers_within_the_lease",
    ) {
        return;
    }
    // A Redis that stops answering without closing connections (as in a
    // partition): the heartbeat lease ends local answers within ~1 s.
    let server = RedisServer::start(&[]);
    let (a, b) = replicas(&server.url(), "p:").await;
    let id = session_id();
    a.session_store()
        .save(&id, record(b"v"), TTL)
        .await
        .expect("save");
    let sb = b.session_store();
    load_until_cached(&sb, &id).await;
    let mut admin = server.admin();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2_500)
        .arg("ALL")
        .query::<()>(&mut admin)
        .expect("pause");
    let started = std::time::Instant::now();
    assert!(
        eventually(Duration::from_millis(1_600), || is_unknown(&sb.cached(&id))).await,
        "B kept answering from its copy while Redis was silent"
    );
    eprintln!("local answers stopped after {:?}", started.elapsed());
    // And once Redis answers again, B resynchronises.
    assert!(b.wait_coherent(Duration::from_secs(6)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stores_ends_the_subscription() {
    if !have("redis-server", "dropping_the_stores_ends_the_subscription") {
        return;
    }
    let server = RedisServer::start(&[]);
    let numsub = |admin: &mut redis::Connection| -> i64 {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("p:invalidate")
            .query(admin)
            .expect("numsub");
        n
    };
    let mut admin = server.admin();
    let stores = RedisStores::connect(&server.url(), RedisOptions::default().key_prefix("p:"))
        .await
        .expect("connect");
    assert!(stores.wait_coherent(SECOND).await);
    let session_store = stores.session_store();
    assert_eq!(numsub(&mut admin), 1);
    drop(stores);
    // A store taken from it keeps the subscription alive...
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(numsub(&mut admin), 1);
    assert!(session_store.is_coherent());
    // ...until the last one goes.
    drop(session_store);
    assert!(eventually(SECOND, || numsub(&mut admin) == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_different_databases_do_not_apply_each_others_messages() {
    if !have(
        "redis-server",
        "stores_on_different_databases_do_not_apply_each_others_messages",
    ) {
        return;
    }
    let server = RedisServer::start(&[]);
    let options = RedisOptions::default().key_prefix("p:");
    let one = RedisStores::connect(&format!("{}/1", server.url()), options.clone())
        .await
        .expect("db 1");
    let two = RedisStores::connect(&format!("{}/2", server.url()), options)
        .await
        .expect("db 2");
    assert!(one.wait_coherent(SECOND).await && two.wait_coherent(SECOND).await);
    let key = "sub:shared-name".to_owned();
    let (l1, l2) = (one.logout_store(), two.logout_store());
    assert_eq!(
        markers_until_cached(&l2, std::slice::from_ref(&key)).await,
        vec![None]
    );
    l1.mark(&key, 10, TTL).await.expect("mark");
    // Give a message time to (wrongly) arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        is_absent(&l2.cached_marker(&key)),
        "{:?}",
        l2.cached_marker(&key)
    );
    assert_eq!(
        l2.markers(std::slice::from_ref(&key))
            .await
            .expect("markers"),
        vec![None]
    );
    assert_eq!(
        l1.markers(std::slice::from_ref(&key))
            .await
            .expect("markers"),
        vec![Some(10)]
    );
}
