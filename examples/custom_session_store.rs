//! A session store of your own: sessions as files in a directory.
//!
//! `SessionStore` is four async methods (load, save with a TTL, destroy,
//! touch) over opaque, already sealed bytes: the engine encrypts and
//! authenticates every record (bound to its id, the issuer and the client),
//! so a store only has to keep bytes and expiry. This one keeps each session
//! in `<dir>/<id>` with its expiry time in the first line; any database with
//! a key/value table works the same way.
//!
//! ```text
//! SESSION_DIR=/tmp/portcullis-sessions ISSUER_BASE_URL=… CLIENT_ID=… CLIENT_SECRET=… \
//! BASE_URL=http://localhost:3000 SECRET=… cargo run -p portcullis --example custom_session_store
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use portcullis::store::{SessionRecord, SessionStore, StoreError, StoreFuture};
use portcullis::{OidcLayerBuilder, User, requires_auth};

/// Sessions as files: `<expiry unix seconds>\n<sealed bytes>`.
struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    fn path(&self, id: &str) -> PathBuf {
        // Ids are base64url chosen by the engine: safe as file names.
        self.dir.join(id)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unavailable(error: std::io::Error) -> StoreError {
    StoreError::unavailable("file session", error)
}

impl SessionStore for FileStore {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(async move {
            let contents = match tokio::fs::read(self.path(id)).await {
                Ok(contents) => contents,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(unavailable(e)),
            };
            let Some(newline) = contents.iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let expires: u64 = std::str::from_utf8(&contents[..newline])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if expires <= now() {
                let _ = tokio::fs::remove_file(self.path(id)).await;
                return Ok(None);
            }
            Ok(Some(SessionRecord::from_bytes(
                contents[newline + 1..].to_vec(),
            )))
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: SessionRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut contents = format!("{}\n", now() + ttl.as_secs()).into_bytes();
            contents.extend_from_slice(record.as_bytes());
            // Write then rename: a reader never sees half a session.
            let tmp = self.dir.join(format!("{id}.tmp"));
            tokio::fs::write(&tmp, contents)
                .await
                .map_err(unavailable)?;
            tokio::fs::rename(&tmp, self.path(id))
                .await
                .map_err(unavailable)
        })
    }

    fn destroy<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(id)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(unavailable(e)),
                _ => Ok(()),
            }
        })
    }

    fn touch<'a>(&'a self, id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if let Some(record) = self.load(id).await? {
                self.save(id, record, ttl).await?;
            }
            Ok(())
        })
    }
}

async fn profile(user: User) -> String {
    format!("Signed in as {} (session kept in a file)", user.sub())
}

#[tokio::main]
async fn main() -> Result<(), portcullis::Report> {
    let dir = PathBuf::from(
        std::env::var("SESSION_DIR").unwrap_or_else(|_| "/tmp/portcullis-sessions".into()),
    );
    tokio::fs::create_dir_all(&dir).await?;
    let oidc = OidcLayerBuilder::from_env()?
        .auth_required(false)
        .session_store(Arc::new(FileStore { dir }))
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(|| async { "public" }))
        .route("/profile", get(profile).route_layer(requires_auth()))
        .layer(oidc);
    // HOST (default 127.0.0.1) and PORT (default 3000).
    let listener = portcullis::listen::bind_from_env(3000).await?;
    println!(
        "custom_session_store example listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
