//! One file per subcommand, each reading top to bottom; [`run`] dispatches.
//! Shared loading is in `context.rs`, the tenant session in `session.rs`, and
//! the exit codes in `failure.rs`: a command imports from those, never from
//! another command (except `verify`'s refusal printer, which `script` shares).

use crate::cli::Command;
use crate::context::Config;
use crate::failure::{Failure, Outcome};

pub mod apply;
pub mod approve;
pub mod archive;
pub mod doctor;
pub mod history;
pub mod mark_imported;
pub mod plan;
pub mod review;
pub mod script;
pub mod status;
pub mod trust_store;
pub mod verify;

/// Runs a parsed command. A command that takes the common arguments gets its
/// [`Config`] built (the policy read once) before it runs; `archive` and
/// `doctor` read their own, optional or different, inputs.
pub fn run(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Verify(a) => verify::run(&a, &Config::load(&a.common)?),
        Command::Review(a) => review::run(&a, &Config::load(&a.common)?),
        Command::Approve(a) => approve::run(&a, &Config::load(&a.common)?),
        Command::Script(a) => script::run(&a, &Config::load(&a.common)?),
        Command::TrustStore(a) => trust_store::run(&a, &Config::load(&a.common)?),
        Command::Status(a) => status::run(&a, &Config::load(&a.common)?),
        Command::History(a) => history::run(&a, &Config::load(&a.common)?),
        Command::MarkImported(a) => mark_imported::run(&a, &Config::load(&a.common)?),
        Command::Plan(a) => plan::run(&a, &Config::load(&a.common)?),
        Command::Apply(a) => apply::run(&a, &Config::load(&a.common)?),
        Command::Archive(a) => archive::run(&a),
        Command::Doctor(a) => doctor::run(&a),
    }
}
