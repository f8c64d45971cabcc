//! The tenant's recipients as a plan needs them, held compactly so that a
//! tenant of a million recipients fits in memory beside the plan: per
//! recipient only what a plan item shows or a write needs, the certificate
//! values the tenant holds now as their SHA-256 and where their bytes lie in
//! a private temporary file ([`crate::value_spool`]), and one index from the
//! match keys of the chosen [`MatchBy`] to the recipients holding them.
//!
//! A recipient as the service returns it ([`Recipient`]) is read page by page
//! and folded in at once; none is kept whole.

use std::collections::HashMap;

use certferry_format::model::Attribute;
use certferry_format::Sha256;

use crate::exchange::client::Listing;
use crate::exchange::recipient::{Recipient, RecipientKind};
use crate::plan::MatchBy;
use crate::value_spool::{ValueSpool, ValueSpoolWriter};

/// One certificate value a recipient holds now: its digest, and where its
/// bytes were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantValue {
    /// SHA-256 of the value.
    pub sha256: Sha256,
    offset: u64,
    len: u32,
}

/// One recipient, reduced to what planning and writing use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRecipient {
    /// Which Set cmdlet writes it.
    pub kind: RecipientKind,
    read_only_synced: bool,
    write_identity: Box<str>,
    display_name: Box<str>,
    primary_smtp_address: Box<str>,
    values: [Box<[TenantValue]>; 2],
}

impl ListedRecipient {
    /// The `Identity` a Set cmdlet is given ([`Recipient::write_identity`]).
    pub fn write_identity(&self) -> &str {
        &self.write_identity
    }

    /// `DisplayName`.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// `PrimarySmtpAddress`.
    pub fn primary_smtp_address(&self) -> &str {
        &self.primary_smtp_address
    }

    /// Whether a write from the cloud is refused ([`Recipient::is_read_only_synced`]).
    pub fn is_read_only_synced(&self) -> bool {
        self.read_only_synced
    }

    /// The values of one attribute, in the order the service gave them.
    pub fn values(&self, a: Attribute) -> &[TenantValue] {
        &self.values[slot(a)]
    }
}

fn slot(a: Attribute) -> usize {
    match a {
        Attribute::UserCertificate => 0,
        Attribute::UserSmimeCertificate => 1,
    }
}

/// The recipients one match key names: almost always one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holders {
    One(u32),
    Many(Vec<u32>),
}

/// Every recipient of the tenant, compact, with the index of one match mode.
#[derive(Debug, Default)]
pub struct TenantListing {
    recipients: Vec<ListedRecipient>,
    index: HashMap<Box<str>, Holders>,
    values: Option<ValueSpool>,
    /// The `request-id` of every page, the service's warnings and what the
    /// recipients looked like on the wire (the recipients themselves are not kept).
    pub pages: Listing,
}

impl TenantListing {
    /// How many recipients were listed.
    pub fn len(&self) -> usize {
        self.recipients.len()
    }

    /// Whether the tenant has no recipient of the three kinds.
    pub fn is_empty(&self) -> bool {
        self.recipients.is_empty()
    }

    /// The `i`th recipient listed.
    pub fn recipient(&self, i: u32) -> &ListedRecipient {
        &self.recipients[i as usize]
    }

    /// The recipients holding match key `key` (lowercased SMTP address or
    /// UPN, or an immutable id as given), in listing order.
    pub fn holders(&self, key: &str) -> &[u32] {
        match self.index.get(key) {
            None => &[],
            Some(Holders::One(i)) => std::slice::from_ref(i),
            Some(Holders::Many(v)) => v,
        }
    }

    /// The bytes of a value the tenant holds, checked against its digest.
    pub fn value_bytes(&self, v: &TenantValue) -> std::io::Result<Vec<u8>> {
        match &self.values {
            Some(spool) => spool.read(v.offset, v.len, &v.sha256),
            None => Err(std::io::Error::other(
                "a tenant value was asked for but none was listed (certferry bug)",
            )),
        }
    }
}

/// A listing being read, page by page.
#[derive(Debug)]
pub struct ListingBuilder {
    match_by: MatchBy,
    recipients: Vec<ListedRecipient>,
    index: HashMap<Box<str>, Holders>,
    values: ValueSpoolWriter,
}

impl ListingBuilder {
    /// An empty listing indexed for `match_by`.
    pub fn new(match_by: MatchBy) -> Self {
        Self {
            match_by,
            recipients: Vec::new(),
            index: HashMap::new(),
            values: ValueSpoolWriter::default(),
        }
    }

