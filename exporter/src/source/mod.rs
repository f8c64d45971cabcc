//! Where directory objects come from: an LDAP server ([`ldap`]) or an LDIF
//! dump ([`ldif`]). Both yield [`RawEntry`] values one at a time, so memory
//! stays flat however large the directory is.

use std::collections::BTreeMap;

pub mod ldap;
mod ldap_panic;
pub mod ldif;
pub mod transcode;

/// One directory object as the source returned it, before decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// The distinguished name, as returned (case preserved).
    pub dn: String,
    /// Attribute values by attribute name, lowercased and stripped of options
    /// (`userCertificate;binary` → `usercertificate`), values in server order.
    pub attributes: BTreeMap<String, Vec<Vec<u8>>>,
}

impl RawEntry {
    /// Normalises an attribute description: lowercase, options removed.
    pub fn attribute_key(description: &str) -> String {
        Self::into_attribute_key(description.to_owned())
    }

    /// [`Self::attribute_key`] of an owned description, reusing its memory.
    pub fn into_attribute_key(mut description: String) -> String {
        if let Some(semicolon) = description.find(';') {
            description.truncate(semicolon);
        }
        description.make_ascii_lowercase();
        description
    }

    /// Adds a value under an attribute description (any case, any options).
    pub fn push(&mut self, description: &str, value: Vec<u8>) {
        self.attributes
            .entry(Self::attribute_key(description))
            .or_default()
            .push(value);
    }

    /// Adds values under an attribute description (any case, any options):
    /// one lookup for all of them, and no copy of the description.
    pub fn extend(&mut self, description: String, values: Vec<Vec<u8>>) {
        if values.is_empty() {
            return;
        }
        match self.attributes.entry(Self::into_attribute_key(description)) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(values);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => slot.get_mut().extend(values),
        }
    }

    /// The values of an attribute (name in any case), empty if absent.
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.attributes.get(&name.to_ascii_lowercase())
        } else {
            self.attributes.get(name)
        };
        found.map_or(&[], Vec::as_slice)
    }

    /// The first value of an attribute as UTF-8 text, if present and valid.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Which objects to read. LDAP sources turn this into a server-side filter;
/// the export core applies `contacts` and `include_disabled` to every decoded
/// object whatever the source (an LDIF dump has no server to filter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Include contacts (`objectClass=contact`) as well as users.
    pub contacts: bool,
    /// Include disabled accounts.
    pub include_disabled: bool,
    /// An extra LDAP filter ANDed with the built-in one (LDAP sources only;
    /// the `ldif` command has no such option).
    pub extra_filter: Option<String>,
}

/// A failure to read from a source. The message names the server or file and
/// the entry or line; it never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The server could not be reached, or the connection broke.
    #[error("{0}")]
    Connect(String),
    /// TLS failed (the certificate problem is named).
    #[error("{0}")]
    Tls(String),
    /// The bind was refused (wrong password, strong auth required, ...).
    #[error("{0}")]
    Bind(String),
    /// The search failed (size limit, time limit, no such object, ...).
    #[error("{0}")]
    Search(String),
    /// The LDIF input is malformed; names the file and line.
    #[error("{0}")]
    Ldif(String),
    /// Reading a file failed.
    #[error("{0}")]
    Io(String),
}

/// A stream of directory objects.
pub trait DirectorySource {
    /// The next object, or `None` at the end.
    fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError>;

    /// A description of the source for `bundle.json` (server, base DN, filter
    /// or file name; never credentials).
    fn description(&self) -> String;

    /// The CA objects of the directory's public key services that the entries
    /// did not include, read after the last entry (an LDAP server: the
    /// configuration partition, SPEC.md §6.7). None by default: an LDIF dump
    /// holds its CA objects among its entries.
    fn ca_material(&mut self) -> Result<Vec<RawEntry>, SourceError> {
        Ok(Vec::new())
    }
}
