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

mod ledger;
mod writes;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::certpolicy::JudgedBundle;
use crate::cli::ApplyArgs;
use crate::context::{runtime, state_err, tenant_err, Config};
use crate::exchange::auth::new_uuid;
use crate::exchange::recipient::{Recipient, RecipientKind};
use crate::failure::{Failure, Outcome};
use crate::journal;
use crate::journal::{AuditLog, Reconciled};
use crate::plan;
use crate::plan::Plan;
use crate::plan_doc::{compare_saved, PlanDoc, SavedPlan};
use crate::plan_report::{outcome, print_plan};
use crate::report::terminal_safe;
use crate::session::{options, prepare, previous, read_tenant, Session};
use crate::state::{record_verified, ImportHead, StateDb};
use ledger::{timestamp, Ledger};
use writes::{write_all, WriteSummary};

/// `apply`, front to back: verify and judge, read the tenant, settle what
/// an interrupted run left in doubt, plan, write, then record the import.
pub(crate) fn run(a: &ApplyArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let spath = &cfg.state_path;
    let db = cfg.open_state()?;
    let s = prepare(cfg, &a.bundle, Some(&db), &a.tenant, a.concurrency)?;
    refuse_replay_unless_reapply(a, &s)?;
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
    let db_cell = Mutex::new(db);
    let ledger = Ledger {
        db: &db_cell,
        log: &log,
        run: &run,
        tenant: &s.tenant,
        verified: &s.verified,
    };

    // Settle what an interrupted run left in doubt, before planning: each
    // recipient an in-doubt write went to is read again, as it is now.
    let in_doubt = in_doubt_recipients(&rt, &s, &ledger)?;
    let settled = journal::reconcile(
        &ledger.lock(),
        &log,
        &s.tenant,
        &in_doubt,
        &timestamp(),
        |row, o| ledger.reconciled_line(row, o),
    )
    .map_err(state_err)?;
    if !a.common.json {
        print_settled(&settled);
    }

    // What the last import wrote is read through a second, read-only
    // connection: the first one journals the writes meanwhile.
    let reader = StateDb::open_read_only(spath).map_err(state_err)?;
    let prev = previous(reader.as_ref(), &s.verified.header().source, &opts)?;
    let plan = plan::compute(&s.verified, &listing, prev.as_ref(), &opts)?;
    if let Some(saved) = &a.plan {
        check_saved_plan(saved, &s.verified, &plan)?;
    }
    let results = write_all(&rt, &s, &ledger, &plan, !a.common.json)?;
    let db = db_cell
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    record(a, &s, &plan, &results, &settled, db, &log_path)
}

/// The recipients the in-doubt journal rows of this tenant were written to,
/// read again by identity (a contact by its address); one not found is left
/// out, and its row is settled as not applied.
fn in_doubt_recipients(
    rt: &tokio::runtime::Runtime,
    s: &Session,
    ledger: &Ledger<'_>,
) -> Result<Vec<Recipient>, Failure> {
    let rows = ledger
        .lock()
        .journal_in_doubt(&s.tenant)
        .map_err(state_err)?;
    let mut found = Vec::new();
    for row in rows {
        let Some(kind) = RecipientKind::from_key(&row.intent.kind) else {
            continue;
        };
        if let Some((r, _)) = rt
            .block_on(s.client.get_recipient(kind, &row.intent.identity))
            .map_err(tenant_err)?
        {
            found.push(r);
        }
    }
    Ok(found)
}

/// A bundle already imported is refused as a replay unless `--reapply`.
fn refuse_replay_unless_reapply(a: &ApplyArgs, s: &Session) -> Result<(), Failure> {
    match &s.already_imported {
        Some(imp) if !a.reapply => Err(Failure::Invalid {
            class: Some("replay".into()),
            message: format!(
                "{}: bundle invalid (replay): it was already imported (import {}, {}); \
                 `plan` shows whether the tenant drifted from it, and `apply --reapply` writes it again",
                a.bundle.bundle.display(),
                imp.id,
                imp.imported_at
            ),
        }),
        _ => Ok(()),
    }
}

