//! `script`: a PowerShell script for the ExchangeOnlineManagement module.

use serde_json::json;

use std::io::Write as _;

use crate::certpolicy::{for_each_entry, Values};
use crate::cli::ScriptArgs;
use crate::cmd::verify::print_entry_refusals;
use crate::context::{load_verified, now, Config};
use crate::failure::{Failure, Outcome};
use crate::output::AtomicFile;
use crate::script;

pub(crate) fn run(a: &ScriptArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    let verified = load_verified(&a.bundle, policy, state.as_ref(), now, Values::Kept, |_| {})?;
    let out_err = |e: &dyn std::fmt::Display| Failure::Output(format!("{}: {e}", a.out.display()));
    let mut out = AtomicFile::create(&a.out).map_err(|e| out_err(&e))?;
    // UTF-8 with a byte order mark: Windows PowerShell 5.1 reads a file
    // without one in the ANSI code page and would garble non-ASCII names.
    out.write_all(&[0xEF, 0xBB, 0xBF])
        .map_err(|e| out_err(&e))?;
    script::write(
        &verified,
        script::ScriptOptions {
            create_contacts: a.create_contacts,
        },
        &now.to_string(),
        &mut out,
    )
    .map_err(|e| out_err(&e))?;
    out.commit().map_err(|e| out_err(&e))?;
    let counts = verified.counts();
    if a.common.json {
        println!(
            "{}",
            json!({"script": a.out, "sha256": verified.sha256().to_hex(), "counts": counts})
        );
    } else {
        println!(
            "script    {} ({} values accepted, {} refused and left out)",
            a.out.display(),
            counts.accepted,
            counts.refused
        );
        for_each_entry(&verified, |e| {
            print_entry_refusals(e);
            Ok::<(), Failure>(())
        })?;
    }
    Ok(Outcome::of_counts(counts))
}
