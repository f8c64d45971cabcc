//! Certificate inspection: decoding `userCertificate` and
//! `userSMIMECertificate` values, describing each certificate
//! ([`CertInfo`]), classifying it for S/MIME ([`classify`]) and spotting
//! private key material ([`find_private_key_material`]).
//!
//! - `userCertificate` values are DER X.509 certificates.
//! - `userSMIMECertificate` values are what Outlook's "Publish to GAL"
//!   writes: a CMS/PKCS#7 ContentInfo of type signedData whose
//!   `certificates` hold the user's certificate(s) and the chain, DER or BER
//!   with indefinite lengths; sometimes a bare certificate.
//!
//! Every function here accepts any bytes whatsoever and returns a value or
//! an error; none panics.

pub(crate) mod ber;
pub mod chain;
mod classify;
mod cms;
pub(crate) mod dn;
pub(crate) mod inspect;
mod private_key;

use std::fmt;
use std::str::FromStr;

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

pub use chain::TrustedIssuer;
pub use classify::{
    classify, classify_with_path, CertClass, Classification, ClassifyContext, Reason,
};
pub use cms::MAX_CERTIFICATES;
pub use inspect::{CertInfo, KeyType, KeyUsage, EKU_EMAIL_PROTECTION, RECOGNISED_EXTENSIONS};
pub use private_key::find_private_key_material;

use crate::{err, Error, Result, Sha256};

/// How an attribute value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Container {
    /// The whole value is exactly one DER X.509 certificate.
    X509,
    /// The whole value is a CMS/PKCS#7 ContentInfo of type signedData (DER or BER).
    Pkcs7,
    /// Neither.
    Unparseable,
}

impl Container {
    /// All containers, in declaration order.
    pub const ALL: [Container; 3] = [Self::X509, Self::Pkcs7, Self::Unparseable];

    /// `"x509"`, `"pkcs7"` or `"unparseable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X509 => "x509",
            Self::Pkcs7 => "pkcs7",
            Self::Unparseable => "unparseable",
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Container {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| err!(Content, "unknown container {s:?}"))
    }
}

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedValue {
    /// How the value is encoded.
    pub container: Container,
    /// The certificates found, in the order they appear; empty for
    /// [`Container::Unparseable`].
    pub certificates: Vec<CertInfo>,
    /// For [`Container::Unparseable`], why (always `Some`). For
    /// [`Container::Pkcs7`], `Some` when certificates were skipped (a choice
    /// other than a plain certificate, or one that does not parse as DER) or
    /// the SignedData holds none. `None` for [`Container::X509`].
    pub problem: Option<String>,
}

impl DecodedValue {
    fn unparseable(problem: String) -> Self {
        Self {
            container: Container::Unparseable,
            certificates: Vec::new(),
            problem: Some(problem),
        }
    }
}

/// Decodes an attribute value: first as exactly one DER X.509 certificate
/// (no trailing bytes), then as a CMS/PKCS#7 ContentInfo of type signedData
/// (DER or BER with indefinite lengths, spanning the whole value, at most
/// [`MAX_CERTIFICATES`] certificate choices), else it is
/// [`Container::Unparseable`] with the reason in `problem`.
///
/// Inside a SignedData, each plain `Certificate` choice must itself be DER
/// and parse as exactly one certificate; other choices and certificates that
/// do not parse are skipped and noted in `problem`. A certificate whose
/// keyUsage, extendedKeyUsage, subjectAltName or basicConstraints extension
/// is malformed or duplicated counts as not parsing.
///
/// Never panics, whatever the bytes.
pub fn decode_value(bytes: &[u8]) -> DecodedValue {
    decode_value_with(bytes, None)
}

/// [`decode_value`] for a value whose SHA-256 is already known (the
/// verifier has checked it against the manifest): a bare certificate's
/// thumbprint is that digest rather than a second hash of the same bytes.
pub(crate) fn decode_value_hashed(bytes: &[u8], sha256: Sha256) -> DecodedValue {
    decode_value_with(bytes, Some(sha256))
}

fn decode_value_with(bytes: &[u8], whole_sha256: Option<Sha256>) -> DecodedValue {
    if bytes.is_empty() {
        return DecodedValue::unparseable("empty value".to_owned());
    }
    let x509_problem = match X509Certificate::from_der(bytes) {
        Ok(([], cert)) => {
            return match inspect::inspect(bytes, 0..bytes.len(), whole_sha256, &cert) {
                Ok(info) => DecodedValue {
                    container: Container::X509,
                    certificates: vec![info],
                    problem: None,
                },
                Err(e) => DecodedValue::unparseable(format!("X.509 certificate: {e}")),
            };
        }
        Ok((rest, _)) => format!(
            "an X.509 certificate followed by {} trailing bytes",
            rest.len()
        ),
        Err(e) => format!("not a DER X.509 certificate ({e})"),
    };
    let found = match cms::signed_data_certificates(bytes) {
        Ok(found) => found,
        Err(cms_problem) => {
            return DecodedValue::unparseable(format!(
                "{x509_problem}; not a PKCS#7/CMS SignedData ({cms_problem})"
            ))
        }
    };
    let mut notes = found.notes;
    let mut certificates = Vec::new();
    for range in found.certificates {
        let start = range.start;
        match inspect::parse_exact(bytes, range.clone()) {
            Some(cert) => match inspect::inspect(bytes, range, None, &cert) {
                Ok(info) => certificates.push(info),
                Err(e) => notes.push(format!("skipped the certificate at offset {start}: {e}")),
            },
            None => notes.push(format!(
                "skipped the certificate at offset {start}: not a DER X.509 certificate"
            )),
        }
    }
    if certificates.is_empty() && notes.is_empty() {
        notes.push("the SignedData holds no certificates".to_owned());
    }
    DecodedValue {
        container: Container::Pkcs7,
        certificates,
        problem: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// A file of `fixtures/pki` (unit tests of the certificate modules).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki");
    std::fs::read(root.join(name)).unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_known_value_digest_gives_the_same_description_as_hashing() {
        for name in ["certs/alice.der", "certs/bob.der", "smime/heidi.p7b"] {
            let bytes = fixture(name);
            let hashed = decode_value_hashed(&bytes, Sha256::digest(&bytes));
            assert_eq!(hashed, decode_value(&bytes), "{name}");
            assert!(!hashed.certificates.is_empty(), "{name}");
        }
    }
}
