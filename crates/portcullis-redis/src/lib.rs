//! # portcullis-redis
//!
//! Redis [`SessionStore`](portcullis_store::SessionStore) and
//! [`LogoutStore`](portcullis_store::LogoutStore) for portcullis: single
//! node, Redis Cluster, Redis Sentinel and TLS, on the `redis` crate. Each
//! replica keeps a local copy of the sessions and logout markers it has
//! served, kept coherent through a Redis pub/sub channel, so a request whose
//! session and markers this replica already knows costs no Redis round trip.
//!
//! ## Using it
//!
//! Build the stores once at startup, then hand them to the layer builder as
//! `Arc<dyn SessionStore>` / `Arc<dyn LogoutStore>`:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use portcullis_store::{LogoutStore, SessionStore};
//! use portcullis_redis::{RedisOptions, RedisStores};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // What SESSION_STORE / LOGOUT_STORE hold, for example
//! // `redis://redis.internal:6379/0` or
//! // `redis+sentinel://s1:26379,s2:26379/mymaster`.
//! let url = std::env::var("SESSION_STORE")?;
//! let stores = RedisStores::connect(
//!     &url,
//!     RedisOptions::default()
//!         .key_prefix("myapp:")
//!         .command_timeout(Duration::from_secs(1)),
//! )
//! .await?; // fails at startup if Redis does not answer
//!
//! let sessions: Arc<dyn SessionStore> = Arc::new(stores.session_store());
//! let logouts: Arc<dyn LogoutStore> = Arc::new(stores.logout_store());
//! # let _ = (&sessions, &logouts);
//! # Ok(()) }
//! ```
//!
//! and then, with the builder methods `OidcLayerBuilder::session_store` and
//! `OidcLayerBuilder::logout_store` (both take an `Arc<dyn …>`):
//!
//! ```ignore
//! let layer = portcullis::OidcLayer::builder()
//!     // issuer_base_url, client_id, client_secret, base_url, secret…
//!     .session_store(sessions)
//!     .logout_store(logouts)
//!     .build()
//!     .await?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|user: portcullis::User| async move {
//!         format!("Hello {}", user.sub())
//!     }))
//!     .layer(layer);
//! ```
//!
//! One [`RedisStores`] gives both stores over one set of connections and one
//! subscription. To keep sessions in cookies and share only logout markers
//! between replicas (`LOGOUT_STORE=redis://…`), pass just
//! `stores.logout_store()`. Every replica must use the same URL and prefix.
//!
//! ## URL forms
//!
//! | Form | Meaning |
//! |---|---|
//! | `redis://[user:password@]host[:port][/db]` | one Redis (port 6379, db 0 by default) |
//! | `rediss://[user:password@]host[:port][/db]` | the same over TLS |
//! | `redis+unix:///path/to/redis.sock[?db=N]` | one Redis on a Unix socket |
//! | `redis+cluster://[user:password@]host1:port1,host2:port2[,…]` | Redis Cluster from seed nodes (any subset; db 0 only) |
//! | `rediss+cluster://…` | the same over TLS |
//! | `redis+sentinel://[user:password@]s1:26379,s2:26379/mastername[/db]` | the master named `mastername` found through Sentinel |
//! | `rediss+sentinel://…` | the same, TLS to the sentinels and the master |
//!
//! Credentials are percent-encoded as in any URL (`p%40ss` for `p@ss`). In
//! the cluster form they apply to every node. In the sentinel form they are
//! the master's; the sentinels' own credentials, if any, go in the query:
//! `?sentinel_username=…&sentinel_password=…`. `valkey://` and `valkeys://`
//! are accepted for single nodes. Errors never repeat the URL (it may carry
//! a password).
//!
//! For a Redis whose certificate comes from a private CA, pass the CA with
//! [`RedisOptions::tls_root_certificates`], or point `SSL_CERT_FILE` at it.
//!
//! ## Keys
//!
//! With the default prefix `portcullis:` (see [`RedisOptions::key_prefix`]):
//! sessions `portcullis:s:{id}` (`SET … PX ttl`, rolling expiry by
//! `PEXPIRE`), logout markers `portcullis:m:{key}` (the logout time in unix
//! ms, kept as the max of the old and the new time), used logout-token ids
//! `portcullis:j:{key}` (`SET … NX PX ttl`), and the channel
//! `portcullis:invalidate` (`portcullis:invalidate@{db}` for a database
//! other than 0: channels are shared by all databases). Every command touches one key, so cluster slots
//! never need hash tags.
//!
//! ## The local cache and when it answers
//!
//! Each write (save, destroy, touch, mark) runs as one Lua script that
//! changes the key *and* publishes an invalidation on the channel, so no
//! write can land without its message. A background task holds the
//! subscription (in a cluster: one on every master, since each master
//! delivers what its own scripts publish; with Sentinel: on the master) and
//! applies each message to the local copy: a session change evicts the
//! session, a marker message carries the marker's new time.
//!
//! The local copy holds what this replica loaded or wrote: sessions, markers,
//! and known absences (a lookup that found nothing). `cached()` and
//! `cached_marker()` answer `Hit` or `Absent` from it only while the copy is
//! *coherent*; a key never seen answers `Unknown`, so the engine loads it
//! once. Coherent means: the subscription is up, the copy was cleared after
//! it was (re)established (messages may have been missed while it was down),
//! and a PING on the subscription connection came back within the last
//! second. The PONG travels behind every message published before it, so
//! once it is back no older invalidation is still in flight. When any of
//! this fails (Redis down, the connection killed, a partition, a cluster or
//! sentinel topology change) every `cached*` call answers `Unknown` at once
//! and the engine goes to Redis, which answers or fails with
//! `StoreError::Unavailable` within the command timeout (1 s by default):
//! the stores fail closed and never serve a stale copy beyond the one-second
//! lease. Loads and writes that raced an invalidation are not kept (striped
//! sequence numbers settle the race). A local entry never outlives the Redis
//! key it copies (its TTL is the key's remaining PTTL).
//!
//! A write on one replica is visible to the others' `cached*` once its
//! message arrives: on a LAN well under a millisecond after the write's
//! future resolved. The engine's guarantee that logout destroys the session
//! before it redirects holds in Redis itself; another replica may still
//! answer from its copy for that message's flight time.
//!
//! Costs: per replica, one pub/sub connection per master and a `PING` on it
//! every 250 ms; per write, one script call (a message to every replica);
//! per first sight of a session or marker key on a replica, one `GET`+`PTTL`.
//!
//! ## Cluster and Sentinel specifics
//!
//! - **Cluster.** Invalidations use regular `PUBLISH` (from the write
//!   script, on the master that owns the key). Each replica subscribes on
//!   *every* master, so each message reaches it directly from the master
//!   that wrote it and never depends on the cluster bus (which drops messages
//!   when a bus link breaks). The bus also forwards every message to the
//!   other masters, so a replica receives each message once per master;
//!   applying one twice is harmless. The master set is rechecked every 2 s
//!   (`CLUSTER SLOTS`); a change resubscribes and clears the copy. Sharded
//!   pub/sub is not used: it would need a channel per slot.
//! - **Sentinel.** Commands and the subscription go to the master the
//!   sentinels name. The stores ask again after `READONLY` or a dropped
//!   connection, and recheck the master every 500 ms, so after a failover
//!   they move within about half a second, before Sentinel demotes the old
//!   master. Writes that reach the old master in that window are lost when it
//!   resyncs: that is Sentinel's asynchronous replication (use
//!   `min-replicas-to-write` on the servers to narrow it), not the stores'.
//! - **TLS.** `rediss://` (and `rediss+cluster://`, `rediss+sentinel://`)
//!   verify the server certificate and host name with rustls. If the
//!   application has not installed a rustls crypto provider, aws-lc-rs is
//!   installed as the process default on the first TLS connect.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod coherence;
mod config;
mod conn;
mod opener;
mod refresh;
mod stores;
mod subscriber;

pub use config::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCAL_MARKER_CAPACITY, DEFAULT_LOCAL_SESSION_CAPACITY, RedisConfigError, RedisOptions,
};
pub use opener::RedisOpener;
pub use refresh::RedisRefreshCoordinator;
pub use stores::{RedisLogoutStore, RedisSessionStore, RedisStores};
