//! Recipients as Exchange Online returns them from `Get-Mailbox`,
//! `Get-MailUser`, `Get-MailContact` and `New-MailContact`, typed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use certferry_format::model::Attribute;
use serde_json::Value;

use super::bytes::{self, ReadForm};

/// The recipient members the client reads: what `$select` asks for on Get-* calls
/// (docs/exchange-wire-protocol.md, "Recipient object members"). Without `$select`
/// the real service returns every one of a mailbox's several hundred properties.
pub const RECIPIENT_MEMBERS: &[&str] = &[
    "ExternalDirectoryObjectId",
    "Identity",
    "DisplayName",
    "PrimarySmtpAddress",
    "EmailAddresses",
    "UserPrincipalName",
    "RecipientTypeDetails",
    "IsDirSynced",
    "IsExchangeCloudManaged",
    "ImmutableId",
    "UserCertificate",
    "UserSMimeCertificate",
];

/// What the service's answers looked like, gathered while recipients are read:
/// the forms of certificate values, which members were present, and the
/// `@odata.type` annotations. `doctor` reports them; `--match-by immutable-id`
/// needs `ImmutableId` to be among the members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireNotes {
    /// Recipients read.
    pub recipients: usize,
    /// The forms certificate values came in.
    pub forms: BTreeSet<ReadForm>,
    /// The members of [`RECIPIENT_MEMBERS`] that at least one recipient carried.
    pub members: BTreeSet<&'static str>,
    /// `name@odata.type: value` annotations seen on recipients (a bounded set:
    /// one per distinct pair).
    pub annotations: BTreeSet<String>,
}

impl WireNotes {
    /// Adds what `other` saw.
    pub fn merge(&mut self, other: WireNotes) {
        self.recipients += other.recipients;
        self.forms.extend(other.forms);
        self.members.extend(other.members);
        self.annotations.extend(other.annotations);
    }

    /// Whether recipients were read but none carried `member`.
    pub fn lacks(&self, member: &str) -> bool {
        self.recipients > 0 && !self.members.contains(member)
    }
}

/// The three kinds of recipient certferry writes to; each has its own Set cmdlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecipientKind {
    /// A mailbox of any type (user, shared, room, equipment): `Set-Mailbox`.
    Mailbox,
    /// A mail user (mail-enabled user without a mailbox here): `Set-MailUser`.
    MailUser,
    /// A mail contact: `Set-MailContact`.
    MailContact,
}

impl RecipientKind {
    /// Every kind, in the order the tenant is read.
    pub const ALL: [RecipientKind; 3] = [Self::Mailbox, Self::MailUser, Self::MailContact];

    /// A stable machine name: `mailbox`, `mail-user`, `mail-contact`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::MailUser => "mail-user",
            Self::MailContact => "mail-contact",
        }
    }

    /// The kind [`Self::key`] names.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The cmdlet that lists this kind.
    pub fn get_cmdlet(self) -> &'static str {
        match self {
            Self::Mailbox => "Get-Mailbox",
            Self::MailUser => "Get-MailUser",
            Self::MailContact => "Get-MailContact",
        }
    }

    /// The cmdlet that writes this kind's certificates.
    pub fn set_cmdlet(self) -> &'static str {
        match self {
            Self::Mailbox => "Set-Mailbox",
            Self::MailUser => "Set-MailUser",
            Self::MailContact => "Set-MailContact",
        }
    }

    /// The kind a `RecipientTypeDetails` value belongs to: every `…Mailbox` is a
    /// mailbox, `MailUser` and `GuestMailUser` are mail users, `MailContact` is a
    /// contact; anything else is none of the three.
    pub fn from_type_details(details: &str) -> Option<Self> {
        match details {
            "MailUser" | "GuestMailUser" => Some(Self::MailUser),
            "MailContact" => Some(Self::MailContact),
            d if d.ends_with("Mailbox") => Some(Self::Mailbox),
            _ => None,
        }
    }
}

impl serde::Serialize for RecipientKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl fmt::Display for RecipientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mailbox => "mailbox",
            Self::MailUser => "mail user",
            Self::MailContact => "mail contact",
        })
    }
}

