//! Verification (SPEC.md §8): `UnverifiedBundle::parse` → `verify` →
//! [`VerifiedBundle`], the only way to a bundle's entries.
//!
//! The file is read into memory once; the signatures are checked over those
//! bytes, and those same bytes are parsed, so media that changes between two
//! reads cannot fool the verifier.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::canonical_json::CanonicalJson;
use crate::cert;
use crate::digests::{BundleDigests, HashedBytes};
use crate::ids::{Role, Sha256};
use crate::keys::{KeyId, PublicKey};
use crate::layout;
use crate::limits::Limits;
use crate::model::{self, BundleHeader, Counts, Entry, FORMAT_NAME, FORMAT_VERSION};
use crate::replay::{self, ReplayRules, SourceState};
use crate::review_csv;
use crate::signature::SignatureFile;
use crate::timestamp::Timestamp;
use crate::trusted_comment::TrustedComment;
use crate::zip_read::{self, Member};
use crate::{err, Error, ErrorClass, Result};

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
        let max = limits.max_bundle_bytes.min(Limits::HARD_MAX_BUNDLE_BYTES);
        if bytes.len() as u64 > max {
            return Err(err!(
                SizeLimit,
                "bundle is {} bytes, the limit is {max}",
                bytes.len()
            ));
        }
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
        Ok(Self {
            bytes,
            digests,
            signatures: parsed,
            limits: limits.clone(),
        })
    }

    /// Steps 2 to 9 of SPEC.md §8. `previous` is the caller's state for this
    /// bundle's source (`None` if nothing was imported from it yet).
    pub fn verify(
        self,
        policy: &TrustPolicy,
        now: Timestamp,
        previous: Option<&SourceState>,
    ) -> Result<VerifiedBundle> {
        let digests = self.digests;
        let (signers, comments) = check_signatures(&self.signatures, policy, &digests)?;
        let members = zip_read::read_members(&self.bytes)?;
        let contents = check_layout(&self.bytes, &members)?;
        let header = parse_header(contents.bundle_json)?;
        for (label, c) in &comments {
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
        let body = check_contents(&self.bytes, &members, &contents, &header, &self.limits)?;
        replay::check(&header, &digests.sha256, previous, &policy.replay, now)?;
        Ok(VerifiedBundle {
            sha256: digests.sha256,
            header,
            signers,
            entry_lines: body.entry_lines,
            value_ranges: body.value_ranges,
            review: contents.review_range,
            bytes: self.bytes,
        })
    }
}

type CommentList = Vec<(String, TrustedComment)>;

/// Steps 2 and 3: signatures over the raw bytes, trusted comments, threshold.
fn check_signatures(
    sigs: &[(String, SignatureFile)],
    policy: &TrustPolicy,
    digests: &BundleDigests,
) -> Result<(Vec<VerifiedSigner>, CommentList)> {
    let mut signers: Vec<VerifiedSigner> = Vec::new();
    let mut comments = Vec::new();
    let mut counted: BTreeMap<Role, BTreeSet<[u8; 32]>> = BTreeMap::new();
    for (label, sig) in sigs {
        // A key id can be listed under several names; any of them verifying is enough,
        // and a key counts once whatever the number of files or policy rows.
        let candidates: Vec<&TrustedKey> = policy
            .keys
            .iter()
            .filter(|k| k.key.key_id() == sig.key_id())
            .collect();
        let Some(first) = candidates.first() else {
            continue; // Unknown key: it neither counts nor fails the bundle.
        };
        sig.verify(&first.key, &digests.blake2b)
            .map_err(|e| Error::new(e.class(), format!("{label}: {}", e.message())))?;
        let comment = TrustedComment::parse(sig.trusted_comment())
            .map_err(|e| Error::new(e.class(), format!("{label}: {}", e.message())))?;
        if comment.sha256 != digests.sha256 {
            return Err(err!(
                TrustedCommentMismatch,
                "{label}: signed for a file with SHA-256 {}, this file has {}",
                comment.sha256,
                digests.sha256
            ));
        }
        if comment.role != first.role {
            return Err(err!(
                TrustedCommentMismatch,
                "{label}: signed as {} but key {} ({}) is trusted as {}",
                comment.role,
                sig.key_id(),
                first.name,
                first.role
            ));
        }
        if counted
            .entry(comment.role)
            .or_default()
            .insert(*first.key.as_bytes())
        {
            signers.push(VerifiedSigner {
                name: first.name.clone(),
                role: comment.role,
                key_id: sig.key_id(),
                file: label.clone(),
            });
        }
        comments.push((label.clone(), comment));
    }
    for (role, need) in &policy.required {
        let have = counted.get(role).map_or(0, BTreeSet::len);
        if have < *need {
            return Err(err!(
                ThresholdNotMet,
                "{need} distinct {role} signature(s) required, {have} valid from trusted keys"
            ));
        }
    }
    Ok((signers, comments))
}

