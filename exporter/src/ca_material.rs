//! The CA material an export carries (SPEC.md §6.7): CA certificates and CRLs
//! from the directory's public key services (AD CS publishes them in the
//! configuration partition) and from files the administrator names. Each
//! object travels byte for byte; the bundle describes it and the importer
//! decides what it is worth.

use std::path::Path;

use certferry_format::pki::{PkiAttribute, PkiOrigin};

use crate::source::RawEntry;

/// One CA certificate or CRL, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaObject {
    /// Directory or file.
    pub origin: PkiOrigin,
    /// The directory object's DN, or the file's name.
    pub location: String,
    /// The attribute (directory objects only).
    pub attribute: Option<PkiAttribute>,
    /// Which of the attribute's values, from 1 (1 for a file's first object).
    pub position: usize,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The attributes an LDAP search of the public key services asks for. OpenLDAP
/// hands certificate and CRL syntax values out only under `;binary`; AD and
/// Samba return the plain names.
pub fn requested_attributes() -> Vec<String> {
    PkiAttribute::ALL
        .iter()
        .flat_map(|a| [a.as_str().to_owned(), format!("{};binary", a.as_str())])
        .chain(["objectClass".to_owned()])
        .collect()
}

/// The objects AD CS publishes CA material in (MS-ADSC 2.16, 2.28; AD's
/// pKIEnrollmentService), as an LDAP filter.
pub const FILTER: &str = "(|(objectClass=certificationAuthority)(objectClass=cRLDistributionPoint)(objectClass=pKIEnrollmentService))";

/// The container under the configuration naming context that holds them.
pub fn public_key_services(configuration_nc: &str) -> String {
    format!("CN=Public Key Services,CN=Services,{configuration_nc}")
}

/// The CA material values of a directory object, in attribute order then
/// server order; empty when the object holds none.
pub fn from_entry(raw: &RawEntry) -> Vec<CaObject> {
    let mut out = Vec::new();
    for attribute in PkiAttribute::ALL {
        for (i, value) in raw.values(attribute.as_str()).iter().enumerate() {
            out.push(CaObject {
                origin: PkiOrigin::Directory,
                location: raw.dn.clone(),
                attribute: Some(attribute),
                position: i + 1,
                bytes: value.clone(),
            });
        }
    }
    out
}

/// What a file given with `--pki-ca-file` or `--pki-crl-file` must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// CA certificates: PEM `CERTIFICATE` blocks, or one DER certificate.
    Certificates,
    /// CRLs: PEM `X509 CRL` blocks, or one DER CRL.
    Crls,
}

impl FileKind {
    fn pem_label(self) -> &'static str {
        match self {
            FileKind::Certificates => "CERTIFICATE",
            FileKind::Crls => "X509 CRL",
        }
    }

    fn what(self) -> &'static str {
        match self {
            FileKind::Certificates => "a certificate",
            FileKind::Crls => "a CRL",
        }
    }
}

