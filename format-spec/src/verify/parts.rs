//! Verification of a snapshot in parts (SPEC.md §4.6, §8 "A snapshot in
//! parts"): the part index's signatures, the index, then each part in order,
//! read, hashed, checked as a bundle file and released before the next, so
//! that memory holds one part (and the CA material part) at a time, and what
//! the caller's keeper kept of each entry.

use super::pki::StoredPki;
use super::{
    check_file, signatures, KeeperSlot, ParsedEntry, TrustPolicy, VerifiedPki, VerifiedSigner,
};
use crate::digests::{BundleDigests, HashedBytes, PartBytes};
use crate::ids::Sha256;
use crate::limits::Limits;
use crate::model::{BundleHeader, Counts};
use crate::parts::PartIndex;
use crate::replay::{self, SourceState};
use crate::signature::SignatureFile;
use crate::timestamp::Timestamp;
use crate::{err, Error, Result};

/// A part index and its signature files, checked for size and syntax only
/// (step 1 for a snapshot in parts).
#[derive(Debug)]
pub struct UnverifiedParts {
    index: Vec<u8>,
    digests: BundleDigests,
    signatures: Vec<(String, SignatureFile)>,
    limits: Limits,
}

/// One part as verification found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPart {
    /// Its part number.
    pub number: u32,
    /// Its file name.
    pub name: String,
    /// Its SHA-256 (the index's, which the bytes matched).
    pub sha256: Sha256,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its own counts.
    pub counts: Counts,
}

/// A snapshot in parts whose part index's signatures, every part and the
/// replay rules checked out, with what the keeper kept of each entry, in
/// snapshot order. The part files' bytes are not kept (the CA material
/// part's excepted).
#[derive(Debug)]
pub struct VerifiedParts<T> {
    index: Vec<u8>,
    sha256: Sha256,
    header: BundleHeader,
    signers: Vec<VerifiedSigner>,
    parts: Vec<VerifiedPart>,
    kept: Vec<T>,
    pki: Option<(Vec<u8>, Vec<StoredPki>)>,
}

impl VerifiedParts<()> {
    /// The same snapshot keeping `kept` (one per entry, in order).
    fn with_kept<T>(self, kept: Vec<T>) -> VerifiedParts<T> {
        debug_assert_eq!(kept.len(), self.kept.len());
        VerifiedParts {
            index: self.index,
            sha256: self.sha256,
            header: self.header,
            signers: self.signers,
            parts: self.parts,
            kept,
            pki: self.pki,
        }
    }
}

impl<T> VerifiedParts<T> {
    /// The snapshot's header: the parts' common members, the counts summed,
    /// and no `part`.
    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// The part index's bytes: what the signatures are over (a reviewer
    /// co-signs these).
    pub fn index_bytes(&self) -> &[u8] {
        &self.index
    }

