//! What certferry reads out of one X.509 certificate ([`CertInfo`]).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_EXTENDED_KEY_USAGE};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::ber;
use crate::ids::Sha256;
use crate::{err, Error, Result};

/// The OID of the emailProtection extended key usage.
pub const EKU_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";

/// The algorithm family of a certificate's subject public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// rsaEncryption (1.2.840.113549.1.1.1) or RSASSA-PSS (1.2.840.113549.1.1.10).
    Rsa,
    /// id-ecPublicKey (1.2.840.10045.2.1).
    Ec,
    /// Ed25519 (1.3.101.112).
    Ed25519,
    /// Ed448 (1.3.101.113).
    Ed448,
    /// DSA (1.2.840.10040.4.1).
    Dsa,
    /// Any other algorithm.
    Other,
}

impl KeyType {
    /// All key types, in declaration order.
    pub const ALL: [KeyType; 6] = [
        Self::Rsa,
        Self::Ec,
        Self::Ed25519,
        Self::Ed448,
        Self::Dsa,
        Self::Other,
    ];

    /// `"rsa"`, `"ec"`, `"ed25519"`, `"ed448"`, `"dsa"` or `"other"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ec => "ec",
            Self::Ed25519 => "ed25519",
            Self::Ed448 => "ed448",
            Self::Dsa => "dsa",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| err!(Content, "unknown key type {s:?}"))
    }
}

/// One bit of the keyUsage extension (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyUsage {
    /// digitalSignature (bit 0).
    DigitalSignature,
    /// nonRepudiation, also called contentCommitment (bit 1).
    NonRepudiation,
    /// keyEncipherment (bit 2).
    KeyEncipherment,
    /// dataEncipherment (bit 3).
    DataEncipherment,
    /// keyAgreement (bit 4).
    KeyAgreement,
    /// keyCertSign (bit 5).
    KeyCertSign,
    /// cRLSign (bit 6).
    CrlSign,
    /// encipherOnly (bit 7).
    EncipherOnly,
    /// decipherOnly (bit 8).
    DecipherOnly,
}

impl KeyUsage {
    /// All usages, in bit order.
    pub const ALL: [KeyUsage; 9] = [
        Self::DigitalSignature,
        Self::NonRepudiation,
        Self::KeyEncipherment,
        Self::DataEncipherment,
        Self::KeyAgreement,
        Self::KeyCertSign,
        Self::CrlSign,
        Self::EncipherOnly,
        Self::DecipherOnly,
    ];

    /// The RFC 5280 name: `"digitalSignature"`, `"nonRepudiation"`,
    /// `"keyEncipherment"`, `"dataEncipherment"`, `"keyAgreement"`,
    /// `"keyCertSign"`, `"cRLSign"`, `"encipherOnly"`, `"decipherOnly"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DigitalSignature => "digitalSignature",
            Self::NonRepudiation => "nonRepudiation",
            Self::KeyEncipherment => "keyEncipherment",
            Self::DataEncipherment => "dataEncipherment",
            Self::KeyAgreement => "keyAgreement",
            Self::KeyCertSign => "keyCertSign",
            Self::CrlSign => "cRLSign",
            Self::EncipherOnly => "encipherOnly",
            Self::DecipherOnly => "decipherOnly",
        }
    }
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyUsage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| err!(Content, "unknown key usage {s:?}"))
    }
}

