//! Recording an import (in one transaction) and reading imports, sources,
//! recipients and history back.

use certferry_format::replay::SourceState;
use certferry_format::{Sha256, SourceId, Timestamp};
use rusqlite::{params, OptionalExtension};

use super::recorded::{head_record, value_record};
use super::records::{
    HistoryItem, ImportHead, ImportRecord, NewImport, RecipientRecord, Recorded, SourceStatus,
};
use super::{err, StateDb, StateError};

impl StateDb {
    /// The replay state for `source`, or `None` if nothing was imported from it.
    pub fn source_state(&self, source: &SourceId) -> Result<Option<SourceState>, StateError> {
        let row: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT last_sequence, last_sha256, last_created FROM sources WHERE id = ?1",
                [source.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.e(e))?;
        let Some((seq, sha, created)) = row else {
            return Ok(None);
        };
        let bad = |what: &str| self.e(format!("source {source}: stored {what} is malformed"));
        Ok(Some(SourceState {
            sequence: u64::try_from(seq).map_err(|_| bad("sequence"))?,
            sha256: Sha256::parse_hex(&sha).ok_or_else(|| bad("sha256"))?,
            created: Timestamp::parse(&created).ok_or_else(|| bad("creation time"))?,
        }))
    }

    /// Records a completed import in one transaction: the import, its
    /// recipients and values, and the source's new replay state. Refuses a
    /// sequence that does not go forward.
    pub fn record_import(&mut self, imp: &NewImport) -> Result<i64, StateError> {
        self.record_import_from(&imp.head, |put| imp.recipients.iter().try_for_each(put))
            .map(|r| r.id)
    }

