//! The stores through Redis Sentinel: a master, a replica and a sentinel,
//! then a failover.

mod common;

use std::time::{Duration, Instant};

use common::*;
use portcullis_redis::{RedisOptions, RedisStores};
use portcullis_store::{Cached, LogoutStore, SessionStore};

const TTL: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

struct Setup {
    master: RedisServer,
    replica: RedisServer,
    sentinel: Sentinel,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        // No 5 s wait before the replica's first sync.
        let master = RedisServer::start(&["--repl-diskless-sync-delay", "0"]);
        let replica_of = master.port.to_string();
        let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &replica_of]);
        // Wait for the replica to be in sync before the sentinel looks.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut replica.admin())
                .unwrap_or_default();
            if info.contains("master_link_status:up") {
                break;
            }
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(20));
        }
        let sentinel = Sentinel::start(dir.path(), "mymaster", master.port);
        Setup {
            master,
            replica,
            sentinel,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis+sentinel://127.0.0.1:{}/mymaster", self.sentinel.port)
    }
}

async fn replicas(url: &str) -> (RedisStores, RedisStores) {
    let options = RedisOptions::default().key_prefix("st:");
    let a = RedisStores::connect(url, options.clone())
        .await
        .expect("replica A");
    let b = RedisStores::connect(url, options).await.expect("replica B");
    assert!(a.wait_coherent(Duration::from_secs(3)).await);
    assert!(b.wait_coherent(Duration::from_secs(3)).await);
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_markers_and_invalidation_work_through_sentinel() {
    if !have(
        "redis-server",
        "sessions_markers_and_invalidation_work_through_sentinel",
    ) {
        return;
    }
    let setup = Setup::start();
    let (a, b) = replicas(&setup.url()).await;
    let (sa, sb) = (a.session_store(), b.session_store());
    let id = session_id();

    sa.save(&id, record(b"v1"), TTL).await.expect("save");
    assert_eq!(load_until_cached(&sb, &id).await, b"v1");
    // The data is on the master the sentinel named.
    let on_master: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("st:s:{id}"))
        .query(&mut setup.master.admin())
        .expect("get");
    assert_eq!(on_master.as_deref(), Some(&b"v1"[..]));

    sa.save(&id, record(b"v2"), TTL).await.expect("save");
    assert!(
        eventually(SECOND, || hit_bytes(&sb.cached(&id)).as_deref()
            != Some(b"v1"))
        .await
    );
    assert_eq!(load_until_cached(&sb, &id).await, b"v2");
    sa.touch(&id, TTL).await.expect("touch");
    sa.destroy(&id).await.expect("destroy");
    assert!(eventually(SECOND, || hit_bytes(&sb.cached(&id)).is_none()).await);
    assert!(sb.load(&id).await.expect("load").is_none());

    let (la, lb) = (a.logout_store(), b.logout_store());
    la.mark("sid:x", 5, TTL).await.expect("mark");
    la.mark("sid:x", 3, TTL).await.expect("mark");
    assert!(eventually(SECOND, || lb.cached_marker("sid:x") == Cached::Hit(5)).await);
    assert_eq!(
        lb.markers(&["sid:x".to_owned(), "sid:y".to_owned()])
            .await
            .expect("markers"),
        vec![Some(5), None]
    );
    assert!(la.remember_jti("jti:1", TTL).await.expect("jti"));
    assert!(!lb.remember_jti("jti:1", TTL).await.expect("jti"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sentinel_failover_the_stores_follow_the_new_master() {
    if !have(
        "redis-server",
        "after_a_sentinel_failover_the_stores_follow_the_new_master",
    ) {
        return;
    }
    let started = Instant::now();
    let setup = Setup::start();
    let (a, b) = replicas(&setup.url()).await;
    let (sa, sb) = (a.session_store(), b.session_store());
    let id = session_id();
    sa.save(&id, record(b"before"), TTL).await.expect("save");
    assert_eq!(load_until_cached(&sb, &id).await, b"before");
    // Make sure the replica has it before failing over.
    let mut master = setup.master.admin();
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(2_000)
        .query(&mut master)
        .expect("wait");

    // The sentinel needs a moment to learn about the replica: retry until it
    // accepts the failover.
    let mut sentinel = setup.sentinel.admin().expect("sentinel");
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(err) = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("mymaster")
        .query::<()>(&mut sentinel)
    {
        assert!(Instant::now() < deadline, "failover refused: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while setup.sentinel.master_port("mymaster") != Some(setup.replica.port) {
        assert!(Instant::now() < deadline, "the failover did not happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("failover done after {:?}", started.elapsed());
    // Until the sentinel turns the old master into a replica (up to ~10 s
    // later) it still accepts writes, which its resync then drops:
    // Sentinel's own failover window (asynchronous replication). The stores
    // do not wait for that: they recheck the master every ~0.5 s and move
    // both their subscription and their commands. Both replicas are
    // subscribed on the new master within a couple of seconds...
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("st:invalidate")
            .query(&mut setup.replica.admin())
            .expect("numsub");
        if subscribers == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the subscriptions did not move");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("subscriptions moved after {:?}", started.elapsed());
    assert!(a.wait_coherent(Duration::from_secs(3)).await);
    assert!(b.wait_coherent(Duration::from_secs(3)).await);
    let old_role: Vec<redis::Value> = redis::cmd("ROLE")
        .query(&mut setup.master.admin())
        .expect("role");
    eprintln!(
        "old master still a master: {}",
        matches!(old_role.first(), Some(redis::Value::BulkString(r)) if r == b"master")
    );

    // ...and so do the commands, even while the old master would still
    // accept them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sa.save(&id, record(b"after"), TTL).await {
            Ok(()) => break,
            Err(err) => {
                assert!(
                    Instant::now() < deadline,
                    "no write after the failover: {err}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let on_new_master: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("st:s:{id}"))
        .query(&mut setup.replica.admin())
        .expect("get");
    assert_eq!(on_new_master.as_deref(), Some(&b"after"[..]));

    // B never serves the old value from its copy: its subscription moved to
    // the new master (and resynchronised), or the message reached it.
    assert!(
        eventually(Duration::from_secs(5), || hit_bytes(&sb.cached(&id))
            .as_deref()
            != Some(b"before"))
        .await,
        "B kept serving the value from before the failover"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sb.load(&id).await {
            Ok(Some(r)) if r.as_bytes() == b"after" => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "B does not load the new value: {:?}",
                    other.map(|r| r.map(|r| r.as_bytes().to_vec()))
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(b.wait_coherent(Duration::from_secs(10)).await);
    assert_eq!(load_until_cached(&sb, &id).await, b"after");
    // And invalidation flows through the new master.
    assert!(a.wait_coherent(Duration::from_secs(10)).await);
    sa.save(&id, record(b"later"), TTL).await.expect("save");
    assert!(
        eventually(SECOND, || hit_bytes(&sb.cached(&id)).as_deref()
            != Some(b"after"))
        .await
    );
    eprintln!("sentinel failover test done in {:?}", started.elapsed());
}
