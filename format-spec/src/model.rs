//! The contents of a bundle: `bundle.json` ([`BundleHeader`]) and the lines of
//! `entries.jsonl` ([`Entry`]), exactly as SPEC.md §5 and §6 define them.
//! Field order here is the canonical member order of the JSON objects.

use serde::{Deserialize, Serialize};

use crate::ids::{Sha256, SourceId};
use crate::timestamp::Timestamp;

/// The value of `format` in `bundle.json`.
pub const FORMAT_NAME: &str = "certferry-bundle";
/// The format version this library reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// `data/bundle.json`: what the bundle is, where it came from, and its place
/// in the source's sequence (SPEC.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHeader {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for v1.
    pub version: u32,
    /// The exporting directory's id.
    pub source: SourceId,
    /// Sequence number within the source, starting at 1.
    pub sequence: u64,
    /// When the export was made.
    pub created: Timestamp,
    /// After this instant the bundle MUST NOT be imported.
    pub expires: Timestamp,
    /// SHA-256 of the previous bundle file of this source; `None` for the first.
    pub previous_sha256: Option<Sha256>,
    /// The program that wrote the bundle.
    pub exporter: Software,
    /// Free text describing the source (server, base DN, filter).
    pub source_description: String,
    /// Counts over the entries, checked by readers.
    pub counts: Counts,
    /// In a part of a snapshot in parts (SPEC.md §4.6, revision 1.4): its
    /// part number. Absent in a bundle file that is a whole snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
}

/// Name and version of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Software {
    /// Program name, `[A-Za-z0-9._+-]{1,64}`.
    pub name: String,
    /// Program version, `[A-Za-z0-9._+-]{1,64}`.
    pub version: String,
}

/// Counts recorded in `bundle.json` and recomputed by every reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Number of entries (lines of `entries.jsonl`).
    pub entries: u64,
    /// Number of attribute values (files under `data/values/`).
    pub values: u64,
    /// Number of certificates found in the values.
    pub certificates: u64,
    /// Certificates classified `encryption`.
    pub encryption: u64,
    /// Certificates classified `signing-only`.
    pub signing_only: u64,
    /// Certificates classified `unusable`.
    pub unusable: u64,
    /// Values whose container is `unparseable`.
    pub unparseable_values: u64,
}

impl Counts {
    /// Adds `other` to these counts, field by field (each entry's counts
    /// into a bundle's, each part's into a snapshot's).
    pub fn add(&mut self, other: &Counts) {
        self.entries += other.entries;
        self.values += other.values;
        self.certificates += other.certificates;
        self.encryption += other.encryption;
        self.signing_only += other.signing_only;
        self.unusable += other.unusable;
        self.unparseable_values += other.unparseable_values;
    }
}

/// The kind of directory object an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// An AD user (`objectClass=user`).
    User,
    /// An AD contact (`objectClass=contact`).
    Contact,
}

impl ObjectKind {
    /// The name used in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Contact => "contact",
        }
    }
}

/// The directory attribute a value was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attribute {
    /// `userCertificate` (2.5.4.36): DER X.509 certificates.
    #[serde(rename = "userCertificate")]
    UserCertificate,
    /// `userSMIMECertificate`: PKCS#7/CMS blobs as Outlook publishes them.
    #[serde(rename = "userSMIMECertificate")]
    UserSmimeCertificate,
}

impl Attribute {
    /// Both attributes, in the order the bundle lists them.
    pub const ALL: [Attribute; 2] = [Attribute::UserCertificate, Attribute::UserSmimeCertificate];

    /// The LDAP attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::UserCertificate => "userCertificate",
            Attribute::UserSmimeCertificate => "userSMIMECertificate",
        }
    }

    /// The attribute an LDAP name names exactly (`userCertificate`, `userSMIMECertificate`).
    pub fn from_name(name: &str) -> Option<Attribute> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One line of `data/entries.jsonl`: a directory object and its certificate
/// values (SPEC.md §6). `C` is how a certificate is recorded: a verified
/// entry always holds full [`CertRecord`]s; the verifier reads lines into
/// `Entry<WireCert>` first, since a revision 1.4 line may be lean (§6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry<C = CertRecord> {
    /// `user` or `contact`.
    pub kind: ObjectKind,
    /// objectGUID in its string form, lowercase, without braces.
    pub object_guid: Option<String>,
    /// objectSid in its `S-1-...` string form.
    pub object_sid: Option<String>,
    /// userPrincipalName.
    pub upn: Option<String>,
    /// sAMAccountName.
    pub sam_account_name: Option<String>,
    /// mail.
    pub mail: Option<String>,
    /// proxyAddresses, as stored (`SMTP:` primary, `smtp:` secondary, other types).
    pub proxy_addresses: Vec<String>,
    /// displayName.
    pub display_name: Option<String>,
    /// distinguishedName as the server returned it.
    pub dn: String,
    /// userAccountControl has ACCOUNTDISABLE (0x2) set.
    pub disabled: bool,
    /// The values of `userCertificate` then `userSMIMECertificate`, in server order.
    pub values: Vec<Value<C>>,
}

