//! The result of verification: [`VerifiedBundle`], whose entries and
//! decoded values were parsed once, during verification, from the bytes
//! whose signatures were checked.

use std::ops::Range;

use super::pki::StoredPki;
use super::VerifiedSigner;
use crate::cert::DecodedValue;
use crate::ids::Sha256;
use crate::model::{BundleHeader, Entry, Value};
use crate::pki::PkiRecord;

/// A bundle whose signatures, structure, hashes, contents and replay rules
/// all checked out, with what the caller kept of each entry (`T`; see
/// [`super::UnverifiedBundle::verify_keeping`]). It has no public
/// constructor: verification is the only way to one.
#[derive(Debug)]
pub struct VerifiedBundle<T = KeptEntry> {
    bytes: Vec<u8>,
    sha256: Sha256,
    header: BundleHeader,
    signers: Vec<VerifiedSigner>,
    kept: Vec<T>,
    review: ReviewText,
    pki: Option<Vec<StoredPki>>,
}

/// Where `data/review.csv` is: stored in the file, or inflated (revision 1.4).
#[derive(Debug)]
pub(super) enum ReviewText {
    InFile(Range<usize>),
    Inflated(Vec<u8>),
}

/// One CA certificate or CRL the bundle carries (SPEC.md §6.7): its record,
/// checked against its bytes.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedPki<'a> {
    record: &'a PkiRecord,
    bytes: &'a [u8],
}

impl<'a> VerifiedPki<'a> {
    /// Its line of `data/pki.jsonl`.
    pub fn record(&self) -> &'a PkiRecord {
        self.record
    }

    /// Its bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl StoredPki {
    pub(super) fn view<'a>(&'a self, bundle: &'a [u8]) -> VerifiedPki<'a> {
        VerifiedPki {
            record: &self.record,
            bytes: &bundle[self.range.clone()],
        }
    }
}

/// One entry as verification parsed it, with its values decoded, handed to
/// the caller's keeper while the bundle is verified (on all cores, once per
/// entry). What the keeper returns is released only if the whole bundle
/// verifies. There is no public constructor.
#[derive(Debug)]
pub struct ParsedEntry<'a> {
    pub(super) index: usize,
    pub(super) entry: &'a Entry,
    pub(super) values: Vec<VerifiedValue<'a>>,
}

impl<'a> ParsedEntry<'a> {
    /// Position in the bundle, from 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The entry as recorded (its descriptions checked against the values).
    pub fn entry(&self) -> &'a Entry {
        self.entry
    }

    /// Its values, in the entry's order: `values()[i]` is `entry().values[i]`.
    pub fn values(&self) -> &[VerifiedValue<'a>] {
        &self.values
    }
}

/// Where one value's bytes lie in the bundle, their SHA-256, and what they
/// decoded to, as verification found them.
#[derive(Debug, Clone)]
pub(super) struct StoredValue {
    pub(super) range: Range<usize>,
    pub(super) sha256: Sha256,
    pub(super) decoded: Option<DecodedValue>,
}

impl StoredValue {
    /// A withheld value: no bytes in the bundle, the exporter's record of its hash.
    pub(super) fn withheld(record: &Value) -> Self {
        Self {
            range: 0..0,
            sha256: record
                .withheld
                .map_or_else(|| Sha256::digest(b""), |w| w.sha256),
            decoded: None,
        }
    }

    pub(super) fn view<'a>(&'a self, record: &'a Value, bundle: &'a [u8]) -> VerifiedValue<'a> {
        VerifiedValue {
            record,
            bytes: &bundle[self.range.clone()],
            range: self.range.clone(),
            sha256: self.sha256,
            decoded: self.decoded.as_ref(),
        }
    }
}

