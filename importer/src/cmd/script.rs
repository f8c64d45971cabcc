//! `script`: a PowerShell script for the ExchangeOnlineManagement module.

use serde_json::json;

use crate::certpolicy::{evaluate, Values};
use crate::cli::ScriptArgs;
use crate::cmd::verify::print_refusals;
use crate::context::{load_verified, now, Config};
use crate::failure::{Failure, Outcome};
use crate::output::write_atomically;
use crate::script;

pub(crate) fn run(a: &ScriptArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    let verified = load_verified(&a.bundle, policy, state.as_ref(), now, Values::Kept, |_| {})?;
    let eval = evaluate(&verified)?;
    let text = script::render(
        &verified,
        &eval,
        script::ScriptOptions {
            create_contacts: a.create_contacts,
        },
        &now.to_string(),
    )?;
    // UTF-8 with a byte order mark: Windows PowerShell 5.1 reads a file
    // without one in the ANSI code page and would garble non-ASCII names.
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(text.as_bytes());
    write_atomically(&a.out, &bytes)
        .map_err(|e| Failure::Output(format!("{}: {e}", a.out.display())))?;
    if a.common.json {
        println!(
            "{}",
            json!({"script": a.out, "sha256": verified.sha256().to_hex(), "counts": eval.counts()})
        );
    } else {
        println!(
            "script    {} ({} values accepted, {} refused and left out)",
            a.out.display(),
            eval.counts().accepted,
            eval.counts().refused
        );
        print_refusals(&eval);
    }
    Ok(Outcome::of(&eval))
}