/// What certferry reads out of one certificate.
///
/// A certificate whose keyUsage, extendedKeyUsage, subjectAltName or
/// basicConstraints extension is malformed or present more than once is not
/// inspected at all (the value it came from reports it as a problem), so the
/// fields below always describe what the certificate really says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Where the certificate's DER lies inside the attribute value (the whole
    /// value for a bare certificate).
    pub der_range: Range<usize>,
    /// SHA-256 thumbprint of the certificate DER.
    pub sha256: Sha256,
    /// SHA-1 thumbprint of the certificate DER (what Windows shows as "Thumbprint").
    pub sha1: [u8; 20],
    /// Subject name in RFC 4514 string form (`CN=Alice,O=Contoso`; see
    /// `cert/dn.rs` for the exact rules, SPEC.md §6.3).
    pub subject: String,
    /// Issuer name, rendered like `subject`.
    pub issuer: String,
    /// Lowercase hex of the serial number's magnitude, big-endian, without
    /// leading zero octets; `"00"` for zero; a negative serial (which RFC 5280
    /// forbids, but which exists) is its magnitude after `-` (SPEC.md §6.3).
    pub serial: String,
    /// notBefore, Unix seconds (UTC).
    pub not_before: i64,
    /// notAfter, Unix seconds (UTC).
    pub not_after: i64,
    /// The subject public key's algorithm family.
    pub key_type: KeyType,
    /// RSA: modulus bits; EC: the curve's size (256 for P-256, 521 for P-521);
    /// Ed25519: 256; Ed448: 448; DSA: bits of p; 0 when unknown.
    pub key_bits: u32,
    /// The keyUsage bits that are set, in bit order; `None` when the extension is absent.
    pub key_usage: Option<Vec<KeyUsage>>,
    /// The extendedKeyUsage purposes as dotted OIDs, in encoding order;
    /// `None` when the extension is absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// subjectAltName rfc822Name values, as written.
    pub rfc822_names: Vec<String>,
    /// basicConstraints cA is true.
    pub is_ca: bool,
    /// The OIDs of critical extensions this implementation does not recognise
    /// (RFC 5280 §4.2: such a certificate MUST be rejected). Not recorded in a
    /// bundle; it feeds the classification.
    pub unrecognised_critical_extensions: Vec<String>,
    /// The outer `signatureAlgorithm` differs from `tbsCertificate.signature`
    /// (RFC 5280 §4.1.1.2: they MUST be the same). Not recorded; it feeds the
    /// classification.
    pub signature_algorithms_differ: bool,
    /// Where the signed parts lie, for the issuer's signature check.
    pub(crate) signed: SignedParts,
}

/// The extensions of RFC 5280 §4.2.1 and §4.2.2, which a certificate may mark
/// critical without being refused (SPEC.md §6.4 `unsupported-critical-extension`).
pub const RECOGNISED_EXTENSIONS: &[&str] = &[
    "2.5.29.35",          // authorityKeyIdentifier
    "2.5.29.14",          // subjectKeyIdentifier
    "2.5.29.15",          // keyUsage
    "2.5.29.32",          // certificatePolicies
    "2.5.29.33",          // policyMappings
    "2.5.29.17",          // subjectAltName
    "2.5.29.18",          // issuerAltName
    "2.5.29.9",           // subjectDirectoryAttributes
    "2.5.29.19",          // basicConstraints
    "2.5.29.30",          // nameConstraints
    "2.5.29.36",          // policyConstraints
    "2.5.29.37",          // extKeyUsage
    "2.5.29.31",          // cRLDistributionPoints
    "2.5.29.54",          // inhibitAnyPolicy
    "2.5.29.46",          // freshestCRL
    "1.3.6.1.5.5.7.1.1",  // authorityInfoAccess
    "1.3.6.1.5.5.7.1.11", // subjectInfoAccess
];

/// Where the parts of a certificate that its issuer signed lie, relative to
/// the certificate's own DER: enough to check the signature later without
/// parsing the certificate again (each certificate is decoded once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SignedParts {
    /// `tbsCertificate`, the signed bytes (the whole element).
    pub(crate) tbs: Range<usize>,
    /// `tbsCertificate.issuer` (the whole Name element).
    pub(crate) issuer: Range<usize>,
    /// The outer `signatureAlgorithm` (the whole AlgorithmIdentifier element).
    pub(crate) algorithm: Range<usize>,
    /// The `signatureValue` BIT STRING's content: the unused-bits octet, then the bits.
    pub(crate) signature: Range<usize>,
    /// `tbsCertificate.signature` has the same bytes as `signatureAlgorithm`
    /// (RFC 5280 §4.1.1.2: they MUST be the same).
    pub(crate) algorithms_equal: bool,
}

