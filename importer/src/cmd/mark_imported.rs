//! `mark-imported`: record an import done by other means (the script).

use serde_json::json;

use crate::certpolicy::{evaluate, Values};
use crate::cli::MarkImportedArgs;
use crate::context::{load_verified, now, Config};
use crate::failure::{Failure, Outcome};
use crate::state::{NewImport, StateDb};

pub(crate) fn run(a: &MarkImportedArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    if let Some(h) = &a.review_sha256 {
        if h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Failure::Usage(format!(
                "--review-sha256 {h:?}: expected 64 lowercase hex digits"
            )));
        }
    }
    let path = &cfg.state_path;
    let mut db = StateDb::open(path).map_err(|e| Failure::Output(e.to_string()))?;
    let verified = load_verified(&a.bundle, policy, Some(&db), now, Values::NotNeeded, |_| {})?;
    let eval = evaluate(&verified)?;
    let rec = NewImport::from_verified(&verified, &eval, now, a.review_sha256.clone());
    let id = db
        .record_import(&rec)
        .map_err(|e| Failure::Output(e.to_string()))?;
    if a.common.json {
        println!(
            "{}",
            json!({"import": id, "source": rec.source, "sequence": rec.sequence, "sha256": rec.bundle_sha256.to_hex()})
        );
    } else {
        println!(
            "recorded  import {id}: {} sequence {} ({} recipients, {} values written)",
            rec.source,
            rec.sequence,
            rec.recipients.len(),
            eval.counts().accepted
        );
    }
    Ok(Outcome::Ok)
}
