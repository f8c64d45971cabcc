//! The simulated tenant: registered apps and recipients, the fixture format, and the
//! synthetic benchmark tenant.
//!
//! Fixture format (`fixtures/tenant/contoso.json`):
//! ```json
//! {
//!   "comment": "…",
//!   "tenant_id": "<GUID>",
//!   "apps": [{"client_id": "<GUID>", "display_name": "…", "certificate": "app.pem",
//!             "role": "Exchange Recipient Administrator"}],
//!   "recipients": [{"ExternalDirectoryObjectId": "<GUID>", "Name": "alice",
//!                   "DisplayName": "…", "RecipientTypeDetails": "UserMailbox",
//!                   "EmailAddresses": ["SMTP:a@x", "smtp:b@x"], "UserPrincipalName": "a@x",
//!                   "IsDirSynced": false, "IsExchangeCloudManaged": false,
//!                   "UserCertificate": [{"File": "foreign.der"}], "UserSMimeCertificate": []}]
//! }
//! ```
//! Paths are relative to the JSON file. Certificate values are `{"File": path}` or the wire
//! form `{"Data": "<standard base64>"}`. `PrimarySmtpAddress` is the `SMTP:` entry of
//! `EmailAddresses` (exactly one is required); `Name` is what the service returns as
//! `Identity`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The Entra role assigned to an app (what the app may do through InvokeCommand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read and write recipients ("Exchange Recipient Administrator", "Exchange
    /// Administrator", "Global Administrator").
    ReadWrite(String),
    /// Read only ("Global Reader"): `Set-*` and `New-*` get 403.
    ReadOnly(String),
    /// No Exchange role: every InvokeCommand gets 403.
    None,
}

impl Role {
    /// Maps an Entra role name to what it allows.
    pub fn from_name(name: Option<&str>) -> Result<Role, String> {
        match name {
            None => Ok(Role::None),
            Some(
                n @ ("Exchange Recipient Administrator"
                | "Exchange Administrator"
                | "Global Administrator"),
            ) => Ok(Role::ReadWrite(n.to_owned())),
            Some(n @ "Global Reader") => Ok(Role::ReadOnly(n.to_owned())),
            Some(other) => Err(format!(
                "unknown role {other:?} (known: Exchange Recipient Administrator, Exchange \
                 Administrator, Global Administrator, Global Reader, or null)"
            )),
        }
    }

    /// The role's name, `None` for no role.
    pub fn name(&self) -> Option<&str> {
        match self {
            Role::ReadWrite(n) | Role::ReadOnly(n) => Some(n),
            Role::None => None,
        }
    }
}

/// An app registration with a certificate credential.
#[derive(Clone, Debug)]
pub struct App {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Display name (shown in logs only).
    pub display_name: String,
    /// The registered certificate (DER). Its SHA-1 is the `x5t` the assertion must carry.
    pub certificate_der: Vec<u8>,
    /// The Entra role.
    pub role: Role,
}

/// `RecipientTypeDetails` of the three kinds the simulator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientKind {
    /// `UserMailbox` (Get-Mailbox / Set-Mailbox).
    UserMailbox,
    /// `MailUser` (Get-MailUser / Set-MailUser).
    MailUser,
    /// `MailContact` (Get-MailContact / Set-MailContact / New-MailContact).
    MailContact,
}

impl RecipientKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::UserMailbox => "UserMailbox",
            RecipientKind::MailUser => "MailUser",
            RecipientKind::MailContact => "MailContact",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<RecipientKind> {
        match s {
            "UserMailbox" => Some(RecipientKind::UserMailbox),
            "MailUser" => Some(RecipientKind::MailUser),
            "MailContact" => Some(RecipientKind::MailContact),
            _ => None,
        }
    }

    /// The noun the error messages use ("mailbox", "mail user", "mail contact").
    pub fn noun(self) -> &'static str {
        match self {
            RecipientKind::UserMailbox => "mailbox",
            RecipientKind::MailUser => "mail user",
            RecipientKind::MailContact => "mail contact",
        }
    }
}

