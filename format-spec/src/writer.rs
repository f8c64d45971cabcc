//! The streaming bundle writer (SPEC.md §4, §5, §6): entries are added one at a
//! time, raw values go straight into the zip, and only the entries' metadata
//! is kept until the end, in a spool the caller provides (a temp file keeps
//! memory flat; `Cursor<Vec<u8>>` is fine for small bundles). Identical input
//! gives byte-identical output. The output is written front to back and
//! never seeked: every byte handed to it is final.
//!
//! By default it writes revision 1.4's forms ([`Revision`]): lean certificate
//! objects, and the three text members deflated while they are spooled (the
//! manifest is deflated twice, once to learn its size, as it is rendered
//! twice). [`Revision::V1_3`] writes what every earlier verifier reads.

use std::io::{Read, Seek, Write};

use sha2::Digest as _;

use crate::canonical_json::{self, CanonicalJson as _};
use crate::ids::{Sha256, SourceId};
use crate::layout::{self, check_software_token};
use crate::model::{BundleHeader, Counts, Entry, Software, FORMAT_NAME, FORMAT_VERSION};
use crate::review_csv;
use crate::spool::{Deflater, Spool, Spooled, SPOOL_CHUNK};
use crate::timestamp::Timestamp;
use crate::zip_write::ZipWriter;
use crate::{err, Error, Result};

/// What the caller says about the bundle as a whole; the counts are the writer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDraft {
    /// The source id.
    pub source: SourceId,
    /// This bundle's sequence number (≥ 1).
    pub sequence: u64,
    /// Creation time.
    pub created: Timestamp,
    /// Expiry time (after `created`).
    pub expires: Timestamp,
    /// SHA-256 of the previous bundle of the source, if any.
    pub previous_sha256: Option<Sha256>,
    /// The exporting program.
    pub exporter: Software,
    /// Free text describing the source.
    pub source_description: String,
    /// The part number, when this bundle is a part of a snapshot in parts
    /// (SPEC.md §4.6); `None` for a whole snapshot.
    pub part: Option<u32>,
}

/// The forms a bundle is written in (SPEC.md §14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Revision {
    /// Every member stored and every certificate object described: what
    /// verifiers of revisions 1.0 to 1.3 read.
    V1_3,
    /// Lean certificate objects and the three text members deflated
    /// (SPEC.md §4.3, §6.3): about half the bytes of a 1.3 bundle.
    #[default]
    V1_4,
}

impl Revision {
    fn deflates(self) -> bool {
        self == Revision::V1_4
    }
}

/// Largest bundle the writer produces: offsets must fit zip32 fields.
const MAX_OUTPUT: u64 = u32::MAX as u64 - 1024 * 1024;

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| err!(Write, "{what}: {e}")
}

/// A deflated member's text must stay within what every verifier inflates
/// (SPEC.md §9).
fn check_inflated(name: &str, len: u64) -> Result<()> {
    let max = crate::Limits::default().max_inflated_bytes;
    if len > max {
        return Err(err!(
            Write,
            "{name} would be {len} bytes uncompressed; a deflated member may hold at most {max} (SPEC.md §9)"
        ));
    }
    Ok(())
}

/// Counts a member of `len` bytes against the zip32 limit of the profile.
fn reserve(written: &mut u64, name: &str, len: u64) -> Result<()> {
    // Local + central headers (30 + 46 bytes) and the name twice.
    *written += 76 + 2 * name.len() as u64 + len;
    if *written > MAX_OUTPUT {
        return Err(err!(
            Write,
            "bundle would exceed {MAX_OUTPUT} bytes, the zip32 limit"
        ));
    }
    Ok(())
}