fn print_settled(settled: &Reconciled) {
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

/// Reports the writes; when all succeeded, records the import (once: a
/// reapply leaves the record as it is).
#[allow(clippy::too_many_arguments)]
fn record(
    a: &ApplyArgs,
    s: &Session,
    plan: &Plan<'_>,
    results: &WriteSummary,
    settled: &Reconciled,
    mut db: StateDb,
    log_path: &Path,
) -> Result<Outcome, Failure> {
    let total = results.total;
    let form = s.client.write_form();
    let failures = &results.failures;
    let (written, confirmed) = (results.written, results.confirmed);
    let confirmed_note = if confirmed > 0 {
        format!(
            " ({confirmed} confirmed by read-back after an answer was lost: applied once, not sent again)"
        )
    } else {
        String::new()
    };
    if !a.common.json {
        print_plan(plan)?;
    }
    if !failures.is_empty() {
        for f in failures {
            eprintln!("{}", terminal_safe(&format!("failed    {f}")));
        }
        return Err(Failure::Tenant(format!(
            "{} of {total} writes failed, {written} succeeded{confirmed_note} (see {}); the bundle is not recorded as imported: run apply again to finish",
            failures.len(),
            log_path.display()
        )));
    }
    let summary = json!({
        "written": written,
        "confirmed_by_read_back": confirmed,
        "confirmed_on_rerun": settled.confirmed_on_rerun.len(),
        "write_form": form.as_str(),
        "audit_log": log_path,
    });
    if s.already_imported.is_some() {
        if a.common.json {
            print_json(&Reapplied {
                plan: PlanDoc::new(&s.verified, plan, s.already_imported.as_ref()),
                reapplied: &summary,
            })?;
        } else {
            println!(
                "reapplied {written} writes{confirmed_note}; the import record is unchanged; audit log {}",
                log_path.display()
            );
        }
        return Ok(outcome(s.verified.counts(), plan));
    }
    let rec = ImportHead::of(&s.verified, s.now, a.review_sha256.clone());
    let id = record_verified(&mut db, &s.verified, &rec)
        .map_err(|e| Failure::Output(e.to_string()))?
        .id;
    if a.common.json {
        print_json(&Applied {
            import: id,
            plan: PlanDoc::new(&s.verified, plan, None),
            summary: &summary,
            written,
        })?;
    } else {
        println!(
            "applied   {written} writes{confirmed_note}; recorded import {id}: {} sequence {}; audit log {}",
            rec.source,
            rec.sequence,
            log_path.display()
        );
    }
    Ok(outcome(s.verified.counts(), plan))
}

/// `apply --json` of a bundle already imported (members sorted by name).
#[derive(serde::Serialize)]
struct Reapplied<'a, 'p> {
    plan: PlanDoc<'a, 'p>,
    reapplied: &'a Value,
}

/// `apply --json` (members sorted by name).
#[derive(serde::Serialize)]
struct Applied<'a, 'p> {
    import: i64,
    plan: PlanDoc<'a, 'p>,
    summary: &'a Value,
    written: usize,
}

/// One line of JSON on standard output, written as it is made.
fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, v).map_err(state_err)?;
    writeln!(out).and_then(|()| out.flush()).map_err(state_err)
}

fn check_saved_plan(saved: &Path, bundle: &JudgedBundle, plan: &Plan<'_>) -> Result<(), Failure> {
    match compare_saved(saved, bundle, plan)? {
        SavedPlan::Same => Ok(()),
        SavedPlan::OtherBundle => Err(Failure::Usage(format!(
            "{} is a plan for another bundle",
            saved.display()
        ))),
        SavedPlan::Changed => Err(Failure::Tenant(format!(
            "the tenant changed since {} was made: run plan again and review it",
            saved.display()
        ))),
    }
}
