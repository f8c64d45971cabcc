//! `archive`: the auditor's view of a folder of archived bundles.

use serde_json::json;

use crate::failure::{Failure, Outcome};
use crate::output::write_atomically;
use crate::policy::Policy;
use crate::report;

pub(crate) fn run(a: &crate::cli::ArchiveArgs) -> Result<Outcome, Failure> {
    use crate::archive::{answer, chain_problems, load, to_csv, Query};
    let policy = Policy::load(&a.policy).map_err(|e| Failure::Usage(e.to_string()))?;
    let query = match (&a.address, &a.thumbprint) {
        (Some(x), _) => Some(Query::Address(x.clone())),
        (None, Some(t)) => Some(Query::Thumbprint(t.clone())),
        _ => None,
    };
    let (snaps, rejected) = load(&a.dir, &policy, query.as_ref()).map_err(Failure::Usage)?;
    let problems = chain_problems(&snaps);
    let rows = answer(&snaps);
    if let Some(csv) = &a.csv {
        write_atomically(csv, &to_csv(&rows))
            .map_err(|e| Failure::Output(format!("{}: {e}", csv.display())))?;
    }
    if a.json {
        let snapshots: Vec<serde_json::Value> = snaps
            .iter()
            .map(|s| json!({"file": s.path, "source": s.bundle.header().source.as_str(), "sequence": s.bundle.header().sequence, "created": s.bundle.header().created.to_string(), "sha256": s.bundle.sha256().to_hex(), "entries": s.bundle.entry_count()}))
            .collect();
        println!(
            "{}",
            json!({"snapshots": snapshots, "rejected": rejected, "chain_problems": problems, "rows": rows})
        );
    } else {
        for s in &snaps {
            let h = s.bundle.header();
            println!(
                "snapshot  {} sequence {} created {} sha256 {} ({} entries)",
                h.source,
                h.sequence,
                h.created,
                s.bundle.sha256(),
                s.bundle.entry_count()
            );
        }
        for r in &rejected {
            println!(
                "{}",
                report::terminal_safe(&format!("REJECTED  {}: {}", r.path, r.reason))
            );
        }
        for p in &problems {
            println!(
                "{}",
                report::terminal_safe(&format!(
                    "CHAIN     {}",
                    serde_json::to_string(p).unwrap_or_default()
                ))
            );
        }
        for r in &rows {
            println!(
                "{}",
                report::terminal_safe(&format!(
                    "{} #{} {}  {}  {} sha1 {}  {}  expires {}  ({}){}",
                    r.source,
                    r.sequence,
                    r.created,
                    r.entry,
                    r.attribute,
                    r.sha1,
                    r.subject,
                    r.not_after,
                    r.class,
                    if r.revocation_detail.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", r.revocation_detail)
                    }
                ))
            );
        }
    }
    if rejected.is_empty() && problems.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(Failure::Invalid {
            class: None,
            message: format!(
                "{} bundle(s) rejected, {} chain problem(s)",
                rejected.len(),
                problems.len()
            ),
        })
    }
}
