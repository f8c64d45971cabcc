//! `certferry-export`: reads users' certificates from Active Directory (LDAP
//! or an LDIF dump) and writes a signed certferry bundle.
//!
//! The core is [`export::export`]; `run.rs` turns arguments into settings and
//! writes the outputs crash-safely; `main.rs` is a thin shell around it.

#![forbid(unsafe_code)]

pub mod ca_material;
pub mod cli;
pub mod decode;
pub mod export;
pub mod follow_hash;
pub mod guard;
pub mod part_files;
pub mod run;
pub use certferry_cli::{output, secret};
pub mod source;
pub mod state;
pub mod summary;