impl SignedParts {
    /// Finds the parts in a certificate's DER: `Certificate ::= SEQUENCE {
    /// tbs SEQUENCE { [0] version?, serial, signature AlgorithmIdentifier,
    /// issuer Name, ... }, signatureAlgorithm, signatureValue }`. `None` when
    /// the outline is not there (x509-parser accepted the certificate, so
    /// this only happens for input it reads more leniently than DER).
    pub(crate) fn find(der: &[u8]) -> Option<Self> {
        let cert = ber::read(der, 0, der.len(), 0).ok()?;
        let mut top = ber::children(der, &cert, 0);
        let tbs = top.next()?.ok()?;
        let outer = top.next()?.ok()?;
        let value = top.next()?.ok()?;
        let mut fields = ber::children(der, &tbs, 0);
        let mut inner = None;
        for f in fields.by_ref().take(3) {
            let f = f.ok()?;
            if f.is(ber::UNIVERSAL, true, ber::TAG_SEQUENCE) {
                inner = Some(f);
                break;
            }
        }
        let inner = inner?;
        let issuer = fields.next()?.ok()?;
        let raw = |t: &ber::Tlv| der.get(t.start..t.content_end);
        Some(Self {
            tbs: tbs.start..tbs.content_end,
            issuer: issuer.start..issuer.content_end,
            algorithm: outer.start..outer.content_end,
            signature: value.content_start..value.content_end,
            algorithms_equal: raw(&inner).is_some() && raw(&inner) == raw(&outer),
        })
    }
}

impl CertInfo {
    /// The SHA-1 thumbprint as 40 lowercase hex digits.
    pub fn sha1_hex(&self) -> String {
        crate::hex::encode_lower(&self.sha1)
    }

    /// True when the extendedKeyUsage extension is present and lists
    /// emailProtection (anyExtendedKeyUsage does not count).
    pub fn has_email_protection(&self) -> bool {
        self.extended_key_usage
            .as_ref()
            .is_some_and(|ekus| ekus.iter().any(|o| o == EKU_EMAIL_PROTECTION))
    }
}

/// Parses `value[range]` as exactly one DER certificate.
pub(crate) fn parse_exact(value: &[u8], range: Range<usize>) -> Option<X509Certificate<'_>> {
    let der = value.get(range)?;
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Some(cert),
        _ => None,
    }
}

