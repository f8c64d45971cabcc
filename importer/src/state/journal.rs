//! The rows of `apply`'s write-ahead journal and the write form proven on
//! each tenant. The protocol that writes and reads them is `crate::journal`.

use rusqlite::{params, OptionalExtension};

use super::{StateDb, StateError};

/// A write `apply` is about to send, committed to the journal before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalIntent {
    /// The apply run.
    pub run: String,
    /// The tenant (as in tenant.toml).
    pub tenant: String,
    /// The bundle being applied.
    pub bundle_sha256: String,
    /// Its source.
    pub source: String,
    /// Its sequence.
    pub sequence: u64,
    /// The entry.
    pub entry_key: String,
    /// The entry's label.
    pub label: String,
    /// `mailbox`, `mail-user` or `mail-contact`.
    pub kind: String,
    /// The Set-* `Identity`; for a contact to create, its address.
    pub identity: String,
    /// New-MailContact comes first.
    pub create_contact: bool,
    /// The attribute changes as JSON (`[{attribute, value_sha256, added, removed}]`).
    pub changes: String,
    /// The audit log the outcome goes to.
    pub audit_log: String,
    /// When the intent was recorded.
    pub started_at: String,
}

/// A journal row whose outcome is not known: the run that wrote it ended
/// (killed, crashed, power cut) between the intent and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDoubt {
    /// The journal row.
    pub id: i64,
    /// What was about to be written.
    pub intent: JournalIntent,
}

impl StateDb {
    /// Commits `intent` to the journal and returns its id. Called before the
    /// write is sent: with `synchronous = FULL` the row is on disk first.
    pub fn journal_begin(&self, i: &JournalIntent) -> Result<i64, StateError> {
        self.conn
            .execute(
                "INSERT INTO journal (run, tenant, bundle_sha256, source, sequence, entry_key, label, kind,
                   identity, create_contact, changes, audit_log, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    i.run,
                    i.tenant,
                    i.bundle_sha256,
                    i.source,
                    i64::try_from(i.sequence).unwrap_or(i64::MAX),
                    i.entry_key,
                    i.label,
                    i.kind,
                    i.identity,
                    i.create_contact,
                    i.changes,
                    i.audit_log,
                    i.started_at
                ],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the outcome of journal row `id` (after its audit line is written).
    pub fn journal_finish(&self, id: i64, outcome: &str, at: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE journal SET outcome = ?2, finished_at = ?3 WHERE id = ?1",
                params![id, outcome, at],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// The journal rows of `tenant` whose outcome is unknown, oldest first.
    pub fn journal_in_doubt(&self, tenant: &str) -> Result<Vec<InDoubt>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, run, tenant, bundle_sha256, source, sequence, entry_key, label, kind, identity,
                   create_contact, changes, audit_log, started_at
                 FROM journal WHERE tenant = ?1 AND outcome IS NULL ORDER BY id",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([tenant], |r| {
                Ok(InDoubt {
                    id: r.get(0)?,
                    intent: JournalIntent {
                        run: r.get(1)?,
                        tenant: r.get(2)?,
                        bundle_sha256: r.get(3)?,
                        source: r.get(4)?,
                        sequence: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                        entry_key: r.get(6)?,
                        label: r.get(7)?,
                        kind: r.get(8)?,
                        identity: r.get(9)?,
                        create_contact: r.get(10)?,
                        changes: r.get(11)?,
                        audit_log: r.get(12)?,
                        started_at: r.get(13)?,
                    },
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// Outcomes recorded in the journal, by outcome (for reports and tests).
    pub fn journal_outcomes(&self) -> Result<Vec<(String, i64)>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT coalesce(outcome, 'in-doubt'), count(*) FROM journal GROUP BY 1 ORDER BY 1",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// The write form proven on `tenant` (its name, when, on which recipient).
    pub fn proven_write_form(
        &self,
        tenant: &str,
    ) -> Result<Option<(String, String, String)>, StateError> {
        if self.schema_version()? < 2 {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT write_form, proven_at, recipient FROM tenant_write_forms WHERE tenant = ?1",
                [tenant],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    /// Records that a write in `form` read back identical on `recipient` of `tenant`.
    pub fn record_write_form(
        &self,
        tenant: &str,
        form: &str,
        at: &str,
        recipient: &str,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO tenant_write_forms (tenant, write_form, proven_at, recipient) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant) DO UPDATE SET write_form = excluded.write_form,
                   proven_at = excluded.proven_at, recipient = excluded.recipient",
                params![tenant, form, at, recipient],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }
}
