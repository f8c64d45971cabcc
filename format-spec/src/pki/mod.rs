//! The CA material a bundle may carry (SPEC.md §6.7, revision 1.3): CA
//! certificates and CRLs read from the directory's public key services or
//! given to the exporter as files, each recorded byte for byte in
//! `data/pki/NNNNNNNN.bin` and described by one line of `data/pki.jsonl`.
//!
//! Every description is a function of the bytes ([`PkiRecord::describe`]),
//! re-derived by the verifier; the importer decides what the material is
//! worth (a pinned anchor, a helper, a CRL it can use) against its own policy.

pub mod crl;
pub mod revocation;

use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::canonical_json::CanonicalJson;
use crate::model::clamp_time as clamp;
use crate::timestamp::Timestamp;
use crate::{err, Result};
pub use crl::CrlInfo;

/// Where a PKI object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkiOrigin {
    /// An attribute value of a directory object (`location` is its DN).
    Directory,
    /// A file given to the exporter (`location` is the file's name).
    File,
}

/// The directory attributes that hold CA material (MS-ADSC certificationAuthority,
/// cRLDistributionPoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PkiAttribute {
    /// `cACertificate` (2.5.4.37).
    #[serde(rename = "cACertificate")]
    CaCertificate,
    /// `crossCertificatePair` (2.5.4.40).
    #[serde(rename = "crossCertificatePair")]
    CrossCertificatePair,
    /// `certificateRevocationList` (2.5.4.39).
    #[serde(rename = "certificateRevocationList")]
    CertificateRevocationList,
    /// `deltaRevocationList` (2.5.4.53).
    #[serde(rename = "deltaRevocationList")]
    DeltaRevocationList,
    /// `authorityRevocationList` (2.5.4.38).
    #[serde(rename = "authorityRevocationList")]
    AuthorityRevocationList,
}

impl PkiAttribute {
    /// Every attribute, in the order the exporter requests them.
    pub const ALL: [PkiAttribute; 5] = [
        PkiAttribute::CaCertificate,
        PkiAttribute::CrossCertificatePair,
        PkiAttribute::CertificateRevocationList,
        PkiAttribute::DeltaRevocationList,
        PkiAttribute::AuthorityRevocationList,
    ];

    /// The LDAP attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            PkiAttribute::CaCertificate => "cACertificate",
            PkiAttribute::CrossCertificatePair => "crossCertificatePair",
            PkiAttribute::CertificateRevocationList => "certificateRevocationList",
            PkiAttribute::DeltaRevocationList => "deltaRevocationList",
            PkiAttribute::AuthorityRevocationList => "authorityRevocationList",
        }
    }

    /// The attribute with this name, ignoring ASCII case and a `;binary`
    /// transfer option (RFC 4522).
    pub fn from_name(name: &str) -> Option<PkiAttribute> {
        let base = name.split(';').next().unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(base))
    }
}

/// What a PKI object's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkiKind {
    /// Exactly one DER X.509 certificate.
    Certificate,
    /// Exactly one DER CRL.
    Crl,
    /// Anything else (a placeholder, a certificate pair, garbage).
    Unparseable,
}

impl PkiKind {
    /// The word `pki.jsonl` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PkiKind::Certificate => "certificate",
            PkiKind::Crl => "crl",
            PkiKind::Unparseable => "unparseable",
        }
    }
}

/// One line of `data/pki.jsonl` (SPEC.md §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiRecord {
    /// Where the object came from.
    pub origin: PkiOrigin,
    /// The directory object's DN, or the file's name.
    pub location: String,
    /// The attribute it was a value of; `None` for a file.
    pub attribute: Option<PkiAttribute>,
    /// Its payload file, `data/pki/NNNNNNNN.bin` (assigned by the writer).
    pub file: String,
    /// What its bytes are.
    pub kind: PkiKind,
    /// The certificate's description, for `kind` `certificate`.
    pub certificate: Option<CaRecord>,
    /// The CRL's description, for `kind` `crl`.
    pub crl: Option<CrlRecord>,
}

/// What a bundle records of a CA certificate. Validity, CA flags and key
/// identifiers are for reviewers; the importer decides trust itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaRecord {
    /// SHA-1 thumbprint, 40 hex digits (what Windows shows).
    pub sha1: String,
    /// Subject, SPEC.md §6.3 form.
    pub subject: String,
    /// Issuer, SPEC.md §6.3 form.
    pub issuer: String,
    /// Serial, SPEC.md §6.3 form.
    pub serial: String,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// keyUsage bits by RFC 5280 name; `None` when absent.
    pub key_usage: Option<Vec<String>>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// subjectKeyIdentifier, hex.
    pub subject_key_id: Option<String>,
    /// authorityKeyIdentifier keyIdentifier, hex.
    pub authority_key_id: Option<String>,
}

/// What a bundle records of a CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlRecord {
    /// Issuer, SPEC.md §6.3 form.
    pub issuer: String,
    /// cRLNumber, written as a serial; `None` when absent.
    pub number: Option<String>,
    /// deltaCRLIndicator's BaseCRLNumber; `None` for a complete CRL.
    pub delta_base: Option<String>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate; `None` when absent.
    pub next_update: Option<Timestamp>,
    /// authorityKeyIdentifier keyIdentifier, hex.
    pub authority_key_id: Option<String>,
    /// Number of revoked-certificate entries.
    pub entries: u64,
}