/// Where the fixed members lie, found by [`check_layout`].
struct Contents<'a> {
    bag_info: &'a [u8],
    bundle_json: &'a [u8],
    entries: Range<usize>,
    review_range: Range<usize>,
    values: u64,
    /// The manifest's SHA-256 of each value file, in order: checked against
    /// the bytes by the time `Contents` exists.
    value_digests: Vec<Sha256>,
}

fn member_bytes<'a>(bytes: &'a [u8], m: &Member) -> &'a [u8] {
    // Ranges come from zip_read, which checked them against `bytes`.
    &bytes[m.data.clone()]
}

/// Steps 4 to 7: names, tag manifest, manifest, exact file set and order.
fn check_layout<'a>(bytes: &'a [u8], members: &[Member]) -> Result<Contents<'a>> {
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
fn parallel_first<T: Sync>(
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

/// Parses canonical JSON: the bytes must equal the re-serialisation of the value plus LF.
/// `what` names the text in messages.
fn parse_canonical<T: serde::de::DeserializeOwned + CanonicalJson>(
    line: &[u8],
    what: impl Fn() -> String,
) -> Result<T> {
    let value: T = serde_json::from_slice(line).map_err(|e| err!(Content, "{}: {e}", what()))?;
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    // Re-serialise into this thread's scratch buffer and compare once.
    let canonical = CANONICAL.with_borrow_mut(|buf| {
        buf.clear();
        value.write_json(buf);
        buf.as_slice() == body
    });
    if !canonical || body.len() == line.len() {
        return Err(err!(
            Content,
            "{} is not in canonical form (SPEC.md §5.2)",
            what()
        ));
    }
    Ok(value)
}

thread_local! {
    /// Scratch space for [`parse_canonical`]'s re-serialisation.
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn parse_header(bytes: &[u8]) -> Result<BundleHeader> {
    // Look at the version first so that a future version is named as such.
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| err!(Content, "bundle.json: {e}"))?;
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(err!(Content, "bundle.json: format is not {FORMAT_NAME:?}"));
    }
    match probe.version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(err!(
                UnsupportedVersion,
                "bundle format version {v}; this verifier knows only {FORMAT_VERSION}"
            ))
        }
        None => {
            return Err(err!(
                Content,
                "bundle.json: version is missing or not a number"
            ))
        }
    }
    let header: BundleHeader = parse_canonical(bytes, || "bundle.json".to_owned())?;
    layout::check_software_token(&header.exporter.name, "exporter name")?;
    layout::check_software_token(&header.exporter.version, "exporter version")?;
    check_text(&header.source_description, || {
        "bundle.json source_description".to_owned()
    })?;
    if header.sequence == 0 || header.sequence > i64::MAX as u64 {
        return Err(err!(
            Content,
            "bundle.json: sequence {} is out of range",
            header.sequence
        ));
    }
    if header.expires <= header.created {
        return Err(err!(Content, "bundle.json: expires is not after created"));
    }
    Ok(header)
}