    /// SHA-256 of the part index: the snapshot's identity (SPEC.md §4.6).
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// The signatures that counted.
    pub fn signers(&self) -> &[VerifiedSigner] {
        &self.signers
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[VerifiedPart] {
        &self.parts
    }

    /// What the keeper kept of each entry, in snapshot order.
    pub fn kept(&self) -> &[T] {
        &self.kept
    }

    /// Whether the snapshot carries CA material (part 0).
    pub fn carries_pki(&self) -> bool {
        self.pki.is_some()
    }

    /// The CA certificates and CRLs of part 0, in `pki.jsonl` order.
    pub fn pki(&self) -> impl ExactSizeIterator<Item = VerifiedPki<'_>> + '_ {
        let (bytes, objects): (&[u8], &[StoredPki]) = match &self.pki {
            Some((bytes, objects)) => (bytes, objects),
            None => (&[], &[]),
        };
        objects.iter().map(move |o| o.view(bytes))
    }
}

/// Reads a part file by the name the index gives it, at most `max` bytes,
/// hashing it as it is read. Its errors are the verification's: `part-missing`
/// when the file cannot be read, `size-limit` when it is larger than `max`.
pub trait PartReader {
    /// Reads the part called `name`.
    fn read_part(&mut self, name: &str, max: u64) -> Result<PartBytes>;
}

impl<F: FnMut(&str, u64) -> Result<PartBytes>> PartReader for F {
    fn read_part(&mut self, name: &str, max: u64) -> Result<PartBytes> {
        self(name, max)
    }
}

/// A [`PartReader`] for the parts beside a part index in `dir` (SPEC.md
/// §4.6): it opens exactly `dir/name`, never another path.
pub fn parts_in(dir: &std::path::Path) -> impl PartReader + '_ {
    move |name: &str, max: u64| -> Result<PartBytes> {
        let path = dir.join(name);
        let file =
            std::fs::File::open(&path).map_err(|e| err!(PartMissing, "{}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| err!(PartMissing, "{}: {e}", path.display()))?
            .len();
        if len > max {
            return Err(err!(
                SizeLimit,
                "{}: {len} bytes, the limit is {max}",
                path.display()
            ));
        }
        PartBytes::read(file, len).map_err(|e| err!(PartMissing, "{}: {e}", path.display()))
    }
}

impl UnverifiedParts {
    /// Step 1 for a part index: its size and the syntax of each signature file.
    pub fn parse(
        index: impl Into<HashedBytes>,
        signatures: Vec<(String, Vec<u8>)>,
        limits: &Limits,
    ) -> Result<Self> {
        let limits = limits.at_most_spec();
        let (index, digests) = index.into().into_parts();
        if index.len() as u64 > limits.max_part_index_bytes {
            return Err(err!(
                SizeLimit,
                "part index is {} bytes, the limit is {}",
                index.len(),
                limits.max_part_index_bytes
            ));
        }
        let signatures = super::parse_signature_files(signatures, &limits)?;
        Ok(Self {
            index,
            digests,
            signatures,
            limits,
        })
    }

    /// The signature files as step 1 parsed them, each with its label.
    pub fn signatures(&self) -> &[(String, SignatureFile)] {
        &self.signatures
    }

    /// SHA-256 of the part index.
    pub fn sha256(&self) -> Sha256 {
        self.digests.sha256
    }

    /// Steps 2 to 6 for a snapshot in parts (SPEC.md §8): the part index's
    /// signatures, the index, then each part read through `reader`, checked
    /// and released in order, and the replay rules for the snapshot.
    /// `make_keeper` is handed the first part's header and part 0's CA
    /// material (`None` without a part 0) before any entry is checked; what
    /// the keeper returns for each entry is released only if every step passes.
    pub fn verify_keeping_with<T: Send, K: Fn(ParsedEntry<'_>) -> T + Sync>(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
        reader: impl PartReader + Send,
        make_keeper: impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
    ) -> Result<VerifiedParts<T>> {
        let mut kept = Vec::new();
        let verified = self.verify_draining_with(
            policy,
            now,
            previous,
            reader,
            make_keeper,
            |part: Vec<T>| kept.extend(part),
        )?;
        Ok(verified.with_kept(kept))
    }

    /// [`Self::verify_keeping_with`], but what the keeper returns for the
    /// entries of each part is handed to `drain` as soon as that part is
    /// checked, in snapshot order, so that memory need not hold it all. The
    /// snapshot is verified only when this returns `Ok`: until then, what
    /// `drain` was handed must not be acted on. The result keeps a `()` per
    /// entry (its count).
    pub fn verify_draining_with<T: Send, K: Fn(ParsedEntry<'_>) -> T + Sync>(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
        reader: impl PartReader + Send,
        make_keeper: impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
        drain: impl FnMut(Vec<T>),
    ) -> Result<VerifiedParts<()>> {
        signatures::check_policy(policy)?;
        let (signers, comments) =
            signatures::check_signatures(&self.signatures, policy, &self.digests)?;
        let claimed = comments.first().map(|(_, c)| (&c.source, c.sequence));
        let index = PartIndex::parse(&self.index, claimed)?;
        let max = self
            .limits
            .max_bundle_bytes
            .min(Limits::HARD_MAX_BUNDLE_BYTES);
        // Each part is read and hashed on a thread of its own while the one
        // before it is checked: one part ahead at most, every part still
        // checked completely before the next, in index order.
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(0);
            let names: Vec<&str> = index.parts.iter().map(|p| p.name.as_str()).collect();
            s.spawn(move || {
                let mut reader = reader;
                for name in names {
                    let read = reader.read_part(name, max);
                    let failed = read.is_err();
                    // The checker stops taking parts at its first failure.
                    if tx.send(read).is_err() || failed {
                        break;
                    }
                }
            });
            let next = || {
                rx.recv().unwrap_or_else(|_| {
                    Err(err!(
                        PartMissing,
                        "the part could not be read (reader stopped)"
                    ))
                })
            };
            self.check_parts(
                &index,
                policy,
                now,
                previous,
                signers,
                &comments,
                max,
                next,
                make_keeper,
                drain,
            )
        })
    }

