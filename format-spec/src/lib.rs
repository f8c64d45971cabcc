//! `certferry-format`: the reference implementation of the certferry bundle
//! format v1, defined normatively in `format-spec/SPEC.md`.
//!
//! The library is pure: no network, no clock (time is a parameter), no
//! printing, and no file system except through `Read`/`Write`.
//!
//! Writing: [`BundleWriter`] streams entries into a canonical zip; sign the
//! result with [`sign_bundle`]. Reading: the only way to a bundle's entries is
//! [`UnverifiedBundle::parse`] → [`UnverifiedBundle::verify`] → [`VerifiedBundle`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod canonical_json;
pub mod cert;
mod digests;
mod error;
mod hex;
pub mod ids;
mod inflate;
pub mod keys;
pub mod layout;
mod limits;
pub mod model;
pub mod parts;
pub mod pki;
pub mod replay;
pub mod review_csv;
pub mod signature;
mod spool;
pub mod text;
mod timestamp;
pub mod trusted_comment;
mod verify;
mod writer;
mod zip_read;
mod zip_write;

pub use digests::{Blake2b512Hasher, BundleDigests, HashedBytes, PartBytes, Sha256Hasher};
pub use error::{Error, ErrorClass, Result};
pub use ids::{Role, Sha256, SourceId};
pub use limits::Limits;
pub use model::describe_value;
pub use timestamp::{Timestamp, TimestampText};
pub use verify::{
    parts_in, KeptEntry, ParsedEntry, PartReader, TrustPolicy, TrustedKey, UnverifiedBundle,
    UnverifiedParts, VerifiedBundle, VerifiedEntry, VerifiedPart, VerifiedParts, VerifiedPki,
    VerifiedSigner, VerifiedValue,
};
pub use writer::{BundleWriter, HeaderDraft, Revision};

/// Signs a bundle file: the signature file for `role`, with the trusted
/// comment of SPEC.md §7.2 binding it to the file's hash, source and sequence.
pub fn sign_bundle(
    digests: &BundleDigests,
    secret: &keys::SecretKey,
    role: Role,
    source: &SourceId,
    sequence: u64,
) -> Result<signature::SignatureFile> {
    let comment = trusted_comment::TrustedComment {
        role,
        source: source.clone(),
        sequence,
        sha256: digests.sha256,
    };
    signature::SignatureFile::sign(
        secret,
        &digests.blake2b,
        &comment.to_string(),
        &format!("certferry {role} signature for {source} bundle {sequence}"),
    )
}

/// The conventional signature file name (SPEC.md §7.3):
/// `<bundle file name>.<role>.<KEYID>.minisig`.
pub fn signature_file_name(bundle_file_name: &str, role: Role, key_id: &keys::KeyId) -> String {
    format!("{bundle_file_name}.{role}.{key_id}.minisig")
}
