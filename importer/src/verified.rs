//! A verified snapshot, whichever way it travelled: one bundle file, or a
//! snapshot in parts (SPEC.md §4.6) whose part index the signatures are
//! over. Every command reads a snapshot through this one type, so a snapshot
//! in parts is imported, reviewed, approved and archived as one.

use certferry_format::model::BundleHeader;
use certferry_format::{
    Sha256, VerifiedBundle, VerifiedPart, VerifiedParts, VerifiedPki, VerifiedSigner,
};

/// A verified snapshot with what the keeper kept of each entry.
#[derive(Debug)]
pub enum Verified<T> {
    /// One bundle file, its bytes kept.
    Bundle(VerifiedBundle<T>),
    /// A snapshot in parts: the part files' bytes were released part by part.
    Parts(VerifiedParts<T>),
}

impl<T> Verified<T> {
    /// The snapshot's header (for parts: their common members, counts summed).
    pub fn header(&self) -> &BundleHeader {
        match self {
            Self::Bundle(b) => b.header(),
            Self::Parts(p) => p.header(),
        }
    }

    /// The snapshot's SHA-256: the bundle file's, or the part index's.
    pub fn sha256(&self) -> Sha256 {
        match self {
            Self::Bundle(b) => b.sha256(),
            Self::Parts(p) => p.sha256(),
        }
    }

    /// The signatures that counted.
    pub fn signers(&self) -> &[VerifiedSigner] {
        match self {
            Self::Bundle(b) => b.signers(),
            Self::Parts(p) => p.signers(),
        }
    }

    /// What the keeper kept of each entry, in snapshot order.
    pub fn kept(&self) -> &[T] {
        match self {
            Self::Bundle(b) => b.kept(),
            Self::Parts(p) => p.kept(),
        }
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.kept().len()
    }

    /// Whether the snapshot carries CA material.
    pub fn carries_pki(&self) -> bool {
        match self {
            Self::Bundle(b) => b.carries_pki(),
            Self::Parts(p) => p.carries_pki(),
        }
    }

    /// The CA certificates and CRLs it carries.
    pub fn pki(&self) -> Box<dyn ExactSizeIterator<Item = VerifiedPki<'_>> + '_> {
        match self {
            Self::Bundle(b) => Box::new(b.pki()),
            Self::Parts(p) => Box::new(p.pki()),
        }
    }

    /// The bytes the signatures are over: the bundle file, or the part index.
    pub fn signed_bytes(&self) -> &[u8] {
        match self {
            Self::Bundle(b) => b.bytes(),
            Self::Parts(p) => p.index_bytes(),
        }
    }

    /// The bundle file's bytes; empty for a snapshot in parts, whose part
    /// files were released as they were verified (the values a command
    /// writes were copied to the value spool, `certpolicy::spool`).
    pub fn file_bytes(&self) -> &[u8] {
        match self {
            Self::Bundle(b) => b.bytes(),
            Self::Parts(_) => &[],
        }
    }

    /// The parts of a snapshot in parts (empty for a bundle file).
    pub fn parts(&self) -> &[VerifiedPart] {
        match self {
            Self::Bundle(_) => &[],
            Self::Parts(p) => p.parts(),
        }
    }
}