/// One recipient, with its certificate attributes decoded to bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Which Set cmdlet writes it.
    pub kind: RecipientKind,
    /// `ExternalDirectoryObjectId`: the Entra object id (GUID string); `None` when
    /// the service shows none (then address the recipient by [`Self::primary_smtp_address`]).
    pub external_directory_object_id: Option<String>,
    /// `Identity` as the service shows it (informational).
    pub identity: Option<String>,
    /// `DisplayName`.
    pub display_name: String,
    /// `PrimarySmtpAddress`.
    pub primary_smtp_address: String,
    /// `EmailAddresses` as given (`SMTP:` primary, `smtp:` secondary, other prefixes kept).
    pub email_addresses: Vec<String>,
    /// `UserPrincipalName` (contacts have none).
    pub user_principal_name: Option<String>,
    /// `RecipientTypeDetails` as given (`UserMailbox`, `SharedMailbox`, `MailUser`, …).
    pub recipient_type_details: String,
    /// `IsDirSynced`: the object is synchronised from an on-premises directory.
    pub is_dir_synced: bool,
    /// `IsExchangeCloudManaged`: a synced object whose Exchange attributes are
    /// managed in the cloud anyway (absent is taken as `false`).
    pub is_exchange_cloud_managed: bool,
    /// `ImmutableId`: base64 of the on-premises objectGUID, when the object has one.
    pub immutable_id: Option<String>,
    /// The certificate values per attribute: `UserCertificate` (DER
    /// certificates) and `UserSMimeCertificate` (PKCS#7 blobs as Outlook
    /// publishes them); an attribute without values may be absent.
    pub certificates: BTreeMap<Attribute, Vec<Vec<u8>>>,
}

/// The Exchange Online property that holds a directory attribute.
pub fn property(a: Attribute) -> &'static str {
    match a {
        Attribute::UserCertificate => "UserCertificate",
        Attribute::UserSmimeCertificate => "UserSMimeCertificate",
    }
}

impl Recipient {
    /// The values of one attribute.
    pub fn values(&self, a: Attribute) -> &[Vec<u8>] {
        self.certificates.get(&a).map_or(&[], Vec::as_slice)
    }

    /// Whether `address` (with or without `smtp:`) is one of its SMTP addresses.
    pub fn has_address(&self, address: &str) -> bool {
        let address = address
            .split_once(':')
            .filter(|(p, _)| p.eq_ignore_ascii_case("smtp"))
            .map_or(address, |(_, a)| a);
        self.smtp_addresses()
            .any(|a| a.eq_ignore_ascii_case(address))
    }

    /// The `Identity` to pass to a Set cmdlet: the `ExternalDirectoryObjectId`,
    /// or the primary SMTP address when there is none.
    pub fn write_identity(&self) -> &str {
        self.external_directory_object_id
            .as_deref()
            .unwrap_or(&self.primary_smtp_address)
    }

    /// Whether a write from the cloud is refused: synced from on-premises and
    /// not switched to cloud management of its Exchange attributes.
    pub fn is_read_only_synced(&self) -> bool {
        self.is_dir_synced && !self.is_exchange_cloud_managed
    }

