//! Verification (SPEC.md §8): `UnverifiedBundle::parse` → `verify` →
//! [`VerifiedBundle`], the only way to a bundle's entries.
//!
//! The file is read into memory once; the signatures are checked over those
//! bytes, and those same bytes are parsed, so media that changes between two
//! reads cannot fool the verifier.
//!
//! Each file holds the steps its name says: `signatures` (2, 3), `bag`
//! (4 to 7), `header` (8.1 and canonical JSON), `contents` (8.2 to 8.5 over
//! the whole bundle), `entry` (8.2 to 8.4 for one entry), and `verified`,
//! the result. Every entry is parsed and every value decoded once, here; the
//! caller's keeper is handed that parse (on all cores) and keeps what it
//! needs, so nothing downstream parses again and memory holds only what is kept.

mod bag;
mod contents;
mod entry;
mod header;
mod parts;
mod pki;
mod signatures;
mod verified;

pub use parts::{parts_in, PartReader, UnverifiedParts, VerifiedPart, VerifiedParts};
pub use verified::{
    KeptEntry, ParsedEntry, VerifiedBundle, VerifiedEntry, VerifiedPki, VerifiedValue,
};

use std::collections::BTreeMap;

use crate::digests::{BundleDigests, HashedBytes};
use crate::ids::{Role, Sha256};
use crate::keys::{KeyId, PublicKey};
use crate::limits::Limits;
use crate::model::BundleHeader;
use crate::replay::{self, ReplayRules, SourceState};
use crate::signature::SignatureFile;
use crate::timestamp::Timestamp;
use crate::zip_read;
use crate::{err, Error, Result};

/// A public key the verifier trusts, with the signer's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The signer's name, for reports.
    pub name: String,
    /// The role this key signs in.
    pub role: Role,
    /// The minisign public key.
    pub key: PublicKey,
}

/// What a bundle needs to be accepted (SPEC.md §7.4, §8.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    /// The trusted keys. A key listed twice is still one key.
    pub keys: Vec<TrustedKey>,
    /// For each role, how many distinct keys of that role must have signed.
    pub required: BTreeMap<Role, usize>,
    /// Freshness and ordering rules.
    pub replay: ReplayRules,
}

/// A signature that verified and counted towards the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSigner {
    /// The signer's name from the policy.
    pub name: String,
    /// The role the signature was made in.
    pub role: Role,
    /// The key id.
    pub key_id: KeyId,
    /// The label (usually file name) of the signature file.
    pub file: String,
}

/// A bundle file and its signature files, checked for size and syntax only.
#[derive(Debug)]
pub struct UnverifiedBundle {
    bytes: Vec<u8>,
    digests: BundleDigests,
    signatures: Vec<(String, SignatureFile)>,
    limits: Limits,
}

impl UnverifiedBundle {
    /// Step 1 (size limits) and the syntax of each signature file. `signatures`
    /// pairs a label (the file name, for messages) with the file's bytes.
    ///
    /// `bytes` is the bundle file: a `Vec<u8>` (hashed here), or
    /// [`HashedBytes`] read from a file and hashed in the same pass.
    pub fn parse(
        bytes: impl Into<HashedBytes>,
        signatures: Vec<(String, Vec<u8>)>,
        limits: &Limits,
    ) -> Result<Self> {
        let (bytes, digests) = bytes.into().into_parts();
        // SPEC.md §9: the limits are maxima; a caller may only lower them.
        let limits = &limits.at_most_spec();
        let max = limits.max_bundle_bytes.min(Limits::HARD_MAX_BUNDLE_BYTES);
        if bytes.len() as u64 > max {
            return Err(err!(
                SizeLimit,
                "bundle is {} bytes, the limit is {max}",
                bytes.len()
            ));
        }
        let parsed = parse_signature_files(signatures, limits)?;
        Ok(Self {
            bytes,
            digests,
            signatures: parsed,
            limits: limits.clone(),
        })
    }

    /// The signature files as step 1 parsed them, each with its label.
    pub fn signatures(&self) -> &[(String, SignatureFile)] {
        &self.signatures
    }

    /// SHA-256 of the bundle file (computed while it was read).
    pub fn sha256(&self) -> Sha256 {
        self.digests.sha256
    }

    /// Steps 2 to 9 of SPEC.md §8, keeping every entry whole
    /// ([`KeptEntry`]). `previous` is the caller's state for this bundle's
    /// source (`None` if nothing was imported from it yet).
    pub fn verify(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
    ) -> Result<VerifiedBundle> {
        self.verify_keeping(policy, now, previous, KeptEntry::keep)
    }

