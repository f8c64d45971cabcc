//! One file per subcommand, each reading top to bottom; [`run`] dispatches.
//! Shared loading is in `context.rs`, the tenant session in `session.rs`, and
//! the exit codes in `failure.rs`: a command imports from those, never from
//! another command (except `verify`'s refusal printer, which `script` shares).

use crate::cli::Command;
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
pub mod verify;

/// Runs a parsed command.
pub fn run(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Verify(a) => verify::run(&a),
        Command::Review(a) => review::run(&a),
        Command::Approve(a) => approve::run(&a),
        Command::Script(a) => script::run(&a),
        Command::Status(a) => status::run(&a),
        Command::History(a) => history::run(&a),
        Command::MarkImported(a) => mark_imported::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Archive(a) => archive::run(&a),
        Command::Apply(a) => apply::run(&a),
        Command::Doctor(a) => doctor::run(&a),
    }
}