/// Text fields hold no control characters (C0, DEL, C1): a display name must
/// not be able to move a reviewer's cursor or hide a line.
fn check_text(s: &str, what: impl FnOnce() -> String) -> Result<()> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(err!(
            Content,
            "{} contains control character U+{:04X}",
            what(),
            u32::from(c)
        )),
        None => Ok(()),
    }
}

struct Body {
    entry_lines: Vec<Range<usize>>,
    value_ranges: Vec<Range<usize>>,
}

/// Step 8: every entry parsed and checked against its value bytes, the counts,
/// the review table and bag-info.txt.
fn check_contents(
    bytes: &[u8],
    members: &[Member],
    contents: &Contents<'_>,
    header: &BundleHeader,
    limits: &Limits,
) -> Result<Body> {
    let value_ranges: Vec<Range<usize>> = members
        .iter()
        .skip(1)
        .take(usize::try_from(contents.values).unwrap_or(usize::MAX))
        .map(|m| m.data.clone())
        .collect();
    for (i, r) in value_ranges.iter().enumerate() {
        if r.len() as u64 > limits.max_value_bytes {
            return Err(err!(
                SizeLimit,
                "{}: {} bytes, the limit is {}",
                layout::value_file_name(i as u64 + 1),
                r.len(),
                limits.max_value_bytes
            ));
        }
    }
    // Split entries.jsonl into lines (absolute ranges).
    let text = &bytes[contents.entries.clone()];
    let mut entry_lines = Vec::new();
    let mut start = 0usize;
    while start < text.len() {
        let Some(len) = text[start..].iter().position(|&b| b == b'\n') else {
            return Err(err!(
                Content,
                "entries.jsonl: line {} does not end with LF",
                entry_lines.len() + 1
            ));
        };
        if len as u64 > limits.max_entry_line_bytes {
            return Err(err!(
                SizeLimit,
                "entries.jsonl line {}: {len} bytes, the limit is {}",
                entry_lines.len() + 1,
                limits.max_entry_line_bytes
            ));
        }
        let abs = contents.entries.start + start;
        entry_lines.push(abs..abs + len + 1);
        start += len + 1;
        if entry_lines.len() as u64 > limits.max_entries {
            return Err(err!(SizeLimit, "more than {} entries", limits.max_entries));
        }
    }
    // Which values each entry owns, in order: entry i owns value_start[i]..value_start[i+1].
    let review = &bytes[contents.review_range.clone()];
    let (per_entry, spans) = parse_entries_parallel(
        bytes,
        &entry_lines,
        &value_ranges,
        &contents.value_digests,
        review,
        limits,
    )?;
    let mut counts = Counts {
        entries: entry_lines.len() as u64,
        ..Counts::default()
    };
    let mut next_value = 0u64;
    for (i, (entry_counts, files)) in per_entry.iter().enumerate() {
        for f in files {
            next_value += 1;
            if *f != next_value {
                return Err(err!(
                    FileSet,
                    "entry {}: value file {} is out of order, expected {}",
                    i + 1,
                    layout::value_file_name(*f),
                    layout::value_file_name(next_value)
                ));
            }
        }
        counts.values += entry_counts.values;
        counts.certificates += entry_counts.certificates;
        counts.encryption += entry_counts.encryption;
        counts.signing_only += entry_counts.signing_only;
        counts.unusable += entry_counts.unusable;
        counts.unparseable_values += entry_counts.unparseable_values;
    }
    if next_value != contents.values {
        return Err(err!(
            FileSet,
            "entries reference {next_value} value files, the bundle holds {}",
            contents.values
        ));
    }
    if counts != header.counts {
        return Err(err!(
            Content,
            "bundle.json counts {:?} differ from the entries {:?}",
            header.counts,
            counts
        ));
    }
    // review.csv: the workers compared their rows with it; here the pieces
    // must tile it exactly, after the header.
    let review = &bytes[contents.review_range.clone()];
    let mut header_line = Vec::new();
    review_csv::header_line(&mut header_line);
    let mut pos = header_line.len();
    let tiles = review.starts_with(&header_line)
        && spans.iter().flatten().all(|&(start, end)| {
            let ok = start == pos;
            pos = end;
            ok
        })
        && pos == review.len();
    if !tiles {
        return Err(err!(
            Content,
            "review.csv differs from the table the entries give (SPEC.md §6.5)"
        ));
    }
    let payload_bytes = value_ranges.iter().map(|r| r.len() as u64).sum::<u64>()
        + contents.entries.len() as u64
        + contents.review_range.len() as u64
        + contents.bundle_json.len() as u64;
    let want_bag_info = layout::bag_info(header, payload_bytes, contents.values + 3);
    if contents.bag_info != want_bag_info.as_bytes() {
        return Err(err!(
            Bagit,
            "bag-info.txt differs from what bundle.json and the payload give (SPEC.md §4.4)"
        ));
    }
    Ok(Body {
        entry_lines,
        value_ranges,
    })
}

