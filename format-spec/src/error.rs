//! Errors of the format library. Every variant maps to exactly one
//! [`ErrorClass`], and every class is named in SPEC.md §10 and used as the
//! `expect:` value of the test vectors.

use std::fmt;

/// The class of a verification failure, as named in SPEC.md §10 and in the
/// `expect:` header of the test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// A size or count limit was exceeded (file, entry count, entry size, total).
    SizeLimit,
    /// A `.minisig` file is not a well-formed minisign signature.
    SignatureMalformed,
    /// The signature uses an algorithm v1 does not accept (legacy `Ed`).
    SignatureAlgorithm,
    /// A signature from a trusted key does not verify.
    SignatureInvalid,
    /// Not enough distinct trusted keys signed, or a required role is missing.
    ThresholdNotMet,
    /// A trusted comment does not follow the grammar.
    TrustedComment,
    /// A trusted comment names another file, source, sequence or role.
    TrustedCommentMismatch,
    /// The zip file does not follow the canonical zip profile.
    ZipStructure,
    /// A member name is not allowed by the name grammar.
    ZipName,
    /// `bagit.txt` or `bag-info.txt` is not what v1 requires.
    Bagit,
    /// The tag manifest is malformed or does not match.
    TagManifest,
    /// The payload manifest is malformed or does not match.
    Manifest,
    /// The set or order of files differs from what the manifest and entries require.
    FileSet,
    /// `bundle.json`, `entries.jsonl` or `review.csv` is malformed or not canonical.
    Content,
    /// The bundle declares a format version this implementation does not know.
    UnsupportedVersion,
    /// Private key material was found in the bundle.
    PrivateKey,
    /// A part index is malformed or names the parts wrongly (SPEC.md §4.6).
    PartIndex,
    /// A part the part index names cannot be read.
    PartMissing,
    /// A part is not the one the index names, or not of the snapshot at its place.
    PartMismatch,
    /// The bundle's expiry time has passed.
    Expired,
    /// The bundle's creation time lies in the future.
    NotYetValid,
    /// The source id is not accepted by the policy.
    SourceNotAccepted,
    /// The sequence number does not exceed the last imported one.
    Replay,
    /// The same sequence number was imported before with a different hash.
    Fork,
    /// The sequence number jumps further than the policy allows.
    FastForward,
    /// The bundle is older than the last imported bundle of the source.
    Stale,
    /// The previous-bundle hash does not match the last imported bundle.
    ChainMismatch,
    /// A key or key file is malformed, or its password is wrong.
    Key,
    /// Writing a bundle failed (I/O or invalid input to the writer).
    Write,
}

impl ErrorClass {
    /// All classes, in SPEC.md order.
    pub const ALL: &'static [ErrorClass] = &[
        Self::SizeLimit,
        Self::SignatureMalformed,
        Self::SignatureAlgorithm,
        Self::SignatureInvalid,
        Self::ThresholdNotMet,
        Self::TrustedComment,
        Self::TrustedCommentMismatch,
        Self::ZipStructure,
        Self::ZipName,
        Self::Bagit,
        Self::TagManifest,
        Self::Manifest,
        Self::FileSet,
        Self::Content,
        Self::UnsupportedVersion,
        Self::PrivateKey,
        Self::PartIndex,
        Self::PartMissing,
        Self::PartMismatch,
        Self::Expired,
        Self::NotYetValid,
        Self::SourceNotAccepted,
        Self::Replay,
        Self::Fork,
        Self::FastForward,
        Self::Stale,
        Self::ChainMismatch,
        Self::Key,
        Self::Write,
    ];

    /// The kebab-case name used in SPEC.md and in vector headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::SizeLimit => "size-limit",
            Self::SignatureMalformed => "signature-malformed",
            Self::SignatureAlgorithm => "signature-algorithm",
            Self::SignatureInvalid => "signature-invalid",
            Self::ThresholdNotMet => "threshold-not-met",
            Self::TrustedComment => "trusted-comment",
            Self::TrustedCommentMismatch => "trusted-comment-mismatch",
            Self::ZipStructure => "zip-structure",
            Self::ZipName => "zip-name",
            Self::Bagit => "bagit",
            Self::TagManifest => "tag-manifest",
            Self::Manifest => "manifest",
            Self::FileSet => "file-set",
            Self::Content => "content",
            Self::UnsupportedVersion => "unsupported-version",
            Self::PrivateKey => "private-key",
            Self::PartIndex => "part-index",
            Self::PartMissing => "part-missing",
            Self::PartMismatch => "part-mismatch",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::SourceNotAccepted => "source-not-accepted",
            Self::Replay => "replay",
            Self::Fork => "fork",
            Self::FastForward => "fast-forward",
            Self::Stale => "stale",
            Self::ChainMismatch => "chain-mismatch",
            Self::Key => "key",
            Self::Write => "write",
        }
    }

    /// Parses a kebab-case class name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure: its class and a message that names what was wrong and where
/// (member name, line, key id). Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct Error {
    class: ErrorClass,
    message: String,
}

impl Error {
    /// Creates an error of `class` with a message naming what and where.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// The class of this error (SPEC.md §10).
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The human-readable detail, without the class prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] with a formatted message: `err!(ZipName, "bad name {n:?}")`.
#[macro_export]
#[doc(hidden)]
macro_rules! err {
    ($class:ident, $($arg:tt)+) => {
        $crate::Error::new($crate::ErrorClass::$class, format!($($arg)+))
    };
}
