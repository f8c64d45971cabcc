//! `certferry-import`, the connected side: the trust policy, verification of
//! a bundle against it, the importer's own certificate policy, the review
//! report, reviewer approval, the import state, the PowerShell script, and
//! the plan and its writes through Exchange Online's admin REST endpoint.
//!
//! The core functions take a [`certpolicy::JudgedBundle`] (a verified bundle
//! whose entries the certificate policy judged while they were verified) or
//! an [`certpolicy::Evaluation`] made from one, so a bundle that skipped
//! verification cannot reach them.

#![forbid(unsafe_code)]

pub mod archive;
pub mod bundle;
pub mod certpolicy;
pub mod cli;
pub mod cmd;
pub mod context;
pub mod exchange;
pub mod failure;
pub mod journal;
pub mod plan;
pub(crate) mod plan_doc;
pub mod plan_report;
pub mod policy;
pub mod report;
pub mod review;
pub mod script;
pub mod session;
pub use certferry_cli::{output, secret};
pub mod state;
pub mod tenant;
pub mod tenant_listing;
pub mod trust_store;
pub mod value_spool;
pub mod verified;
pub mod write;