/// Inspects the certificate `cert`, whose DER is `value[range]`;
/// `whole_sha256` is the SHA-256 of all of `value` when the caller knows it.
/// Fails (with a message) when a relevant extension is malformed or duplicated.
pub(crate) fn inspect(
    value: &[u8],
    range: Range<usize>,
    whole_sha256: Option<Sha256>,
    cert: &X509Certificate<'_>,
) -> std::result::Result<CertInfo, String> {
    use sha1::Digest as _;
    let der = value.get(range.clone()).unwrap_or(&[]);
    let sha256 = match whole_sha256 {
        Some(d) if range == (0..value.len()) => d,
        _ => Sha256::digest(der),
    };
    let sha1: [u8; 20] = sha1::Sha1::digest(der).into();

    let key_usage = match cert.key_usage() {
        Ok(None) => None,
        Ok(Some(ku)) => {
            let v = ku.value;
            let bits = [
                (v.digital_signature(), KeyUsage::DigitalSignature),
                (v.non_repudiation(), KeyUsage::NonRepudiation),
                (v.key_encipherment(), KeyUsage::KeyEncipherment),
                (v.data_encipherment(), KeyUsage::DataEncipherment),
                (v.key_agreement(), KeyUsage::KeyAgreement),
                (v.key_cert_sign(), KeyUsage::KeyCertSign),
                (v.crl_sign(), KeyUsage::CrlSign),
                (v.encipher_only(), KeyUsage::EncipherOnly),
                (v.decipher_only(), KeyUsage::DecipherOnly),
            ];
            Some(bits.iter().filter(|(on, _)| *on).map(|&(_, k)| k).collect())
        }
        Err(e) => return Err(format!("keyUsage extension: {e}")),
    };

    let extended_key_usage = match cert.get_extension_unique(&OID_X509_EXT_EXTENDED_KEY_USAGE) {
        Ok(None) => None,
        Ok(Some(ext)) => match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(_) => Some(eku_oids(ext.value)?),
            _ => return Err("extendedKeyUsage extension is malformed".to_owned()),
        },
        Err(e) => return Err(format!("extendedKeyUsage extension: {e}")),
    };

    let rfc822_names = match cert.subject_alternative_name() {
        Ok(None) => Vec::new(),
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                x509_parser::extensions::GeneralName::RFC822Name(n) => Some((*n).to_owned()),
                _ => None,
            })
            .collect(),
        Err(e) => return Err(format!("subjectAltName extension: {e}")),
    };

    let is_ca = match cert.get_extension_unique(&OID_X509_EXT_BASIC_CONSTRAINTS) {
        Ok(None) => false,
        Ok(Some(ext)) => match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => bc.ca,
            _ => return Err("basicConstraints extension is malformed".to_owned()),
        },
        Err(e) => return Err(format!("basicConstraints extension: {e}")),
    };

    let (key_type, key_bits) = key_type_and_bits(cert.public_key());
    let validity = cert.validity();
    let unrecognised_critical_extensions = cert
        .extensions()
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_id_string())
        .filter(|oid| !RECOGNISED_EXTENSIONS.contains(&oid.as_str()))
        .collect();
    let signed = SignedParts::find(der).unwrap_or_default();
    Ok(CertInfo {
        unrecognised_critical_extensions,
        signature_algorithms_differ: !signed.algorithms_equal,
        signed,
        der_range: range,
        sha256,
        sha1,
        subject: super::dn::rfc4514(cert.subject()),
        issuer: super::dn::rfc4514_cached(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        key_type,
        key_bits,
        key_usage,
        extended_key_usage,
        rfc822_names,
        is_ca,
    })
}

/// The EKU OIDs in encoding order, from the extension's value octets.
fn eku_oids(value: &[u8]) -> std::result::Result<Vec<String>, String> {
    let bad = |e: ber::BerError| format!("extendedKeyUsage extension: {e}");
    let seq = ber::read(value, 0, value.len(), 0).map_err(bad)?;
    let mut out = Vec::new();
    for child in ber::children(value, &seq, 0) {
        let child = child.map_err(bad)?;
        if child.is(ber::UNIVERSAL, false, ber::TAG_OID) {
            out.push(ber::oid_to_string(child.content(value)));
        }
    }
    Ok(out)
}

/// SPEC.md §6.3 `serial`: the magnitude of the DER INTEGER content `raw` in
/// lowercase hex without leading zero octets (`00` for zero), after `-` when
/// it is negative (two's complement, high bit of the first octet set).
pub(crate) fn serial_hex(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let magnitude: Vec<u8> = if negative {
        // Two's complement: invert every octet, then add one.
        let mut m: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        raw.to_vec()
    };
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let mag = &magnitude[start..];
    match (mag.is_empty(), negative) {
        (true, _) => "00".to_owned(),
        (false, true) => format!("-{}", crate::hex::encode_lower(mag)),
        (false, false) => crate::hex::encode_lower(mag),
    }
}

