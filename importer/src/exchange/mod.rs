//! The importer's online half, first part: an Exchange Online client.
//!
//! App-only authentication with a certificate ([`auth`]), the clouds and their
//! endpoints ([`cloud`]), typed cmdlets over the InvokeCommand REST endpoint
//! ([`client`]), the byte-array encoding ([`bytes`]), classified errors
//! ([`error`]), the HTTP helpers both clients share ([`http`]), the retry
//! policy ([`retry`]) and the SST trust store `Set-SmimeConfig` takes ([`sst`]).
//!
//! The wire protocol, and every choice made where Microsoft's documentation is
//! silent, is `docs/exchange-wire-protocol.md`; the simulator in
//! `tests/exo-simulator` enforces exactly it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use certferry_format::model::Attribute;
//! use certferry_import::exchange::{Cloud, Credential, ExoClient, ExoConfig};
//! use certferry_import::secret::Secret;
//! use std::path::Path;
//!
//! // The password comes from a file, the environment or a prompt; never the command line.
//! let password = Secret::new(std::fs::read_to_string("app.pfx.password")?);
//! let credential = Credential::from_file(Path::new("app.pfx"), None, Some(&password))?;
//! let config = ExoConfig::new("contoso.onmicrosoft.com", "<client id>", Cloud::Global.endpoints());
//! let client = ExoClient::new(config, credential)?;
//!
//! let tenant = client.get_all_recipients().await?;
//! let der: Vec<Vec<u8>> = vec![std::fs::read("alice.der")?];
//! // Writes bounded by `ExoConfig::max_in_flight`, whatever `run_bounded` is given.
//! let results = ExoClient::run_bounded(tenant.recipients.iter(), 8, |r| {
//!     let (client, der) = (client.clone(), der.clone());
//!     async move {
//!         client
//!             .set_certificates(r.kind, r.write_identity(), &[(Attribute::UserCertificate, &der)])
//!             .await
//!     }
//! })
//! .await;
//! for result in results {
//!     match result {
//!         Ok(receipt) => println!("written, request-id {:?}", receipt.request_id),
//!         Err(e) => eprintln!("{e}"), // class, HTTP status, x-ExceptionType, request-id
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod bytes;
pub mod client;
pub mod cloud;
pub mod error;
pub mod http;
pub mod recipient;
pub mod retry;
pub mod sst;

pub use auth::{Credential, CredentialError};
pub use client::{ExoClient, ExoConfig, ExoStats, Listing, NewContact, WriteReceipt};
pub use cloud::{Cloud, Endpoints};
pub use error::{ErrorClass, ExoError};
pub use recipient::{Recipient, RecipientKind};
pub use retry::{Jitter, RetryPolicy};