type EntryCheck = (Counts, Vec<u64>);

/// Where one worker's review rows lie in `review.csv`: `None` if its entries
/// have no rows (entries without values).
type Span = Option<(usize, usize)>;

/// Parses and checks every entry line on all cores. Each worker also renders
/// its entries' review rows and compares them with `review.csv` where they
/// must lie: a row of entry N starts a line with `N,` (no field holds a line
/// break: control characters are refused in every text field), and the
/// caller checks that the workers' spans tile the file after its header.
fn parse_entries_parallel(
    bytes: &[u8],
    lines: &[Range<usize>],
    values: &[Range<usize>],
    digests: &[Sha256],
    review: &[u8],
    limits: &Limits,
) -> Result<(Vec<EntryCheck>, Vec<Span>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = lines.len().div_ceil(threads).max(1);
    let results: Vec<Result<(Vec<EntryCheck>, Span)>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    check_chunk(bytes, part, c * chunk, values, digests, review, limits)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(err!(Content, "entry checker thread failed")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(lines.len());
    let mut spans = Vec::new();
    for r in results {
        let (checks, span) = r?;
        out.extend(checks);
        spans.push(span);
    }
    Ok((out, spans))
}

/// One worker: the entries `first + 1 ..` of `part`.
fn check_chunk(
    bytes: &[u8],
    part: &[Range<usize>],
    first: usize,
    values: &[Range<usize>],
    digests: &[Sha256],
    review: &[u8],
    limits: &Limits,
) -> Result<(Vec<EntryCheck>, Span)> {
    let differs = || {
        err!(
            Content,
            "review.csv differs from the table the entries give (SPEC.md §6.5)"
        )
    };
    let mut out = Vec::with_capacity(part.len());
    let mut span: Span = None;
    let mut rows = Vec::new();
    for (j, line) in part.iter().enumerate() {
        let n = first + j + 1;
        rows.clear();
        out.push(check_entry(
            bytes,
            line.clone(),
            n,
            values,
            digests,
            limits,
            &mut rows,
        )?);
        if rows.is_empty() {
            continue;
        }
        let start = match span {
            Some((_, end)) => end,
            None => {
                let needle = format!("\n{n},");
                memchr::memmem::find(review, needle.as_bytes()).ok_or_else(differs)? + 1
            }
        };
        let end = start + rows.len();
        if review.get(start..end) != Some(rows.as_slice()) {
            return Err(differs());
        }
        span = Some((span.map_or(start, |(s, _)| s), end));
    }
    Ok((out, span))
}

fn check_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

fn check_sid(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("S")
        && parts.next() == Some("1")
        && s.split('-').count() >= 3
        && s.split('-').skip(2).all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        })
}