/// Copies a spool into a new member and returns its SHA-256 and length.
/// The SHA-256 and CRC-32 are of the bytes pushed: if the spool file did not
/// give them back unchanged, the manifest does not match and every verifier
/// refuses the bundle, rather than the signature covering the altered bytes.
fn copy_spool<W: Write, S: Read + Write + Seek>(
    zip: &mut ZipWriter<W>,
    written: &mut u64,
    name: &str,
    spool: &mut Spool<S>,
) -> Result<(Sha256, u64)> {
    let Spooled {
        len,
        compressed,
        sha256,
        crc,
    } = spool.rewind()?;
    let stored = compressed.unwrap_or(len);
    reserve(written, name, stored)?;
    match compressed {
        Some(compressed) => {
            check_inflated(name, len)?;
            zip.start_deflated(name, crc, compressed, len)
        }
        None => zip.start(name, crc, len),
    }
    .map_err(io_err(name))?;
    let mut buf = vec![0u8; SPOOL_CHUNK];
    let mut left = stored;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = spool
            .inner
            .read(&mut buf[..want])
            .map_err(io_err("spool"))?;
        if n == 0 {
            return Err(err!(Write, "spool for {name} ended early"));
        }
        zip.data(&buf[..n]).map_err(io_err(name))?;
        left -= n as u64;
    }
    Ok((sha256, len))
}

/// The SHA-256 of a value that is exactly one bare certificate: its
/// thumbprint, which [`crate::describe_value`] computed over the whole value.
fn bare_certificate_sha256(value: &crate::model::Value) -> Option<Sha256> {
    match value.certificates.as_slice() {
        [cert] if value.container == crate::cert::Container::X509.as_str() => Some(cert.sha256),
        _ => None,
    }
}

/// Writes a bundle. See the module documentation.
///
/// `S` spools `entries.jsonl`, `R` spools `review.csv` (by default in memory;
/// use [`BundleWriter::with_spools`] to put both in temp files).
pub struct BundleWriter<
    W: Write,
    S: Read + Write + Seek,
    R: Read + Write + Seek = std::io::Cursor<Vec<u8>>,
> {
    zip: ZipWriter<W>,
    spool: Spool<S>,
    review: Spool<R>,
    /// The SHA-256 of each value file, then of each CA material file, in
    /// order: the payload manifest is rendered from them at the end (32
    /// bytes a file in memory rather than its 91-byte line).
    file_digests: Vec<Sha256>,
    /// One entry's JSON line or review rows, reused from entry to entry.
    line: Vec<u8>,
    counts: Counts,
    /// Value files written (withheld values have none).
    files: u64,
    /// `data/pki.jsonl` so far, once the bundle carries CA material.
    pki: Option<Vec<u8>>,
    /// CA material files written.
    pki_files: u64,
    payload_bytes: u64,
    written: u64,
    revision: Revision,
}

impl<W: Write, S: Read + Write + Seek, R: Read + Write + Seek> std::fmt::Debug
    for BundleWriter<W, S, R>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl<W: Write, S: Read + Write + Seek> BundleWriter<W, S> {
    /// Starts a bundle on `out` (which must be empty), spooling entry metadata
    /// into `spool` and the review table in memory.
    pub fn new(out: W, spool: S) -> Result<Self> {
        Self::with_spools(out, spool, std::io::Cursor::new(Vec::new()))
    }
}

impl<W: Write, S: Read + Write + Seek, R: Read + Write + Seek> BundleWriter<W, S, R> {
    /// Starts a bundle on `out` (which must be empty), spooling entry metadata
    /// into `spool` and the review table into `review`: with two temp files,
    /// memory stays flat however many entries are added.
    pub fn with_spools(out: W, spool: S, review: R) -> Result<Self> {
        Self::with_revision(out, spool, review, Revision::default())
    }

    /// [`BundleWriter::with_spools`] writing the forms of `revision`.
    pub fn with_revision(out: W, spool: S, review: R, revision: Revision) -> Result<Self> {
        let deflate = revision.deflates();
        let mut review = Spool::new(review, deflate)?;
        let mut header = Vec::new();
        review_csv::header_line(&mut header);
        review.push(&header)?;
        let mut w = Self {
            zip: ZipWriter::new(out),
            spool: Spool::new(spool, deflate)?,
            review,
            file_digests: Vec::new(),
            line: Vec::new(),
            counts: Counts::default(),
            files: 0,
            pki: None,
            pki_files: 0,
            payload_bytes: 0,
            written: 0,
            revision,
        };
        w.member(layout::BAGIT_TXT, layout::BAGIT_CONTENT.as_bytes())?;
        Ok(w)
    }

    /// Writes one whole member and returns its SHA-256.
    fn member(&mut self, name: &str, data: &[u8]) -> Result<Sha256> {
        self.write_member(name, data)?;
        Ok(Sha256::digest(data))
    }

