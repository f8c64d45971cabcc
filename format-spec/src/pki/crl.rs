//! Certificate revocation lists (RFC 5280 §5), read once: what a bundle
//! records of a CRL (SPEC.md §6.7) and what the revocation check needs.

use std::collections::HashMap;

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::cert::ber;
use crate::cert::inspect::serial_hex;

/// cRLNumber (RFC 5280 §5.2.3).
pub const OID_CRL_NUMBER: &str = "2.5.29.20";
/// deltaCRLIndicator (RFC 5280 §5.2.4).
pub const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
/// authorityKeyIdentifier (RFC 5280 §5.2.1).
pub const OID_AUTHORITY_KEY_ID: &str = "2.5.29.35";
/// issuingDistributionPoint (RFC 5280 §5.2.5).
pub const OID_ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
/// issuerAltName (RFC 5280 §5.2.2).
pub const OID_ISSUER_ALT_NAME: &str = "2.5.29.18";
/// freshestCRL (RFC 5280 §5.2.6).
pub const OID_FRESHEST_CRL: &str = "2.5.29.46";
/// authorityInfoAccess (RFC 5280 §5.2.7).
pub const OID_AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
/// reasonCode (RFC 5280 §5.3.1).
pub const OID_REASON_CODE: &str = "2.5.29.21";
/// invalidityDate (RFC 5280 §5.3.2).
pub const OID_INVALIDITY_DATE: &str = "2.5.29.24";
/// certificateIssuer (RFC 5280 §5.3.3).
pub const OID_CERTIFICATE_ISSUER: &str = "2.5.29.29";

/// The CRL extensions of RFC 5280 §5.2 that this implementation processes
/// when they are marked critical.
const PROCESSED_CRL_EXTENSIONS: &[&str] = &[
    OID_AUTHORITY_KEY_ID,
    OID_ISSUER_ALT_NAME,
    OID_CRL_NUMBER,
    OID_DELTA_CRL_INDICATOR,
    OID_FRESHEST_CRL,
    OID_AUTHORITY_INFO_ACCESS,
];

/// The CRL entry extensions of RFC 5280 §5.3 processed when critical.
const PROCESSED_ENTRY_EXTENSIONS: &[&str] = &[OID_REASON_CODE, OID_INVALIDITY_DATE];

/// The reason codes of RFC 5280 §5.3.1 (7 is unused).
pub const REASONS: [(u8, &str); 10] = [
    (0, "unspecified"),
    (1, "keyCompromise"),
    (2, "cACompromise"),
    (3, "affiliationChanged"),
    (4, "superseded"),
    (5, "cessationOfOperation"),
    (6, "certificateHold"),
    (8, "removeFromCRL"),
    (9, "privilegeWithdrawn"),
    (10, "aACompromise"),
];

/// The RFC 5280 name of a reason code, `None` for 7 and codes above 10.
pub fn reason_name(code: u8) -> Option<&'static str> {
    REASONS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// One revoked certificate on a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The encoding of the name of the CA that issued the certificate: the
    /// entry's certificateIssuer (carried to the entries after it, RFC 5280
    /// §5.3.3) on an indirect CRL; `None` for the CRL's own issuer.
    pub issuer_raw: Option<Vec<u8>>,
    /// The serial, as SPEC.md §6.3 writes serials.
    pub serial: String,
    /// revocationDate, Unix seconds.
    pub date: i64,
    /// The reasonCode, when present.
    pub reason: Option<u8>,
}

/// What certferry reads out of one CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// Issuer name, rendered as SPEC.md §6.3 renders names.
    pub issuer: String,
    /// The issuer name's encoded bytes (names chain by these).
    pub issuer_raw: Vec<u8>,
    /// cRLNumber, as a serial is written; `None` when absent.
    pub number: Option<String>,
    /// deltaCRLIndicator's BaseCRLNumber; `None` for a complete CRL.
    pub delta_base: Option<String>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds; `None` when absent.
    pub next_update: Option<i64>,
    /// authorityKeyIdentifier's keyIdentifier, lowercase hex.
    pub authority_key_id: Option<String>,
    /// The revoked certificates, in CRL order.
    pub revoked: Vec<Revoked>,
    /// Why this CRL must not decide any certificate's status (RFC 5280 §5.2,
    /// §5.3: a critical extension it cannot process; §5.1.1.2: the two
    /// signature algorithm fields differ), if it must not.
    pub unusable: Option<String>,
    /// Whether the CRL is scoped or partitioned (an issuingDistributionPoint
    /// with a distribution point, onlyContains… or onlySomeReasons).
    pub scoped: bool,
    /// Whether the CRL is indirect (issuingDistributionPoint with indirectCRL
    /// and nothing else): it may list certificates of other CAs.
    pub indirect: bool,
}

