//! The entries of one recorded import, read one at a time: `review` compares
//! a bundle with the last import entry by entry, so a source of a million
//! entries is never held whole. Each lookup is three indexed queries
//! (recipients, addresses and values are keyed by import and entry key).

use rusqlite::OptionalExtension;

use super::records::{RecipientRecord, ValueRecord};
use super::{StateDb, StateError};

/// The entries of import `import` in `db`.
#[derive(Debug, Clone, Copy)]
pub struct RecordedEntries<'a> {
    db: &'a StateDb,
    import: i64,
}

impl StateDb {
    /// The entries of `import`, to be read one at a time.
    pub fn entries_of(&self, import: i64) -> RecordedEntries<'_> {
        RecordedEntries { db: self, import }
    }
}

impl RecordedEntries<'_> {
    /// The entry recorded under `key`, with its addresses (sorted) and the
    /// values written (per attribute, in the order written).
    pub fn get(&self, key: &str) -> Result<Option<RecipientRecord>, StateError> {
        let db = self.db;
        let e = |x: rusqlite::Error| db.e(x);
        let mut st = db
            .conn
            .prepare_cached(
                "SELECT kind, label, dn FROM recipients WHERE import = ?1 AND entry_key = ?2",
            )
            .map_err(e)?;
        let Some(mut r) = st
            .query_row(rusqlite::params![self.import, key], |r| {
                Ok(RecipientRecord {
                    key: key.to_owned(),
                    kind: r.get(0)?,
                    label: r.get(1)?,
                    dn: r.get(2)?,
                    addresses: Vec::new(),
                    values: Vec::new(),
                })
            })
            .optional()
            .map_err(e)?
        else {
            return Ok(None);
        };
        let mut st = db
            .conn
            .prepare_cached(
                "SELECT address FROM recipient_addresses WHERE import = ?1 AND entry_key = ?2 ORDER BY address",
            )
            .map_err(e)?;
        r.addresses = st
            .query_map(rusqlite::params![self.import, key], |row| row.get(0))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = db
            .conn
            .prepare_cached(
                "SELECT attribute, value_sha256, cert_sha256, cert_sha1, subject, issuer, not_after
                 FROM recipient_values WHERE import = ?1 AND entry_key = ?2 ORDER BY attribute, position",
            )
            .map_err(e)?;
        r.values = st
            .query_map(rusqlite::params![self.import, key], |row| {
                value_record(row, 0)
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        Ok(Some(r))
    }

    /// Every entry's key, in sorted order (the primary key's order), handed to `each`.
    pub fn for_each_key_sorted<E: From<StateError>>(
        &self,
        mut each: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        let db = self.db;
        let e = |x: rusqlite::Error| db.e(x);
        let mut st = db
            .conn
            .prepare("SELECT entry_key FROM recipients WHERE import = ?1 ORDER BY entry_key")
            .map_err(e)?;
        let mut rows = st.query([self.import]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            let key: String = row.get(0).map_err(e)?;
            each(&key)?;
        }
        Ok(())
    }

    /// Every entry's key, kind, label and DN (without addresses or values),
    /// in the order recorded, handed to `each`.
    pub fn for_each_head<E: From<StateError>>(
        &self,
        mut each: impl FnMut(RecipientRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let db = self.db;
        let e = |x: rusqlite::Error| db.e(x);
        let mut st = db
            .conn
            .prepare(
                "SELECT entry_key, kind, label, dn FROM recipients WHERE import = ?1 ORDER BY rowid",
            )
            .map_err(e)?;
        let rows = st.query_map([self.import], head_record).map_err(e)?;
        for row in rows {
            each(row.map_err(e)?)?;
        }
        Ok(())
    }
}

/// A value as `SELECT attribute, value_sha256, cert_sha256, cert_sha1,
/// subject, issuer, not_after` gives it, from column `first` on.
pub(super) fn value_record(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<ValueRecord> {
    Ok(ValueRecord {
        attribute: row.get(first)?,
        value_sha256: row.get(first + 1)?,
        cert_sha256: row.get(first + 2)?,
        cert_sha1: row.get(first + 3)?,
        subject: row.get(first + 4)?,
        issuer: row.get(first + 5)?,
        not_after: row.get(first + 6)?,
    })
}

/// An entry without addresses or values, as `SELECT entry_key, kind, label, dn` gives it.
pub(super) fn head_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecipientRecord> {
    Ok(RecipientRecord {
        key: row.get(0)?,
        kind: row.get(1)?,
        label: row.get(2)?,
        dn: row.get(3)?,
        addresses: Vec::new(),
        values: Vec::new(),
    })
}