/// One value: its record, its bytes, where they lie in the bundle file, their
/// SHA-256, and what they decoded to.
#[derive(Debug, Clone)]
pub struct VerifiedValue<'a> {
    record: &'a Value,
    bytes: &'a [u8],
    range: Range<usize>,
    sha256: Sha256,
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

    /// Where the bytes lie in the bundle file ([`VerifiedBundle::bytes`]).
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// SHA-256 of the bytes, as the manifest lists it (step 6 checked it);
    /// for a withheld value, the exporter's record of the value it withheld.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// The value decoded during verification (its certificates match the
    /// record's descriptions); `None` for a withheld value.
    pub fn decoded(&self) -> Option<&'a DecodedValue> {
        self.decoded
    }
}

/// What [`super::UnverifiedBundle::verify`] keeps of an entry: all of it,
/// the entry and each value's position and decoding. Convenient for tests,
/// the fuzzer and small bundles; about 4 KB an entry, so a caller that only
/// needs some facts keeps those instead.
#[derive(Debug)]
pub struct KeptEntry {
    entry: Entry,
    values: Vec<StoredValue>,
}

impl KeptEntry {
    /// The keeper that keeps everything.
    pub fn keep(parsed: ParsedEntry<'_>) -> Self {
        Self {
            entry: parsed.entry.clone(),
            values: parsed
                .values
                .iter()
                .map(|v| StoredValue {
                    range: v.range.clone(),
                    sha256: v.sha256,
                    decoded: v.decoded.cloned(),
                })
                .collect(),
        }
    }
}

/// A kept entry with the bundle's bytes at hand.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedEntry<'a> {
    bundle: &'a [u8],
    kept: &'a KeptEntry,
}

impl<'a> VerifiedEntry<'a> {
    /// The entry as recorded.
    pub fn entry(&self) -> &'a Entry {
        &self.kept.entry
    }

    /// Its values, in the entry's order: `values().nth(i)` is `entry().values[i]`.
    pub fn values(&self) -> impl ExactSizeIterator<Item = VerifiedValue<'a>> + 'a {
        let bundle = self.bundle;
        self.kept
            .entry
            .values
            .iter()
            .zip(&self.kept.values)
            .map(move |(record, stored)| stored.view(record, bundle))
    }
}

impl VerifiedBundle<KeptEntry> {
    /// The entries in bundle order, each with its values, as verification
    /// parsed them: nothing is parsed again, and no entry can be left out.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = VerifiedEntry<'_>> + '_ {
        self.kept.iter().map(move |kept| VerifiedEntry {
            bundle: &self.bytes,
            kept,
        })
    }
}

impl<T> VerifiedBundle<T> {
    /// Takes what the keeper kept of each entry out, leaving a `()` per entry
    /// (its count), for a caller that stores the kept values elsewhere.
    pub fn take_kept(self) -> (VerifiedBundle<()>, Vec<T>) {
        let units = vec![(); self.kept.len()];
        (
            VerifiedBundle {
                bytes: self.bytes,
                sha256: self.sha256,
                header: self.header,
                signers: self.signers,
                kept: units,
                review: self.review,
                pki: self.pki,
            },
            self.kept,
        )
    }

    pub(super) fn new(
        bytes: Vec<u8>,
        sha256: Sha256,
        header: BundleHeader,
        signers: Vec<VerifiedSigner>,
        kept: Vec<T>,
        review: ReviewText,
        pki: Option<Vec<StoredPki>>,
    ) -> Self {
        Self {
            bytes,
            sha256,
            header,
            signers,
            kept,
            review,
            pki,
        }
    }

    /// Whether the bundle carries CA material (`data/pki.jsonl`, even empty).
    pub fn carries_pki(&self) -> bool {
        self.pki.is_some()
    }

    /// The CA certificates and CRLs the bundle carries, in `pki.jsonl` order.
    pub fn pki(&self) -> impl ExactSizeIterator<Item = VerifiedPki<'_>> + '_ {
        self.pki
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(move |stored| stored.view(&self.bytes))
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
        match &self.review {
            ReviewText::InFile(range) => &self.bytes[range.clone()],
            ReviewText::Inflated(text) => text,
        }
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.kept.len()
    }

    /// What the keeper kept of each entry, in bundle order (one per entry).
    pub fn kept(&self) -> &[T] {
        &self.kept
    }
}
