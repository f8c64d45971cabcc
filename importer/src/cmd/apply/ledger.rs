//! The ledger of one `apply` run: each write's intent committed to the
//! journal before it is sent, its audit line and outcome after it
//! (`crate::journal` has the protocol; this is `apply`'s side of it).

use std::sync::Mutex;

use crate::certpolicy::JudgedBundle;
use serde_json::{json, Value};

use crate::context::clock;
use crate::exchange::bytes::WriteForm;
use crate::journal::AuditLog;
use crate::journal::Outcome as Done;
use crate::plan;
use crate::plan::Outcome as Item;
use crate::plan::PlanItem;
use crate::state::{InDoubt, JournalIntent, StateDb};
use crate::write::{WriteError, Written};

/// Everything one write needs besides the client: the journal, the audit log,
/// and what to name in them.
pub(super) struct Ledger<'a> {
    pub(super) db: &'a Mutex<StateDb>,
    pub(super) log: &'a AuditLog,
    pub(super) run: &'a str,
    pub(super) tenant: &'a str,
    pub(super) verified: &'a JudgedBundle,
}

pub(super) fn timestamp() -> String {
    clock().map(|t| t.to_string()).unwrap_or_default()
}

fn identity_of(item: &PlanItem) -> (String, String, bool) {
    match (&item.outcome, &item.target) {
        (Item::CreateContact { address, .. }, _) => {
            (address.clone(), "mail-contact".to_owned(), true)
        }
        (_, Some(t)) => (t.identity.clone(), t.kind.key().to_owned(), false),
        _ => (String::new(), String::new(), false),
    }
}

pub(super) fn item_changes(item: &PlanItem) -> &[plan::AttributeChange] {
    match &item.outcome {
        Item::Change { changes, .. } | Item::CreateContact { changes, .. } => changes,
        _ => &[],
    }
}

impl Ledger<'_> {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, StateDb> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Step 1: the intent, committed before the write is sent.
    pub(super) fn begin(&self, item: &PlanItem) -> Result<i64, String> {
        let (identity, kind, create_contact) = identity_of(item);
        let h = self.verified.header();
        let intent = JournalIntent {
            run: self.run.to_owned(),
            tenant: self.tenant.to_owned(),
            bundle_sha256: self.verified.sha256().to_hex(),
            source: h.source.to_string(),
            sequence: h.sequence,
            entry_key: item.entry.clone(),
            label: item.label.clone(),
            kind,
            identity,
            create_contact,
            changes: serde_json::to_string(item_changes(item)).map_err(|e| e.to_string())?,
            audit_log: self.log.path().display().to_string(),
            started_at: timestamp(),
        };
        self.lock()
            .journal_begin(&intent)
            .map_err(|e| format!("the write was not sent: {e}"))
    }

    /// Steps 3 and 4: the audit line, then the outcome.
    pub(super) fn finish(
        &self,
        id: i64,
        item: &PlanItem,
        form: WriteForm,
        result: &Result<Written, WriteError>,
    ) -> Result<(), String> {
        let (planned_identity, kind, _) = identity_of(item);
        let h = self.verified.header();
        let (outcome, identity, request_id, attempts, error) = match result {
            Ok(w) => (
                w.outcome,
                w.identity.clone(),
                w.request_id.clone(),
                w.attempts,
                None,
            ),
            Err(e) => (
                match e {
                    WriteError::AfterCreate { .. } => Done::ContactCreated,
                    _ => Done::Failed,
                },
                match e {
                    WriteError::AfterCreate { identity, .. } => identity.clone(),
                    _ => planned_identity,
                },
                None,
                0,
                Some(e.to_string()),
            ),
        };
        let mut line = json!({
            "time": timestamp(),
            "run": self.run,
            "journal": id,
            "bundle_sha256": self.verified.sha256().to_hex(),
            "source": h.source.as_str(),
            "sequence": h.sequence,
            "entry": item.entry,
            "label": item.label,
            "recipient": identity,
            "kind": kind,
            "changes": item_changes(item),
            "write_form": form.as_str(),
            "request_id": request_id,
            "attempts": attempts,
            "outcome": outcome.as_str(),
            "error": error,
        });
        if let Ok(Written {
            contact_name: Some(n),
            ..
        }) = result
        {
            line["contact_name"] = json!(n);
        }
        self.log
            .append(&line)
            .map_err(|e| format!("audit log {}: {e}", self.log.path().display()))?;
        self.lock()
            .journal_finish(id, outcome.as_str(), &timestamp())
            .map_err(|e| e.to_string())
    }

    /// The audit line for an in-doubt row settled by reconciliation.
    pub(super) fn reconciled_line(&self, row: &InDoubt, outcome: Done) -> Value {
        let i = &row.intent;
        json!({
            "time": timestamp(),
            "run": self.run,
            "journal": row.id,
            "journal_run": i.run,
            "bundle_sha256": i.bundle_sha256,
            "source": i.source,
            "sequence": i.sequence,
            "entry": i.entry_key,
            "label": i.label,
            "recipient": i.identity,
            "kind": i.kind,
            "changes": serde_json::from_str::<Value>(&i.changes).unwrap_or(Value::Null),
            "started_at": i.started_at,
            "outcome": outcome.as_str(),
        })
    }
}