impl CanonicalJson for PkiRecord {
    fn write_json(&self, out: &mut Vec<u8>) {
        // At most a few thousand lines a bundle: serde is fine here. Writing
        // into a Vec cannot fail and every field serialises.
        let _ = serde_json::to_writer(out, self);
    }
}

/// What a PKI object's bytes are, described (the parts of a [`PkiRecord`]
/// that are a function of the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiDescription {
    /// What the bytes are.
    pub kind: PkiKind,
    /// For a certificate.
    pub certificate: Option<CaRecord>,
    /// For a CRL.
    pub crl: Option<CrlRecord>,
}

/// Describes PKI bytes (SPEC.md §6.7): exactly one DER certificate, else
/// exactly one DER CRL, else unparseable. Never panics.
pub fn describe_pki(bytes: &[u8]) -> PkiDescription {
    if let Some(certificate) = describe_certificate(bytes) {
        return PkiDescription {
            kind: PkiKind::Certificate,
            certificate: Some(certificate),
            crl: None,
        };
    }
    if let Some(info) = CrlInfo::parse(bytes) {
        return PkiDescription {
            kind: PkiKind::Crl,
            certificate: None,
            crl: Some(CrlRecord {
                issuer: info.issuer,
                number: info.number,
                delta_base: info.delta_base,
                this_update: clamp(info.this_update),
                next_update: info.next_update.map(clamp),
                authority_key_id: info.authority_key_id,
                entries: info.revoked.len() as u64,
            }),
        };
    }
    PkiDescription {
        kind: PkiKind::Unparseable,
        certificate: None,
        crl: None,
    }
}

fn describe_certificate(bytes: &[u8]) -> Option<CaRecord> {
    let cert = match X509Certificate::from_der(bytes) {
        Ok(([], cert)) => cert,
        _ => return None,
    };
    let info = crate::cert::inspect::inspect(bytes, 0..bytes.len(), None, &cert).ok()?;
    let path_len = match cert.basic_constraints() {
        Ok(bc) => bc.and_then(|bc| bc.value.path_len_constraint),
        Err(_) => return None,
    };
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => {
                subject_key_id = Some(crate::hex::encode_lower(k.0));
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki
                    .key_identifier
                    .as_ref()
                    .map(|k| crate::hex::encode_lower(k.0));
            }
            _ => {}
        }
    }
    Some(CaRecord {
        sha1: info.sha1_hex(),
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        not_before: clamp(info.not_before),
        not_after: clamp(info.not_after),
        key_usage: info
            .key_usage
            .map(|ku| ku.iter().map(|u| u.as_str().to_owned()).collect()),
        is_ca: info.is_ca,
        path_len,
        subject_key_id,
        authority_key_id,
    })
}

/// The blocks of a PEM file, each its label and decoded bytes, in order.
/// Fails with class `key` on a block that does not decode.
pub fn pem_blocks(pem: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .enumerate()
        .map(|(n, block)| {
            block
                .map(|b| (b.label, b.contents))
                .map_err(|e| err!(Key, "PEM block {}: {e}", n + 1))
        })
        .collect()
}

impl PkiRecord {
    /// The record of PKI bytes from `origin` at `location` (a DN or a file
    /// name), as an attribute value (`Some`) or a file (`None`). The writer
    /// assigns `file`.
    pub fn describe(
        origin: PkiOrigin,
        location: &str,
        attribute: Option<PkiAttribute>,
        bytes: &[u8],
    ) -> Self {
        let d = describe_pki(bytes);
        Self {
            origin,
            location: location.to_owned(),
            attribute,
            file: String::new(),
            kind: d.kind,
            certificate: d.certificate,
            crl: d.crl,
        }
    }

    /// Whether the parts that describe the bytes are what `d` says.
    pub fn describes(&self, d: &PkiDescription) -> bool {
        self.kind == d.kind && self.certificate == d.certificate && self.crl == d.crl
    }

    /// Checks the rules of SPEC.md §6.7 that are not about the bytes: a
    /// directory object names its attribute and a file does not, the
    /// location is text without control characters.
    pub fn check_grammar(&self) -> Result<()> {
        match (self.origin, self.attribute) {
            (PkiOrigin::Directory, None) => {
                return Err(err!(Content, "a directory object must name its attribute"))
            }
            (PkiOrigin::File, Some(_)) => return Err(err!(Content, "a file has no attribute")),
            _ => {}
        }
        if self.location.is_empty() {
            return Err(err!(Content, "location is empty"));
        }
        if let Some(c) = self.location.chars().find(|c| c.is_control()) {
            return Err(err!(
                Content,
                "location contains control character U+{:04X}",
                u32::from(c)
            ));
        }
        if self.origin == PkiOrigin::File && self.location.contains(['/', '\\']) {
            return Err(err!(
                Content,
                "a file's location is its name, without a directory"
            ));
        }
        Ok(())
    }

    /// A short name for messages: the certificate's subject, the CRL's
    /// issuer, or the location.
    pub fn label(&self) -> String {
        match (&self.certificate, &self.crl) {
            (Some(c), _) => format!("CA certificate {}", c.subject),
            (_, Some(c)) => format!("CRL of {}", c.issuer),
            _ => format!("unparseable object at {}", self.location),
        }
    }
}
