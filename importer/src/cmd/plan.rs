//! `plan`: what `apply` would write to the tenant, or how the tenant drifted
//! from the last import.

use crate::cli::PlanArgs;
use crate::context::{runtime, state_err, Config};
use crate::failure::{Failure, Outcome};
use crate::plan;
use crate::plan_report::{outcome, plan_json, print_plan};
use crate::session::{options, prepare, previous, read_tenant};

/// `plan`.
pub(crate) fn run(a: &PlanArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let db = cfg.open_state_ro()?;
    let s = prepare(cfg, &a.bundle, db.as_ref(), &a.tenant, None)?;
    let rt = runtime()?;
    let opts = options(&a.tenant, policy.certificates.max_values_per_attribute);
    let listing = read_tenant(&rt, &s.client, &opts)?;
    let prev = previous(db.as_ref(), &s.verified.header().source, &opts)?;
    let plan = plan::compute(&s.verified, &listing, prev.as_ref(), &opts)?;
    // The whole document only when it is asked for: items are made one at a time.
    let doc = if a.out.is_some() || a.common.json {
        Some(plan_json(&s.verified, &plan, s.already_imported.as_ref())?)
    } else {
        None
    };
    if let (Some(out), Some(doc)) = (&a.out, &doc) {
        let mut text = serde_json::to_vec_pretty(doc).map_err(state_err)?;
        text.push(b'\n');
        crate::output::write_atomically(out, &text)
            .map_err(|e| Failure::Output(format!("{}: {e}", out.display())))?;
    }
    if let (true, Some(doc)) = (a.common.json, &doc) {
        println!("{doc}");
    } else {
        if let Some(imp) = &s.already_imported {
            println!(
                "drift     this bundle is the last one imported from {} (import {}, {}): what follows is how the tenant now differs from it",
                s.verified.header().source,
                imp.id,
                imp.imported_at
            );
        }
        print_plan(&plan)?;
        if let Some(imp) = &s.already_imported {
            let c = &plan.counts;
            if c.change + c.create_contact == 0 {
                println!(
                    "drift     none: the tenant still holds what import {} wrote",
                    imp.id
                );
            } else {
                println!(
                    "drift     {} entries differ; `apply --reapply` writes the bundle again",
                    c.change + c.create_contact
                );
            }
        }
        if let Some(out) = &a.out {
            println!("saved     {}", out.display());
        }
    }
    Ok(outcome(s.verified.counts(), &plan))
}
