//! The import state, in SQLite.
//!
//! Why SQLite: every change is one transaction, so a crash or `kill -9` at
//! any instant leaves either the old state or the new one, never a mix (the
//! write-ahead log is replayed or discarded on the next open); `history` and
//! `status` are queries instead of file scans; and the file can be inspected
//! with the stock `sqlite3` tool. `synchronous = FULL` makes a committed
//! import survive a power cut too.
//!
//! What is kept: per source the last imported sequence, hash and creation
//! time (the replay state of SPEC.md §8 step 9); every import (bundle hash,
//! source, sequence, times, the review report's hash, the signers); and per
//! import and recipient the certificate values certferry wrote, by hash and
//! thumbprint. A bundle is recorded only once its import is complete.
//!
//! Schema 2 adds the write-ahead journal of `apply` (an intent row committed
//! before each write to the tenant, its outcome after it: see `journal.rs`) and
//! the write form proven on each tenant.
//!
//! Files: `schema` (the SQL), `records` (what is stored, as Rust types),
//! `imports` (recording and reading imports, sources, history), `journal`
//! (the journal's rows and the proven write forms; the protocol that uses
//! them is `crate::journal`), and this file: opening, upgrading, checking.

mod imports;
mod journal;
mod recorded;
mod records;
mod schema;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use journal::{InDoubt, JournalIntent};
pub use recorded::RecordedEntries;
pub use records::{
    record_verified, HistoryItem, ImportHead, ImportRecord, NewImport, RecipientRecord,
    RecordError, Recorded, SignerRecord, SourceStatus, ValueRecord,
};
use schema::{SCHEMA, SCHEMA_VERSION};

/// The state database could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("import state {path}: {message}")]
pub struct StateError {
    path: String,
    message: String,
}

/// The open state database.
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StateDb {
    /// Opens the database for writing, creating it (and its schema) if needed.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let conn = Connection::open(path).map_err(|e| err(path, e))?;
        let db = Self {
            conn,
            path: path.to_path_buf(),
        };
        db.setup(true)?;
        Ok(db)
    }

    /// Opens an existing database read-only; `None` when the file does not
    /// exist yet (nothing was imported). Read-only commands never create it.
    pub fn open_read_only(path: &Path) -> Result<Option<Self>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(path, e))?;
        let db = Self {
            conn,
            path: path.to_path_buf(),
        };
        db.setup(false)?;
        Ok(Some(db))
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn e(&self, e: impl std::fmt::Display) -> StateError {
        err(&self.path, e)
    }

    fn setup(&self, write: bool) -> Result<(), StateError> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| self.e(e))?;
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.e(e))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.e(e))?;
        if version > SCHEMA_VERSION {
            return Err(self.e(format!(
                "schema version {version} was written by a newer certferry-import (this one knows {SCHEMA_VERSION})"
            )));
        }
        if write {
            self.conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| self.e(e))?;
            self.conn
                .pragma_update(None, "synchronous", "FULL")
                .map_err(|e| self.e(e))?;
            if version < SCHEMA_VERSION {
                self.conn
                    .execute_batch(&format!(
                        "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    ))
                    .map_err(|e| self.e(e))?;
            }
        } else if version == 0 {
            return Err(self.e("not an import state database (no schema)"));
        }
        Ok(())
    }
}

impl StateDb {
    pub(super) fn schema_version(&self) -> Result<i64, StateError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.e(e))
    }

    /// `PRAGMA integrity_check` plus this schema's own invariant: every
    /// import holds exactly the recipients and values it announced, and
    /// every source points at its latest import. Returns the problems found.
    pub fn check(&self) -> Result<Vec<String>, StateError> {
        let mut problems = Vec::new();
        let integrity: Vec<String> = {
            let mut st = self
                .conn
                .prepare("PRAGMA integrity_check")
                .map_err(|e| self.e(e))?;
            let rows: Vec<String> = st
                .query_map([], |r| r.get(0))
                .map_err(|e| self.e(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.e(e))?;
            rows
        };
        if integrity != ["ok"] {
            problems.extend(integrity);
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT i.id, i.entries, i.values_written,
                   (SELECT count(*) FROM recipients r WHERE r.import = i.id),
                   (SELECT count(*) FROM recipient_values v WHERE v.import = i.id)
                 FROM imports i",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.e(e))?;
        for row in rows {
            let (id, entries, values, have_entries, have_values) = row.map_err(|e| self.e(e))?;
            if entries != have_entries || values != have_values {
                problems.push(format!(
                    "import {id}: announced {entries} recipients and {values} values, holds {have_entries} and {have_values}"
                ));
            }
        }
        let stale: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sources s WHERE s.last_import IS NOT
                   (SELECT max(id) FROM imports i WHERE i.source = s.id)
                 OR s.last_sequence IS NOT (SELECT sequence FROM imports WHERE id = s.last_import)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.e(e))?;
        if stale > 0 {
            problems.push(format!(
                "{stale} source(s) do not point at their latest import"
            ));
        }
        Ok(problems)
    }
}

pub(super) fn err(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
