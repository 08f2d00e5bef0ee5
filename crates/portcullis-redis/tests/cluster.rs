//! The stores on a real three-master Redis Cluster.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use portcullis_redis::{RedisOptions, RedisStores};
use portcullis_store::{Cached, LogoutStore, SessionStore};

const TTL: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

struct Cluster {
    nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let port = free_port(true);
            let conf = dir.path().join(format!("nodes-{port}.conf"));
            let conf = conf.display().to_string();
            nodes.push(RedisServer::spawn(
                port,
                dir.path(),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "5000",
                    "--appendonly",
                    "no",
                ],
                true,
            ));
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(status.success(), "cluster create failed");
        let cluster = Cluster { nodes, _dir: dir };
        cluster.wait_ok();
        cluster
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        'wait: while Instant::now() < deadline {
            for node in &self.nodes {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.admin())
                    .unwrap_or_default();
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                    std::thread::sleep(Duration::from_millis(50));
                    continue 'wait;
                }
            }
            return;
        }
        panic!("the cluster did not become ok");
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_markers_jti_and_invalidation_work_through_a_cluster() {
    let test = "sessions_markers_jti_and_invalidation_work_through_a_cluster";
    if !have("redis-server", test) || !have("redis-cli", test) {
        return;
    }
    let started = Instant::now();
    let cluster = Cluster::start();
    eprintln!("cluster up in {:?}", started.elapsed());
    let options = RedisOptions::default().key_prefix("c:");
    // Only one seed: the others are discovered.
    let one_seed = format!("redis+cluster://127.0.0.1:{}", cluster.nodes[0].port);
    let a = RedisStores::connect(&one_seed, options.clone())
        .await
        .expect("replica A");
    let b = RedisStores::connect(&cluster.url(), options)
        .await
        .expect("replica B");
    assert!(a.wait_coherent(Duration::from_secs(3)).await);
    assert!(b.wait_coherent(Duration::from_secs(3)).await);

    // Each replica subscribed on every master.
    for node in &cluster.nodes {
        let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("c:invalidate")
            .query(&mut node.admin())
            .expect("numsub");
        assert_eq!(
            subscribers, 2,
            "node {} has {subscribers} subscribers",
            node.port
        );
    }

    let (sa, sb) = (a.session_store(), b.session_store());
    let (la, lb) = (a.logout_store(), b.logout_store());

    // Sessions spread over slots of every master.
    let ids: Vec<String> = (0..30).map(|_| session_id()).collect();
    for id in &ids {
        sa.save(id, record(id.as_bytes()), TTL).await.expect("save");
    }
    for id in &ids {
        assert_eq!(load_until_cached(&sb, id).await, id.as_bytes());
    }
    // Writes on A (on whichever master owns the slot) reach B's copy.
    for id in &ids {
        sa.save(id, record(b"v2"), TTL).await.expect("save");
    }
    for id in &ids {
        assert!(
            eventually(SECOND, || hit_bytes(&sb.cached(id)).as_deref()
                != Some(id.as_bytes()))
            .await,
            "B kept a stale copy"
        );
        assert_eq!(
            sb.load(id).await.expect("load").expect("saved").as_bytes(),
            b"v2"
        );
    }
    // Touch and destroy.
    sa.touch(&ids[0], TTL).await.expect("touch");
    sa.destroy(&ids[1]).await.expect("destroy");
    assert!(sb.load(&ids[1]).await.expect("load").is_none());
    assert!(sb.load(&ids[0]).await.expect("load").is_some());
    let brief = session_id();
    sa.save(&brief, record(b"b"), Duration::from_millis(150))
        .await
        .expect("save");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sb.load(&brief).await.expect("load").is_none());

    // Markers in many slots, looked up together (no CROSSSLOT).
    let keys: Vec<String> = (0..20).map(|i| format!("sub:user-{i}")).collect();
    for (i, key) in keys.iter().enumerate().step_by(2) {
        la.mark(key, 1_000 + i as u64, TTL).await.expect("mark");
        la.mark(key, 10, TTL).await.expect("mark");
    }
    let expected: Vec<Option<u64>> = (0..20)
        .map(|i| (i % 2 == 0).then_some(1_000 + i as u64))
        .collect();
    assert_eq!(markers_until_cached(&lb, &keys).await, expected);
    // B learns a new marker from A's message, whatever master wrote it.
    for key in keys.iter().skip(1).step_by(2) {
        la.mark(key, 77, TTL).await.expect("mark");
    }
    for key in keys.iter().skip(1).step_by(2) {
        assert!(
            eventually(SECOND, || lb.cached_marker(key) == Cached::Hit(77)).await,
            "{key}: {:?}",
            lb.cached_marker(key)
        );
    }

    // jti: set-if-absent across replicas.
    assert!(la.remember_jti("jti:1", TTL).await.expect("jti"));
    assert!(!lb.remember_jti("jti:1", TTL).await.expect("jti"));
    assert!(lb.remember_jti("jti:2", TTL).await.expect("jti"));
    eprintln!("cluster test done in {:?}", started.elapsed());
}
