//! `plan` and `apply` (issue 5): the verified bundle against the live tenant.
//!
//! `apply` is safe to interrupt at any instant: every write replaces an
//! attribute's complete value set (idempotent), and a rerun recomputes the plan
//! from the tenant, so what was already written is then unchanged and is not
//! written again. The bundle is recorded as imported only after every write
//! succeeded and was read back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use certferry_format::model::Attribute;
use certferry_format::{SourceId, Timestamp, VerifiedBundle};
use serde_json::json;

use crate::certpolicy::{evaluate, Evaluation};
use crate::cli::{ApplyArgs, Common, PlanArgs, TenantArgs};
use crate::exchange::client::ExoClient;
use crate::exchange::recipient::{Recipient, RecipientKind};
use crate::plan::{
    self, AttributeChange, MatchBy, Outcome as Item, Plan, PlanItem, PlanOptions, PreviousEntry,
};
use crate::report::terminal_safe;
use crate::run::{load_policy, load_verified, now, state_path, Failure, Outcome};
use crate::state::{NewImport, StateDb};
use crate::tenant::TenantConfig;

fn tenant_path(c: &Common, t: &TenantArgs) -> PathBuf {
    t.tenant.clone().unwrap_or_else(|| {
        c.policy
            .parent()
            .unwrap_or(Path::new("."))
            .join("tenant.toml")
    })
}

fn options(t: &TenantArgs, max_values: usize) -> PlanOptions {
    PlanOptions {
        match_by: match t.match_by.as_str() {
            "upn" => MatchBy::Upn,
            "immutable-id" => MatchBy::ImmutableId,
            _ => MatchBy::Smtp,
        },
        create_contacts: t.create_contacts,
        prune: t.prune,
        max_values,
    }
}

/// What certferry wrote for each entry in the last import of `source`.
fn previous(
    db: Option<&StateDb>,
    source: &SourceId,
) -> Result<HashMap<String, PreviousEntry>, Failure> {
    let mut out = HashMap::new();
    let Some(db) = db else { return Ok(out) };
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let Some(last) = db.last_import(source).map_err(st)? else {
        return Ok(out);
    };
    for r in db.recipients(last.id).map_err(st)? {
        let mut written: BTreeMap<Attribute, BTreeSet<String>> = BTreeMap::new();
        for v in &r.values {
            let a = if v.attribute == Attribute::UserCertificate.as_str() {
                Attribute::UserCertificate
            } else {
                Attribute::UserSmimeCertificate
            };
            written.entry(a).or_default().insert(v.value_sha256.clone());
        }
        out.insert(
            r.key.clone(),
            PreviousEntry {
                label: r.label.clone(),
                addresses: r.addresses.clone(),
                upn: None,
                written,
            },
        );
    }
    Ok(out)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Output(format!("cannot start the async runtime: {e}")))
}

fn tenant_err(e: impl std::fmt::Display) -> Failure {
    Failure::Tenant(e.to_string())
}

/// Verifies, evaluates, reads the tenant and computes the plan.
struct Planned {
    verified: VerifiedBundle,
    now: Timestamp,
    client: ExoClient,
    concurrency: usize,
}

fn prepare(
    common: &Common,
    bundle: &crate::cli::BundleArgs,
    db: Option<&StateDb>,
    tenant: &TenantArgs,
) -> Result<(Planned, crate::policy::Policy), Failure> {
    let policy = load_policy(common)?;
    let now = now(bundle)?;
    let verified = load_verified(bundle, &policy, db, now, |_| {})?;
    let cfg = TenantConfig::load(&tenant_path(common, tenant)).map_err(Failure::Usage)?;
    let client = ExoClient::new(cfg.exo, cfg.credential).map_err(tenant_err)?;
    Ok((
        Planned {
            verified,
            now,
            client,
            concurrency: cfg.concurrency,
        },
        policy,
    ))
}

fn compute_plan(
    rt: &tokio::runtime::Runtime,
    p: &Planned,
    eval: &Evaluation<'_>,
    db: Option<&StateDb>,
    opts: &PlanOptions,
) -> Result<(Plan, Vec<String>), Failure> {
    let listing = rt
        .block_on(p.client.get_all_recipients())
        .map_err(tenant_err)?;
    let prev = previous(db, &p.verified.header().source)?;
    Ok((
        plan::compute(eval, &listing.recipients, &prev, opts),
        listing.warnings,
    ))
}

