//! What certferry wrote in the last import of a source, as `--prune` needs
//! it: per entry key, the values written. Read from the state database one
//! entry at a time ([`RecordedEntries`]), so pruning a source of a million
//! entries holds none of them; or from a map (tests, tools).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use certferry_format::model::Attribute;

use crate::state::{RecipientRecord, RecordedEntries, StateError};

/// What certferry wrote for one entry in earlier imports of this source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousEntry {
    /// A label for messages.
    pub label: String,
    /// The entry's SMTP addresses then (lowercased).
    pub addresses: Vec<String>,
    /// The entry's UPN then.
    pub upn: Option<String>,
    /// Per attribute, the SHA-256 (hex) of each value certferry wrote.
    pub written: BTreeMap<Attribute, BTreeSet<String>>,
}

impl PreviousEntry {
    /// The entry as recorded; a value of an attribute certferry does not know
    /// is an error (the database was written by something else).
    pub fn of(r: &RecipientRecord) -> Result<Self, String> {
        let mut written: BTreeMap<Attribute, BTreeSet<String>> = BTreeMap::new();
        for v in &r.values {
            let a = Attribute::from_name(&v.attribute).ok_or_else(|| {
                format!(
                    "entry {} holds a value of unknown attribute {:?}",
                    r.key, v.attribute
                )
            })?;
            written.entry(a).or_default().insert(v.value_sha256.clone());
        }
        Ok(Self {
            label: r.label.clone(),
            addresses: r.addresses.clone(),
            upn: None,
            written,
        })
    }
}

/// Why what certferry wrote before could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PreviousError {
    /// The state database.
    #[error(transparent)]
    State(#[from] StateError),
    /// It holds something certferry did not write.
    #[error("import state: {0}")]
    Malformed(String),
}

/// The last import of a source, as the planner reads it.
pub trait Previous {
    /// What certferry wrote for the entry `key`, if it was in that import.
    fn get(&self, key: &str) -> Result<Option<PreviousEntry>, PreviousError>;

    /// Every key of that import, in sorted order.
    fn for_each_key(
        &self,
        each: &mut dyn FnMut(&str) -> Result<(), PreviousError>,
    ) -> Result<(), PreviousError>;
}

/// No earlier import, or one the plan does not need (without `--prune`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPrevious;

impl Previous for NoPrevious {
    fn get(&self, _: &str) -> Result<Option<PreviousEntry>, PreviousError> {
        Ok(None)
    }

    fn for_each_key(
        &self,
        _: &mut dyn FnMut(&str) -> Result<(), PreviousError>,
    ) -> Result<(), PreviousError> {
        Ok(())
    }
}

impl Previous for HashMap<String, PreviousEntry> {
    fn get(&self, key: &str) -> Result<Option<PreviousEntry>, PreviousError> {
        Ok(HashMap::get(self, key).cloned())
    }

    fn for_each_key(
        &self,
        each: &mut dyn FnMut(&str) -> Result<(), PreviousError>,
    ) -> Result<(), PreviousError> {
        let mut keys: Vec<&str> = self.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys.into_iter().try_for_each(each)
    }
}

impl Previous for RecordedEntries<'_> {
    fn get(&self, key: &str) -> Result<Option<PreviousEntry>, PreviousError> {
        match RecordedEntries::get(self, key)? {
            None => Ok(None),
            Some(r) => PreviousEntry::of(&r)
                .map(Some)
                .map_err(PreviousError::Malformed),
        }
    }

    fn for_each_key(
        &self,
        each: &mut dyn FnMut(&str) -> Result<(), PreviousError>,
    ) -> Result<(), PreviousError> {
        self.for_each_key_sorted(|k| each(k))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::state::ValueRecord;

    fn record(attribute: &str) -> RecipientRecord {
        RecipientRecord {
            key: "guid-1".into(),
            kind: "user".into(),
            label: "alice@contoso.test".into(),
            dn: "CN=alice".into(),
            addresses: vec!["alice@contoso.test".into()],
            values: vec![ValueRecord {
                attribute: attribute.into(),
                value_sha256: "ab".repeat(32),
                cert_sha256: None,
                cert_sha1: None,
                subject: None,
                issuer: None,
                not_after: None,
            }],
        }
    }

    #[test]
    fn a_recorded_value_of_an_unknown_attribute_is_an_error_naming_the_entry() {
        let ok = PreviousEntry::of(&record("userCertificate")).unwrap();
        assert_eq!(ok.written[&Attribute::UserCertificate].len(), 1);
        let e = PreviousEntry::of(&record("userPassword")).unwrap_err();
        assert!(e.contains("guid-1") && e.contains("userPassword"), "{e}");
    }
}
