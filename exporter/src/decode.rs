//! Decoding of directory entries: a [`RawEntry`] from any source becomes the
//! bundle library's [`Entry`] plus the raw certificate values.
//!
//! Kind: `objectClass` contains `contact` → contact; contains `user` and not
//! `computer` → user; anything else (computers, OUs, plain `person` objects)
//! is not exported ([`decode_entry`] returns `Ok(None)`, before looking at any
//! other attribute, so a malformed computer never fails an export).
//!
//! Single-valued attributes (objectGUID, objectSid, userPrincipalName,
//! sAMAccountName, mail, displayName, userAccountControl) use their first
//! value; AD never returns more than one.

use certferry_format::model::{Attribute, Entry, ObjectKind};

use crate::source::RawEntry;

/// A decoded directory object: the entry (with `values` left empty) and the
/// raw certificate values, `userCertificate` values first, then
/// `userSMIMECertificate`, each in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEntry {
    /// The entry, `values` empty: the writer fills them in.
    pub entry: Entry,
    /// The raw values of the certificate attributes.
    pub values: Vec<(Attribute, Vec<u8>)>,
}

/// Why an entry could not be decoded. The message names the DN and the
/// attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A text attribute is not valid UTF-8.
    #[error("{dn}: {attribute} is not valid UTF-8")]
    NotUtf8 {
        /// The entry's DN.
        dn: String,
        /// The attribute.
        attribute: &'static str,
    },
    /// objectGUID is not 16 bytes.
    #[error("{dn}: objectGUID must be 16 bytes, found {len}")]
    ObjectGuid {
        /// The entry's DN.
        dn: String,
        /// The length found.
        len: usize,
    },
    /// objectSid is not a well-formed binary SID.
    #[error("{dn}: objectSid is not a valid binary SID ({len} bytes)")]
    ObjectSid {
        /// The entry's DN.
        dn: String,
        /// The length found.
        len: usize,
    },
    /// userAccountControl is not a 32-bit decimal number.
    #[error("{dn}: userAccountControl `{value}` is not a 32-bit decimal number")]
    UserAccountControl {
        /// The entry's DN.
        dn: String,
        /// The value found (lossy UTF-8).
        value: String,
    },
    /// The entry has neither a DN nor a distinguishedName attribute.
    #[error("a {kind} entry has no DN and no distinguishedName attribute")]
    MissingDn {
        /// `user` or `contact`.
        kind: &'static str,
    },
}

/// Attribute keys as [`RawEntry`] stores them (lowercase, no options).
mod key {
    pub(super) const OBJECT_CLASS: &str = "objectclass";
    pub(super) const OBJECT_GUID: &str = "objectguid";
    pub(super) const OBJECT_SID: &str = "objectsid";
    pub(super) const UPN: &str = "userprincipalname";
    pub(super) const SAM: &str = "samaccountname";
    pub(super) const MAIL: &str = "mail";
    pub(super) const PROXY_ADDRESSES: &str = "proxyaddresses";
    pub(super) const DISPLAY_NAME: &str = "displayname";
    pub(super) const DISTINGUISHED_NAME: &str = "distinguishedname";
    pub(super) const USER_ACCOUNT_CONTROL: &str = "useraccountcontrol";
}

/// Each certificate attribute under its key in [`RawEntry::attributes`]
/// (the lowercased name), in [`Attribute::ALL`] order.
static CERTIFICATE_KEYS: std::sync::LazyLock<Vec<(String, Attribute)>> =
    std::sync::LazyLock::new(|| {
        Attribute::ALL
            .iter()
            .map(|a| (a.as_str().to_ascii_lowercase(), *a))
            .collect()
    });

/// userAccountControl ACCOUNTDISABLE.
const ACCOUNTDISABLE: i64 = 0x2;

/// The kind of object, from its objectClass values; `None` when it is
/// neither a user nor a contact (computers included).
pub fn object_kind(raw: &RawEntry) -> Option<ObjectKind> {
    let classes = raw.values(key::OBJECT_CLASS);
    let has = |name: &[u8]| classes.iter().any(|c| c.eq_ignore_ascii_case(name));
    if has(b"contact") {
        Some(ObjectKind::Contact)
    } else if has(b"user") && !has(b"computer") {
        Some(ObjectKind::User)
    } else {
        None
    }
}