    /// Writes one whole member whose SHA-256 the caller already has.
    fn write_member(&mut self, name: &str, data: &[u8]) -> Result<()> {
        reserve(&mut self.written, name, data.len() as u64)?;
        self.zip.member(name, data).map_err(io_err(name))
    }

    /// Adds one entry. `raw_values[i]` holds the bytes of `entry.values[i]`
    /// (ignored, and never written, for a withheld value: pass `&[]`); the
    /// writer assigns the value file names. Metadata is not re-derived
    /// here: build each [`crate::model::Value`] with [`crate::describe_value`].
    /// (A value that is one bare certificate has that certificate's SHA-256
    /// thumbprint as its manifest digest, without hashing the bytes again; a
    /// description that does not come from these bytes gives a bundle that
    /// every verifier refuses, as any wrong metadata does.)
    pub fn add_entry(&mut self, mut entry: Entry, raw_values: &[&[u8]]) -> Result<()> {
        self.add_entry_mut(&mut entry, raw_values)
    }

    /// [`BundleWriter::add_entry`] for an entry the caller keeps: the writer
    /// fills in its value file names. (The exporter hands written entries back
    /// to the thread that allocated them, where freeing them is cheaper.)
    pub fn add_entry_mut(&mut self, entry: &mut Entry, raw_values: &[&[u8]]) -> Result<()> {
        if self.pki.is_some() {
            return Err(err!(
                Write,
                "entry {}: entries come before the CA material (SPEC.md §4.1)",
                entry.label()
            ));
        }
        // What a verifier refuses (SPEC.md §6.1), a writer never writes.
        if entry.values.is_empty() {
            return Err(err!(Write, "entry {}: no value to write", entry.label()));
        }
        if entry.kind == crate::model::ObjectKind::Contact && entry.disabled {
            return Err(err!(
                Write,
                "entry {}: a contact cannot be disabled",
                entry.label()
            ));
        }
        if entry.values.len() != raw_values.len() {
            return Err(err!(
                Write,
                "entry {}: {} value records but {} raw values",
                entry.label(),
                entry.values.len(),
                raw_values.len()
            ));
        }
        for (value, raw) in entry.values.iter_mut().zip(raw_values) {
            self.counts.values += 1;
            if value.is_withheld() {
                // Private key material: its bytes go nowhere (SPEC.md §6.2).
                value.file = None;
                continue;
            }
            if self.files >= layout::MAX_VALUES {
                return Err(err!(Write, "more than {} value files", layout::MAX_VALUES));
            }
            self.files += 1;
            let name = layout::value_file_name(self.files);
            let digest = match bare_certificate_sha256(value) {
                Some(digest) => {
                    self.write_member(&name, raw)?;
                    digest
                }
                None => self.member(&name, raw)?,
            };
            self.file_digests.push(digest);
            self.payload_bytes += raw.len() as u64;
            value.file = Some(name);
            if value.container == crate::cert::Container::Unparseable.as_str() {
                self.counts.unparseable_values += 1;
            }
            for cert in &value.certificates {
                self.counts.certificates += 1;
                match cert.class.as_str() {
                    "encryption" => self.counts.encryption += 1,
                    "signing-only" => self.counts.signing_only += 1,
                    _ => self.counts.unusable += 1,
                }
            }
        }
        self.counts.entries += 1;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match self.revision {
            Revision::V1_3 => entry.write_json(&mut line),
            Revision::V1_4 => {
                canonical_json::write_entry(entry, &mut line, canonical_json::write_lean)
            }
        }
        line.push(b'\n');
        self.spool.push(&line)?;
        line.clear();
        review_csv::entry_rows(&mut line, self.counts.entries, entry);
        self.review.push(&line)?;
        self.line = line;
        Ok(())
    }

