//! `certferry-export`: reads users' certificates from Active Directory (LDAP
//! or an LDIF dump) and writes a signed certferry bundle.
//!
//! The core is [`export::export`]; `main.rs` is a thin shell around it.

#![forbid(unsafe_code)]

pub mod decode;
pub mod secret;
pub mod source;
