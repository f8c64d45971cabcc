//! Steps 4 to 7 of SPEC.md §8: member names, the tag manifest, the payload
//! manifest and its hashes, and the exact file set in canonical order.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::ids::Sha256;
use crate::layout;
use crate::zip_read::Member;
use crate::{err, Error, ErrorClass, Result};

/// Where the fixed members lie, found by [`check_layout`].
pub(super) struct Contents<'a> {
    pub(super) bag_info: &'a [u8],
    pub(super) bundle_json: &'a [u8],
    /// `data/entries.jsonl` (inflated, when deflated).
    pub(super) entries: &'a [u8],
    /// `data/review.csv` (inflated, when deflated), and its member's position.
    pub(super) review: &'a [u8],
    pub(super) review_member: usize,
    pub(super) values: u64,
    /// The manifest's SHA-256 of each value file, in order: checked against
    /// the bytes by the time `Contents` exists.
    pub(super) value_digests: Vec<Sha256>,
    /// The CA material, when the bundle carries it (revision 1.3).
    pub(super) pki: Option<PkiContents<'a>>,
}

/// Where the CA material lies (SPEC.md §6.7).
pub(super) struct PkiContents<'a> {
    /// `data/pki.jsonl`.
    pub(super) jsonl: &'a [u8],
    /// Each `data/pki/NNNNNNNN.bin`, in order.
    pub(super) files: Vec<Range<usize>>,
}

fn member_bytes<'a>(bytes: &'a [u8], m: &'a Member) -> &'a [u8] {
    // Ranges come from zip_read, which checked them against `bytes`.
    m.bytes(bytes)
}

