//! What the state database stores, as Rust types: imports, their signers,
//! recipients and values, and what `status` and `history` read back.

use certferry_format::{Sha256, Timestamp};
use serde::Serialize;

use crate::certpolicy::EntryEvaluation;

/// A signer as recorded with an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignerRecord {
    /// Name from the policy.
    pub name: String,
    /// Role.
    pub role: String,
    /// minisign key id.
    pub key_id: String,
}

/// A certificate value written for a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueRecord {
    /// `userCertificate` or `userSMIMECertificate`.
    pub attribute: String,
    /// SHA-256 of the value bytes.
    pub value_sha256: String,
    /// SHA-256 of the certificate.
    pub cert_sha256: Option<String>,
    /// SHA-1 thumbprint, uppercase.
    pub cert_sha1: Option<String>,
    /// Subject DN.
    pub subject: Option<String>,
    /// Issuer DN.
    pub issuer: Option<String>,
    /// notAfter.
    pub not_after: Option<String>,
}

/// A recipient of an import and the values written for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientRecord {
    /// objectGUID, else the lowercased DN.
    pub key: String,
    /// `user` or `contact`.
    pub kind: String,
    /// UPN, mail, sAMAccountName or DN.
    pub label: String,
    /// DN.
    pub dn: String,
    /// SMTP addresses, lowercased, sorted.
    pub addresses: Vec<String>,
    /// The values written (accepted by policy), per attribute in bundle order.
    pub values: Vec<ValueRecord>,
}

/// An import to record: what identifies it, and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
    /// The import itself.
    pub head: ImportHead,
    /// Every entry of the bundle, with the values written.
    pub recipients: Vec<RecipientRecord>,
}

/// What identifies an import to record, besides its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportHead {
    /// Source id.
    pub source: String,
    /// Sequence number.
    pub sequence: u64,
    /// SHA-256 of the bundle file.
    pub bundle_sha256: Sha256,
    /// The bundle's creation time.
    pub created: Timestamp,
    /// The bundle's expiry.
    pub expires: Timestamp,
    /// When the import completed.
    pub imported_at: Timestamp,
    /// SHA-256 of the review report the reviewer read (the CSV report).
    pub review_sha256: Option<String>,
    /// The signatures that counted.
    pub signers: Vec<SignerRecord>,
}

impl ImportHead {
    /// The head of an import of a verified bundle.
    pub fn of(
        bundle: &crate::certpolicy::JudgedBundle,
        imported_at: Timestamp,
        review_sha256: Option<String>,
    ) -> Self {
        let h = bundle.header();
        Self {
            source: h.source.to_string(),
            sequence: h.sequence,
            bundle_sha256: bundle.sha256(),
            created: h.created,
            expires: h.expires,
            imported_at,
            review_sha256,
            signers: bundle
                .signers()
                .iter()
                .map(|s| SignerRecord {
                    name: s.name.clone(),
                    role: s.role.to_string(),
                    key_id: s.key_id.to_string(),
                })
                .collect(),
        }
    }
}

impl RecipientRecord {
    /// What is recorded of one evaluated entry: its identity and addresses,
    /// and of its values those the policy accepted (the values written).
    pub fn of(e: &EntryEvaluation<'_>) -> Self {
        RecipientRecord {
            key: e.key().to_owned(),
            kind: e.kind().as_str().to_owned(),
            label: e.label().to_owned(),
            dn: e.dn().to_owned(),
            addresses: e.addresses().to_vec(),
            values: e
                .values()
                .iter()
                .filter(|v| v.accepted())
                .map(|v| ValueRecord {
                    attribute: v.attribute().as_str().to_owned(),
                    value_sha256: v.sha256().to_owned(),
                    cert_sha256: v.certificate().map(|c| c.sha256.clone()),
                    cert_sha1: v.certificate().map(|c| c.sha1.clone()),
                    subject: v.certificate().map(|c| c.subject.clone()),
                    issuer: v.certificate().map(|c| c.issuer.clone()),
                    not_after: v.certificate().map(|c| c.not_after.clone()),
                })
                .collect(),
        }
    }
}

/// An import just recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its id in the state database.
    pub id: i64,
    /// Entries recorded (an entry repeating an earlier identity is not).
    pub entries: usize,
    /// Values recorded as written.
    pub values: usize,
}

/// Why an import of a verified bundle could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The state database refused it (the transaction was rolled back).
    #[error(transparent)]
    State(#[from] super::StateError),
    /// The verdicts could not be read back.
    #[error(transparent)]
    Spool(#[from] crate::certpolicy::SpoolError),
}

/// Records the import of a verified bundle in one transaction, reading its
/// verdicts one entry at a time: every entry except one repeating an
/// earlier identity (refused whole), and of its values those accepted.
pub fn record_verified(
    db: &mut super::StateDb,
    bundle: &crate::certpolicy::JudgedBundle,
    head: &ImportHead,
) -> Result<Recorded, RecordError> {
    db.record_import_from(head, |put| {
        crate::certpolicy::for_each_entry(bundle, |e| {
            if e.repeats().is_none() {
                put(&RecipientRecord::of(e))?;
            }
            Ok::<(), RecordError>(())
        })
        .map(|_| ())
    })
}

/// A recorded import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRecord {
    /// Row id (import number).
    pub id: i64,
    /// Source id.
    pub source: String,
    /// Sequence.
    pub sequence: u64,
    /// Bundle SHA-256.
    pub bundle_sha256: String,
    /// Bundle creation time.
    pub created: String,
    /// Bundle expiry.
    pub expires: String,
    /// When the import completed.
    pub imported_at: String,
    /// SHA-256 of the review report.
    pub review_sha256: Option<String>,
    /// Signers.
    pub signers: Vec<SignerRecord>,
    /// Number of recipients.
    pub entries: u64,
    /// Number of values written.
    pub values_written: u64,
}

/// A source's replay state and last import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// Source id.
    pub source: String,
    /// Last imported sequence.
    pub last_sequence: u64,
    /// Its SHA-256.
    pub last_sha256: String,
    /// Its creation time.
    pub last_created: String,
    /// When it was imported.
    pub last_imported_at: String,
}

/// One import in a recipient's or certificate's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    /// The import.
    pub import: ImportRecord,
    /// The matching recipients in it (empty: not present in this import).
    pub recipients: Vec<RecipientRecord>,
}