impl fmt::Display for RecipientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recipient, with the members of the wire protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// `ExternalDirectoryObjectId` (the Entra object id, a lowercase GUID).
    pub external_directory_object_id: String,
    /// `Name`, returned as `Identity`.
    pub name: String,
    /// `DisplayName`.
    pub display_name: String,
    /// `RecipientTypeDetails`.
    pub kind: RecipientKind,
    /// `EmailAddresses`, prefixes as stored (`SMTP:` primary, `smtp:` secondary, others).
    pub email_addresses: Vec<String>,
    /// `UserPrincipalName` (`None` for contacts).
    pub user_principal_name: Option<String>,
    /// `IsDirSynced`.
    pub is_dir_synced: bool,
    /// `IsExchangeCloudManaged`.
    pub is_exchange_cloud_managed: bool,
    /// `ImmutableId`: base64 of the on-premises objectGUID, for synced or
    /// federated objects (`None` otherwise).
    pub immutable_id: Option<String>,
    /// `UserCertificate` values.
    pub user_certificate: Vec<Vec<u8>>,
    /// `UserSMimeCertificate` values.
    pub user_smime_certificate: Vec<Vec<u8>>,
}

impl Recipient {
    /// `PrimarySmtpAddress`: the address of the `SMTP:` entry.
    pub fn primary_smtp_address(&self) -> &str {
        self.email_addresses
            .iter()
            .find_map(|a| a.strip_prefix("SMTP:"))
            .unwrap_or("")
    }

    /// All SMTP addresses (primary and secondary), without prefix.
    pub fn smtp_addresses(&self) -> impl Iterator<Item = &str> {
        self.email_addresses.iter().filter_map(|a| {
            let (prefix, addr) = a.split_once(':')?;
            prefix.eq_ignore_ascii_case("smtp").then_some(addr)
        })
    }

    /// Whether writes are refused: synced from on-premises and not cloud-managed.
    pub fn is_write_protected(&self) -> bool {
        self.is_dir_synced && !self.is_exchange_cloud_managed
    }

    /// The wire object as the admin API shows it (certificate values as
    /// `{"Data": base64}`, every member).
    pub fn to_wire(&self) -> Value {
        self.to_wire_in(&crate::Dialect {
            values_out: crate::ValuesOut::DataBase64,
            ..crate::Dialect::default()
        })
    }

    /// The wire object as InvokeCommand answers it in `dialect`.
    pub fn to_wire_in(&self, dialect: &crate::Dialect) -> Value {
        let mut m = Map::new();
        m.insert(
            "ExternalDirectoryObjectId".into(),
            self.external_directory_object_id.clone().into(),
        );
        m.insert("Identity".into(), self.name.clone().into());
        m.insert("DisplayName".into(), self.display_name.clone().into());
        m.insert(
            "PrimarySmtpAddress".into(),
            self.primary_smtp_address().into(),
        );
        m.insert("EmailAddresses".into(), json!(self.email_addresses));
        m.insert("UserPrincipalName".into(), json!(self.user_principal_name));
        m.insert("RecipientTypeDetails".into(), self.kind.as_str().into());
        m.insert("IsDirSynced".into(), self.is_dir_synced.into());
        m.insert(
            "IsExchangeCloudManaged".into(),
            self.is_exchange_cloud_managed.into(),
        );
        if dialect.immutable_id_member && self.kind != RecipientKind::MailContact {
            m.insert("ImmutableId".into(), json!(self.immutable_id));
        }
        dialect.insert_values(&mut m, "UserCertificate", &self.user_certificate);
        dialect.insert_values(&mut m, "UserSMimeCertificate", &self.user_smime_certificate);
        Value::Object(m)
    }
}

/// The members of a recipient object, in wire order (what `$select` may name).
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

/// A tenant: id, apps, recipients.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Directory (tenant) id, a lowercase GUID.
    pub tenant_id: String,
    /// App registrations allowed to get tokens.
    pub apps: Vec<App>,
    /// Recipients, in the order Get-* returns them.
    pub recipients: Vec<Recipient>,
}

/// Why a tenant fixture could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file (or a file it names) could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The JSON is malformed or does not match the format.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    tenant_id: String,
    apps: Vec<FixtureApp>,
    recipients: Vec<FixtureRecipient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureApp {
    client_id: String,
    display_name: String,
    certificate: String,
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct FixtureRecipient {
    ExternalDirectoryObjectId: String,
    #[serde(alias = "Identity")]
    Name: String,
    DisplayName: String,
    RecipientTypeDetails: String,
    EmailAddresses: Vec<String>,
    #[serde(default)]
    PrimarySmtpAddress: Option<String>,
    #[serde(default)]
    UserPrincipalName: Option<String>,
    IsDirSynced: bool,
    IsExchangeCloudManaged: bool,
    #[serde(default)]
    ImmutableId: Option<String>,
    #[serde(default)]
    UserCertificate: Vec<FixtureValue>,
    #[serde(default)]
    UserSMimeCertificate: Vec<FixtureValue>,
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct FixtureValue {
    #[serde(default)]
    File: Option<String>,
    #[serde(default)]
    Data: Option<String>,
}

/// Whether `s` is a GUID in the canonical 8-4-4-4-12 hex form.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Formats 16 bytes as a lowercase GUID string.
pub fn format_guid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Decodes a certificate from PEM (`-----BEGIN CERTIFICATE-----`) or returns DER as is.
pub fn certificate_der_from_file_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return Ok(bytes.to_vec());
    };
    let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
    let end = body
        .find("-----END CERTIFICATE-----")
        .ok_or("PEM certificate without END line")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64 in PEM: {e}"))
}