    /// Writes `manifest-sha256.txt`: one line per value file and CA material
    /// file, rendered from their digests in chunks, then `tail`. Rendered
    /// twice (once for its length, CRC-32 and SHA-256, which the local header
    /// needs first, once into the zip), so memory does not grow with it.
    fn write_manifest(&mut self, tail: &[u8]) -> Result<Sha256> {
        let values = usize::try_from(self.files).unwrap_or(usize::MAX);
        let render = |i: usize, out: &mut Vec<u8>| {
            let n = i as u64 + 1;
            let name = if i < values {
                layout::value_file_name(n)
            } else {
                layout::pki_file_name(n - self.files)
            };
            layout::manifest_line(out, &self.file_digests[i], &name);
        };
        // Renders the manifest in chunks, handing each (compressed, when
        // deflating) to `sink`; returns its text's length, SHA-256, CRC-32
        // and stored length.
        let deflates = self.revision.deflates();
        let pass = |sink: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<(u64, Sha256, u32, u64)> {
            let mut chunk = Vec::with_capacity(SPOOL_CHUNK + 256);
            let mut sha = sha2::Sha256::new();
            let mut crc = crc32fast::Hasher::new();
            let mut deflater = deflates.then(Deflater::new);
            let (mut len, mut stored) = (0u64, 0u64);
            let mut hand_on = |chunk: &mut Vec<u8>, finish: bool| -> Result<()> {
                sha.update(&*chunk);
                crc.update(&*chunk);
                len += chunk.len() as u64;
                match &mut deflater {
                    Some(d) => {
                        d.feed(chunk, finish)?;
                        stored += d.out.len() as u64;
                        sink(&d.out)?;
                        d.out.clear();
                    }
                    None => {
                        stored += chunk.len() as u64;
                        sink(chunk)?;
                    }
                }
                chunk.clear();
                Ok(())
            };
            for i in 0..self.file_digests.len() {
                render(i, &mut chunk);
                if chunk.len() >= SPOOL_CHUNK {
                    hand_on(&mut chunk, false)?;
                }
            }
            chunk.extend_from_slice(tail);
            hand_on(&mut chunk, true)?;
            let digest = Sha256::from_bytes(sha.finalize().into());
            Ok((len, digest, crc.finalize(), stored))
        };
        let (len, digest, crc, stored) = pass(&mut |_| Ok(()))?;
        reserve(&mut self.written, layout::MANIFEST, stored)?;
        if deflates {
            check_inflated(layout::MANIFEST, len)?;
            self.zip.start_deflated(layout::MANIFEST, crc, stored, len)
        } else {
            self.zip.start(layout::MANIFEST, crc, len)
        }
        .map_err(io_err(layout::MANIFEST))?;
        let zip = &mut self.zip;
        let (_, again, _, stored_again) =
            pass(&mut |data| zip.data(data).map_err(io_err(layout::MANIFEST)))?;
        if (again, stored_again) != (digest, stored) {
            return Err(err!(Write, "the manifest rendered differently twice"));
        }
        Ok(digest)
    }

    /// About how large the bundle would be if it were finished now: the
    /// members written, the spooled text as it will be stored (compressed, when
    /// deflating), the manifest and the fixed members. An exporter splitting a
    /// snapshot into parts (SPEC.md §4.6) closes a part when this reaches its
    /// target size.
    pub fn size_so_far(&self) -> u64 {
        let stored = |spool: &Spool<S>| spool.stored_so_far();
        let review = self.review.stored_so_far();
        let per_line = if self.revision.deflates() { 48 } else { 92 };
        // Two spooled members, the manifest, bundle.json, bag-info.txt and
        // the tag manifest with their headers: a few KiB at most.
        self.written
            + stored(&self.spool)
            + review
            + per_line * self.file_digests.len() as u64
            + 8192
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.counts.entries
    }

    /// Declares that the bundle carries CA material (SPEC.md §6.7), so that it
    /// holds `data/pki.jsonl` even when no object is added: "read, and
    /// nothing found" differs from "not read". Call after the last entry.
    pub fn carry_pki(&mut self) {
        self.pki.get_or_insert_with(Vec::new);
    }

