//! What the state database stores, as Rust types: imports, their signers,
//! recipients and values, and what `status` and `history` read back.

use certferry_format::{Sha256, Timestamp};
use serde::Serialize;

use crate::certpolicy::Evaluation;

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

/// An import to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
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
    /// Every entry of the bundle, with the values written.
    pub recipients: Vec<RecipientRecord>,
}

impl NewImport {
    /// What to record for a verified, evaluated bundle: every entry, and of
    /// its values those the policy accepted (the values that are written).
    pub fn from_verified(
        bundle: &crate::certpolicy::JudgedBundle,
        evaluation: &Evaluation<'_>,
        imported_at: Timestamp,
        review_sha256: Option<String>,
    ) -> Self {
        let h = bundle.header();
        let mut seen = std::collections::BTreeSet::new();
        let recipients = evaluation
            .entries()
            .iter()
            // A duplicated identity is refused as a whole after its first entry.
            .filter(|e| seen.insert(e.key().to_owned()))
            .map(|e| RecipientRecord {
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
            })
            .collect();
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
            recipients,
        }
    }
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
