//! Whether a certificate is usable for S/MIME, and if not, why.
//!
//! The yardsticks are what Outlook does when it picks a recipient's
//! certificate (an unexpired certificate with the emailProtection EKU, and
//! keyEncipherment / keyAgreement for encryption, digitalSignature for
//! signing) and the CA/Browser Forum S/MIME Baseline Requirements. Because
//! any Active Directory user can write these attributes on their own object,
//! the issuer check verifies the certificate's signature with a trusted CA's
//! public key instead of comparing names.

use std::fmt;
use std::str::FromStr;

use super::chain::{build_path, CaCertificate, NoPath, Path, TrustedIssuer};
use super::inspect::{CertInfo, KeyType, KeyUsage};
use crate::{err, Error, Result};

/// What the classification needs besides the certificate.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyContext<'a> {
    /// The current time, Unix seconds (UTC).
    pub now: i64,
    /// The entry's SMTP addresses (compared ASCII-case-insensitively).
    pub addresses: &'a [String],
    /// The trusted CAs (anchors); `None` skips the issuer check.
    pub trusted_issuers: Option<&'a [TrustedIssuer]>,
    /// CA certificates that may help build a path to an anchor (never
    /// trusted for themselves; see [`super::chain`]).
    pub intermediates: &'a [CaCertificate],
}

/// The outcome of a classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertClass {
    /// Usable to encrypt mail to the entry (and to verify its signatures).
    Encryption,
    /// Usable only to verify the entry's signatures.
    SigningOnly,
    /// Not usable; the reasons say why.
    Unusable,
}

impl CertClass {
    /// All classes, in declaration order.
    pub const ALL: [CertClass; 3] = [Self::Encryption, Self::SigningOnly, Self::Unusable];

    /// `"encryption"`, `"signing-only"` or `"unusable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Encryption => "encryption",
            Self::SigningOnly => "signing-only",
            Self::Unusable => "unusable",
        }
    }
}

impl fmt::Display for CertClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| err!(Content, "unknown certificate class {s:?}"))
    }
}

/// Why a certificate is unusable. The order of the variants is the order in
/// which reasons are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// `expired`: now > notAfter.
    Expired,
    /// `not-yet-valid`: now < notBefore.
    NotYetValid,
    /// `no-email-protection`: the extendedKeyUsage extension is absent, or
    /// present without emailProtection (1.3.6.1.5.5.7.3.4);
    /// anyExtendedKeyUsage does not count.
    NoEmailProtection,
    /// `no-matching-address`: no subjectAltName rfc822Name equals
    /// (ASCII-case-insensitively) one of the entry's SMTP addresses. The
    /// subject's emailAddress attribute does not count.
    NoMatchingAddress,
    /// `untrusted-issuer`: trusted issuers are configured and none of them
    /// both has the certificate's issuer name and a public key that verifies
    /// the certificate's signature.
    UntrustedIssuer,
    /// `ca-certificate`: basicConstraints cA is true.
    CaCertificate,
    /// `no-usable-key-usage`: keyUsage is present and allows neither
    /// encryption (RSA: keyEncipherment; EC: keyAgreement; other key types:
    /// keyEncipherment or keyAgreement) nor signing (digitalSignature or
    /// nonRepudiation).
    NoUsableKeyUsage,
    /// `unsupported-critical-extension`: the certificate has a critical
    /// extension outside RFC 5280 §4.2.1 and §4.2.2 (RFC 5280 §4.2: it MUST be rejected).
    UnsupportedCriticalExtension,
    /// `signature-algorithm-mismatch`: the outer signatureAlgorithm differs
    /// from tbsCertificate.signature (RFC 5280 §4.1.1.2).
    SignatureAlgorithmMismatch,
}

impl Reason {
    /// All reasons, in listing order.
    pub const ALL: [Reason; 9] = [
        Self::Expired,
        Self::NotYetValid,
        Self::NoEmailProtection,
        Self::NoMatchingAddress,
        Self::UntrustedIssuer,
        Self::CaCertificate,
        Self::NoUsableKeyUsage,
        Self::UnsupportedCriticalExtension,
        Self::SignatureAlgorithmMismatch,
    ];