    /// Step 5 for each part, in index order, as `next` hands over its bytes,
    /// then step 6 for the snapshot (SPEC.md §8).
    #[allow(clippy::too_many_arguments)]
    fn check_parts<T: Send, K: Fn(ParsedEntry<'_>) -> T + Sync>(
        self,
        index: &PartIndex,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
        signers: Vec<VerifiedSigner>,
        comments: &signatures::CommentList,
        max: u64,
        mut next: impl FnMut() -> Result<PartBytes>,
        make_keeper: impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
        mut drain: impl FnMut(Vec<T>),
    ) -> Result<VerifiedParts<()>> {
        let mut keeper = KeeperSlot::new(make_keeper);
        let mut first: Option<BundleHeader> = None;
        let mut counts = Counts::default();
        let mut kept = Vec::new();
        let mut parts = Vec::with_capacity(index.parts.len());
        let mut pki = None;
        for part in &index.parts {
            let at = |e: Error| Error::new(e.class(), format!("{}: {}", part.name, e.message()));
            let (bytes, sha256) = next().map_err(at)?.into_parts();
            if bytes.len() as u64 > max {
                return Err(at(err!(
                    SizeLimit,
                    "{} bytes, the limit is {max}",
                    bytes.len()
                )));
            }
            if sha256 != part.sha256 {
                return Err(at(err!(
                    PartMismatch,
                    "its SHA-256 is {}, the part index names {}",
                    sha256,
                    part.sha256
                )));
            }
            let checked = check_file(
                &bytes,
                &self.limits,
                comments,
                Some(part.number),
                &mut keeper,
            )
            .map_err(at)?;
            let header = &checked.header;
            if let Some(first) = &first {
                same_snapshot(first, header).map_err(at)?;
            }
            match (part.number, &checked.pki) {
                (0, Some(_)) if checked.kept.is_empty() => {}
                (0, _) => {
                    return Err(at(err!(
                        PartMismatch,
                        "part 0 carries the CA material and nothing else; this one {}",
                        if checked.pki.is_none() {
                            "carries none"
                        } else {
                            "holds entries"
                        }
                    )))
                }
                (_, Some(_)) => {
                    return Err(at(err!(PartMismatch, "only part 0 may carry CA material")))
                }
                (_, None) => {}
            }
            counts.add(&header.counts);
            parts.push(VerifiedPart {
                number: part.number,
                name: part.name.clone(),
                sha256: part.sha256,
                bytes: bytes.len() as u64,
                counts: header.counts.clone(),
            });
            first.get_or_insert_with(|| header.clone());
            kept.resize(kept.len() + checked.kept.len(), ());
            drain(checked.kept);
            if let Some(objects) = checked.pki {
                pki = Some((bytes, objects));
            }
        }
        let mut header = first.ok_or_else(|| err!(PartIndex, "the part index names no part"))?;
        header.counts = counts;
        header.part = None;
        replay::check(&header, &self.digests.sha256, previous, &policy.replay, now)?;
        Ok(VerifiedParts {
            index: self.index,
            sha256: self.digests.sha256,
            header,
            signers,
            parts,
            kept,
            pki,
        })
    }
}

/// Every member but `counts` and `part` equal to the first part's.
fn same_snapshot(first: &BundleHeader, part: &BundleHeader) -> Result<()> {
    let common = |h: &BundleHeader| {
        (
            h.format.clone(),
            h.version,
            h.source.clone(),
            h.sequence,
            h.created,
            h.expires,
            h.previous_sha256,
            h.exporter.clone(),
            h.source_description.clone(),
        )
    };
    if common(first) == common(part) {
        Ok(())
    } else {
        Err(err!(
            PartMismatch,
            "its bundle.json describes another snapshot than the first part's (every member but counts and part must be equal)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_part_index_of_exactly_the_limit_passes_step_1_and_one_byte_more_does_not() {
        let limit = Limits::default().max_part_index_bytes as usize;
        assert!(UnverifiedParts::parse(vec![b'0'; limit], Vec::new(), &Limits::default()).is_ok());
        let e = UnverifiedParts::parse(vec![b'0'; limit + 1], Vec::new(), &Limits::default())
            .unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::SizeLimit, "{e}");
    }

    #[test]
    fn only_a_file_opening_with_a_hex_digest_and_two_spaces_is_read_as_a_part_index() {
        use crate::parts::is_part_index;
        let hex = "ab".repeat(32);
        assert!(is_part_index(format!("{hex}  x").as_bytes()));
        assert!(is_part_index(
            format!("{}  x", hex.to_uppercase()).as_bytes()
        ));
        assert!(!is_part_index(format!("{hex} *x").as_bytes()));
        assert!(!is_part_index(b"PK\x03\x04"));
        assert!(!is_part_index(format!("garbage{hex}  x").as_bytes()));
        assert!(!is_part_index(b""));
    }
}