impl CrlInfo {
    /// Reads `der` as exactly one DER CRL; `None` when it is not one.
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (rest, crl) = CertificateRevocationList::from_der(der).ok()?;
        if !rest.is_empty() {
            return None;
        }
        Some(Self::from_parsed(der, &crl))
    }

    /// Checks the CRL's signature with the subject public key info of a
    /// candidate issuer (DER of `SubjectPublicKeyInfo`).
    pub fn signed_by(der: &[u8], spki_der: &[u8]) -> bool {
        use x509_parser::x509::SubjectPublicKeyInfo;
        let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
            return false;
        };
        let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
            return false;
        };
        crl.verify_signature(&spki).is_ok()
    }

    fn from_parsed(der: &[u8], crl: &CertificateRevocationList<'_>) -> Self {
        let tbs = &crl.tbs_cert_list;
        let mut number = None;
        let mut delta_base = None;
        let mut authority_key_id = None;
        let mut unusable = None;
        let mut scoped = false;
        let mut indirect = false;
        for ext in tbs.extensions() {
            let oid = ext.oid.to_id_string();
            match oid.as_str() {
                OID_CRL_NUMBER => number = integer_hex(ext.value),
                OID_DELTA_CRL_INDICATOR => delta_base = integer_hex(ext.value),
                OID_AUTHORITY_KEY_ID => {
                    if let ParsedExtension::AuthorityKeyIdentifier(aki) = ext.parsed_extension() {
                        authority_key_id = aki
                            .key_identifier
                            .as_ref()
                            .map(|k| crate::hex::encode_lower(k.0));
                    }
                }
                OID_ISSUING_DISTRIBUTION_POINT => match ext.parsed_extension() {
                    ParsedExtension::IssuingDistributionPoint(idp)
                        if idp.indirect_crl
                            && idp.distribution_point.is_none()
                            && !idp.only_contains_user_certs
                            && !idp.only_contains_ca_certs
                            && !idp.only_contains_attribute_certs
                            && idp.only_some_reasons.is_none() =>
                    {
                        indirect = true;
                    }
                    _ => {
                        scoped = true;
                        if ext.critical && unusable.is_none() {
                            unusable = Some(
                                "it is a scoped or partitioned CRL (issuingDistributionPoint), which certferry does not process"
                                    .to_owned(),
                            );
                        }
                    }
                },
                _ => {}
            }
            if ext.critical
                && oid != OID_ISSUING_DISTRIBUTION_POINT
                && !PROCESSED_CRL_EXTENSIONS.contains(&oid.as_str())
                && unusable.is_none()
            {
                unusable = Some(format!("critical CRL extension {oid} is not recognised"));
            }
        }
        let mut revoked = Vec::new();
        let mut entry_issuer: Option<Vec<u8>> = None;
        for r in crl.iter_revoked_certificates() {
            for ext in r.extensions() {
                let oid = ext.oid.to_id_string();
                if indirect && oid == OID_CERTIFICATE_ISSUER {
                    match directory_name(ext.value) {
                        Some(name) => entry_issuer = Some(name),
                        None if unusable.is_none() => {
                            unusable = Some(format!(
                                "the certificateIssuer of serial {} names no directory name",
                                serial_hex(r.raw_serial())
                            ));
                        }
                        None => {}
                    }
                    continue;
                }
                if ext.critical
                    && !PROCESSED_ENTRY_EXTENSIONS.contains(&oid.as_str())
                    && unusable.is_none()
                {
                    unusable = Some(format!(
                        "critical CRL entry extension {oid} (serial {}) is not recognised",
                        serial_hex(r.raw_serial())
                    ));
                }
            }
            revoked.push(Revoked {
                issuer_raw: entry_issuer.clone(),
                serial: serial_hex(r.raw_serial()),
                date: r.revocation_date.timestamp(),
                reason: r.reason_code().map(|(_, code)| code.0),
            });
        }
        if unusable.is_none() && !signature_algorithms_equal(der) {
            unusable =
                Some("its two signature algorithm fields differ (RFC 5280 §5.1.1.2)".to_owned());
        }
        Self {
            issuer: crate::cert::dn::rfc4514(&tbs.issuer),
            issuer_raw: tbs.issuer.as_raw().to_vec(),
            number,
            delta_base,
            this_update: tbs.this_update.timestamp(),
            next_update: tbs.next_update.map(|t| t.timestamp()),
            authority_key_id,
            revoked,
            unusable,
            scoped,
            indirect,
        }
    }

    /// Revoked entries by serial (the last entry for a serial wins).
    pub fn by_serial(&self) -> HashMap<&str, &Revoked> {
        self.revoked
            .iter()
            .map(|r| (r.serial.as_str(), r))
            .collect()
    }
}

/// The first directoryName of a GeneralNames (the whole of `value`): the
/// encoding of its Name (`[4]` is explicit: its content is the Name).
fn directory_name(value: &[u8]) -> Option<Vec<u8>> {
    let names = ber::read(value, 0, value.len(), 0).ok()?;
    ber::children(value, &names, 0)
        .filter_map(Result::ok)
        .find(|t| t.is(ber::CONTEXT, true, 4))
        .map(|t| t.content(value).to_vec())
}

/// The content of a DER INTEGER (the whole of `value`), written as a serial.
fn integer_hex(value: &[u8]) -> Option<String> {
    let tlv = ber::read(value, 0, value.len(), 0).ok()?;
    (tlv.is(ber::UNIVERSAL, false, ber::TAG_INTEGER) && tlv.range().end == value.len())
        .then(|| serial_hex(tlv.content(value)))
}

/// `CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version?, signature
/// AlgorithmIdentifier, ... }, signatureAlgorithm, signatureValue }`: whether
/// the two algorithm identifiers have the same bytes.
fn signature_algorithms_equal(der: &[u8]) -> bool {
    let Ok(top) = ber::read(der, 0, der.len(), 0) else {
        return false;
    };
    let mut parts = ber::children(der, &top, 0);
    let (Some(Ok(tbs)), Some(Ok(outer))) = (parts.next(), parts.next()) else {
        return false;
    };
    let inner = ber::children(der, &tbs, 0)
        .take(2)
        .filter_map(Result::ok)
        .find(|t| t.is(ber::UNIVERSAL, true, ber::TAG_SEQUENCE));
    match inner {
        Some(inner) => der.get(inner.range()) == der.get(outer.range()),
        None => false,
    }
}
