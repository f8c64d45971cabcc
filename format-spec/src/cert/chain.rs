//! Certification paths (RFC 5280 §6, the essentials): from a certificate up
//! to a pinned trust anchor, through CA certificates that are only helpers.
//!
//! A helper (an intermediate CA from a PKCS#7 value, the policy or a bundle)
//! is never trusted for itself: it is used only when the next certificate up
//! verifies its signature, and the path counts only when it ends at a pinned
//! anchor. Every helper on a path must be a CA (basicConstraints cA), may
//! sign certificates (keyUsage keyCertSign, when keyUsage is present), must
//! be valid at the time of the check, must carry no critical extension this
//! code does not recognise, and must respect every pathLenConstraint above
//! it, the anchor's included. Names chain by their encoded bytes (or, as for
//! a single pinned CA, by the rendered name ignoring ASCII case); keys chain
//! by signature, never by name alone.

use std::fmt;

use x509_parser::asn1_rs::BitString;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

use super::inspect::{CertInfo, SignedParts, RECOGNISED_EXTENSIONS};
use crate::ids::Sha256;
use crate::{err, Result};

/// Paths longer than this many helpers are not searched (RFC 5280 sets no
/// limit; real PKIs use one to three).
pub const MAX_INTERMEDIATES: usize = 6;

/// A CA certificate that may help build a path, parsed once.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate {
    der: Vec<u8>,
    subject: String,
    subject_raw: Vec<u8>,
    spki: Vec<u8>,
    signed: SignedParts,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
    path_len: Option<u32>,
    may_sign_certificates: bool,
    may_sign_crls: bool,
    unrecognised_critical: Option<String>,
    sha256: Sha256,
    serial: String,
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificate")
            .field("subject", &self.subject)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl CaCertificate {
    /// Reads one DER certificate (the whole input). Any certificate parses;
    /// whether it may act as a CA is decided when a path is built, so that
    /// the reason can be named there. Fails with class `key` when the bytes
    /// are not one certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = match X509Certificate::from_der(der) {
            Ok(([], cert)) => cert,
            Ok((rest, _)) => {
                return Err(err!(
                    Key,
                    "CA certificate is followed by {} trailing bytes",
                    rest.len()
                ))
            }
            Err(e) => return Err(err!(Key, "CA certificate does not parse: {e}")),
        };
        let signed = SignedParts::find(der)
            .ok_or_else(|| err!(Key, "CA certificate: no tbsCertificate outline"))?;
        let (is_ca, path_len) = match cert.basic_constraints() {
            Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
            Ok(None) => (false, None),
            Err(e) => return Err(err!(Key, "CA certificate: basicConstraints: {e}")),
        };
        let (may_sign_certificates, may_sign_crls) = match cert.key_usage() {
            Ok(Some(ku)) => (ku.value.key_cert_sign(), ku.value.crl_sign()),
            Ok(None) => (true, true),
            Err(e) => return Err(err!(Key, "CA certificate: keyUsage: {e}")),
        };
        let unrecognised_critical = cert
            .extensions()
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.oid.to_id_string())
            .find(|oid| !RECOGNISED_EXTENSIONS.contains(&oid.as_str()));
        let validity = cert.validity();
        Ok(Self {
            subject: super::dn::rfc4514(cert.subject()),
            subject_raw: cert.subject().as_raw().to_vec(),
            spki: cert.public_key().raw.to_vec(),
            signed,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            is_ca,
            path_len,
            may_sign_certificates,
            may_sign_crls,
            unrecognised_critical,
            sha256: Sha256::digest(der),
            serial: super::inspect::serial_hex(cert.raw_serial()),
            der: der.to_vec(),
        })
    }

    /// Reads a PEM bundle: every `CERTIFICATE` block, in order; another
    /// label, a block that does not decode, or no block at all fails with
    /// class `key`.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for (n, block) in Pem::iter_from_buffer(pem).enumerate() {
            let block = block.map_err(|e| err!(Key, "PEM block {}: {e}", n + 1))?;
            if block.label != "CERTIFICATE" {
                return Err(err!(
                    Key,
                    "PEM block {} is a {:?}, not a CERTIFICATE",
                    n + 1,
                    block.label
                ));
            }
            out.push(
                Self::from_der(&block.contents)
                    .map_err(|e| err!(Key, "PEM block {}: {}", n + 1, e.message()))?,
            );
        }
        if out.is_empty() {
            return Err(err!(Key, "the PEM file holds no CERTIFICATE block"));
        }
        Ok(out)
    }

    /// The CA's SubjectPublicKeyInfo, DER (to check what it signed).
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The serial number, written as SPEC.md §6.3 writes serials.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The encoding of the CA's subject name (names chain by it).
    pub fn subject_raw(&self) -> &[u8] {
        &self.subject_raw
    }

    /// Whether its keyUsage allows signing CRLs (cRLSign; true without keyUsage).
    pub fn may_sign_crls(&self) -> bool {
        self.may_sign_crls
    }

    /// Whether basicConstraints says it is a CA.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// The CA's subject name, rendered like [`CertInfo::subject`].
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// SHA-256 thumbprint of the certificate.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The end of the certificate's validity, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Why this certificate may not sit on a path at time `now` with
    /// `below` helpers between it and the end-entity certificate; `None`
    /// when it may.
    fn unfit(&self, now: i64, below: usize) -> Option<String> {
        let s = &self.subject;
        if !self.is_ca {
            return Some(format!("{s} is not a CA certificate (basicConstraints cA)"));
        }
        if !self.may_sign_certificates {
            return Some(format!(
                "{s} may not sign certificates (keyUsage keyCertSign)"
            ));
        }
        if now > self.not_after {
            return Some(format!("{s} expired on {}", date(self.not_after)));
        }
        if now < self.not_before {
            return Some(format!("{s} is not valid before {}", date(self.not_before)));
        }
        if let Some(oid) = &self.unrecognised_critical {
            return Some(format!("{s} has the unrecognised critical extension {oid}"));
        }
        path_len_exceeded(s, self.path_len, below)
    }
}