    /// Steps 2 to 9 of SPEC.md §8. Each entry, once its values matched their
    /// descriptions, is handed to `keep` with its decoded values; the bundle
    /// keeps what `keep` returns, in entry order, and releases it only if
    /// every step passes.
    pub fn verify_keeping<T: Send>(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
        keep: impl Fn(ParsedEntry<'_>) -> T + Sync,
    ) -> Result<VerifiedBundle<T>> {
        self.verify_keeping_with(policy, now, previous, |_, _| keep)
    }

    /// [`UnverifiedBundle::verify_keeping`] with a keeper made from the
    /// bundle's header and CA material (SPEC.md §6.7): `make_keeper` is handed
    /// the header and the CA objects whose bytes matched their descriptions
    /// (`None` when the bundle carries no CA material),
    /// before the entries are checked, so that a keeper can use the bundle's
    /// intermediates and CRLs and its creation time.
    /// As with entries, nothing it keeps is released unless every step passes.
    pub fn verify_keeping_with<T: Send, K: Fn(ParsedEntry<'_>) -> T + Sync>(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
        make_keeper: impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
    ) -> Result<VerifiedBundle<T>> {
        let digests = self.digests;
        signatures::check_policy(policy)?;
        let (signers, comments) = signatures::check_signatures(&self.signatures, policy, &digests)?;
        let mut keeper = KeeperSlot::new(make_keeper);
        let checked = check_file(&self.bytes, &self.limits, &comments, None, &mut keeper)?;
        replay::check(
            &checked.header,
            &digests.sha256,
            previous,
            &policy.replay,
            now,
        )?;
        Ok(VerifiedBundle::new(
            self.bytes,
            digests.sha256,
            checked.header,
            signers,
            checked.kept,
            checked.review,
            checked.pki,
        ))
    }
}

/// Step 1 for the signature files: their count and sizes, and each one's
/// syntax, whatever key made it.
fn parse_signature_files(
    signatures: Vec<(String, Vec<u8>)>,
    limits: &Limits,
) -> Result<Vec<(String, SignatureFile)>> {
    if signatures.len() > limits.max_signatures {
        return Err(err!(
            SizeLimit,
            "{} signature files, the limit is {}",
            signatures.len(),
            limits.max_signatures
        ));
    }
    let mut parsed = Vec::with_capacity(signatures.len());
    for (label, sig) in signatures {
        if sig.len() > limits.max_signature_bytes {
            return Err(err!(
                SizeLimit,
                "{label}: {} bytes, the limit is {}",
                sig.len(),
                limits.max_signature_bytes
            ));
        }
        let s = SignatureFile::parse(&sig)
            .map_err(|e| Error::new(e.class(), format!("{label}: {}", e.message())))?;
        parsed.push((label, s));
    }
    Ok(parsed)
}

/// The caller's keeper, made from the first header and CA material it is
/// needed for: a bundle's own, or a snapshot's first part's.
struct KeeperSlot<K, F> {
    make: Option<F>,
    keep: Option<K>,
}

impl<K, F: FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K> KeeperSlot<K, F> {
    fn new(make: F) -> Self {
        Self {
            make: Some(make),
            keep: None,
        }
    }

    fn get(&mut self, header: &BundleHeader, pki: Option<&[VerifiedPki<'_>]>) -> Result<&K> {
        if self.keep.is_none() {
            let make = self
                .make
                .take()
                .ok_or_else(|| err!(Content, "the keeper was not made"))?;
            self.keep = Some(make(header, pki));
        }
        self.keep
            .as_ref()
            .ok_or_else(|| err!(Content, "the keeper was not made"))
    }
}

/// What steps 4 to 8 found in one file.
struct FileChecked<T> {
    header: BundleHeader,
    kept: Vec<T>,
    review: verified::ReviewText,
    pki: Option<Vec<pki::StoredPki>>,
}

/// Steps 4 to 8 of SPEC.md §8 for one file whose signatures (or whose part
/// index's signatures) were checked: `comments` are the verified trusted
/// comments. `part` is `None` for a whole snapshot (the header must hold no
/// `part`) and the expected part number for a part of a snapshot in parts.
fn check_file<T: Send, K, F>(
    bytes: &[u8],
    limits: &Limits,
    comments: &signatures::CommentList,
    part: Option<u32>,
    keeper: &mut KeeperSlot<K, F>,
) -> Result<FileChecked<T>>
where
    K: Fn(ParsedEntry<'_>) -> T + Sync,
    F: FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
{
    let mut members = zip_read::read_members(bytes, limits.max_inflated_bytes)?;
    let contents = bag::check_layout(bytes, &members)?;
    // Step 8.1: bundle.json's size, then its content.
    if contents.bundle_json.len() as u64 > limits.max_header_bytes {
        return Err(err!(
            SizeLimit,
            "bundle.json is {} bytes, the limit is {}",
            contents.bundle_json.len(),
            limits.max_header_bytes
        ));
    }
    let header = header::parse_header(contents.bundle_json)?;
    match (part, header.part) {
        (None, None) => {}
        (None, Some(n)) => {
            return Err(err!(
                Content,
                "bundle.json: this file is part {n} of a snapshot in parts, not a whole snapshot: verify its part index (SPEC.md §4.6)"
            ))
        }
        (Some(want), got) if got != Some(want) => {
            return Err(err!(
                PartMismatch,
                "the part index lists this file as part {want}, its bundle.json says {}",
                got.map_or_else(|| "it is no part".to_owned(), |n| format!("part {n}"))
            ))
        }
        (Some(_), _) => {}
    }
    for (label, c) in comments {
        if c.source != header.source || c.sequence != header.sequence {
            return Err(err!(
                TrustedCommentMismatch,
                "{label}: signed for source {} sequence {}, but the bundle is source {} sequence {}",
                c.source,
                c.sequence,
                header.source,
                header.sequence
            ));
        }
    }
    // Step 8.6 is checked first, so that the keeper can use the CA
    // material, and its failure reported after 8.2 to 8.5's, in SPEC order.
    let pki = contents
        .pki
        .as_ref()
        .map(|p| pki::check_pki(bytes, p, limits));
    let keep = {
        let views: Option<Vec<VerifiedPki<'_>>> = match &pki {
            Some(Ok(objects)) => Some(objects.iter().map(|o| o.view(bytes)).collect()),
            _ => None,
        };
        keeper.get(&header, views.as_deref())?
    };
    let kept = contents::check_contents(bytes, &members, &contents, &header, limits, keep)?;
    let pki = pki.transpose()?;
    let review_member = contents.review_member;
    drop(contents);
    let review = members.swap_remove(review_member);
    let review = match review.inflated {
        Some(text) => verified::ReviewText::Inflated(text),
        None => verified::ReviewText::InFile(review.data),
    };
    Ok(FileChecked {
        header,
        kept,
        review,
        pki,
    })
}
