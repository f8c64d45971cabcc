//! `history`: what certferry published for an address or a thumbprint.

use serde_json::json;

use crate::cli::HistoryArgs;
use crate::context::Config;
use crate::failure::{Failure, Outcome};
use crate::report;

pub(crate) fn run(a: &HistoryArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let db = cfg.open_state_ro()?;
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let Some(db) = db else {
        if a.common.json {
            println!("[]");
        } else {
            println!("nothing imported yet");
        }
        return Ok(Outcome::Ok);
    };
    let items = match (&a.address, &a.thumbprint) {
        (Some(addr), _) => db.history_by_address(addr).map_err(st)?,
        (None, Some(t)) => db.history_by_thumbprint(t).map_err(st)?,
        (None, None) => {
            let imports = db.imports().map_err(st)?;
            if a.common.json {
                println!("{}", json!(imports));
            } else {
                for i in imports {
                    println!(
                        "import {}  {} sequence {}  imported {}  sha256 {}  review {}  {} recipients, {} values",
                        i.id,
                        i.source,
                        i.sequence,
                        i.imported_at,
                        i.bundle_sha256,
                        i.review_sha256.as_deref().unwrap_or("-"),
                        i.entries,
                        i.values_written
                    );
                }
            }
            return Ok(Outcome::Ok);
        }
    };
    if a.common.json {
        println!("{}", json!(items));
        return Ok(Outcome::Ok);
    }
    for item in items {
        let i = &item.import;
        println!(
            "import {}  {} sequence {}  imported {}",
            i.id, i.source, i.sequence, i.imported_at
        );
        if item.recipients.is_empty() {
            println!("    (not present)");
        }
        for r in &item.recipients {
            println!(
                "{}",
                report::terminal_safe(&format!("    {} ({}, {})", r.label, r.kind, r.dn))
            );
            if r.values.is_empty() {
                println!("        no certificate published");
            }
            for v in &r.values {
                let line = format!(
                    "        {} {} thumbprint {} expires {}",
                    v.attribute,
                    v.subject.as_deref().unwrap_or("(opaque value)"),
                    v.cert_sha1.as_deref().unwrap_or("-"),
                    v.not_after.as_deref().unwrap_or("-")
                );
                println!("{}", report::terminal_safe(&line));
            }
        }
    }
    Ok(Outcome::Ok)
}