/// A CA certificate pinned as a trust anchor: its public key may vouch for
/// the certificates found in Active Directory, directly or through
/// intermediate CAs. It is taken as given (neither its validity, nor its own
/// signature, nor its cA flag are checked); its pathLenConstraint still
/// limits the intermediate CAs below it.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedIssuer(CaCertificate);

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("subject", &self.0.subject)
            .field("sha256", &self.0.sha256)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// Reads one DER certificate (the whole input, nothing after it); fails
    /// with class `key` when the bytes are not one certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        CaCertificate::from_der(der).map(Self)
    }

    /// Reads a PEM bundle: every `CERTIFICATE` block, in order (see
    /// [`CaCertificate::from_pem`]).
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        Ok(CaCertificate::from_pem(pem)?
            .into_iter()
            .map(Self)
            .collect())
    }

    /// The CA's subject name, rendered like [`CertInfo::subject`].
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// SHA-256 thumbprint of the CA certificate.
    pub fn sha256(&self) -> Sha256 {
        self.0.sha256
    }

    /// The end of the certificate's validity, Unix seconds (an anchor is
    /// trusted as given; a trust store that carries it may not be).
    pub fn not_after(&self) -> i64 {
        self.0.not_after
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// The pinned certificate itself.
    pub fn ca(&self) -> &CaCertificate {
        &self.0
    }
}

fn path_len_exceeded(subject: &str, path_len: Option<u32>, below: usize) -> Option<String> {
    let limit = usize::try_from(path_len?).unwrap_or(usize::MAX);
    (below > limit).then(|| {
        format!("{subject} allows {limit} CA certificate(s) below it (pathLenConstraint), the path has {below}")
    })
}

fn date(unix: i64) -> String {
    crate::Timestamp::from_unix(unix).map_or_else(|| unix.to_string(), |t| t.to_string())
}

