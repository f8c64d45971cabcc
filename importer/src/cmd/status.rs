//! `status`: the last import of each source.

use serde_json::json;

use crate::cli::StatusArgs;
use crate::context::Config;
use crate::failure::{Failure, Outcome};

pub(crate) fn run(a: &StatusArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let path = &cfg.state_path;
    let sources = match cfg.open_state_ro()? {
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
