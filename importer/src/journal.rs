//! The write-ahead journal of `apply`, and the audit log it keeps honest.
//!
//! Every write to the tenant goes through four steps, each durable before the next:
//!
//! 1. the **intent** is committed to the journal (a row in the state database);
//! 2. the write is sent (and read back);
//! 3. its **audit line** is appended to the audit log and synced, naming the journal row;
//! 4. the row's **outcome** is committed.
//!
//! A run killed at any instant leaves at most the rows it had in flight without an
//! outcome ("in doubt"). The next `apply` against the same tenant reconciles them
//! before it plans ([`reconcile`]): a row whose audit line exists (killed between 3
//! and 4) takes that line's outcome; otherwise the tenant is compared with what the
//! row was about to write, and an audit line says `confirmed-on-rerun` (the tenant
//! holds exactly those values) or `not-applied`. So every change the tenant
//! received appears in the audit log exactly once, whatever was killed when.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use certferry_format::model::Attribute;
use certferry_format::Sha256;
use serde::Deserialize;
use serde_json::Value;

use crate::exchange::recipient::{Recipient, RecipientKind};
use crate::state::{InDoubt, StateDb, StateError};

/// What became of a journalled write (the audit line's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Sent, answered, read back identical.
    Written,
    /// An attempt's answer was lost (dropped connection, timeout, 5xx); the
    /// recipient, read back, already held exactly the values: done, not resent.
    ConfirmedByReadBack,
    /// The run that sent it ended before recording an outcome; the next run found
    /// the tenant holding exactly the values.
    ConfirmedOnRerun,
    /// The contact was created, but the run ended before its certificates were
    /// written (the next run's plan writes them).
    ContactCreated,
    /// The run that was to send it ended first, or the tenant does not hold the values.
    NotApplied,
    /// Refused or failed; the tenant does not hold the values.
    Failed,
}

impl Outcome {
    /// The audit log's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Written => "written",
            Self::ConfirmedByReadBack => "confirmed-by-read-back",
            Self::ConfirmedOnRerun => "confirmed-on-rerun",
            Self::ContactCreated => "contact-created",
            Self::NotApplied => "not-applied",
            Self::Failed => "failed",
        }
    }

    /// Whether the tenant received the change.
    pub fn changed_the_tenant(self) -> bool {
        matches!(
            self,
            Self::Written | Self::ConfirmedByReadBack | Self::ConfirmedOnRerun
        )
    }
}

/// The audit log: JSON lines, appended and synced one by one (it is evidence).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creates) the log for appending. A last line cut off by a crash is
    /// ended with a line break first, so the next line stands on its own.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and syncs it to disk.
    pub fn append(&self, line: &Value) -> std::io::Result<()> {
        let mut text = line.to_string();
        text.push('\n');
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.write_all(text.as_bytes())?;
        f.sync_data()
    }
}

/// The outcome of every audit line that names a journal row, in the log at `path`
/// (missing file: none). Lines that are not JSON (a torn last line) are skipped.
pub fn journaled_outcomes(path: &Path) -> std::io::Result<HashMap<i64, String>> {
    let mut out = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        // Cheap filter: only lines of journalled writes are parsed.
        if !line.windows(10).any(|w| w == b"\"journal\":") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if let (Some(id), Some(o)) = (v["journal"].as_i64(), v["outcome"].as_str()) {
            out.insert(id, o.to_owned());
        }
    }
    Ok(out)
}

/// One attribute change as the journal stores it.
#[derive(Debug, Deserialize)]
struct JournalChange {
    attribute: String,
    value_sha256: Vec<String>,
}

/// Whether `r` holds exactly the value sets the journalled `changes` were to write.
fn holds(r: &Recipient, changes: &str) -> bool {
    let Ok(changes) = serde_json::from_str::<Vec<JournalChange>>(changes) else {
        return false;
    };
    !changes.is_empty()
        && changes.iter().all(|c| {
            Attribute::from_name(&c.attribute).is_some_and(|a| {
                let now = r.values(a);
                now.len() == c.value_sha256.len()
                    && now
                        .iter()
                        .zip(&c.value_sha256)
                        .all(|(v, h)| Sha256::digest(v).to_hex() == *h)
            })
        })
}

/// The recipient an in-doubt row was written to, among `recipients`.
fn target<'r>(row: &InDoubt, recipients: &'r [Recipient]) -> Option<&'r Recipient> {
    let i = &row.intent;
    let kind = RecipientKind::from_key(&i.kind)?;
    recipients.iter().filter(|r| r.kind == kind).find(|r| {
        if i.create_contact {
            r.has_address(&i.identity)
        } else {
            r.write_identity().eq_ignore_ascii_case(&i.identity) || r.has_address(&i.identity)
        }
    })
}