/// Decodes a raw entry. `Ok(None)` for objects that are neither users nor
/// contacts.
pub fn decode_entry(mut raw: RawEntry) -> Result<Option<DecodedEntry>, DecodeError> {
    let Some(kind) = object_kind(&raw) else {
        return Ok(None);
    };

    let dn = if raw.dn.is_empty() {
        first_text(&mut raw, "", key::DISTINGUISHED_NAME, "distinguishedName")?
            .filter(|d| !d.is_empty())
            .ok_or(DecodeError::MissingDn {
                kind: kind.as_str(),
            })?
    } else {
        std::mem::take(&mut raw.dn)
    };

    let object_guid = match raw.values(key::OBJECT_GUID).first() {
        None => None,
        Some(v) => Some(guid_string(v).ok_or_else(|| DecodeError::ObjectGuid {
            dn: dn.clone(),
            len: v.len(),
        })?),
    };
    let object_sid = match raw.values(key::OBJECT_SID).first() {
        None => None,
        Some(v) => Some(sid_string(v).ok_or_else(|| DecodeError::ObjectSid {
            dn: dn.clone(),
            len: v.len(),
        })?),
    };
    let upn = first_text(&mut raw, &dn, key::UPN, "userPrincipalName")?;
    let sam_account_name = first_text(&mut raw, &dn, key::SAM, "sAMAccountName")?;
    let mail = first_text(&mut raw, &dn, key::MAIL, "mail")?;
    let display_name = first_text(&mut raw, &dn, key::DISPLAY_NAME, "displayName")?;
    let proxy_addresses = raw
        .attributes
        .remove(key::PROXY_ADDRESSES)
        .unwrap_or_default()
        .into_iter()
        .map(|v| text(v, &dn, "proxyAddresses"))
        .collect::<Result<Vec<_>, _>>()?;
    let disabled = match kind {
        ObjectKind::Contact => false,
        ObjectKind::User => match raw.values(key::USER_ACCOUNT_CONTROL).first() {
            None => false,
            Some(v) => {
                parse_user_account_control(v).ok_or_else(|| DecodeError::UserAccountControl {
                    dn: dn.clone(),
                    value: String::from_utf8_lossy(v).into_owned(),
                })? & ACCOUNTDISABLE
                    != 0
            }
        },
    };

    let mut values = Vec::new();
    for (k, attribute) in CERTIFICATE_KEYS.iter() {
        let attribute = *attribute;
        if let Some(vs) = raw.attributes.remove(k.as_str()) {
            values.extend(vs.into_iter().map(|v| (attribute, v)));
        }
    }

    Ok(Some(DecodedEntry {
        entry: Entry {
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
            values: Vec::new(),
        },
        values,
    }))
}

/// A value as UTF-8 text (its bytes become the string's, no copy).
fn text(v: Vec<u8>, dn: &str, attribute: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(v).map_err(|_| DecodeError::NotUtf8 {
        dn: dn.to_owned(),
        attribute,
    })
}

/// The first value of an attribute as UTF-8 text, `None` when absent. The
/// attribute is taken out of `raw`: each is decoded once.
fn first_text(
    raw: &mut RawEntry,
    dn: &str,
    key: &str,
    attribute: &'static str,
) -> Result<Option<String>, DecodeError> {
    raw.attributes
        .remove(key)
        .and_then(|values| values.into_iter().next())
        .map(|v| text(v, dn, attribute))
        .transpose()
}

/// userAccountControl as AD writes it: decimal, signed or unsigned 32-bit.
fn parse_user_account_control(v: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (i64::from(i32::MIN)..=i64::from(u32::MAX))
        .contains(&n)
        .then_some(n)
}

/// objectGUID bytes (MS-DTYP GUID: Data1 little-endian u32, Data2 and Data3
/// little-endian u16, then 8 bytes as they are) in the lowercase string form
/// without braces, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. `None` unless 16
/// bytes.
pub fn guid_string(bytes: &[u8]) -> Option<String> {
    // The first three fields are little-endian; the last eight bytes are
    // printed in order. Written without `fmt`: this runs once per object.
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let mut s = String::with_capacity(36);
    for (i, &k) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b[k] >> 4)]));
        s.push(char::from(HEX[usize::from(b[k] & 0xf)]));
    }
    Some(s)
}

/// Appends `n` in decimal (without `fmt`).
fn push_decimal(s: &mut String, n: u64) {
    s.push_str(itoa::Buffer::new().format(n));
}