/// Steps 4 to 7: names, tag manifest, manifest, exact file set and order.
pub(super) fn check_layout<'a>(bytes: &'a [u8], members: &'a [Member]) -> Result<Contents<'a>> {
    let mut seen = BTreeSet::new();
    for m in members {
        if !layout::is_allowed_name(&m.name) {
            return Err(err!(
                ZipName,
                "member name {:?} is not allowed in a bundle",
                m.name
            ));
        }
        if !seen.insert(m.name.as_str()) {
            return Err(err!(ZipName, "member name {:?} appears twice", m.name));
        }
    }
    let find = |name: &str| -> Result<&'a Member> {
        members
            .iter()
            .rev()
            .find(|m| m.name == name)
            .ok_or_else(|| err!(FileSet, "required file {name} is missing"))
    };
    // Step 5: bagit.txt and the tag manifest.
    let bagit = find(layout::BAGIT_TXT)?;
    if member_bytes(bytes, bagit) != layout::BAGIT_CONTENT.as_bytes() {
        return Err(err!(
            Bagit,
            "bagit.txt is not exactly the BagIt 1.0 declaration"
        ));
    }
    let tag_manifest = find(layout::TAG_MANIFEST)?;
    let tags = layout::parse_manifest(
        member_bytes(bytes, tag_manifest),
        layout::TAG_MANIFEST,
        ErrorClass::TagManifest,
    )?;
    let want_tags = [layout::BAGIT_TXT, layout::MANIFEST, layout::BAG_INFO_TXT];
    if tags.len() != want_tags.len() || tags.iter().zip(want_tags).any(|((_, p), w)| p != w) {
        return Err(err!(TagManifest, "tag manifest must list exactly bagit.txt, manifest-sha256.txt, bag-info.txt in that order"));
    }
    for (digest, path) in &tags {
        let m = find(path)?;
        if Sha256::digest(member_bytes(bytes, m)) != *digest {
            return Err(err!(
                TagManifest,
                "{path}: SHA-256 does not match the tag manifest"
            ));
        }
    }
    // Step 6: the payload manifest.
    let manifest = find(layout::MANIFEST)?;
    let lines = layout::parse_manifest(
        member_bytes(bytes, manifest),
        layout::MANIFEST,
        ErrorClass::Manifest,
    )?;
    // The manifest says how many value and CA material files there are and
    // whether the bundle carries CA material; it must then list exactly the
    // payload of such a bundle, in order.
    if lines.len() < 3 {
        return Err(err!(
            Manifest,
            "manifest lists fewer than the three fixed payload files"
        ));
    }
    let count = |dir: &str| {
        lines
            .iter()
            .filter(|(_, p)| layout::numbered_file(p, dir).is_some())
            .count() as u64
    };
    let values = count(layout::VALUES_DIR);
    let pki_files = count(layout::PKI_DIR);
    let carries_pki = lines.iter().any(|(_, p)| p == layout::PKI_JSONL);
    let pki = (carries_pki || pki_files > 0).then_some(pki_files);
    let expected: Vec<String> = layout::bundle_members(values, pki)
        .filter(|n| n.starts_with("data/"))
        .collect();
    for (i, ((_, path), want)) in lines.iter().zip(&expected).enumerate() {
        if path != want {
            return Err(err!(
                Manifest,
                "manifest line {}: expected {want}, found {path}",
                i + 1
            ));
        }
    }
    if lines.len() != expected.len() {
        return Err(err!(
            Manifest,
            "manifest lists {} payload files, a bundle with these files has {}",
            lines.len(),
            expected.len()
        ));
    }
    // Step 7: the exact file set, in canonical order.
    let names: Vec<String> = layout::bundle_members(values, pki).collect();
    if members.len() != names.len() {
        return Err(err!(
            FileSet,
            "the zip holds {} files, the manifests describe {}",
            members.len(),
            names.len()
        ));
    }
    for (i, (m, want)) in members.iter().zip(&names).enumerate() {
        if m.name != *want {
            return Err(err!(
                FileSet,
                "zip member {i} is {:?}, canonical order requires {want:?}",
                m.name
            ));
        }
    }
    // Manifest hashes, now that the positions are known (members[1..] are the
    // payload in manifest order), on all cores.
    let pairs: Vec<(&(Sha256, String), &Member)> =
        lines.iter().zip(&members[1..=lines.len()]).collect();
    let mismatch = parallel_first(&pairs, |((digest, path), m)| {
        (Sha256::digest(member_bytes(bytes, m)) != *digest)
            .then(|| err!(Manifest, "{path}: SHA-256 does not match the manifest"))
    });
    if let Some(e) = mismatch {
        return Err(e);
    }
    let at = |name: &str| find(name);
    Ok(Contents {
        bag_info: member_bytes(bytes, at(layout::BAG_INFO_TXT)?),
        bundle_json: member_bytes(bytes, at(layout::BUNDLE_JSON)?),
        entries: member_bytes(bytes, at(layout::ENTRIES_JSONL)?),
        review: member_bytes(bytes, at(layout::REVIEW_CSV)?),
        review_member: members
            .iter()
            .position(|m| m.name == layout::REVIEW_CSV)
            .ok_or_else(|| err!(FileSet, "required file {} is missing", layout::REVIEW_CSV))?,
        values,
        value_digests: lines
            .iter()
            .take(usize::try_from(values).unwrap_or(usize::MAX))
            .map(|(digest, _)| *digest)
            .collect(),
        pki: match pki {
            Some(_) => Some(PkiContents {
                jsonl: member_bytes(bytes, at(layout::PKI_JSONL)?),
                files: members
                    .iter()
                    .filter(|m| layout::numbered_file(&m.name, layout::PKI_DIR).is_some())
                    .map(|m| m.data.clone())
                    .collect(),
            }),
            None => None,
        },
    })
}

/// Runs `check` over `items` on all cores; returns the first failure in item order.
pub(super) fn parallel_first<T: Sync>(
    items: &[T],
    check: impl Fn(&T) -> Option<Error> + Sync,
) -> Option<Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    let check = &check;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().find_map(check)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Some(err!(Manifest, "hashing thread failed")))
            })
            .find(Option::is_some)
            .flatten()
    })
}
