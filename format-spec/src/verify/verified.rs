//! The result of verification: [`VerifiedBundle`], whose entries and
//! decoded values were parsed once, during verification, from the bytes
//! whose signatures were checked.

use std::ops::Range;

use super::VerifiedSigner;
use crate::cert::DecodedValue;
use crate::ids::Sha256;
use crate::model::{BundleHeader, Entry, Value};

/// A bundle whose signatures, structure, hashes, contents and replay rules
/// all checked out. It has no public constructor: [`super::UnverifiedBundle::verify`]
/// is the only way to one.
#[derive(Debug)]
pub struct VerifiedBundle {
    bytes: Vec<u8>,
    sha256: Sha256,
    header: BundleHeader,
    signers: Vec<VerifiedSigner>,
    entries: Vec<StoredEntry>,
    review: Range<usize>,
}

/// One entry as verification parsed it: the entry, and per value where its
/// bytes lie and what they decoded to.
#[derive(Debug)]
pub(super) struct StoredEntry {
    pub(super) entry: Entry,
    pub(super) values: Vec<StoredValue>,
}

/// One value as verification found it. A withheld value has no bytes in the
/// bundle (an empty range) and no decoding.
#[derive(Debug)]
pub(super) struct StoredValue {
    pub(super) bytes: Range<usize>,
    pub(super) decoded: Option<DecodedValue>,
}

/// One verified entry: the entry as recorded (and checked against its value
/// bytes), with its values.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedEntry<'a> {
    bundle: &'a [u8],
    stored: &'a StoredEntry,
}

impl<'a> VerifiedEntry<'a> {
    /// The entry as recorded.
    pub fn entry(&self) -> &'a Entry {
        &self.stored.entry
    }

    /// Its values, in the entry's order: `values().nth(i)` is `entry().values[i]`.
    pub fn values(&self) -> impl ExactSizeIterator<Item = VerifiedValue<'a>> + 'a {
        let bundle = self.bundle;
        self.stored
            .entry
            .values
            .iter()
            .zip(&self.stored.values)
            .map(move |(record, stored)| VerifiedValue {
                record,
                bytes: &bundle[stored.bytes.clone()],
                decoded: stored.decoded.as_ref(),
            })
    }
}

/// One verified value: its record, its bytes, and what they decode to.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedValue<'a> {
    record: &'a Value,
    bytes: &'a [u8],
    decoded: Option<&'a DecodedValue>,
}

impl<'a> VerifiedValue<'a> {
    /// The value's record in `entries.jsonl`.
    pub fn record(&self) -> &'a Value {
        self.record
    }

    /// The value's bytes (empty for a withheld value).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The value decoded during verification (its certificates match the
    /// record's descriptions); `None` for a withheld value.
    pub fn decoded(&self) -> Option<&'a DecodedValue> {
        self.decoded
    }
}

impl VerifiedBundle {
    pub(super) fn new(
        bytes: Vec<u8>,
        sha256: Sha256,
        header: BundleHeader,
        signers: Vec<VerifiedSigner>,
        entries: Vec<StoredEntry>,
        review: Range<usize>,
    ) -> Self {
        Self {
            bytes,
            sha256,
            header,
            signers,
            entries,
            review,
        }
    }

    /// The header (`bundle.json`).
    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// SHA-256 of the bundle file.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// The signatures that counted.
    pub fn signers(&self) -> &[VerifiedSigner] {
        &self.signers
    }

    /// The verified bytes of the bundle file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `data/review.csv`.
    pub fn review_csv(&self) -> &[u8] {
        &self.bytes[self.review.clone()]
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// The entries in bundle order, each with its values, as verification
    /// parsed them: nothing is parsed again, and no entry can be left out.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = VerifiedEntry<'_>> + '_ {
        self.entries.iter().map(move |stored| VerifiedEntry {
            bundle: &self.bytes,
            stored,
        })
    }
}