/// objectSid bytes (MS-DTYP SID: revision 1, sub-authority count ≤ 15,
/// 6-byte big-endian identifier authority, count little-endian u32
/// sub-authorities) in the `S-1-5-21-…` string form. The authority is decimal
/// below 2^32 and hexadecimal (`0x…`, 12 digits) above, as MS-DTYP 2.4.2.1
/// says. `None` for any other revision or a length that does not match the
/// count.
pub fn sid_string(bytes: &[u8]) -> Option<String> {
    let (&revision, rest) = bytes.split_first()?;
    let (&count, rest) = rest.split_first()?;
    if revision != 1 || count > 15 || rest.len() != 6 + 4 * usize::from(count) {
        return None;
    }
    let (authority, subs) = rest.split_at(6);
    let authority = authority.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let mut s = String::with_capacity(8 + 11 * subs.len() / 4);
    if authority < 1 << 32 {
        s.push_str("S-1-");
        push_decimal(&mut s, authority);
    } else {
        s = format!("S-1-0x{authority:012X}");
    }
    for sub in subs.chunks_exact(4) {
        let sub: [u8; 4] = sub.try_into().ok()?;
        s.push('-');
        push_decimal(&mut s, u64::from(u32::from_le_bytes(sub)));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(extra: &[(&str, &[u8])]) -> RawEntry {
        let mut raw = RawEntry {
            dn: "CN=U,DC=x".to_owned(),
            ..RawEntry::default()
        };
        for c in ["top", "person", "organizationalPerson", "user"] {
            raw.push("objectClass", c.as_bytes().to_vec());
        }
        for (k, v) in extra {
            raw.push(k, v.to_vec());
        }
        raw
    }

    #[test]
    fn guid_is_mixed_endian_lowercase_without_braces() {
        let bytes: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            guid_string(&bytes).unwrap(),
            "03020100-0504-0706-0809-0a0b0c0d0e0f"
        );
        assert_eq!(guid_string(&bytes[..15]), None);
        assert_eq!(guid_string(&[0; 17]), None);
    }

    #[test]
    fn sid_well_known_and_domain() {
        // S-1-5-18 (LocalSystem)
        assert_eq!(
            sid_string(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]).unwrap(),
            "S-1-5-18"
        );
        // S-1-1-0 (Everyone)
        assert_eq!(
            sid_string(&[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
            "S-1-1-0"
        );
        let mut dom = vec![1, 5, 0, 0, 0, 0, 0, 5];
        for v in [21u32, 3_623_811_015, 3_361_044_348, 30_300_820, 1101] {
            dom.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            sid_string(&dom).unwrap(),
            "S-1-5-21-3623811015-3361044348-30300820-1101"
        );
    }

    #[test]
    fn sid_numbers_at_their_edges_are_plain_decimal() {
        let b = [
            1, 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(sid_string(&b).unwrap(), "S-1-4294967295-0-4294967295");
        let b = [1, 1, 0, 0, 0, 0, 0, 10, 0x1a, 0x27, 0, 0];
        assert_eq!(sid_string(&b).unwrap(), "S-1-10-10010");
    }

    #[test]
    fn sid_authority_at_or_above_2_pow_32_is_hex() {
        let b = [1, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06];
        assert_eq!(sid_string(&b).unwrap(), "S-1-0x010203040506");
    }

    #[test]
    fn sid_rejects_wrong_lengths_and_revisions() {
        let ok = [1u8, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        assert_eq!(sid_string(&ok[..11]), None);
        let mut long = ok.to_vec();
        long.push(0);
        assert_eq!(sid_string(&long), None);
        let mut rev2 = ok;
        rev2[0] = 2;
        assert_eq!(sid_string(&rev2), None);
        assert_eq!(sid_string(&[]), None);
        assert_eq!(sid_string(&[1]), None);
        let mut too_many = vec![1u8, 16, 0, 0, 0, 0, 0, 5];
        too_many.extend(std::iter::repeat_n(0u8, 64));
        assert_eq!(sid_string(&too_many), None);
    }

    #[test]
    fn kind_from_object_class() {
        assert_eq!(object_kind(&user(&[])), Some(ObjectKind::User));
        let mut computer = user(&[]);
        computer.push("objectClass", b"computer".to_vec());
        assert_eq!(object_kind(&computer), None);
        let mut contact = RawEntry::default();
        contact.push("objectclass", b"CONTACT".to_vec());
        assert_eq!(object_kind(&contact), Some(ObjectKind::Contact));
        let mut person = RawEntry::default();
        person.push("objectClass", b"person".to_vec());
        assert_eq!(object_kind(&person), None);
    }

    #[test]
    fn computer_with_malformed_attributes_is_skipped_not_an_error() {
        let mut computer = user(&[("objectGUID", b"short")]);
        computer.push("objectClass", b"computer".to_vec());
        assert_eq!(decode_entry(computer), Ok(None));
    }

    #[test]
    fn disabled_from_user_account_control_including_negative() {
        let d = |uac: &[u8]| {
            decode_entry(user(&[("userAccountControl", uac)])).map(|e| e.unwrap().entry.disabled)
        };
        assert_eq!(d(b"512"), Ok(false));
        assert_eq!(d(b"514"), Ok(true));
        assert_eq!(d(b"-2147483646"), Ok(true)); // 0x80000002 as signed
        assert_eq!(d(b"-2147483648"), Ok(false));
        assert_eq!(d(b"4294967295"), Ok(true));
        assert!(matches!(
            d(b"4294967296"),
            Err(DecodeError::UserAccountControl { .. })
        ));
        let err = d(b"0x202").unwrap_err().to_string();
        assert!(
            err.contains("CN=U,DC=x") && err.contains("userAccountControl"),
            "{err}"
        );
        assert_eq!(
            decode_entry(user(&[])).map(|e| e.unwrap().entry.disabled),
            Ok(false)
        );
    }

    #[test]
    fn contacts_are_never_disabled() {
        let mut c = RawEntry {
            dn: "CN=C".to_owned(),
            ..RawEntry::default()
        };
        c.push("objectClass", b"contact".to_vec());
        c.push("userAccountControl", b"514".to_vec());
        let e = decode_entry(c).unwrap().unwrap().entry;
        assert_eq!(e.kind, ObjectKind::Contact);
        assert!(!e.disabled);
    }

    #[test]
    fn non_utf8_text_attribute_names_dn_and_attribute() {
        let err = decode_entry(user(&[("mail", b"\xffx")])).unwrap_err();
        assert_eq!(
            err,
            DecodeError::NotUtf8 {
                dn: "CN=U,DC=x".to_owned(),
                attribute: "mail"
            }
        );
        assert_eq!(err.to_string(), "CN=U,DC=x: mail is not valid UTF-8");
        let err = decode_entry(user(&[("proxyAddresses", b"SMTP:\xc3")])).unwrap_err();
        assert!(err.to_string().contains("proxyAddresses"));
    }

    #[test]
    fn wrong_guid_and_sid_lengths_are_errors() {
        let err = decode_entry(user(&[("objectGUID", &[0; 15])]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "CN=U,DC=x: objectGUID must be 16 bytes, found 15");
        let err = decode_entry(user(&[("objectSid", &[1, 1, 0, 0, 0, 0, 0, 5])]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("CN=U,DC=x: objectSid"), "{err}");
    }

    #[test]
    fn dn_falls_back_to_distinguished_name() {
        let mut raw = user(&[("distinguishedName", b"CN=From,DC=attr")]);
        raw.dn.clear();
        assert_eq!(
            decode_entry(raw).unwrap().unwrap().entry.dn,
            "CN=From,DC=attr"
        );
        let mut raw = user(&[]);
        raw.dn.clear();
        assert_eq!(
            decode_entry(raw),
            Err(DecodeError::MissingDn { kind: "user" })
        );
    }

    #[test]
    fn certificate_values_user_certificate_first_then_smime_in_order() {
        let raw = user(&[
            ("userSMIMECertificate", b"s1"),
            ("userCertificate;binary", b"c1"),
            ("userSMIMECertificate", b"s2"),
            ("USERCERTIFICATE", b"c2"),
        ]);
        let d = decode_entry(raw).unwrap().unwrap();
        assert_eq!(
            d.values,
            vec![
                (Attribute::UserCertificate, b"c1".to_vec()),
                (Attribute::UserCertificate, b"c2".to_vec()),
                (Attribute::UserSmimeCertificate, b"s1".to_vec()),
                (Attribute::UserSmimeCertificate, b"s2".to_vec()),
            ]
        );
        assert!(d.entry.values.is_empty());
    }
}