    /// Adds one CA certificate or CRL after the last entry: `raw` is its
    /// bytes, `record` their description from [`crate::pki::PkiRecord::describe`]
    /// (the writer assigns `file`). Bytes holding private key material are
    /// refused: they never enter a bundle.
    pub fn add_pki(&mut self, mut record: crate::pki::PkiRecord, raw: &[u8]) -> Result<()> {
        if let Some(what) = crate::cert::find_private_key_material(raw) {
            return Err(err!(
                Write,
                "{} ({}): holds private key material ({what}); it is not written",
                record.label(),
                record.location
            ));
        }
        record
            .check_grammar()
            .map_err(|e| err!(Write, "{}: {}", record.location, e.message()))?;
        if self.pki_files >= layout::MAX_VALUES {
            return Err(err!(
                Write,
                "more than {} CA material files",
                layout::MAX_VALUES
            ));
        }
        self.carry_pki();
        self.pki_files += 1;
        let name = layout::pki_file_name(self.pki_files);
        let digest = self.member(&name, raw)?;
        self.file_digests.push(digest);
        self.payload_bytes += raw.len() as u64;
        record.file = name;
        if let Some(lines) = self.pki.as_mut() {
            record.write_json(lines);
            lines.push(b'\n');
        }
        Ok(())
    }

    /// Writes the remaining members and the zip directory; returns the output
    /// and the header as written.
    pub fn finish(mut self, draft: HeaderDraft) -> Result<(W, BundleHeader)> {
        check_software_token(&draft.exporter.name, "exporter name")?;
        check_software_token(&draft.exporter.version, "exporter version")?;
        if draft.sequence == 0 || draft.sequence > i64::MAX as u64 {
            return Err(err!(Write, "sequence must be between 1 and 2^63-1"));
        }
        if draft.expires <= draft.created {
            return Err(err!(
                Write,
                "expiry {} is not after creation {}",
                draft.expires,
                draft.created
            ));
        }

        // data/entries.jsonl and data/review.csv: copied from their spools.
        let (entries_digest, entries_len) = copy_spool(
            &mut self.zip,
            &mut self.written,
            layout::ENTRIES_JSONL,
            &mut self.spool,
        )?;
        self.payload_bytes += entries_len;
        let (review_digest, review_len) = copy_spool(
            &mut self.zip,
            &mut self.written,
            layout::REVIEW_CSV,
            &mut self.review,
        )?;
        self.payload_bytes += review_len;
        let pki = match self.pki.take() {
            Some(lines) => {
                let digest = self.member(layout::PKI_JSONL, &lines)?;
                self.payload_bytes += lines.len() as u64;
                Some(digest)
            }
            None => None,
        };

        let header = BundleHeader {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            source: draft.source,
            sequence: draft.sequence,
            created: draft.created,
            expires: draft.expires,
            previous_sha256: draft.previous_sha256,
            exporter: draft.exporter,
            source_description: draft.source_description,
            counts: self.counts.clone(),
            part: draft.part,
        };
        let mut json = serde_json::to_vec(&header).map_err(|e| err!(Write, "bundle.json: {e}"))?;
        json.push(b'\n');
        let json_digest = self.member(layout::BUNDLE_JSON, &json)?;
        self.payload_bytes += json.len() as u64;

        let mut tail = Vec::new();
        layout::manifest_line(&mut tail, &entries_digest, layout::ENTRIES_JSONL);
        layout::manifest_line(&mut tail, &review_digest, layout::REVIEW_CSV);
        if let Some(digest) = &pki {
            layout::manifest_line(&mut tail, digest, layout::PKI_JSONL);
        }
        layout::manifest_line(&mut tail, &json_digest, layout::BUNDLE_JSON);
        let manifest_digest = self.write_manifest(&tail)?;

        let payload_files = self.files + self.pki_files + 3 + u64::from(pki.is_some());
        let bag_info = layout::bag_info(&header, self.payload_bytes, payload_files);
        let bag_info_digest = self.member(layout::BAG_INFO_TXT, bag_info.as_bytes())?;

        let mut tags = Vec::new();
        layout::manifest_line(
            &mut tags,
            &Sha256::digest(layout::BAGIT_CONTENT.as_bytes()),
            layout::BAGIT_TXT,
        );
        layout::manifest_line(&mut tags, &manifest_digest, layout::MANIFEST);
        layout::manifest_line(&mut tags, &bag_info_digest, layout::BAG_INFO_TXT);
        self.member(layout::TAG_MANIFEST, &tags)?;

        let out = self.zip.finish().map_err(io_err("zip directory"))?;
        Ok((out, header))
    }
}