impl<C> Entry<C> {
    /// The same entry with each value turned by `f`, in order (the verifier
    /// turns a line's certificate objects into described records this way).
    pub fn try_map_values<D, E>(
        self,
        f: impl FnMut(Value<C>) -> Result<Value<D>, E>,
    ) -> Result<Entry<D>, E> {
        let Entry {
            kind,
            object_guid,
            object_sid,
            upn,
            sam_account_name,
            mail,
            proxy_addresses,
            display_name,
            dn,
            disabled,
            values,
        } = self;
        Ok(Entry {
            kind,
            object_guid,
            object_sid,
            upn,
            sam_account_name,
            mail,
            proxy_addresses,
            display_name,
            dn,
            disabled,
            values: values.into_iter().map(f).collect::<Result<_, _>>()?,
        })
    }

    /// The entry's SMTP addresses: `mail` and every `smtp:` proxy address,
    /// lowercased, sorted and deduplicated.
    pub fn smtp_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .proxy_addresses
            .iter()
            .filter_map(|p| {
                let (kind, addr) = p.split_once(':')?;
                kind.eq_ignore_ascii_case("smtp")
                    .then(|| addr.to_ascii_lowercase())
            })
            .chain(self.mail.iter().map(|m| m.to_ascii_lowercase()))
            .filter(|a| !a.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A short name for messages: UPN, mail, sAMAccountName or DN.
    pub fn label(&self) -> &str {
        self.upn
            .as_deref()
            .or(self.mail.as_deref())
            .or(self.sam_account_name.as_deref())
            .unwrap_or(&self.dn)
    }
}

/// One attribute value: its raw bytes live in `file`, unless they were
/// withheld (SPEC.md §6.2: private key material never enters a bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value<C = CertRecord> {
    /// The attribute the value came from.
    pub attribute: Attribute,
    /// The payload file holding the raw bytes, `data/values/NNNNNNNN.bin`;
    /// `None` for a withheld value (and before the writer assigns it).
    pub file: Option<String>,
    /// How the bytes decode: `x509`, `pkcs7` or `unparseable`; or
    /// [`WITHHELD_PRIVATE_KEY`].
    pub container: String,
    /// The certificates found in the value, in the order they appear.
    pub certificates: Vec<C>,
    /// What is recorded of a withheld value instead of its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
}

/// The container of a value the exporter withheld because it holds private
/// key material (SPEC.md §6.2).
pub const WITHHELD_PRIVATE_KEY: &str = "withheld-private-key";

/// The record of a withheld value: enough for an auditor to know it existed
/// and to recognise it, nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withheld {
    /// Its length in bytes.
    pub length: u64,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
}

impl<C> Value<C> {
    /// Whether the value's bytes were withheld (they are in no file).
    pub fn is_withheld(&self) -> bool {
        self.withheld.is_some()
    }
}

/// What the exporter recorded about one certificate (SPEC.md §6.3). Every
/// field except `class` and `reasons` is recomputed by readers from the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRecord {
    /// SHA-256 thumbprint of the certificate DER.
    pub sha256: Sha256,
    /// SHA-1 thumbprint (40 lowercase hex digits), what Exchange shows.
    pub sha1: String,
    /// Subject, RFC 4514 form.
    pub subject: String,
    /// Issuer, RFC 4514 form.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// `rsa`, `ec`, `ed25519`, `ed448`, `dsa` or `other`.
    pub key_type: String,
    /// Key size in bits (0 when unknown).
    pub key_bits: u32,
    /// keyUsage bits by RFC 5280 name; `None` when the extension is absent.
    pub key_usage: Option<Vec<String>>,
    /// extendedKeyUsage OIDs; `None` when the extension is absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// rfc822Name subject alternative names.
    pub rfc822_names: Vec<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// The exporter's classification: `encryption`, `signing-only` or `unusable`.
    pub class: String,
    /// Why, as reason codes (SPEC.md §6.4).
    pub reasons: Vec<String>,
}

