//! `apply`: the verified bundle written into the live tenant.
//!
//! `apply` is safe to interrupt at any instant: every write replaces an
//! attribute's complete value set (idempotent), each write is journalled before
//! it is sent and audited after it (`journal.rs`), and a rerun first settles what
//! the interrupted run left in doubt, then recomputes the plan from the tenant, so
//! what was already written is unchanged and is not written again. The bundle is
//! recorded as imported only after every write succeeded and was read back.
//!
//! The first write of a run is sent alone and proves the write form
//! (`write.rs`); only then do the others go out, concurrently.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use certferry_format::VerifiedBundle;
use serde_json::{json, Value};

use crate::certpolicy::evaluate;
use crate::cli::ApplyArgs;
use crate::context::{clock, load_policy, runtime, state_err, state_path};
use crate::exchange::auth::new_uuid;
use crate::exchange::bytes::WriteForm;
use crate::exchange::client::ExoClient;
use crate::failure::{Failure, Outcome};
use crate::journal;
use crate::journal::AuditLog;
use crate::journal::Outcome as Done;
use crate::plan;
use crate::plan::Outcome as Item;
use crate::plan::PlanItem;
use crate::report::terminal_safe;
use crate::session::{options, outcome, plan_json, prepare, previous, print_plan, read_tenant};
use crate::state::{InDoubt, JournalIntent, NewImport, StateDb};
use crate::write;
use crate::write::{WriteError, Written};

/// Everything one write needs besides the client: the journal, the audit log,
/// and what to name in them.
struct Ledger<'a> {
    db: &'a Mutex<StateDb>,
    log: &'a AuditLog,
    run: &'a str,
    tenant: &'a str,
    verified: &'a VerifiedBundle,
}

