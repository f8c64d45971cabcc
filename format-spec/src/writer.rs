//! The streaming bundle writer (SPEC.md §4, §5, §6): entries are added one at a
//! time, raw values go straight into the zip, and only the entries' metadata
//! is kept until the end, in a spool the caller provides (a temp file keeps
//! memory flat; `Cursor<Vec<u8>>` is fine for small bundles). Identical input
//! gives byte-identical output.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};

use sha2::Digest as _;
use zip::write::SimpleFileOptions;

use crate::ids::{Sha256, SourceId};
use crate::layout::{self, check_software_token};
use crate::model::{BundleHeader, Counts, Entry, Software, FORMAT_NAME, FORMAT_VERSION};
use crate::review_csv;
use crate::timestamp::Timestamp;
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
}

/// Largest bundle the writer produces: offsets must fit zip32 fields.
const MAX_OUTPUT: u64 = u32::MAX as u64 - 1024 * 1024;

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| err!(Write, "{what}: {e}")
}

fn zip_err(what: &str) -> impl Fn(zip::result::ZipError) -> Error + '_ {
    move |e| err!(Write, "{what}: {e}")
}

/// Writes a bundle. See the module documentation.
pub struct BundleWriter<W: Write + Seek, S: Read + Write + Seek> {
    zip: zip::ZipWriter<W>,
    spool: S,
    manifest: Vec<u8>,
    counts: Counts,
    payload_bytes: u64,
    written: u64,
}

impl<W: Write + Seek, S: Read + Write + Seek> std::fmt::Debug for BundleWriter<W, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .large_file(false)
}

impl<W: Write + Seek, S: Read + Write + Seek> BundleWriter<W, S> {
    /// Starts a bundle on `out` (which must be empty), spooling entry metadata into `spool`.
    pub fn new(out: W, mut spool: S) -> Result<Self> {
        spool.seek(SeekFrom::Start(0)).map_err(io_err("spool"))?;
        let mut w = Self {
            zip: zip::ZipWriter::new(out),
            spool,
            manifest: Vec::new(),
            counts: Counts::default(),
            payload_bytes: 0,
            written: 0,
        };
        w.member(layout::BAGIT_TXT, layout::BAGIT_CONTENT.as_bytes())?;
        Ok(w)
    }

    /// Writes one whole member and returns its SHA-256.
    fn member(&mut self, name: &str, data: &[u8]) -> Result<Sha256> {
        self.start(name, data.len() as u64)?;
        self.zip.write_all(data).map_err(io_err(name))?;
        Ok(Sha256::digest(data))
    }

    fn start(&mut self, name: &str, len: u64) -> Result<()> {
        // Local + central headers (30 + 46 bytes) and the name twice.
        self.written += 76 + 2 * name.len() as u64 + len;
        if self.written > MAX_OUTPUT {
            return Err(err!(
                Write,
                "bundle would exceed {MAX_OUTPUT} bytes, the zip32 limit"
            ));
        }
        self.zip.start_file(name, options()).map_err(zip_err(name))
    }

    /// Adds one entry. `raw_values[i]` holds the bytes of `entry.values[i]`;
    /// the writer assigns the value file names. Metadata is not re-derived
    /// here: build each [`crate::model::Value`] with [`crate::describe_value`].
    pub fn add_entry(&mut self, mut entry: Entry, raw_values: &[&[u8]]) -> Result<()> {
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
            if self.counts.values >= layout::MAX_VALUES {
                return Err(err!(Write, "more than {} values", layout::MAX_VALUES));
            }
            self.counts.values += 1;
            let name = layout::value_file_name(self.counts.values);
            let digest = self.member(&name, raw)?;
            layout::manifest_line(&mut self.manifest, &digest, &name);
            self.payload_bytes += raw.len() as u64;
            value.file = name;
            if value.certificates.is_empty() {
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
        let mut line =
            serde_json::to_vec(&entry).map_err(|e| err!(Write, "entry {}: {e}", entry.label()))?;
        line.push(b'\n');
        self.spool.write_all(&line).map_err(io_err("spool"))?;
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

        // data/entries.jsonl: copied from the spool.
        let spool_len = self.spool.stream_position().map_err(io_err("spool"))?;
        self.spool
            .seek(SeekFrom::Start(0))
            .map_err(io_err("spool"))?;
        self.start(layout::ENTRIES_JSONL, spool_len)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = spool_len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self.spool.read(&mut buf[..want]).map_err(io_err("spool"))?;
            if n == 0 {
                return Err(err!(Write, "spool ended early"));
            }
            hasher.update(&buf[..n]);
            self.zip
                .write_all(&buf[..n])
                .map_err(io_err(layout::ENTRIES_JSONL))?;
            left -= n as u64;
        }
        let entries_digest = Sha256::from_bytes(hasher.finalize().into());
        self.payload_bytes += spool_len;

        // data/review.csv: derived from the spooled entries, line by line.
        self.spool
            .seek(SeekFrom::Start(0))
            .map_err(io_err("spool"))?;
        let mut review = Vec::new();
        review_csv::header_line(&mut review);
        let mut reader = BufReader::new(&mut self.spool).take(spool_len);
        let mut line = Vec::new();
        let mut index = 0u64;
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .map_err(io_err("spool"))?
                == 0
            {
                break;
            }
            index += 1;
            let entry: Entry =
                serde_json::from_slice(&line).map_err(|e| err!(Write, "spool: {e}"))?;
            review_csv::entry_rows(&mut review, index, &entry);
        }
        let review_digest = self.member(layout::REVIEW_CSV, &review)?;
        self.payload_bytes += review.len() as u64;
        drop(review);

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
        };
        let mut json = serde_json::to_vec(&header).map_err(|e| err!(Write, "bundle.json: {e}"))?;
        json.push(b'\n');
        let json_digest = self.member(layout::BUNDLE_JSON, &json)?;
        self.payload_bytes += json.len() as u64;

        let mut manifest = std::mem::take(&mut self.manifest);
        layout::manifest_line(&mut manifest, &entries_digest, layout::ENTRIES_JSONL);
        layout::manifest_line(&mut manifest, &review_digest, layout::REVIEW_CSV);
        layout::manifest_line(&mut manifest, &json_digest, layout::BUNDLE_JSON);
        let manifest_digest = self.member(layout::MANIFEST, &manifest)?;

        let payload_files = self.counts.values + 3;
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

        let out = self.zip.finish().map_err(zip_err("zip directory"))?;
        Ok((out, header))
    }
}
