//! The export core: directory objects in, a bundle out. No terminal, no
//! clock, no files: the caller supplies the source, the output, the time and
//! a cancellation flag.

use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use certferry_format::cert::chain::CaCertificate;
use certferry_format::cert::{self, ClassifyContext, TrustedIssuer};
use certferry_format::model::{Attribute, BundleHeader, Software};
use certferry_format::{describe_value, BundleWriter, HeaderDraft, Sha256, SourceId, Timestamp};
use serde::Serialize;

use crate::ca_material::{self, CaObject};
use crate::decode::{decode_entry, DecodedEntry};
use crate::source::{DirectorySource, SourceError};

/// Entra Connect stops syncing an attribute holding more values than this.
pub const ENTRA_MAX_VALUES: usize = 15;

/// What one export should produce.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// The source id recorded in the bundle.
    pub source_id: SourceId,
    /// This bundle's sequence number.
    pub sequence: u64,
    /// Creation time; also the time certificates are classified at.
    pub created: Timestamp,
    /// Expiry time.
    pub expires: Timestamp,
    /// SHA-256 of the previous bundle of this source.
    pub previous_sha256: Option<Sha256>,
    /// Pinned CAs for the `untrusted-issuer` check; `None` skips the check.
    pub trusted_issuers: Option<Vec<TrustedIssuer>>,
    /// Intermediate CAs that may help build a path to a pinned CA.
    pub intermediates: Vec<CaCertificate>,
    /// Export contacts as well as users.
    pub contacts: bool,
    /// Export disabled accounts too.
    pub include_disabled: bool,
    /// Leave out values that hold no usable certificate.
    pub only_usable: bool,
    /// Carry CA material (SPEC.md §6.7); `None` carries none.
    pub ca_material: Option<CaMaterialSettings>,
    /// Split the snapshot into parts of about this many bytes (SPEC.md §4.6)
    /// when it does not fit in one; `None` writes one bundle file whatever
    /// its size.
    pub part_size: Option<u64>,
}

/// The writer of one file of a [`PartSink`].
pub type PartWriter<P> =
    BundleWriter<<P as PartSink>::Out, <P as PartSink>::Spool, <P as PartSink>::Spool>;

/// Where the bundle files of an export go: one bundle, or the parts of a
/// snapshot in parts (SPEC.md §4.6), opened and closed in the order written
/// (parts 1, 2, …, then part 0 with the CA material).
pub trait PartSink {
    /// The output of one file.
    type Out: Write;
    /// Spools of one file's `entries.jsonl` and `review.csv`.
    type Spool: Read + Write + Seek;
    /// A writer for the next file.
    fn open(&mut self) -> Result<PartWriter<Self>, ExportError>;
    /// Takes a finished file (its header says which part it is, if any).
    fn close(&mut self, out: Self::Out, header: &BundleHeader) -> Result<(), ExportError>;
}

/// Which CA material an export carries.
#[derive(Debug, Clone, Default)]
pub struct CaMaterialSettings {
    /// Also the directory's: the CA objects among the entries read, and what
    /// the source finds in its public key services (LDAP: the configuration
    /// partition).
    pub from_directory: bool,
    /// Objects read before the export: from files (`--pki-ca-file`,
    /// `--pki-crl-file`) and, when `source_read` is set, from the source's
    /// public key services (an LDAP server's, read right after connecting, so
    /// that its CA certificates can help classify the users).
    pub files: Vec<CaObject>,
    /// The source's [`DirectorySource::ca_material`] was read into `files`
    /// already: it is not asked again after the entries.
    pub source_read: bool,
}

