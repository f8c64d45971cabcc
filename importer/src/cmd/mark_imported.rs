//! `mark-imported`: record an import done by other means (the script).

use serde_json::json;

use crate::certpolicy::Values;
use crate::cli::MarkImportedArgs;
use crate::context::{load_verified, now, Config};
use crate::failure::{Failure, Outcome};
use crate::state::{record_verified, ImportHead, StateDb};

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
    let head = ImportHead::of(&verified, now, a.review_sha256.clone());
    let done =
        record_verified(&mut db, &verified, &head).map_err(|e| Failure::Output(e.to_string()))?;
    let id = done.id;
    if a.common.json {
        println!(
            "{}",
            json!({"import": id, "source": head.source, "sequence": head.sequence, "sha256": head.bundle_sha256.to_hex()})
        );
    } else {
        println!(
            "recorded  import {id}: {} sequence {} ({} recipients, {} values written)",
            head.source,
            head.sequence,
            done.entries,
            verified.counts().accepted
        );
    }
    Ok(Outcome::Ok)
}