/// A certificate being chained upward: where its signed parts lie.
struct Link<'a> {
    der: &'a [u8],
    signed: &'a SignedParts,
    /// The SHA-256 of a CA certificate's DER; `None` for the certificate a
    /// path is built for, whose check is not remembered.
    ca: Option<Sha256>,
}

/// How many CA-to-CA signature checks a thread remembers before it starts
/// afresh (a PKI has a handful of CAs; the bound only stops growth).
const REMEMBERED_CA_LINKS: usize = 4096;

thread_local! {
    /// Whether the CA certificate with the first SHA-256 is signed by the key
    /// of the CA certificate with the second: a pure function of the two
    /// certificates' bytes. Every path through an intermediate CA checks the
    /// same few CA-to-CA signatures again, once per end-entity certificate.
    static CA_LINKS: std::cell::RefCell<std::collections::HashMap<(Sha256, Sha256), bool>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl Link<'_> {
    fn part(&self, r: &std::ops::Range<usize>) -> Option<&[u8]> {
        self.der.get(r.clone()).filter(|p| !p.is_empty())
    }

    /// The issuer name's encoding.
    fn issuer(&self) -> Option<&[u8]> {
        self.part(&self.signed.issuer)
    }

    /// Whether the key of `issuer` verifies this certificate's signature;
    /// remembered per thread when this certificate is a CA's.
    fn signed_by(&self, issuer: &CaCertificate) -> bool {
        let Some(ca) = self.ca else {
            return self.signed_by_key(&issuer.spki);
        };
        let key = (ca, issuer.sha256);
        if let Some(known) = CA_LINKS.with(|m| m.borrow().get(&key).copied()) {
            return known;
        }
        let signed = self.signed_by_key(&issuer.spki);
        CA_LINKS.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= REMEMBERED_CA_LINKS {
                m.clear();
            }
            m.insert(key, signed);
        });
        signed
    }

    /// Whether the key `spki` (DER SubjectPublicKeyInfo) verifies this
    /// certificate's signature.
    fn signed_by_key(&self, spki: &[u8]) -> bool {
        let s = self.signed;
        let (Some(tbs), Some(algorithm), Some(signature)) = (
            self.part(&s.tbs),
            self.part(&s.algorithm),
            self.part(&s.signature),
        ) else {
            return false;
        };
        let (Ok((_, spki)), Ok((_, algorithm))) = (
            SubjectPublicKeyInfo::from_der(spki),
            AlgorithmIdentifier::from_der(algorithm),
        ) else {
            return false;
        };
        let (unused, bits) = signature.split_first().unwrap_or((&0, &[]));
        let bits = BitString::new(*unused, bits);
        x509_parser::verify::verify_signature(&spki, &algorithm, &bits, tbs).is_ok()
    }

    /// Whether `subject_raw` (rendered as `subject`) names this certificate's issuer.
    fn issued_by_name(&self, subject_raw: &[u8], subject: &str) -> bool {
        let Some(issuer) = self.issuer() else {
            return false;
        };
        issuer == subject_raw
            || X509Name::from_der(issuer)
                .is_ok_and(|(_, name)| name.to_string().eq_ignore_ascii_case(subject))
    }
}

/// A path from a certificate to a pinned anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The helpers used, from the one that signed the certificate upward
    /// (indexes into the helpers given; empty when an anchor signed it).
    pub intermediates: Vec<usize>,
    /// The anchor the path ends at (index into the anchors given).
    pub anchor: usize,
}

/// Why no path was found: every dead end met, in the order met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPath {
    /// One sentence per dead end; empty when no CA certificate carries the
    /// issuer's name at all.
    pub dead_ends: Vec<String>,
}

impl fmt::Display for NoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dead_ends.is_empty() {
            f.write_str("no pinned or intermediate CA certificate is its issuer")
        } else {
            write!(f, "no path to a pinned CA: {}", self.dead_ends.join("; "))
        }
    }
}

