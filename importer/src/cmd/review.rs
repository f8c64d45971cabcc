//! `review`: what the bundle would change compared with the last import, as
//! text, CSV and HTML.

use std::path::Path;

use serde_json::json;

use crate::certpolicy::evaluate;
use crate::cli::ReviewArgs;
use crate::context::{load_before_review, now, Config};
use crate::failure::{Failure, Outcome};
use crate::output::write_atomically;
use crate::report;
use crate::review::compare;

pub(crate) fn run(a: &ReviewArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    // The reviewer reads this report before approving: every check but the
    // reviewer threshold must pass (as for `approve`).
    let verified = load_before_review(&a.bundle, policy, state.as_ref(), now)?;
    let eval = evaluate(&verified)?;
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let previous = match &state {
        Some(db) => match db.last_import(&verified.header().source).map_err(st)? {
            Some(imp) => {
                let recs = db.recipients(imp.id).map_err(st)?;
                Some((imp, recs))
            }
            None => None,
        },
        None => None,
    };
    let r = compare(
        &verified,
        &eval,
        previous.as_ref().map(|(i, r)| (i, r.as_slice())),
        now,
    );
    let csv = report::csv(&r);
    let hash = report::report_sha256(&csv);
    let out = |p: &Path, data: &[u8]| {
        write_atomically(p, data).map_err(|e| Failure::Output(format!("{}: {e}", p.display())))
    };
    if let Some(p) = &a.csv {
        out(p, &csv)?;
    }
    if let Some(p) = &a.html {
        out(p, report::html(&r, &hash).as_bytes())?;
    }
    if a.common.json {
        println!("{}", json!({"review": r, "report_sha256": hash}));
    } else {
        print!("{}", report::text(&r, &hash));
    }
    Ok(Outcome::of(&eval))
}
