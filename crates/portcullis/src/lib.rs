//! # portcullis
//!
//! OpenID Connect sign-in for axum and tower services.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod session;