    /// The kebab-case name: `"expired"`, `"not-yet-valid"`,
    /// `"no-email-protection"`, `"no-matching-address"`,
    /// `"untrusted-issuer"`, `"ca-certificate"`, `"no-usable-key-usage"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::NoEmailProtection => "no-email-protection",
            Self::NoMatchingAddress => "no-matching-address",
            Self::UntrustedIssuer => "untrusted-issuer",
            Self::CaCertificate => "ca-certificate",
            Self::NoUsableKeyUsage => "no-usable-key-usage",
            Self::UnsupportedCriticalExtension => "unsupported-critical-extension",
            Self::SignatureAlgorithmMismatch => "signature-algorithm-mismatch",
        }
    }

    /// A sentence for people.
    pub fn description(self) -> &'static str {
        match self {
            Self::Expired => "The certificate has expired.",
            Self::NotYetValid => "The certificate is not valid yet.",
            Self::NoEmailProtection => {
                "The certificate is not issued for e-mail protection (no emailProtection extended key usage)."
            }
            Self::NoMatchingAddress => {
                "None of the certificate's e-mail addresses (subjectAltName rfc822Name) is an SMTP address of the entry."
            }
            Self::UntrustedIssuer => {
                "The certificate has no certification path to a trusted CA (each step needs the issuer's name and a key that verifies the signature)."
            }
            Self::CaCertificate => "The certificate is a CA certificate, not a user certificate.",
            Self::NoUsableKeyUsage => {
                "The certificate's key usage allows neither encryption nor signing."
            }
            Self::UnsupportedCriticalExtension => {
                "The certificate has a critical extension that is not recognised (RFC 5280 4.2: it must be rejected)."
            }
            Self::SignatureAlgorithmMismatch => {
                "The certificate's outer signature algorithm differs from the one it signed (RFC 5280 4.1.1.2)."
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| err!(Content, "unknown classification reason {s:?}"))
    }
}

/// A certificate's class and, when unusable, the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Classification {
    /// The class.
    pub class: CertClass,
    /// The reasons, sorted in [`Reason`] order without duplicates; empty
    /// unless the class is [`CertClass::Unusable`].
    pub reasons: Vec<Reason>,
}

fn allows(ku: &[KeyUsage], k: KeyUsage) -> bool {
    ku.contains(&k)
}

/// True when keyUsage `ku` allows encryption for a key of type `kt`:
/// RSA needs keyEncipherment, EC keyAgreement, other types either.
fn allows_encryption(kt: KeyType, ku: &[KeyUsage]) -> bool {
    match kt {
        KeyType::Rsa => allows(ku, KeyUsage::KeyEncipherment),
        KeyType::Ec => allows(ku, KeyUsage::KeyAgreement),
        _ => allows(ku, KeyUsage::KeyEncipherment) || allows(ku, KeyUsage::KeyAgreement),
    }
}

/// True when keyUsage `ku` allows signing (digitalSignature or nonRepudiation).
fn allows_signing(ku: &[KeyUsage]) -> bool {
    allows(ku, KeyUsage::DigitalSignature) || allows(ku, KeyUsage::NonRepudiation)
}

