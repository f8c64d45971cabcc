//! `certferry-format`: the reference implementation of the certferry bundle
//! format v1, defined normatively in `format-spec/SPEC.md`.
//!
//! The library is pure: no network, no clock (time is a parameter), no
//! printing, and no file system except through `Read`/`Write`.
//!
//! The only way to a bundle's entries is
//! [`UnverifiedBundle::parse`] → [`UnverifiedBundle::verify`] → [`VerifiedBundle`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod hex;
pub mod ids;
pub mod keys;
pub mod signature;
pub mod trusted_comment;
pub mod cert;

pub use error::{Error, ErrorClass, Result};
pub use ids::{Role, Sha256, SourceId};
