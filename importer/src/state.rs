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

use std::path::{Path, PathBuf};

use certferry_format::replay::SourceState;
use certferry_format::{Sha256, SourceId, Timestamp, VerifiedBundle};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::certpolicy::Evaluation;

/// The state database could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("import state {path}: {message}")]
pub struct StateError {
    path: String,
    message: String,
}

/// Schema version kept in `PRAGMA user_version`. Version 1 databases are
/// upgraded in place (the schema only adds tables).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS imports (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    bundle_sha256  TEXT    NOT NULL UNIQUE,
    created        TEXT    NOT NULL,
    expires        TEXT    NOT NULL,
    imported_at    TEXT    NOT NULL,
    review_sha256  TEXT,
    signers        TEXT    NOT NULL,   -- JSON: [{name, role, key_id}]
    entries        INTEGER NOT NULL,   -- recipients rows of this import
    values_written INTEGER NOT NULL,   -- recipient_values rows of this import
    UNIQUE (source, sequence)
);
CREATE TABLE IF NOT EXISTS sources (
    id            TEXT    PRIMARY KEY,
    last_sequence INTEGER NOT NULL,
    last_sha256   TEXT    NOT NULL,
    last_created  TEXT    NOT NULL,
    last_import   INTEGER NOT NULL REFERENCES imports(id)
);
CREATE TABLE IF NOT EXISTS recipients (
    import    INTEGER NOT NULL REFERENCES imports(id),
    entry_key TEXT    NOT NULL,   -- objectGUID, else the lowercased DN
    kind      TEXT    NOT NULL,
    label     TEXT    NOT NULL,
    dn        TEXT    NOT NULL,
    PRIMARY KEY (import, entry_key)
);
CREATE TABLE IF NOT EXISTS recipient_addresses (
    import    INTEGER NOT NULL,
    entry_key TEXT    NOT NULL,
    address   TEXT    NOT NULL,   -- SMTP address, lowercased
    PRIMARY KEY (import, entry_key, address),
    FOREIGN KEY (import, entry_key) REFERENCES recipients(import, entry_key)
);
CREATE INDEX IF NOT EXISTS recipient_addresses_by_address ON recipient_addresses(address);
CREATE TABLE IF NOT EXISTS recipient_values (
    import       INTEGER NOT NULL,
    entry_key    TEXT    NOT NULL,
    attribute    TEXT    NOT NULL,   -- userCertificate | userSMIMECertificate
    position     INTEGER NOT NULL,   -- order within the attribute, from 1
    value_sha256 TEXT    NOT NULL,
    cert_sha256  TEXT,
    cert_sha1    TEXT,               -- uppercase, as Exchange shows thumbprints
    subject      TEXT,
    issuer       TEXT,
    not_after    TEXT,
    PRIMARY KEY (import, entry_key, attribute, position),
    FOREIGN KEY (import, entry_key) REFERENCES recipients(import, entry_key)
);
CREATE INDEX IF NOT EXISTS recipient_values_by_sha1 ON recipient_values(cert_sha1);
CREATE INDEX IF NOT EXISTS recipient_values_by_sha256 ON recipient_values(cert_sha256);
CREATE TABLE IF NOT EXISTS journal (
    id             INTEGER PRIMARY KEY,
    run            TEXT    NOT NULL,   -- the apply run (UUID)
    tenant         TEXT    NOT NULL,
    bundle_sha256  TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    entry_key      TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    kind           TEXT    NOT NULL,   -- mailbox | mail-user | mail-contact
    identity       TEXT    NOT NULL,   -- the Set-* Identity (for a new contact: its address)
    create_contact INTEGER NOT NULL,   -- 1: New-MailContact comes first
    changes        TEXT    NOT NULL,   -- JSON: the attribute changes (value hashes)
    audit_log      TEXT    NOT NULL,   -- the audit log its outcome line goes to
    started_at     TEXT    NOT NULL,
    outcome        TEXT,               -- NULL while in doubt
    finished_at    TEXT
);
CREATE INDEX IF NOT EXISTS journal_in_doubt ON journal(tenant) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS tenant_write_forms (
    tenant     TEXT PRIMARY KEY,
    write_form TEXT NOT NULL,   -- data-base64 | data-integers | base64
    proven_at  TEXT NOT NULL,
    recipient  TEXT NOT NULL    -- the recipient whose write read back identical
);
";

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