/// Bits of a big-endian unsigned integer (leading zero octets ignored).
fn uint_bits(bytes: &[u8]) -> u32 {
    let start = bytes.iter().position(|&b| b != 0);
    match start.and_then(|s| bytes.get(s..)) {
        Some(mag @ [first, ..]) => {
            let len = u32::try_from(mag.len()).unwrap_or(u32::MAX / 16);
            len.saturating_mul(8).saturating_sub(first.leading_zeros())
        }
        _ => 0,
    }
}

/// Bits of the first INTEGER inside the SEQUENCE encoded in `der`, or 0.
fn first_integer_bits(der: &[u8]) -> u32 {
    let Ok(seq) = ber::read(der, 0, der.len(), 0) else {
        return 0;
    };
    match ber::children(der, &seq, 0).next() {
        Some(Ok(int)) if int.is(ber::UNIVERSAL, false, ber::TAG_INTEGER) => {
            uint_bits(int.content(der))
        }
        _ => 0,
    }
}

fn key_type_and_bits(spki: &SubjectPublicKeyInfo<'_>) -> (KeyType, u32) {
    let alg = spki.algorithm.algorithm.as_bytes();
    let alg = ber::oid_to_string(alg);
    let key = spki.subject_public_key.data.as_ref();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            (KeyType::Rsa, first_integer_bits(key))
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| ber::oid_to_string(o.as_bytes()));
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,   // P-256
                Some("1.3.132.0.34") => 384,          // P-384
                Some("1.3.132.0.35") => 521,          // P-521
                Some("1.3.132.0.10") => 256,          // secp256k1
                Some("1.3.36.3.3.2.8.1.1.7") => 256,  // brainpoolP256r1
                Some("1.3.36.3.3.2.8.1.1.11") => 384, // brainpoolP384r1
                Some("1.3.36.3.3.2.8.1.1.13") => 512, // brainpoolP512r1
                _ => match key {
                    [4, rest @ ..] => u32::try_from(rest.len() * 4).unwrap_or(0),
                    [2 | 3, rest @ ..] => u32::try_from(rest.len() * 8).unwrap_or(0),
                    _ => 0,
                },
            };
            (KeyType::Ec, bits)
        }
        "1.3.101.112" => (KeyType::Ed25519, 256),
        "1.3.101.113" => (KeyType::Ed448, 448),
        "1.2.840.10040.4.1" => {
            // Dss-Parms ::= SEQUENCE { p INTEGER, q INTEGER, g INTEGER }
            let bits = spki.algorithm.parameters.as_ref().map_or(0, |p| {
                // `p.data` is the SEQUENCE's content: its first element is p.
                let content = p.data;
                match ber::read(content, 0, content.len(), 0) {
                    Ok(int) if int.is(ber::UNIVERSAL, false, ber::TAG_INTEGER) => {
                        uint_bits(int.content(content))
                    }
                    _ => 0,
                }
            });
            (KeyType::Dsa, bits)
        }
        _ => (KeyType::Other, 0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serials_and_bits() {
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[0, 0x80, 1]), "8001");
        // Negative serials keep their sign (two's complement magnitude).
        assert_eq!(serial_hex(&[0xd6]), "-2a");
        assert_eq!(serial_hex(&[0xff]), "-01");
        assert_eq!(serial_hex(&[0x80]), "-80");
        assert_eq!(serial_hex(&[0xff, 0x00]), "-0100");
        assert_eq!(serial_hex(&[0x80, 0x00]), "-8000");
        assert_eq!(serial_hex(&[0x7f; 20]), "7f".repeat(20));
        assert_eq!(uint_bits(&[0, 0x80, 0]), 16);
        assert_eq!(uint_bits(&[0x01, 0]), 9);
        assert_eq!(uint_bits(&[0, 0]), 0);
    }

    #[test]
    fn names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        for k in KeyUsage::ALL {
            assert_eq!(k.as_str().parse::<KeyUsage>().unwrap(), k);
        }
    }
}