fn describe(item: &PlanItem) -> String {
    let target = item.target.as_ref().map_or(String::new(), |t| {
        format!(" → {} ({})", t.display_name, t.kind)
    });
    let what = match &item.outcome {
        Item::Unchanged => "unchanged".to_owned(),
        Item::Change { changes } => changes
            .iter()
            .map(|c| {
                format!(
                    "{}: +{} -{} (now {})",
                    c.attribute.as_str(),
                    c.added.len(),
                    c.removed.len(),
                    c.values.len()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Item::Unmatched => "unmatched: no recipient has its addresses".into(),
        Item::CreateContact { address, changes } => format!(
            "create contact {address} and write {}",
            changes
                .iter()
                .map(|c| format!("{} ({})", c.attribute.as_str(), c.values.len()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Item::Ambiguous { candidates } => {
            format!("ambiguous, never written: {}", candidates.join(", "))
        }
        Item::Skipped { reason } => format!("skipped: {reason}"),
        Item::OverCap { attribute, count } => format!(
            "not written: {} would hold {count} values",
            attribute.as_str()
        ),
    };
    terminal_safe(&format!(
        "{:<9} {}{target}: {what}",
        kind_word(&item.outcome),
        item.label
    ))
}

fn kind_word(o: &Item) -> &'static str {
    match o {
        Item::Unchanged => "same",
        Item::Change { .. } => "change",
        Item::Unmatched => "unmatched",
        Item::CreateContact { .. } => "create",
        Item::Ambiguous { .. } => "ambiguous",
        Item::Skipped { .. } => "skipped",
        Item::OverCap { .. } => "over-cap",
    }
}

fn print_plan(plan: &Plan) {
    for item in plan.items.iter().filter(|i| i.outcome != Item::Unchanged) {
        println!("{}", describe(item));
    }
    let c = &plan.counts;
    println!(
        "plan      {} entries: {} to change, {} contacts to create, {} unchanged, {} unmatched, {} ambiguous, {} skipped (synced), {} over the value cap",
        c.items, c.change, c.create_contact, c.unchanged, c.unmatched, c.ambiguous, c.skipped, c.over_cap
    );
}

fn plan_json(v: &VerifiedBundle, plan: &Plan) -> serde_json::Value {
    json!({
        "format": "certferry-plan",
        "version": 1,
        "bundle_sha256": v.sha256().to_hex(),
        "source": v.header().source.as_str(),
        "sequence": v.header().sequence,
        "counts": plan.counts,
        "items": plan.items,
    })
}

/// `plan`.
pub fn plan_cmd(a: &PlanArgs) -> Result<Outcome, Failure> {
    let policy0 = load_policy(&a.common)?;
    let db = StateDb::open_read_only(&state_path(&a.common, &policy0))
        .map_err(|e| Failure::Output(e.to_string()))?;
    let (p, policy) = prepare(&a.common, &a.bundle, db.as_ref(), &a.tenant)?;
    let eval = evaluate(&p.verified, &policy.certificates, p.now);
    let rt = runtime()?;
    let opts = options(&a.tenant, policy.certificates.max_values_per_attribute);
    let (plan, _) = compute_plan(&rt, &p, &eval, db.as_ref(), &opts)?;
    let doc = plan_json(&p.verified, &plan);
    if let Some(out) = &a.out {
        let mut text =
            serde_json::to_vec_pretty(&doc).map_err(|e| Failure::Output(e.to_string()))?;
        text.push(b'\n');
        crate::output::write_atomically(out, &text)
            .map_err(|e| Failure::Output(format!("{}: {e}", out.display())))?;
    }
    if a.common.json {
        println!("{doc}");
    } else {
        print_plan(&plan);
        if let Some(out) = &a.out {
            println!("saved     {}", out.display());
        }
    }
    Ok(outcome(&eval, &plan))
}

fn outcome(eval: &Evaluation<'_>, plan: &Plan) -> Outcome {
    let c = &plan.counts;
    if eval.all_accepted() && c.unmatched + c.ambiguous + c.skipped + c.over_cap == 0 {
        Outcome::Ok
    } else {
        Outcome::SomeRefused
    }
}

/// One line of the audit log.
fn audit(
    log: &Mutex<std::fs::File>,
    v: &VerifiedBundle,
    item: &PlanItem,
    identity: &str,
    changes: &[AttributeChange],
    request_id: Option<&str>,
    result: &Result<(), String>,
) {
    let line = json!({
        "time": crate::run::clock().map(|t| t.to_string()).unwrap_or_default(),
        "bundle_sha256": v.sha256().to_hex(),
        "source": v.header().source.as_str(),
        "sequence": v.header().sequence,
        "entry": item.entry,
        "label": item.label,
        "recipient": identity,
        "changes": changes,
        "request_id": request_id,
        "outcome": if result.is_ok() { "written" } else { "failed" },
        "error": result.as_ref().err(),
    });
    if let Ok(mut f) = log.lock() {
        // The audit log is evidence: each line is flushed to disk as it is written.
        let _ = writeln!(f, "{line}").and_then(|()| f.sync_data());
    }
}

fn values_of(changes: &[AttributeChange], a: Attribute) -> Option<&[Vec<u8>]> {
    changes
        .iter()
        .find(|c| c.attribute == a)
        .map(|c| c.values.as_slice())
}

fn current_of(r: &Recipient, a: Attribute) -> &[Vec<u8>] {
    match a {
        Attribute::UserCertificate => &r.user_certificate,
        Attribute::UserSmimeCertificate => &r.user_smime_certificate,
    }
}

/// Writes one item and reads it back. Returns the request id of the write.
async fn execute(
    client: &ExoClient,
    item: &PlanItem,
) -> Result<(String, Vec<AttributeChange>, Option<String>), (String, Vec<AttributeChange>, String)>
{
    let (kind, identity, changes) = match &item.outcome {
        Item::Change { changes } => {
            let t = item
                .target
                .as_ref()
                .ok_or_else(|| (String::new(), changes.clone(), "no target".to_owned()))?;
            let kind = plan::kind_of(t).ok_or_else(|| {
                (
                    t.identity.clone(),
                    changes.clone(),
                    format!("unknown kind {}", t.kind),
                )
            })?;
            (kind, t.identity.clone(), changes.clone())
        }
        Item::CreateContact { address, changes } => {
            let name: String = item.label.chars().take(64).collect();
            let made = client
                .new_mail_contact(&name, &item.label, address)
                .await
                .map_err(|e| (address.clone(), changes.clone(), e.to_string()))?;
            (
                RecipientKind::MailContact,
                made.recipient.write_identity().to_owned(),
                changes.clone(),
            )
        }
        _ => return Err((String::new(), Vec::new(), "nothing to write".into())),
    };
    let fail = |m: String| (identity.clone(), changes.clone(), m);
    let receipt = client
        .set_certificates(
            kind,
            &identity,
            values_of(&changes, Attribute::UserCertificate),
            values_of(&changes, Attribute::UserSmimeCertificate),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    // Read back what was written: the write counts only once the tenant shows it.
    let back = client
        .get_recipient(kind, &identity)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let Some((r, _)) = back else {
        return Err(fail("the recipient vanished after the write".into()));
    };
    for c in &changes {
        if current_of(&r, c.attribute) != c.values.as_slice() {
            return Err(fail(format!(
                "{} read back differs from what was written",
                c.attribute.as_str()
            )));
        }
    }
    Ok((identity.clone(), changes, receipt.request_id))
}

/// `apply`.
pub fn apply_cmd(a: &ApplyArgs) -> Result<Outcome, Failure> {
    let policy0 = load_policy(&a.common)?;
    let spath = state_path(&a.common, &policy0);
    let mut db = StateDb::open(&spath).map_err(|e| Failure::Output(e.to_string()))?;
    let (p, policy) = prepare(&a.common, &a.bundle, Some(&db), &a.tenant)?;
    let eval = evaluate(&p.verified, &policy.certificates, p.now);
    let rt = runtime()?;
    let opts = options(&a.tenant, policy.certificates.max_values_per_attribute);
    let (plan, _) = compute_plan(&rt, &p, &eval, Some(&db), &opts)?;
    if let Some(saved) = &a.plan {
        let text = std::fs::read(saved)
            .map_err(|e| Failure::Usage(format!("{}: {e}", saved.display())))?;
        let saved_doc: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Failure::Usage(format!("{}: not a plan: {e}", saved.display())))?;
        let fresh = plan_json(&p.verified, &plan);
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
    }
    let log_path = a.audit_log.clone().unwrap_or_else(|| {
        let mut s = spath.clone().into_os_string();
        s.push(".audit.jsonl");
        PathBuf::from(s)
    });
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Failure::Output(format!("audit log {}: {e}", log_path.display())))?;
    let log = Mutex::new(log);
    let work: Vec<&PlanItem> = plan
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Item::Change { .. } | Item::CreateContact { .. }))
        .collect();
    let total = work.len();
    let bar = (!a.common.json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| indicatif::ProgressBar::new(total as u64));
    let results = rt.block_on(ExoClient::run_bounded(work, p.concurrency, |item| {
        let client = p.client.clone();
        let log = &log;
        let verified = &p.verified;
        let bar = bar.clone();
        async move {
            let r = execute(&client, item).await;
            match &r {
                Ok((id, changes, rid)) => {
                    audit(log, verified, item, id, changes, rid.as_deref(), &Ok(()))
                }
                Err((id, changes, msg)) => {
                    audit(log, verified, item, id, changes, None, &Err(msg.clone()))
                }
            }
            if let Some(b) = bar {
                b.inc(1);
            }
            r.map(|_| ())
                .map_err(|(_, _, m)| format!("{}: {m}", item.label))
        }
    }));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if !a.common.json {
        print_plan(&plan);
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("{}", terminal_safe(&format!("failed    {f}")));
        }
        return Err(Failure::Tenant(format!(
            "{} of {total} writes failed (see {}); the bundle is not recorded as imported: run apply again to finish",
            failures.len(),
            log_path.display()
        )));
    }
    let rec = NewImport::from_verified(&p.verified, &eval, p.now, a.review_sha256.clone());
    let id = db
        .record_import(&rec)
        .map_err(|e| Failure::Output(e.to_string()))?;
    if a.common.json {
        println!(
            "{}",
            json!({"import": id, "written": total, "plan": plan_json(&p.verified, &plan)})
        );
    } else {
        println!(
            "applied   {total} writes; recorded import {id}: {} sequence {}; audit log {}",
            rec.source,
            rec.sequence,
            log_path.display()
        );
    }
    Ok(outcome(&eval, &plan))
}
