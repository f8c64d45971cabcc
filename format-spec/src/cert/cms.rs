//! Finding the certificates in a CMS/PKCS#7 ContentInfo (RFC 5652), DER or
//! BER with indefinite lengths, as Outlook's "Publish to GAL" writes into
//! `userSMIMECertificate`.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType OID (signedData), content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!     version INTEGER, digestAlgorithms SET, encapContentInfo SEQUENCE,
//!     certificates [0] IMPLICIT SET OF CertificateChoices OPTIONAL,
//!     crls [1] IMPLICIT SET OPTIONAL, signerInfos SET }
//! ```
//!
//! The structure is checked down to that level (each element must be
//! well-formed BER and the ContentInfo must span the whole value); signer
//! infos, digests and signatures are not interpreted.

use std::ops::Range;

use super::ber::{self, Tlv, CONTEXT, TAG_INTEGER, TAG_OID, TAG_SEQUENCE, TAG_SET, UNIVERSAL};

/// The most CertificateChoices accepted in one SignedData; a value with more
/// is unparseable.
pub const MAX_CERTIFICATES: usize = 64;

/// Content octets of the OID 1.2.840.113549.1.7.2 (signedData).
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// What the walk found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Byte ranges of the plain `Certificate` choices, in order.
    pub(crate) certificates: Vec<Range<usize>>,
    /// Why some CertificateChoices were skipped.
    pub(crate) notes: Vec<String>,
}

fn malformed(e: ber::BerError) -> String {
    format!("malformed BER: {e}")
}

fn next_child(it: &mut ber::Children<'_>, what: &str, at: usize) -> Result<Tlv, String> {
    match it.next() {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(malformed(e)),
        None => Err(format!("{what} missing (element at offset {at})")),
    }
}

/// Walks the ContentInfo that must make up all of `value` and returns the
/// certificates of its SignedData.
pub(crate) fn signed_data_certificates(value: &[u8]) -> Result<Found, String> {
    let ci = ber::read(value, 0, value.len(), 0).map_err(malformed)?;
    if !ci.is(UNIVERSAL, true, TAG_SEQUENCE) {
        return Err("does not start with a SEQUENCE".to_owned());
    }
    if ci.end != value.len() {
        return Err(format!(
            "{} trailing bytes after the ContentInfo",
            value.len() - ci.end
        ));
    }
    let d0 = u32::from(ci.indefinite);
    let mut it = ber::children(value, &ci, 0);
    let ctype = next_child(&mut it, "ContentInfo contentType", ci.start)?;
    if !ctype.is(UNIVERSAL, false, TAG_OID) {
        return Err("ContentInfo does not start with an OBJECT IDENTIFIER".to_owned());
    }
    if ctype.content(value) != OID_SIGNED_DATA {
        return Err(format!(
            "ContentInfo type is {}, not signedData (1.2.840.113549.1.7.2)",
            ber::oid_to_string(ctype.content(value))
        ));
    }
    let explicit = next_child(&mut it, "ContentInfo content", ci.start)?;
    if !explicit.is(CONTEXT, true, 0) {
        return Err("ContentInfo content is not [0] EXPLICIT".to_owned());
    }
    if let Some(extra) = it.next() {
        let at = extra.map_or_else(|e| e.at, |t| t.start);
        return Err(format!("unexpected element in ContentInfo at offset {at}"));
    }

    let d1 = d0 + u32::from(explicit.indefinite);
    let mut it = ber::children(value, &explicit, d0);
    let sd = next_child(&mut it, "SignedData", explicit.start)?;
    if !sd.is(UNIVERSAL, true, TAG_SEQUENCE) {
        return Err("SignedData is not a SEQUENCE".to_owned());
    }
    if it.next().is_some() {
        return Err("more than one element in ContentInfo content".to_owned());
    }

    let d2 = d1 + u32::from(sd.indefinite);
    let mut it = ber::children(value, &sd, d1);
    let version = next_child(&mut it, "SignedData version", sd.start)?;
    if !version.is(UNIVERSAL, false, TAG_INTEGER) {
        return Err("SignedData version is not an INTEGER".to_owned());
    }
    let digests = next_child(&mut it, "SignedData digestAlgorithms", sd.start)?;
    if !digests.is(UNIVERSAL, true, TAG_SET) {
        return Err("SignedData digestAlgorithms is not a SET".to_owned());
    }
    let encap = next_child(&mut it, "SignedData encapContentInfo", sd.start)?;
    if !encap.is(UNIVERSAL, true, TAG_SEQUENCE) {
        return Err("SignedData encapContentInfo is not a SEQUENCE".to_owned());
    }
    let mut next = next_child(&mut it, "SignedData signerInfos", sd.start)?;
    let mut certs = None;
    if next.is(CONTEXT, true, 0) {
        certs = Some(next);
        next = next_child(&mut it, "SignedData signerInfos", sd.start)?;
    }
    if next.is(CONTEXT, true, 1) {
        next = next_child(&mut it, "SignedData signerInfos", sd.start)?;
    }
    if !next.is(UNIVERSAL, true, TAG_SET) {
        return Err(format!(
            "unexpected element in SignedData at offset {}",
            next.start
        ));
    }
    if let Some(extra) = it.next() {
        let at = extra.map_or_else(|e| e.at, |t| t.start);
        return Err(format!(
            "unexpected element after signerInfos at offset {at}"
        ));
    }

    let mut found = Found::default();
    let Some(certs) = certs else {
        return Ok(found);
    };
    for (n, choice) in ber::children(value, &certs, d2).enumerate() {
        let choice = choice.map_err(malformed)?;
        if n >= MAX_CERTIFICATES {
            return Err(format!(
                "more than {MAX_CERTIFICATES} certificates in the SignedData"
            ));
        }
        if !choice.is(UNIVERSAL, true, TAG_SEQUENCE) {
            found.notes.push(format!(
                "skipped a non-X.509 certificate choice (tag [{}]) at offset {}",
                choice.tag, choice.start
            ));
        } else if choice.indefinite {
            found.notes.push(format!(
                "skipped a certificate at offset {} encoded with an indefinite length (not DER)",
                choice.start
            ));
        } else {
            found.certificates.push(choice.range());
        }
    }
    Ok(found)
}