/// A certificate object as a line of `entries.jsonl` holds it (SPEC.md
/// §6.3): *described* (every member; all revisions) or *lean* (`class` and
/// `reasons` only, revision 1.4: the rest is what every verifier derives from
/// the bytes anyway). Members are read as they come; [`WireCert::form`] says
/// which form they make, and the canonical check holds their order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireCert {
    #[serde(default)]
    pub(crate) sha256: Option<Sha256>,
    #[serde(default)]
    pub(crate) sha1: Option<String>,
    #[serde(default)]
    pub(crate) subject: Option<String>,
    #[serde(default)]
    pub(crate) issuer: Option<String>,
    #[serde(default)]
    pub(crate) serial: Option<String>,
    #[serde(default)]
    pub(crate) not_before: Option<Timestamp>,
    #[serde(default)]
    pub(crate) not_after: Option<Timestamp>,
    #[serde(default)]
    pub(crate) key_type: Option<String>,
    #[serde(default)]
    pub(crate) key_bits: Option<u32>,
    // `null` is a valid described value here, so absence is the outer None.
    #[serde(default, deserialize_with = "present")]
    pub(crate) key_usage: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) extended_key_usage: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub(crate) rfc822_names: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) is_ca: Option<bool>,
    pub(crate) class: String,
    pub(crate) reasons: Vec<String>,
}

/// Marks a member as present, whatever it holds (`null` included).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The two forms of a certificate object (SPEC.md §6.3).
// Short-lived (one entry's objects, between parsing a line and checking its
// values): a box per described certificate would cost more than the size.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertObject {
    /// Every member: the verifier compares the description with the bytes.
    Described(CertRecord),
    /// `class` and `reasons` only: the verifier derives the description.
    Lean {
        /// The exporter's class.
        class: String,
        /// The exporter's reasons.
        reasons: Vec<String>,
    },
}

impl WireCert {
    /// The form its members make: `None` when some but not all of the
    /// description is present (a reader refuses it: `content`).
    pub fn form(self) -> Option<CertObject> {
        let WireCert {
            sha256,
            sha1,
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            key_type,
            key_bits,
            key_usage,
            extended_key_usage,
            rfc822_names,
            is_ca,
            class,
            reasons,
        } = self;
        match (
            sha256,
            sha1,
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            key_type,
            key_bits,
            key_usage,
            extended_key_usage,
            rfc822_names,
            is_ca,
        ) {
            (
                Some(sha256),
                Some(sha1),
                Some(subject),
                Some(issuer),
                Some(serial),
                Some(not_before),
                Some(not_after),
                Some(key_type),
                Some(key_bits),
                Some(key_usage),
                Some(extended_key_usage),
                Some(rfc822_names),
                Some(is_ca),
            ) => Some(CertObject::Described(CertRecord {
                sha256,
                sha1,
                subject,
                issuer,
                serial,
                not_before,
                not_after,
                key_type,
                key_bits,
                key_usage,
                extended_key_usage,
                rfc822_names,
                is_ca,
                class,
                reasons,
            })),
            (None, None, None, None, None, None, None, None, None, None, None, None, None) => {
                Some(CertObject::Lean { class, reasons })
            }
            _ => None,
        }
    }
}

pub(crate) fn clamp_time(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

impl CertRecord {
    /// The record for a decoded certificate with the given class and reasons.
    /// Every field but `class` and `reasons` is a function of the certificate.
    pub fn describe(info: &crate::cert::CertInfo, class: &str, reasons: &[String]) -> Self {
        Self::from_owned(info.clone(), class.to_owned(), reasons.to_vec())
    }

    /// [`CertRecord::describe`] taking the description by value: its strings
    /// move into the record instead of being copied.
    fn from_owned(info: crate::cert::CertInfo, class: String, reasons: Vec<String>) -> Self {
        Self {
            sha256: info.sha256,
            sha1: crate::hex::encode_lower(&info.sha1),
            subject: info.subject,
            issuer: info.issuer,
            serial: info.serial,
            not_before: clamp_time(info.not_before),
            not_after: clamp_time(info.not_after),
            key_type: info.key_type.as_str().to_owned(),
            key_bits: info.key_bits,
            key_usage: info
                .key_usage
                .map(|ku| ku.iter().map(|u| u.as_str().to_owned()).collect()),
            extended_key_usage: info.extended_key_usage,
            rfc822_names: info.rfc822_names,
            is_ca: info.is_ca,
            class,
            reasons,
        }
    }

    /// The record of a lean certificate object (SPEC.md §6.3): the
    /// description derived from the certificate, the judgement as recorded.
    pub fn judged(info: &crate::cert::CertInfo, class: String, reasons: Vec<String>) -> Self {
        Self::from_owned(info.clone(), class, reasons)
    }

    /// True when every field but `class` and `reasons` is what `describe`
    /// gives for `info` (the verifier's check, without building a record).
    pub fn describes(&self, info: &crate::cert::CertInfo) -> bool {
        self.sha256 == info.sha256
            && crate::hex::eq_lower(&self.sha1, &info.sha1)
            && self.subject == info.subject
            && self.issuer == info.issuer
            && self.serial == info.serial
            && self.not_before == clamp_time(info.not_before)
            && self.not_after == clamp_time(info.not_after)
            && self.key_type == info.key_type.as_str()
            && self.key_bits == info.key_bits
            && match (&self.key_usage, &info.key_usage) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y.as_str())
                }
                _ => false,
            }
            && self.extended_key_usage == info.extended_key_usage
            && self.rfc822_names == info.rfc822_names
            && self.is_ca == info.is_ca
    }

    /// The record for a decoded certificate and its classification.
    pub fn classified(info: &crate::cert::CertInfo, c: &crate::cert::Classification) -> Self {
        Self::classified_from(info.clone(), c)
    }

    /// [`CertRecord::classified`] taking the description by value (no copies
    /// of its strings).
    pub fn classified_from(info: crate::cert::CertInfo, c: &crate::cert::Classification) -> Self {
        let reasons = c.reasons.iter().map(|r| r.as_str().to_owned()).collect();
        Self::from_owned(info, c.class.as_str().to_owned(), reasons)
    }
}