fn timestamp() -> String {
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

fn item_changes(item: &PlanItem) -> &[plan::AttributeChange] {
    match &item.outcome {
        Item::Change { changes, .. } | Item::CreateContact { changes, .. } => changes,
        _ => &[],
    }
}

impl Ledger<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, StateDb> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Step 1: the intent, committed before the write is sent.
    fn begin(&self, item: &PlanItem) -> Result<i64, String> {
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
    fn finish(
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
    fn reconciled_line(&self, row: &InDoubt, outcome: Done) -> Value {
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

/// One item's result as `apply` reports it.
type ItemResult = Result<Written, String>;

/// Journals, writes and audits one item in `form`.
async fn apply_one(
    client: &ExoClient,
    ledger: &Ledger<'_>,
    item: &PlanItem,
    form: WriteForm,
) -> ItemResult {
    let id = ledger.begin(item)?;
    let r = write::write_item(client, item, form).await;
    ledger.finish(id, item, form, &r)?;
    r.map_err(|e| e.to_string())
}

/// The first write of a run, sent alone: it proves the write form, or `apply`
/// tries the other forms on that recipient and stops.
enum Proof {
    /// It round-tripped in the form used: go on with it.
    Proven(Written),
    /// It failed for a reason that says nothing about the form: the next item proves.
    Failed(String),
}

async fn prove(
    client: &ExoClient,
    ledger: &Ledger<'_>,
    item: &PlanItem,
    form: WriteForm,
    form_from: &str,
) -> Result<Proof, Failure> {
    let id = ledger.begin(item).map_err(Failure::Output)?;
    let first = write::write_item(client, item, form).await;
    let err = match first {
        Ok(w) => {
            ledger
                .finish(id, item, form, &Ok(w.clone()))
                .map_err(Failure::Output)?;
            return Ok(Proof::Proven(w));
        }
        Err(e) if !e.disproves_form() => {
            let m = e.to_string();
            ledger
                .finish(id, item, form, &Err(e))
                .map_err(Failure::Output)?;
            return Ok(Proof::Failed(m));
        }
        Err(e) => e,
    };
    // The tenant does not take `form`: try the others on the same recipient.
    let (identity, kind) = match (&err, &item.target) {
        (WriteError::AfterCreate { identity, .. }, _) => (
            identity.clone(),
            crate::exchange::recipient::RecipientKind::MailContact,
        ),
        (_, Some(t)) => (t.identity.clone(), t.kind),
        _ => return Err(Failure::Tenant(format!("{}: {err}", item.label))),
    };
    let changes = item_changes(item);
    let what = terminal_safe(&format!("{} ({identity})", item.label));
    match write::probe_forms(client, kind, &identity, changes, form).await {
        Ok((good, w)) => {
            ledger
                .finish(id, item, good, &Ok(w))
                .map_err(Failure::Output)?;
            ledger
                .lock()
                .record_write_form(ledger.tenant, good.as_str(), &timestamp(), &identity)
                .map_err(state_err)?;
            Err(Failure::Tenant(format!(
                "the first write of this run, to {what}, proved that the tenant does not take certificate values in write form {form} ({form_from}): {err}. \
                 Form {good} read back identical on that recipient (it now holds the planned values, audited) and is recorded for this tenant; \
                 nothing else was written. Run apply again to write the rest with {good}, or set write_form = \"{good}\" in tenant.toml"
            )))
        }
        Err(fails) => {
            let detail: Vec<String> = fails.iter().map(|(f, e)| format!("{f}: {e}")).collect();
            let failed: Result<Written, WriteError> = Err(err.clone());
            ledger
                .finish(id, item, form, &failed)
                .map_err(Failure::Output)?;
            Err(Failure::Tenant(format!(
                "no write form round-trips on this tenant: the first write, to {what}, in {form}: {err}; {}. \
                 Nothing else was written; that recipient may now hold values other than before (see the audit log). \
                 Run `certferry-import doctor` and report the forms it shows",
                detail.join("; ")
            )))
        }
    }
}

/// `apply`.
pub(crate) fn run(a: &ApplyArgs) -> Result<Outcome, Failure> {
    let policy0 = load_policy(&a.common)?;
    let spath = state_path(&a.common, &policy0);
    let db = StateDb::open(&spath).map_err(state_err)?;
    let (s, policy) = prepare(&a.common, &a.bundle, Some(&db), &a.tenant, a.concurrency)?;
    if let Some(imp) = &s.already_imported {
        if !a.reapply {
            return Err(Failure::Invalid {
                class: Some("replay".into()),
                message: format!(
                    "{}: bundle invalid (replay): it was already imported (import {}, {}); \
                     `plan` shows whether the tenant drifted from it, and `apply --reapply` writes it again",
                    a.bundle.bundle.display(),
                    imp.id,
                    imp.imported_at
                ),
            });
        }
    }
    let eval = evaluate(&s.verified, &policy.certificates, s.now);
    let rt = runtime()?;
    let opts = options(&a.tenant, policy.certificates.max_values_per_attribute);
    let log_path = a.audit_log.clone().unwrap_or_else(|| {
        let mut p = spath.clone().into_os_string();
        p.push(".audit.jsonl");
        PathBuf::from(p)
    });
    let log = AuditLog::open(&log_path)
        .map_err(|e| Failure::Output(format!("audit log {}: {e}", log_path.display())))?;
    let listing = read_tenant(&rt, &s.client, &opts)?;
    let run = new_uuid();

    // Settle what an interrupted run left in doubt, before planning.
    let db_cell = Mutex::new(db);
    let ledger = Ledger {
        db: &db_cell,
        log: &log,
        run: &run,
        tenant: &s.tenant,
        verified: &s.verified,
    };
    let settled = journal::reconcile(
        &ledger.lock(),
        &log,
        &s.tenant,
        &listing.recipients,
        &timestamp(),
        |row, o| ledger.reconciled_line(row, o),
    )
    .map_err(state_err)?;
    if !a.common.json {
        for w in &settled.confirmed_on_rerun {
            println!(
                "{}",
                terminal_safe(&format!(
                    "confirmed {w}: written by an interrupted run, confirmed on rerun"
                ))
            );
        }
        for w in &settled.contacts_created {
            println!(
                "{}",
                terminal_safe(&format!(
                    "confirmed {w}: contact created by an interrupted run; its certificates are written now"
                ))
            );
        }
        for w in &settled.not_applied {
            println!(
                "{}",
                terminal_safe(&format!(
                    "settled   {w}: not applied by the interrupted run"
                ))
            );
        }
    }

    let prev = previous(Some(&ledger.lock()), &s.verified.header().source)?;
    let plan = plan::compute(&eval, &listing.recipients, &prev, &opts);
    if let Some(saved) = &a.plan {
        check_saved_plan(
            saved,
            &plan_json(&s.verified, &plan, s.already_imported.as_ref()),
        )?;
    }
    let work: Vec<&PlanItem> = plan
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Item::Change { .. } | Item::CreateContact { .. }))
        .collect();
    let total = work.len();
    let bar = (!a.common.json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| indicatif::ProgressBar::new(total as u64));
    let form = s.client.write_form();

    // The first write goes alone and proves the write form.
    let mut results: Vec<(&PlanItem, ItemResult)> = Vec::with_capacity(total);
    let mut rest = work.iter().copied();
    for item in rest.by_ref() {
        let proof = rt.block_on(prove(&s.client, &ledger, item, form, s.write_form_from));
        if let Some(b) = &bar {
            b.inc(1);
        }
        match proof {
            Ok(Proof::Proven(w)) => {
                let db = ledger.lock();
                let known = db.proven_write_form(&s.tenant).map_err(state_err)?;
                if known.as_ref().map(|k| k.0.as_str()) != Some(form.as_str()) {
                    db.record_write_form(&s.tenant, form.as_str(), &timestamp(), &w.identity)
                        .map_err(state_err)?;
                }
                drop(db);
                results.push((item, Ok(w)));
                break;
            }
            Ok(Proof::Failed(m)) => results.push((item, Err(m))),
            Err(f) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Err(f);
            }
        }
    }
    let rest: Vec<&PlanItem> = rest.collect();
    let done = rt.block_on(ExoClient::run_bounded(
        rest.iter().copied(),
        s.concurrency,
        |item| {
            let client = &s.client;
            let ledger = &ledger;
            let bar = bar.clone();
            async move {
                let r = apply_one(client, ledger, item, form).await;
                if let Some(b) = bar {
                    b.inc(1);
                }
                r
            }
        },
    ));
    results.extend(rest.into_iter().zip(done));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    let failures: Vec<String> = results
        .iter()
        .filter_map(|(item, r)| r.as_ref().err().map(|m| format!("{}: {m}", item.label)))
        .collect();
    let written = results.iter().filter(|(_, r)| r.is_ok()).count();
    let confirmed = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(w) if w.outcome == Done::ConfirmedByReadBack))
        .count();
    let confirmed_note = if confirmed > 0 {
        format!(
            " ({confirmed} confirmed by read-back after an answer was lost: applied once, not sent again)"
        )
    } else {
        String::new()
    };
    if !a.common.json {
        print_plan(&plan);
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("{}", terminal_safe(&format!("failed    {f}")));
        }
        return Err(Failure::Tenant(format!(
            "{} of {total} writes failed, {written} succeeded{confirmed_note} (see {}); the bundle is not recorded as imported: run apply again to finish",
            failures.len(),
            log_path.display()
        )));
    }
    let mut db = db_cell
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let summary = json!({
        "written": written,
        "confirmed_by_read_back": confirmed,
        "confirmed_on_rerun": settled.confirmed_on_rerun.len(),
        "write_form": form.as_str(),
        "audit_log": log_path,
    });
    if s.already_imported.is_some() {
        if a.common.json {
            println!(
                "{}",
                json!({"reapplied": summary, "plan": plan_json(&s.verified, &plan, s.already_imported.as_ref())})
            );
        } else {
            println!(
                "reapplied {written} writes{confirmed_note}; the import record is unchanged; audit log {}",
                log_path.display()
            );
        }
        return Ok(outcome(&eval, &plan));
    }
    let rec = NewImport::from_verified(&s.verified, &eval, s.now, a.review_sha256.clone());
    let id = db.record_import(&rec).map_err(state_err)?;
    if a.common.json {
        println!(
            "{}",
            json!({"import": id, "written": written, "summary": summary, "plan": plan_json(&s.verified, &plan, None)})
        );
    } else {
        println!(
            "applied   {written} writes{confirmed_note}; recorded import {id}: {} sequence {}; audit log {}",
            rec.source,
            rec.sequence,
            log_path.display()
        );
    }
    Ok(outcome(&eval, &plan))
}

fn check_saved_plan(saved: &Path, fresh: &Value) -> Result<(), Failure> {
    let text =
        std::fs::read(saved).map_err(|e| Failure::Usage(format!("{}: {e}", saved.display())))?;
    let saved_doc: Value = serde_json::from_slice(&text)
        .map_err(|e| Failure::Usage(format!("{}: not a plan: {e}", saved.display())))?;
    if saved_doc.get("bundle_sha256") != fresh.get("bundle_sha256") {
        return Err(Failure::Usage(format!(
            "{} is a plan for another bundle",
            saved.display()
        )));
    }
    if saved_doc.get("items") != fresh.get("items") {
        return Err(Failure::Tenant(format!(
            "the tenant changed since {} was made: run plan again and review it",
            saved.display()
        )));
    }
    Ok(())
}