    /// Folds one recipient in: its values go to the spool, its match keys to the index.
    pub fn add(&mut self, r: Recipient) {
        let i = u32::try_from(self.recipients.len()).unwrap_or(u32::MAX);
        let mut keys: Vec<String> = match self.match_by {
            MatchBy::Smtp => r.smtp_addresses().map(str::to_ascii_lowercase).collect(),
            MatchBy::Upn => r
                .user_principal_name
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            MatchBy::ImmutableId => r.immutable_id.iter().cloned().collect(),
        };
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            match self.index.get_mut(k.as_str()) {
                None => {
                    self.index.insert(k.into_boxed_str(), Holders::One(i));
                }
                Some(Holders::One(first)) => {
                    let first = *first;
                    self.index
                        .insert(k.into_boxed_str(), Holders::Many(vec![first, i]));
                }
                Some(Holders::Many(v)) => v.push(i),
            }
        }
        let spool = &self.values;
        let stored = |a: Attribute| -> Box<[TenantValue]> {
            r.values(a)
                .iter()
                .map(|bytes| {
                    let (offset, len) = spool.put(bytes);
                    TenantValue {
                        sha256: Sha256::digest(bytes),
                        offset,
                        len,
                    }
                })
                .collect()
        };
        let values = [
            stored(Attribute::UserCertificate),
            stored(Attribute::UserSmimeCertificate),
        ];
        self.recipients.push(ListedRecipient {
            kind: r.kind,
            read_only_synced: r.is_read_only_synced(),
            write_identity: r.write_identity().into(),
            display_name: r.display_name.into_boxed_str(),
            primary_smtp_address: r.primary_smtp_address.into_boxed_str(),
            values,
        });
    }

    /// The listing, with `pages` (request ids, warnings, wire notes).
    pub fn finish(mut self, pages: Listing) -> std::io::Result<TenantListing> {
        self.recipients.shrink_to_fit();
        Ok(TenantListing {
            recipients: self.recipients,
            index: self.index,
            values: self.values.finish()?,
            pages,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipient(primary: &str, proxies: &[&str], certs: &[&[u8]]) -> Recipient {
        use base64::Engine as _;
        let b64 = |b: &&[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        Recipient::from_json(
            &json!({
                "ExternalDirectoryObjectId": format!("id-{primary}"),
                "DisplayName": primary,
                "PrimarySmtpAddress": primary,
                "EmailAddresses": proxies.iter().map(|p| format!("smtp:{p}")).collect::<Vec<_>>(),
                "RecipientTypeDetails": "UserMailbox",
                "IsDirSynced": false,
                "UserCertificate": certs.iter().map(b64).collect::<Vec<_>>(),
            }),
            RecipientKind::Mailbox,
        )
        .unwrap()
    }

    #[test]
    fn a_listed_recipient_keeps_its_values_as_digests_that_read_back_as_the_bytes() {
        let mut b = ListingBuilder::new(MatchBy::Smtp);
        b.add(recipient("a@x.test", &["A2@x.test"], &[b"one", b"two"]));
        b.add(recipient("b@x.test", &["a2@x.test"], &[]));
        let l = b.finish(Listing::default()).unwrap();
        assert_eq!(l.len(), 2);
        let a = l.recipient(0);
        assert_eq!(a.write_identity(), "id-a@x.test");
        let vals = a.values(Attribute::UserCertificate);
        assert_eq!(vals.len(), 2);
        assert_eq!(vals[1].sha256, Sha256::digest(b"two"));
        assert_eq!(l.value_bytes(&vals[1]).unwrap(), b"two");
        assert_eq!(l.value_bytes(&vals[0]).unwrap(), b"one");
        assert!(a.values(Attribute::UserSmimeCertificate).is_empty());
        // Keys are lowercased; a key two recipients hold names both, in order.
        assert_eq!(l.holders("a@x.test"), &[0]);
        assert_eq!(l.holders("a2@x.test"), &[0, 1]);
        assert!(l.holders("A@x.test").is_empty(), "the caller lowercases");
        assert!(l.holders("nobody@x.test").is_empty());
    }

    #[test]
    fn a_recipient_listing_an_address_twice_is_held_once_under_it() {
        let mut b = ListingBuilder::new(MatchBy::Smtp);
        b.add(recipient("a@x.test", &["a@x.test", "A@X.TEST"], &[]));
        let l = b.finish(Listing::default()).unwrap();
        assert_eq!(l.holders("a@x.test"), &[0]);
        assert!(l
            .value_bytes(&TenantValue {
                sha256: Sha256::digest(b""),
                offset: 0,
                len: 0
            })
            .is_err());
    }
}
