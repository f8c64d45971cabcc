//! `status`: the last import of each source.

use serde_json::json;

use crate::cli::StatusArgs;
use crate::context::{load_policy, open_state_ro, state_path};
use crate::failure::{Failure, Outcome};

pub(crate) fn run(a: &StatusArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let path = state_path(&a.common, &policy);
    let sources = match open_state_ro(&a.common, &policy)? {
        Some(db) => db.sources().map_err(|e| Failure::Output(e.to_string()))?,
        None => Vec::new(),
    };
    if a.common.json {
        println!("{}", json!({"state": path, "sources": sources}));
        return Ok(Outcome::Ok);
    }
    println!("state     {}", path.display());
    if sources.is_empty() {
        println!("nothing imported yet");
    }
    for s in sources {
        println!(
            "source    {}: sequence {} (sha256 {}, created {}), imported {}",
            s.source, s.last_sequence, s.last_sha256, s.last_created, s.last_imported_at
        );
    }
    Ok(Outcome::Ok)
}