impl Tenant {
    /// Loads a tenant fixture (format in the module documentation).
    pub fn load(path: impl AsRef<Path>) -> Result<Tenant, LoadError> {
        let path = path.as_ref();
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = |p: &Path, source| LoadError::Io {
            path: p.to_owned(),
            source,
        };
        let invalid = |message: String| LoadError::Invalid {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| io(path, e))?;
        let file: FixtureFile =
            serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if !is_guid(&file.tenant_id) {
            return Err(invalid(format!(
                "tenant_id {:?} is not a GUID",
                file.tenant_id
            )));
        }
        let mut apps = Vec::new();
        for a in file.apps {
            if !is_guid(&a.client_id) {
                return Err(invalid(format!(
                    "client_id {:?} is not a GUID",
                    a.client_id
                )));
            }
            let cert_path = dir.join(&a.certificate);
            let bytes = std::fs::read(&cert_path).map_err(|e| io(&cert_path, e))?;
            let der = certificate_der_from_file_bytes(&bytes)
                .map_err(|m| invalid(format!("{}: {m}", cert_path.display())))?;
            crate::jwt::rsa_public_key(&der)
                .map_err(|m| invalid(format!("app {}: {m}", a.client_id)))?;
            apps.push(App {
                client_id: a.client_id.to_ascii_lowercase(),
                display_name: a.display_name,
                certificate_der: der,
                role: Role::from_name(a.role.as_deref()).map_err(invalid)?,
            });
        }
        let values = |vals: Vec<FixtureValue>, who: &str| -> Result<Vec<Vec<u8>>, LoadError> {
            vals.into_iter()
                .map(|v| match (v.File, v.Data) {
                    (Some(f), None) => {
                        let p = dir.join(f);
                        std::fs::read(&p).map_err(|e| io(&p, e))
                    }
                    (None, Some(d)) => STANDARD
                        .decode(d)
                        .map_err(|e| invalid(format!("{who}: bad base64 Data: {e}"))),
                    _ => Err(invalid(format!(
                        "{who}: a certificate value is {{\"File\": path}} or {{\"Data\": base64}}"
                    ))),
                })
                .collect()
        };
        let mut recipients = Vec::new();
        for r in file.recipients {
            let who = r.Name.clone();
            let kind = RecipientKind::parse(&r.RecipientTypeDetails).ok_or_else(|| {
                invalid(format!(
                    "{who}: RecipientTypeDetails {:?} is not UserMailbox, MailUser or MailContact",
                    r.RecipientTypeDetails
                ))
            })?;
            let recipient = Recipient {
                external_directory_object_id: r.ExternalDirectoryObjectId.to_ascii_lowercase(),
                name: r.Name,
                display_name: r.DisplayName,
                kind,
                email_addresses: r.EmailAddresses,
                user_principal_name: r.UserPrincipalName,
                is_dir_synced: r.IsDirSynced,
                is_exchange_cloud_managed: r.IsExchangeCloudManaged,
                immutable_id: r.ImmutableId,
                user_certificate: values(r.UserCertificate, &who)?,
                user_smime_certificate: values(r.UserSMimeCertificate, &who)?,
            };
            if let Some(p) = &r.PrimarySmtpAddress {
                if p != recipient.primary_smtp_address() {
                    return Err(invalid(format!(
                        "{who}: PrimarySmtpAddress {p:?} is not the SMTP: entry of EmailAddresses"
                    )));
                }
            }
            recipients.push(recipient);
        }
        let tenant = Tenant {
            tenant_id: file.tenant_id.to_ascii_lowercase(),
            apps,
            recipients,
        };
        tenant.validate().map_err(invalid)?;
        Ok(tenant)
    }