/// Builds a path from the certificate `cert`, found in the attribute value
/// `value`, to one of `anchors`, through `helpers` (never trusted for
/// themselves), at time `now` (Unix seconds). Depth first, anchors before
/// helpers at each step, helpers in the order given; the first path found
/// is returned. Anchors are taken as given (their validity and signature
/// are the operator's choice) except for their pathLenConstraint.
pub fn build_path(
    value: &[u8],
    cert: &CertInfo,
    anchors: &[TrustedIssuer],
    helpers: &[CaCertificate],
    now: i64,
) -> std::result::Result<Path, NoPath> {
    let der = value.get(cert.der_range.clone()).unwrap_or(&[]);
    let start = Link {
        der,
        signed: &cert.signed,
        ca: None,
    };
    let mut used = Vec::new();
    let mut dead_ends = Vec::new();
    match search(&start, anchors, helpers, now, &mut used, &mut dead_ends) {
        Some(anchor) => Ok(Path {
            intermediates: used,
            anchor,
        }),
        None => Err(NoPath { dead_ends }),
    }
}

/// One step up from `link`, with `used` the helpers below it (nearest the
/// end-entity certificate first). Returns the anchor reached.
fn search(
    link: &Link<'_>,
    anchors: &[TrustedIssuer],
    helpers: &[CaCertificate],
    now: i64,
    used: &mut Vec<usize>,
    dead_ends: &mut Vec<String>,
) -> Option<usize> {
    let below = used.len();
    for (i, TrustedIssuer(a)) in anchors.iter().enumerate() {
        if !link.issued_by_name(&a.subject_raw, &a.subject) {
            continue;
        }
        if !link.signed_by(a) {
            dead_ends.push(format!(
                "the pinned CA {} has the issuer's name but its key did not sign",
                a.subject
            ));
            continue;
        }
        if let Some(why) = path_len_exceeded(&a.subject, a.path_len, below) {
            dead_ends.push(why);
            continue;
        }
        return Some(i);
    }
    if below >= MAX_INTERMEDIATES {
        dead_ends.push(format!(
            "paths of more than {MAX_INTERMEDIATES} intermediate CAs are not searched"
        ));
        return None;
    }
    for (i, h) in helpers.iter().enumerate() {
        if used.contains(&i) || !link.issued_by_name(&h.subject_raw, &h.subject) {
            continue;
        }
        if !link.signed_by(h) {
            dead_ends.push(format!(
                "the intermediate CA {} has the issuer's name but its key did not sign",
                h.subject
            ));
            continue;
        }
        if let Some(why) = h.unfit(now, below) {
            dead_ends.push(why);
            continue;
        }
        used.push(i);
        let next = Link {
            der: &h.der,
            signed: &h.signed,
            ca: Some(h.sha256),
        };
        if let Some(anchor) = search(&next, anchors, helpers, now, used, dead_ends) {
            return Some(anchor);
        }
        used.pop();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn signed_by(child: &CaCertificate, issuer: &CaCertificate) -> bool {
        Link {
            der: &child.der,
            signed: &child.signed,
            ca: Some(child.sha256),
        }
        .signed_by(issuer)
    }

    #[test]
    fn a_remembered_ca_link_is_keyed_by_both_certificates_bytes() {
        let root = CaCertificate::from_der(&fixture("ca/root-ca.der")).unwrap();
        let rogue = CaCertificate::from_der(&fixture("ca/rogue-ca.der")).unwrap();
        let issuing = CaCertificate::from_der(&fixture("ca/issuing-ca.der")).unwrap();
        let mut der = issuing.der.clone();
        let last = der.len() - 1;
        der[last] ^= 1; // the last byte of the signature
        let forged = CaCertificate::from_der(&der).unwrap();
        // Each answer twice on one thread: the second comes from memory.
        for _ in 0..2 {
            assert!(signed_by(&issuing, &root));
            assert!(!signed_by(&forged, &root));
            assert!(!signed_by(&issuing, &rogue));
        }
    }
}
