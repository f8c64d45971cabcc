//! The importer's online half, first part: an Exchange Online client.
//!
//! App-only authentication with a certificate ([`auth`]), the clouds and their
//! endpoints ([`cloud`]), typed cmdlets over the InvokeCommand REST endpoint
//! ([`client`]), the byte-array encoding ([`bytes`]), classified errors
//! ([`error`]) and the retry policy ([`retry`]).
//!
//! The wire protocol, and every choice made where Microsoft's documentation is
//! silent, is `docs/exchange-wire-protocol.md`; the simulator in
//! `tests/exo-simulator` enforces exactly it.

pub mod auth;
pub mod bytes;
pub mod client;
pub mod cloud;
pub mod error;
pub mod recipient;
pub mod retry;

pub use auth::{Credential, CredentialError};
pub use client::{ExoClient, ExoConfig, ExoStats, Listing, NewContact, WriteReceipt};
pub use cloud::{Cloud, Endpoints};
pub use error::{ErrorClass, ExoError};
pub use recipient::{Recipient, RecipientKind};
pub use retry::{Jitter, RetryPolicy};