    /// The SMTP addresses (primary and proxies), without prefix, in the order given.
    pub fn smtp_addresses(&self) -> impl Iterator<Item = &str> + '_ {
        let proxies = self.email_addresses.iter().filter_map(|a| {
            let (prefix, addr) = a.split_once(':')?;
            prefix.eq_ignore_ascii_case("smtp").then_some(addr)
        });
        std::iter::once(self.primary_smtp_address.as_str())
            .filter(|a| !a.is_empty())
            .chain(proxies)
    }

    /// Parses one object of a Get/New cmdlet's `value` array, listed by the cmdlet
    /// for `kind`. `RecipientTypeDetails`, if it names another kind, is an error.
    pub fn from_json(value: &Value, kind: RecipientKind) -> Result<Self, String> {
        Self::from_json_noting(value, kind, &mut WireNotes::default())
    }

    /// [`Self::from_json`], noting what the object looked like in `notes`.
    pub fn from_json_noting(
        value: &Value,
        kind: RecipientKind,
        notes: &mut WireNotes,
    ) -> Result<Self, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "a recipient is not a JSON object".to_owned())?;
        notes.recipients += 1;
        for (k, v) in obj {
            if let Some(m) = RECIPIENT_MEMBERS.iter().find(|m| **m == k.as_str()) {
                notes.members.insert(m);
            } else if k.ends_with("@odata.type") && notes.annotations.len() < 64 {
                let text = format!("{k}: {}", v.as_str().unwrap_or("?"));
                if !notes.annotations.contains(&text) {
                    notes.annotations.insert(text);
                }
            }
        }
        let opt_str = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{name} is not a string")),
            }
        };
        let req_str = |name: &str| -> Result<String, String> {
            opt_str(name)?.ok_or_else(|| format!("{name} is missing"))
        };
        let opt_bool = |name: &str| -> Result<Option<bool>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(format!("{name} is not a boolean")),
            }
        };
        let primary = req_str("PrimarySmtpAddress")?;
        let name_for_errors = primary.clone();
        let with_name = |e: String| format!("recipient {name_for_errors}: {e}");
        let details = req_str("RecipientTypeDetails").map_err(with_name)?;
        if let Some(k) = RecipientKind::from_type_details(&details) {
            if k != kind {
                return Err(with_name(format!(
                    "RecipientTypeDetails {details} is a {k}, listed by {}",
                    kind.get_cmdlet()
                )));
            }
        }
        let email_addresses = match obj.get("EmailAddresses") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| with_name("EmailAddresses has a non-string".to_owned()))?,
            Some(_) => return Err(with_name("EmailAddresses is not an array".to_owned())),
        };
        let mut certs = |name: &str| -> Result<Vec<Vec<u8>>, String> {
            bytes::decode_set(obj.get(name).unwrap_or(&Value::Null), |f| {
                notes.forms.insert(f);
            })
            .map_err(|e| format!("{name}: {e}"))
        };
        Ok(Self {
            kind,
            external_directory_object_id: opt_str("ExternalDirectoryObjectId")
                .map_err(with_name)?,
            identity: opt_str("Identity").map_err(with_name)?,
            display_name: opt_str("DisplayName")
                .map_err(with_name)?
                .unwrap_or_default(),
            primary_smtp_address: primary.clone(),
            email_addresses,
            user_principal_name: opt_str("UserPrincipalName").map_err(with_name)?,
            recipient_type_details: details,
            is_dir_synced: opt_bool("IsDirSynced")
                .map_err(with_name)?
                .ok_or_else(|| with_name("IsDirSynced is missing".to_owned()))?,
            is_exchange_cloud_managed: opt_bool("IsExchangeCloudManaged")
                .map_err(with_name)?
                .unwrap_or(false),
            immutable_id: opt_str("ImmutableId").map_err(with_name)?,
            certificates: Attribute::ALL
                .into_iter()
                .map(|a| Ok((a, certs(property(a)).map_err(with_name)?)))
                .collect::<Result<_, String>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_mailbox() {
        let v = json!({
            "ExternalDirectoryObjectId": "0b4c3d2e-0000-4000-8000-000000000001",
            "Identity": "alice",
            "DisplayName": "Alice",
            "PrimarySmtpAddress": "alice@contoso.test",
            "EmailAddresses": ["SMTP:alice@contoso.test", "smtp:a@contoso.test", "X500:/o=x"],
            "UserPrincipalName": "alice@contoso.test",
            "RecipientTypeDetails": "SharedMailbox",
            "IsDirSynced": true,
            "IsExchangeCloudManaged": true,
            "UserCertificate": [{"Data": "MAE="}],
            "UserSMimeCertificate": null
        });
        let r = Recipient::from_json(&v, RecipientKind::Mailbox).unwrap();
        assert_eq!(r.write_identity(), "0b4c3d2e-0000-4000-8000-000000000001");
        assert_eq!(r.values(Attribute::UserCertificate), vec![vec![0x30, 0x01]]);
        assert!(r.values(Attribute::UserSmimeCertificate).is_empty());
        assert!(!r.is_read_only_synced());
        assert_eq!(
            r.smtp_addresses().collect::<Vec<_>>(),
            ["alice@contoso.test", "alice@contoso.test", "a@contoso.test"]
        );
        assert!(Recipient::from_json(&v, RecipientKind::MailUser).is_err());
    }

    #[test]
    fn contact_without_upn_and_bad_values() {
        let mut v = json!({
            "PrimarySmtpAddress": "x@fabrikam.test",
            "RecipientTypeDetails": "MailContact",
            "IsDirSynced": false,
            "UserPrincipalName": null,
        });
        let r = Recipient::from_json(&v, RecipientKind::MailContact).unwrap();
        assert_eq!(r.write_identity(), "x@fabrikam.test");
        assert_eq!(r.user_principal_name, None);
        v["UserCertificate"] = json!([{"Data": [1, 2]}]);
        let r = Recipient::from_json(&v, RecipientKind::MailContact).unwrap();
        assert_eq!(r.values(Attribute::UserCertificate), vec![vec![1, 2]]);
        v["UserCertificate"] = json!([{"Data": {"x": 1}}]);
        let e = Recipient::from_json(&v, RecipientKind::MailContact).unwrap_err();
        assert!(
            e.contains("x@fabrikam.test") && e.contains("UserCertificate"),
            "{e}"
        );
        v["UserCertificate"] = Value::Null;
        v.as_object_mut().unwrap().remove("IsDirSynced");
        assert!(Recipient::from_json(&v, RecipientKind::MailContact).is_err());
    }

    #[test]
    fn reads_certificates_as_the_captured_response_carries_them() {
        // The public capture: `#Collection(String)`, each value a base64 string.
        let v = json!({
            "PrimarySmtpAddress": "alice@contoso.test",
            "RecipientTypeDetails": "UserMailbox",
            "IsDirSynced": false,
            "UserCertificate@odata.type": "#Collection(String)",
            "UserCertificate": ["MAE=", "MAI"],
            "UserSMimeCertificate@odata.type": "#Collection(String)",
            "UserSMimeCertificate": [],
        });
        let mut notes = WireNotes::default();
        let r = Recipient::from_json_noting(&v, RecipientKind::Mailbox, &mut notes).unwrap();
        assert_eq!(
            r.values(Attribute::UserCertificate),
            vec![vec![0x30, 0x01], vec![0x30, 0x02]]
        );
        assert!(r.values(Attribute::UserSmimeCertificate).is_empty());
        assert_eq!(notes.recipients, 1);
        assert_eq!(notes.forms.len(), 2, "{notes:?}");
        assert!(notes
            .annotations
            .contains("UserCertificate@odata.type: #Collection(String)"));
        assert!(notes.lacks("ImmutableId"));
        assert!(!notes.lacks("UserCertificate"));
    }

    #[test]
    fn an_unknown_value_form_names_the_recipient_and_the_attribute() {
        let v = json!({
            "PrimarySmtpAddress": "bob@contoso.test",
            "RecipientTypeDetails": "MailUser",
            "IsDirSynced": false,
            "UserSMimeCertificate": [{"Bytes": "MAE="}],
        });
        let e = Recipient::from_json(&v, RecipientKind::MailUser).unwrap_err();
        assert!(
            e.contains("bob@contoso.test")
                && e.contains("UserSMimeCertificate")
                && e.contains("Bytes"),
            "{e}"
        );
    }

    #[test]
    fn kinds_from_type_details() {
        for (d, k) in [
            ("UserMailbox", Some(RecipientKind::Mailbox)),
            ("RoomMailbox", Some(RecipientKind::Mailbox)),
            ("MailUser", Some(RecipientKind::MailUser)),
            ("GuestMailUser", Some(RecipientKind::MailUser)),
            ("MailContact", Some(RecipientKind::MailContact)),
            ("MailUniversalDistributionGroup", None),
        ] {
            assert_eq!(RecipientKind::from_type_details(d), k, "{d}");
        }
    }
}