/// A signer as recorded with an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignerRecord {
    /// Name from the policy.
    pub name: String,
    /// Role.
    pub role: String,
    /// minisign key id.
    pub key_id: String,
}

/// A certificate value written for a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueRecord {
    /// `userCertificate` or `userSMIMECertificate`.
    pub attribute: String,
    /// SHA-256 of the value bytes.
    pub value_sha256: String,
    /// SHA-256 of the certificate.
    pub cert_sha256: Option<String>,
    /// SHA-1 thumbprint, uppercase.
    pub cert_sha1: Option<String>,
    /// Subject DN.
    pub subject: Option<String>,
    /// Issuer DN.
    pub issuer: Option<String>,
    /// notAfter.
    pub not_after: Option<String>,
}

/// A recipient of an import and the values written for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientRecord {
    /// objectGUID, else the lowercased DN.
    pub key: String,
    /// `user` or `contact`.
    pub kind: String,
    /// UPN, mail, sAMAccountName or DN.
    pub label: String,
    /// DN.
    pub dn: String,
    /// SMTP addresses, lowercased, sorted.
    pub addresses: Vec<String>,
    /// The values written (accepted by policy), per attribute in bundle order.
    pub values: Vec<ValueRecord>,
}

/// An import to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
    /// Source id.
    pub source: String,
    /// Sequence number.
    pub sequence: u64,
    /// SHA-256 of the bundle file.
    pub bundle_sha256: Sha256,
    /// The bundle's creation time.
    pub created: Timestamp,
    /// The bundle's expiry.
    pub expires: Timestamp,
    /// When the import completed.
    pub imported_at: Timestamp,
    /// SHA-256 of the review report the reviewer read (the CSV report).
    pub review_sha256: Option<String>,
    /// The signatures that counted.
    pub signers: Vec<SignerRecord>,
    /// Every entry of the bundle, with the values written.
    pub recipients: Vec<RecipientRecord>,
}

impl NewImport {
    /// What to record for a verified, evaluated bundle: every entry, and of
    /// its values those the policy accepted (the values that are written).
    pub fn from_verified(
        bundle: &VerifiedBundle,
        evaluation: &Evaluation<'_>,
        imported_at: Timestamp,
        review_sha256: Option<String>,
    ) -> Self {
        let h = bundle.header();
        let mut seen = std::collections::BTreeSet::new();
        let recipients = evaluation
            .entries()
            .iter()
            // A duplicated identity is refused as a whole after its first entry.
            .filter(|e| seen.insert(e.key().to_owned()))
            .map(|e| RecipientRecord {
                key: e.key().to_owned(),
                kind: e.kind().as_str().to_owned(),
                label: e.label().to_owned(),
                dn: e.dn().to_owned(),
                addresses: e.addresses().to_vec(),
                values: e
                    .values()
                    .iter()
                    .filter(|v| v.accepted())
                    .map(|v| ValueRecord {
                        attribute: v.attribute().as_str().to_owned(),
                        value_sha256: v.sha256().to_owned(),
                        cert_sha256: v.certificate().map(|c| c.sha256.clone()),
                        cert_sha1: v.certificate().map(|c| c.sha1.clone()),
                        subject: v.certificate().map(|c| c.subject.clone()),
                        issuer: v.certificate().map(|c| c.issuer.clone()),
                        not_after: v.certificate().map(|c| c.not_after.clone()),
                    })
                    .collect(),
            })
            .collect();
        Self {
            source: h.source.to_string(),
            sequence: h.sequence,
            bundle_sha256: bundle.sha256(),
            created: h.created,
            expires: h.expires,
            imported_at,
            review_sha256,
            signers: bundle
                .signers()
                .iter()
                .map(|s| SignerRecord {
                    name: s.name.clone(),
                    role: s.role.to_string(),
                    key_id: s.key_id.to_string(),
                })
                .collect(),
            recipients,
        }
    }
}