/// Decodes a raw attribute value and describes it, classifying each
/// certificate with `classify` (which receives the value and the certificate).
/// The `file` member is left empty; the writer assigns it.
///
/// A value holding private key material
/// ([`crate::cert::find_private_key_material`]) is described as withheld:
/// only its length and SHA-256 are kept, and a writer given this description
/// writes none of its bytes.
pub fn describe_value(
    attribute: Attribute,
    bytes: &[u8],
    mut classify: impl FnMut(&[u8], &crate::cert::CertInfo) -> crate::cert::Classification,
) -> Value {
    if crate::cert::find_private_key_material(bytes).is_some() {
        return Value {
            attribute,
            file: None,
            container: WITHHELD_PRIVATE_KEY.to_owned(),
            certificates: Vec::new(),
            withheld: Some(Withheld {
                length: bytes.len() as u64,
                sha256: Sha256::digest(bytes),
            }),
        };
    }
    let decoded = crate::cert::decode_value(bytes);
    Value {
        attribute,
        file: None,
        withheld: None,
        container: decoded.container.as_str().to_owned(),
        certificates: decoded
            .certificates
            .into_iter()
            .map(|info| {
                let class = classify(bytes, &info);
                CertRecord::classified_from(info, &class)
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `describes` is the verifier's allocation-free form of
    /// `describe(..) == record`: it must accept exactly the described record
    /// and notice a change in any field that comes from the certificate.
    #[test]
    fn describes_agrees_with_describe_field_by_field() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki/certs");
        for name in ["alice.der", "bob.der", "carol-1.der"] {
            let der = std::fs::read(root.join(name)).unwrap();
            let info = crate::cert::decode_value(&der).certificates.remove(0);
            let rec = CertRecord::describe(&info, "encryption", &[]);
            assert!(rec.describes(&info), "{name}");
            type Change = Box<dyn Fn(&mut CertRecord)>;
            let changed: Vec<(&str, Change)> = vec![
                ("sha256", Box::new(|r| r.sha256 = Sha256::digest(b"other"))),
                ("sha1", Box::new(|r| r.sha1.replace_range(0..1, "x"))),
                ("subject", Box::new(|r| r.subject.push('x'))),
                ("issuer", Box::new(|r| r.issuer.push('x'))),
                ("serial", Box::new(|r| r.serial.push('0'))),
                (
                    "not_before",
                    Box::new(|r| r.not_before = r.not_before.saturating_add(1)),
                ),
                (
                    "not_after",
                    Box::new(|r| r.not_after = r.not_after.saturating_add(-1)),
                ),
                ("key_type", Box::new(|r| r.key_type = "other".into())),
                ("key_bits", Box::new(|r| r.key_bits += 1)),
                (
                    "key_usage",
                    Box::new(|r| r.key_usage = Some(vec!["crlSign".into()])),
                ),
                ("key_usage absent", Box::new(|r| r.key_usage = None)),
                (
                    "extended_key_usage",
                    Box::new(|r| r.extended_key_usage = Some(vec![])),
                ),
                (
                    "rfc822_names",
                    Box::new(|r| r.rfc822_names.push("x@y".into())),
                ),
                ("is_ca", Box::new(|r| r.is_ca = !r.is_ca)),
            ];
            for (field, change) in changed {
                let mut r = rec.clone();
                change(&mut r);
                assert!(
                    !r.describes(&info),
                    "{name}: a changed {field} went unnoticed"
                );
            }
        }
    }
}