/// Reads a file of CA certificates or CRLs: every PEM block of the expected
/// label, in order, each one object (the DER inside travels, not the PEM
/// text), or the whole file as one DER object. Anything else, private key
/// material included, is refused with a message naming the file; nothing of
/// the file's content is in the message.
pub fn from_file(path: &Path, kind: FileKind) -> Result<Vec<CaObject>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(what) = certferry_format::cert::find_private_key_material(&bytes) {
        return Err(format!(
            "{}: holds private key material ({what}); it is not read, and never carried",
            path.display()
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let object = |position: usize, bytes: Vec<u8>| CaObject {
        origin: PkiOrigin::File,
        location: name.clone(),
        attribute: None,
        position,
        bytes,
    };
    let expected = |b: &[u8]| {
        let d = certferry_format::pki::describe_pki(b);
        matches!(
            (kind, d.kind),
            (
                FileKind::Certificates,
                certferry_format::pki::PkiKind::Certificate
            ) | (FileKind::Crls, certferry_format::pki::PkiKind::Crl)
        )
    };
    if bytes.starts_with(b"-----BEGIN ") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let mut out = Vec::new();
        let blocks = certferry_format::pki::pem_blocks(&bytes)
            .map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        for (n, (label, contents)) in blocks.into_iter().enumerate() {
            if label != kind.pem_label() {
                return Err(format!(
                    "{} PEM block {} is a {label:?}, not a {:?}",
                    path.display(),
                    n + 1,
                    kind.pem_label()
                ));
            }
            if !expected(&contents) {
                return Err(format!(
                    "{} PEM block {} is not {} in DER",
                    path.display(),
                    n + 1,
                    kind.what()
                ));
            }
            out.push(object(n + 1, contents));
        }
        if out.is_empty() {
            return Err(format!("{}: no {} block", path.display(), kind.pem_label()));
        }
        return Ok(out);
    }
    if !expected(&bytes) {
        return Err(format!(
            "{}: neither PEM nor {} in DER",
            path.display(),
            kind.what()
        ));
    }
    Ok(vec![object(1, bytes)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/pki")
            .join(rel)
    }

    #[test]
    fn a_pem_chain_is_one_object_per_certificate_carried_as_der() {
        let objects = from_file(&fixture("ca/chain.pem"), FileKind::Certificates).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(
            objects[0].bytes,
            std::fs::read(fixture("ca/issuing-ca.der")).unwrap()
        );
        assert_eq!(
            objects[1].bytes,
            std::fs::read(fixture("ca/root-ca.der")).unwrap()
        );
        assert_eq!(objects[1].location, "chain.pem");
        assert_eq!(objects[1].position, 2);
    }

    #[test]
    fn der_and_pem_crls_read_alike() {
        let der = from_file(&fixture("crl/issuing-ca.der"), FileKind::Crls).unwrap();
        let pem = from_file(&fixture("crl/issuing-ca.pem"), FileKind::Crls).unwrap();
        assert_eq!(der[0].bytes, pem[0].bytes);
    }

    #[test]
    fn a_file_of_the_wrong_kind_or_with_a_key_is_refused_by_name() {
        let e = from_file(&fixture("crl/issuing-ca.pem"), FileKind::Certificates).unwrap_err();
        assert!(e.contains("X509 CRL"), "{e}");
        let e = from_file(&fixture("ca/root-ca.der"), FileKind::Crls).unwrap_err();
        assert!(e.contains("neither PEM nor a CRL"), "{e}");
        for key in ["hostile/cert-and-key.pem", "hostile/key-pkcs8.der"] {
            let e = from_file(&fixture(key), FileKind::Certificates).unwrap_err();
            assert!(e.contains("private key"), "{e}");
            assert!(!e.contains("MII"), "no key bytes in the message: {e}");
        }
    }

    #[test]
    fn an_empty_or_truncated_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crl");
        std::fs::write(&empty, b"").unwrap();
        let e = from_file(&empty, FileKind::Crls).unwrap_err();
        assert!(
            e.contains("empty.crl") && e.contains("neither PEM nor a CRL"),
            "{e}"
        );
        let crl = std::fs::read(fixture("crl/issuing-ca.der")).unwrap();
        let cut = dir.path().join("cut.crl");
        std::fs::write(&cut, &crl[..crl.len() / 2]).unwrap();
        let e = from_file(&cut, FileKind::Crls).unwrap_err();
        assert!(e.contains("cut.crl"), "{e}");
        let pem = std::fs::read_to_string(fixture("crl/issuing-ca.pem")).unwrap();
        let cut_pem = dir.path().join("cut.pem");
        std::fs::write(&cut_pem, &pem[..pem.len() / 2]).unwrap();
        assert!(from_file(&cut_pem, FileKind::Crls).is_err());
    }

    #[test]
    fn a_directory_object_gives_its_values_per_attribute_in_server_order() {
        let mut raw = RawEntry {
            dn: "CN=CA,CN=AIA,CN=Public Key Services".into(),
            ..RawEntry::default()
        };
        raw.push("cACertificate;binary", b"one".to_vec());
        raw.push("CACERTIFICATE", b"two".to_vec());
        raw.push("certificateRevocationList", vec![0]);
        raw.push("userCertificate", b"not CA material".to_vec());
        let objects = from_entry(&raw);
        let got: Vec<(Option<PkiAttribute>, usize, &[u8])> = objects
            .iter()
            .map(|o| (o.attribute, o.position, o.bytes.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(PkiAttribute::CaCertificate), 1, &b"one"[..]),
                (Some(PkiAttribute::CaCertificate), 2, &b"two"[..]),
                (Some(PkiAttribute::CertificateRevocationList), 1, &[0][..]),
            ]
        );
        assert!(from_entry(&RawEntry::default()).is_empty());
    }
}