/// What reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// In-doubt writes the tenant holds: audit lines `confirmed-on-rerun` were added.
    pub confirmed_on_rerun: Vec<String>,
    /// Contacts created whose certificates were not written.
    pub contacts_created: Vec<String>,
    /// In-doubt writes the tenant does not hold: audit lines `not-applied` were added.
    pub not_applied: Vec<String>,
    /// Rows whose audit line was already written (the run ended just after it).
    pub recovered: usize,
}

/// Settles every in-doubt journal row of `tenant` against the tenant's
/// `recipients` as read now (see the module documentation). `line` makes the audit
/// line of a row and its outcome.
pub fn reconcile(
    db: &StateDb,
    log: &AuditLog,
    tenant: &str,
    recipients: &[Recipient],
    now: &str,
    line: impl Fn(&InDoubt, Outcome) -> Value,
) -> Result<Reconciled, ReconcileError> {
    let mut out = Reconciled::default();
    let rows = db.journal_in_doubt(tenant)?;
    let mut logged: HashMap<String, HashMap<i64, String>> = HashMap::new();
    for row in rows {
        let path = row.intent.audit_log.clone();
        if !logged.contains_key(&path) {
            let outcomes = journaled_outcomes(Path::new(&path))
                .map_err(|e| ReconcileError::Audit(format!("{path}: {e}")))?;
            logged.insert(path.clone(), outcomes);
        }
        if let Some(o) = logged.get(&path).and_then(|m| m.get(&row.id)) {
            db.journal_finish(row.id, o, now)?;
            out.recovered += 1;
            continue;
        }
        let found = target(&row, recipients);
        let outcome = match found {
            Some(r) if holds(r, &row.intent.changes) => Outcome::ConfirmedOnRerun,
            Some(_) if row.intent.create_contact => Outcome::ContactCreated,
            _ => Outcome::NotApplied,
        };
        log.append(&line(&row, outcome))
            .map_err(|e| ReconcileError::Audit(format!("{}: {e}", log.path().display())))?;
        db.journal_finish(row.id, outcome.as_str(), now)?;
        let what = format!("{} ({})", row.intent.label, row.intent.identity);
        match outcome {
            Outcome::ConfirmedOnRerun => out.confirmed_on_rerun.push(what),
            Outcome::ContactCreated => out.contacts_created.push(what),
            _ => out.not_applied.push(what),
        }
    }
    Ok(out)
}

/// Reconciliation could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The state database.
    #[error(transparent)]
    State(#[from] StateError),
    /// An audit log could not be read or written.
    #[error("audit log {0}")]
    Audit(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_and_skipped_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        std::fs::write(
            &p,
            b"{\"journal\":1,\"outcome\":\"written\"}\n{\"journal\":2,\"outc",
        )
        .unwrap();
        let log = AuditLog::open(&p).unwrap();
        log.append(&json!({"journal": 3, "outcome": "failed"}))
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.ends_with("\"outc\n{\"journal\":3,\"outcome\":\"failed\"}\n"),
            "{text}"
        );
        let o = journaled_outcomes(&p).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[&1], "written");
        assert_eq!(o[&3], "failed");
        assert!(journaled_outcomes(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn holds_compares_every_attribute_in_order() {
        let r = Recipient::from_json(
            &json!({"PrimarySmtpAddress": "a@x", "RecipientTypeDetails": "UserMailbox",
                    "IsDirSynced": false, "UserCertificate": ["MAE=", "MAI="]}),
            RecipientKind::Mailbox,
        )
        .unwrap();
        let h = |b: &[u8]| Sha256::digest(b).to_hex();
        let c = |hs: Vec<String>| {
            json!([{"attribute": "userCertificate", "value_sha256": hs, "added": [], "removed": []}])
                .to_string()
        };
        assert!(holds(&r, &c(vec![h(&[0x30, 1]), h(&[0x30, 2])])));
        assert!(
            !holds(&r, &c(vec![h(&[0x30, 2]), h(&[0x30, 1])])),
            "order matters"
        );
        assert!(!holds(&r, &c(vec![h(&[0x30, 1])])));
        let smime_empty =
            json!([{"attribute": "userSMIMECertificate", "value_sha256": []}]).to_string();
        assert!(holds(&r, &smime_empty));
        assert!(!holds(&r, "[]"), "no change is not a held change");
        assert!(!holds(&r, "not json"));
    }
}