/// What the export found, for the summary printed at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries written.
    pub entries: u64,
    /// Attribute values written.
    pub values: u64,
    /// Certificates written.
    pub certificates: u64,
    /// Certificates usable for encryption.
    pub encryption: u64,
    /// Certificates usable for signing only.
    pub signing_only: u64,
    /// Certificates not usable (see each certificate's reasons).
    pub unusable: u64,
    /// Values that are neither a certificate nor a PKCS#7 (kept as raw bytes).
    pub unparseable_values: u64,
    /// Objects read but not exported (computers, disabled accounts, contacts
    /// when not asked, entries left empty by `--only-usable`).
    pub skipped: u64,
    /// The skipped objects by why they were skipped (`not-a-user-or-contact`,
    /// `disabled-account`, `contact`, `no-certificate-value`,
    /// `nothing-usable`).
    pub skipped_by: std::collections::BTreeMap<&'static str, u64>,
    /// Values left out by `--only-usable`.
    pub values_left_out: u64,
    /// Private key material found in the directory: withheld from the bundle
    /// (recorded by length and SHA-256 only). Each is a security finding on the
    /// isolated side: the object must be cleaned.
    pub private_keys: Vec<PrivateKeyFinding>,
    /// Things an administrator should look at, every one (the terminal shows
    /// them grouped by kind).
    pub warnings: Vec<Warning>,
    /// The CA material carried, when asked to carry it.
    pub ca_material: Option<CaMaterialSummary>,
}

/// What CA material an export carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaMaterialSummary {
    /// CA certificates.
    pub certificates: u64,
    /// CRLs (complete and delta).
    pub crls: u64,
    /// Values that are neither (placeholders, certificate pairs).
    pub unparseable: u64,
}

/// A value withheld because it holds private key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateKeyFinding {
    /// The object (UPN, mail, sAMAccountName or DN).
    pub entry: String,
    /// Its DN.
    pub dn: String,
    /// The attribute.
    pub attribute: &'static str,
    /// Which of the attribute's values (from 1).
    pub position: usize,
    /// What was found (`PEM RSA private key (RSA PRIVATE KEY)`, `PKCS#12 PFX`, …).
    pub what: &'static str,
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256.
    pub sha256: String,
}

