//! Where sessions and logout markers live: the traits of the
//! `portcullis-store` crate, re-exported, and the in-process stores.
//!
//! See [`SessionStore`] and [`LogoutStore`]; [`MemorySessionStore`] and
//! [`MemoryLogoutStore`] are the single-process implementations, and the
//! `portcullis-redis` crate has Redis.

mod arena;
mod memory;

pub use memory::{
    DEFAULT_MARKER_CAPACITY, DEFAULT_SESSION_CAPACITY, MemoryLogoutStore, MemorySessionStore,
};
pub use portcullis_store::*;