    /// [`Self::record_import`] with the entries handed over one at a time:
    /// `entries` calls `put` for each. Anything `entries` or `put` returns as
    /// an error rolls the whole import back.
    pub fn record_import_from<E: From<StateError>>(
        &mut self,
        head: &ImportHead,
        entries: impl FnOnce(
            &mut dyn FnMut(&RecipientRecord) -> Result<(), StateError>,
        ) -> Result<(), E>,
    ) -> Result<Recorded, E> {
        let path = self.path.clone();
        let e = |x: rusqlite::Error| err(&path, x);
        let seq = i64::try_from(head.sequence).map_err(|_| err(&path, "sequence out of range"))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_sequence FROM sources WHERE id = ?1",
                [&head.source],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        if let Some(last) = last {
            if seq <= last {
                return Err(err(
                    &path,
                    format!(
                        "source {} is already at sequence {last}; cannot record sequence {seq}",
                        head.source
                    ),
                )
                .into());
            }
        }
        let signers = serde_json::to_string(&head.signers).map_err(|x| err(&path, x))?;
        // The totals are set once every entry is in.
        tx.execute(
            "INSERT INTO imports (source, sequence, bundle_sha256, created, expires, imported_at, review_sha256, signers, entries, values_written)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0)",
            params![
                head.source,
                seq,
                head.bundle_sha256.to_hex(),
                head.created.to_string(),
                head.expires.to_string(),
                head.imported_at.to_string(),
                head.review_sha256,
                signers,
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        let (mut n_entries, mut n_values) = (0usize, 0usize);
        {
            let mut rec = tx
                .prepare("INSERT INTO recipients (import, entry_key, kind, label, dn) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(e)?;
            let mut addr = tx
                .prepare("INSERT OR IGNORE INTO recipient_addresses (import, entry_key, address) VALUES (?1, ?2, ?3)")
                .map_err(e)?;
            let mut val = tx
                .prepare(
                    "INSERT INTO recipient_values (import, entry_key, attribute, position, value_sha256, cert_sha256, cert_sha1, subject, issuer, not_after)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(e)?;
            let mut put = |r: &RecipientRecord| -> Result<(), StateError> {
                rec.execute(params![id, r.key, r.kind, r.label, r.dn])
                    .map_err(e)?;
                for a in &r.addresses {
                    addr.execute(params![id, r.key, a.to_lowercase()])
                        .map_err(e)?;
                }
                let mut pos: std::collections::BTreeMap<&str, i64> =
                    std::collections::BTreeMap::new();
                for v in &r.values {
                    let p = pos.entry(v.attribute.as_str()).or_insert(0);
                    *p += 1;
                    val.execute(params![
                        id,
                        r.key,
                        v.attribute,
                        *p,
                        v.value_sha256,
                        v.cert_sha256,
                        v.cert_sha1,
                        v.subject,
                        v.issuer,
                        v.not_after
                    ])
                    .map_err(e)?;
                }
                n_entries += 1;
                n_values += r.values.len();
                Ok(())
            };
            entries(&mut put)?;
        }
        tx.execute(
            "UPDATE imports SET entries = ?1, values_written = ?2 WHERE id = ?3",
            params![n_entries as i64, n_values as i64, id],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO sources (id, last_sequence, last_sha256, last_created, last_import) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET last_sequence = excluded.last_sequence, last_sha256 = excluded.last_sha256,
             last_created = excluded.last_created, last_import = excluded.last_import",
            params![head.source, seq, head.bundle_sha256.to_hex(), head.created.to_string(), id],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(Recorded {
            id,
            entries: n_entries,
            values: n_values,
        })
    }

    fn import_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImportRecord> {
        let signers: String = r.get(8)?;
        Ok(ImportRecord {
            id: r.get(0)?,
            source: r.get(1)?,
            sequence: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            bundle_sha256: r.get(3)?,
            created: r.get(4)?,
            expires: r.get(5)?,
            imported_at: r.get(6)?,
            review_sha256: r.get(7)?,
            signers: serde_json::from_str(&signers).unwrap_or_default(),
            entries: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
            values_written: u64::try_from(r.get::<_, i64>(10)?).unwrap_or(0),
        })
    }

    const IMPORT_COLUMNS: &'static str =
        "id, source, sequence, bundle_sha256, created, expires, imported_at, review_sha256, signers, entries, values_written";

    /// Every import, oldest first.
    pub fn imports(&self) -> Result<Vec<ImportRecord>, StateError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM imports ORDER BY id",
                Self::IMPORT_COLUMNS
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], Self::import_from_row)
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// The last import of `source`.
    pub fn last_import(&self, source: &SourceId) -> Result<Option<ImportRecord>, StateError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM imports WHERE id = (SELECT last_import FROM sources WHERE id = ?1)",
                    Self::IMPORT_COLUMNS
                ),
                [source.as_str()],
                Self::import_from_row,
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    /// The recipients of an import with their values (all, or those whose
    /// key is in `only`).
    pub fn recipients(&self, import: i64) -> Result<Vec<RecipientRecord>, StateError> {
        self.recipients_where(import, None)
    }

    fn recipients_where(
        &self,
        import: i64,
        only: Option<&[String]>,
    ) -> Result<Vec<RecipientRecord>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT entry_key, kind, label, dn FROM recipients WHERE import = ?1 ORDER BY rowid")
            .map_err(|e| self.e(e))?;
        let mut out: Vec<RecipientRecord> = st
            .query_map([import], head_record)
            .map_err(|e| self.e(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.e(e))?;
        if let Some(keys) = only {
            out.retain(|r| keys.contains(&r.key));
        }
        let index: std::collections::HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        let mut st = self
            .conn
            .prepare("SELECT entry_key, address FROM recipient_addresses WHERE import = ?1 ORDER BY address")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([import], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.e(e))?;
        for row in rows {
            let (k, a) = row.map_err(|e| self.e(e))?;
            if let Some(&i) = index.get(&k) {
                out[i].addresses.push(a);
            }
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT entry_key, attribute, value_sha256, cert_sha256, cert_sha1, subject, issuer, not_after
                 FROM recipient_values WHERE import = ?1 ORDER BY entry_key, attribute, position",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([import], |r| {
                Ok((r.get::<_, String>(0)?, value_record(r, 1)?))
            })
            .map_err(|e| self.e(e))?;
        for row in rows {
            let (k, v) = row.map_err(|e| self.e(e))?;
            if let Some(&i) = index.get(&k) {
                out[i].values.push(v);
            }
        }
        Ok(out)
    }

    /// Every source with its replay state and last import time.
    pub fn sources(&self) -> Result<Vec<SourceStatus>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.id, s.last_sequence, s.last_sha256, s.last_created, i.imported_at
                 FROM sources s JOIN imports i ON i.id = s.last_import ORDER BY s.id",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(SourceStatus {
                    source: r.get(0)?,
                    last_sequence: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    last_sha256: r.get(2)?,
                    last_created: r.get(3)?,
                    last_imported_at: r.get(4)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// For every import, oldest first, the recipients having `address` and
    /// the values written for them (an empty list: no such recipient then).
    pub fn history_by_address(&self, address: &str) -> Result<Vec<HistoryItem>, StateError> {
        let address = address.trim().to_lowercase();
        self.history(
            "SELECT entry_key FROM recipient_addresses WHERE import = ?1 AND address = ?2",
            &address,
        )
    }

    /// For every import, oldest first, the recipients that had a value whose
    /// certificate SHA-1 thumbprint, certificate SHA-256 or value SHA-256 is `thumbprint`.
    pub fn history_by_thumbprint(&self, thumbprint: &str) -> Result<Vec<HistoryItem>, StateError> {
        let t: String = thumbprint
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        let mut items = self.history(
            "SELECT DISTINCT entry_key FROM recipient_values WHERE import = ?1
             AND (cert_sha1 = upper(?2) OR cert_sha256 = lower(?2) OR value_sha256 = lower(?2))",
            &t,
        )?;
        let lower = t.to_lowercase();
        for item in &mut items {
            for r in &mut item.recipients {
                r.values.retain(|v| {
                    v.cert_sha1
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&lower))
                        || v.cert_sha256.as_deref() == Some(lower.as_str())
                        || v.value_sha256 == lower
                });
            }
        }
        Ok(items)
    }

    fn history(&self, keys_sql: &str, arg: &str) -> Result<Vec<HistoryItem>, StateError> {
        let mut out = Vec::new();
        for import in self.imports()? {
            let mut st = self.conn.prepare(keys_sql).map_err(|e| self.e(e))?;
            let keys: Vec<String> = st
                .query_map(params![import.id, arg], |r| r.get(0))
                .map_err(|e| self.e(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.e(e))?;
            let recipients = if keys.is_empty() {
                Vec::new()
            } else {
                self.recipients_where(import.id, Some(&keys))?
            };
            out.push(HistoryItem { import, recipients });
        }
        Ok(out)
    }
}