    /// Checks the invariants the simulator relies on: GUID ids, unique ids and names,
    /// exactly one `SMTP:` address per recipient, at most 15 values per attribute.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for r in &self.recipients {
            let who = &r.name;
            if !is_guid(&r.external_directory_object_id) {
                return Err(format!("{who}: ExternalDirectoryObjectId is not a GUID"));
            }
            if !ids.insert(r.external_directory_object_id.to_ascii_lowercase()) {
                return Err(format!("{who}: duplicate ExternalDirectoryObjectId"));
            }
            if !names.insert(r.name.to_lowercase()) {
                return Err(format!("{who}: duplicate Name"));
            }
            let primaries = r
                .email_addresses
                .iter()
                .filter(|a| a.starts_with("SMTP:"))
                .count();
            if primaries != 1 {
                return Err(format!(
                    "{who}: EmailAddresses needs exactly one SMTP: (primary) entry, has {primaries}"
                ));
            }
            if r.user_certificate.len() > crate::MAX_VALUES
                || r.user_smime_certificate.len() > crate::MAX_VALUES
            {
                return Err(format!("{who}: more than 15 values in an attribute"));
            }
            if r.kind == RecipientKind::MailContact && r.user_principal_name.is_some() {
                return Err(format!("{who}: a MailContact has no UserPrincipalName"));
            }
        }
        Ok(())
    }

    /// The fixture app (`fixtures/tenant/app.pem`, the same tenant id and client id as
    /// `contoso.json`) with `n` cloud mailboxes `bulkNNNNNN@contoso.test` (NNNNNN from
    /// 000001, the addresses `fixtures/directory/bulk N` gives its users), display name
    /// "Bulk User i", UPN = address, no certificates, ids derived from the number.
    /// Deterministic; 100,000 recipients take well under a second.
    pub fn synthetic(n: usize) -> Tenant {
        let recipients = (1..=n)
            .map(|i| {
                let name = format!("bulk{i:06}");
                let addr = format!("{name}@contoso.test");
                Recipient {
                    external_directory_object_id: synthetic_guid(i as u64),
                    display_name: format!("Bulk User {i}"),
                    kind: RecipientKind::UserMailbox,
                    email_addresses: vec![format!("SMTP:{addr}")],
                    user_principal_name: Some(addr),
                    is_dir_synced: false,
                    is_exchange_cloud_managed: false,
                    immutable_id: None,
                    user_certificate: Vec::new(),
                    user_smime_certificate: Vec::new(),
                    name,
                }
            })
            .collect();
        Tenant {
            tenant_id: FIXTURE_TENANT_ID.to_owned(),
            apps: vec![fixture_app()],
            recipients,
        }
    }

    /// The recipients as the wire objects (`GET /_sim/state`).
    pub fn to_json(&self) -> Value {
        json!({
            "tenant_id": self.tenant_id,
            "apps": self.apps.iter().map(|a| json!({
                "client_id": a.client_id,
                "display_name": a.display_name,
                "role": a.role.name(),
                "certificate_x5t": crate::jwt::x5t(&a.certificate_der),
            })).collect::<Vec<_>>(),
            "recipients": self.recipients.iter().map(Recipient::to_wire).collect::<Vec<_>>(),
        })
    }

    /// The recipient with this ExternalDirectoryObjectId, or holding this SMTP address.
    pub fn find(&self, id_or_address: &str) -> Option<&Recipient> {
        self.recipients.iter().find(|r| {
            r.external_directory_object_id
                .eq_ignore_ascii_case(id_or_address)
                || r.smtp_addresses()
                    .any(|a| a.eq_ignore_ascii_case(id_or_address))
        })
    }
}

/// The tenant id of `fixtures/tenant/contoso.json` and of [`Tenant::synthetic`].
pub const FIXTURE_TENANT_ID: &str = "6f1c2b7e-0c55-4d7a-9a3e-2b8f4c1d7e90";
/// The importer's client id in `fixtures/tenant/contoso.json` and [`Tenant::synthetic`].
pub const FIXTURE_CLIENT_ID: &str = "3d9a4c21-7b6e-4f08-8e15-c0ffee5a1b2c";
/// The app certificate `fixtures/tenant/app.pem` (test material).
pub const FIXTURE_APP_CERT_PEM: &str = include_str!("../../../fixtures/tenant/app.pem");

/// The directory of the tenant fixtures (`fixtures/tenant/`), absolute.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tenant")
}

fn fixture_app() -> App {
    App {
        client_id: FIXTURE_CLIENT_ID.to_owned(),
        display_name: "certferry importer (test)".to_owned(),
        // The fixture PEM is committed and checked by the tests.
        certificate_der: certificate_der_from_file_bytes(FIXTURE_APP_CERT_PEM.as_bytes())
            .unwrap_or_default(),
        role: Role::ReadWrite("Exchange Recipient Administrator".to_owned()),
    }
}

fn synthetic_guid(i: u64) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("certferry-synthetic-recipient:{i}").as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    format_guid(&b)
}