/// One thing an administrator should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// A stable kind: `too-many-values`, `unparseable-value`, `pkcs7-without-certificates`.
    pub kind: &'static str,
    /// The object it is about.
    pub entry: String,
    /// The sentence.
    pub text: String,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the directory failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A directory object could not be decoded.
    #[error(transparent)]
    Decode(#[from] crate::decode::DecodeError),
    /// Writing the bundle failed.
    #[error("writing the bundle failed: {0}")]
    Write(#[from] certferry_format::Error),
    /// The cancellation flag was raised (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

/// Objects travel between the pipeline's threads in batches of this many: one
/// channel message per object cost a thread wake-up (futex call and context
/// switch) per object on each side, 400,000 of them for 100,000 users.
const BATCH: usize = 128;

/// What the classifying thread hands to the writing thread.
enum Item {
    /// An entry to write, with its raw values.
    Entry(Box<certferry_format::model::Entry>, Vec<Vec<u8>>),
    /// An object read and left out.
    Skipped,
}

/// Runs one export: reads every object from `source`, classifies its
/// certificates and writes the bundle to `out`. `progress` is called after
/// each object read with the number read so far.
///
/// Three threads in a pipeline: one reads the source (LDAP protocol or LDIF
/// parsing) and decodes the attributes, one classifies the certificates
/// (X.509), and this one serialises and writes; bounded channels between
/// them keep memory flat. Written batches go back to the reading thread to be
/// freed: it allocated most of their memory, and the allocator frees memory
/// fastest on the thread that allocated it.
pub fn export<S, P>(
    source: &mut S,
    sink: &mut P,
    settings: &ExportSettings,
    progress: &mut dyn FnMut(u64),
    cancel: &AtomicBool,
) -> Result<(Vec<BundleHeader>, Summary), ExportError>
where
    S: DirectorySource + Send + ?Sized,
    P: PartSink,
{
    let description = source.description();
    let draft = |part: Option<u32>| HeaderDraft {
        source: settings.source_id.clone(),
        sequence: settings.sequence,
        created: settings.created,
        expires: settings.expires,
        previous_sha256: settings.previous_sha256,
        exporter: Software {
            name: "certferry-export".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        source_description: description.clone(),
        part,
    };
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<Option<DecodedEntry>>>(4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(4);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<Item>>();
    let mut headers = Vec::new();
    let first = sink.open()?;
    let writer = std::thread::scope(|s| {
        let fetcher = s.spawn(move || fetch_all(source, settings, cancel, &raw_tx, &spent_rx));
        let classifier = s.spawn(move || classify_all(raw_rx, settings, &tx));
        let mut writer = first;
        let mut read = 0u64;
        let mut write_result = Ok(());
        'batches: for mut batch in rx.iter() {
            for item in &mut batch {
                read += 1;
                progress(read);
                if let Item::Entry(entry, values) = item {
                    let added =
                        make_room(&mut writer, values, sink, &mut headers, settings, &draft)
                            .and_then(|()| {
                                let raws: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
                                Ok(writer.add_entry_mut(entry, &raws)?)
                            });
                    if let Err(e) = added {
                        write_result = Err(e);
                        break 'batches;
                    }
                }
            }
            // Freed by the thread that allocated most of it (it may have
            // finished: then the batch is freed when the channel is).
            let _ = spent_tx.send(batch);
        }
        drop(spent_tx);
        drop(rx); // stops the classifier, and so the fetcher, if writing failed
        let summary = classifier.join().unwrap_or(Err(ExportError::Interrupted));
        let fetched = fetcher.join().unwrap_or(Err(ExportError::Interrupted));
        // A stage that stopped because the next one had gone reports success,
        // so the first real failure down the pipeline is the one reported.
        write_result?;
        let directory_ca = fetched?;
        Ok::<_, ExportError>((writer, summary?, directory_ca))
    })?;
    let (mut writer, mut summary, directory_ca) = (writer.0, writer.1, writer.2);
    let ca_objects = || {
        settings
            .ca_material
            .as_ref()
            .map(|ca| ca.files.iter().chain(&directory_ca))
    };
    if headers.is_empty() {
        // One file: the CA material after the entries, as in any bundle.
        if let Some(objects) = ca_objects() {
            summary.ca_material = Some(carry_ca_material(&mut writer, objects, &mut summary)?);
        }
        let (out, header) = writer.finish(draft(None))?;
        sink.close(out, &header)?;
        headers.push(header);
    } else {
        let number = headers.len() as u32 + 1;
        let (out, header) = writer.finish(draft(Some(number)))?;
        sink.close(out, &header)?;
        headers.push(header);
        // The CA material in part 0, written last and listed first.
        if let Some(objects) = ca_objects() {
            let mut writer = sink.open()?;
            summary.ca_material = Some(carry_ca_material(&mut writer, objects, &mut summary)?);
            let (out, header) = writer.finish(draft(Some(0)))?;
            sink.close(out, &header)?;
            headers.insert(0, header);
        }
    }
    let mut counts = certferry_format::model::Counts::default();
    for h in &headers {
        counts.add(&h.counts);
    }
    summary.entries = counts.entries;
    summary.values = counts.values;
    summary.certificates = counts.certificates;
    summary.encryption = counts.encryption;
    summary.signing_only = counts.signing_only;
    summary.unusable = counts.unusable;
    summary.unparseable_values = counts.unparseable_values;
    Ok((headers, summary))
}

/// Before an entry with `values` is added: when the part being written would
/// pass the part size with it, closes that part as the next part number and
/// goes on in a new one (SPEC.md §4.6). A part holds at least one entry.
fn make_room<P: PartSink>(
    writer: &mut PartWriter<P>,
    values: &[Vec<u8>],
    sink: &mut P,
    headers: &mut Vec<BundleHeader>,
    settings: &ExportSettings,
    draft: &dyn Fn(Option<u32>) -> HeaderDraft,
) -> Result<(), ExportError> {
    let Some(max) = settings.part_size else {
        return Ok(());
    };
    // The values, their zip headers and manifest lines, the entry's lines.
    let next: u64 = values.iter().map(|v| v.len() as u64 + 256).sum();
    if writer.entries() == 0 || writer.size_so_far() + next <= max {
        return Ok(());
    }
    let number = closing_part_number(
        headers.len(),
        &settings.source_id,
        settings.sequence,
        settings.ca_material.is_some(),
    )
    .map_err(|most| {
        ExportError::Write(certferry_format::Error::new(
            certferry_format::ErrorClass::Write,
            format!(
                "the snapshot needs more than {most} parts of {max} bytes, the most its part index can name (SPEC.md §4.6): give a larger --part-size"
            ),
        ))
    })?;
    let full = std::mem::replace(writer, sink.open()?);
    let (out, header) = full.finish(draft(Some(number)))?;
    sink.close(out, &header)?;
    headers.push(header);
    Ok(())
}

/// The number of the part to close when `closed` parts are closed already
/// and another will follow it; `Err` with the most parts holding entries
/// the snapshot may have, when the one to follow would pass them.
fn closing_part_number(
    closed: usize,
    source: &SourceId,
    sequence: u64,
    with_part_0: bool,
) -> Result<u32, u32> {
    let most = most_entry_parts(source, sequence, with_part_0);
    u32::try_from(closed + 1)
        .ok()
        .filter(|&n| n < most)
        .ok_or(most)
}

/// The most parts holding entries (1 to N) a snapshot of `source` and
/// `sequence` may have: what its part index can name within the default
/// limit every verifier accepts (SPEC.md §9), less a line for part 0 when
/// there is CA material, and never past part 9,999.
fn most_entry_parts(source: &SourceId, sequence: u64, with_part_0: bool) -> u32 {
    let files = certferry_format::layout::most_part_files(
        source,
        sequence,
        certferry_format::Limits::default().max_part_index_bytes,
    );
    files
        .saturating_sub(u32::from(with_part_0))
        .min(certferry_format::layout::MAX_PART)
}

/// Writes the CA material after the entries: every object, in order (files
/// first, then the directory's), except values holding private key material,
/// which are reported like a user's and never written.
fn carry_ca_material<'a, W: Write, Sp: Read + Write + Seek, R: Read + Write + Seek>(
    writer: &mut BundleWriter<W, Sp, R>,
    objects: impl Iterator<Item = &'a CaObject>,
    summary: &mut Summary,
) -> Result<CaMaterialSummary, ExportError> {
    use certferry_format::pki::{PkiKind, PkiRecord};
    let mut carried = CaMaterialSummary::default();
    writer.carry_pki();
    for o in objects {
        let attribute = o.attribute.map_or("file", |a| a.as_str());
        if let Some(what) = cert::find_private_key_material(&o.bytes) {
            summary.private_keys.push(PrivateKeyFinding {
                entry: o.location.clone(),
                dn: o.location.clone(),
                attribute,
                position: o.position,
                what,
                length: o.bytes.len() as u64,
                sha256: Sha256::digest(&o.bytes).to_hex(),
            });
            continue;
        }
        let record = PkiRecord::describe(o.origin, &o.location, o.attribute, &o.bytes);
        match record.kind {
            PkiKind::Certificate => carried.certificates += 1,
            PkiKind::Crl => carried.crls += 1,
            PkiKind::Unparseable => {
                carried.unparseable += 1;
                summary.warnings.push(Warning {
                    kind: "unparseable-ca-material",
                    entry: o.location.clone(),
                    text: format!(
                        "{}: {attribute} value {} is neither a DER certificate nor a DER CRL ({} bytes; AD keeps placeholders like this); carried as raw bytes",
                        o.location,
                        o.position,
                        o.bytes.len()
                    ),
                });
            }
        }
        writer.add_pki(record, &o.bytes)?;
    }
    Ok(carried)
}

/// The first stage: every object of the source, decoded, into the channel,
/// until the source ends, fails, an object does not decode, Ctrl-C, or the
/// classifier has gone (its error, if any, is the one reported). When the
/// export carries the directory's CA material, it also keeps the CA objects
/// it reads and, at the end, asks the source for its public key services;
/// it returns those objects.
fn fetch_all<S: DirectorySource + ?Sized>(
    source: &mut S,
    settings: &ExportSettings,
    cancel: &AtomicBool,
    tx: &std::sync::mpsc::SyncSender<Vec<Option<DecodedEntry>>>,
    spent: &std::sync::mpsc::Receiver<Vec<Item>>,
) -> Result<Vec<CaObject>, ExportError> {
    let carry = settings
        .ca_material
        .as_ref()
        .is_some_and(|c| c.from_directory);
    let ask_source = settings
        .ca_material
        .as_ref()
        .is_some_and(|c| c.from_directory && !c.source_read);
    let mut ca = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(raw) = source.next_entry()? {
        if carry {
            ca.extend(ca_material::from_entry(&raw));
        }
        // Free the batches the writer is done with.
        while let Ok(written) = spent.try_recv() {
            drop(written);
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(ExportError::Interrupted);
        }
        // Decoded here, where the raw entry was allocated: its leftovers are
        // freed by the thread that made them.
        batch.push(decode_entry(raw)?);
        if batch.len() == BATCH
            && tx
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
        {
            return Ok(ca);
        }
    }
    if !batch.is_empty() {
        // A closed channel means a later stage failed; its error is reported.
        let _ = tx.send(batch);
    }
    if ask_source {
        for raw in source.ca_material()? {
            ca.extend(ca_material::from_entry(&raw));
        }
    }
    Ok(ca)
}

/// The second stage: filter → classify → channel.
fn classify_all(
    rx: std::sync::mpsc::Receiver<Vec<Option<DecodedEntry>>>,
    settings: &ExportSettings,
    tx: &std::sync::mpsc::SyncSender<Vec<Item>>,
) -> Result<Summary, ExportError> {
    let mut summary = Summary::default();
    for batch in rx {
        let mut items = Vec::with_capacity(batch.len());
        for decoded in batch {
            items.push(classify_one(decoded, settings, &mut summary)?);
        }
        // A closed channel means the writer failed; its error is the one reported.
        if tx.send(items).is_err() {
            break;
        }
    }
    Ok(summary)
}

/// Filter → classify, for one decoded object (`None`: neither a user nor a
/// contact).
fn classify_one(
    decoded: Option<DecodedEntry>,
    settings: &ExportSettings,
    summary: &mut Summary,
) -> Result<Item, ExportError> {
    let Some(DecodedEntry { mut entry, values }) = decoded else {
        return Ok(summary.skip("not-a-user-or-contact"));
    };
    match entry.kind {
        certferry_format::model::ObjectKind::User
            if entry.disabled && !settings.include_disabled =>
        {
            return Ok(summary.skip("disabled-account"));
        }
        certferry_format::model::ObjectKind::Contact if !settings.contacts => {
            return Ok(summary.skip("contact"));
        }
        _ => {}
    }
    if values.is_empty() {
        return Ok(summary.skip("no-certificate-value"));
    }
    for attr in Attribute::ALL {
        let n = values.iter().filter(|(a, _)| *a == attr).count();
        if n > ENTRA_MAX_VALUES {
            summary.warnings.push(Warning {
                kind: "too-many-values",
                entry: entry.label().to_owned(),
                text: format!(
                    "{}: {n} {} values; Entra Connect syncs at most {ENTRA_MAX_VALUES}",
                    entry.label(),
                    attr.as_str()
                ),
            });
        }
    }
    let addresses = entry.smtp_addresses();
    let ctx = ClassifyContext {
        now: settings.created.unix(),
        addresses: &addresses,
        trusted_issuers: settings.trusted_issuers.as_deref(),
        intermediates: &settings.intermediates,
    };
    let mut raws: Vec<Vec<u8>> = Vec::with_capacity(values.len());
    let mut position: std::collections::BTreeMap<Attribute, usize> = Default::default();
    for (attr, bytes) in values {
        let pos = {
            let p = position.entry(attr).or_default();
            *p += 1;
            *p
        };
        let value = describe_value(attr, &bytes, |v, c| cert::classify(v, c, &ctx));
        if let Some(w) = &value.withheld {
            // Private key material: only its record goes on; the bytes are dropped
            // here and reach no file, spool, log or message.
            summary.private_keys.push(PrivateKeyFinding {
                entry: entry.label().to_owned(),
                dn: entry.dn.clone(),
                attribute: attr.as_str(),
                position: pos,
                what: cert::find_private_key_material(&bytes).unwrap_or("private key material"),
                length: w.length,
                sha256: w.sha256.to_hex(),
            });
            drop(bytes);
            entry.values.push(value);
            raws.push(Vec::new());
            continue;
        }
        if value.certificates.is_empty() {
            let (kind, what) = if value.container == cert::Container::Pkcs7.as_str() {
                (
                    "pkcs7-without-certificates",
                    "is a PKCS#7 SignedData holding no certificate",
                )
            } else {
                (
                    "unparseable-value",
                    "is neither a certificate nor a PKCS#7 blob",
                )
            };
            summary.warnings.push(Warning {
                kind,
                entry: entry.label().to_owned(),
                text: format!(
                    "{}: {} value {pos} {what} ({} bytes){}",
                    entry.label(),
                    attr.as_str(),
                    bytes.len(),
                    if settings.only_usable {
                        "; left out"
                    } else {
                        "; kept as raw bytes"
                    }
                ),
            });
        }
        let usable = value.certificates.iter().any(|c| c.class != "unusable");
        if settings.only_usable && !usable {
            summary.values_left_out += 1;
            continue;
        }
        entry.values.push(value);
        raws.push(bytes);
    }
    if entry.values.is_empty() {
        return Ok(summary.skip("nothing-usable"));
    }
    Ok(Item::Entry(Box::new(entry), raws))
}

impl Summary {
    /// Counts a skipped object under `why`.
    fn skip(&mut self, why: &'static str) -> Item {
        self.skipped += 1;
        *self.skipped_by.entry(why).or_default() += 1;
        Item::Skipped
    }

    /// Usable certificates (encryption or signing).
    pub fn usable(&self) -> u64 {
        self.encryption + self.signing_only
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_an_export_may_write_are_those_its_part_index_can_name() {
        let source = |s: &str| SourceId::parse(s).unwrap();
        // 9,446 index lines for these names: part 0 takes one of them.
        assert_eq!(most_entry_parts(&source("contoso-ad"), 1, false), 9_446);
        assert_eq!(most_entry_parts(&source("contoso-ad"), 1, true), 9_445);
        // Short names: the four-digit part numbers bound it, part 0 or not.
        assert_eq!(most_entry_parts(&source("a"), 1, false), 9_999);
        assert_eq!(most_entry_parts(&source("a"), 1, true), 9_999);
        let long = "s".repeat(64);
        assert_eq!(
            most_entry_parts(&source(&long), i64::MAX as u64, true),
            6_025
        );
    }

    #[test]
    fn the_last_part_an_export_may_close_early_leaves_room_for_the_one_after_it() {
        let contoso = SourceId::parse("contoso-ad").unwrap();
        // Parts 1 to 9,445 closed early, the last written at the end as 9,446.
        assert_eq!(closing_part_number(9_444, &contoso, 1, false), Ok(9_445));
        assert_eq!(closing_part_number(9_445, &contoso, 1, false), Err(9_446));
        // With CA material, part 0 takes one line of the index.
        assert_eq!(closing_part_number(9_443, &contoso, 1, true), Ok(9_444));
        assert_eq!(closing_part_number(9_444, &contoso, 1, true), Err(9_445));
        // Short names: part 9,999 is the last, written at the end, never closed early.
        let a = SourceId::parse("a").unwrap();
        assert_eq!(closing_part_number(9_997, &a, 1, false), Ok(9_998));
        assert_eq!(closing_part_number(9_998, &a, 1, false), Err(9_999));
    }
}
