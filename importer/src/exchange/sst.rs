//! The serialized certificate store (SST) that Exchange Online's
//! `Set-SmimeConfig -SMIMECertificateIssuingCA` takes: the root and
//! intermediate CA certificates it validates S/MIME certificates against.
//!
//! Layout (MS-OSHARED 2.3.9.1 and 2.3.2.5; all integers little-endian u32):
//! a header `version = 0, fileType = "CERT"`, then one element per
//! certificate `id = 0x20 (CERT_CERT_PROP_ID), encodingType = 1, length,
//! DER`, then the end marker: 12 zero bytes. This is the minimal form that
//! `CertSaveStore(CERT_STORE_SAVE_AS_STORE)` itself writes for a certificate
//! without properties; no property elements, no CRLs. Certificates are
//! written once each (by SHA-256 of the DER), in the order given.

use certferry_format::Sha256;

/// `version` (u32 0) then `fileType` "CERT".
const HEADER: [u8; 8] = [0, 0, 0, 0, b'C', b'E', b'R', b'T'];
/// CERT_CERT_PROP_ID: the element holding a certificate's DER.
const CERT_ELEMENT: u32 = 0x20;
/// encodingType: X509_ASN_ENCODING.
const ASN1_ENCODING: u32 = 1;
/// The end marker: id 0 and a u64 0.
const END: [u8; 12] = [0; 12];

/// An SST holding `certificates` (DER), each once, in the order given.
/// `None` when a certificate is larger than an element can say (4 GiB).
pub fn write(certificates: &[&[u8]]) -> Option<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = HEADER.to_vec();
    for der in certificates {
        if !seen.insert(Sha256::digest(der)) {
            continue;
        }
        let len = u32::try_from(der.len()).ok()?;
        out.extend_from_slice(&CERT_ELEMENT.to_le_bytes());
        out.extend_from_slice(&ASN1_ENCODING.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(der);
    }
    out.extend_from_slice(&END);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_certificate_is_the_minimal_store_windows_writes() {
        // Wine's serializedStoreWithCert: header, one 0x20 element, 12 zero bytes.
        let der = [0x30, 0x03, 0x02, 0x01, 0x01];
        let sst = write(&[&der]).unwrap_or_default();
        let mut want = vec![0, 0, 0, 0, 0x43, 0x45, 0x52, 0x54];
        want.extend_from_slice(&[0x20, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]);
        want.extend_from_slice(&der);
        want.extend_from_slice(&[0; 12]);
        assert_eq!(sst, want);
    }

    #[test]
    fn a_certificate_given_twice_is_written_once_and_none_is_an_empty_store() {
        let der = [0x30, 0x00];
        assert_eq!(write(&[&der, &der]), write(&[&der]));
        assert_eq!(
            write(&[]).unwrap_or_default(),
            [HEADER.as_slice(), END.as_slice()].concat()
        );
    }
}
