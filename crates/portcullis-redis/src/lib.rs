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
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use portcullis::{OidcLayer, User};
//! use portcullis_redis::{RedisOptions, RedisStores};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // What SESSION_STORE / LOGOUT_STORE hold, for example
//! // `redis://redis.internal:6379/0`.
//! let url = std::env::var("SESSION_STORE")?;
//! let stores = RedisStores::connect(&url, RedisOptions::default()).await?;
//!
//! let session_store: Arc<dyn portcullis_store::SessionStore> = Arc::new(stores.session_store());
//! let logout_store: Arc<dyn portcullis_store::LogoutStore> = Arc::new(stores.logout_store());
//! # let _ = (&session_store, &logout_store);
//! // Hand both to the layer builder (`OidcLayerBuilder::session_store` and
//! // `OidcLayerBuilder::logout_store`, both taking an `Arc<dyn …>`):
//! //
//! //     let layer = OidcLayer::builder()
//! //         /* issuer, client, secret… */
//! //         .session_store(session_store)
//! //         .logout_store(logout_store)
//! //         .build()
//! //         .await?;
//! # let layer = OidcLayer::from_env().await?;
//! let app: Router = Router::new()
//!     .route("/", get(|user: User| async move { format!("Hello {}", user.sub()) }))
//!     .layer(layer);
//! # let _ = app; Ok(()) }
//! ```
//!
//! One [`RedisStores`] gives both stores over one set of connections and one
//! subscription; use only the logout store to keep cookie sessions and share
//! logout markers (`LOGOUT_STORE=redis://…`).
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
//! `portcullis:invalidate`. Every command touches one key, so cluster slots
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
//! message arrives, which on a LAN is well under a millisecond after the
//! write's future resolves; the engine's guarantee that logout destroys the
//! session before it redirects is kept in Redis itself.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod coherence;
mod config;
mod conn;
mod opener;
mod stores;
mod subscriber;

pub use config::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCAL_MARKER_CAPACITY, DEFAULT_LOCAL_SESSION_CAPACITY, RedisConfigError, RedisOptions,
};
pub use opener::RedisOpener;
pub use stores::{RedisLogoutStore, RedisSessionStore, RedisStores};
