//! `plan`: what `apply` would write to the tenant, or how the tenant drifted
//! from the last import.

use crate::cli::PlanArgs;
use crate::context::{runtime, state_err, Config};
use crate::failure::{Failure, Outcome};
use crate::plan;
use std::io::Write as _;

use crate::output::AtomicFile;
use crate::plan_doc::PlanDoc;
use crate::plan_report::{outcome, print_plan};
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
    let doc = PlanDoc::new(&s.verified, &plan, s.already_imported.as_ref());
    if let Some(out) = &a.out {
        let err = |e: &dyn std::fmt::Display| Failure::Output(format!("{}: {e}", out.display()));
        let mut f = AtomicFile::create(out).map_err(|e| err(&e))?;
        serde_json::to_writer_pretty(&mut f, &doc).map_err(|e| err(&e))?;
        f.write_all(b"\n").map_err(|e| err(&e))?;
        f.commit().map_err(|e| err(&e))?;
    }
    if a.common.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer(&mut out, &doc).map_err(state_err)?;
        writeln!(out)
            .and_then(|()| out.flush())
            .map_err(state_err)?;
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
