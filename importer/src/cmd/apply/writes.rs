//! The writes of one `apply` run, a batch of plan items at a time: the first
//! alone, proving the write form (or finding the one the tenant takes), then
//! the rest concurrently, each journalled, written, read back and audited.

use super::ledger::{item_changes, timestamp, Ledger};
use crate::context::state_err;
use crate::exchange::bytes::WriteForm;
use crate::exchange::client::ExoClient;
use crate::failure::Failure;
use crate::journal::Outcome as Done;
use crate::plan::Outcome as Item;
use crate::plan::{Plan, PlanItem};
use crate::report::terminal_safe;
use crate::session::Session;
use crate::write;
use crate::write::{WriteError, Written};

/// How many plan items are made and written at a time: memory holds one
/// batch, however many items the plan has.
const BATCH: usize = 4096;

/// What the writes of one run came to.
#[derive(Debug, Default)]
pub(super) struct WriteSummary {
    /// Items written or failed.
    pub(super) total: usize,
    /// Items written (and read back).
    pub(super) written: usize,
    /// Of those, confirmed by read-back after an answer was lost.
    pub(super) confirmed: usize,
    /// `label: message` of each failed item, in plan order.
    pub(super) failures: Vec<String>,
}

impl WriteSummary {
    fn add(&mut self, item: &PlanItem, r: &ItemResult) {
        self.total += 1;
        match r {
            Ok(w) => {
                self.written += 1;
                if w.outcome == Done::ConfirmedByReadBack {
                    self.confirmed += 1;
                }
            }
            Err(m) => self.failures.push(format!("{}: {m}", item.label)),
        }
    }
}

/// Writes every change of `plan`, made a batch at a time: the first write
/// alone (it proves the write form), then the rest with at most the
/// session's concurrency in flight. A failure that says the write form is
/// wrong stops the run.
pub(super) fn write_all(
    rt: &tokio::runtime::Runtime,
    s: &Session,
    ledger: &Ledger<'_>,
    plan: &Plan<'_>,
    show_progress: bool,
) -> Result<WriteSummary, Failure> {
    let total = plan.counts.change + plan.counts.create_contact;
    let bar = (show_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| indicatif::ProgressBar::new(total as u64));
    let mut run = Run {
        rt,
        s,
        ledger,
        plan,
        bar: bar.as_ref(),
        proven: false,
        summary: WriteSummary::default(),
    };
    let mut batch: Vec<PlanItem> = Vec::with_capacity(BATCH);
    let walked = plan.for_each_item(|item| {
        if matches!(
            item.outcome,
            Item::Change { .. } | Item::CreateContact { .. }
        ) {
            batch.push(item);
            if batch.len() == BATCH {
                run.batch(std::mem::take(&mut batch))?;
            }
        }
        Ok::<(), Failure>(())
    });
    let last = walked.and_then(|()| run.batch(batch));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    last.map(|()| run.summary)
}

/// One run's writes so far.
struct Run<'r, 'p> {
    rt: &'r tokio::runtime::Runtime,
    s: &'r Session,
    ledger: &'r Ledger<'r>,
    plan: &'r Plan<'p>,
    bar: Option<&'r indicatif::ProgressBar>,
    /// Whether a write has proved the write form.
    proven: bool,
    summary: WriteSummary,
}

impl Run<'_, '_> {
    fn batch(&mut self, items: Vec<PlanItem>) -> Result<(), Failure> {
        let (s, ledger, plan) = (self.s, self.ledger, self.plan);
        let form = s.client.write_form();
        let mut rest = items.iter();
        // Until one write proves the form, each goes alone.
        while !self.proven {
            let Some(item) = rest.next() else { break };
            let proof = self.rt.block_on(prove(
                &s.client,
                ledger,
                plan,
                item,
                form,
                s.write_form_from,
            ));
            if let Some(b) = self.bar {
                b.inc(1);
            }
            match proof? {
                Proof::Proven(w) => {
                    let db = ledger.lock();
                    let known = db.proven_write_form(&s.tenant).map_err(state_err)?;
                    if known.as_ref().map(|k| k.0.as_str()) != Some(form.as_str()) {
                        db.record_write_form(&s.tenant, form.as_str(), &timestamp(), &w.identity)
                            .map_err(state_err)?;
                    }
                    drop(db);
                    self.summary.add(item, &Ok(w));
                    self.proven = true;
                }
                Proof::Failed(m) => self.summary.add(item, &Err(m)),
            }
        }
        let rest: Vec<&PlanItem> = rest.collect();
        let bar = self.bar;
        let done = self.rt.block_on(ExoClient::run_bounded(
            rest.iter().copied(),
            s.concurrency,
            |item| async move {
                let r = apply_one(&s.client, ledger, plan, item, form).await;
                if let Some(b) = bar {
                    b.inc(1);
                }
                r
            },
        ));
        for (item, r) in rest.into_iter().zip(&done) {
            self.summary.add(item, r);
        }
        Ok(())
    }
}

/// One item's result as `apply` reports it.
pub(super) type ItemResult = Result<Written, String>;

/// Journals, writes and audits one item in `form`.
async fn apply_one(
    client: &ExoClient,
    ledger: &Ledger<'_>,
    plan: &Plan<'_>,
    item: &PlanItem,
    form: WriteForm,
) -> ItemResult {
    let sets = plan
        .value_sets(item_changes(item))
        .map_err(|e| format!("not written: {e}"))?;
    let id = ledger.begin(item)?;
    let r = write::write_item(client, item, form, &sets).await;
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
    plan: &Plan<'_>,
    item: &PlanItem,
    form: WriteForm,
    form_from: &str,
) -> Result<Proof, Failure> {
    let sets = plan.value_sets(item_changes(item))?;
    let id = ledger.begin(item).map_err(Failure::Output)?;
    let first = write::write_item(client, item, form, &sets).await;
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
    let what = terminal_safe(&format!("{} ({identity})", item.label));
    match write::probe_forms(client, kind, &identity, &sets, form).await {
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