/// Checks one entry line: canonical JSON, field grammar, and every value's
/// recorded description against the value bytes.
fn check_entry(
    bytes: &[u8],
    line: Range<usize>,
    n: usize,
    values: &[Range<usize>],
    digests: &[Sha256],
    limits: &Limits,
    rows: &mut Vec<u8>,
) -> Result<EntryCheck> {
    let entry: Entry = parse_canonical(&bytes[line], || format!("entries.jsonl line {n}"))?;
    // Messages name the line and the object; built only when one is needed.
    let who = || format!("entries.jsonl line {n} ({})", entry.label());
    for (f, name) in [
        (entry.upn.as_deref(), "upn"),
        (entry.sam_account_name.as_deref(), "sam_account_name"),
        (entry.mail.as_deref(), "mail"),
        (entry.display_name.as_deref(), "display_name"),
        (Some(entry.dn.as_str()), "dn"),
    ] {
        if let Some(f) = f {
            check_text(f, || format!("{} {name}", who()))?;
        }
    }
    for p in &entry.proxy_addresses {
        check_text(p, || format!("{} proxy address", who()))?;
    }
    if entry.dn.is_empty() {
        return Err(err!(Content, "{}: dn is empty", who()));
    }
    if let Some(g) = &entry.object_guid {
        if !check_guid(g) {
            return Err(err!(
                Content,
                "{}: object_guid {g:?} is not a lowercase GUID string",
                who()
            ));
        }
    }
    if let Some(s) = &entry.object_sid {
        if !check_sid(s) {
            return Err(err!(
                Content,
                "{}: object_sid {s:?} is not an S-1-... string",
                who()
            ));
        }
    }
    if entry.values.len() > limits.max_values_per_entry {
        return Err(err!(
            SizeLimit,
            "{}: {} values, the limit is {}",
            who(),
            entry.values.len(),
            limits.max_values_per_entry
        ));
    }
    let mut counts = Counts::default();
    let mut files = Vec::with_capacity(entry.values.len());
    for (position, v) in entry.values.iter().enumerate() {
        if let Some(w) = &v.withheld {
            // A withheld value (SPEC.md §6.2): no file, no certificates; its
            // length and hash are the exporter's word (there are no bytes to check).
            if v.container != model::WITHHELD_PRIVATE_KEY
                || v.file.is_some()
                || !v.certificates.is_empty()
            {
                return Err(err!(
                    Content,
                    "{}: value {} is withheld, so it must have container {}, file null and no certificates",
                    who(),
                    position + 1,
                    model::WITHHELD_PRIVATE_KEY
                ));
            }
            if w.length == 0 {
                return Err(err!(
                    Content,
                    "{}: withheld value {} has length 0",
                    who(),
                    position + 1
                ));
            }
            counts.values += 1;
            continue;
        }
        if v.container == model::WITHHELD_PRIVATE_KEY {
            return Err(err!(
                Content,
                "{}: value {} has container {} but no withheld record",
                who(),
                position + 1,
                model::WITHHELD_PRIVATE_KEY
            ));
        }
        let file = v.file.as_deref().ok_or_else(|| {
            err!(
                Content,
                "{}: value {} names no value file",
                who(),
                position + 1
            )
        })?;
        let num = file
            .strip_prefix(layout::VALUES_DIR)
            .and_then(|r| r.strip_suffix(".bin"))
            .filter(|_| layout::is_allowed_name(file))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| {
                err!(
                    Content,
                    "{}: value file {file:?} is not a value file name",
                    who()
                )
            })?;
        let (raw, digest) = usize::try_from(num - 1)
            .ok()
            .and_then(|i| Some((values.get(i)?, *digests.get(i)?)))
            .map(|(r, d)| (&bytes[r.clone()], d))
            .ok_or_else(|| err!(FileSet, "{}: value file {file} does not exist", who()))?;
        files.push(num);
        if let Some(what) = cert::find_private_key_material(raw) {
            return Err(err!(
                PrivateKey,
                "{}: {file} holds private key material ({what})",
                who()
            ));
        }
        let decoded = cert::decode_value_hashed(raw, digest);
        if v.container != decoded.container.as_str() {
            return Err(err!(
                Content,
                "{}: {} is recorded as {} but decodes as {}",
                who(),
                file,
                v.container,
                decoded.container.as_str()
            ));
        }
        if v.certificates.len() != decoded.certificates.len() {
            return Err(err!(
                Content,
                "{}: {} records {} certificates, the value holds {}",
                who(),
                file,
                v.certificates.len(),
                decoded.certificates.len()
            ));
        }
        counts.values += 1;
        if decoded.container == cert::Container::Unparseable {
            counts.unparseable_values += 1;
        }
        for (rec, info) in v.certificates.iter().zip(&decoded.certificates) {
            for name in &rec.rfc822_names {
                check_text(name, || {
                    format!("{}: {} certificate rfc822Name", who(), file)
                })?;
            }
            if !rec.describes(info) {
                return Err(err!(
                    Content,
                    "{}: {} certificate {}: recorded description differs from the certificate",
                    who(),
                    file,
                    rec.sha256
                ));
            }
            check_classification(&rec.class, &rec.reasons).map_err(|m| {
                err!(
                    Content,
                    "{}: {} certificate {}: {m}",
                    who(),
                    file,
                    rec.sha256
                )
            })?;
            counts.certificates += 1;
            match rec.class.as_str() {
                "encryption" => counts.encryption += 1,
                "signing-only" => counts.signing_only += 1,
                _ => counts.unusable += 1,
            }
        }
    }
    review_csv::entry_rows(rows, n as u64, &entry);
    Ok((counts, files))
}