/// A recorded import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRecord {
    /// Row id (import number).
    pub id: i64,
    /// Source id.
    pub source: String,
    /// Sequence.
    pub sequence: u64,
    /// Bundle SHA-256.
    pub bundle_sha256: String,
    /// Bundle creation time.
    pub created: String,
    /// Bundle expiry.
    pub expires: String,
    /// When the import completed.
    pub imported_at: String,
    /// SHA-256 of the review report.
    pub review_sha256: Option<String>,
    /// Signers.
    pub signers: Vec<SignerRecord>,
    /// Number of recipients.
    pub entries: u64,
    /// Number of values written.
    pub values_written: u64,
}

/// A source's replay state and last import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// Source id.
    pub source: String,
    /// Last imported sequence.
    pub last_sequence: u64,
    /// Its SHA-256.
    pub last_sha256: String,
    /// Its creation time.
    pub last_created: String,
    /// When it was imported.
    pub last_imported_at: String,
}

/// One import in a recipient's or certificate's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    /// The import.
    pub import: ImportRecord,
    /// The matching recipients in it (empty: not present in this import).
    pub recipients: Vec<RecipientRecord>,
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

    fn e(&self, e: impl std::fmt::Display) -> StateError {
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
        let path = self.path.clone();
        let e = |x: rusqlite::Error| err(&path, x);
        let seq = i64::try_from(imp.sequence).map_err(|_| err(&path, "sequence out of range"))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_sequence FROM sources WHERE id = ?1",
                [&imp.source],
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
                        imp.source
                    ),
                ));
            }
        }
        let values: usize = imp.recipients.iter().map(|r| r.values.len()).sum();
        let signers = serde_json::to_string(&imp.signers).map_err(|x| err(&path, x))?;
        tx.execute(
            "INSERT INTO imports (source, sequence, bundle_sha256, created, expires, imported_at, review_sha256, signers, entries, values_written)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                imp.source,
                seq,
                imp.bundle_sha256.to_hex(),
                imp.created.to_string(),
                imp.expires.to_string(),
                imp.imported_at.to_string(),
                imp.review_sha256,
                signers,
                imp.recipients.len() as i64,
                values as i64,
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
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
            for r in &imp.recipients {
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
            }
        }
        tx.execute(
            "INSERT INTO sources (id, last_sequence, last_sha256, last_created, last_import) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET last_sequence = excluded.last_sequence, last_sha256 = excluded.last_sha256,
             last_created = excluded.last_created, last_import = excluded.last_import",
            params![imp.source, seq, imp.bundle_sha256.to_hex(), imp.created.to_string(), id],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(id)
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
            .query_map([import], |r| {
                Ok(RecipientRecord {
                    key: r.get(0)?,
                    kind: r.get(1)?,
                    label: r.get(2)?,
                    dn: r.get(3)?,
                    addresses: Vec::new(),
                    values: Vec::new(),
                })
            })
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
                Ok((
                    r.get::<_, String>(0)?,
                    ValueRecord {
                        attribute: r.get(1)?,
                        value_sha256: r.get(2)?,
                        cert_sha256: r.get(3)?,
                        cert_sha1: r.get(4)?,
                        subject: r.get(5)?,
                        issuer: r.get(6)?,
                        not_after: r.get(7)?,
                    },
                ))
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

    fn schema_version(&self) -> Result<i64, StateError> {
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

fn err(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
