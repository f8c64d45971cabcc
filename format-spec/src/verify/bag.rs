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
    pub(super) entries: Range<usize>,
    pub(super) review_range: Range<usize>,
    pub(super) values: u64,
    /// The manifest's SHA-256 of each value file, in order: checked against
    /// the bytes by the time `Contents` exists.
    pub(super) value_digests: Vec<Sha256>,
}

fn member_bytes<'a>(bytes: &'a [u8], m: &Member) -> &'a [u8] {
    // Ranges come from zip_read, which checked them against `bytes`.
    &bytes[m.data.clone()]
}

/// Steps 4 to 7: names, tag manifest, manifest, exact file set and order.
pub(super) fn check_layout<'a>(bytes: &'a [u8], members: &[Member]) -> Result<Contents<'a>> {
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
    let find = |name: &str| -> Result<&Member> {
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
    let values = lines.len().checked_sub(3).ok_or_else(|| {
        err!(
            Manifest,
            "manifest lists fewer than the three fixed payload files"
        )
    })? as u64;
    let expected: Vec<String> = layout::member_names(values)
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
    // Step 7: the exact file set, in canonical order.
    let names: Vec<String> = layout::member_names(values).collect();
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
        lines.iter().zip(payload_members(members, values)).collect();
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
        entries: at(layout::ENTRIES_JSONL)?.data.clone(),
        review_range: at(layout::REVIEW_CSV)?.data.clone(),
        values,
        value_digests: lines
            .iter()
            .take(usize::try_from(values).unwrap_or(usize::MAX))
            .map(|(digest, _)| *digest)
            .collect(),
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

/// The payload members in manifest order: values, entries.jsonl, review.csv, bundle.json.
fn payload_members(members: &[Member], values: u64) -> impl Iterator<Item = &Member> {
    let n = usize::try_from(values).unwrap_or(usize::MAX);
    members.iter().skip(1).take(n.saturating_add(3))
}