/// The exporter's class and reasons must use the v1 vocabulary, reasons sorted
/// and unique, and `unusable` exactly when there is a reason.
fn check_classification(class: &str, reasons: &[String]) -> std::result::Result<(), String> {
    let class = class
        .parse::<cert::CertClass>()
        .map_err(|_| format!("unknown class {class:?}"))?;
    let mut parsed = Vec::with_capacity(reasons.len());
    for r in reasons {
        parsed.push(
            r.parse::<cert::Reason>()
                .map_err(|_| format!("unknown reason {r:?}"))?,
        );
    }
    if parsed.windows(2).any(|w| w[0] >= w[1]) {
        return Err("reasons are not sorted and unique".into());
    }
    if (class == cert::CertClass::Unusable) == parsed.is_empty() {
        return Err("class must be unusable exactly when reasons are given".into());
    }
    Ok(())
}

/// A bundle whose signatures, structure, hashes, contents and replay rules
/// all checked out. It has no public constructor.
#[derive(Debug)]
pub struct VerifiedBundle {
    bytes: Vec<u8>,
    sha256: Sha256,
    header: BundleHeader,
    signers: Vec<VerifiedSigner>,
    entry_lines: Vec<Range<usize>>,
    value_ranges: Vec<Range<usize>>,
    review: Range<usize>,
}

/// One verified entry and the raw bytes of its values.
#[derive(Debug, Clone)]
pub struct VerifiedEntry<'a> {
    /// The entry as recorded.
    pub entry: Entry,
    /// `values[i]` holds the bytes of `entry.values[i]` (empty for a withheld value).
    pub values: Vec<&'a [u8]>,
}

impl VerifiedBundle {
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
        self.entry_lines.len()
    }

    /// The entries in bundle order, each with its value bytes. Entries are
    /// parsed again from the verified bytes on demand, which keeps memory at
    /// about the size of the file.
    pub fn entries(&self) -> impl Iterator<Item = VerifiedEntry<'_>> + '_ {
        self.entry_lines.iter().filter_map(move |line| {
            // verify() parsed and checked this exact line, and every value file
            // it names, from these same immutable bytes: neither step can fail now.
            let entry: Entry = serde_json::from_slice(&self.bytes[line.clone()]).ok()?;
            let values = entry
                .values
                .iter()
                .map(|v| {
                    // A withheld value has no bytes in the bundle.
                    let Some(file) = &v.file else {
                        return Some(&[][..]);
                    };
                    let n: usize = file.get(12..20)?.parse().ok()?;
                    let r = self.value_ranges.get(n.checked_sub(1)?)?;
                    Some(&self.bytes[r.clone()])
                })
                .collect::<Option<Vec<_>>>()?;
            Some(VerifiedEntry { entry, values })
        })
    }
}