/// Classifies the certificate `cert`, found in the attribute value `value`
/// (its DER is `value[cert.der_range]`).
///
/// Each rule that applies adds a [`Reason`]:
///
/// - `expired`: `now` > notAfter.
/// - `not-yet-valid`: `now` < notBefore.
/// - `no-email-protection`: the extendedKeyUsage extension is absent, or
///   present without emailProtection (1.3.6.1.5.5.7.3.4);
///   anyExtendedKeyUsage does not count.
/// - `no-matching-address`: no subjectAltName rfc822Name equals one of
///   `ctx.addresses`, compared ASCII-case-insensitively.
/// - `untrusted-issuer`: `ctx.trusted_issuers` is `Some` and there is no
///   certification path from the certificate to one of them
///   ([`super::chain::build_path`], through `ctx.intermediates`): each step
///   needs the issuer's name (same encoding, or the same rendered string
///   ignoring ASCII case) AND a public key that verifies the signature.
///   Signature algorithms that cannot be verified (for example RSA keys
///   under 2048 bits with SHA-256, or P-521) count as not verified.
/// - `ca-certificate`: basicConstraints cA is true.
/// - `no-usable-key-usage`: keyUsage is present and allows neither
///   encryption (RSA: keyEncipherment; EC: keyAgreement; other key types:
///   keyEncipherment or keyAgreement) nor signing (digitalSignature or
///   nonRepudiation).
/// - `unsupported-critical-extension`: a critical extension not in
///   [`super::inspect::RECOGNISED_EXTENSIONS`].
/// - `signature-algorithm-mismatch`: the two signature AlgorithmIdentifiers differ.
///
/// The class is `unusable` if there is any reason; otherwise `encryption` if
/// keyUsage is absent or allows encryption; otherwise `signing-only`.
///
/// Never panics; if `cert.der_range` is not a certificate inside `value`, the
/// signature cannot be checked and the issuer counts as untrusted.
pub fn classify(value: &[u8], cert: &CertInfo, ctx: &ClassifyContext<'_>) -> Classification {
    classify_with_path(value, cert, ctx).0
}

/// [`classify`], also returning the certification path search it made
/// (`None` when `ctx.trusted_issuers` is `None`): the path found, or where
/// every attempt broke. A caller that needs the path (the issuer whose CRL
/// decides revocation, the chain a reviewer sees) does not search twice.
pub fn classify_with_path(
    value: &[u8],
    cert: &CertInfo,
    ctx: &ClassifyContext<'_>,
) -> (Classification, Option<Result<Path, NoPath>>) {
    let mut reasons = Vec::new();
    if ctx.now > cert.not_after {
        reasons.push(Reason::Expired);
    }
    if ctx.now < cert.not_before {
        reasons.push(Reason::NotYetValid);
    }
    if !cert.has_email_protection() {
        reasons.push(Reason::NoEmailProtection);
    }
    let matches = cert
        .rfc822_names
        .iter()
        .any(|name| ctx.addresses.iter().any(|a| a.eq_ignore_ascii_case(name)));
    if !matches {
        reasons.push(Reason::NoMatchingAddress);
    }
    let path = ctx
        .trusted_issuers
        .map(|issuers| build_path(value, cert, issuers, ctx.intermediates, ctx.now));
    if matches!(path, Some(Err(_))) {
        reasons.push(Reason::UntrustedIssuer);
    }
    if cert.is_ca {
        reasons.push(Reason::CaCertificate);
    }
    let (enc, sign) = match &cert.key_usage {
        None => (true, true),
        Some(ku) => (allows_encryption(cert.key_type, ku), allows_signing(ku)),
    };
    if !enc && !sign {
        reasons.push(Reason::NoUsableKeyUsage);
    }
    if !cert.unrecognised_critical_extensions.is_empty() {
        reasons.push(Reason::UnsupportedCriticalExtension);
    }
    if cert.signature_algorithms_differ {
        reasons.push(Reason::SignatureAlgorithmMismatch);
    }
    reasons.sort();
    reasons.dedup();
    let class = if !reasons.is_empty() {
        CertClass::Unusable
    } else if enc {
        CertClass::Encryption
    } else {
        CertClass::SigningOnly
    };
    (Classification { class, reasons }, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
            assert!(r.description().ends_with('.'));
        }
        for c in CertClass::ALL {
            assert_eq!(c.as_str().parse::<CertClass>().unwrap(), c);
        }
        assert!("Expired".parse::<Reason>().is_err());
        let mut sorted = Reason::ALL;
        sorted.sort();
        assert_eq!(sorted, Reason::ALL);
    }
}
