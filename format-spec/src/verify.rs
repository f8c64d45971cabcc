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
        check_policy(policy)?;
        let (signers, comments) = check_signatures(&self.signatures, policy, &digests)?;
        let members = zip_read::read_members(&self.bytes)?;
        let contents = check_layout(&self.bytes, &members)?;
        // Step 8.1: bundle.json's size, then its content.
        if contents.bundle_json.len() as u64 > self.limits.max_header_bytes {
            return Err(err!(
                SizeLimit,
                "bundle.json is {} bytes, the limit is {}",
                contents.bundle_json.len(),
                self.limits.max_header_bytes
            ));
        }
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

/// SPEC.md §7.4: a key listed under two roles makes the policy unusable (which
/// role would its signature count for?). A configuration error, found before
/// any byte of the bundle is looked at.
fn check_policy(policy: &TrustPolicy) -> Result<()> {
    let mut roles: BTreeMap<[u8; 32], Role> = BTreeMap::new();
    for k in &policy.keys {
        match roles.insert(*k.key.as_bytes(), k.role) {
            Some(r) if r != k.role => {
                return Err(err!(
                    Key,
                    "the trust policy lists key {} as {r} and as {}: a key has one role",
                    k.key.key_id(),
                    k.role
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

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

/// Step 8.2 to 8.5 (SPEC.md §8): the entry lines, the value file references,
/// every value against its description, then the counts, the review table and
/// bag-info.txt. Each sub-step runs over the whole bundle before the next.
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
    // 8.2: split entries.jsonl into lines (absolute ranges); a line counts
    // with its LF.
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
        if len as u64 + 1 > limits.max_entry_line_bytes {
            return Err(err!(
                SizeLimit,
                "entries.jsonl line {}: {} bytes with its LF, the limit is {}",
                entry_lines.len() + 1,
                len + 1,
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
    let review = &bytes[contents.review_range.clone()];
    let checked = parse_entries_parallel(
        bytes,
        &entry_lines,
        &value_ranges,
        &contents.value_digests,
        review,
        limits,
    )?;
    // 8.3: the values that are not withheld name the value files in order,
    // each exactly once.
    let mut next_value = 0u64;
    for (i, files) in checked.files.iter().enumerate() {
        for f in files {
            next_value += 1;
            if *f != next_value {
                return Err(err!(
                    FileSet,
                    "entry {}: names value file {}, but the next value file is {} (each is named once, in order)",
                    i + 1,
                    layout::value_file_name(*f),
                    layout::value_file_name(next_value)
                ));
            }
        }
    }
    if next_value != contents.values {
        return Err(err!(
            FileSet,
            "entries name {next_value} value files, the bundle holds {}",
            contents.values
        ));
    }
    // 8.4: each value against its description, in order.
    if let Some(e) = checked.value_error {
        return Err(e);
    }
    // 8.5: counts, review.csv, bag-info.txt.
    let mut counts = Counts {
        entries: entry_lines.len() as u64,
        ..Counts::default()
    };
    for c in &checked.counts {
        counts.values += c.values;
        counts.certificates += c.certificates;
        counts.encryption += c.encryption;
        counts.signing_only += c.signing_only;
        counts.unusable += c.unusable;
        counts.unparseable_values += c.unparseable_values;
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
    let mut header_line = Vec::new();
    review_csv::header_line(&mut header_line);
    let mut pos = header_line.len();
    let tiles = checked.review_matches
        && review.starts_with(&header_line)
        && checked.spans.iter().flatten().all(|&(start, end)| {
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

/// Where one worker's review rows lie in `review.csv`: `None` if its entries
/// have no rows.
type Span = Option<(usize, usize)>;

/// What the entry workers found, in entry order.
struct Checked {
    /// Per entry, the value file numbers it names (8.3 checks them).
    files: Vec<Vec<u64>>,
    /// Per entry, its counts (complete only when `value_error` is `None`).
    counts: Vec<Counts>,
    /// The first value that does not match its description (8.4), in order.
    value_error: Option<Error>,
    /// Per worker, where its review rows lie.
    spans: Vec<Span>,
    /// Every worker's rows matched review.csv where they must lie.
    review_matches: bool,
}

/// Parses and checks every entry line on all cores. A line that is not a
/// valid entry (8.2) stops the check; a value that does not match its
/// description (8.4) is kept as the chunk's first such error while the
/// remaining lines are still parsed, so that every 8.2 and 8.3 failure is
/// reported before any 8.4 failure, as SPEC.md §8 orders them. Each worker
/// also renders its entries' review rows and compares them with
/// `review.csv` where they must lie: a row of entry N starts a line with
/// `N,` (no field holds a line break: control characters are refused in
/// every text field), and the caller checks that the spans tile the file.
fn parse_entries_parallel(
    bytes: &[u8],
    lines: &[Range<usize>],
    values: &[Range<usize>],
    digests: &[Sha256],
    review: &[u8],
    limits: &Limits,
) -> Result<Checked> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = lines.len().div_ceil(threads).max(1);
    let results: Vec<Result<ChunkResult>> = std::thread::scope(|s| {
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
    let mut out = Checked {
        files: Vec::with_capacity(lines.len()),
        counts: Vec::with_capacity(lines.len()),
        value_error: None,
        spans: Vec::new(),
        review_matches: true,
    };
    for r in results {
        let c = r?;
        out.files.extend(c.files);
        out.counts.extend(c.counts);
        if out.value_error.is_none() {
            out.value_error = c.value_error;
        }
        out.spans.push(c.span);
        out.review_matches &= c.review_matches;
    }
    Ok(out)
}

/// One worker's findings (see [`Checked`]).
struct ChunkResult {
    files: Vec<Vec<u64>>,
    counts: Vec<Counts>,
    value_error: Option<Error>,
    span: Span,
    review_matches: bool,
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
) -> Result<ChunkResult> {
    let mut out = ChunkResult {
        files: Vec::with_capacity(part.len()),
        counts: Vec::with_capacity(part.len()),
        value_error: None,
        span: None,
        review_matches: true,
    };
    let mut rows = Vec::new();
    for (j, line) in part.iter().enumerate() {
        let n = first + j + 1;
        let (entry, files) = parse_entry(&bytes[line.clone()], n, limits)?;
        out.files.push(files);
        if out.value_error.is_some() {
            continue; // only 8.2 and 8.3 matter after the first 8.4 failure
        }
        match check_values(bytes, &entry, n, values, digests, limits) {
            Ok(c) => out.counts.push(c),
            Err(e) => {
                out.value_error = Some(e);
                continue;
            }
        }
        if !out.review_matches {
            continue;
        }
        rows.clear();
        review_csv::entry_rows(&mut rows, n as u64, &entry);
        if rows.is_empty() {
            continue;
        }
        let start = match out.span {
            Some((_, end)) => Some(end),
            None => {
                let needle = format!("\n{n},");
                memchr::memmem::find(review, needle.as_bytes()).map(|p| p + 1)
            }
        };
        let end = start.map(|s| s + rows.len());
        match (start, end) {
            (Some(s), Some(e)) if review.get(s..e) == Some(rows.as_slice()) => {
                out.span = Some((out.span.map_or(s, |(s0, _)| s0), e));
            }
            _ => out.review_matches = false,
        }
    }
    Ok(out)
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

/// Step 8.2 for one line: canonical JSON, field grammar, the withheld
/// records, and the value file names' syntax. Returns the entry and the
/// numbers of the value files it names.
fn parse_entry(line: &[u8], n: usize, limits: &Limits) -> Result<(Entry, Vec<u64>)> {
    let entry: Entry = parse_canonical(line, || format!("entries.jsonl line {n}"))?;
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
    if entry.kind == model::ObjectKind::Contact && entry.disabled {
        return Err(err!(
            Content,
            "{}: a contact has no account to disable; disabled must be false",
            who()
        ));
    }
    if entry.values.is_empty() {
        return Err(err!(
            Content,
            "{}: an entry holds at least one value (objects without one are not exported)",
            who()
        ));
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
        files.push(num);
    }
    Ok((entry, files))
}

/// Step 8.4 for one entry whose references 8.3 will check: each value's
/// size, private-key material, and decoding against its description.
fn check_values(
    bytes: &[u8],
    entry: &Entry,
    n: usize,
    values: &[Range<usize>],
    digests: &[Sha256],
    limits: &Limits,
) -> Result<Counts> {
    let who = || format!("entries.jsonl line {n} ({})", entry.label());
    let mut counts = Counts::default();
    for v in &entry.values {
        counts.values += 1;
        let Some(file) = v.file.as_deref() else {
            continue; // withheld: checked in 8.2
        };
        let num: u64 = file[layout::VALUES_DIR.len()..file.len() - 4]
            .parse()
            .unwrap_or(0);
        // A reference 8.3 will refuse: nothing to compare it with.
        let Some((range, digest)) = usize::try_from(num.wrapping_sub(1))
            .ok()
            .and_then(|i| Some((values.get(i)?, *digests.get(i)?)))
        else {
            continue;
        };
        if range.len() as u64 > limits.max_value_bytes {
            return Err(err!(
                SizeLimit,
                "{}: {file}: {} bytes, the limit is {}",
                who(),
                range.len(),
                limits.max_value_bytes
            ));
        }
        let raw = &bytes[range.clone()];
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
    Ok(counts)
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
    entry: Entry,
    values: Vec<&'a [u8]>,
}

impl<'a> VerifiedEntry<'a> {
    /// The entry as recorded (and checked against its value bytes).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The entry, owned.
    pub fn into_entry(self) -> Entry {
        self.entry
    }

    /// `values()[i]` holds the bytes of `entry().values[i]` (empty for a withheld value).
    pub fn values(&self) -> &[&'a [u8]] {
        &self.values
    }
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
    /// about the size of the file. Every entry comes out: verification parsed
    /// each line, and the file names of its values, from these same immutable
    /// bytes, so a re-parse that failed would be a bug, and it panics rather
    /// than drop the entry.
    pub fn entries(&self) -> impl Iterator<Item = VerifiedEntry<'_>> + '_ {
        self.entry_lines.iter().map(move |line| {
            self.entry_at(line.clone())
                .expect("a verified entry line parses again from the same bytes")
        })
    }

    fn entry_at(&self, line: Range<usize>) -> Option<VerifiedEntry<'_>> {
        let entry: Entry = serde_json::from_slice(&self.bytes[line]).ok()?;
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
    }
}
