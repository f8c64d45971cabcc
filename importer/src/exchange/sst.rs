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

/// The certificates (DER) of a store, in order: the header, then elements
/// until the end marker; a certificate element (id 0x20) must have
/// encodingType 1, every other element (properties, CRLs, CTLs, as
/// `Export-Certificate -Type SST` may write) is skipped by its length, as
/// zcrypto's reader of Microsoft's own stores does. Nothing may follow the
/// end marker. Reads what the tenant returns, which certferry did not write.
pub fn read(sst: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let word = |at: usize| -> Option<u32> {
        let b = sst.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if sst.get(..HEADER.len()) != Some(&HEADER[..]) {
        return Err("not a serialized certificate store (no version-0 \"CERT\" header)".into());
    }
    let mut at = HEADER.len();
    let mut out = Vec::new();
    loop {
        let id = word(at).ok_or("the store ends before its end marker")?;
        if id == 0 {
            if sst.get(at..at + END.len()) != Some(&END[..]) {
                return Err("the end marker is not 12 zero bytes".into());
            }
            let rest = sst.len() - (at + END.len());
            if rest > 0 {
                return Err(format!("{rest} bytes follow the end marker"));
            }
            return Ok(out);
        }
        let encoding = word(at + 4).ok_or("an element header is cut short")?;
        let len = word(at + 8).ok_or("an element header is cut short")? as usize;
        let start = at + 12;
        let value = start
            .checked_add(len)
            .and_then(|end| sst.get(start..end))
            .ok_or("an element runs past the end of the store")?;
        if id == CERT_ELEMENT {
            if encoding != ASN1_ENCODING {
                return Err(format!(
                    "a certificate element has encodingType {encoding}, not 1 (ASN.1)"
                ));
            }
            out.push(value.to_vec());
        }
        at = start + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_other_elements_are_skipped() {
        let a = [0x30, 0x03, 0x02, 0x01, 0x01];
        let b = [0x30, 0x03, 0x02, 0x01, 0x02];
        let sst = write(&[&a, &b]).unwrap_or_default();
        assert_eq!(read(&sst), Ok(vec![a.to_vec(), b.to_vec()]));
        // A property element (id 3, SHA-1 hash) before the certificate, as
        // Export-Certificate may write: skipped.
        let mut with_property = HEADER.to_vec();
        with_property.extend_from_slice(&[3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xaa, 0xbb]);
        with_property.extend_from_slice(&sst[8..]);
        assert_eq!(read(&with_property), Ok(vec![a.to_vec(), b.to_vec()]));
        for bad in [
            &sst[..sst.len() - 1],
            &[&sst[..], &[0][..]].concat()[..],
            &sst[4..],
            &b""[..],
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
        let mut other_encoding = sst.clone();
        other_encoding[12] = 2;
        assert!(read(&other_encoding).is_err());
    }

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
